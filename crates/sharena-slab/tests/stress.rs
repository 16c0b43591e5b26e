//! Threads hammering one segment: each thread with
//! its own `Slab` (like separate processes), and threads sharing one
//! `Slab`. Blocks are stamped and verified, and a claim table proves no
//! slot is ever handed to two owners at once.

mod common;

use sharena_slab::Slab;
use sharena_testkit::XorShift;
use shm_layout::sync::{AtomicU64, Ordering};
use shm_layout::{Error, Offset, RegionId, ShmAllocator};
use std::sync::{Arc, Barrier};

const THREADS: u64 = 4;
const ROUNDS: u64 = 10_000;
const SLOTS: u64 = 96; // small, so threads run out and steal back and forth

struct Claims {
    pool: u64,
    slot: u64,
    owner: Vec<AtomicU64>,
}

impl Claims {
    fn new(seg: &common::Seg) -> Self {
        Claims {
            pool: seg.as_ref().region(RegionId::Pool).offset,
            slot: 32,
            owner: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
    fn cell(&self, at: Offset) -> &AtomicU64 {
        &self.owner[((at.get() - self.pool) / self.slot) as usize]
    }
}

/// One thread's work: keep up to 16 blocks, alloc or free at random,
/// stamp every block and check the stamp before freeing it.
fn churn(
    alloc: &dyn Fn() -> Result<Offset, Error>,
    free: &dyn Fn(Offset),
    rw: &dyn Fn(Offset, Option<u64>) -> u64,
    claims: &Claims,
    me: u64,
) {
    let mut held: Vec<(Offset, u64)> = Vec::new();
    let mut rng = XorShift::new(42 + me);
    for round in 0..ROUNDS {
        let x = rng.next();
        if held.len() < 16 && x % 3 != 0 {
            match alloc() {
                Ok(at) => {
                    let prev = claims.cell(at).swap(me, Ordering::Relaxed);
                    assert_eq!(prev, 0, "slot {at:?} handed out twice");
                    let stamp = (me << 48) | round;
                    rw(at, Some(stamp));
                    held.push((at, stamp));
                    continue;
                }
                Err(Error::OutOfMemory { .. }) => {}
                Err(e) => panic!("alloc: {e}"),
            }
        }
        if let Some((at, stamp)) =
            (!held.is_empty()).then(|| held.swap_remove((x % held.len() as u64) as usize))
        {
            assert_eq!(rw(at, None), stamp, "block {at:?} was overwritten");
            claims.cell(at).store(0, Ordering::Relaxed);
            free(at);
        }
    }
    for (at, stamp) in held {
        assert_eq!(rw(at, None), stamp);
        claims.cell(at).store(0, Ordering::Relaxed);
        free(at);
    }
}

fn run_on<A: ShmAllocator + Sync>(slab: &A, claims: &Claims, me: u64) {
    churn(
        &|| slab.alloc(32),
        &|at| slab.free(at).unwrap(),
        &|at, w| {
            if let Some(v) = w {
                slab.write(at, &v.to_le_bytes()).unwrap();
                slab.write_at(at, 24, &v.to_le_bytes()).unwrap();
                return v;
            }
            let b = slab.read(at, 32).unwrap();
            assert_eq!(b[0..8], b[24..32]);
            u64::from_le_bytes(b[0..8].try_into().unwrap())
        },
        claims,
        me,
    );
}

#[test]
fn one_slab_per_thread() {
    let seg = common::segment(32, SLOTS);
    let claims = Arc::new(Claims::new(&seg));
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let handles: Vec<_> = (1..=THREADS)
        .map(|me| {
            let (seg, claims, barrier) = (seg.clone(), claims.clone(), barrier.clone());
            std::thread::spawn(move || {
                let slab = Slab::attach(seg).unwrap();
                barrier.wait();
                run_on(&slab, &claims, me);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // Every Slab flushed on drop: one new Slab gets every slot back.
    let slab = Slab::attach(seg).unwrap();
    assert_eq!(slab.stats().allocations, 0);
    let all: Vec<Offset> = (0..SLOTS).map(|_| slab.alloc(1).unwrap()).collect();
    assert!(matches!(slab.alloc(1), Err(Error::OutOfMemory { .. })));
    let mut sorted: Vec<u64> = all.iter().map(|o| o.get()).collect();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len() as u64, SLOTS);
}

#[test]
fn one_slab_shared_by_threads() {
    let seg = common::segment(32, SLOTS);
    let claims = Arc::new(Claims::new(&seg));
    let slab = Arc::new(Slab::attach(seg.clone()).unwrap());
    // A second "process" churns at the same time.
    let other = Arc::new(Slab::attach(seg).unwrap());
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let handles: Vec<_> = (1..=THREADS)
        .map(|me| {
            let slab = if me == THREADS {
                other.clone()
            } else {
                slab.clone()
            };
            let (claims, barrier) = (claims.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                run_on(&*slab, &claims, me);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(slab.stats().allocations, 0);
    drop(other);
    let mut slab = Arc::into_inner(slab).unwrap();
    // The cache belonged to a worker thread; flushing hands it back.
    slab.flush().unwrap();
    let all: Vec<Offset> = (0..SLOTS).map(|_| slab.alloc(1).unwrap()).collect();
    assert_eq!(all.len() as u64, SLOTS);
    assert!(matches!(slab.alloc(1), Err(Error::OutOfMemory { .. })));
}
