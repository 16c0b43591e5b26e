//! The survivor's verification of a handle-heap run: reclaim and check,
//! every block that must live reads its bytes, the accounting, dead pins
//! gone (a compaction moves every block), nothing stuck (the whole data
//! area is one allocation again, and every table entry can be taken).
//!
//! Notes a victim writes, by handle (the last note for a handle wins):
//! - `own H`: the victim's, unshared: gone after the reclaim.
//! - `shared H`: the victim shared (or published) it: it lives.
//! - `either H`: a share was in flight: it lives (shared) or is gone.
//! - `theirs H`: a free of a survivor's block was in flight: either.
//! - `freed H`: the victim freed a survivor's block: gone.
//!
//! Every published name must name a live block (published blocks are
//! shared, so the dead never take them along); they count as shared.

use super::super::notes::Note;
use super::super::{engine, pool, Outcome};
use super::{is_live, pattern, published, Mine};
use sharena::{Handle, Handles, Named};
use std::collections::BTreeMap;

/// Reads `h` whole and compares it with its pattern.
fn reads_back(heap: &Handles, h: Handle, size: u64, what: &str, out: &mut Outcome) {
    match heap.read(h, size) {
        Ok(b) if b == pattern(h, size) => {}
        Ok(_) => out.problem(format!("{what} {h:?} reads back other bytes")),
        Err(e) => out.problem(format!("{what} {h:?} is lost: {e}")),
    }
}

/// What must live after the run: handle -> size.
fn survivors(
    heap: &Handles,
    mine: &[Mine],
    notes: &[Note],
    out: &mut Outcome,
) -> BTreeMap<u64, u64> {
    let mut fates: BTreeMap<u64, &str> = BTreeMap::new();
    for n in notes {
        fates.insert(n.value, n.tag.as_str());
    }
    let mut live = BTreeMap::new();
    for m in mine {
        match fates.get(&m.h.raw()).copied() {
            Some("freed") => {
                if is_live(heap, m.h) {
                    out.problem(format!("{:?}: freed by the victim, yet live", m.h));
                }
            }
            Some("theirs") if !is_live(heap, m.h) => {}
            _ => {
                reads_back(heap, m.h, m.size, "the survivor's block", out);
                live.insert(m.h.raw(), m.size);
            }
        }
    }
    for (&raw, &fate) in &fates {
        let h = Handle::from_raw(raw);
        if mine.iter().any(|m| m.h == h) {
            continue;
        }
        match (fate, heap.size_of(h)) {
            ("own", Ok(_)) => {
                out.problem(format!(
                    "{h:?}: the dead victim's block was still live after reclaim"
                ));
                live.insert(raw, 0);
            }
            ("shared", Err(e)) => out.problem(format!("{h:?}: a shared block was lost: {e}")),
            ("shared" | "either", Ok(size)) => {
                reads_back(heap, h, size, "a shared block", out);
                live.insert(raw, size);
            }
            _ => {}
        }
    }
    match published(heap) {
        Ok(names) => {
            for (name, h) in names {
                match heap.size_of(h) {
                    Ok(size) => {
                        reads_back(heap, h, size, "a published block", out);
                        live.insert(h.raw(), size);
                    }
                    Err(e) => out.problem(format!("{name:?} names a dead block: {e}")),
                }
            }
        }
        Err(e) => out.problem(format!("the directory: {e}")),
    }
    live
}

/// Frees everything that lives and unpublishes every name.
fn free_all(heap: &Handles, live: &BTreeMap<u64, u64>, out: &mut Outcome) {
    for (name, _) in published(heap).unwrap_or_default() {
        if let Err(e) = heap.unpublish(&name) {
            out.problem(format!("unpublish {name:?}: {e}"));
        }
    }
    for &raw in live.keys() {
        if let Err(e) = heap.free(Handle::from_raw(raw)) {
            out.problem(format!("free {:?}: {e}", Handle::from_raw(raw)));
        }
    }
}

/// The whole data area is one allocation, and every entry can be taken.
fn progress(heap: &Handles, out: &mut Outcome) {
    match heap.compact() {
        Ok(r) if r.complete => {}
        Ok(r) => out.stuck(format!("a compaction of the empty heap did not run: {r:?}")),
        Err(e) => out.stuck(format!("compact: {e}")),
    }
    let whole = heap.stats().capacity;
    match heap.alloc(whole) {
        Ok(h) => {
            if let Err(e) = heap.free(h) {
                out.problem(format!("free of the whole area: {e}"));
            }
        }
        Err(e) => out.stuck(format!(
            "the whole data area ({whole} B) is not one allocation: {e}"
        )),
    }
    // The freed whole is a hole below the cursor until compacted.
    if let Err(e) = heap.compact() {
        out.stuck(format!("compact: {e}"));
    }
    let mut got = Vec::new();
    for _ in 0..heap.handle_capacity() {
        match heap.alloc(8) {
            Ok(h) => got.push(h),
            Err(e) => {
                out.stuck(format!(
                    "only {} of {} entries could be taken: {e}",
                    got.len(),
                    heap.handle_capacity()
                ));
                break;
            }
        }
    }
    for h in got {
        if let Err(e) = heap.free(h) {
            out.problem(format!("free after the crash: {e}"));
        }
    }
}

/// The survivor's side of one run.
pub(super) fn verify(heap: &Handles, mine: &[Mine], notes: &[Note]) -> Outcome {
    engine::guarded(|out| {
        pool::reclaim_and_check(&**heap, out);
        let live = survivors(heap, mine, notes, out);
        let expected: u64 = live.values().map(|s| s.next_multiple_of(8)).sum();
        let stats = heap.stats();
        out.lost_bytes += stats.used.saturating_sub(expected);
        if stats.used < expected {
            out.problem(format!(
                "used {} is below what lives, {expected}",
                stats.used
            ));
        }
        if stats.allocations != live.len() as u64 {
            out.problem(format!(
                "{} handles live, {} expected",
                stats.allocations,
                live.len()
            ));
        }
        // No pin of the dead is left: every block moves down.
        match heap.compact() {
            Ok(r) if r.pinned != 0 || !r.complete => {
                out.problem(format!("a dead process's pin is left: {r:?}"));
            }
            Ok(_) => {}
            Err(e) => out.stuck(format!("compact: {e}")),
        }
        for (&raw, &size) in &live {
            reads_back(
                heap,
                Handle::from_raw(raw),
                size,
                "after compaction, block",
                out,
            );
        }
        free_all(heap, &live, out);
        let stats = heap.stats();
        if stats.used != 0 || stats.allocations != 0 {
            out.problem(format!("after freeing everything: {stats:?}"));
            out.lost_bytes += stats.used;
        }
        pool::check(&**heap, out, "after the survivor freed everything");
        progress(heap, out);
    })
}
