//! Thread stress on one in-buffer free list: threads share one handle, so
//! each gets an arena of its own; blocks travel between threads so that
//! frees cross arenas (the remote path).

mod common;

use sharena_testkit::XorShift;
use shm_layout::{Offset, Recover, ShmAllocator};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};

const THREADS: usize = 4;
const ROUNDS: usize = 20_000;

fn fill(at: Offset, len: u64, who: u64) -> Vec<u8> {
    (0..len).map(|i| (at.get() ^ who ^ i) as u8).collect()
}

#[test]
fn threads_share_one_handle_and_free_each_others_blocks() {
    churn(&common::segment(32 << 20), ROUNDS, true);
}

/// The same, but the handle stays: once the threads have freed everything
/// and exited, the memory their arenas cached, parked or kept idle, and
/// the frees made into them, come back without the handle's drop.
#[test]
fn memory_freed_by_threads_that_have_exited_comes_back() {
    churn(&common::segment(32 << 20), ROUNDS / 4, false);
    // A small pool with small spans: several spans per thread.
    churn(&common::segment_with(4 << 20, 12, 2, 8), ROUNDS / 8, false);
}

/// Two arenas, four threads: the two threads that find none free allocate
/// whole chunks under the handle's first arena and free into others
/// through its shared record, one at a time.
#[test]
fn threads_without_an_arena_of_their_own_act_under_the_first() {
    // 4 KiB chunks: each block of an arena-less thread takes one.
    let seg = common::segment_with(32 << 20, 12, 0, 2);
    churn(&seg, ROUNDS / 4, true);
    let c = common::attach(&seg).check().unwrap();
    assert!(c.ok(), "{:?}", c.problems);
}

/// A handle that finds no arena at all cannot allocate (nor free another
/// arena's in-span block), but frees huge blocks, whose runs a holder's
/// reclaim then gives back.
#[test]
fn a_handle_without_an_arena_refuses_to_allocate() {
    let seg = common::segment_with(8 << 20, 0, 0, 2);
    let (a, b) = (common::attach(&seg), common::attach(&seg));
    let none = common::attach(&seg);
    assert_eq!(none.arena_id(), None);
    let unsupported =
        |r: shm_layout::Result<Offset>| matches!(r, Err(shm_layout::Error::Unsupported { .. }));
    assert!(unsupported(none.alloc(10)));
    assert!(unsupported(none.alloc(1 << 20)));
    let small = a.alloc(100).unwrap();
    assert!(matches!(
        none.free(small),
        Err(shm_layout::Error::Unsupported { .. })
    ));
    let huge = a.alloc(1 << 20).unwrap();
    let before = a.stats().used;
    none.free(huge).unwrap();
    assert!(a.stats().used < before, "a freed huge block is not counted");
    a.reclaim_dead().unwrap();
    let c = none.check().unwrap();
    assert!(c.ok(), "{:?}", c.problems);
    a.free(small).unwrap();
    drop(b);
    // An arena is free again: the handle gets one when it next needs it.
    let at = none.alloc(10).unwrap();
    none.free(at).unwrap();
    drop((a, none));
    let h = common::attach(&seg);
    assert_eq!(h.stats().used, 0);
    let all = h.alloc(h.max_alloc()).unwrap();
    h.free(all).unwrap();
}

fn churn(seg: &common::Seg, rounds: usize, drop_first: bool) {
    let h = Arc::new(common::attach(seg));
    let barrier = Arc::new(Barrier::new(THREADS));
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..THREADS)
        .map(|_| mpsc::channel::<(Offset, u64, u64)>())
        .unzip();
    let mut rxs: Vec<Option<mpsc::Receiver<_>>> = rxs.into_iter().map(Some).collect();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let h = Arc::clone(&h);
            let barrier = Arc::clone(&barrier);
            let to_next = txs[(t + 1) % THREADS].clone();
            let rx = rxs[t].take().unwrap();
            std::thread::spawn(move || {
                let mut rng = XorShift::for_process(t);
                let mut mine: Vec<(Offset, u64)> = Vec::new();
                barrier.wait();
                for _ in 0..rounds {
                    let r = rng.next();
                    let len = 1 + r % 2048;
                    let at = h.alloc(len).expect("alloc");
                    h.write(at, &fill(at, len, t as u64)).unwrap();
                    mine.push((at, len));
                    if r % 3 == 0 {
                        let (at, len) = mine.swap_remove((r >> 8) as usize % mine.len());
                        to_next.send((at, len, t as u64)).unwrap();
                    } else if mine.len() > 64 {
                        let (at, len) = mine.swap_remove((r >> 8) as usize % mine.len());
                        assert_eq!(h.read(at, len).unwrap(), fill(at, len, t as u64));
                        h.free(at).unwrap();
                    }
                    while let Ok((at, len, who)) = rx.try_recv() {
                        assert_eq!(h.read(at, len).unwrap(), fill(at, len, who));
                        h.free(at).unwrap();
                    }
                }
                drop(to_next);
                barrier.wait();
                for (at, len, who) in rx.try_iter() {
                    assert_eq!(h.read(at, len).unwrap(), fill(at, len, who));
                    h.free(at).unwrap();
                }
                for (at, len) in mine {
                    assert_eq!(h.read(at, len).unwrap(), fill(at, len, t as u64));
                    h.free(at).unwrap();
                }
            })
        })
        .collect();
    drop(txs);
    for t in handles {
        t.join().unwrap();
    }
    let h = Arc::into_inner(h).unwrap();
    let h = if drop_first {
        drop(h); // takes in every remote free and releases the arenas
        common::attach(seg)
    } else {
        h
    };
    assert_eq!(h.stats().used, 0);
    assert_eq!(h.stats().allocations, 0);
    let all = h.alloc(h.max_alloc()).unwrap();
    h.free(all).unwrap();
}

/// A thread whose exit comes after its handle and segment are gone: its
/// thread-local destructor finds the handle gone and touches nothing.
#[test]
fn a_thread_that_outlives_its_handle_exits_cleanly() {
    let seg = common::segment(4 << 20);
    let h = Arc::new(common::attach(&seg));
    let (done, wait) = mpsc::channel();
    let (go, exit) = mpsc::channel::<()>();
    let t = {
        let h = Arc::clone(&h);
        std::thread::spawn(move || {
            let a = h.alloc(100).unwrap();
            let b = h.alloc(3000).unwrap();
            h.free(a).unwrap();
            h.free(b).unwrap();
            drop(h);
            done.send(()).unwrap();
            exit.recv().unwrap();
        })
    };
    wait.recv().unwrap();
    drop(Arc::into_inner(h).unwrap());
    drop(seg);
    go.send(()).unwrap();
    t.join().unwrap();
}
