//! Stamped-block churn shared by the multi-process tests: every block gets
//! (pid, worker, sequence) and a pattern, and is verified before it is
//! freed, so two processes handed the same block show up as a duplicate.

use sharena::{Offset, ShmAllocator};
use sharena_testkit::XorShift;

/// Bytes per stamped block.
pub const BLOCK: u64 = 64;

/// What a worker found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Operations done.
    pub ops: u64,
    /// Bytes read back and found right.
    pub verified: u64,
    /// Blocks holding another live worker's stamp.
    pub duplicates: u64,
    /// Blocks holding anything else.
    pub corruptions: u64,
    /// Failed allocations.
    pub oom: u64,
}

impl Tally {
    /// One line for a parent to parse.
    pub fn encode(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.ops, self.verified, self.duplicates, self.corruptions, self.oom
        )
    }
    /// Parses [`Tally::encode`].
    pub fn decode(s: &str) -> Tally {
        let v: Vec<u64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();
        Tally {
            ops: v[0],
            verified: v[1],
            duplicates: v[2],
            corruptions: v[3],
            oom: v[4],
        }
    }
    /// Adds another tally.
    pub fn add(&mut self, o: &Tally) {
        self.ops += o.ops;
        self.verified += o.verified;
        self.duplicates += o.duplicates;
        self.corruptions += o.corruptions;
        self.oom += o.oom;
    }
}

fn stamp(worker: u64, seq: u64) -> [u8; BLOCK as usize] {
    let mut b = [0u8; BLOCK as usize];
    b[..4].copy_from_slice(&std::process::id().to_le_bytes());
    b[4..8].copy_from_slice(&(worker as u32).to_le_bytes());
    b[8..16].copy_from_slice(&seq.to_le_bytes());
    for (i, x) in b[16..].iter_mut().enumerate() {
        *x = (seq.wrapping_mul(0x9E37_79B9) ^ worker ^ i as u64) as u8;
    }
    b
}

/// Random alloc/free churn over a working set of 256 blocks.
pub fn churn(alloc: &impl ShmAllocator, worker: u64, ops: u64) -> Tally {
    let mut t = Tally::default();
    let mut rng = XorShift::new(42 + worker);
    let mut next = move || rng.next();
    let mut live: Vec<Option<(Offset, u64)>> = vec![None; 256];
    let check = |t: &mut Tally, off: Offset, seq: u64| {
        let got = alloc.read(off, BLOCK).expect("read a live block");
        if got[..] == stamp(worker, seq)[..] {
            t.verified += BLOCK;
        } else if got[..4] != std::process::id().to_le_bytes()
            || got[4..8] != (worker as u32).to_le_bytes()
        {
            t.duplicates += 1;
        } else {
            t.corruptions += 1;
        }
    };
    for n in 0..ops {
        let i = (next() % 256) as usize;
        if let Some((off, seq)) = live[i].take() {
            check(&mut t, off, seq);
            alloc.free(off).expect("free a live block");
        }
        match alloc.alloc(BLOCK) {
            Ok(off) => {
                alloc
                    .write(off, &stamp(worker, n))
                    .expect("write a new block");
                live[i] = Some((off, n));
            }
            Err(_) => t.oom += 1,
        }
        t.ops += 1;
    }
    for (off, seq) in live.into_iter().flatten() {
        check(&mut t, off, seq);
        alloc.free(off).expect("free a live block");
    }
    t
}

/// Bytes per stamped block in [`fill_then_verify`].
pub const SMALL: u64 = 32;

/// Allocate-only churn for allocators that cannot free (bump): `ops` blocks
/// of 32 bytes, each stamped, then every one verified.
pub fn fill_then_verify(alloc: &impl ShmAllocator, worker: u64, ops: u64) -> Tally {
    let mut t = Tally::default();
    let mut mine = Vec::with_capacity(ops as usize);
    for n in 0..ops {
        match alloc.alloc(SMALL) {
            Ok(off) => {
                alloc
                    .write(off, &stamp(worker, n)[..SMALL as usize])
                    .expect("write a new block");
                mine.push((off, n));
            }
            Err(_) => t.oom += 1,
        }
        t.ops += 1;
    }
    for (off, seq) in mine {
        let got = alloc.read(off, SMALL).expect("read a live block");
        if got[..] == stamp(worker, seq)[..SMALL as usize] {
            t.verified += SMALL;
        } else if got[..4] != std::process::id().to_le_bytes()
            || got[4..8] != (worker as u32).to_le_bytes()
        {
            t.duplicates += 1;
        } else {
            t.corruptions += 1;
        }
    }
    t
}

/// The stamp of a block of `len` bytes: (pid, worker, seq) in the first 16
/// bytes (as many as fit), then a pattern of `seq`.
fn stamp_sized(worker: u64, seq: u64, len: usize) -> Vec<u8> {
    let mut b = stamp(worker, seq).to_vec();
    b.resize(len.max(16), 0);
    for (i, x) in b.iter_mut().enumerate().skip(BLOCK as usize) {
        *x = (seq.wrapping_mul(0x9E37_79B9) ^ worker ^ i as u64) as u8;
    }
    b.truncate(len);
    b
}

/// Random alloc/free churn with random sizes in `[1, max]` over a working
/// set of 256 blocks: every block stamped whole and verified whole before
/// it is freed.
pub fn churn_sized(alloc: &impl ShmAllocator, worker: u64, ops: u64, max: u64) -> Tally {
    let mut t = Tally::default();
    let mut rng = XorShift::new(42 + worker);
    let mut next = move || rng.next();
    let mut live: Vec<Option<(Offset, u64, u64)>> = vec![None; 256];
    let check = |t: &mut Tally, off: Offset, seq: u64, len: u64| {
        let got = alloc.read(off, len).expect("read a live block");
        let want = stamp_sized(worker, seq, len as usize);
        let head = (len as usize).min(8);
        if got == want {
            t.verified += len;
        } else if got[..head.min(4)] != want[..head.min(4)]
            || got[head.min(4)..head] != want[head.min(4)..head]
        {
            t.duplicates += 1;
        } else {
            t.corruptions += 1;
        }
    };
    for n in 0..ops {
        let i = (next() % 256) as usize;
        if let Some((off, seq, len)) = live[i].take() {
            check(&mut t, off, seq, len);
            alloc.free(off).expect("free a live block");
        }
        let len = 1 + next() % max;
        match alloc.alloc(len) {
            Ok(off) => {
                alloc
                    .write(off, &stamp_sized(worker, n, len as usize))
                    .expect("write a new block");
                live[i] = Some((off, n, len));
            }
            Err(_) => t.oom += 1,
        }
        t.ops += 1;
    }
    for (off, seq, len) in live.into_iter().flatten() {
        check(&mut t, off, seq, len);
        alloc.free(off).expect("free a live block");
    }
    t
}
