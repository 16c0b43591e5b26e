//! A per-attachment cache of free slots: a LIFO of slot indices in the
//! memory of the process that holds the cache's registry entry (claimed by
//! a [`Slab`](crate::Slab) with an [`OwnerSlot`](shm_layout::OwnerSlot)
//! claim of its owner word), touched by one thread of that `Slab` alone.
//! A cache hit writes one shared word: the slot's state word.
//!
//! Invariant kept at every instruction: every index in the local array
//! below the count names a slot whose word is CACHED with this entry's
//! owner id. Nothing of the array is in the segment, so a recovery (or the
//! `Drop` of the `Slab`) finds a cache's slots by their words alone: the
//! slots CACHED with the owner id of the entry it sweeps. See the crate's
//! `implementation` notes and `docs/ALLOCATORS.md` for every point where
//! an owner can die.

use crate::crash::{self, Point};
use crate::layout::CacheHead;
use crate::stack::{Fault, Shared};
use crate::word::{SlotState, SlotWord, KIND_MASK};
use shm_layout::sync::{AtomicU32, AtomicU64, Ordering};

/// Most slots moved by one refill or flush (a stack buffer bound).
pub const MAX_BATCH: usize = 256;

/// The process-local part of a cache: the count and the index array. Only
/// the thread that owns the cache touches it (atomics only so that a
/// `Slab` stays `Sync`; Relaxed loads and stores are plain moves).
#[derive(Debug)]
pub struct Local {
    /// Indices in the array (at most its length).
    pub count: AtomicU64,
    /// The indices; its length is the capacity.
    pub array: Box<[AtomicU32]>,
}

impl Local {
    /// An empty cache of `cap` slots.
    pub fn new(cap: u64) -> Self {
        Local {
            count: AtomicU64::new(0),
            array: (0..cap).map(|_| AtomicU32::new(0)).collect(),
        }
    }
}

/// A claimed cache entry.
#[derive(Clone, Copy, Debug)]
pub struct Cache<'a> {
    /// The entry's head line in the segment (pop record, push flags, the
    /// published count).
    pub head: &'a CacheHead,
    /// The count of the local array (process-local).
    pub count: &'a AtomicU64,
    /// The local index array (process-local; its length is the capacity).
    pub array: &'a [AtomicU32],
    /// The entry id + 1: the owner id stamped in slot words.
    pub owner: u16,
    /// The entry id (for fault reports).
    pub id: u32,
}

impl<'a> Cache<'a> {
    /// The cache of entry `head` (id `id`) over the local part `local`.
    pub fn new(head: &'a CacheHead, local: &'a Local, id: u32) -> Self {
        Cache {
            head,
            count: &local.count,
            array: &local.array,
            owner: (id + 1) as u16,
            id,
        }
    }
}

impl Cache<'_> {
    /// The capacity.
    #[inline(always)]
    pub fn cap(&self) -> u64 {
        self.array.len() as u64
    }

    /// The count (process-local, kept at most the capacity by this code).
    #[inline(always)]
    fn count(&self) -> u64 {
        // Relaxed: process-local, one thread.
        self.count.load(Ordering::Relaxed).min(self.cap())
    }

    /// Publishes the count into the entry (a hint for `OutOfMemory`'s
    /// `available`; nothing reads it to find a slot). Refills and flushes
    /// only, so that a hit writes nothing but the slot word.
    #[inline]
    fn publish(&self, c: u64) {
        // Relaxed: a statistic; readers take a snapshot.
        self.head.count.store(c, Ordering::Relaxed);
    }

    /// Takes a cached slot and makes it ALLOCATED with `slack` (the slot's
    /// bytes past the size asked for). `None`: the cache is empty.
    ///
    /// Relaxed throughout: only this process's owning thread touches the
    /// local array and CACHED slot words of its id (program order), and
    /// slots came in either through its own frees or through
    /// `Shared::pop`'s Acquire.
    #[inline(always)]
    pub fn pop(&self, shared: &Shared<'_>, slack: u32) -> Result<Option<u32>, Fault> {
        let c = self.count();
        if c == 0 {
            return Ok(None);
        }
        let index = self.array[(c - 1) as usize].load(Ordering::Relaxed);
        // Every index entered the array checked (`Slab::index_of`, or a
        // pop or take of `Shared`), but the slot word is the segment's.
        let Some(cell) = shared.slots.get(index as usize) else {
            return Err(Fault::CacheIndex(self.id, u64::from(index)));
        };
        let raw = cell.load(Ordering::Relaxed);
        if raw & KIND_MASK != SlotWord::cached(self.owner, 0).pack() {
            return Err(Fault::Slot(index, "in a cache but not CACHED by it"));
        }
        // Count first: the array never names a slot that is not CACHED.
        self.count.store(c - 1, Ordering::Relaxed);
        cell.store(SlotWord::allocate_cached(raw, slack), Ordering::Relaxed);
        Ok(Some(index))
    }

    /// Adds a slot the caller made CACHED with this owner id; flushes half
    /// the cache to the shared stack first if it is full.
    #[inline(always)]
    pub fn push(&self, shared: &Shared<'_>, index: u32) -> Result<(), Fault> {
        let mut c = self.count();
        if c == self.cap() {
            c = self.flush(shared, self.cap() / 2)?;
        }
        self.array[c as usize].store(index, Ordering::Relaxed);
        self.count.store(c + 1, Ordering::Relaxed);
        Ok(())
    }

    /// Moves slots from the top of the cache to the shared stack until
    /// `keep` remain (in batches of at most [`MAX_BATCH`], one CAS each).
    /// Returns the new count.
    #[cold]
    #[inline(never)]
    pub fn flush(&self, shared: &Shared<'_>, keep: u64) -> Result<u64, Fault> {
        let mut c = self.count();
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
            self.count.store(c, Ordering::Relaxed);
            shared.push_chain(
                &chain[..n],
                self.owner,
                |k| gens[k],
                Some(&self.head.pushing),
            );
        }
        self.publish(c);
        Ok(c)
    }

    /// Refills an empty cache with up to `batch` slots: from the shared
    /// stack first, then from the never-used counter. Returns how many.
    #[cold]
    #[inline(never)]
    pub fn refill(&self, shared: &Shared<'_>, batch: u64) -> Result<u64, Fault> {
        let mut c = self.count();
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
            self.count.store(c, Ordering::Relaxed);
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
                self.count.store(c, Ordering::Relaxed);
            }
        }
        self.publish(c);
        crash::point(Point::Refilled);
        Ok(c)
    }
}
