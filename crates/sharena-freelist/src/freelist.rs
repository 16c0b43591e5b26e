//! [`FreeList`]: the allocator over a validated segment, with an arena per
//! thread that uses it.

use crate::arena::{free_remote, Arena, Fault, FreeFault, Pool};
use crate::block::{cas_state, Link, State, Tag, HEADER, MIN_BLOCK};
use crate::chunks::{ChunkMap, Entry, Kind};
use crate::class::{BINS, GRANULE, GRANULE_SHIFT};
use crate::layout::{
    ArenaHead, Control, Geometry, ARENA_LEN, BINS_OFFSET, CACHE_CLASSES, CACHE_OFFSET,
    CACHE_STRIDE, FORMAT_WORD,
};
use crate::thread::{self, THREAD_ARENAS};
use shm_layout::sync::thread_id;
use shm_layout::sync::{AtomicU64, Ordering};
use shm_layout::{
    AllocStats, AllocatorKind, Error, Offset, ProcId, ProcTable, RegionId, Registration, Result,
    SegmentView, ShmAllocator, CACHE_LINE, PARAM_NAMES,
};
use std::sync::Mutex;

/// The largest alignment `alloc_aligned` accepts.
pub const MAX_ALIGN: u64 = 4096;

/// A general-purpose allocator attached to a segment: any size, individual
/// free, coalescing, an arena (a per-thread heap registered in the segment)
/// for each thread that allocates through it.
///
/// Attach one `FreeList` per process (by name, or again after `fork`); any
/// number of threads may share it (`Send + Sync`): the first thread to
/// allocate owns the arena claimed at attach, every other thread claims an
/// arena of its own on its first allocation. Frees of another arena's
/// blocks go to that arena's remote list (one CAS) and are taken in by its
/// owner on its next allocation. `Drop` takes in remote frees, gives the
/// parked span back and releases the arenas; blocks still live stay
/// allocated, and the arena holding them is adopted by the next process
/// that attaches.
#[derive(Debug)]
pub struct FreeList<S: AsRef<SegmentView>> {
    seg: S,
    geo: Geometry,
    seg_len: u64,
    state_off: u64,
    pool_off: u64,
    pool_end: u64,
    /// Segment offsets of the chunk bitmap and table.
    bitmap_off: u64,
    table_off: u64,
    /// The arena claimed at attach, if one was free.
    primary: Option<u32>,
    /// The thread that owns `primary` (0: none yet). Process-local.
    owner_thread: AtomicU64,
    /// Arenas claimed for other threads (released on drop).
    extra: Mutex<Vec<u32>>,
    /// This handle's process-unique id (keys the threads' arena lists).
    uid: u64,
    /// The most bytes a span (so an in-span block) can have.
    max_span: u64,
    /// `epoch << 32 | pid`, stamped into claimed arenas.
    owner_word: u64,
    /// The process that attached; a forked child's copy must not release.
    attach_pid: u32,
    /// This process (pid and start time), stamped beside `owner_word`.
    me: ProcId,
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
                what: format!("free-list format word is {format:#x}: it was never initialised"),
                at: state_off,
            });
        }
        let me = ProcId::current();
        let registration = ProcTable::of(view)?.register(shm_layout::OwnerId::attach())?;
        // Relaxed: the RMW alone makes epochs unique.
        let epoch = ctl.clock.0.fetch_add(1, Ordering::Relaxed) as u32;
        let mut fl = FreeList {
            seg_len: view.len(),
            geo,
            state_off,
            pool_off,
            pool_end: pool_off + (geo.chunks << geo.chunk_shift),
            max_span: crate::arena::max_span_bytes(geo),
            bitmap_off: state_off + geo.bitmap_offset(),
            table_off: state_off + geo.table_offset(),
            primary: None,
            owner_thread: AtomicU64::new(0),
            extra: Mutex::new(Vec::new()),
            uid: thread::next_uid(),
            owner_word: ((u64::from(epoch) << 32) | u64::from(std::process::id())).max(1),
            attach_pid: std::process::id(),
            me,
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
    pub fn simulate_death(&self, dead: ProcId) {
        // Relaxed: read by this handle's `Drop` only.
        self.abandoned.store(1, Ordering::Relaxed);
        let word = (self.owner_word & !0xFFFF_FFFF) | u64::from(dead.pid());
        let extra = self
            .extra
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for id in self.primary.into_iter().chain(extra) {
            let h = self.arena_head(id);
            // Relaxed: a test's forgery, published by the test's own
            // hand-off to the reclaiming thread (and the Release below).
            h.owner_start.store(0, Ordering::Relaxed);
            h.owner.store(word, Ordering::Release);
            h.owner_start.store(dead.start_ticks(), Ordering::Relaxed);
        }
    }

    /// The process-table entry this handle holds (`None` when the segment
    /// has no process table).
    pub fn registration(&self) -> Option<Registration> {
        self.registration
    }

    pub(crate) fn me(&self) -> ProcId {
        self.me
    }

    pub(crate) fn owner_word(&self) -> u64 {
        self.owner_word
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
    /// calling thread's arena (they are counted as used until then).
    pub fn collect(&self) -> Result<u64> {
        match self.current_arena() {
            Some(id) => {
                let a = self.arena(id);
                let n = a.drain_remote().map_err(|f| self.corrupt(f))?;
                a.flush_cache().map_err(|f| self.corrupt(f))?;
                Ok(n)
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
        let base = self.view().base().as_ptr();
        let g = self.geo;
        // SAFETY: `geometry` fitted the chunk count so that the control
        // block, the arena registry, the bitmap and the table lie inside the
        // state region (128-aligned, so every word is 8-aligned) of this
        // view, whose length `view()` checked; all of it is atomics by
        // format; `self.seg` keeps the mapping alive for `&self`.
        let (ctl, bitmap, table) = unsafe {
            (
                &*base.add(self.state_off as usize).cast::<Control>(),
                std::slice::from_raw_parts(
                    base.add(self.bitmap_off as usize).cast::<AtomicU64>(),
                    g.bitmap_words() as usize,
                ),
                std::slice::from_raw_parts(
                    base.add(self.table_off as usize).cast::<AtomicU64>(),
                    g.chunks as usize,
                ),
            )
        };
        Pool {
            base,
            start: self.pool_off,
            end: self.pool_end,
            chunk_shift: g.chunk_shift,
            span_chunks: g.span_chunks.max(1),
            map: ChunkMap::new(bitmap, table),
            ctl,
        }
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

    #[inline(always)]
    fn arena(&self, id: u32) -> Arena<'_> {
        self.arena_in(self.pool(), id)
    }

    /// Arena `id` over a `pool` already made by `self.pool()`.
    #[inline(always)]
    pub(crate) fn arena_in<'a>(&'a self, pool: Pool<'a>, id: u32) -> Arena<'a> {
        let off = self.arena_off(id);
        // SAFETY: as in `arena_head`; the bins and the class caches follow
        // the head inside the entry (ARENA_LEN covers them), 8-aligned.
        let (head, bins, cache) = unsafe {
            let p = self.view().base().as_ptr().add(off as usize);
            (
                &*p.cast::<ArenaHead>(),
                std::slice::from_raw_parts(p.add(BINS_OFFSET as usize).cast::<AtomicU64>(), BINS),
                std::slice::from_raw_parts(
                    p.add(CACHE_OFFSET as usize).cast::<AtomicU64>(),
                    CACHE_CLASSES * CACHE_STRIDE,
                ),
            )
        };
        Arena::new(pool, head, bins, cache, (id + 1) as u16)
    }

    /// Claims a free arena entry for this process.
    fn claim_arena(&self) -> Option<u32> {
        let id = (0..self.geo.arenas as u32).find(|&id| {
            let owner = &self.arena_head(id).owner;
            // SYNC POINT (arena claim, Acquire): pairs with the Release
            // store in `release_owner`, so the last owner's bins, stats and
            // block headers are visible.
            owner.load(Ordering::Relaxed) == 0
                && owner
                    .compare_exchange(0, self.owner_word, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
        })?;
        // After the CAS: until this store, `owner_start` is 0 (every release
        // zeroes it before its Release store of 0 into `owner`, and a
        // reclaimer that reads our owner word with Acquire reads from the
        // release sequence of that store, so it sees the zero or our start,
        // never an earlier owner's). 0 means "any start", so in between a
        // reclaimer checks our pid alone and finds it alive. Relaxed: see
        // that argument; a stale 0 is only conservative.
        self.arena_head(id)
            .owner_start
            .store(self.me.start_ticks(), Ordering::Relaxed);
        Some(id)
    }

    fn release_arena(&self, id: u32) {
        let a = self.arena(id);
        // Errors here mean corruption; the arena stays claimed for the
        // recovery issue rather than handing a broken heap to the next owner.
        if a.give_back_spare().is_err() {
            return;
        }
        release_owner(self.arena_head(id));
    }

    /// The calling thread's arena of this handle, claiming one if needed.
    #[inline(always)]
    fn my_arena(&self) -> Option<u32> {
        let me = thread_id();
        let owner = self.owner_thread.load(Ordering::Relaxed);
        if owner == me {
            return self.primary;
        }
        // AcqRel: orders the claim before the first use; only one thread
        // ever wins, and thread ids are never reused.
        if owner == 0
            && self.primary.is_some()
            && self
                .owner_thread
                .compare_exchange(0, me, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            return self.primary;
        }
        self.thread_arena(true)
    }

    /// The calling thread's arena of this handle, if it has one.
    #[inline(always)]
    fn current_arena(&self) -> Option<u32> {
        if self.owner_thread.load(Ordering::Relaxed) == thread_id() {
            return self.primary;
        }
        self.thread_arena(false)
    }

    #[cold]
    #[inline(never)]
    fn thread_arena(&self, claim: bool) -> Option<u32> {
        let found = THREAD_ARENAS.with(|v| {
            v.borrow()
                .iter()
                .find(|(uid, _)| *uid == self.uid)
                .map(|&(_, id)| id)
        });
        if found.is_some() || !claim {
            return found;
        }
        let id = self.claim_arena()?;
        self.extra
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(id);
        THREAD_ARENAS.with(|v| v.borrow_mut().push((self.uid, id)));
        Some(id)
    }

    pub(crate) fn corrupt(&self, f: Fault) -> Error {
        let (what, at) = match f {
            Fault::Chunk(crate::chunks::Fault::Entry(c, w)) => (
                format!("chunk {c}'s table word {w:#x} is impossible"),
                self.table_off + 8 * c,
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
    fn out_of_memory(&self, requested: u64) -> Error {
        Error::OutOfMemory {
            requested,
            available: self.stats().available,
        }
    }

    /// The header offset, tag and first chunk's table entry of the live
    /// block whose payload starts at `offset`, or why it is not one. For a
    /// huge block the entry is its run's head.
    pub(crate) fn locate(&self, pool: &Pool<'_>, offset: Offset) -> Result<(u64, Tag, Entry)> {
        let off = offset.get();
        let invalid = |reason| Error::InvalidOffset {
            offset: off,
            reason,
        };
        if off < self.pool_off + HEADER || off >= self.pool_end {
            return Err(invalid("not inside this free list's pool"));
        }
        if off % GRANULE != 0 {
            return Err(invalid("not 16-byte aligned, so not a block start"));
        }
        let b = off - HEADER;
        let c = pool.chunk_of(b);
        let e = pool.map.entry(c).map_err(|f| self.corrupt(f.into()))?;
        let tag = Tag::unpack(
            pool.word(b)
                .map_err(|f| self.corrupt(f))?
                .load(Ordering::Relaxed),
        )
        .ok_or_else(|| invalid("not the start of a block"))?;
        let ok = match e.kind() {
            // One table word suffices for a span block: the chunk belongs to
            // the tag's arena, and the size is at most a span (the arena
            // checks every neighbour it touches).
            Kind::SpanHead | Kind::SpanBody => {
                !tag.huge()
                    && tag.owner() == e.owner()
                    && tag.owner() != 0
                    && u64::from(tag.size()) >= MIN_BLOCK
                    && u64::from(tag.size()) << GRANULE_SHIFT <= self.max_span
                    && b + (u64::from(tag.size()) << GRANULE_SHIFT) <= self.pool_end
            }
            Kind::HugeHead => {
                let n = u64::from(e.n());
                if n == 0 || c + n > pool.map.chunks() {
                    return Err(
                        self.corrupt(Fault::Chunk(crate::chunks::Fault::Entry(c, e.pack())))
                    );
                }
                let link = pool
                    .word(b + 8)
                    .map_err(|f| self.corrupt(f))?
                    .load(Ordering::Relaxed);
                tag.huge()
                    && tag.owner() == e.owner()
                    && Link::unpack(link).is_some_and(|l| {
                        pool.chunk_off(c) + (u64::from(l.size) << GRANULE_SHIFT) == off
                    })
            }
            Kind::Free | Kind::Parked => {
                // A block freed with its whole span or run: its tag still
                // says so until the chunks are used again.
                return Err(match tag.state() {
                    State::Free | State::Remote => Error::DoubleFree { offset: off },
                    State::Used => invalid("not inside a live block"),
                });
            }
            Kind::HugeBody => false,
        };
        if !ok {
            return Err(invalid("not the start of a block"));
        }
        match tag.state() {
            State::Used if tag.cached() => Err(Error::DoubleFree { offset: off }),
            State::Used => Ok((b, tag, e)),
            State::Free | State::Remote => Err(Error::DoubleFree { offset: off }),
        }
    }

    /// A block of whole chunks straight from the chunk heap.
    fn alloc_huge(&self, size: u64, align: u64) -> Result<Offset> {
        let pool = self.pool();
        let front = align.max(HEADER);
        let bytes = size.checked_add(front).ok_or(Error::SizeTooLarge {
            size,
            max: self.max_alloc(),
        })?;
        let k = bytes.div_ceil(1 << self.geo.chunk_shift);
        let first = pool
            .map
            .claim(k)
            .or_else(|| {
                // Short of chunks: give back this thread's idle span, then
                // steal every parked span (ours included).
                if let Some(id) = self.current_arena() {
                    // Corruption found here surfaces on the owner's next
                    // operation; this allocation just fails as it would.
                    let _ = self.arena(id).give_back_spare();
                }
                // Likewise: blocks freed into arenas nobody owns.
                let _ = self.tidy_unowned();
                pool.map.steal_parked();
                pool.map.claim(k)
            })
            .ok_or_else(|| self.out_of_memory(size))?;
        pool.count_claim(k);
        // The calling thread's arena (claimed now if need be) owns it, so
        // that a reclaim of this process finds it; 0 only if none was free.
        let owner = self.my_arena().map_or(0, |id| (id + 1) as u16);
        let head = Entry::new(Kind::HugeHead, owner, k as u32);
        let start = pool.chunk_off(first);
        let b = start + front - HEADER;
        let tag = Tag::new(State::Used, true, owner, 0);
        let link = Link {
            prev_free: false,
            size: (front >> GRANULE_SHIFT) as u32,
        };
        let err = |f| self.corrupt(f);
        // Relaxed: the Release of `set_run` (below) publishes them.
        pool.word(b + 8)
            .map_err(err)?
            .store(link.pack(), Ordering::Relaxed);
        pool.word(b)
            .map_err(err)?
            .store(tag.pack(), Ordering::Relaxed);
        pool.map.set_run(first, k, head, Kind::HugeBody);
        let h = &pool.ctl.huge.0;
        // Relaxed: statistics only.
        h.used
            .fetch_add(k << self.geo.chunk_shift, Ordering::Relaxed);
        h.live.fetch_add(1, Ordering::Relaxed);
        Ok(Offset::new(b + HEADER))
    }

    /// Frees the huge block `b` (tag `tag`), whose run starts at the chunk
    /// holding `b` with head entry `head`.
    fn free_huge(&self, pool: &Pool<'_>, b: u64, tag: Tag, head: Entry) -> Result<()> {
        if !cas_state(pool.word(b).map_err(|f| self.corrupt(f))?, tag, State::Free) {
            return Err(Error::DoubleFree { offset: b + HEADER });
        }
        let first = pool.chunk_of(b);
        let k = u64::from(head.n());
        // The run goes back through a CAS of its head: a reclaim of a dead
        // freer's half-done free may race us for it (`rebuild.rs`), and the
        // winner gives the chunks back and counts them.
        if !pool.map.take_run(first, head) {
            return Ok(());
        }
        // Relaxed: statistics only.
        pool.ctl.heap.0.claimed.fetch_sub(k, Ordering::Relaxed);
        let h = &pool.ctl.huge.0;
        // Relaxed: statistics only.
        h.used
            .fetch_sub(k << self.geo.chunk_shift, Ordering::Relaxed);
        h.live.fetch_sub(1, Ordering::Relaxed);
        Ok(())
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
        match self.arena(id).alloc(g, align) {
            Ok(Some(b)) => Ok(Offset::new(b + HEADER)),
            Ok(None) => Err(self.out_of_memory(size)),
            Err(f) => Err(self.corrupt(f)),
        }
    }

    /// Frees a block: [`Error::InvalidOffset`] if `offset` is not a block
    /// start of this free list, [`Error::DoubleFree`] if the block is not
    /// live (or another free of it won a race); nothing changes on error.
    #[inline]
    fn free(&self, offset: Offset) -> Result<()> {
        let pool = self.pool();
        let (b, tag, head) = self.locate(&pool, offset)?;
        if tag.huge() {
            return self.free_huge(&pool, b, tag, head);
        }
        // `locate` checked the owner is nonzero.
        let owner_id = u32::from(tag.owner()) - 1;
        if self.current_arena() == Some(owner_id) {
            return match self.arena_in(pool, owner_id).free_local(b, tag) {
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
        match free_remote(&pool, self.arena_head(owner_id), b, tag) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::DoubleFree {
                offset: offset.get(),
            }),
            Err(f) => Err(self.corrupt(f)),
        }
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
    /// others work may be off by the operations in flight.
    fn stats(&self) -> AllocStats {
        let pool = self.pool();
        let mut used = pool.ctl.huge.0.used.load(Ordering::Relaxed);
        let mut live = pool.ctl.huge.0.live.load(Ordering::Relaxed);
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
            high_water: pool.ctl.heap.0.claimed_peak.load(Ordering::Relaxed)
                << self.geo.chunk_shift,
            allocations: live,
        }
    }
}

impl<S: AsRef<SegmentView>> Drop for FreeList<S> {
    /// Takes in remote frees, gives back the parked spans and releases the
    /// arenas this handle claimed (not in a forked child: they are the
    /// parent's).
    fn drop(&mut self) {
        if std::process::id() != self.attach_pid {
            return;
        }
        let extra = std::mem::take(
            self.extra
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if self.abandoned.load(Ordering::Relaxed) == 0 {
            for id in self.primary.into_iter().chain(extra) {
                self.release_arena(id);
            }
        }
        if let (Some(reg), Ok(table)) = (self.registration, ProcTable::of(self.view())) {
            table.unregister(reg);
        }
    }
}

/// Gives an arena entry back (`owner::release`).
pub(crate) fn release_owner(head: &ArenaHead) {
    crate::owner::release(&head.owner, &head.owner_start);
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
