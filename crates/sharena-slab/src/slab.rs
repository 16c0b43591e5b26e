//! [`Slab`]: the allocator over a validated segment, with this process's
//! cache.

use crate::cache::{Cache, Local};
use crate::layout::{CacheHead, Control, Geometry, SlotCell, FORMAT_WORD, PARAM_MAX_SLOTS};
use crate::stack::{Fault, Shared};
use crate::word::{SlotWord, KIND_MASK};
use shm_layout::sync::{thread_id, AtomicU64, Ordering};
use shm_layout::{
    fork_generation, Adoption, AllocatorKind, Error, Liveness, OwnerId, ProcTable, RegionId,
    Registration, Result, SegmentView, CACHE_LINE, PARAM_NAMES,
};
use std::sync::Mutex;

/// A slab allocator attached to a segment: fixed-size slots, lock-free
/// alloc and free, and a per-attachment cache of free slots.
///
/// Each `Slab` is one *attachment*: [`Slab::attach`] gives it an identity
/// ([`OwnerId`]), an entry of the segment's process table and an entry of
/// the slab's cache registry; `Drop` gives both back. Attach one `Slab` per
/// process (or per thread, for the fastest path in every thread).
///
/// # Who owns a slot, and what happens when a `Slab` goes away
/// A slot belongs to the `Slab` that allocated it until it is freed or
/// shared ([`Recover::share`](shm_layout::Recover::share), or `publish`,
/// which shares). When the attachment ends, its unshared slots are freed:
/// by `Drop` when it runs (a normal return, a panic that unwinds), and
/// otherwise (`std::process::exit`, an abort, SIGKILL) by the next
/// [`reclaim_dead`](shm_layout::Recover::reclaim_dead) once the process is
/// gone. `Drop` runs the very pass a reclaim runs for a dead attachment,
/// with itself as the owner: it returns its cached slots and its unshared
/// live slots to the shared stack and releases its entries. Shared slots
/// outlive every attachment; anyone may free them.
///
/// # Threads
/// A `Slab` is `Send + Sync`. The first thread that allocates or frees
/// through it owns its cache (plain loads and stores, no atomic
/// read-modify-write on the fast path); other threads sharing the same
/// `Slab` bypass the cache and use the shared stack directly (one CAS per
/// free; their allocations take turns through a process-local lock,
/// because a pop records the slot it takes in the one `others` record of
/// the entry, so that a death mid-pop loses nothing). Attach a `Slab` per
/// thread for the fast path everywhere.
///
/// # `fork`
/// A forked child must not use a `Slab` inherited from its parent (the
/// cache entry is the parent's): every operation that would touch it
/// (`alloc`, `free`, [`flush`](Slab::flush), `reclaim_dead`) returns
/// [`Error::Forked`] in the child, and dropping the inherited copy touches
/// nothing in the segment. Attach a new one (the facade's `reattach`).
#[derive(Debug)]
pub struct Slab<S: AsRef<SegmentView>> {
    seg: S,
    pub(crate) geo: Geometry,
    seg_len: u64,
    pub(crate) state_off: u64,
    /// Offset of the first slot word from the segment base.
    pub(crate) slots_off: u64,
    /// Offset of this `Slab`'s registry entry from the segment base.
    entry_off: u64,
    pub(crate) pool_off: u64,
    /// `slot_count * slot_size`.
    pub(crate) pool_used: u64,
    pub(crate) max_align: u64,
    /// `log2(slot_size)` when it is a power of two, else 0.
    pub(crate) shift: u32,
    /// `slot_size - 1`.
    pub(crate) slot_mask: u64,
    /// Refill batch and flush target: half the cache.
    pub(crate) batch: u64,
    /// The claimed registry entry.
    pub(crate) cache_id: u32,
    /// The cache's indices and count: process-local, touched only by the
    /// thread that owns the cache (or under `&mut self`).
    pub(crate) local: Local,
    /// `params[4]` bit 0: the fast path's free also CASes the slot word.
    pub(crate) strict: bool,
    /// `SlotWord::cached(owner, 0)`: what a CACHED word of this cache holds
    /// under `KIND_MASK`.
    pub(crate) cached_word: u64,
    /// `SlotWord::allocated(owner, _, 0)` under `KIND_MASK`.
    pub(crate) live_word: u64,
    /// `fork_gen`, or `u64::MAX` (no fork generation) in a strict slab:
    /// what the free hit compares `fork_generation()` with.
    pub(crate) free_gen: u64,
    /// The thread that owns the cache (0: none yet). Process-local.
    owner_thread: AtomicU64,
    /// This attachment's identity: the holder of its cache entry, of the
    /// entries its reclaims adopt, and of its process-table entry.
    pub(crate) me: OwnerId,
    /// `fork_generation()` when it attached: another value means this is a
    /// fork child's inherited copy.
    pub(crate) fork_gen: u64,
    /// This attachment's process-table entry (None: the segment has no
    /// table).
    registration: Option<Registration>,
    /// Taken by threads other than the cache owner for a pop (they share
    /// the entry's `others` record). Process-local.
    pub(crate) others: Mutex<()>,
    /// Taken by `reclaim_dead` (one pass of this handle at a time: a pass
    /// finishes the entries this handle adopted earlier). Process-local.
    pub(crate) reclaiming: Mutex<()>,
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
    ctl.info.0.format.store(FORMAT_WORD, Ordering::Relaxed);
    Ok(())
}

impl<S: AsRef<SegmentView>> Slab<S> {
    /// The creator's hook; the same as the free function [`init`].
    pub fn init(view: &SegmentView) -> Result<()> {
        init(view)
    }

    /// Attaches to a ready slab segment: validates kind, params and region
    /// lengths, checks that `init` ran, registers in the process table and
    /// claims a cache entry. If every entry is taken, it adopts the entry
    /// of a dead attachment (and frees what that one held, as
    /// `reclaim_dead` would); if every holder lives,
    /// [`Error::ProcessTableFull`] with the registry's size as `capacity`
    /// (every attachment needs an entry, so that everything it allocates
    /// has an owner).
    pub fn attach(seg: S) -> Result<Self> {
        let view = seg.as_ref();
        let (geo, pool_off) = geometry(view)?;
        let state_off = view.region(RegionId::State).offset;
        // SAFETY: as in `init`.
        let ctl = unsafe { control_at(view, state_off) };
        let format = ctl.info.0.format.load(Ordering::Relaxed);
        if format != FORMAT_WORD {
            let why = if format & 0xFFFF_FFFF == FORMAT_WORD & 0xFFFF_FFFF {
                // "SLAB" with another format number: another build's.
                format!("format {} (this build reads format 2 only)", format >> 32)
            } else {
                "the slab was never initialised".to_string()
            };
            return Err(Error::Corrupt {
                segment: view.name().to_string(),
                what: format!("slab format word is {format:#x}: {why}"),
                at: state_off + 256 + 16,
            });
        }
        let me = OwnerId::attach();
        let fork_gen = fork_generation();
        let table = ProcTable::of(view)?;
        let registration = table.register(me)?;
        // The claim's orderings: `OwnerSlot::claim` (its Acquire pairs with
        // the Release of the last holder's release, so the entry's zeroed
        // count and records are visible).
        let entry_len = Geometry::entry_len(geo.cache_cap);
        let claimed = (0..geo.caches as u32).find(|&id| {
            let off = state_off + Geometry::REGISTRY_OFFSET + u64::from(id) * entry_len;
            // SAFETY: entry `id` < caches lies inside the state region
            // (`geometry` checked its length and alignment), 128-aligned;
            // all-atomic fields; `seg` keeps the mapping alive.
            let head = unsafe { &*view.base().as_ptr().add(off as usize).cast::<CacheHead>() };
            head.owner.claim(me)
        });
        let (cache_id, adopted) = if let Some(id) = claimed {
            (id, false)
        } else if let Some(id) = Self::adopt_one(view, state_off, &geo, me) {
            (id, true)
        } else {
            if let Some(reg) = registration {
                table.unregister(reg);
            }
            return Err(Error::ProcessTableFull {
                segment: view.name().to_string(),
                capacity: geo.caches,
            });
        };
        let ss = geo.slot_size;
        let slab = Slab {
            seg_len: view.len(),
            geo,
            state_off,
            slots_off: state_off + Geometry::slots_offset(geo.caches, geo.cache_cap),
            entry_off: state_off + Geometry::REGISTRY_OFFSET + u64::from(cache_id) * entry_len,
            pool_off,
            pool_used: geo.slot_count * ss,
            max_align: geo.max_align(pool_off),
            slot_mask: ss - 1,
            shift: if ss.is_power_of_two() {
                ss.trailing_zeros()
            } else {
                0
            },
            batch: (geo.cache_cap / 2).clamp(1, crate::cache::MAX_BATCH as u64),
            cache_id,
            local: Local::new(geo.cache_cap),
            strict: geo.strict_free,
            cached_word: SlotWord::cached((cache_id + 1) as u16, 0).pack(),
            live_word: SlotWord::allocated((cache_id + 1) as u16, 0, 0).pack() & KIND_MASK,
            free_gen: if geo.strict_free { u64::MAX } else { fork_gen },
            owner_thread: AtomicU64::new(0),
            me,
            fork_gen,
            registration,
            others: Mutex::new(()),
            reclaiming: Mutex::new(()),
            seg,
        };
        if adopted {
            slab.take_over()?;
        }
        Ok(slab)
    }

    /// Adopts the entry of a dead attachment (every entry is taken), so
    /// that dead attachments never lock new ones out (nor, with them, the
    /// `reclaim_dead` that would free them). `None` if every holder lives.
    fn adopt_one(view: &SegmentView, state_off: u64, geo: &Geometry, me: OwnerId) -> Option<u32> {
        let mut live = Liveness::new(me);
        let entry_len = Geometry::entry_len(geo.cache_cap);
        (0..geo.caches as u32).find(|&id| {
            let off = state_off + Geometry::REGISTRY_OFFSET + u64::from(id) * entry_len;
            // SAFETY: as for the claim in `attach`.
            let head = unsafe { &*view.base().as_ptr().add(off as usize).cast::<CacheHead>() };
            // The adoption's orderings: `OwnerSlot::adopt_if`.
            matches!(
                head.owner.adopt_if_dead(me, &mut live),
                Adoption::Adopted(_)
            )
        })
    }

    /// Sweeps the entry `adopt_one` took (the reclaim pass, keeping the
    /// entry), until a stack walk finishes. A stack that cannot be walked
    /// 16 times over is corrupt (or churns without end): an error, and the
    /// `Slab` being dropped releases the entry (FREE slots the dead holder
    /// may have left off that stack are not found).
    fn take_over(&self) -> Result<()> {
        for _ in 0..16 {
            if self.sweep(&[], crate::sweep::Own::Adopted).walked {
                return Ok(());
            }
            std::thread::yield_now();
        }
        Err(Error::Corrupt {
            segment: self.view().name().to_string(),
            what: "the free stack could not be walked (a cycle, or churn without end)".into(),
            at: self.state_off,
        })
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

    /// The cache registry entry this `Slab` holds.
    pub fn cache_id(&self) -> u32 {
        self.cache_id
    }

    /// This attachment's identity (the holder word of its cache entry).
    pub fn owner_id(&self) -> OwnerId {
        self.me
    }

    /// The geometry (slot size and count, registry shape).
    pub fn geometry(&self) -> Geometry {
        self.geo
    }

    /// Moves every slot of this `Slab`'s cache back to the shared stack (so
    /// other processes and threads can allocate them) and lets the next
    /// thread to use this `Slab` own its cache. Needs `&mut`, so no thread
    /// is using the cache meanwhile.
    /// [`Error::Forked`] in a fork child.
    pub fn flush(&mut self) -> Result<()> {
        self.not_forked()?;
        let base = self.base();
        self.own_cache(base)
            .flush(&self.shared_at(base), 0)
            .map_err(|f| self.corrupt(f))?;
        self.owner_thread.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// `Err(Forked)` if this is a fork child's inherited copy: one Relaxed
    /// load of a process-local word.
    #[inline(always)]
    pub(crate) fn not_forked(&self) -> Result<()> {
        if fork_generation() == self.fork_gen {
            Ok(())
        } else {
            Err(self.forked())
        }
    }

    #[cold]
    #[inline(never)]
    fn forked(&self) -> Error {
        Error::Forked {
            segment: self.view().name().to_string(),
            attached_by: self.me.pid(),
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
        // SAFETY: see above.
        let slots = unsafe {
            std::slice::from_raw_parts(
                base.add(self.slots_off as usize).cast::<SlotCell>(),
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

    /// This `Slab`'s own cache: its entry's head line in the segment and
    /// the process-local array. Only the thread that owns the cache (or a
    /// caller holding `&mut self`, or a sweep that only uses the head) may
    /// use it.
    #[inline(always)]
    pub(crate) fn own_cache(&self, base: *mut u8) -> Cache<'_> {
        // SAFETY: the claimed entry lies inside the state region (checked
        // in `geometry`), 128-aligned; all-atomic fields; `base` is this
        // view's base (`base()`) and `self.seg` keeps the mapping alive.
        let head = unsafe { &*base.add(self.entry_off as usize).cast::<CacheHead>() };
        Cache::new(head, &self.local, self.cache_id)
    }

    /// The owner id stamped into slot words by this `Slab`.
    #[inline(always)]
    pub(crate) fn owner(&self) -> u16 {
        (self.cache_id + 1) as u16
    }

    /// The cache, if the calling thread owns it (claiming it if unowned).
    #[inline(always)]
    pub(crate) fn my_cache(&self, base: *mut u8) -> Option<Cache<'_>> {
        self.owns_cache().then(|| self.own_cache(base))
    }

    /// Whether the calling thread owns the cache (claiming it if unowned).
    #[inline(always)]
    pub(crate) fn owns_cache(&self) -> bool {
        let me = thread_id();
        let owner = self.owner_thread.load(Ordering::Relaxed);
        owner == me || (owner == 0 && self.claim_cache(me))
    }

    #[cold]
    #[inline(never)]
    fn claim_cache(&self, me: u64) -> bool {
        // AcqRel claim: orders the claim before the first use; only one
        // thread ever wins, and thread ids are never reused.
        self.owner_thread
            .compare_exchange(0, me, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// The state word of slot `index` in the mapping at `base`.
    ///
    /// # Safety
    /// `base` is this view's base (from `base()`) and `index` is below the
    /// slot count.
    #[inline(always)]
    pub(crate) unsafe fn slot_word(&self, base: *mut u8, index: u32) -> &AtomicU64 {
        debug_assert!(u64::from(index) < self.geo.slot_count);
        // SAFETY: `index` < slot_count (the caller's contract), and `fit`
        // bounded slot_count by the state region, so the word lies inside
        // it, 8-aligned (see `shared_at`); atomic for every process by
        // format; `self.seg` keeps the mapping alive for `&self`.
        unsafe {
            &*base
                .add((self.slots_off + 8 * u64::from(index)) as usize)
                .cast::<AtomicU64>()
        }
    }

    pub(crate) fn corrupt(&self, f: Fault) -> Error {
        let slots = self.slots_off;
        let (what, at) = match f {
            Fault::Head(i) => (format!("free-stack head names slot {i}"), self.state_off),
            Fault::Counter(c) => (
                format!("never-used counter is {c}"),
                self.state_off + CACHE_LINE,
            ),
            Fault::Slot(i, why) => (format!("slot {i}: {why}"), slots + 8 * u64::from(i)),
            Fault::CacheIndex(id, i) => (format!("cache {id} names slot {i}"), self.entry_off(id)),
        };
        Error::Corrupt {
            segment: self.view().name().to_string(),
            what: format!("{what} (the slab has {} slots)", self.geo.slot_count),
            at,
        }
    }
}

impl<S: AsRef<SegmentView>> Drop for Slab<S> {
    /// Ends the attachment (see the type's docs): frees its unshared live
    /// slots and returns its cached ones to the shared stack, releases its
    /// cache entry (and any entry an unfinished reclaim of it holds) and its
    /// process-table entry. In a fork child's inherited copy, nothing.
    fn drop(&mut self) {
        if fork_generation() != self.fork_gen {
            return;
        }
        self.leave();
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
pub(crate) unsafe fn control_at(view: &SegmentView, offset: u64) -> &Control {
    // SAFETY: bounds and alignment are the caller's contract (the base is
    // 128-aligned by the view's contract); `Control` is all atomics, which
    // the format makes atomic for every process; the view keeps the mapping
    // alive for the returned lifetime.
    unsafe { &*view.base().as_ptr().add(offset as usize).cast::<Control>() }
}
