//! A per-attachment cache of free slots: one entry of the registry in the
//! state region, claimed by a [`Slab`](crate::Slab) (an
//! [`OwnerSlot`](shm_layout::OwnerSlot) claim of its owner word) and then
//! touched by one thread of that `Slab` alone, so its operations are plain
//! loads and stores on an uncontended line.
//!
//! Invariant kept at every instruction, so that a process killed anywhere
//! leaves a recoverable entry: every index in `array[0..count]` names a
//! slot whose word is CACHED with this entry's owner id. The converse may
//! fail briefly (a slot already CACHED but not yet in the array, or just
//! taken out of it), so recovery scans the slot words for CACHED slots of
//! a dead owner rather than trusting the array; see the crate's
//! `implementation` notes and `docs/ALLOCATORS.md` for every point where
//! an owner can die.

use crate::crash::{self, Point};
use crate::layout::CacheHead;
use crate::stack::{Fault, Shared};
use crate::word::{SlotState, SlotWord};
use shm_layout::sync::{AtomicU32, Ordering};

/// Most slots moved by one refill or flush (a stack buffer bound).
pub const MAX_BATCH: usize = 256;

/// A claimed cache entry.
#[derive(Clone, Copy, Debug)]
pub struct Cache<'a> {
    /// The entry's head line.
    pub head: &'a CacheHead,
    /// The entry's index array (its length is the capacity).
    pub array: &'a [AtomicU32],
    /// The entry id + 1: the owner id stamped in slot words.
    pub owner: u16,
    /// The entry id (for fault reports).
    pub id: u32,
}

impl Cache<'_> {
    /// The capacity.
    #[inline(always)]
    pub fn cap(&self) -> u64 {
        self.array.len() as u64
    }

    /// The count, checked against the capacity.
    #[inline(always)]
    fn count(&self) -> Result<u64, Fault> {
        let c = self.head.count.load(Ordering::Relaxed);
        if c > self.cap() {
            return Err(Fault::CacheCount(self.id, c));
        }
        Ok(c)
    }

    /// Takes a cached slot and marks it ALLOCATED. `None`: the cache is
    /// empty.
    ///
    /// Relaxed throughout: only this process's owning thread touches the
    /// entry and CACHED slot words of its id (program order), and slots came
    /// in either through its own frees or through `Shared::pop`'s Acquire.
    #[inline(always)]
    pub fn pop(&self, shared: &Shared<'_>) -> Result<Option<u32>, Fault> {
        let c = self.count()?;
        if c == 0 {
            return Ok(None);
        }
        let index = self.array[(c - 1) as usize].load(Ordering::Relaxed);
        if index >= shared.len() {
            return Err(Fault::CacheIndex(self.id, u64::from(index)));
        }
        let cell = shared.word(index);
        let w = SlotWord::unpack(cell.load(Ordering::Relaxed));
        let Some(w) = w.filter(|w| w.state == SlotState::Cached && w.owner == self.owner) else {
            return Err(Fault::Slot(index, "in a cache but not CACHED by it"));
        };
        // Count first: the array never names a slot that is not CACHED.
        self.head.count.store(c - 1, Ordering::Relaxed);
        cell.store(
            SlotWord::allocated(self.owner, w.generation).pack(),
            Ordering::Relaxed,
        );
        Ok(Some(index))
    }

    /// Adds a slot the caller made CACHED with this owner id; flushes half
    /// the cache to the shared stack first if it is full.
    #[inline(always)]
    pub fn push(&self, shared: &Shared<'_>, index: u32) -> Result<(), Fault> {
        let mut c = self.count()?;
        if c == self.cap() {
            c = self.flush(shared, self.cap() / 2)?;
        }
        self.array[c as usize].store(index, Ordering::Relaxed);
        self.head.count.store(c + 1, Ordering::Relaxed);
        Ok(())
    }

    /// Moves slots from the top of the cache to the shared stack until
    /// `keep` remain (in batches of at most [`MAX_BATCH`], one CAS each).
    /// Returns the new count.
    #[cold]
    #[inline(never)]
    pub fn flush(&self, shared: &Shared<'_>, keep: u64) -> Result<u64, Fault> {
        let mut c = self.count()?;
        let mut chain = [0u32; MAX_BATCH];
        let mut gens = [0u8; MAX_BATCH];
        while c > keep {
            let n = ((c - keep) as usize).min(MAX_BATCH);
            for k in 0..n {
                let index = self.array[c as usize - 1 - k].load(Ordering::Relaxed);
                if index >= shared.len() {
                    return Err(Fault::CacheIndex(self.id, u64::from(index)));
                }
                let w = SlotWord::unpack(shared.word(index).load(Ordering::Relaxed));
                match w {
                    Some(w) if w.state == SlotState::Cached && w.owner == self.owner => {
                        chain[k] = index;
                        gens[k] = w.generation;
                    }
                    _ => return Err(Fault::Slot(index, "in a cache but not CACHED by it")),
                }
            }
            // Count first (see the module invariant), then link and push,
            // flagged so that a recovery knows a death here may have left
            // FREE slots off the stack.
            c -= n as u64;
            self.head.count.store(c, Ordering::Relaxed);
            shared.push_chain(
                &chain[..n],
                self.owner,
                |k| gens[k],
                Some(&self.head.pushing),
            );
        }
        Ok(c)
    }

    /// Refills an empty cache with up to `batch` slots: from the shared
    /// stack first, then from the never-used counter. Returns how many.
    #[cold]
    #[inline(never)]
    pub fn refill(&self, shared: &Shared<'_>, batch: u64) -> Result<u64, Fault> {
        let mut c = self.count()?;
        let want = batch.min(self.cap() - c);
        let target = c + want;
        let owner = self.owner;
        while c < target {
            // The stamp bumps the generation, so a FREE word a recovery read
            // before this pop never comes back unchanged (see `pop`).
            let to = |w: SlotWord| SlotWord::cached(owner, w.generation.wrapping_add(1));
            let Some(index) = shared.pop(to, Some(&self.head.pending))? else {
                break;
            };
            self.array[c as usize].store(index, Ordering::Relaxed);
            c += 1;
            self.head.count.store(c, Ordering::Relaxed);
        }
        if c < target {
            let (first, n) = shared.take_unused((target - c) as u32)?;
            if n > 0 {
                crash::point(Point::Taken);
            }
            for index in first..first + n {
                // Taken slots are UNUSED below the counter until stamped;
                // recovery takes such slots itself (one CAS decides).
                if !shared.stamp_unused(index, SlotWord::cached(owner, 0)) {
                    continue;
                }
                self.array[c as usize].store(index, Ordering::Relaxed);
                c += 1;
                self.head.count.store(c, Ordering::Relaxed);
            }
        }
        crash::point(Point::Refilled);
        Ok(c)
    }
}
