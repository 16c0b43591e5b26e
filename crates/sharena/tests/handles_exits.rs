//! The handle heap's one rule for every way an attachment ends, with real
//! processes: a block belongs to the attachment that allocated it until it
//! is freed or shared; when the attachment ends its unshared blocks are
//! freed, by `Drop` (a normal return, a panic that unwinds) or by the next
//! `reclaim_dead` once the process is gone (`std::process::exit`,
//! SIGKILL), which also releases the pins it held. And a forked child that
//! never calls `reattach()`: every operation of the inherited handle is
//! `Error::Forked`, its `Drop` touches nothing, the parent is unharmed.
//!
//! `harness = false`: `main` is single-threaded, so it may fork.

mod common;

use common::ShmGuard;
use sharena::{Error, Handle, Handles, Recover};
use sharena_testkit::harness::{fork_child, wait, Exit};
use std::fmt;

/// How a child's attachment ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Way {
    Return,
    ProcessExit,
    Panic,
    SigKill,
}

impl fmt::Display for Way {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Blocks each child allocates and never frees or shares.
const UNSHARED: u64 = 3;

/// The child: opens the heap, allocates three unshared blocks and one it
/// publishes, pins the parent's block and its own published one, and
/// ends `way` with everything still held.
fn child(name: &str, way: Way, parents: Handle) -> i32 {
    let heap = Handles::open(name).expect("open");
    for i in 0..UNSHARED {
        let h = heap.alloc(100 + i).expect("alloc");
        heap.write(h, &[i as u8; 100]).expect("write");
    }
    let kept = heap.alloc(64).expect("alloc");
    heap.write(kept, b"kept by the segment").expect("write");
    heap.publish_handle(format!("kept-{way}"), kept)
        .expect("publish");
    let _theirs = heap.pin(parents).expect("pin the parent's block");
    let _own = heap.pin(kept).expect("pin the published block");
    match way {
        Way::Return => 0,
        Way::ProcessExit => std::process::exit(0),
        Way::Panic => {
            // Quietly: the panic is the point, not a failure.
            std::panic::set_hook(Box::new(|_| {}));
            panic!("this child panics on purpose (unwinding drops its handle)")
        }
        Way::SigKill => {
            let me = nix::unistd::getpid();
            let _ = nix::sys::signal::kill(me, nix::sys::signal::Signal::SIGKILL);
            unreachable!("SIGKILL to oneself is delivered before kill returns")
        }
    }
}

fn exit_paths() {
    let g = ShmGuard::new("hexits");
    let heap = Handles::create(g.name(), 1 << 20).expect("create");
    let mut shared = 0u64;
    for way in [Way::Return, Way::ProcessExit, Way::Panic, Way::SigKill] {
        // The parent's block, above a hole: a compaction must move it,
        // which a pin left by the child would forbid.
        let hole = heap.alloc(4096).unwrap();
        let parents = heap.alloc(64).unwrap();
        heap.write(parents, b"the parent's").unwrap();
        heap.free(hole).unwrap();
        let name = g.name().to_string();
        // SAFETY: this test's `main` is single-threaded (harness = false).
        let pid = unsafe { fork_child(|| child(&name, way, parents)) }.expect("fork");
        let status = wait(pid);
        let expected = match way {
            Way::Return | Way::ProcessExit => Exit::Exited(0),
            Way::Panic => Exit::Exited(101),
            Way::SigKill => Exit::Signaled(nix::sys::signal::Signal::SIGKILL),
        };
        assert_eq!(status, expected, "{way}");
        shared += 1;
        let dropped = matches!(way, Way::Return | Way::Panic);
        let held = if dropped { 0 } else { UNSHARED };
        assert_eq!(
            heap.stats().allocations,
            1 + shared + held,
            "{way}: before reclaim"
        );
        let r = heap.reclaim_dead().unwrap();
        if dropped {
            assert_eq!(
                (r.processes, r.blocks),
                (0, 0),
                "{way}: Drop freed it all: {r:?}"
            );
        } else {
            assert_eq!((r.processes, r.blocks), (1, UNSHARED), "{way}: {r:?}");
        }
        assert_eq!(heap.stats().allocations, 1 + shared, "{way}: after reclaim");
        let c = heap.check().unwrap();
        assert!(c.ok(), "{way}: {:?}", c.problems);
        // No pin of the child is left: the parent's block moves down, and
        // the published one can be freed.
        let moved = heap.compact().unwrap();
        assert!(moved.complete && moved.pinned == 0, "{way}: {moved:?}");
        assert!(moved.blocks_moved >= 1, "{way}: {moved:?}");
        assert_eq!(heap.read(parents, 12).unwrap(), b"the parent's");
        let kept = heap
            .lookup_handle(format!("kept-{way}"))
            .unwrap()
            .expect("published");
        assert_eq!(heap.read(kept, 19).unwrap(), b"kept by the segment");
        heap.free(parents).unwrap();
        println!("{way}: Drop or reclaim freed the child's {UNSHARED} blocks and its pins");
    }
    assert!(heap.check().unwrap().ok());
}

fn forked(r: &Result<impl fmt::Debug, Error>, what: &str) {
    assert!(matches!(r, Err(Error::Forked { .. })), "{what}: {r:?}");
}

/// A child that uses the handle it inherited, never reattaching.
fn inherited(mut heap: Option<Handles>, block: Handle) -> i32 {
    let h = heap.as_ref().unwrap();
    forked(&h.alloc(8), "alloc");
    forked(&h.free(block), "free");
    forked(&h.pin(block).map(|_| ()), "pin");
    forked(&h.read(block, 1), "read");
    forked(&h.write(block, b"x"), "write");
    forked(&h.compact(), "compact");
    forked(&h.reclaim_dead(), "reclaim_dead");
    assert_eq!(h.stats().allocations, 1, "stats read fine");
    assert!(h.check().unwrap().ok());
    // Its Drop touches nothing: the attachment is the parent's.
    drop(heap.take());
    0
}

fn fork_without_reattach() {
    let guard = ShmGuard::new("hforked");
    let mut heap = Some(Handles::create(guard.name(), 1 << 20).expect("create"));
    let block = heap.as_ref().unwrap().alloc(100).unwrap();
    heap.as_ref()
        .unwrap()
        .write(block, b"parent's bytes")
        .unwrap();
    // SAFETY: this test's `main` is single-threaded (harness = false).
    let pid = unsafe { fork_child(|| inherited(heap.take(), block)) }.expect("fork");
    assert_eq!(wait(pid), Exit::Exited(0), "the child's checks");
    let heap = heap.expect("the parent's handle stays");
    assert_eq!(heap.read(block, 14).unwrap(), b"parent's bytes");
    assert_eq!(heap.stats().allocations, 1);
    let r = heap.reclaim_dead().unwrap();
    assert_eq!((r.processes, r.blocks), (0, 0), "{r:?}");
    let c = heap.check().unwrap();
    assert!(c.ok(), "{:?}", c.problems);
    // A child that reattaches works on its own attachment.
    // SAFETY: as above.
    let pid = unsafe {
        fork_child(|| {
            let mine = heap.reattach().expect("reattach");
            let b = mine.alloc(50).expect("alloc in the child");
            mine.write(b, b"child").expect("write");
            assert_eq!(mine.read(block, 14).unwrap(), b"parent's bytes");
            let _left = mine.alloc(30).expect("alloc");
            mine.free(b).expect("free");
            0 // `mine` drops: its unshared block is freed
        })
    }
    .expect("fork");
    assert_eq!(wait(pid), Exit::Exited(0));
    assert_eq!(heap.stats().allocations, 1);
    heap.free(block).unwrap();
    assert!(heap.check().unwrap().ok());
    println!("fork without reattach: Error::Forked in the child, the parent unharmed");
}

fn main() {
    exit_paths();
    fork_without_reattach();
}
