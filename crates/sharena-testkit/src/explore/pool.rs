//! The verification every offset allocator shares (free list, slab): what
//! the victim noted, freed or kept by the survivor, and the accounting.
//!
//! Notes a victim writes, by offset (the last note for an offset wins):
//! - `own X`: the victim holds X, unshared; after `reclaim_dead` X must be
//!   free again, so the survivor's `free(X)` must fail.
//! - `shared X`: the victim shared X; it must still be live, and the
//!   survivor frees it.
//! - `either X`: an operation on X was in flight (a share, or a free of
//!   one of the survivor's blocks): X may be live or free.
//! - `freed X`: the victim freed X (one of the survivor's blocks): the
//!   survivor's `free(X)` must fail.

use super::notes::Note;
use super::Outcome;
use sharena::{Offset, Recover, ShmAllocator};
use std::collections::BTreeMap;

/// What must become of each offset the victim named.
pub fn fates(notes: &[Note]) -> BTreeMap<u64, &str> {
    let mut m = BTreeMap::new();
    for n in notes {
        if matches!(n.tag.as_str(), "own" | "shared" | "either" | "freed") {
            m.insert(n.value, n.tag.as_str());
        }
    }
    m
}

/// Reclaims and checks (the first half of every verification).
pub fn reclaim_and_check(a: &(impl Recover + ?Sized), out: &mut Outcome) {
    match a.reclaim_dead() {
        Ok(_) => {}
        Err(e) => out.problem(format!("reclaim_dead: {e}")),
    }
    match a.reclaim_dead() {
        Ok(r) if r.blocks != 0 || r.processes != 0 => out.problem(format!(
            "a second reclaim_dead still found {} processes, {} blocks",
            r.processes, r.blocks
        )),
        Ok(_) => {}
        Err(e) => out.problem(format!("second reclaim_dead: {e}")),
    }
    check(a, out, "after reclaim");
}

/// Runs `check` and records its problems.
pub fn check(a: &(impl Recover + ?Sized), out: &mut Outcome, when: &str) {
    match a.check() {
        Ok(r) => {
            for p in r.problems {
                out.problem(format!("check {when}: {p}"));
            }
        }
        Err(e) => out.problem(format!("check {when}: {e}")),
    }
}

/// Frees what the survivor holds (`mine`) and what the victim left to it,
/// judging each free against the notes; then `used` must be back at
/// `baseline`.
pub fn settle(
    a: &(impl ShmAllocator + ?Sized),
    mine: &[Offset],
    notes: &[Note],
    baseline: u64,
    out: &mut Outcome,
) {
    let fates = fates(notes);
    for (&at, &fate) in &fates {
        if mine.iter().any(|m| m.get() == at) {
            continue;
        }
        let freed = a.free(Offset::new(at));
        match (fate, freed) {
            ("own" | "freed", Ok(())) => {
                out.problem(format!(
                    "{at}: the dead victim's block was still live after reclaim"
                ));
            }
            ("shared", Err(e)) => out.problem(format!("{at}: a shared block was lost: {e}")),
            _ => {}
        }
    }
    for m in mine {
        let fate = fates.get(&m.get()).copied();
        match (fate, a.free(*m)) {
            (Some("freed"), Ok(())) => {
                out.problem(format!("{}: freed by the victim, yet still live", m.get()));
            }
            (None | Some("own" | "shared"), Err(e)) => {
                out.problem(format!("{}: the survivor's block was lost: {e}", m.get()));
            }
            _ => {}
        }
    }
    let used = a.stats().used;
    out.lost_bytes += used.saturating_sub(baseline);
    if used < baseline {
        out.problem(format!("used {used} fell below the baseline {baseline}"));
    }
}

/// Allocates and frees again (sizes from `sizes`), then `whole` bytes at
/// once if given: the survivor is not stuck.
pub fn progress(
    a: &(impl ShmAllocator + ?Sized),
    sizes: &[u64],
    whole: Option<u64>,
    out: &mut Outcome,
) {
    let mut got = Vec::new();
    for &s in sizes {
        match a.alloc(s) {
            Ok(o) => got.push(o),
            Err(e) => {
                out.stuck(format!("alloc({s}) after the crash: {e}"));
                break;
            }
        }
    }
    for o in got {
        if let Err(e) = a.free(o) {
            out.problem(format!("free after the crash: {e}"));
        }
    }
    if let Some(n) = whole {
        match a.alloc(n) {
            Ok(o) => {
                let _ = a.free(o);
            }
            Err(e) => out.stuck(format!("the whole pool ({n} B) is not one allocation: {e}")),
        }
    }
}
