//! Issue 17, "Compaction never moves in vain": eight attachments (one per
//! thread) allocate and free at random with auto-compaction on, and no
//! allocation may fail while compaction can make room.
//!
//! Why the assertion is sound under concurrency: each thread keeps its own
//! live bytes (each block rounded up to 8, counting the allocation it is
//! making) within a budget, and the eight budgets add up to four fifths of
//! the data area. So at every instant, whatever the interleaving, at least
//! a fifth of the data area is free, more than any request. No pin is held
//! while anyone allocates (the threads write and check their blocks in a
//! separate phase, between barriers), so compaction can always slide
//! every block down and make room at the end: an `OutOfMemory` at any
//! moment is one that should not have happened, and the test counts them
//! and requires none.

mod support;

use sharena_handles::{Handle, Handles};
use shm_layout::sync::{AtomicU64, Ordering};
use shm_layout::{Error, Recover};
use std::sync::Barrier;
use support::{pattern, shared_segment};

const THREADS: u64 = 8;
const ROUNDS: u64 = 4;
const OPS: u64 = 4000;
const MAX_LIVE: usize = 48;

fn next(s: &mut u64) -> u64 {
    // splitmix64
    *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn eight_threads_fail_only_when_compaction_cannot_make_room() {
    let seg = shared_segment(72, 1024);
    let capacity = Handles::attach(seg.clone()).unwrap().stats().capacity;
    let budget = (capacity * 4 / 5 / THREADS) & !7;
    let max_request = 2048u64;
    assert!(capacity - THREADS * budget > max_request);
    let barrier = Barrier::new(THREADS as usize);
    let failures = AtomicU64::new(0);
    let allocs = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (seg, barrier, failures, allocs) = (seg.clone(), &barrier, &failures, &allocs);
            s.spawn(move || {
                let hp = Handles::attach(seg).unwrap();
                hp.set_auto_compact(true);
                let mut rng = 0x5EED ^ (t << 40);
                // handle, size, seed of what was written (None: not yet).
                let mut mine: Vec<(Handle, u64, Option<u64>)> = Vec::new();
                let mut held = 0u64;
                for round in 0..ROUNDS {
                    for _ in 0..OPS {
                        let size = 1 + next(&mut rng) % max_request;
                        let want = size.next_multiple_of(8);
                        let free_one = mine.len() >= MAX_LIVE
                            || held + want > budget
                            || (!mine.is_empty() && next(&mut rng) % 3 == 0);
                        if free_one {
                            let i = (next(&mut rng) % mine.len() as u64) as usize;
                            let (x, size, _) = mine.swap_remove(i);
                            hp.free(x).unwrap();
                            held -= size.next_multiple_of(8);
                            continue;
                        }
                        match hp.alloc(size) {
                            Ok(x) => {
                                allocs.fetch_add(1, Ordering::Relaxed); // Relaxed: read after the threads are joined.
                                held += want;
                                mine.push((x, size, None));
                            }
                            Err(Error::OutOfMemory { .. }) => {
                                failures.fetch_add(1, Ordering::Relaxed); // Relaxed: read after the threads are joined.
                            }
                            Err(e) => panic!("thread {t}: alloc({size}): {e}"),
                        }
                    }
                    barrier.wait();
                    // Nobody allocates now: check what survived the moves,
                    // then write something new.
                    for (k, (x, size, seed)) in mine.iter_mut().enumerate() {
                        if let Some(seed) = *seed {
                            assert_eq!(
                                hp.read(*x, *size).unwrap(),
                                pattern(seed, *size as usize),
                                "thread {t}: a block lost its bytes"
                            );
                        }
                        let new = (t << 48) ^ (round << 32) ^ k as u64;
                        hp.write(*x, &pattern(new, *size as usize)).unwrap();
                        *seed = Some(new);
                    }
                    barrier.wait();
                }
                for (x, _, _) in mine {
                    hp.free(x).unwrap();
                }
            });
        }
    });
    let hp = Handles::attach(seg.clone()).unwrap();
    assert_eq!(hp.stats().used, 0);
    assert!(hp.check().unwrap().ok());
    let (failed, made) = (
        failures.load(Ordering::Relaxed),
        allocs.load(Ordering::Relaxed),
    );
    assert_eq!(
        failed, 0,
        "{failed} allocations failed ({made} succeeded) while at least a fifth of the heap was free"
    );
    assert!(made > THREADS * ROUNDS * OPS / 3, "{made}");
}
