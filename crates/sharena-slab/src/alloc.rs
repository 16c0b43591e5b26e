//! The allocation paths of [`Slab`]: the cache-hit fast path, refills,
//! the path of threads that do not own the cache, and the
//! [`ShmAllocator`] surface.

use crate::cache::Cache;
use crate::stack::{Fault, Shared};
use crate::word::{SlotState, SlotWord, GEN_MASK, GEN_ONE, KIND_MASK};
use crate::Slab;
use shm_layout::fork_generation;
use shm_layout::sync::Ordering;
use shm_layout::{AllocStats, Error, Offset, Result, SegmentView, ShmAllocator};

impl<S: AsRef<SegmentView>> Slab<S> {
    /// The slot index of `offset`, or why it is not a slot start.
    #[inline(always)]
    pub(crate) fn index_of(&self, offset: Offset) -> Result<u32> {
        let off = offset.get();
        // Below the pool wraps past `pool_used` too.
        let rel = off.wrapping_sub(self.pool_off);
        if rel >= self.pool_used {
            return Err(Error::InvalidOffset {
                offset: off,
                reason: "not inside this slab's slots",
            });
        }
        let (index, rem) = if self.shift != 0 {
            (rel >> self.shift, rel & self.slot_mask)
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

    /// The word of the live slot at `offset`, or why there is none.
    fn live_word(&self, offset: Offset) -> Result<u64> {
        let index = self.index_of(offset)?;
        let raw = self.shared().word(index).load(Ordering::Relaxed);
        if SlotWord::raw_state(raw) == SlotState::Allocated as u64 {
            Ok(raw)
        } else {
            Err(Error::InvalidOffset {
                offset: offset.get(),
                reason: "the slot is not allocated",
            })
        }
    }

    /// The size the allocation of the live slot at `offset` asked for:
    /// what `read`, `write` and the typed helpers may touch. At most the
    /// slot size ([`usable_size`](ShmAllocator::usable_size)), which the
    /// zero-copy path (`block_ptr`) may touch. Errors as `usable_size`
    /// does; a slack (bits 32..64 of the slot word) that leaves no byte is
    /// [`Error::Corrupt`].
    pub fn requested_size(&self, offset: Offset) -> Result<u64> {
        let raw = self.live_word(offset)?;
        let slack = raw >> 32;
        match self.geo.slot_size.checked_sub(slack) {
            Some(n) if n > 0 => Ok(n),
            _ => {
                // `live_word` checked that `offset` is a slot start.
                let index = self.index_of(offset)?;
                Err(self.corrupt(Fault::Slot(index, "a slack past the slot size")))
            }
        }
    }

    /// One slot, through the cache when this thread owns it, ALLOCATED
    /// with `slack` (the slot's bytes past the size asked for): `alloc`
    /// past the hit.
    #[cold]
    #[inline(never)]
    fn alloc_index(&self, slack: u32) -> Result<u32> {
        self.not_forked()?;
        let base = self.base();
        if let Some(cache) = self.my_cache(base) {
            let shared = self.shared_at(base);
            return match cache.pop(&shared, slack) {
                Ok(Some(i)) => Ok(i),
                Ok(None) => self.alloc_refill(&shared, &cache, slack),
                Err(f) => Err(self.corrupt(f)),
            };
        }
        self.alloc_shared(slack)
    }

    /// Why `alloc_aligned(size, align)` is refused (the fast path tests
    /// both at once).
    #[cold]
    #[inline(never)]
    fn bad_request(&self, size: u64, align: u64) -> Error {
        if !align.is_power_of_two() || align > self.max_align {
            Error::InvalidAlignment {
                align,
                max: self.max_align,
            }
        } else if size == 0 {
            Error::ZeroSize
        } else {
            Error::SizeTooLarge {
                size,
                max: self.geo.slot_size,
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn alloc_refill(&self, shared: &Shared<'_>, cache: &Cache<'_>, slack: u32) -> Result<u32> {
        let got = cache
            .refill(shared, self.batch)
            .map_err(|f| self.corrupt(f))?;
        if got == 0 {
            return Err(self.out_of_memory());
        }
        match cache.pop(shared, slack) {
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
    fn alloc_shared(&self, slack: u32) -> Result<u32> {
        let shared = self.shared();
        let head = self.cache_head(self.cache_id);
        // Process-local: a thread of this handle holds it for one pop, so
        // other processes never wait on it. A panic cannot happen inside,
        // but a poisoned lock is as good as a free one.
        let _turn = self
            .others
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match shared.alloc_one(self.owner(), slack, Some(&head.others)) {
            Ok(Some(i)) => Ok(i),
            Ok(None) => Err(self.out_of_memory()),
            Err(f) => Err(self.corrupt(f)),
        }
    }

    /// `available` counts the slots no allocation of this thread could
    /// reach: those in caches (every entry's count as its holder published
    /// it at its last refill or flush, O(caches); so a hint, off by what
    /// other caches did since) and those still never used. (The exact
    /// figure, `stats()`, scans every slot word; a full slab may return
    /// this error in a loop.)
    #[cold]
    fn out_of_memory(&self) -> Error {
        let cap = self.geo.cache_cap;
        let cached: u64 = (0..self.geo.caches as u32)
            .map(|id| {
                // Relaxed: a snapshot of owner-written counts.
                self.cache_head(id).count.load(Ordering::Relaxed).min(cap)
            })
            .sum();
        let unused = self.geo.slot_count - self.shared().used_ever();
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

    /// The cache hit of `alloc`: the thread owns the cache, which holds a
    /// slot whose word is CACHED by it. One shared store (the slot word
    /// becomes ALLOCATED with `slack`) and process-local ones. `None`:
    /// anything else, for `alloc_index` to sort out (a fork child, another
    /// thread, an empty cache, a corrupt word).
    ///
    /// Relaxed throughout, as `Cache::pop` says: only this thread touches
    /// the local array and the CACHED words of its id.
    #[inline(always)]
    fn alloc_hit(&self, slack: u32) -> Option<u32> {
        if fork_generation() != self.fork_gen || !self.owns_cache() {
            return None;
        }
        let base = self.base();
        let local = &self.local;
        let c = local.count.load(Ordering::Relaxed);
        let at = c.wrapping_sub(1) as usize;
        let index = local.array.get(at)?.load(Ordering::Relaxed);
        if u64::from(index) >= self.geo.slot_count {
            return None;
        }
        // SAFETY: `base` is from `base()`; `index` < slot_count, checked.
        let cell = unsafe { self.slot_word(base, index) };
        let raw = cell.load(Ordering::Relaxed);
        if raw & KIND_MASK != self.cached_word {
            return None;
        }
        // Count first (the `Cache` invariant), then the word:
        // `allocate_cached(raw, slack)`, with the owner's bits precomputed
        // (the carry out of the generation falls in bits the mask clears).
        local.count.store(c - 1, Ordering::Relaxed);
        let live =
            (raw.wrapping_add(GEN_ONE) & GEN_MASK) | self.live_word | (u64::from(slack) << 32);
        debug_assert_eq!(live, SlotWord::allocate_cached(raw, slack));
        cell.store(live, Ordering::Relaxed);
        Some(index)
    }

    /// The cache hit of `free` (slot `index`, checked by `index_of`): the
    /// thread owns the cache, which has room, the slab is not strict and
    /// the slot is live. One shared store (the slot word becomes CACHED:
    /// the double-free check and the linearization point) and
    /// process-local ones. `false`: anything else, for `free_slow`.
    #[inline(always)]
    fn free_hit(&self, index: u32) -> bool {
        // `free_gen` is `fork_gen`, or no generation at all in a strict
        // slab (whose frees all take the CAS of `free_slow`): one test
        // for both.
        if fork_generation() != self.free_gen || !self.owns_cache() {
            return false;
        }
        let base = self.base();
        let local = &self.local;
        let c = local.count.load(Ordering::Relaxed);
        let Some(top) = local.array.get(c as usize) else {
            return false; // full: `free_slow` flushes half
        };
        // SAFETY: `base` is from `base()`; `index_of` gave `index`, so
        // `index * slot_size < pool_used = slot_count * slot_size`.
        let cell = unsafe { self.slot_word(base, index) };
        let raw = cell.load(Ordering::Relaxed);
        if !SlotWord::is_live(raw) {
            return false;
        }
        // `cache_live(raw, owner)`, with the owner's bits precomputed.
        cell.store((raw & GEN_MASK) | self.cached_word, Ordering::Relaxed);
        top.store(index, Ordering::Relaxed);
        local.count.store(c + 1, Ordering::Relaxed);
        true
    }

    /// `free` past the hit: another thread, a full cache, a strict slab,
    /// a word that is not live (a double free, or corruption).
    #[cold]
    #[inline(never)]
    fn free_slow(&self, offset: Offset, index: u32) -> Result<()> {
        self.not_forked()?;
        let base = self.base();
        let shared = self.shared_at(base);
        if let Some(cache) = self.my_cache(base) {
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
    /// [`Slab::max_align`]; `size` from 1 to the slot size. The slot word
    /// records the size (as its slack), so checked reads and writes stop
    /// there ([`Slab::requested_size`]).
    /// Inlined into the caller: the hit is a few dozen instructions, and
    /// everything else is a call.
    #[inline(always)]
    fn alloc_aligned(&self, size: u64, align: u64) -> Result<Offset> {
        // One test per argument: `align - 1` wraps for 0, `size - 1` too.
        if align & align.wrapping_sub(1) != 0
            || align.wrapping_sub(1) >= self.max_align
            || size.wrapping_sub(1) >= self.geo.slot_size
        {
            return Err(self.bad_request(size, align));
        }
        // 1 <= size <= slot_size <= 2^32 (`Geometry::from_params`).
        let slack = (self.geo.slot_size - size) as u32;
        if let Some(index) = self.alloc_hit(slack) {
            return Ok(self.offset_of(index));
        }
        let index = self.alloc_index(slack)?;
        Ok(self.offset_of(index))
    }

    /// `alloc_aligned(size, 8)`, inlined as it is.
    #[inline(always)]
    fn alloc(&self, size: u64) -> Result<Offset> {
        self.alloc_aligned(size, 8)
    }

    /// Frees a slot: [`Error::InvalidOffset`] if `offset` is not a slot
    /// start of this slab, [`Error::DoubleFree`] if the slot is not live
    /// (or another free of it won a race); nothing changes on error.
    /// Inlined into the caller, as `alloc_aligned`.
    #[inline(always)]
    fn free(&self, offset: Offset) -> Result<()> {
        let index = self.index_of(offset)?;
        if self.free_hit(index) {
            return Ok(());
        }
        self.free_slow(offset, index)
    }

    /// The slot size: what the zero-copy path (`block_ptr`) may touch.
    /// Checked reads and writes stop at [`Slab::requested_size`].
    fn usable_size(&self, offset: Offset) -> Result<u64> {
        self.live_word(offset)?;
        Ok(self.geo.slot_size)
    }

    /// The size the allocation asked for: what `write_at`, `read`,
    /// `read_into` and `read_slice` may touch.
    fn requested_size(&self, offset: Offset) -> Result<u64> {
        Slab::requested_size(self, offset)
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
