//! Crash recovery and self-checks for [`Slab`] (`shm_layout::Recover`).
//!
//! `reclaim_dead` adopts every cache entry whose owner is gone (one CAS on
//! its owner word, so two reclaimers never both work on one entry, and a
//! reclaimer that dies is itself reclaimed later), then makes one pass over
//! the slot words and returns to the shared stack, each with a CAS on the
//! slot word (so nothing a live process touches meanwhile is taken twice):
//! - CACHED slots of an adopted entry (its cache, listed or not);
//! - unshared ALLOCATED slots of an adopted entry (its live blocks);
//! - FREE slots that are not on the stack and were pushed by an adopted
//!   entry (a flush cut short before its head CAS) or are the slot its
//!   refill was popping (recorded in the entry before the pop);
//! - UNUSED slots below the never-used counter (taken, never stamped).
//!
//! Then it empties and releases the entries and frees the process-table
//! entries of dead processes. `docs/ALLOCATORS.md` walks through every
//! point where a process can die and why each leaves one of these.

use crate::cache::{release_head, Cache};
use crate::layout::CacheHead;
use crate::reclaim::{walk_stack, Bits, Pass};
use crate::slab::next_owner_word;
use crate::stack::Shared;
use crate::word::{Head, SlotState, SlotWord, NIL};
use crate::Slab;
use shm_layout::sync::Ordering;
use shm_layout::{
    finish_reclaim, CheckReport, Error, Offset, ProcId, ProcTable, ReclaimReport, Recover, Result,
    Run, RunKind, SegmentView,
};
use std::time::Instant;

/// The identity an entry's owner word and start record (liveness reads
/// `/proc`; a start of 0 matches any start time of the pid).
fn owner_id(head: &CacheHead) -> Option<(u64, ProcId)> {
    // SYNC POINT (recovery read, Acquire): pairs with the Release of
    // `release_head` (through the claim CAS's release sequence) and of an
    // adoption, so `owner_start` read next is at least the 0 stored before
    // the word changed hands, never an older owner's start.
    let word = head.owner.load(Ordering::Acquire);
    if word == 0 {
        return None;
    }
    // Relaxed: ordered after the Acquire above (see there).
    let start = head.owner_start.load(Ordering::Relaxed);
    Some((word, ProcId::new(word as u32, start)))
}

/// Marks every unshared ALLOCATED slot of `owner` shared: a clean detach
/// hands its live slots to the segment. Bounded by the slot count.
pub(crate) fn share_all(shared: &Shared<'_>, owner: u16) {
    for cell in shared.slots {
        // Relaxed (load and CAS): the CAS decides the word against a racing
        // free (which then wins or finds it shared; either is fine); it
        // publishes nothing.
        let raw = cell.load(Ordering::Relaxed);
        match SlotWord::unpack(raw) {
            Some(w) if w.state == SlotState::Allocated && w.owner == owner && !w.shared => {
                let to = SlotWord { shared: true, ..w };
                let _ = cell.compare_exchange(raw, to.pack(), Ordering::Relaxed, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

/// A dead entry this reclaim adopted.
struct Adopted {
    id: u32,
    /// The dead owner's word and start (to give the entry back to them if
    /// the stack walk fails, so a later reclaim retries).
    dead_word: u64,
    dead_start: u64,
    mine: u64,
}

impl<S: AsRef<SegmentView>> Slab<S> {
    /// Takes entry `id` from its dead owner: zero the start, CAS the owner
    /// word to a fresh word of ours, record our start. `None` if the owner
    /// is alive or another reclaimer got there first.
    fn adopt(&self, id: u32, me: ProcId) -> Option<(Adopted, ProcId)> {
        let head = self.cache_head(id);
        let (dead_word, dead) = owner_id(head)?;
        if dead.is_alive() {
            return None;
        }
        let start = dead.start_ticks();
        // The start goes to 0 before the word changes hands (see
        // `Cache::try_claim`). Relaxed: ordered before the AcqRel CAS.
        // Failing means it is 0 already or the entry changed hands (then
        // the CAS below fails too).
        let _ = head
            .owner_start
            .compare_exchange(start, 0, Ordering::Relaxed, Ordering::Relaxed);
        let mine = next_owner_word(self.shared().ctl);
        // SYNC POINT (adopt, AcqRel): Acquire pairs with the dead owner's
        // stores (as far as any can: it is gone) and an earlier release;
        // Release publishes the zeroed start to the next recovery's Acquire.
        head.owner
            .compare_exchange(dead_word, mine, Ordering::AcqRel, Ordering::Relaxed)
            .ok()?;
        // Relaxed: after the CAS in program order (see `Cache::try_claim`).
        head.owner_start.store(me.start_ticks(), Ordering::Relaxed);
        Some((
            Adopted {
                id,
                dead_word,
                dead_start: start,
                mine,
            },
            dead,
        ))
    }

    /// Gives an adopted entry back to its dead owner (a later reclaim will
    /// finish it).
    fn give_back_to_dead(&self, a: &Adopted) {
        let head = self.cache_head(a.id);
        // Relaxed start stores: see `Cache::try_claim`; the CAS is AcqRel
        // as in `adopt`.
        head.owner_start.store(0, Ordering::Relaxed);
        if head
            .owner
            .compare_exchange(a.mine, a.dead_word, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            head.owner_start.store(a.dead_start, Ordering::Relaxed);
        }
    }
}

impl<S: AsRef<SegmentView>> Recover for Slab<S> {
    /// Returns what dead processes held: their caches, their unshared live
    /// slots, slots caught between the stack and a cache, slots taken from
    /// the never-used counter and never stamped; releases their cache
    /// entries and process-table entries. Lock-free: live processes go on
    /// meanwhile, and every slot moves with a CAS on its word. O(slots).
    ///
    /// Not recovered (documented in `docs/ALLOCATORS.md`): slots allocated
    /// through a `Slab` that found no free cache entry (owner 0), and the
    /// one slot such a `Slab`, or a thread other than its cache's owner,
    /// had popped when it died, if another live entry pushed it.
    fn reclaim_dead(&self) -> Result<ReclaimReport> {
        let started = Instant::now();
        let view = self.view();
        let me = ProcId::current();
        let caches = self.geo.caches as u32;
        let mut adopted = Vec::new();
        let mut dead_ids = Vec::new();
        for id in 0..caches {
            if let Some((a, dead)) = self.adopt(id, me) {
                adopted.push(a);
                dead_ids.push(dead);
            }
        }
        let table_dead = !ProcTable::of(view)?.dead()?.is_empty();
        if adopted.is_empty() && !table_dead {
            return finish_reclaim(view, started, &dead_ids, 0, 0);
        }
        let base = self.base();
        let shared = self.shared_at(base);
        // The entry that holds the slots this pass takes until they are on
        // the stack (so a reclaimer killed mid-pass is reclaimed in turn):
        // the first adopted one, else a free entry claimed for the pass.
        let (custody_id, temporary) = if let Some(a) = adopted.first() {
            (Some(a.id), false)
        } else {
            let claimed = (0..caches).find(|&id| {
                let word = next_owner_word(shared.ctl);
                Cache::try_claim(self.cache_head(id), word, me.start_ticks())
            });
            (claimed, true)
        };
        let Some(custody_id) = custody_id else {
            // No entry to work from: nothing can be taken safely now.
            return finish_reclaim(view, started, &dead_ids, 0, 0);
        };
        let on_stack = if adopted.is_empty() {
            None
        } else {
            walk_stack(&shared)
        };
        let n = shared.len();
        let mut is_adopted = vec![false; caches as usize + 1];
        let mut pending = Vec::new();
        for a in &adopted {
            is_adopted[a.id as usize + 1] = true;
            let head = self.cache_head(a.id);
            // Relaxed: the dead owner's last stores (its death orders them).
            let word = head.pending_word.load(Ordering::Relaxed);
            let index = head.pending_index.load(Ordering::Relaxed);
            if word != 0 && index < u64::from(n) {
                pending.push((index as u32, word));
            }
        }
        let counter = shared.used_ever();
        let mut pass = Pass::new(shared, self.cache_at(base, custody_id));
        for i in 0..n {
            // Relaxed: the CAS in `take` decides; see there.
            let raw = shared.word(i).load(Ordering::Relaxed);
            let Some(w) = SlotWord::unpack(raw) else {
                continue; // corrupt: `check` reports it
            };
            let mine = is_adopted.get(w.owner as usize).copied().unwrap_or(false);
            let take = match w.state {
                SlotState::Cached => mine,
                SlotState::Allocated => mine && !w.shared,
                SlotState::Free => {
                    on_stack.as_ref().is_some_and(|s| !s.get(i))
                        && (mine || pending.contains(&(i, raw)))
                }
                SlotState::Unused => u64::from(i) < counter,
            };
            if take {
                pass.take(i, raw, w);
            }
        }
        pass.push();
        let blocks = pass.blocks;
        for a in &adopted {
            let head = self.cache_head(a.id);
            // Relaxed: owner-written words of an entry we hold; the release
            // below publishes them.
            head.count.store(0, Ordering::Relaxed);
            if on_stack.is_some() {
                head.pending_word.store(0, Ordering::Relaxed);
                release_head(head);
            } else {
                // The stack walk did not finish: FREE slots this entry may
                // have left off the stack are still to be found. Give it
                // back to its dead owner for a later reclaim.
                self.give_back_to_dead(a);
            }
        }
        if temporary {
            release_head(self.cache_head(custody_id));
        }
        let bytes = blocks * self.geo.slot_size;
        finish_reclaim(view, started, &dead_ids, blocks, bytes)
    }

    /// Checks the free stack (in bounds, acyclic, every node FREE), the
    /// never-used counter, every cache entry (count, indices, each naming
    /// a slot CACHED by it, no slot in two caches or in a cache and on the
    /// stack) and every slot word. The per-entry operation counters are not
    /// compared with the slot words: a death between a slot-word store and
    /// its counter store leaves them off by one for good, so live counts
    /// come from the slot words (`stats`).
    ///
    /// What a process killed anywhere leaves is not a problem: CACHED slots
    /// of a claimed entry missing from its array, FREE slots off the stack
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
        // The caches.
        let mut in_cache = Bits::new(n_slots as usize);
        let mut claimed = vec![false; self.geo.caches as usize + 1];
        let mut pending = Vec::new();
        let base = self.base();
        for id in 0..self.geo.caches as u32 {
            let cache = self.cache_at(base, id);
            let h = cache.head;
            // Relaxed owner-written words: a snapshot.
            let count = h.count.load(Ordering::Relaxed);
            let at = self.entry_off(id);
            let owner = owner_id(h);
            if owner.is_some() {
                claimed[id as usize + 1] = true;
                let word = h.pending_word.load(Ordering::Relaxed);
                if word != 0 {
                    pending.push((h.pending_index.load(Ordering::Relaxed), word));
                }
            } else if count != 0 {
                report.problem(
                    at + 8,
                    format!("cache {id} is free but holds count {count}"),
                );
                continue;
            }
            if count > cache.cap() {
                report.problem(
                    at + 8,
                    format!("cache {id} holds count {count}, past its capacity"),
                );
                continue;
            }
            for k in 0..count as usize {
                let idx = cache.array[k].load(Ordering::Relaxed);
                let at = at + crate::layout::CACHE_HEAD_LEN + 4 * k as u64;
                if idx >= n_slots {
                    report.problem(at, format!("cache {id} names slot {idx}, past the last"));
                    continue;
                }
                let w = SlotWord::unpack(shared.word(idx).load(Ordering::Relaxed));
                if !w.is_some_and(|w| w.state == SlotState::Cached && w.owner == cache.owner) {
                    report.problem(
                        at,
                        format!("cache {id} names slot {idx}, which it has not CACHED"),
                    );
                }
                if in_cache.set(idx) {
                    report.problem(at, format!("slot {idx} is in two caches"));
                }
                if on_stack.get(idx) {
                    report.problem(
                        at,
                        format!("slot {idx} is both in cache {id} and on the free stack"),
                    );
                }
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
                    if !in_cache.get(i) && !of_claimed {
                        report.problem(
                            slot_at(i),
                            format!("slot {i} is CACHED by a released cache entry"),
                        );
                    }
                }
                SlotState::Allocated => allocated += 1,
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
