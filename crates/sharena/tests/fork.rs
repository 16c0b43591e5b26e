//! Anonymous segments are shared with `fork`ed children; named segments are
//! opened by name in each child. `harness = false`: `main` is
//! single-threaded, so `fork` is safe here.

mod common;

use sharena::layout::sync::Ordering;
use sharena::{AllocatorKind, Offset, OpenOptions, RegionId, Segment, SegmentOptions};
use sharena_testkit::churn::{churn, churn_sized, fill_then_verify};
use sharena_testkit::harness::{fork_child, wait, Exit};
use sharena_testkit::tally::{Tally, TALLY_WORDS};

const WORKERS: u64 = 4;
const ROUNDS: u64 = 10_000;

/// Each child adds to a shared counter and writes its own stripe.
fn work(seg: &Segment, k: u64) {
    let pool = seg.view().region(RegionId::Pool).offset;
    let counter = seg.view().atomic_u64(Offset::new(pool)).unwrap();
    for _ in 0..ROUNDS {
        counter.fetch_add(1, Ordering::Relaxed);
    }
    let stripe = Offset::new(pool + 4096 * (k + 1));
    seg.view()
        .write_bytes(stripe, &[k as u8 + 1; 4096])
        .unwrap();
}

fn check(seg: &Segment, what: &str) {
    let pool = seg.view().region(RegionId::Pool).offset;
    let counter = seg.view().atomic_u64(Offset::new(pool)).unwrap();
    assert_eq!(
        counter.load(Ordering::Relaxed),
        WORKERS * ROUNDS,
        "{what}: counter"
    );
    for k in 0..WORKERS {
        let mut buf = [0u8; 4096];
        seg.view()
            .read_bytes(Offset::new(pool + 4096 * (k + 1)), &mut buf)
            .unwrap();
        assert!(buf.iter().all(|b| *b == k as u8 + 1), "{what}: stripe {k}");
    }
    println!("{what}: {WORKERS} forked workers, counter and stripes verified");
}

fn run_children(mut child: impl FnMut(u64)) {
    let mut pids = Vec::new();
    for k in 0..WORKERS {
        // SAFETY: this test's `main` is single-threaded (harness = false).
        let pid = unsafe {
            fork_child(|| {
                child(k);
                0
            })
        };
        pids.push(pid.expect("fork"));
    }
    for pid in pids {
        assert_eq!(wait(pid), Exit::Exited(0), "worker {pid}");
    }
}

/// Issue 3: 4 forked processes x 1,000,000 operations on an anonymous slab,
/// each child attaching its own cache; tallies come back through the
/// segment itself (a slot per worker in a second anonymous segment).
fn anonymous_slab() {
    let slab = sharena::Slab::anonymous(8 << 20, 64).unwrap();
    let total = forked_tally(|k| churn(&*slab.reattach().unwrap(), k, OPS));
    use sharena::ShmAllocator;
    assert_eq!(slab.stats().allocations, 0);
    println!(
        "anonymous slab: {WORKERS} forked workers x {OPS} ops, {} bytes verified, no duplicates",
        total.verified
    );
}

/// The same for an anonymous bump arena (allocate, stamp, verify all).
fn anonymous_bump() {
    let arena = sharena::Bump::anonymous(200 << 20).unwrap();
    let total = forked_tally(|k| fill_then_verify(&*arena.reattach().unwrap(), k, OPS));
    assert_eq!(total.verified, WORKERS * OPS * 32);
    println!("anonymous bump: {WORKERS} forked workers x {OPS} allocations, {} bytes verified, no duplicates", total.verified);
}

/// Issue 4: the same with random sizes in [1, 4096] on an anonymous free
/// list; afterwards nothing is in use and the whole pool is one block.
fn anonymous_freelist() {
    use sharena::ShmAllocator;
    let heap = sharena::FreeList::anonymous(64 << 20).unwrap();
    let total = forked_tally(|k| churn_sized(&*heap.reattach().unwrap(), k, OPS, 4096));
    let s = heap.stats();
    assert_eq!((s.used, s.allocations), (0, 0), "{s:?}");
    let all = heap.alloc(heap.max_alloc()).unwrap();
    heap.free(all).unwrap();
    println!(
        "anonymous freelist: {WORKERS} forked workers x {OPS} ops, {} bytes verified, no duplicates",
        total.verified
    );
}

const OPS: u64 = 1_000_000;

/// Forks the workers, collects their tallies through a second anonymous
/// segment, and asserts no duplicates, corruptions or failed allocations.
fn forked_tally(work: impl Fn(u64) -> Tally) -> Tally {
    let results = Segment::anonymous(&SegmentOptions::new(AllocatorKind::Raw, 1 << 20)).unwrap();
    let res_base = results.view().region(RegionId::Pool).offset;
    run_children(|k| {
        let t = work(k);
        for (i, w) in t.words().iter().enumerate() {
            let at = Offset::new(res_base + 128 * k + 8 * i as u64);
            results
                .view()
                .atomic_u64(at)
                .unwrap()
                .store(*w, Ordering::Relaxed);
        }
    });
    let mut total = Tally::default();
    for k in 0..WORKERS {
        let w: [u64; TALLY_WORDS] = std::array::from_fn(|i| {
            let at = Offset::new(res_base + 128 * k + 8 * i as u64);
            results
                .view()
                .atomic_u64(at)
                .unwrap()
                .load(Ordering::Relaxed)
        });
        total.add(&Tally::from_words(w));
    }
    assert_eq!(total.ops, WORKERS * OPS, "{total:?}");
    assert_eq!(
        (total.duplicates, total.corruptions, total.oom),
        (0, 0, 0),
        "{total:?}"
    );
    total
}

fn main() {
    // Anonymous: inherited through fork.
    let seg = Segment::anonymous(&SegmentOptions::new(AllocatorKind::Raw, 1 << 20)).unwrap();
    run_children(|k| work(&seg, k));
    check(&seg, "anonymous");

    // Named: each child opens it by name and maps it at its own address.
    let guard = common::ShmGuard::new("fork");
    let name = guard.name();
    let seg = Segment::create(name, &SegmentOptions::new(AllocatorKind::Raw, 1 << 20)).unwrap();
    run_children(|k| {
        let mine = Segment::open(name, &OpenOptions::new().kind(AllocatorKind::Raw)).unwrap();
        work(&mine, k);
    });
    check(&seg, "named");

    anonymous_slab();
    anonymous_bump();
    anonymous_freelist();
    println!("5 passed, 0 failed");
}
