//! Stamped churn over any allocator, for the multi-process tests: every
//! block is stamped whole ([`Stamp`]) when allocated and checked whole
//! before it is freed, so a block two processes were handed at once shows
//! up as a duplicate, and any other change as a corruption.

use crate::stamp::{Stamp, Verdict};
use crate::{Tally, XorShift};
use shm_layout::{Offset, ShmAllocator};

/// Bytes per block in [`churn`].
pub const BLOCK: u64 = 64;

/// Bytes per block in [`fill_then_verify`].
pub const SMALL: u64 = 32;

/// The working set of [`churn`] and [`churn_sized`], in blocks.
pub const WORKING_SET: usize = 256;

/// Counts what a block read back holds.
fn count(t: &mut Tally, stamp: &Stamp, got: &[u8]) {
    match stamp.verdict(got) {
        Verdict::Intact => t.verified += got.len() as u64,
        Verdict::Foreign => t.duplicates += 1,
        Verdict::Corrupt => t.corruptions += 1,
    }
}

fn check(alloc: &impl ShmAllocator, t: &mut Tally, off: Offset, stamp: &Stamp, len: u64) {
    let got = alloc.read(off, len).expect("read a live block");
    count(t, stamp, &got);
}

/// Random alloc/free churn of [`BLOCK`]-byte blocks over a working set of
/// [`WORKING_SET`]: `ops` steps by this process's worker `worker` (stream
/// `42 + worker`), then every block still held is checked and freed.
pub fn churn(alloc: &impl ShmAllocator, worker: u64, ops: u64) -> Tally {
    churn_with(alloc, worker, ops, |_| BLOCK)
}

/// Random alloc/free churn with random sizes in `[1, max]` (otherwise as
/// [`churn`]).
pub fn churn_sized(alloc: &impl ShmAllocator, worker: u64, ops: u64, max: u64) -> Tally {
    churn_with(alloc, worker, ops, |rng| 1 + rng.below(max))
}

fn churn_with(
    alloc: &impl ShmAllocator,
    worker: u64,
    ops: u64,
    size: impl Fn(&mut XorShift) -> u64,
) -> Tally {
    let mut t = Tally::default();
    let mut rng = XorShift::new(42 + worker);
    let mut live: Vec<Option<(Offset, Stamp, u64)>> = vec![None; WORKING_SET];
    for n in 0..ops {
        let i = rng.below(WORKING_SET as u64) as usize;
        if let Some((off, stamp, len)) = live[i].take() {
            check(alloc, &mut t, off, &stamp, len);
            alloc.free(off).expect("free a live block");
        }
        let len = size(&mut rng);
        match alloc.alloc(len) {
            Ok(off) => {
                let stamp = Stamp::mine(worker, n);
                alloc
                    .write(off, &stamp.bytes(len))
                    .expect("write a new block");
                live[i] = Some((off, stamp, len));
            }
            Err(_) => t.oom += 1,
        }
        t.ops += 1;
    }
    for (off, stamp, len) in live.into_iter().flatten() {
        check(alloc, &mut t, off, &stamp, len);
        alloc.free(off).expect("free a live block");
    }
    t
}

/// Allocate-only churn for allocators that cannot free (bump): `ops`
/// blocks of [`SMALL`] bytes, each stamped, then every one checked.
pub fn fill_then_verify(alloc: &impl ShmAllocator, worker: u64, ops: u64) -> Tally {
    let mut t = Tally::default();
    let mut mine = Vec::with_capacity(ops as usize);
    for n in 0..ops {
        match alloc.alloc(SMALL) {
            Ok(off) => {
                let stamp = Stamp::mine(worker, n);
                alloc
                    .write(off, &stamp.bytes(SMALL))
                    .expect("write a new block");
                mine.push((off, stamp));
            }
            Err(_) => t.oom += 1,
        }
        t.ops += 1;
    }
    for (off, stamp) in mine {
        check(alloc, &mut t, off, &stamp, SMALL);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churns_verify_every_byte() {
        let heap = sharena::FreeList::anonymous(8 << 20).unwrap();
        let t = churn_sized(&*heap, 0, 5_000, 4096);
        assert_eq!(
            (t.ops, t.duplicates, t.corruptions, t.oom),
            (5_000, 0, 0, 0)
        );
        assert!(t.verified > 5_000 * 1000, "{t:?}");
        let t = churn(&*heap, 1, 2_000);
        assert_eq!((t.duplicates, t.corruptions), (0, 0));
        assert_eq!(t.verified, 2_000 * BLOCK);
        assert_eq!(heap.stats().used, 0);
        let arena = sharena::Bump::anonymous(1 << 20).unwrap();
        let t = fill_then_verify(&*arena, 0, 1_000);
        assert_eq!(
            (t.verified, t.duplicates, t.corruptions),
            (1_000 * SMALL, 0, 0)
        );
    }

    #[test]
    fn another_writers_block_is_a_duplicate_and_a_changed_one_corrupt() {
        let mine = Stamp::mine(0, 7);
        let mut t = Tally::default();
        count(&mut t, &mine, &Stamp::mine(1, 7).bytes(64));
        let mut got = mine.bytes(64);
        got[40] ^= 4;
        count(&mut t, &mine, &got);
        count(&mut t, &mine, &mine.bytes(64));
        assert_eq!((t.duplicates, t.corruptions, t.verified), (1, 1, 64));
    }
}
