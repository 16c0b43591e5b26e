//! [`FreeList`]: the allocator over a validated segment, with an arena per
//! thread that uses it.

use crate::arena::{Arena, Fault, FreeFault, Pool, PoolParts};
use crate::block::{HEADER, MIN_BLOCK};
use crate::class::{GRANULE, GRANULE_SHIFT};
use crate::layout::{ArenaHead, Control, Geometry, ARENA_LEN, FORMAT_WORD};
use crate::thread::{self, Exited};
use shm_layout::sync::thread_id;
use shm_layout::sync::{AtomicU64, Ordering};
use shm_layout::{
    fork_generation, AllocStats, AllocatorKind, Error, Offset, OwnerId, OwnerSlot, ProcTable,
    RegionId, Registration, Result, SegmentView, ShmAllocator, CACHE_LINE, PARAM_NAMES,
};
use std::sync::{Arc, Mutex};

/// The largest alignment `alloc_aligned` accepts.
pub const MAX_ALIGN: u64 = 4096;

/// A general-purpose allocator attached to a segment: any size, individual
/// free, coalescing, an arena (a per-thread heap registered in the segment)
/// for each thread that allocates through it.
///
/// Attach one `FreeList` per process (by name, or again after `fork`); any
/// number of threads may share it (`Send + Sync`): the first thread to
/// allocate owns the arena claimed at attach, every other thread claims an
/// arena of its own on its first allocation (one that finds none free
/// allocates whole chunks under the handle's first arena; a handle that
/// holds no arena at all cannot allocate, nor free another arena's
/// in-span blocks: [`Error::Unsupported`]). Frees of another arena's blocks
/// go to that arena's remote list (one CAS) and are taken in by its owner
/// on its next allocation. When a thread exits, its arena passes to the
/// handle: `stats`, `collect` and an allocation that runs short give back
/// what it holds spare (cached blocks, frees made into it, idle spans),
/// and the next thread that needs an arena takes it.
///
/// **Who owns a block.** A block belongs to the attachment (this handle)
/// that allocated it until it is freed or shared (`Recover::share`, or a
/// `publish`, which shares). When the attachment ends, its unshared blocks
/// are freed: by `Drop` when it runs (a normal return, a panic that
/// unwinds), otherwise (`std::process::exit`, an abort, `SIGKILL`) by the
/// next `reclaim_dead()` once its process is gone. `Drop` runs the code a
/// reclaim runs for a dead owner, with itself as the owner: its arenas'
/// unshared blocks, cached blocks, spare spans and huge blocks go back, and
/// the arenas are released.
///
/// **After `fork`.** A handle inherited through `fork` belongs to the
/// parent: in the child every call that would touch its arenas (allocate,
/// free, collect, reclaim) returns [`Error::Forked`], and its `Drop` touches
/// nothing in the segment. The child attaches its own handle.
#[derive(Debug)]
pub struct FreeList<S: AsRef<SegmentView>> {
    seg: S,
    pub(crate) geo: Geometry,
    seg_len: u64,
    state_off: u64,
    pub(crate) pool_off: u64,
    pub(crate) pool_end: u64,
    /// Segment offset of the chunk table.
    table_off: u64,
    /// The pool's layout, worked out once (the pool view is made on
    /// every operation).
    parts: PoolParts,
    /// The arena claimed at attach, if one was free.
    pub(crate) primary: Option<u32>,
    /// The thread that owns `primary` (0: none yet). Process-local.
    owner_thread: AtomicU64,
    /// Arenas claimed for other threads (released on drop).
    extra: Mutex<Vec<u32>>,
    /// Arenas (of `primary` and `extra`) whose thread has exited: the
    /// handle tidies them and hands them to the next thread (`thread.rs`).
    exited: Arc<Exited>,
    /// Serialises the remote frees of threads that have no arena of their
    /// own: they share the primary arena's `pending_shared` record.
    pub(crate) shared_pending: Mutex<()>,
    /// This handle's process-unique id (keys the threads' arena lists).
    uid: u64,
    /// The most bytes a span (so an in-span block) can have.
    pub(crate) max_span: u64,
    /// This attachment's identity, in the owner slot of every arena it holds.
    me: OwnerId,
    /// `fork_generation()` at attach: a handle whose process forked since
    /// (a child's inherited copy) refuses to touch its arenas.
    fork_gen: u64,
    /// This handle's process-table entry (`None`: the segment has no table).
    registration: Option<Registration>,
    /// Nonzero after `simulate_death`: `Drop` leaves the arenas claimed.
    abandoned: AtomicU64,
}

/// Validates the header of a free-list segment and derives its geometry.
fn geometry(view: &SegmentView) -> Result<(Geometry, u64)> {
    let segment = || view.name().to_string();
    if view.kind() != AllocatorKind::FreeList {
        return Err(Error::KindMismatch {
            segment: segment(),
            found: view.kind(),
            expected: AllocatorKind::FreeList,
        });
    }
    let params = view.header().params;
    let state = view.region(RegionId::State);
    let pool = view.region(RegionId::Pool);
    let geo =
        Geometry::from_params(&params, pool.len).map_err(|(i, expected)| Error::BadField {
            segment: segment(),
            field: PARAM_NAMES[i],
            value: params[i],
            expected,
        })?;
    let geo = geo.fit(pool.len, state.len);
    if state.offset % CACHE_LINE != 0 || geo.chunks == 0 || pool.offset % 4096 != 0 {
        return Err(Error::Corrupt {
            segment: segment(),
            what: format!(
                "the state region ({} bytes at {}) must be 128-byte aligned and hold the control \
                 block, {} arenas and the table of at least one chunk of the {}-byte pool",
                state.len, state.offset, geo.arenas, pool.len
            ),
            at: state.offset,
        });
    }
    Ok((geo, pool.offset))
}

/// The creator's hook, run by `SegmentView::initialize` before READY: checks
/// the geometry and writes the format word. O(1): the state region must be
/// zero (fresh shared memory, a new file, or a buffer initialised with
/// `zero_first`), and zero means free arenas, empty bins and free chunks.
pub fn init(view: &SegmentView) -> Result<()> {
    geometry(view)?;
    let state = view.region(RegionId::State);
    // SAFETY: `geometry` checked the state region is 128-aligned and holds
    // the control block; the view maps it for its lifetime.
    let ctl = unsafe { control_at(view, state.offset) };
    // Relaxed: READY (a Release store by the view) publishes it.
    ctl.format.0.store(FORMAT_WORD, Ordering::Relaxed);
    Ok(())
}

impl<S: AsRef<SegmentView>> FreeList<S> {
    /// The creator's hook; the same as the free function [`init`].
    pub fn init(view: &SegmentView) -> Result<()> {
        init(view)
    }

    /// Attaches to a ready free-list segment: validates kind, params and
    /// region lengths, checks that `init` ran, takes an entry in the
    /// segment's process table (if it has one; [`Error::ProcessTableFull`]
    /// when all are taken: `reclaim_dead` frees dead processes' entries),
    /// and claims an arena (if all are taken, allocations by this handle
    /// take whole chunks). `Drop` gives the entry back.
    pub fn attach(seg: S) -> Result<Self> {
        let view = seg.as_ref();
        let (geo, pool_off) = geometry(view)?;
        let state_off = view.region(RegionId::State).offset;
        // SAFETY: as in `init`.
        let ctl = unsafe { control_at(view, state_off) };
        let format = ctl.format.0.load(Ordering::Relaxed);
        if format != FORMAT_WORD {
            return Err(Error::Corrupt {
                segment: view.name().to_string(),
                what: format!(
                    "free-list format word is {format:#x}, not {FORMAT_WORD:#x}: it was never \
                     initialised, or by another format"
                ),
                at: state_off,
            });
        }
        // `attach` installs the fork watch that `fork_generation` reads.
        let me = OwnerId::attach();
        let fork_gen = fork_generation();
        let registration = ProcTable::of(view)?.register(me)?;
        let mut fl = FreeList {
            seg_len: view.len(),
            geo,
            state_off,
            pool_off,
            pool_end: pool_off + (geo.chunks << geo.chunk_shift),
            max_span: crate::arena::max_span_bytes(geo),
            table_off: state_off + geo.table_offset(),
            parts: PoolParts {
                start: pool_off,
                end: pool_off + (geo.chunks << geo.chunk_shift),
                len: geo.chunks << geo.chunk_shift,
                chunk_shift: geo.chunk_shift,
                span_chunks: geo.span_chunks.max(1),
                ctl_off: state_off,
                bitmap_off: state_off + geo.bitmap_offset(),
                bitmap_words: geo.bitmap_words() as usize,
                table_off: state_off + geo.table_offset(),
                chunks: geo.chunks as usize,
            },
            primary: None,
            owner_thread: AtomicU64::new(0),
            extra: Mutex::new(Vec::new()),
            exited: Arc::new(Exited::default()),
            shared_pending: Mutex::new(()),
            uid: thread::next_uid(),
            me,
            fork_gen,
            registration,
            abandoned: AtomicU64::new(0),
            seg,
        };
        fl.primary = fl.claim_arena();
        Ok(fl)
    }

    /// Test and bench support (not API): makes this handle's arenas look
    /// as if `dead` had claimed them and died, and makes `Drop` leave them
    /// claimed (it still gives back the process-table entry). Then
    /// `reclaim_dead` recovers them like a dead process's.
    #[doc(hidden)]
    pub fn simulate_death(&self, dead: impl Into<OwnerId>) {
        let dead = dead.into();
        // Relaxed: read by this handle's `Drop` only.
        self.abandoned.store(1, Ordering::Relaxed);
        for id in self.held() {
            // Release: a test's forgery of an owner slot (so not through
            // `OwnerSlot`), published to the reclaimer's Acquire.
            self.arena_head(id)
                .owner
                .store(dead.raw(), Ordering::Release);
        }
    }

    /// The process-table entry this handle holds (`None` when the segment
    /// has no process table).
    pub fn registration(&self) -> Option<Registration> {
        self.registration
    }

    /// This attachment's identity.
    pub fn owner_id(&self) -> OwnerId {
        self.me
    }

    pub(crate) fn me(&self) -> OwnerId {
        self.me
    }

    /// The arenas this handle holds: the primary and the threads' own.
    pub(crate) fn held(&self) -> Vec<u32> {
        let extra = self
            .extra
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        self.primary.into_iter().chain(extra).collect()
    }

    /// The owner slot of arena `id`.
    pub(crate) fn slot(&self, id: u32) -> &OwnerSlot {
        OwnerSlot::from_atomic(&self.arena_head(id).owner)
    }

    /// `Err(Forked)` in a process that forked since this handle attached.
    #[inline(always)]
    pub(crate) fn not_forked(&self) -> Result<()> {
        if fork_generation() == self.fork_gen {
            Ok(())
        } else {
            Err(self.forked())
        }
    }

    #[cold]
    fn forked(&self) -> Error {
        Error::Forked {
            segment: self.view().name().to_string(),
            attached_by: self.me.pid(),
        }
    }

    pub(crate) fn table_off(&self) -> u64 {
        self.table_off
    }

    /// The segment.
    pub fn segment(&self) -> &S {
        &self.seg
    }

    /// The geometry (chunk size and count, span length, arena count).
    pub fn geometry(&self) -> Geometry {
        self.geo
    }

    /// The arena this handle claimed at attach, if one was free.
    pub fn arena_id(&self) -> Option<u32> {
        self.primary
    }

    /// The largest size one allocation can ask for: the whole pool less one
    /// block header.
    pub fn max_alloc(&self) -> u64 {
        (self.geo.chunks << self.geo.chunk_shift) - HEADER
    }

    /// Takes in the blocks other threads and processes freed into the
    /// calling thread's arena (they are counted as used until then), and
    /// empties its class caches; does the same, and gives back the spare
    /// spans, for the arenas of this handle's threads that have exited.
    pub fn collect(&self) -> Result<u64> {
        self.not_forked()?;
        self.tidy_exited();
        match self.current_arena() {
            Some(id) => {
                let pool = self.pool();
                let a = self.arena_in(&pool, id);
                let n = a.drain_remote().map_err(|f| self.corrupt(f))?;
                let o = a.take_orphans().map_err(|f| self.corrupt(f))?;
                a.flush_cache().map_err(|f| self.corrupt(f))?;
                Ok(n + o)
            }
            None => Ok(0),
        }
    }

    #[inline(always)]
    pub(crate) fn view(&self) -> &SegmentView {
        let v = self.seg.as_ref();
        // Every offset below was validated against a view of this length; a
        // `AsRef` that returns another mapping would break memory safety.
        assert_eq!(v.len(), self.seg_len, "AsRef<SegmentView> changed its view");
        v
    }

    #[inline(always)]
    pub(crate) fn pool(&self) -> Pool<'_> {
        // SAFETY: `geometry` fitted the chunk count so that the control
        // block, the arena registry, the bitmap and the table lie inside the
        // state region (128-aligned, so every word is 8-aligned) and the
        // pool inside the pool region of this view, whose length `view()`
        // checked; `parts` were made from that geometry at attach; all of
        // it is atomics by format; `self.seg` keeps the mapping alive for
        // `&self`.
        unsafe { Pool::new(self.view().base().as_ptr(), &self.parts) }
    }

    pub(crate) fn arena_off(&self, id: u32) -> u64 {
        self.state_off + Geometry::ARENAS_OFFSET + u64::from(id) * ARENA_LEN
    }

    pub(crate) fn arena_head(&self, id: u32) -> &ArenaHead {
        debug_assert!(u64::from(id) < self.geo.arenas);
        // SAFETY: entry `id` < arenas lies inside the state region (checked
        // by `geometry`), 128-aligned; all-atomic fields; mapping alive.
        unsafe {
            &*self
                .view()
                .base()
                .as_ptr()
                .add(self.arena_off(id) as usize)
                .cast()
        }
    }

    /// Arena `id` over a `pool` made by `self.pool()`.
    #[inline(always)]
    pub(crate) fn arena_in<'a>(&'a self, pool: &'a Pool<'a>, id: u32) -> Arena<'a> {
        debug_assert!(u64::from(id) < self.geo.arenas);
        // SAFETY: entry `id` < arenas lies whole inside the state region
        // (checked by `geometry`), 128-aligned, all atomics by format; the
        // mapping lives as long as `self`.
        // `pool.base` is this view's base (`pool()` checked the view).
        unsafe {
            let p = pool.base().add(self.arena_off(id) as usize);
            Arena::new(pool, &*p.cast::<ArenaHead>(), (id + 1) as u16)
        }
    }

    /// Claims a free arena entry for this attachment (`OwnerSlot::claim`:
    /// its Acquire sees the last holder's bins, counters and headers); if
    /// none is free, adopts one whose holder died and rebuilds it for us
    /// (`recover.rs`).
    fn claim_arena(&self) -> Option<u32> {
        (0..self.geo.arenas as u32)
            .find(|&id| self.slot(id).claim(self.me))
            .or_else(|| self.adopt_any())
    }

    /// The calling thread's arena of this handle, claiming one if needed.
    #[inline(always)]
    pub(crate) fn my_arena(&self) -> Option<u32> {
        let me = thread_id();
        let owner = self.owner_thread.load(Ordering::Relaxed);
        if owner == me {
            return self.primary;
        }
        // AcqRel: orders the claim before the first use; only one thread
        // ever wins, and thread ids are never reused.
        if let Some(primary) = self.primary {
            if owner == 0
                && thread::can_record()
                && self
                    .owner_thread
                    .compare_exchange(0, me, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                // So that the thread's exit hands the arena back.
                thread::record(self.uid, primary, &self.exited);
                return self.primary;
            }
        }
        self.thread_arena(true)
    }

    /// The calling thread's arena of this handle, if it has one.
    #[inline(always)]
    pub(crate) fn current_arena(&self) -> Option<u32> {
        if self.owner_thread.load(Ordering::Relaxed) == thread_id() {
            return self.primary;
        }
        self.thread_arena(false)
    }

    #[cold]
    #[inline(never)]
    fn thread_arena(&self, claim: bool) -> Option<u32> {
        let found = thread::find(self.uid);
        if found.is_some() || !claim || !thread::can_record() {
            return found;
        }
        // An exited thread's arena first (the lock in `take` orders its
        // last writes before ours), else a new one.
        let id = if let Some(id) = self.exited.take() {
            id
        } else {
            let id = self.claim_arena()?;
            self.extra
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(id);
            id
        };
        thread::record(self.uid, id, &self.exited);
        Some(id)
    }

    /// Gives back what the arenas of exited threads hold spare: their
    /// remote frees and orphans are taken in, their class caches flushed,
    /// their idle and parked spans returned to the chunk heap. Under the
    /// exited list's lock, which stands in for the owner thread; a no-op
    /// (one load) when no thread of this handle has exited, and in a
    /// forked child. Corruption found here surfaces when a thread takes
    /// the arena.
    pub(crate) fn tidy_exited(&self) {
        // Relaxed: a hint; the lock orders the arenas' words.
        if self.exited.count.load(Ordering::Relaxed) == 0 || self.not_forked().is_err() {
            return;
        }
        let ids = self
            .exited
            .ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let pool = self.pool();
        for &id in ids.iter() {
            let _ = self.arena_in(&pool, id).give_back_spare();
        }
    }

    /// An arena allocation found no room: tidy the exited threads' arenas
    /// (their spare spans may be what is missing) and try once more.
    #[cold]
    #[inline(never)]
    fn alloc_short(&self, id: u32, g: u64, align: u64, size: u64) -> Result<Offset> {
        // Relaxed: a hint, as in `tidy_exited`.
        if self.exited.count.load(Ordering::Relaxed) != 0 {
            self.tidy_exited();
            match self.arena_in(&self.pool(), id).alloc(g, align, size) {
                Ok(Some(b)) => return Ok(Offset::new(b + HEADER)),
                Ok(None) => {}
                Err(f) => return Err(self.corrupt(f)),
            }
        }
        Err(self.out_of_memory(size))
    }

    pub(crate) fn corrupt(&self, f: Fault) -> Error {
        let (what, at) = match f {
            Fault::Chunk(crate::chunks::Fault::Entry(c, w)) => (
                format!("chunk {c}'s table word {w:#x} is impossible"),
                // Wrapping: `c` names a chunk, but a report must not
                // panic even if it did not.
                self.table_off.wrapping_add(c.wrapping_mul(8)),
            ),
            Fault::Block(off, why) => (format!("block at {off}: {why}"), off),
        };
        Error::Corrupt {
            segment: self.view().name().to_string(),
            what,
            at,
        }
    }

    #[cold]
    pub(crate) fn out_of_memory(&self, requested: u64) -> Error {
        Error::OutOfMemory {
            requested,
            available: self.stats().available,
        }
    }
}

impl<S: AsRef<SegmentView>> ShmAllocator for FreeList<S> {
    fn view(&self) -> &SegmentView {
        FreeList::view(self)
    }

    /// Allocates `size` bytes (1 to [`FreeList::max_alloc`]) whose start is
    /// `align`-aligned (a power of two up to 4096). Sizes up to a chunk come
    /// from the calling thread's arena; larger ones take whole chunks.
    #[inline]
    fn alloc_aligned(&self, size: u64, align: u64) -> Result<Offset> {
        self.not_forked()?;
        if !align.is_power_of_two() || align > MAX_ALIGN {
            return Err(Error::InvalidAlignment {
                align,
                max: MAX_ALIGN,
            });
        }
        if size == 0 {
            return Err(Error::ZeroSize);
        }
        if size > self.max_alloc() {
            return Err(Error::SizeTooLarge {
                size,
                max: self.max_alloc(),
            });
        }
        // size <= 2^47, so no overflow.
        let g = ((size + HEADER).div_ceil(GRANULE)).max(MIN_BLOCK);
        if g << GRANULE_SHIFT > 1 << self.geo.chunk_shift {
            return self.alloc_huge(size, align);
        }
        let Some(id) = self.my_arena() else {
            return self.alloc_huge(size, align);
        };
        match self.arena_in(&self.pool(), id).alloc(g, align, size) {
            Ok(Some(b)) => Ok(Offset::new(b + HEADER)),
            Ok(None) => self.alloc_short(id, g, align, size),
            Err(f) => Err(self.corrupt(f)),
        }
    }

    /// Frees a block: [`Error::InvalidOffset`] if `offset` is not a block
    /// start of this free list, [`Error::DoubleFree`] if the block is not
    /// live (or another free of it won a race); nothing changes on error.
    #[inline]
    fn free(&self, offset: Offset) -> Result<()> {
        self.not_forked()?;
        let pool = self.pool();
        let (b, tag, head) = self.locate(&pool, offset)?;
        if tag.huge() {
            return self.free_huge(&pool, b, tag, head);
        }
        // `locate` checked the owner is nonzero.
        let owner_id = u32::from(tag.owner()) - 1;
        let mine = self.current_arena();
        if mine == Some(owner_id) {
            return match self.arena_in(&pool, owner_id).free_local(b, tag) {
                Ok(()) => Ok(()),
                Err(FreeFault::Lost) => Err(Error::DoubleFree {
                    offset: offset.get(),
                }),
                Err(FreeFault::Corrupt(f)) => Err(self.corrupt(f)),
            };
        }
        if u64::from(owner_id) >= self.geo.arenas {
            return Err(self.corrupt(Fault::Block(b, "owner names no arena")));
        }
        self.free_into(&pool, owner_id, b, tag, mine)
    }

    /// The size the allocation asked for: what `write_at`, `read`,
    /// `read_into` and `read_slice` may touch; `block_ptr` reaches to
    /// [`usable_size`](ShmAllocator::usable_size) instead.
    fn requested_size(&self, offset: Offset) -> Result<u64> {
        FreeList::requested_size(self, offset)
    }

    fn usable_size(&self, offset: Offset) -> Result<u64> {
        let pool = self.pool();
        let (b, tag, head) = self.locate(&pool, offset)?;
        if tag.huge() {
            let end =
                pool.chunk_off(pool.chunk_of(b)) + (u64::from(head.n()) << self.geo.chunk_shift);
            return Ok(end - offset.get());
        }
        Ok((u64::from(tag.size()) << GRANULE_SHIFT) - HEADER)
    }

    /// `used` is the bytes of live blocks, headers and rounding included
    /// (blocks freed by another thread count until their arena's owner
    /// takes them in); `high_water` is the most bytes of pool ever taken
    /// from the chunk heap at once (the footprint). A snapshot taken while
    /// others work may be off by the operations in flight. It first tidies
    /// the arenas of this handle's threads that have exited (their remote
    /// frees taken in, their spare spans given back), so that memory they
    /// freed counts as free.
    fn stats(&self) -> AllocStats {
        self.tidy_exited();
        let pool = self.pool();
        let (mut used, mut live) = self.huge_usage(&pool);
        for id in 0..self.geo.arenas as u32 {
            let s = &self.arena_head(id).stats.0;
            used = used.wrapping_add(s.used.load(Ordering::Relaxed));
            live = live.wrapping_add(s.live.load(Ordering::Relaxed));
        }
        let capacity = self.geo.chunks << self.geo.chunk_shift;
        let used = used.min(capacity);
        AllocStats {
            capacity,
            used,
            available: capacity - used,
            high_water: (pool.ctl().heap.0.peak_end.load(Ordering::Relaxed)
                << self.geo.chunk_shift)
                .min(capacity),
            allocations: live,
        }
    }
}

impl<S: AsRef<SegmentView>> Drop for FreeList<S> {
    /// Ends the attachment: frees its arenas' unshared blocks, cached
    /// blocks and spare spans, and releases the arenas (the code a reclaim
    /// runs for a dead owner, `recover.rs`), then gives back the
    /// process-table entry. In a forked child it does nothing: the arenas
    /// and the entry are the parent's.
    fn drop(&mut self) {
        if fork_generation() != self.fork_gen {
            return;
        }
        if self.abandoned.load(Ordering::Relaxed) == 0 {
            for id in self.held() {
                self.retire_arena(id);
            }
        }
        if let (Some(reg), Ok(table)) = (self.registration, ProcTable::of(self.view())) {
            table.unregister(reg);
        }
    }
}

/// The control block at `offset`.
///
/// # Safety
/// `offset` is 128-aligned and `offset + CONTROL_LEN` lies inside the view's
/// state region.
unsafe fn control_at(view: &SegmentView, offset: u64) -> &Control {
    // SAFETY: bounds and alignment are the caller's contract (the base is
    // 128-aligned by the view's contract); `Control` is all atomics, which
    // the format makes atomic for every process; the view keeps the mapping
    // alive for the returned lifetime.
    unsafe { &*view.base().as_ptr().add(offset as usize).cast::<Control>() }
}

/// What an allocation (or a free into another arena) by a handle that
/// holds no arena returns.
#[cold]
pub(crate) fn no_arena() -> Error {
    Error::Unsupported {
        op: "allocating, or freeing another arena's block,",
        by: "a free-list handle that holds no arena (every arena of the segment is held \
             by a live thread; `reclaim_dead` frees those of dead ones)",
    }
}
