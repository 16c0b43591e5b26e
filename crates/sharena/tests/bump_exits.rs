//! The bump arena's one rule for every way a process leaves, with real
//! processes: a child opens the arena by name, allocates across several
//! chunks (stamping every block) and ends by a normal return (its handle
//! dropped), `std::process::exit`, a panic that unwinds, an abort or a
//! SIGKILL. A bump block is never freed alone, so every block the child
//! made stays live and readable whichever way it left; `Drop` (return,
//! panic) turns the unused tail of its chunk into a filler block and gives
//! its reservation record and process-table entry back, the parent's
//! `reclaim_dead` does the same for the others: after either, no tail is
//! left behind (the bytes in use are exactly the blocks', fillers
//! included); `reset` then releases everything. Then a forked
//! child that uses the handle it inherited without `reattach()`: every
//! operation that acts for the parent's attachment is `Error::Forked`, the
//! child hands out no offset of the parent's chunk, and dropping the
//! inherited handle touches nothing.
//!
//! `harness = false`: `main` is single-threaded, so `fork` is safe here.

mod common;

use nix::sys::signal::Signal;
use sharena::{Bump, Error, Offset, ProcTable, Recover, ShmAllocator};
use sharena_testkit::harness::{fork_child, wait, Exit};
use shm_layout::sync::Ordering;

/// Bytes of every block the child allocates.
const BLOCK: u64 = 1000;
/// Blocks it allocates: more than two 64 KiB chunks' worth.
const CHILD_ALLOCS: u64 = 200;
/// Where the child writes how many blocks it made, and their offsets.
const RESULTS: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Way {
    Return,
    Exit,
    Panic,
    Abort,
    Kill,
}

impl Way {
    /// Whether `Drop` runs on the way out.
    fn drops(self) -> bool {
        matches!(self, Way::Return | Way::Panic)
    }
}

/// The child: open, allocate and stamp, note the offsets in `out` (a
/// block of the parent's, shared by the segment), leave by `way`.
fn child(name: &str, out: Offset, way: Way) -> i32 {
    let h = Bump::open(name).expect("open");
    for k in 0..CHILD_ALLOCS {
        let at = h.alloc(BLOCK).expect("alloc");
        h.write(at, &[k as u8; BLOCK as usize]).expect("write");
        let slot = Offset::new(out.get() + 8 * k);
        let word = h.segment().view().atomic_u64(slot).expect("result word");
        word.store(at.get(), Ordering::Relaxed);
    }
    match way {
        Way::Return => {
            drop(h);
            0
        }
        Way::Exit => std::process::exit(0),
        Way::Panic => {
            // Quiet: the panic is the exit path under test.
            std::panic::set_hook(Box::new(|_| {}));
            panic!("the child panics with its handle live")
        }
        Way::Abort => std::process::abort(),
        Way::Kill => {
            let _ = nix::sys::signal::raise(Signal::SIGKILL);
            9
        }
    }
}

fn exit_path(way: Way) {
    let guard = common::ShmGuard::new("bump-exit");
    let arena = Bump::create(guard.name(), 4 << 20).expect("create");
    let out = arena.alloc(RESULTS as u64).expect("results");
    arena.write(out, &[0; RESULTS]).expect("zero");
    let mine = arena.alloc(64).expect("alloc");
    arena.write(mine, &[0x5A; 64]).expect("write");
    let name = guard.name().to_string();
    // SAFETY: this test's `main` is single-threaded (harness = false).
    let pid = unsafe { fork_child(|| child(&name, out, way)) }.expect("fork");
    let exit = wait(pid);
    let expected = match way {
        Way::Return | Way::Exit => Exit::Exited(0),
        Way::Panic => Exit::Exited(101),
        Way::Abort => Exit::Signaled(Signal::SIGABRT),
        Way::Kill => Exit::Signaled(Signal::SIGKILL),
    };
    assert_eq!(exit, expected, "{way:?}: how the child ended");
    let table = ProcTable::of(arena.segment().view()).expect("table");
    let entries = table.entries().expect("entries").len();
    assert_eq!(entries, if way.drops() { 1 } else { 2 }, "{way:?}: table");
    let in_blocks_before = arena.check().expect("check").used_bytes;
    let r = arena.reclaim_dead().expect("reclaim");
    let dead = u64::from(!way.drops());
    assert_eq!((r.processes, r.blocks), (dead, 0), "{way:?}: {r:?}");
    // The tail the reclaim accounted for (none after a `Drop`, which did
    // it itself): exactly the bytes the walk now finds in fillers.
    let in_blocks = arena.check().expect("check").used_bytes;
    assert_eq!(r.bytes, in_blocks - in_blocks_before, "{way:?}: {r:?}");
    assert_eq!(r.bytes > 0, !way.drops(), "{way:?}: {r:?}");
    assert_eq!(
        table.entries().expect("entries").len(),
        1,
        "{way:?}: only ours"
    );
    // Every block of the child is live, in place, with its bytes.
    let view = arena.segment().view();
    for k in 0..CHILD_ALLOCS {
        let at = view
            .atomic_u64(Offset::new(out.get() + 8 * k))
            .expect("result word")
            .load(Ordering::Relaxed);
        let at = Offset::new(at);
        assert_eq!(arena.usable_size(at).expect("live"), BLOCK, "{way:?}");
        assert_eq!(
            arena.read(at, BLOCK).expect("read"),
            vec![k as u8; BLOCK as usize],
            "{way:?}: block {k}"
        );
        arena
            .share(at)
            .expect("share: every bump block is the segment's");
    }
    assert_eq!(arena.read(mine, 64).expect("read"), vec![0x5A; 64]);
    let report = arena.check().expect("check");
    assert!(report.ok(), "{way:?}: {:?}", report.problems);
    // The child's blocks, ours, and one filler: the child's chunk tail.
    assert_eq!(report.blocks, CHILD_ALLOCS + 2 + 1, "{way:?}");
    // No tail behind: the bytes in use (our chunk's spare aside) are the
    // blocks', headers and fillers included.
    assert_eq!(arena.stats().used, report.used_bytes, "{way:?}");
    assert_eq!(
        arena.reclaim_dead().expect("again").processes,
        0,
        "idempotent"
    );
    arena.reset().expect("reset");
    assert_eq!(arena.stats().used, 0, "{way:?}: a reset frees everything");
    assert!(matches!(arena.read(mine, 8), Err(Error::Stale { .. })));
    let all = arena.stats().capacity - 8;
    arena.alloc(all).expect("the whole pool after the reset");
    println!("bump exit by {way:?}: blocks kept, no tail left, table entry freed, reset frees all");
}

/// A child that never calls `reattach()` uses the parent's handle.
fn fork_without_reattach() {
    let arena = Bump::anonymous(4 << 20).expect("anonymous");
    let a = arena.alloc(64).expect("alloc");
    arena.write(a, b"parent").expect("write");
    let before = arena.stats();
    // SAFETY: this test's `main` is single-threaded (harness = false).
    let pid = unsafe {
        fork_child(|| {
            let forked = |r: sharena::Result<()>| matches!(r, Err(Error::Forked { .. }));
            for size in [8, 64, 1 << 20] {
                assert!(forked(arena.alloc(size).map(drop)), "alloc {size}");
            }
            assert!(forked(arena.reset().map(drop)), "reset in the child");
            assert!(forked(arena.mark().map(drop)), "mark in the child");
            assert!(forked(arena.reclaim_dead().map(drop)), "reclaim");
            // Reading touches nothing of the parent's attachment.
            assert_eq!(arena.read(a, 6).expect("read"), b"parent");
            // A handle of its own works.
            let own = arena.reattach().expect("reattach");
            let b = own.alloc(64).expect("the child's own alloc");
            assert_ne!(b, a);
            own.write(b, b"child!").expect("write");
            drop(own);
            0
        })
    }
    .expect("fork");
    assert_eq!(wait(pid), Exit::Exited(0), "the child's checks");
    // The parent's chunk is intact: its next block follows its last one.
    let next = arena.alloc(64).expect("alloc");
    assert_eq!(
        next.get(),
        a.get() + 64 + 8,
        "the parent's chunk, untouched"
    );
    assert_eq!(arena.read(a, 6).expect("read"), b"parent");
    assert!(arena.stats().used >= before.used);
    let report = arena.check().expect("check");
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(
        report.blocks, 4,
        "a, the child's own block and its chunk's filler, next"
    );
    println!("bump fork without reattach: Forked in the child, the parent unharmed");
}

fn main() {
    for way in [Way::Return, Way::Exit, Way::Panic, Way::Abort, Way::Kill] {
        exit_path(way);
    }
    fork_without_reattach();
    println!("6 passed, 0 failed");
}
