//! The dead processes of the `reclaim` scenario, forked by its setup: what
//! the victim's `reclaim_dead` (explored at every write) must clean up.
//!
//! - The first dies holding pins (of its own block, of a published block
//!   and of a survivor's block), with a free decided but not retired (a
//!   DEAD block), and killed in the middle of another free (KILLING set,
//!   nothing decided), leaving unshared blocks of its own.
//! - The second dies in the middle of a compaction, its move committed
//!   and half copied (the lock and the journal left behind).

use super::{err, holes, pattern, Mine};
use crate::harness::{self, Exit};
use nix::sys::signal::Signal;
use sharena::{Handles, Recover};
use shm_layout::crash;

/// The published block's name.
pub(crate) const DEAD_NAME: &str = "dead-published";

/// The counted write the compacting helper dies before: the second chunk
/// of a move is copied, its progress not yet recorded. Lock claim 1; the
/// first block (pinned by the dead pinner): journal 2..6, MOVING 7, undone
/// 8, journal cleared 9; the second (200 KiB moved 100 KiB down, in 64 KiB
/// chunks): journal 10..14, MOVING 15, commit 16, chunk 17, progress 18,
/// chunk 19, then 20 is its progress. The setup checks that the helper
/// died holding the lock.
const COMPACT_DEATH: u64 = 20;

fn pinner(seg: &str, theirs: &[Mine]) -> Result<(), String> {
    let heap = Handles::open(seg).map_err(err)?;
    let pinned = heap.alloc(500).map_err(err)?;
    heap.write(pinned, &pattern(pinned, 500)).map_err(err)?;
    let half_freed = heap.alloc(300).map_err(err)?;
    let undecided = heap.alloc(100).map_err(err)?;
    let public = heap.alloc(200).map_err(err)?;
    heap.write(public, &pattern(public, 200)).map_err(err)?;
    heap.publish_handle(DEAD_NAME, public).map_err(err)?;
    std::mem::forget(heap.pin(pinned).map_err(err)?);
    std::mem::forget(heap.pin(public).map_err(err)?);
    std::mem::forget(heap.pin(theirs[0].h).map_err(err)?);
    heap.free_interrupted_for_tests(half_freed).map_err(err)?;
    // The free's first write sets KILLING; die before it decides.
    crash::arm_writes(2);
    let _ = heap.free(undecided);
    Err("the free did not die where armed".into())
}

fn compactor(seg: &str) -> Result<(), String> {
    let h = Handles::open(seg).map_err(err)?;
    crash::arm_writes(COMPACT_DEATH);
    let _ = h.compact();
    Err("the compaction did not die where armed".into())
}

/// Forks `body` and expects it killed by its armed write.
fn die(what: &str, body: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    // SAFETY: the explorer runs from a single-threaded `main` (its
    // contract), and setup runs there.
    let pid = unsafe {
        harness::fork_child(|| match body() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("{what}: {e}");
                7
            }
        })
    }
    .map_err(|e| format!("fork {what}: {e}"))?;
    match harness::wait(pid) {
        Exit::Signaled(Signal::SIGKILL) => Ok(()),
        other => Err(format!("the {what} helper {other} instead of dying")),
    }
}

/// The `reclaim` scenario's setup: the survivor's blocks above holes, and
/// the two dead helpers' leftovers.
pub(crate) fn dead_helpers(heap: &Handles, seg: &str) -> Result<Vec<Mine>, String> {
    let mine = holes(heap, seg)?;
    die("pinning", || pinner(seg, &mine))?;
    die("compacting", || compactor(seg))?;
    let problems = heap.check().map_err(err)?.problems;
    for want in ["compaction lock is held", "is undecided"] {
        if !problems.iter().any(|p| p.what.contains(want)) {
            return Err(format!("the dead helpers left no \"{want}\": {problems:?}"));
        }
    }
    Ok(mine)
}
