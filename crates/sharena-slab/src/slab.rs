//! [`Slab`]: the allocator over a validated segment, with this process's
//! cache.

use crate::cache::Cache;
use crate::layout::{
    CacheHead, Control, Geometry, IndexCell, SlotCell, CACHE_HEAD_LEN, FORMAT_WORD, PARAM_MAX_SLOTS,
};
use crate::stack::{Fault, Shared};
use crate::word::{SlotState, SlotWord};
use shm_layout::sync::{thread_id, AtomicU64, Ordering};
use shm_layout::{
    AllocStats, AllocatorKind, Error, Offset, ProcId, ProcTable, RegionId, Registration, Result,
    SegmentView, ShmAllocator, CACHE_LINE, PARAM_NAMES,
};

/// A slab allocator attached to a segment: fixed-size slots, lock-free
/// alloc and free, and a per-process cache of free slots.
///
/// Each `Slab` is one "process" of the slab: [`Slab::attach`] claims a
/// cache entry in the segment's registry and `Drop` flushes the cache back
/// and releases the entry. Attach one `Slab` per process (or per thread,
/// for the fastest path in every thread).
///
/// A `Slab` is `Send + Sync`. The first thread that allocates or frees
/// through it owns its cache (plain loads and stores, no atomic
/// read-modify-write on the fast path); other threads sharing the same
/// `Slab` bypass the cache and use the shared stack directly (lock-free,
/// one CAS per operation, still correct).
///
/// After `fork`, a child must not use a `Slab` inherited from its parent
/// (the cache entry is the parent's): attach a new one. Dropping the
/// inherited copy is harmless: `Drop` does nothing outside the process that
/// attached.
#[derive(Debug)]
pub struct Slab<S: AsRef<SegmentView>> {
    seg: S,
    pub(crate) geo: Geometry,
    seg_len: u64,
    pub(crate) state_off: u64,
    pool_off: u64,
    /// `slot_count * slot_size`.
    pool_used: u64,
    max_align: u64,
    /// `log2(slot_size)` when it is a power of two, else 0.
    shift: u32,
    /// Refill batch and flush target: half the cache.
    batch: u64,
    /// The claimed registry entry, if one was free.
    cache_id: Option<u32>,
    /// `params[4]` bit 0: the fast path's free also CASes the slot word.
    strict: bool,
    /// The thread that owns the cache (0: none yet). Process-local.
    owner_thread: AtomicU64,
    /// The process that attached. A `fork`ed child inherits a copy of this
    /// value; its `Drop` must not flush or release the parent's cache.
    attach_pid: u32,
    /// This attachment's process-table entry (None: the segment has no
    /// table).
    registration: Option<Registration>,
}

/// Validates the header of a slab segment and derives its geometry.
fn geometry(view: &SegmentView) -> Result<(Geometry, u64)> {
    let segment = || view.name().to_string();
    if view.kind() != AllocatorKind::Slab {
        return Err(Error::KindMismatch {
            segment: segment(),
            found: view.kind(),
            expected: AllocatorKind::Slab,
        });
    }
    let params = view.header().params;
    let geo = Geometry::from_params(&params).map_err(|(i, expected)| Error::BadField {
        segment: segment(),
        field: PARAM_NAMES[i],
        value: params[i],
        expected,
    })?;
    let state = view.region(RegionId::State);
    let pool = view.region(RegionId::Pool);
    let fixed = Geometry::slots_offset(geo.caches, geo.cache_cap);
    if state.len < fixed || state.offset % CACHE_LINE != 0 {
        return Err(Error::Corrupt {
            segment: segment(),
            what: format!(
                "the state region ({} bytes at {}) must be 128-byte aligned and hold at least \
                 {fixed} bytes of slab control block and cache registry",
                state.len, state.offset
            ),
            at: state.offset,
        });
    }
    Ok((
        geo.fit(params[PARAM_MAX_SLOTS], pool.len, state.len),
        pool.offset,
    ))
}

/// The creator's hook, run by `SegmentView::initialize` before READY: sets
/// an empty free stack and writes the format word. O(1): the state region
/// must be zero (fresh shared memory, a new file, or a buffer initialised
/// with `zero_first`), and all-zero slot words and cache entries mean
/// "never used" and "free".
pub fn init(view: &SegmentView) -> Result<()> {
    geometry(view)?;
    let state = view.region(RegionId::State);
    // SAFETY: `geometry` checked the state region is 128-aligned and holds
    // the control block; the view maps it for its lifetime.
    let ctl = unsafe { control_at(view, state.offset) };
    Shared::new(ctl, &[]).init();
    ctl.shared.0.format.store(FORMAT_WORD, Ordering::Relaxed);
    Ok(())
}

impl<S: AsRef<SegmentView>> Slab<S> {
    /// The creator's hook; the same as the free function [`init`].
    pub fn init(view: &SegmentView) -> Result<()> {
        init(view)
    }

    /// Attaches to a ready slab segment: validates kind, params and region
    /// lengths, checks that `init` ran, and claims a cache entry (if all
    /// are taken, the `Slab` works without a cache, one CAS per operation).
    pub fn attach(seg: S) -> Result<Self> {
        let view = seg.as_ref();
        let (geo, pool_off) = geometry(view)?;
        let state_off = view.region(RegionId::State).offset;
        // SAFETY: as in `init`.
        let ctl = unsafe { control_at(view, state_off) };
        let format = ctl.shared.0.format.load(Ordering::Relaxed);
        if format != FORMAT_WORD {
            return Err(Error::Corrupt {
                segment: view.name().to_string(),
                what: format!("slab format word is {format:#x}: the slab was never initialised"),
                at: state_off + 256 + 16,
            });
        }
        let me = ProcId::current();
        let registration = ProcTable::of(view)?.register(shm_layout::OwnerId::attach())?;
        let owner_word = next_owner_word(ctl);
        let ss = geo.slot_size;
        let mut slab = Slab {
            seg_len: view.len(),
            geo,
            state_off,
            pool_off,
            pool_used: geo.slot_count * ss,
            max_align: geo.max_align(pool_off),
            shift: if ss.is_power_of_two() {
                ss.trailing_zeros()
            } else {
                0
            },
            batch: (geo.cache_cap / 2).clamp(1, crate::cache::MAX_BATCH as u64),
            cache_id: None,
            strict: geo.strict_free,
            owner_thread: AtomicU64::new(0),
            attach_pid: std::process::id(),
            registration,
            seg,
        };
        for id in 0..geo.caches as u32 {
            if Cache::try_claim(slab.cache_head(id), owner_word, me.start_ticks()) {
                slab.cache_id = Some(id);
                break;
            }
        }
        Ok(slab)
    }

    /// The segment.
    pub fn segment(&self) -> &S {
        &self.seg
    }

    /// The slot size in bytes.
    pub fn slot_size(&self) -> u64 {
        self.geo.slot_size
    }

    /// The number of slots.
    pub fn slot_count(&self) -> u64 {
        self.geo.slot_count
    }

    /// The alignment every slot start has (and the largest `alloc_aligned`
    /// accepts): the largest power of two dividing the slot size and the
    /// pool offset, at most 4096.
    pub fn max_align(&self) -> u64 {
        self.max_align
    }

    /// The cache registry entry this `Slab` claimed, if any.
    pub fn cache_id(&self) -> Option<u32> {
        self.cache_id
    }

    /// The geometry (slot size and count, registry shape).
    pub fn geometry(&self) -> Geometry {
        self.geo
    }

    /// Moves every slot of this `Slab`'s cache back to the shared stack (so
    /// other processes and threads can allocate them) and lets the next
    /// thread to use this `Slab` own its cache. Needs `&mut`, so no thread
    /// is using the cache meanwhile.
    pub fn flush(&mut self) -> Result<()> {
        if let Some(cache) = self.cache() {
            cache
                .flush(&self.shared(), 0)
                .map_err(|f| self.corrupt(f))?;
        }
        self.owner_thread.store(0, Ordering::Relaxed);
        Ok(())
    }

    #[inline(always)]
    pub(crate) fn view(&self) -> &SegmentView {
        let v = self.seg.as_ref();
        // Every offset below was validated against a view of this length; a
        // `AsRef` that returns another mapping would break memory safety.
        assert_eq!(v.len(), self.seg_len, "AsRef<SegmentView> changed its view");
        v
    }

    /// The mapping's base in this process, after checking that the view is
    /// still the one every stored offset was validated against.
    #[inline(always)]
    pub(crate) fn base(&self) -> *mut u8 {
        self.view().base().as_ptr()
    }

    #[inline(always)]
    pub(crate) fn shared(&self) -> Shared<'_> {
        self.shared_at(self.base())
    }

    #[inline(always)]
    pub(crate) fn shared_at(&self, base: *mut u8) -> Shared<'_> {
        // SAFETY: `base` is this view's base (`base()`), whose
        // length `view()` checked. `attach` checked the state region's
        // alignment and that it holds the control block; `fit` bounded
        // slot_count by the state region's length, so the slot words lie
        // inside it, 8-aligned (state region 128-aligned, registry a
        // multiple of 128). The format makes them atomic for every process,
        // and `self.seg` keeps the mapping alive for `&self`.
        let ctl = unsafe { &*base.add(self.state_off as usize).cast::<Control>() };
        let first = self.state_off + Geometry::slots_offset(self.geo.caches, self.geo.cache_cap);
        // SAFETY: see above.
        let slots = unsafe {
            std::slice::from_raw_parts(
                base.add(first as usize).cast::<SlotCell>(),
                self.geo.slot_count as usize,
            )
        };
        Shared::new(ctl, slots)
    }

    pub(crate) fn entry_off(&self, id: u32) -> u64 {
        self.state_off
            + Geometry::REGISTRY_OFFSET
            + u64::from(id) * Geometry::entry_len(self.geo.cache_cap)
    }

    pub(crate) fn cache_head(&self, id: u32) -> &CacheHead {
        debug_assert!(u64::from(id) < self.geo.caches);
        // SAFETY: entry `id` < caches lies inside the state region (checked
        // in `geometry`), 128-aligned; all-atomic fields; mapping alive.
        unsafe { &*self.base().add(self.entry_off(id) as usize).cast() }
    }

    #[inline(always)]
    pub(crate) fn cache_at(&self, base: *mut u8, id: u32) -> Cache<'_> {
        let off = self.entry_off(id);
        // SAFETY: entry `id` < caches lies inside the state region (checked
        // in `geometry`): a 128-aligned head, then cache_cap u32s (entry_len
        // covers them); all atomic by format; mapping alive for `&self`.
        let (head, array) = unsafe {
            (
                &*base.add(off as usize).cast::<CacheHead>(),
                std::slice::from_raw_parts(
                    base.add((off + CACHE_HEAD_LEN) as usize)
                        .cast::<IndexCell>(),
                    self.geo.cache_cap as usize,
                ),
            )
        };
        Cache {
            head,
            array,
            owner: (id + 1) as u16,
            id,
        }
    }

    #[inline(always)]
    fn cache(&self) -> Option<Cache<'_>> {
        self.cache_id.map(|id| self.cache_at(self.base(), id))
    }

    /// The owner id stamped into slot words by this `Slab`.
    #[inline(always)]
    fn owner(&self) -> u16 {
        self.cache_id.map_or(0, |id| (id + 1) as u16)
    }

    /// The cache, if the calling thread owns it (claiming it if unowned).
    #[inline(always)]
    fn my_cache(&self, base: *mut u8) -> Option<Cache<'_>> {
        let id = self.cache_id?;
        let me = thread_id();
        let owner = self.owner_thread.load(Ordering::Relaxed);
        // AcqRel claim: orders the claim before the first use; only one
        // thread ever wins, and thread ids are never reused.
        let mine = owner == me
            || (owner == 0
                && self
                    .owner_thread
                    .compare_exchange(0, me, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok());
        if mine {
            Some(self.cache_at(base, id))
        } else {
            None
        }
    }

    pub(crate) fn corrupt(&self, f: Fault) -> Error {
        let slots = self.state_off + Geometry::slots_offset(self.geo.caches, self.geo.cache_cap);
        let (what, at) = match f {
            Fault::Head(i) => (format!("free-stack head names slot {i}"), self.state_off),
            Fault::Counter(c) => (
                format!("never-used counter is {c}"),
                self.state_off + CACHE_LINE,
            ),
            Fault::Slot(i, why) => (format!("slot {i}: {why}"), slots + 8 * u64::from(i)),
            Fault::CacheCount(id, c) => (
                format!("cache {id} holds count {c}"),
                self.entry_off(id) + 8,
            ),
            Fault::CacheIndex(id, i) => (
                format!("cache {id} names slot {i}"),
                self.entry_off(id) + CACHE_HEAD_LEN,
            ),
        };
        Error::Corrupt {
            segment: self.view().name().to_string(),
            what: format!("{what} (the slab has {} slots)", self.geo.slot_count),
            at,
        }
    }

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

    #[cold]
    #[inline(never)]
    fn alloc_shared(&self) -> Result<u32> {
        let shared = self.shared();
        match shared.alloc_one(self.owner()) {
            Ok(Some(i)) => {
                shared.ctl.shared.0.allocs.fetch_add(1, Ordering::Relaxed);
                Ok(i)
            }
            Ok(None) => Err(self.out_of_memory()),
            Err(f) => Err(self.corrupt(f)),
        }
    }

    #[cold]
    fn out_of_memory(&self) -> Error {
        Error::OutOfMemory {
            requested: self.geo.slot_size,
            available: self.geo.slot_count.saturating_sub(self.counted_live()) * self.geo.slot_size,
        }
    }

    /// Live slots as the operation counters give them: O(caches), for the
    /// out-of-memory error, which a full slab may return in a loop (the
    /// exact count, `stats()`, scans every slot word). A death between a
    /// slot-word store and its counter store can leave this off by one.
    fn counted_live(&self) -> u64 {
        let s = &self.shared().ctl.shared.0;
        let mut live = s
            .allocs
            .load(Ordering::Relaxed)
            .wrapping_sub(s.frees.load(Ordering::Relaxed));
        for id in 0..self.geo.caches as u32 {
            let h = self.cache_head(id);
            live = live
                .wrapping_add(h.allocs.load(Ordering::Relaxed))
                .wrapping_sub(h.frees.load(Ordering::Relaxed));
        }
        (live as i64).clamp(0, self.geo.slot_count as i64) as u64
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
    fn free_shared(shared: &Shared<'_>, index: u32, owner: u16, generation: u8) {
        shared.push_chain(&[index], owner, |_| generation);
        shared.ctl.shared.0.frees.fetch_add(1, Ordering::Relaxed);
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
                Self::free_shared(&shared, index, self.owner(), generation);
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

impl<S: AsRef<SegmentView>> Drop for Slab<S> {
    /// Flushes the cache back to the shared stack, hands the slots still
    /// allocated through this entry over to the segment (they become
    /// shared: a later tenant of the entry that dies must not take them
    /// along), releases the entry and the process-table entry. If the
    /// cache is found corrupt, the entry stays claimed for recovery.
    fn drop(&mut self) {
        if std::process::id() != self.attach_pid {
            // A forked child's copy: the cache entry is the parent's.
            return;
        }
        if let Some(cache) = self.cache() {
            let shared = self.shared();
            if cache.flush(&shared, 0).is_ok() {
                crate::recover::share_all(&shared, cache.owner);
                cache.release();
            }
        }
        if let (Some(reg), Ok(table)) = (self.registration, ProcTable::of(self.view())) {
            table.unregister(reg);
        }
    }
}

/// A fresh owner word for a cache claim: `epoch << 32 | pid`, the epoch from
/// the registry clock, so no two claims (or adoptions) write the same word.
pub(crate) fn next_owner_word(ctl: &Control) -> u64 {
    // Relaxed: only uniqueness matters, which the RMW gives.
    let epoch = ctl.clock.0.fetch_add(1, Ordering::Relaxed) as u32;
    ((u64::from(epoch) << 32) | u64::from(std::process::id())).max(1)
}

/// The control block at `offset`.
///
/// # Safety
/// `offset` is 128-aligned and `offset + CONTROL_LEN` lies inside the view's
/// state region.
pub(crate) unsafe fn control_at(view: &SegmentView, offset: u64) -> &Control {
    // SAFETY: bounds and alignment are the caller's contract (the base is
    // 128-aligned by the view's contract); `Control` is all atomics, which
    // the format makes atomic for every process; the view keeps the mapping
    // alive for the returned lifetime.
    unsafe { &*view.base().as_ptr().add(offset as usize).cast::<Control>() }
}
