//! Crash recovery and self-checks for [`Slab`] (`shm_layout::Recover`).
//!
//! `reclaim_dead` adopts every cache entry whose holder's process is gone
//! (`OwnerSlot::adopt_if_dead`, one CAS, so two reclaimers never both work
//! on one entry, and a reclaimer that dies is itself reclaimed later) and
//! runs the pass of `sweep.rs` over them: the same pass `Drop` runs for a
//! clean exit. Then it frees the process-table entries of dead processes.
//! `docs/ALLOCATORS.md` ("Slab: crash recovery") walks through every point
//! where a process can die and why each leaves something the pass takes.

use crate::reclaim::Bits;
use crate::word::{Head, SlotState, SlotWord, NIL};
use crate::Slab;
use shm_layout::sync::Ordering;
use shm_layout::{
    finish_reclaim, Adoption, CheckReport, Error, Liveness, Offset, OwnerId, ReclaimReport,
    Recover, Result, Run, RunKind, SegmentView,
};
use std::time::Instant;

impl<S: AsRef<SegmentView>> Recover for Slab<S> {
    /// Returns what dead attachments held (their caches, their unshared
    /// live slots, slots caught between the stack and a cache, slots taken
    /// from the never-used counter and never stamped) and releases their
    /// cache entries and process-table entries. Lock-free towards other
    /// processes: they go on meanwhile, and every slot moves with a CAS on
    /// its word. O(slots ever used) when someone died, O(cache entries)
    /// otherwise. [`Error::Forked`] in a fork child.
    ///
    /// Entries this handle adopted in an earlier call whose stack walk did
    /// not finish (endless churn) are finished here.
    fn reclaim_dead(&self) -> Result<ReclaimReport> {
        let started = Instant::now();
        self.not_forked()?;
        let view = self.view();
        // Process-local: two threads of this handle never sweep one entry.
        let _one = self
            .reclaiming
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut live = Liveness::new(self.me);
        let mut adopted = Vec::new();
        let mut dead: Vec<OwnerId> = Vec::new();
        for id in 0..self.geo.caches as u32 {
            if id == self.cache_id {
                continue;
            }
            // The adoption's orderings: `OwnerSlot::adopt_if` (its Acquire
            // pairs with the dead holder's last Release, so its count and
            // records are visible).
            match self.cache_head(id).owner.adopt_if_dead(self.me, &mut live) {
                Adoption::Adopted(holder) => {
                    adopted.push(id);
                    if !dead.contains(&holder) {
                        dead.push(holder);
                    }
                }
                Adoption::Alive(holder) if holder == self.me => adopted.push(id),
                _ => {}
            }
        }
        let blocks = if adopted.is_empty() {
            0
        } else {
            self.sweep(&adopted, crate::sweep::Own::Skip).blocks
        };
        finish_reclaim(view, started, &dead, blocks, blocks * self.geo.slot_size)
    }

    /// Checks the free stack (in bounds, acyclic, every node FREE), the
    /// never-used counter, every cache entry (its published count within
    /// the capacity, 0 when released), every owner word (an identity, or 0)
    /// and every slot word (a CACHED one names a claimed entry).
    /// An unshared live slot whose entry is released is a problem: nobody
    /// would ever free it (a clean `Drop` and a reclaim free such slots
    /// before they release the entry).
    ///
    /// What a process killed anywhere leaves is not a problem: CACHED slots
    /// of a claimed entry (its cache, wherever its holder was), FREE slots
    /// off the stack
    /// pushed or being popped by a claimed entry, UNUSED slots below the
    /// counter (`reclaim_dead` returns them all). Exact only while no
    /// process is mid-operation: a live operation can look like those.
    fn check(&self) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        let shared = self.shared();
        let n_slots = shared.len();
        let slots_at = self.state_off
            + crate::layout::Geometry::slots_offset(self.geo.caches, self.geo.cache_cap);
        let slot_at = |i: u32| slots_at + 8 * u64::from(i);
        // The stack.
        let mut on_stack = Bits::new(n_slots as usize);
        // Acquire: pairs with the pushes' Release CAS (their links).
        let head = Head::unpack(shared.ctl.head.0.load(Ordering::Acquire));
        let mut i = head.index;
        let mut stack_len = 0u64;
        while i != NIL {
            if i >= n_slots {
                report.problem(
                    self.state_off,
                    format!("the free stack reaches slot {i}, past the last"),
                );
                break;
            }
            if on_stack.set(i) {
                report.problem(
                    slot_at(i),
                    format!("the free stack has a cycle through slot {i}"),
                );
                break;
            }
            // Relaxed: see the head load.
            match SlotWord::unpack(shared.word(i).load(Ordering::Relaxed)) {
                Some(w) if w.state == SlotState::Free => i = w.next,
                _ => {
                    report.problem(
                        slot_at(i),
                        format!("slot {i} is on the free stack but not FREE"),
                    );
                    break;
                }
            }
            stack_len += 1;
        }
        let counter_before = shared.ctl.unused.0.load(Ordering::Relaxed);
        if counter_before > u64::from(n_slots) {
            report.problem(
                self.state_off + shm_layout::CACHE_LINE,
                format!("the never-used counter is {counter_before}, past {n_slots} slots"),
            );
        }
        // The caches: their indices are in their holders' processes, so
        // only the entries' own words can be checked here (a CACHED slot
        // names one entry by its word, so it is in one cache at most).
        let mut claimed = vec![false; self.geo.caches as usize + 1];
        let mut pending = Vec::new();
        for id in 0..self.geo.caches as u32 {
            let h = self.cache_head(id);
            // Relaxed owner-written words: a snapshot.
            let count = h.count.load(Ordering::Relaxed);
            let at = self.entry_off(id);
            let raw_owner = h.owner.raw();
            if raw_owner != 0 && OwnerId::from_raw(raw_owner).is_none() {
                report.problem(
                    at,
                    format!("cache {id}'s owner word {raw_owner:#x} names no process"),
                );
            }
            if raw_owner != 0 {
                claimed[id as usize + 1] = true;
                for r in [&h.pending, &h.others] {
                    let word = r.word.load(Ordering::Relaxed);
                    if word != 0 {
                        // The slot is the low half (the head's tag above).
                        let index = r.index.load(Ordering::Relaxed) & 0xFFFF_FFFF;
                        pending.push((index, word));
                    }
                }
            } else if count != 0 {
                report.problem(
                    at + 8,
                    format!("cache {id} is free but holds count {count}"),
                );
                continue;
            }
            if count > self.geo.cache_cap {
                report.problem(
                    at + 8,
                    format!("cache {id} holds count {count}, past its capacity"),
                );
            }
        }
        // The slots.
        let mut allocated = 0u64;
        let mut free = 0u64;
        for i in 0..n_slots {
            let raw = shared.word(i).load(Ordering::Relaxed);
            let Some(w) = SlotWord::unpack(raw) else {
                report.problem(
                    slot_at(i),
                    format!("slot {i}'s state word has reserved bits set"),
                );
                continue;
            };
            if u64::from(w.owner) > self.geo.caches {
                report.problem(
                    slot_at(i),
                    format!("slot {i} names owner {}, past the registry", w.owner),
                );
                continue;
            }
            let of_claimed = claimed[w.owner as usize];
            match w.state {
                SlotState::Unused => {}
                SlotState::Free => {
                    free += 1;
                    let attributable = of_claimed || pending.contains(&(u64::from(i), raw));
                    if !on_stack.get(i) && !attributable {
                        report.problem(
                            slot_at(i),
                            format!("slot {i} is FREE but not on the free stack"),
                        );
                    }
                }
                SlotState::Cached => {
                    if !of_claimed {
                        report.problem(
                            slot_at(i),
                            format!("slot {i} is CACHED by a released cache entry"),
                        );
                    }
                }
                SlotState::Allocated => {
                    allocated += 1;
                    if !w.shared && !of_claimed {
                        report.problem(
                            slot_at(i),
                            format!(
                                "slot {i} is live and unshared, but its cache entry ({}) is \
                                 released: nobody will free it",
                                i64::from(w.owner) - 1
                            ),
                        );
                    }
                }
            }
        }
        let counter_after = shared
            .ctl
            .unused
            .0
            .load(Ordering::Relaxed)
            .min(u64::from(n_slots));
        for i in counter_after as u32..n_slots {
            if shared.word(i).load(Ordering::Relaxed) != 0 {
                report.problem(
                    slot_at(i),
                    format!("slot {i} was never handed out but is not UNUSED"),
                );
                break;
            }
        }
        if stack_len > free {
            report.problem(
                self.state_off,
                "the free stack is longer than the FREE slots",
            );
        }
        report.blocks = u64::from(n_slots);
        report.used_bytes = allocated * self.geo.slot_size;
        Ok(report)
    }

    /// Marks the ALLOCATED slot at `offset` shared (bit 2 of its word):
    /// `reclaim_dead` never frees it. Anyone may still free it.
    fn share(&self, offset: Offset) -> Result<()> {
        let index = self.index_of(offset)?;
        let cell = self.shared().word(index);
        // Bounded: each failed CAS means another process changed the word
        // (a free, a reallocation) and the next round sees it.
        for _ in 0..64 {
            // Relaxed (load and CAS): the flag publishes nothing; the CAS
            // only keeps a racing free from being undone.
            let raw = cell.load(Ordering::Relaxed);
            let w = SlotWord::unpack(raw).ok_or_else(|| {
                self.corrupt(crate::stack::Fault::Slot(index, "reserved bits set"))
            })?;
            if w.state != SlotState::Allocated {
                return Err(Error::InvalidOffset {
                    offset: offset.get(),
                    reason: "the slot is not allocated",
                });
            }
            if w.shared {
                return Ok(());
            }
            let to = SlotWord { shared: true, ..w };
            if cell
                .compare_exchange(raw, to.pack(), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return Ok(());
            }
        }
        Err(Error::Corrupt {
            segment: self.view().name().to_string(),
            what: format!("slot {index}'s state word kept changing"),
            at: offset.get(),
        })
    }

    /// The slots in offset order as runs: UNUSED and FREE slots are
    /// `Free`, CACHED `Cached`, ALLOCATED `Used` or `Shared`, with the
    /// slot word's owner (0 for free slots). Slots past the never-used
    /// counter make one run without being read.
    fn runs(&self, limit: usize) -> Result<Vec<Run>> {
        let shared = self.shared();
        let n = shared.len();
        let ss = self.geo.slot_size;
        let counter = shared.used_ever() as u32;
        let mut out: Vec<Run> = Vec::new();
        let add = |out: &mut Vec<Run>, i: u32, count: u32, kind: RunKind, owner: u32| -> bool {
            let offset = self.offset_of(i).get();
            let len = u64::from(count) * ss;
            if let Some(last) = out.last_mut() {
                if last.kind == kind && last.owner == owner && last.offset + last.len == offset {
                    last.len += len;
                    return true;
                }
            }
            if out.len() == limit {
                return false;
            }
            out.push(Run {
                offset,
                len,
                kind,
                owner,
            });
            true
        };
        for i in 0..counter {
            let w = SlotWord::unpack(shared.word(i).load(Ordering::Relaxed))
                .ok_or_else(|| self.corrupt(crate::stack::Fault::Slot(i, "reserved bits set")))?;
            let (kind, owner) = match w.state {
                SlotState::Unused | SlotState::Free => (RunKind::Free, 0),
                SlotState::Cached => (RunKind::Cached, u32::from(w.owner)),
                SlotState::Allocated if w.shared => (RunKind::Shared, u32::from(w.owner)),
                SlotState::Allocated => (RunKind::Used, u32::from(w.owner)),
            };
            if !add(&mut out, i, 1, kind, owner) {
                return Ok(out);
            }
        }
        if counter < n {
            add(&mut out, counter, n - counter, RunKind::Free, 0);
        }
        Ok(out)
    }
}
