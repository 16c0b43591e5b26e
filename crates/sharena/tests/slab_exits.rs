//! The slab's one rule for every way a process leaves, with real
//! processes: a child opens the slab by name, allocates (sharing a few,
//! freeing some into its cache) and ends by a normal return (its handle
//! dropped), `std::process::exit`, a panic that unwinds, an abort or a
//! SIGKILL. Its unshared slots must be freed: by `Drop` at once for the
//! first and the third, by the parent's `reclaim_dead` for the others;
//! shared slots stay live. Then a forked child that uses the handles it
//! inherited without `reattach()`: every operation that would touch the
//! parent's entries is `Error::Forked`, dropping an inherited handle
//! touches nothing, and the parent goes on unharmed.
//!
//! `harness = false`: `main` is single-threaded, so `fork` is safe here.

mod common;

use nix::sys::signal::Signal;
use sharena::{Error, Offset, ProcTable, Recover, RunKind, ShmAllocator, Slab};
use sharena_testkit::harness::{fork_child, wait, Exit};

const SLOT: u64 = 64;
/// Slots a child allocates (more than a cache holds: refills and a flush).
const CHILD_ALLOCS: usize = 200;
/// Of which it shares every `SHARE_EVERY`-th.
const SHARE_EVERY: usize = 40;
/// And frees this many (into its cache).
const CHILD_FREES: usize = 150;

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

/// The child: open, allocate, share, free, leave by `way`.
fn child(name: &str, way: Way) -> i32 {
    let h = Slab::open(name).expect("open");
    let mut held = Vec::new();
    for k in 0..CHILD_ALLOCS {
        let at = h.alloc(SLOT).expect("alloc");
        h.write(at, &[0xA5; SLOT as usize]).expect("write");
        if k % SHARE_EVERY == 0 {
            h.share(at).expect("share");
        } else {
            held.push(at);
        }
    }
    for at in held.drain(..CHILD_FREES) {
        h.free(at).expect("free");
    }
    match way {
        Way::Return => {
            drop(h);
            0
        }
        Way::Exit => std::process::exit(0),
        Way::Panic => {
            // Quiet: the panic is the exit path under test (this is the
            // child's own process; the parent's hook is untouched).
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

/// The slots `runs` reports shared.
fn shared_slots(slab: &Slab) -> Vec<Offset> {
    let mut out = Vec::new();
    for r in slab.runs(usize::MAX).expect("runs") {
        if r.kind == RunKind::Shared {
            out.extend(
                (r.offset..r.offset + r.len)
                    .step_by(SLOT as usize)
                    .map(Offset::new),
            );
        }
    }
    out
}

/// Every free slot can be allocated, once; then they are freed again.
fn every_slot_once(slab: &Slab, live: u64, what: &str) {
    let mut got: Vec<u64> = Vec::new();
    while let Ok(at) = slab.alloc(SLOT) {
        got.push(at.get());
    }
    let n = got.len() as u64;
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len() as u64, n, "{what}: a slot handed out twice");
    assert_eq!(n, slab.slot_count() - live, "{what}: slots lost");
    for at in got {
        slab.free(Offset::new(at)).expect("free");
    }
}

fn exit_path(way: Way) {
    let guard = common::ShmGuard::new("slab-exit");
    let slab = Slab::create(guard.name(), 4 << 20, SLOT).expect("create");
    let mine: Vec<Offset> = (0..10).map(|_| slab.alloc(SLOT).expect("alloc")).collect();
    let name = guard.name().to_string();
    // SAFETY: this test's `main` is single-threaded (harness = false).
    let pid = unsafe { fork_child(|| child(&name, way)) }.expect("fork");
    let exit = wait(pid);
    let expected = match way {
        Way::Return | Way::Exit => Exit::Exited(0),
        Way::Panic => Exit::Exited(101),
        Way::Abort => Exit::Signaled(Signal::SIGABRT),
        Way::Kill => Exit::Signaled(Signal::SIGKILL),
    };
    assert_eq!(exit, expected, "{way:?}: how the child ended");
    let shared = shared_slots(&slab);
    assert_eq!(shared.len(), CHILD_ALLOCS.div_ceil(SHARE_EVERY), "{way:?}");
    let kept = (mine.len() + shared.len()) as u64 * SLOT;
    let used = slab.stats().used;
    if way.drops() {
        assert_eq!(used, kept, "{way:?}: Drop freed the child's unshared slots");
    } else {
        assert!(used > kept, "{way:?}: nothing ran on the way out");
    }
    let r = slab.reclaim_dead().expect("reclaim");
    if way.drops() {
        assert_eq!((r.processes, r.blocks), (0, 0), "{way:?}: {r:?}");
    } else {
        assert_eq!(r.processes, 1, "{way:?}: {r:?}");
        // Its unshared live slots, and its cached ones.
        let unshared = (CHILD_ALLOCS - shared.len() - CHILD_FREES) as u64;
        assert!(r.blocks >= unshared, "{way:?}: {r:?}");
    }
    assert_eq!(slab.stats().used, kept, "{way:?}: after reclaim");
    let report = slab.check().expect("check");
    assert!(report.ok(), "{way:?}: {:?}", report.problems);
    let table = ProcTable::of(slab.segment().view()).expect("table");
    assert_eq!(
        table.entries().expect("entries").len(),
        1,
        "{way:?}: only ours"
    );
    for &at in &shared {
        assert_eq!(
            slab.read(at, SLOT).expect("read"),
            vec![0xA5; SLOT as usize]
        );
    }
    every_slot_once(&slab, kept / SLOT, &format!("{way:?}"));
    for at in shared.into_iter().chain(mine) {
        slab.free(at).expect("free");
    }
    assert_eq!(slab.stats().used, 0, "{way:?}");
    println!("slab exit by {way:?}: unshared slots freed, shared kept, nothing lost");
}

/// A child that never calls `reattach()` uses the parent's handles.
fn fork_without_reattach() {
    let slab = Slab::anonymous(4 << 20, SLOT).expect("anonymous");
    let mut other = Some(slab.reattach().expect("reattach"));
    let a = slab.alloc(SLOT).expect("alloc");
    let b = other.as_ref().expect("other").alloc(SLOT).expect("alloc");
    slab.write(a, b"parent").expect("write");
    // Slots in the parent's cache, so a child touching it would take them.
    let cached: Vec<Offset> = (0..8).map(|_| slab.alloc(SLOT).expect("alloc")).collect();
    for &at in &cached {
        slab.free(at).expect("free");
    }
    let before = slab.stats();
    let other_slot = &mut other;
    // SAFETY: this test's `main` is single-threaded (harness = false).
    let pid = unsafe {
        fork_child(|| {
            let forked = |r: sharena::Result<()>| matches!(r, Err(Error::Forked { .. }));
            assert!(forked(slab.alloc(SLOT).map(drop)), "alloc in the child");
            assert!(forked(slab.free(a)), "free in the child");
            assert!(
                forked(slab.reclaim_dead().map(drop)),
                "reclaim in the child"
            );
            let o = other_slot.take().expect("other");
            assert!(forked(o.alloc(8).map(drop)), "the second handle too");
            // Reading touches no registry entry.
            assert_eq!(slab.read(a, 6).expect("read"), b"parent");
            // Dropping an inherited handle leaves the parent's entry and
            // slots alone.
            drop(o);
            0
        })
    }
    .expect("fork");
    assert_eq!(wait(pid), Exit::Exited(0), "the child's checks");
    assert_eq!(slab.stats(), before, "the child changed nothing");
    let report = slab.check().expect("check");
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(slab.reclaim_dead().expect("reclaim").blocks, 0);
    // The parent's handles and cache work on: its cache still holds
    // exactly the slots it freed.
    let again: Vec<Offset> = (0..8).map(|_| slab.alloc(SLOT).expect("alloc")).collect();
    let mut want = cached.clone();
    want.sort_unstable_by_key(|o| o.get());
    let mut got = again.clone();
    got.sort_unstable_by_key(|o| o.get());
    assert_eq!(got, want, "the parent's cache is intact");
    let other = other.expect("still the parent's");
    other.free(b).expect("free b");
    slab.free(a).expect("free a");
    for at in again {
        slab.free(at).expect("free");
    }
    drop(other);
    assert_eq!(slab.stats().used, 0);
    assert!(slab.check().expect("check").ok());
    println!("slab fork without reattach: Forked in the child, the parent unharmed");
}

fn main() {
    for way in [Way::Return, Way::Exit, Way::Panic, Way::Abort, Way::Kill] {
        exit_path(way);
    }
    fork_without_reattach();
    println!("6 passed, 0 failed");
}
