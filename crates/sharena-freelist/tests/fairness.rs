//! Small pools are shared fairly: on a 64 KiB pool, 8 threads allocating
//! small blocks of random sizes all get memory, and the allocation that
//! fails is one for which no byte is left: no free chunk, and no free
//! block of the failing thread's arena that would hold it.

mod common;

use sharena_testkit::XorShift;
use shm_layout::{Error, Offset, Recover, RunKind, ShmAllocator};
use std::sync::{mpsc, Arc, Barrier};

const THREADS: usize = 8;

/// Bytes of the smallest block that holds `size` bytes (header included).
fn block_for(size: u64) -> u64 {
    (size + 16).div_ceil(16).max(2) * 16
}

#[test]
fn small_pools_are_shared_fairly() {
    // 4 KiB chunks, 8 arenas (one per thread), a pool of 64 KiB.
    let seg = common::segment_with((128 << 10) - 8192, 12, 0, THREADS as u64);
    let h = Arc::new(common::attach(&seg));
    let cap = h.stats().capacity;
    assert_eq!(cap, 64 << 10, "the test wants a 64 KiB pool");
    let start = Arc::new(Barrier::new(THREADS));
    let done = Arc::new(Barrier::new(THREADS + 1));
    let (tx, rx) = mpsc::channel();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (h, start, done, tx) = (
                Arc::clone(&h),
                Arc::clone(&start),
                Arc::clone(&done),
                tx.clone(),
            );
            std::thread::spawn(move || {
                let mut rng = XorShift::for_process(t + 100);
                // Everyone's first block while the pool is nearly empty.
                let first = h.alloc(16 + rng.next() % 497);
                start.wait();
                let mut mine: Vec<Offset> = first.iter().copied().collect();
                let failed = loop {
                    let size = 16 + rng.next() % 497;
                    match h.alloc(size) {
                        Ok(at) => mine.push(at),
                        Err(Error::OutOfMemory { .. }) => break size,
                        Err(e) => panic!("alloc({size}): {e}"),
                    }
                };
                tx.send((t, first.is_ok(), mine.clone(), failed)).unwrap();
                drop(tx);
                // Hold still (the arena stays this thread's) while the
                // main thread looks.
                done.wait();
                done.wait();
                for at in mine {
                    h.free(at).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    done.wait();
    let results: Vec<(usize, bool, Vec<Offset>, u64)> = rx.iter().collect();
    let runs = h.runs(100_000).unwrap();
    let arena_of = |at: Offset| {
        runs.iter()
            .find(|r| r.offset <= at.get() && at.get() < r.offset + r.len)
            .map(|r| r.owner)
            .unwrap()
    };
    assert_eq!(results.len(), THREADS);
    for (t, got_first, mine, failed) in &results {
        assert!(got_first, "thread {t} got no memory at all");
        assert!(!mine.is_empty());
        // The failing thread's arena holds no free block that would fit
        // what it asked for.
        let owner = arena_of(mine[0]);
        for r in runs.iter().filter(|r| r.owner == owner) {
            assert!(
                r.kind != RunKind::Free || r.len < block_for(*failed),
                "thread {t} failed on {failed} bytes with a free run of {} in its arena",
                r.len
            );
        }
    }
    // No free chunk was left, and the free bytes are those fragments.
    assert!(
        runs.iter().all(|r| r.owner != 0),
        "a free chunk while threads failed: {runs:?}"
    );
    let free: u64 = runs
        .iter()
        .filter(|r| r.kind == RunKind::Free)
        .map(|r| r.len)
        .sum();
    assert_eq!(free, h.stats().available);
    let worst: u64 = results.iter().map(|r| block_for(r.3)).max().unwrap();
    assert!(
        free < 16 * worst,
        "{free} bytes free: more than a failing block per chunk"
    );
    done.wait();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(h.stats().used, 0);
}

/// The class caches of one thread hold at most 1/128 of a small pool:
/// what one thread freed is not kept from the others.
#[test]
fn a_threads_caches_hold_a_small_share_of_a_small_pool() {
    let seg = common::segment_with((128 << 10) - 8192, 12, 0, 2);
    let h = common::attach(&seg);
    let cap = h.stats().capacity;
    let blocks: Vec<Offset> = (1..=40).map(|i| h.alloc(i * 16).unwrap()).collect();
    let keep = h.alloc(16).unwrap();
    for at in blocks {
        h.free(at).unwrap();
    }
    let cached: u64 = h
        .runs(100_000)
        .unwrap()
        .iter()
        .filter(|r| r.kind == RunKind::Cached)
        .map(|r| r.len)
        .sum();
    assert!(cached > 0, "small frees are still cached");
    assert!(
        cached <= cap / 128,
        "{cached} bytes cached of a {cap}-byte pool"
    );
    h.free(keep).unwrap();
    assert_eq!(h.stats().used, 0);
    let all = h.alloc(h.max_alloc()).unwrap();
    h.free(all).unwrap();
}
