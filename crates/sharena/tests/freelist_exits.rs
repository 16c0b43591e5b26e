//! The free list's exit rule with real processes: a block belongs to the
//! attachment that allocated it until it is freed or shared, and when the
//! attachment ends its unshared blocks are freed — by `Drop` on a normal
//! return or an unwinding panic, by the next `reclaim_dead` after
//! `std::process::exit` or `SIGKILL`. And a forked child that uses the
//! parent's handle without attaching its own gets `Error::Forked` and
//! leaves the segment as it was. `harness = false`: `main` is
//! single-threaded, so `fork` is safe here.

mod common;

use sharena::{Error, FreeList, Named, Offset, Recover, ShmAllocator};
use sharena_testkit::harness::{fork_child, wait, Exit};

const SIZE: u64 = 16 << 20;

/// How a child leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leave {
    Return,
    ProcessExit,
    Panic,
    Kill,
}

/// The child: opens the heap, holds blocks of every sort (small, cached,
/// huge, aligned huge), frees one of the parent's (a remote free), shares
/// and publishes one, then leaves as told.
fn child(name: &str, parents: Offset, leave: Leave) -> i32 {
    let h = FreeList::open(name).expect("open");
    for size in [24, 100, 700, 3000, 100_000, 3 << 20] {
        let o = h.alloc(size).expect("alloc");
        h.write(o, b"held by the child").expect("write");
    }
    let _aligned = h.alloc_aligned(200_000, 4096).expect("alloc aligned");
    let cached: Vec<Offset> = (0..6).map(|_| h.alloc(128).expect("alloc")).collect();
    for o in cached {
        h.free(o).expect("free");
    }
    h.free(parents).expect("free the parent's block");
    let kept = h.alloc(1000).expect("alloc");
    h.write(kept, b"kept").expect("write");
    h.publish("kept", kept).expect("publish");
    match leave {
        Leave::Return => 0,
        Leave::ProcessExit => std::process::exit(0),
        Leave::Panic => {
            // Quietly: the panic is the test, not a failure.
            std::panic::set_hook(Box::new(|_| {}));
            panic!("the child panics with its handle open")
        }
        Leave::Kill => {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            unreachable!("SIGKILL returned")
        }
    }
}

fn exit_path(leave: Leave) {
    let guard = common::ShmGuard::new("fl-exit");
    let heap = FreeList::create(guard.name(), SIZE).unwrap();
    let parents = heap.alloc(300).unwrap();
    let baseline = heap.stats().used - (heap.usable_size(parents).unwrap() + 16);
    // SAFETY: this test's `main` is single-threaded (harness = false).
    let pid = unsafe { fork_child(|| child(guard.name(), parents, leave)) }.expect("fork");
    let want = match leave {
        Leave::Return | Leave::ProcessExit => Exit::Exited(0),
        Leave::Panic => Exit::Exited(101),
        Leave::Kill => Exit::Signaled(nix::sys::signal::Signal::SIGKILL),
    };
    assert_eq!(wait(pid), want, "{leave:?}");
    let kept = heap.lookup("kept").unwrap().expect("the child published");
    let kept_bytes = heap.usable_size(kept).unwrap() + 16;
    // The parent's own block was freed by the child (into the parent's
    // arena: taken in by `collect`).
    assert!(matches!(heap.free(parents), Err(Error::DoubleFree { .. })));
    heap.collect().unwrap();
    let dropped = matches!(leave, Leave::Return | Leave::Panic);
    if dropped {
        // `Drop` ran: nothing of the child's is in use but what it shared,
        // before any reclaim.
        assert_eq!(heap.stats().used, baseline + kept_bytes, "{leave:?}");
        assert!(heap.check().unwrap().ok(), "{leave:?}");
    } else {
        assert!(heap.stats().used > baseline + kept_bytes, "{leave:?}");
    }
    let r = heap.reclaim_dead().unwrap();
    if dropped {
        assert_eq!((r.processes, r.blocks), (0, 0), "{leave:?}: {r:?}");
    } else {
        assert_eq!(r.processes, 1, "{leave:?}: {r:?}");
        assert!(r.blocks >= 8, "{leave:?}: {r:?}");
    }
    assert_eq!(heap.stats().used, baseline + kept_bytes, "{leave:?}");
    let c = heap.check().unwrap();
    assert!(c.ok(), "{leave:?}: {:?}", c.problems);
    assert_eq!(heap.read(kept, 4).unwrap(), b"kept", "{leave:?}");
    heap.unpublish("kept").unwrap();
    heap.free(kept).unwrap();
    assert_eq!(heap.stats().used, baseline, "{leave:?}");
    let all = heap
        .alloc(heap.max_alloc())
        .expect("the whole pool is free");
    heap.free(all).unwrap();
    println!("freelist exit by {leave:?}: the child's unshared blocks were freed");
}

/// A child that uses the parent's handle without `reattach()`: every call
/// that would touch the parent's arenas is refused, its `Drop` touches
/// nothing, and its own handle works.
fn fork_without_reattach() {
    let guard = common::ShmGuard::new("fl-forked");
    let heap = FreeList::create(guard.name(), SIZE).unwrap();
    let inherited = heap.reattach().unwrap();
    let blocks: Vec<Offset> = [64, 2000, 100_000]
        .iter()
        .map(|&s| inherited.alloc(s).unwrap())
        .collect();
    for (i, &o) in blocks.iter().enumerate() {
        inherited.write(o, &[i as u8 + 1; 64]).unwrap();
    }
    let cached = inherited.alloc(96).unwrap();
    inherited.free(cached).unwrap();
    let before = heap.stats();
    let mut slot = Some(inherited);
    let name = guard.name().to_string();
    // SAFETY: this test's `main` is single-threaded (harness = false).
    let pid = unsafe {
        fork_child(|| {
            let h = slot.take().expect("the inherited handle");
            let forked = |r: sharena::Result<()>| matches!(r, Err(Error::Forked { .. }));
            // What used to corrupt the segment: a churn on the parent's
            // arenas.
            for _ in 0..100 {
                assert!(forked(h.alloc(100).map(drop)));
                assert!(forked(h.alloc(1 << 20).map(drop)));
            }
            for &o in &blocks {
                assert!(forked(h.free(o)));
            }
            assert!(forked(h.collect().map(drop)));
            assert!(forked(h.reclaim_dead().map(drop)));
            // Reads stay allowed (they touch no arena).
            assert_eq!(h.read(blocks[0], 1).unwrap(), [1]);
            drop(h);
            // The child's own handle works, and leaves nothing behind.
            let mine = FreeList::open(&name).unwrap();
            let o = mine.alloc(500).unwrap();
            mine.free(o).unwrap();
            let again = heap.reattach().unwrap();
            let o = again.alloc(500).unwrap();
            again.free(o).unwrap();
            0
        })
    }
    .expect("fork");
    assert_eq!(wait(pid), Exit::Exited(0), "the forked child");
    let inherited = slot.take().unwrap();
    let c = heap.check().unwrap();
    assert!(c.ok(), "{:?}", c.problems);
    assert_eq!(heap.stats().used, before.used);
    for (i, &o) in blocks.iter().enumerate() {
        assert_eq!(inherited.read(o, 64).unwrap(), [i as u8 + 1; 64]);
        inherited.free(o).unwrap();
    }
    assert_eq!(heap.reclaim_dead().unwrap().processes, 0);
    drop(inherited);
    assert_eq!(heap.stats().used, 0);
    assert!(heap.check().unwrap().ok());
    println!("freelist fork without reattach: refused, nothing corrupted");
}

fn main() {
    for leave in [Leave::Return, Leave::ProcessExit, Leave::Panic, Leave::Kill] {
        exit_path(leave);
    }
    fork_without_reattach();
    println!("5 passed, 0 failed");
}
