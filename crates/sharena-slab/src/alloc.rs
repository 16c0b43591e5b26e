//! The allocation paths of [`Slab`]: the cache-hit fast path, refills,
//! the path of threads that do not own the cache, and the
//! [`ShmAllocator`] surface.

use crate::cache::Cache;
use crate::stack::{Fault, Shared};
use crate::word::{SlotState, SlotWord};
use crate::Slab;
use shm_layout::sync::Ordering;
use shm_layout::{AllocStats, Error, Offset, Result, SegmentView, ShmAllocator};

impl<S: AsRef<SegmentView>> Slab<S> {
    /// The slot index of `offset`, or why it is not a slot start.
    #[inline(always)]
    pub(crate) fn index_of(&self, offset: Offset) -> Result<u32> {
        let off = offset.get();
        let rel = off.wrapping_sub(self.pool_off);
        if off < self.pool_off || rel >= self.pool_used {
            return Err(Error::InvalidOffset {
                offset: off,
                reason: "not inside this slab's slots",
            });
        }
        let (index, rem) = if self.shift != 0 {
            (rel >> self.shift, rel & (self.geo.slot_size - 1))
        } else {
            (rel / self.geo.slot_size, rel % self.geo.slot_size)
        };
        if rem != 0 {
            return Err(Error::InvalidOffset {
                offset: off,
                reason: "not the start of a slot",
            });
        }
        Ok(index as u32)
    }

    #[inline(always)]
    pub(crate) fn offset_of(&self, index: u32) -> Offset {
        Offset::new(self.pool_off + u64::from(index) * self.geo.slot_size)
    }

    /// One slot, through the cache when this thread owns it.
    #[inline(always)]
    fn alloc_index(&self) -> Result<u32> {
        self.not_forked()?;
        let base = self.base();
        if let Some(cache) = self.my_cache(base) {
            let shared = self.shared_at(base);
            return match cache.pop(&shared) {
                Ok(Some(i)) => Ok(i),
                Ok(None) => self.alloc_refill(&shared, &cache),
                Err(f) => Err(self.corrupt(f)),
            };
        }
        self.alloc_shared()
    }

    #[cold]
    #[inline(never)]
    fn alloc_refill(&self, shared: &Shared<'_>, cache: &Cache<'_>) -> Result<u32> {
        let got = cache
            .refill(shared, self.batch)
            .map_err(|f| self.corrupt(f))?;
        if got == 0 {
            return Err(self.out_of_memory());
        }
        match cache.pop(shared) {
            Ok(Some(i)) => Ok(i),
            Ok(None) => Err(self.out_of_memory()),
            Err(f) => Err(self.corrupt(f)),
        }
    }

    /// One slot for a thread that does not own the cache: a pop recorded
    /// in the entry's `others` record (one such thread at a time), else one
    /// from the never-used counter.
    #[cold]
    #[inline(never)]
    fn alloc_shared(&self) -> Result<u32> {
        let shared = self.shared();
        let head = self.cache_head(self.cache_id);
        // Process-local: a thread of this handle holds it for one pop, so
        // other processes never wait on it. A panic cannot happen inside,
        // but a poisoned lock is as good as a free one.
        let _turn = self
            .others
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match shared.alloc_one(self.owner(), Some(&head.others)) {
            Ok(Some(i)) => Ok(i),
            Ok(None) => Err(self.out_of_memory()),
            Err(f) => Err(self.corrupt(f)),
        }
    }

    /// `available` counts the slots no allocation of this thread could
    /// reach: those in caches (every entry's count, O(caches)) and those
    /// still never used. (The exact figure, `stats()`, scans every slot
    /// word; a full slab may return this error in a loop.)
    #[cold]
    fn out_of_memory(&self) -> Error {
        let cap = self.geo.cache_cap;
        let base = self.base();
        let cached: u64 = (0..self.geo.caches as u32)
            .map(|id| {
                // Relaxed: a snapshot of owner-written counts.
                self.cache_at(base, id)
                    .head
                    .count
                    .load(Ordering::Relaxed)
                    .min(cap)
            })
            .sum();
        let unused = self.geo.slot_count - self.shared_at(base).used_ever();
        Error::OutOfMemory {
            requested: self.geo.slot_size,
            available: cached.saturating_add(unused).min(self.geo.slot_count) * self.geo.slot_size,
        }
    }

    #[cold]
    fn free_error(&self, offset: Offset, index: u32, seen: Option<SlotWord>) -> Error {
        match seen {
            Some(_) => Error::DoubleFree {
                offset: offset.get(),
            },
            None => self.corrupt(Fault::Slot(index, "reserved bits set")),
        }
    }

    #[cold]
    #[inline(never)]
    fn free_shared(&self, shared: &Shared<'_>, index: u32, generation: u8) {
        // Counted, so that a recovery knows a death here may have left the
        // slot FREE off the stack. Relaxed: read only by a recovery after
        // this process died.
        let flag = &self.cache_head(self.cache_id).others_pushing;
        flag.fetch_add(1, Ordering::Relaxed);
        shared.push_chain(&[index], self.owner(), |_| generation, None);
        flag.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<S: AsRef<SegmentView>> ShmAllocator for Slab<S> {
    fn view(&self) -> &SegmentView {
        Slab::view(self)
    }

    /// Allocates one slot. `align` must be a power of two no larger than
    /// [`Slab::max_align`]; `size` from 1 to the slot size.
    #[inline]
    fn alloc_aligned(&self, size: u64, align: u64) -> Result<Offset> {
        if !align.is_power_of_two() || align > self.max_align {
            return Err(Error::InvalidAlignment {
                align,
                max: self.max_align,
            });
        }
        if size == 0 {
            return Err(Error::ZeroSize);
        }
        if size > self.geo.slot_size {
            return Err(Error::SizeTooLarge {
                size,
                max: self.geo.slot_size,
            });
        }
        let index = self.alloc_index()?;
        Ok(self.offset_of(index))
    }

    /// Frees a slot: [`Error::InvalidOffset`] if `offset` is not a slot
    /// start of this slab, [`Error::DoubleFree`] if the slot is not live
    /// (or another free of it won a race); nothing changes on error.
    #[inline]
    fn free(&self, offset: Offset) -> Result<()> {
        let index = self.index_of(offset)?;
        self.not_forked()?;
        let base = self.base();
        let shared = self.shared_at(base);
        if let Some(cache) = self.my_cache(base) {
            // Fast path: the owner thread frees into its cache.
            return match shared.release_live(index, cache.owner, self.strict) {
                Ok(_) => cache.push(&shared, index).map_err(|f| self.corrupt(f)),
                Err(e) => Err(self.free_error(offset, index, e)),
            };
        }
        match shared.release_live(index, self.owner(), true) {
            Ok(generation) => {
                self.free_shared(&shared, index, generation);
                Ok(())
            }
            Err(e) => Err(self.free_error(offset, index, e)),
        }
    }

    fn usable_size(&self, offset: Offset) -> Result<u64> {
        let index = self.index_of(offset)?;
        let raw = self.shared().word(index).load(Ordering::Relaxed);
        if SlotWord::raw_state(raw) == SlotState::Allocated as u64 {
            Ok(self.geo.slot_size)
        } else {
            Err(Error::InvalidOffset {
                offset: offset.get(),
                reason: "the slot is not allocated",
            })
        }
    }

    /// Live allocations are counted from the slot words (ALLOCATED slots
    /// among those ever handed out), not from the per-entry counters: a
    /// process killed between a slot-word store and its counter store leaves
    /// the counters off by one for good, while the slot words are what
    /// `reclaim_dead` repairs. O(slots ever used): about 1 ms per million.
    /// A snapshot taken while others work may be off by the operations in
    /// flight. `high_water` is the slots ever handed out of the never-used
    /// counter: the slab's footprint, an upper bound of the most bytes in
    /// use at once.
    /// O(1): the slot count times the slot size.
    fn capacity(&self) -> u64 {
        self.geo.slot_count * self.geo.slot_size
    }

    fn stats(&self) -> AllocStats {
        let shared = self.shared();
        let used_ever = shared.used_ever();
        let live = (0..used_ever as u32)
            .filter(|&i| {
                SlotWord::raw_state(shared.word(i).load(Ordering::Relaxed))
                    == SlotState::Allocated as u64
            })
            .count() as u64;
        let n = self.geo.slot_count;
        let live = live.min(n);
        let ss = self.geo.slot_size;
        AllocStats {
            capacity: n * ss,
            used: live * ss,
            available: (n - live) * ss,
            high_water: used_ever * ss,
            allocations: live,
        }
    }
}
