//! The end of an attachment: one pass that takes back everything a set of
//! cache entries holds, run by `Drop` for the entry of the `Slab` that is
//! going away and by `reclaim_dead` for the entries it adopted from dead
//! attachments. One code path, so a clean exit and a death free the same
//! slots (the ownership rule of the crate docs).
//!
//! What an entry `o` can hold, and so what the pass takes (each with one
//! CAS on the slot's word, from the word it read, into the custody of the
//! sweeper's own entry: CACHED with the sweeper's id, generation bumped;
//! then pushed in chains):
//! - CACHED(o): its cache (whose index array is in the holder's process,
//!   so the pass goes by the words alone), and slots caught on the way in
//!   or out of it;
//! - unshared ALLOCATED(o): its live slots (shared ones are never taken);
//! - FREE(o) off the stack: a push of `o` cut short before its head CAS;
//! - a FREE slot off the stack whose word is exactly the one an `o` pop
//!   record holds: a pop of `o` cut short between its head CAS and its
//!   stamp;
//! - UNUSED slots below the never-used counter (taken from the counter,
//!   never stamped), when a dead entry is among those swept.
//!
//! The last three can only be left by a death, so `Drop` (which sweeps
//! only its own, live, entry, unless it still holds entries a reclaim of
//! it adopted and could not finish) neither walks the stack nor looks at
//! UNUSED slots. FREE leftovers need a walk of the stack (to tell them
//! from slots on it), and only a death inside a push or a pop leaves them:
//! every push and pop of an entry is flagged in it for its whole window,
//! so a pass walks only when a swept entry's flag or pop record is set.
//!
//! A third caller is `attach` when every entry is taken: it adopts a dead
//! one and sweeps it for itself before using it, so that dead attachments
//! can never lock new ones out.

use crate::layout::PopRecord;
use crate::reclaim::{depth_since, walk_stack, Bits, Pass};
use crate::word::{SlotState, SlotWord};
use crate::Slab;
use shm_layout::sync::Ordering;
use shm_layout::SegmentView;

/// Stack walks a pass tries before it leaves FREE slots for a later pass
/// (each walk is bounded; see `walk_stack`).
const WALKS: usize = 4;

/// What a pass did.
#[derive(Debug, Default)]
pub(crate) struct Swept {
    /// Slots taken back.
    pub blocks: u64,
    /// Entries kept (the stack walk did not finish, so FREE slots they may
    /// have left off the stack are still to be found): a later pass of
    /// this handle, or a reclaim after its process ends, finishes them.
    pub unfinished: u64,
    /// Whether every FREE slot was judged: no swept entry died inside a
    /// push or a pop, or a stack walk finished.
    pub walked: bool,
}

/// What a pass does with the sweeper's own entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Own {
    /// Leaves it alone (`reclaim_dead`: it is only the custody).
    Skip,
    /// Sweeps and releases it (`Drop`).
    Leave,
    /// Sweeps it and keeps it (`attach`, which adopted it from a dead
    /// holder because every entry was taken; it sweeps again until a walk
    /// finishes).
    Adopted,
}

/// A recorded pop: `(slot, FREE word, head tag)`.
fn recorded(r: &PopRecord, slots: u32) -> Option<(u32, u64, u32)> {
    // Relaxed: written by the entry's (dead, or this very) holder, whose
    // stores are ordered before our adoption's Acquire (or in program
    // order).
    let word = r.word.load(Ordering::Relaxed);
    let at = r.index.load(Ordering::Relaxed);
    let (index, tag) = (at as u32, (at >> 32) as u32);
    (word != 0 && index < slots).then_some((index, word, tag))
}

impl<S: AsRef<SegmentView>> Slab<S> {
    /// `Drop`'s part: sweeps this handle's own entry and every entry it
    /// still holds from an unfinished reclaim, and releases them.
    pub(crate) fn leave(&self) {
        let me = self.me;
        let held: Vec<u32> = (0..self.geo.caches as u32)
            .filter(|&id| id != self.cache_id && self.cache_head(id).owner.holder() == Some(me))
            .collect();
        self.sweep(&held, Own::Leave);
    }

    /// Takes back what `adopted` (entries this handle holds, adopted from
    /// dead attachments) and, as `own` says, this handle's entry hold; then
    /// releases them (an adopted entry only once a stack walk finished; the
    /// own entry as `own` says).
    ///
    /// The caller holds every entry swept, so no live process writes their
    /// heads or stamps their ids meanwhile; the slots are another matter
    /// (live pops, frees and recoveries race for them), so every take is a
    /// CAS on the slot word. O(slots ever used), plus one walk of the stack
    /// when a dead entry among those swept died inside a push or a pop.
    pub(crate) fn sweep(&self, adopted: &[u32], own: Own) -> Swept {
        let base = self.base();
        let shared = self.shared_at(base);
        let n = shared.len();
        let mut mine = vec![false; self.geo.caches as usize + 1];
        let mut pops = Vec::new();
        let swept = adopted
            .iter()
            .copied()
            .chain((own != Own::Skip).then_some(self.cache_id));
        // FREE leftovers and untaken counter slots are left only by deaths.
        let dead = !adopted.is_empty() || own == Own::Adopted;
        // A FREE slot can be left off the stack only by a death inside a
        // push or a pop, and every push and pop of an entry is flagged in
        // it (`pushing`, `others_pushing`, the pop records) for its whole
        // window. Without such a flag the stack need not be walked: no FREE
        // slot is a leftover.
        // How deep the walk must go: the tags those flags and records
        // carry bound the depth of what they name (`depth_since`), except
        // for `others_pushing`, a count (then to the end).
        let mut since: Vec<u32> = Vec::new();
        let mut to_the_end = false;
        for id in swept.clone() {
            mine[id as usize + 1] = true;
            let head = self.cache_head(id);
            for r in [&head.pending, &head.others] {
                if let Some((index, word, tag)) = recorded(r, n) {
                    pops.push((index, word));
                    since.push(tag);
                }
            }
            // Relaxed: written by the dead holder (see `recorded`).
            let pushing = head.pushing.load(Ordering::Relaxed);
            if pushing != 0 {
                since.push((pushing >> 32) as u32);
            }
            to_the_end |= head.others_pushing.load(Ordering::Relaxed) != 0;
            // The published count is void from here on: the cache's slots
            // are CACHED with this id, and the pass takes them by their
            // words. (Relaxed: a word of an entry we hold; the release
            // below publishes it.)
            head.count.store(0, Ordering::Relaxed);
        }
        let mid_op = dead && (to_the_end || !since.is_empty());
        let depth = |tag: u32| {
            if to_the_end {
                u64::MAX
            } else {
                since
                    .iter()
                    .map(|&t| depth_since(t, tag))
                    .max()
                    .unwrap_or(0)
            }
        };
        let on_stack = if mid_op {
            (0..WALKS).find_map(|_| walk_stack(&shared, &depth))
        } else {
            None
        };
        // FREE slots are judged only against a finished walk; UNUSED ones
        // only when someone died (a live taker stamps its own).
        let free_ok = |i: u32| on_stack.as_ref().is_some_and(|s: &Bits| !s.get(i));
        let walked = !mid_op || on_stack.is_some();
        let counter = shared.used_ever() as u32;
        let mut pass = Pass::new(shared, self.own_cache(base));
        for i in 0..counter {
            // Relaxed: the CAS in `take` decides; see there.
            let raw = shared.word(i).load(Ordering::Relaxed);
            let Some(w) = SlotWord::unpack(raw) else {
                continue; // corrupt: `check` reports it
            };
            let of_mine = mine.get(w.owner as usize).copied().unwrap_or(false);
            let take = match w.state {
                SlotState::Cached => of_mine,
                SlotState::Allocated => of_mine && !w.shared,
                SlotState::Free => free_ok(i) && (of_mine || pops.contains(&(i, raw))),
                SlotState::Unused => dead,
            };
            if take {
                pass.take(i, raw, w);
            }
        }
        pass.push();
        let mut out = Swept {
            blocks: pass.blocks,
            unfinished: 0,
            walked,
        };
        for id in swept {
            let head = self.cache_head(id);
            let is_own = id == self.cache_id;
            // An entry that may have FREE slots off the stack stays held,
            // its records kept, until a walk finishes (a dead one's, or the
            // own entry when attach adopted it).
            if (!is_own || own == Own::Adopted) && !walked {
                out.unfinished += 1;
                continue;
            }
            // Relaxed: words of an entry we hold, published by the
            // release's Release.
            head.pending.word.store(0, Ordering::Relaxed);
            head.others.word.store(0, Ordering::Relaxed);
            head.pushing.store(0, Ordering::Relaxed);
            head.others_pushing.store(0, Ordering::Relaxed);
            if is_own && own == Own::Adopted {
                continue;
            }
            // SYNC POINT (entry release, Release, in `OwnerSlot::release`):
            // pairs with the Acquire of the next `claim` or `adopt_if`, so
            // the zeroed count and records are what the next holder sees.
            head.owner.release(self.me);
        }
        out
    }
}
