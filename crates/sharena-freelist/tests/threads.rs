//! Thread stress on one in-buffer free list: threads share one handle, so
//! each gets an arena of its own; blocks travel between threads so that
//! frees cross arenas (the remote path).

mod common;

use sharena_testkit::XorShift;
use shm_layout::{Offset, ShmAllocator};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};

const THREADS: usize = 4;
const ROUNDS: usize = 20_000;

fn fill(at: Offset, len: u64, who: u64) -> Vec<u8> {
    (0..len).map(|i| (at.get() ^ who ^ i) as u8).collect()
}

#[test]
fn threads_share_one_handle_and_free_each_others_blocks() {
    let seg = common::segment(32 << 20);
    let h = Arc::new(common::attach(&seg));
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
                for _ in 0..ROUNDS {
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
    drop(h); // takes in every remote free and releases the arenas
    let h = common::attach(&seg);
    assert_eq!(h.stats().used, 0);
    assert_eq!(h.stats().allocations, 0);
    let all = h.alloc(h.max_alloc()).unwrap();
    h.free(all).unwrap();
}
