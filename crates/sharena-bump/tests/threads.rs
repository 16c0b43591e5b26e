//! Thread stress: threads (and a second handle standing in for another
//! process) allocate at once behind a barrier; every block is stamped and
//! verified, and no two blocks overlap.

mod common;

use sharena_bump::{Bump, ShmAllocator};
use shm_layout::{Offset, SegmentView};
use std::collections::BTreeMap;
use std::sync::Barrier;

const THREADS: u64 = 4;
const PER_THREAD: u64 = 10_000;

fn stamp(t: u64, i: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&(t << 32 | i).to_le_bytes());
    b[8..].copy_from_slice(&(!(t << 32 | i)).to_le_bytes());
    b
}

/// Each thread allocates `PER_THREAD` blocks of 16..80 bytes through its
/// own handle in `arenas` (round robin), stamping each.
fn hammer<S: AsRef<SegmentView> + Sync>(arenas: &[&Bump<S>]) -> Vec<(u64, u64, Offset)> {
    let barrier = Barrier::new(THREADS as usize);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let a = arenas[t as usize % arenas.len()];
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    (0..PER_THREAD)
                        .map(|i| {
                            let size = 16 + (i * 7 + t) % 64;
                            let align = if i % 16 == 0 { 64 } else { 8 };
                            let at = a.alloc_aligned(size, align).unwrap();
                            assert_eq!(at.get() % align, 0);
                            a.write(at, &stamp(t, i)).unwrap();
                            (t, i, at)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

fn verify<S: AsRef<SegmentView>>(a: &Bump<S>, blocks: &[(u64, u64, Offset)]) {
    let mut ranges = BTreeMap::new();
    for &(t, i, at) in blocks {
        let len = a.usable_size(at).unwrap();
        assert_eq!(a.read(at, 16).unwrap(), stamp(t, i), "block {at:?}");
        assert!(ranges.insert(at.get(), len).is_none(), "duplicate {at:?}");
    }
    let mut prev_end = 0;
    for (&start, &len) in &ranges {
        assert!(start - 8 >= prev_end, "overlap at {start}");
        prev_end = start + len;
    }
}

#[test]
fn threads_allocate_disjoint_blocks() {
    let a = common::arena(16 << 20, 0);
    let blocks = hammer(&[&a]);
    assert_eq!(blocks.len() as u64, THREADS * PER_THREAD);
    verify(&a, &blocks);
    let st = a.stats();
    assert_eq!(st.allocations, THREADS * PER_THREAD);
    assert_eq!(st.used + st.available, st.capacity);
}

#[test]
fn two_handles_share_one_segment() {
    let seg = common::HeapSegment::new(16 << 20, 4096).unwrap();
    // SAFETY: both views are dropped at the end of this function, before
    // `seg`, which owns the buffer (locals drop in reverse order).
    let (first, second) = unsafe { (seg.open_again(), seg.open_again()) };
    let first = Bump::attach(first).unwrap();
    let second = Bump::attach(second).unwrap();
    let blocks = hammer(&[&first, &second]);
    verify(&first, &blocks);
    verify(&second, &blocks);
    // Each handle counts its own threads until they flush at a refill.
    assert!(first.stats().allocations <= THREADS * PER_THREAD);
}

#[test]
fn resets_racing_allocations_leave_no_overlap() {
    let a = common::arena(1 << 20, 512);
    let barrier = Barrier::new(3);
    let live: Vec<Offset> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2u64)
            .map(|t| {
                let (a, barrier) = (&a, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let mut got = Vec::new();
                    for i in 0..5_000u64 {
                        match a.alloc(24 + (i + t) % 40) {
                            Ok(at) => got.push(at),
                            Err(shm_layout::Error::OutOfMemory { .. }) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                    got
                })
            })
            .collect();
        barrier.wait();
        for _ in 0..50 {
            a.reset().unwrap();
            std::thread::yield_now();
        }
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    // Whatever is still live (current generation) is disjoint.
    let mut ranges: Vec<(u64, u64)> = live
        .iter()
        .filter_map(|&at| Some((at.get(), a.usable_size(at).ok()?)))
        .collect();
    ranges.sort_unstable();
    ranges.dedup();
    for w in ranges.windows(2) {
        assert!(w[0].0 + w[0].1 <= w[1].0 - 8, "overlap {w:?}");
    }
    let st = a.stats();
    assert_eq!(st.used + st.available, st.capacity);
    assert_eq!(a.generation().unwrap(), 50);
}

/// Threads of two handles race for chunks, so each often leaves a chunk
/// whose end is no longer the cursor's for a new one; the second handle
/// then drops. Every tail left behind is a filler: the bytes in use (the
/// first handle's chunk spares aside) are exactly the blocks', fillers
/// and headers included.
#[test]
fn tails_left_by_threads_are_accounted() {
    let seg = common::HeapSegment::new(16 << 20, 1024).unwrap();
    // SAFETY: both views are dropped at the end of this function, before
    // `seg`, which owns the buffer (locals drop in reverse order).
    let (first, second) = unsafe { (seg.open_again(), seg.open_again()) };
    let first = Bump::attach(first).unwrap();
    let second = Bump::attach(second).unwrap();
    let barrier = Barrier::new(THREADS as usize);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let a = if t % 2 == 0 { &first } else { &second };
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                for i in 0..PER_THREAD / 4 {
                    a.alloc(8 + (i * 13 + t) % 120).unwrap();
                }
            });
        }
    });
    drop(second);
    let r = shm_layout::Recover::check(&first).unwrap();
    assert!(r.ok(), "{:?}", r.problems);
    assert_eq!(first.stats().used, r.used_bytes, "a tail nobody holds");
}
