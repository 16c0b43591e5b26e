//! [`Bump`]: the allocator handle, its constructors and its allocation paths.

use crate::block::{self, HEADER_LEN, MAX_BLOCK};
use crate::local::{Registry, Slot};
use crate::state::{
    lane_tag, BumpState, Fault, Lane, Snapshot, GRAIN, LANE_CHUNK, LANE_LARGE, OFF_CAPACITY,
    OFF_MAGIC, RECORDS, STATE_LEN, STATE_MAGIC,
};
use shm_layout::sync::Ordering;
use shm_layout::{
    fork_generation, AllocStats, AllocatorKind, Error, Offset, OwnerId, ProcTable, RegionId,
    Registration, Result, SegmentView, ShmAllocator, CACHE_LINE,
};
use std::hash::{BuildHasher, Hasher};
use std::ptr::NonNull;

/// The chunk size a segment gets when `params[0]` is 0: 64 KiB.
pub const DEFAULT_CHUNK: u64 = 64 * 1024;
/// The smallest chunk size `params[0]` may name.
pub const MIN_CHUNK: u64 = 64;
/// The largest chunk size `params[0]` may name (1 GiB).
pub const MAX_CHUNK: u64 = 1 << 30;
/// Byte offset of the header's `params` words (docs/FORMAT.md).
const PARAMS_AT: u64 = 0x68;
/// A chunk is at most this fraction of the pool, so that on a small pool
/// every thread and process gets memory until the pool is really full.
const POOL_SHARE: u64 = 64;

/// The chunk size a pool of `capacity` bytes gets from `params[0]`'s
/// `chunk`: at most a 64th of the pool (rounded down to 8), never below
/// [`MIN_CHUNK`].
fn fair_chunk(chunk: u64, capacity: u64) -> u64 {
    chunk.min(((capacity / POOL_SHARE) & !(GRAIN - 1)).max(MIN_CHUNK))
}

/// A bump allocator over a shared-memory segment of kind
/// [`AllocatorKind::Bump`].
///
/// `S` is whatever owns the mapping: `sharena::Segment` in the facade, or
/// any type that hands out a [`SegmentView`]. The handle is `Send + Sync`
/// when `S` is; each thread that allocates through it gets its own chunk
/// (see the crate docs' *Implementation* section).
///
/// # How an attachment ends
/// Bump blocks are never freed one by one, so every block belongs to the
/// segment from the moment it is allocated (`share` accepts any live
/// block): a process that leaves takes no block with it, whichever way it
/// leaves. Each thread's current reservation (its chunk, and a large block
/// beside it) is recorded in the segment, and one rule settles it on every
/// exit: its unused tail becomes a filler block (bytes nobody holds,
/// counted like a block) and the record goes back. A normal return or an
/// unwinding panic runs `Drop`, which does that for this handle's threads,
/// publishes their unflushed allocation counts and gives the process-table
/// entry back; `std::process::exit`, an abort or SIGKILL skip `Drop`, and
/// the next [`reclaim_dead`](shm_layout::Recover::reclaim_dead) does the
/// same for the dead attachment. Either way the blocks (fillers included)
/// stay until [`reset`](Self::reset) or [`rewind`](Self::rewind), and the
/// bytes in use are exactly the blocks' plus what live threads hold.
///
/// # fork without reattach
/// A handle records `fork_generation()` when it attaches. In a forked
/// child the inherited handle refuses every operation that would act for
/// the parent's attachment (`alloc`, `reset`, `mark`, `rewind`,
/// `reclaim_dead`) with [`Error::Forked`] (its chunk is the parent's: two
/// processes carving it would hand out the same bytes), and its `Drop`
/// touches nothing; the child attaches again.
pub struct Bump<S: AsRef<SegmentView>> {
    pub(crate) seg: S,
    /// Segment-relative offset of the state region.
    pub(crate) state_off: u64,
    /// Segment-relative start and end of the pool.
    pub(crate) pool_off: u64,
    pub(crate) pool_end: u64,
    /// The pool's length (the validated header's, never the state's word).
    pub(crate) capacity: u64,
    /// Bytes a thread reserves at once.
    pub(crate) chunk: u64,
    pub(crate) salt: u64,
    /// The view must cover this many bytes (state and pool).
    limit: u64,
    pub(crate) local: Registry,
    /// The process that attached (for `Error::Forked`).
    attach_pid: u32,
    /// `fork_generation()` at attach: a handle whose process forked since
    /// is the parent's attachment, inherited; it refuses every operation
    /// with [`Error::Forked`] and its `Drop` touches nothing.
    fork_gen: u64,
    /// This attachment's process-table entry (None: the segment has no
    /// table).
    registration: Option<Registration>,
    /// The identity this attachment's reservation records carry (the
    /// process-table entry's, when there is one).
    pub(crate) owner: OwnerId,
}

impl<S: AsRef<SegmentView>> Drop for Bump<S> {
    /// Publishes the allocation counts this handle's threads have not yet
    /// flushed (they are otherwise published at the next chunk reservation),
    /// so `stats()` in other processes adds up after this one is gone.
    fn drop(&mut self) {
        if fork_generation() != self.fork_gen {
            return;
        }
        if let Ok((view, st)) = self.parts() {
            let snap = st.snapshot(self.capacity).ok();
            self.local.for_each(|slot| {
                let n = Slot::get(&slot.count);
                if n > 0 {
                    st.flush_allocations(Slot::get(&slot.generation), n);
                    Slot::set(&slot.count, 0);
                }
                // The same rule as a reclaim after any other exit: the
                // chunk's unused tail becomes a filler block, the record
                // goes back.
                if let Some(i) = Slot::get(&slot.record).checked_sub(1) {
                    if let (Some(snap), Ok(i)) = (snap, usize::try_from(i)) {
                        let _ = self.settle_record(view, st, i, &snap);
                    }
                    if let Some(r) = usize::try_from(i).ok().and_then(|i| st.record(i)) {
                        r.owner().release(self.owner);
                    }
                    Slot::set(&slot.record, 0);
                }
            });
            if let (Some(reg), Ok(table)) = (self.registration, ProcTable::of(view)) {
                table.unregister(reg);
            }
        }
    }
}

impl<S: AsRef<SegmentView>> std::fmt::Debug for Bump<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bump")
            .field("segment", &self.seg.as_ref().name())
            .field("pool_off", &self.pool_off)
            .field("capacity", &self.capacity)
            .field("chunk", &self.chunk)
            .finish_non_exhaustive()
    }
}

/// The chunk size `params[0]` names, or why it is refused.
fn chunk_param(view: &SegmentView) -> std::result::Result<u64, String> {
    match view.header().params[0] {
        0 => Ok(DEFAULT_CHUNK),
        c if (MIN_CHUNK..=MAX_CHUNK).contains(&c) && c % GRAIN == 0 => Ok(c),
        c => Err(format!(
            "params[0] (chunk size) is {c}; expected 0 or a multiple of 8 in {MIN_CHUNK}..={MAX_CHUNK}"
        )),
    }
}

/// The state region as a `BumpState`, after checking its length and
/// alignment.
fn state_of(view: &SegmentView) -> std::result::Result<&BumpState, (String, u64)> {
    let r = view.region(RegionId::State);
    if r.len < STATE_LEN || r.offset % CACHE_LINE != 0 {
        return Err((
            format!(
                "the state region ({} bytes at {}) must hold {STATE_LEN} bytes at a multiple of {CACHE_LINE}",
                r.len, r.offset
            ),
            r.offset,
        ));
    }
    let p = view
        .ptr_in(RegionId::State, Offset::new(r.offset), STATE_LEN)
        .map_err(|e| (e.to_string(), r.offset))?;
    // SAFETY: `p` covers STATE_LEN = size_of::<BumpState>() bytes inside the
    // mapping (checked by `ptr_in`) and is 128-byte aligned (the region
    // offset is a multiple of CACHE_LINE and the base is 128-aligned);
    // `BumpState` is `repr(C)` and made of `AtomicU64`s only, whose layout
    // is `u64`'s, so any bytes are a valid value and concurrent writes by
    // other processes are atomic accesses; the format makes these words
    // atomics for every process; the reference lives no longer than `view`.
    Ok(unsafe { &*p.as_ptr().cast::<BumpState>() })
}

#[cold]
fn view_changed() -> Error {
    Error::Unsupported {
        op: "allocating through a view shorter than the one attached",
        by: "the bump allocator",
    }
}

fn salt_for(view: &SegmentView) -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(view.header().created_unix_ns);
    h.write_u32(view.header().creator_pid);
    h.write_usize(view.base().as_ptr() as usize);
    h.finish()
}

impl<S: AsRef<SegmentView>> Bump<S> {
    /// Bytes the state region needs (`LayoutSpec::state_len`).
    pub const fn state_len() -> u64 {
        STATE_LEN
    }

    /// The creator's hook, run before READY: writes the initial state.
    ///
    /// Fails with [`Error::InvalidSize`] if the state region is too short or
    /// misaligned or `params[0]` is not a valid chunk size.
    pub fn init(view: &SegmentView) -> Result<()> {
        let invalid = |reason: String| Error::InvalidSize {
            segment: view.name().to_string(),
            size: view.len(),
            reason,
        };
        if view.kind() != AllocatorKind::Bump {
            return Err(invalid(format!(
                "the segment's kind is {}, not bump",
                view.kind()
            )));
        }
        chunk_param(view).map_err(invalid)?;
        let state = state_of(view).map_err(|(what, _)| invalid(what))?;
        state.init(view.region(RegionId::Pool).len, salt_for(view));
        Ok(())
    }

    /// Attaches to an initialised bump segment.
    ///
    /// Checks the kind ([`Error::KindMismatch`]), then the state: region
    /// length and alignment, magic, capacity and the control words, each
    /// failure an [`Error::Corrupt`] that names the word.
    pub fn attach(seg: S) -> Result<Self> {
        let view = seg.as_ref();
        let corrupt = |what: String, at: u64| Error::Corrupt {
            segment: view.name().to_string(),
            what,
            at,
        };
        if view.kind() != AllocatorKind::Bump {
            return Err(Error::KindMismatch {
                segment: view.name().to_string(),
                found: view.kind(),
                expected: AllocatorKind::Bump,
            });
        }
        let chunk = chunk_param(view).map_err(|w| corrupt(w, PARAMS_AT))?;
        let state = state_of(view).map_err(|(w, at)| corrupt(w, at))?;
        let state_off = view.region(RegionId::State).offset;
        let pool = view.region(RegionId::Pool);
        let chunk = fair_chunk(chunk, pool.len);
        if state.magic() != STATE_MAGIC {
            return Err(corrupt(
                format!("the bump state's magic is {:#018x}", state.magic()),
                state_off + OFF_MAGIC,
            ));
        }
        if state.capacity() != pool.len {
            return Err(corrupt(
                format!(
                    "the bump state's capacity is {}, but the pool holds {} bytes",
                    state.capacity(),
                    pool.len
                ),
                state_off + OFF_CAPACITY,
            ));
        }
        let salt = state.salt();
        let registration = ProcTable::of(view)?.register(OwnerId::attach())?;
        let owner = registration.map_or_else(OwnerId::attach, |r| r.id);
        let bump = Bump {
            state_off,
            pool_off: pool.offset,
            pool_end: pool.offset + pool.len,
            capacity: pool.len,
            chunk,
            salt,
            limit: (pool.offset + pool.len).max(state_off + STATE_LEN),
            local: Registry::new(),
            attach_pid: std::process::id(),
            fork_gen: fork_generation(),
            registration,
            owner,
            seg,
        };
        // On error `bump` is dropped, which gives the table entry back.
        let (_, st) = bump.parts()?;
        st.snapshot(bump.capacity).map_err(|f| bump.fault(f, 0))?;
        Ok(bump)
    }

    /// The segment this allocator lives in.
    pub fn segment(&self) -> &S {
        &self.seg
    }

    /// Bytes a thread reserves from the shared cursor at once: `params[0]`
    /// (64 KiB by default), but at most a 64th of the pool (and at least
    /// [`MIN_CHUNK`]), so that on a small pool no reservation takes more
    /// than a small share: every thread and process gets memory until the
    /// pool is really full.
    pub fn chunk_size(&self) -> u64 {
        self.chunk
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
    #[inline(never)]
    fn forked(&self) -> Error {
        Error::Forked {
            segment: self.seg.as_ref().name().to_string(),
            attached_by: self.attach_pid,
        }
    }

    /// The view and the state, checked to still cover what `attach`
    /// validated (an `S` could hand out another view later). An `Option`,
    /// not a `Result`, so that the fast path builds no error value.
    #[inline(always)]
    fn try_parts(&self) -> Option<(&SegmentView, &BumpState)> {
        let view = self.seg.as_ref();
        if view.len() < self.limit {
            return None;
        }
        // SAFETY: `attach` checked (through `state_of`) that the state
        // region holds a 128-aligned `BumpState` at `state_off`; the view
        // still covers `limit >= state_off + STATE_LEN` bytes (checked
        // above); see `state_of` for why the cast is sound.
        let st = unsafe { &*view.base().as_ptr().add(self.state_off as usize).cast() };
        Some((view, st))
    }

    /// As `try_parts`, with the error a caller sees.
    pub(crate) fn parts(&self) -> Result<(&SegmentView, &BumpState)> {
        self.try_parts().ok_or_else(view_changed)
    }

    /// Turns a state fault into the error a caller sees.
    pub(crate) fn fault(&self, f: Fault, requested: u64) -> Error {
        let segment = self.seg.as_ref().name().to_string();
        match f {
            Fault::Corrupt { what, word } => Error::Corrupt {
                segment,
                what: what.to_string(),
                at: self.state_off + word,
            },
            Fault::Contended => Error::Corrupt {
                segment,
                what: format!(
                    "the bump state kept changing for {} attempts",
                    crate::state::MAX_RETRIES
                ),
                at: self.state_off,
            },
            Fault::Exhausted { available } => Error::OutOfMemory {
                requested,
                available,
            },
            Fault::WrongGeneration { current } | Fault::MarkReleased { current } => Error::Stale {
                offset: requested,
                generation: current,
                current,
            },
        }
    }

    /// Writes the header of the block `start..start + size8` (inside the
    /// pool: the caller reserved it), whose allocation asked for `slack`
    /// bytes fewer.
    #[inline(always)]
    fn write_header(&self, base: NonNull<u8>, start: u64, size8: u64, generation: u64, slack: u64) {
        debug_assert!(start >= self.pool_off + HEADER_LEN && start + size8 <= self.pool_end);
        let word = block::encode(self.salt, start, size8, generation, slack);
        // SAFETY: `start - 8 .. start` lies in the pool (the caller reserved
        // `start - 8 .. start + size8` from it), which `parts` checked the
        // view still maps; it is 8-aligned (start is, and the base is
        // 128-aligned); header words are accessed atomically by every
        // process (docs/FORMAT.md, "Bump segments").
        let w = unsafe {
            shm_layout::sync::atomic_u64_at(base.as_ptr().add((start - HEADER_LEN) as usize).cast())
        };
        // Relaxed: the offset is published by the caller (returning it, or
        // a directory publish with its own Release); `usable_size` in a
        // thread that received it reads this word after that.
        w.store(word, Ordering::Relaxed);
    }

    /// The fast path: carve from this thread's chunk, no shared write.
    #[inline(always)]
    fn alloc_local(
        &self,
        view: &SegmentView,
        st: &BumpState,
        slot: &Slot,
        size8: u64,
        slack: u64,
        align: u64,
    ) -> Option<Offset> {
        if Slot::get(&slot.epoch) != st.epoch_relaxed() {
            return None;
        }
        let (start, end) = block::carve(Slot::get(&slot.cur), size8, align)?;
        if end > Slot::get(&slot.end) {
            return None;
        }
        self.write_header(
            view.base(),
            start,
            size8,
            Slot::get(&slot.generation),
            slack,
        );
        Slot::set(&slot.cur, end);
        Slot::set(&slot.count, Slot::get(&slot.count) + 1);
        Some(Offset::new(start))
    }

    /// The slow path: one CAS on the shared cursor reserves a new chunk,
    /// extends this thread's chunk, or (for large blocks) the block itself.
    #[cold]
    #[inline(never)]
    fn alloc_shared(&self, size: u64, size8: u64, align: u64) -> Result<Offset> {
        // A chunk reserved here can be retired by a transition before the
        // block is carved from it; then go again, a bounded number of times.
        for _ in 0..64 {
            if let Some(at) = self.alloc_shared_once(size, size8, align)? {
                return Ok(at);
            }
        }
        Err(self.fault(Fault::Contended, size))
    }

    fn alloc_shared_once(&self, size: u64, size8: u64, align: u64) -> Result<Option<Offset>> {
        self.not_forked()?;
        let (view, st) = self.parts()?;
        let slot = self.local.current();
        let record = slot.and_then(|s| self.record_of(st, s));
        let lane = |l: usize| -> Option<(u64, &Lane)> {
            let r = record?;
            Some((lane_tag(r, l), st.record(r)?.lane(l)))
        };
        let large = HEADER_LEN + size8 + (align - GRAIN) > self.chunk / 2;
        let (pool, cap, chunk) = (self.pool_off, self.capacity, self.chunk);
        // Pool-relative (cur, end) of this thread's chunk, if it is of
        // `epoch`.
        let mine = |epoch: u64| {
            let (c, e) = slot?.chunk_in(epoch)?;
            Some((c - pool, e - pool))
        };
        // Which lane records the reservation: the chunk's (a new chunk, or
        // the chunk extended), or the large lane for a large block beside
        // the chunk. Decided on a first snapshot; if the plan sees another
        // case, this round ends and the caller goes again.
        let first = st.snapshot(cap).map_err(|f| self.fault(f, size))?;
        let contiguous_first = mine(first.epoch).is_some_and(|(_, e)| e == first.cursor);
        let beside = large && !contiguous_first;
        let mut contiguous = false;
        let mut replan = false;
        let reserved = st.reserve(
            cap,
            lane(if beside { LANE_LARGE } else { LANE_CHUNK }),
            |snap| {
                let m = mine(snap.epoch);
                contiguous = m.is_some_and(|(_, e)| e == snap.cursor);
                if contiguous != contiguous_first {
                    replan = true;
                    return Err(Fault::Contended);
                }
                let spare = m.map_or(0, |(c, e)| e - c);
                // Where the block goes, and where the lane's record starts:
                // a chunk extended is recorded from where it is carved to.
                let from = match m {
                    Some((c, _)) if contiguous => c,
                    _ => snap.cursor,
                };
                let available = cap - snap.cursor + spare;
                let exhausted = Fault::Exhausted { available };
                let (_, end) = block::carve(pool + from, size8, align).ok_or(exhausted)?;
                let end = end - pool;
                if end > cap {
                    return Err(exhausted);
                }
                if !contiguous && !large {
                    // This thread leaves its chunk for a new one: account
                    // for the old chunk's tail first (its lane forgets it).
                    if let Some(s) = slot {
                        self.retire_chunk(view, s, snap);
                    }
                }
                Ok((
                    if large {
                        end
                    } else {
                        end.max((snap.cursor + chunk).min(cap))
                    },
                    from,
                ))
            },
        );
        let (snap, new) = match reserved {
            Ok(r) => r,
            Err(_) if replan => return Ok(None),
            Err(f) => return Err(self.fault(f, size)),
        };
        match slot {
            Some(slot) if contiguous => Slot::set(&slot.end, pool + new),
            Some(slot) if !large => {
                st.flush_allocations(Slot::get(&slot.generation), Slot::get(&slot.count));
                Slot::set(&slot.count, 0);
                Slot::set(&slot.generation, snap.generation);
                Slot::set(&slot.cur, pool + snap.cursor);
                Slot::set(&slot.end, pool + new);
                Slot::set(&slot.epoch, snap.epoch);
            }
            _ => {
                // A large block beside this thread's chunk, or no slot (the
                // thread is exiting): the block is the whole reservation.
                let (start, end) = block::carve(pool + snap.cursor, size8, align)
                    .ok_or_else(|| self.fault(Fault::Exhausted { available: 0 }, size))?;
                debug_assert_eq!(end, pool + new);
                self.write_header(view.base(), start, size8, snap.generation, size8 - size);
                st.flush_allocations(snap.generation, 1);
                return Ok(Some(Offset::new(start)));
            }
        }
        let slot = slot.ok_or_else(|| self.fault(Fault::Exhausted { available: 0 }, size))?;
        // The chunk now holds the block (the plan made sure of it), unless
        // a transition retired it between the CAS and here (`None`).
        Ok(self.alloc_local(view, st, slot, size8, size8 - size, align))
    }

    /// This thread's reservation record: the one it claimed, or a free one
    /// claimed now. `None` when every record is taken: the thread then
    /// reserves without a record (docs/RECOVERY.md says what that leaves).
    pub(crate) fn record_of(&self, st: &BumpState, slot: &Slot) -> Option<usize> {
        if let Some(r) = Slot::get(&slot.record).checked_sub(1) {
            return usize::try_from(r).ok();
        }
        for i in 0..RECORDS {
            if st.record(i)?.owner().claim(self.owner) {
                Slot::set(&slot.record, i as u64 + 1);
                return Some(i);
            }
        }
        None
    }

    /// Accounts for this thread's chunk before it takes another: if the
    /// chunk is of the generation of `snap` (below the cursor, released by
    /// nobody), its unused tail becomes a filler block.
    fn retire_chunk(&self, view: &SegmentView, slot: &Slot, snap: &Snapshot) {
        let (cur, end) = (Slot::get(&slot.cur), Slot::get(&slot.end));
        if Slot::get(&slot.generation) == snap.generation
            && cur < end
            && end <= self.pool_off + snap.cursor
        {
            self.fill(view.base(), cur, end, snap.generation);
        }
        Slot::set(&slot.cur, end);
    }

    /// Turns the unused bytes `from..end` (segment-relative, inside the
    /// pool, multiples of 8) of a reservation of `generation` into filler
    /// blocks that nobody holds: `check` counts them, so the bytes in use
    /// still equal the blocks. Bounded: a reservation spans at most
    /// `MAX_BLOCK` + one header and the largest alignment, so two fillers.
    pub(crate) fn fill(&self, base: NonNull<u8>, from: u64, end: u64, generation: u64) {
        let mut at = from;
        for _ in 0..4 {
            let left = end.saturating_sub(at);
            if left < HEADER_LEN {
                break;
            }
            let len = (left - HEADER_LEN).min(MAX_BLOCK);
            self.write_header(base, at + HEADER_LEN, len, generation, 0);
            at += HEADER_LEN + len;
        }
    }

    /// Accounts for what record `i` holds and empties its lanes (its owner
    /// is this attachment stopping, or a dead one a reclaim adopted).
    /// Returns the bytes turned into fillers.
    ///
    /// Each lane resolves to a region (`Lane::resolve`). A region of the
    /// current generation is below the cursor and nobody else's; one of
    /// the generation before, if that generation ended with a rewind, keeps
    /// its bytes below the rewind's floor; anything older was released.
    /// The region is walked from its start along the headers of its
    /// generation to the end of its last block, and the rest becomes a
    /// filler. Every step is idempotent (a filler is a block the next walk
    /// follows), so a caller killed anywhere leaves work the next reclaim
    /// finishes.
    pub(crate) fn settle_record(
        &self,
        view: &SegmentView,
        st: &BumpState,
        i: usize,
        snap: &Snapshot,
    ) -> Result<u64> {
        const LO: u64 = (1 << crate::words::FLOOR_TAG_BITS) - 1;
        let Some(rec) = st.record(i) else {
            return Ok(0);
        };
        let mut bytes = 0u64;
        for l in [LANE_CHUNK, LANE_LARGE] {
            let lane = rec.lane(l);
            let region = lane
                .resolve(snap.head, self.capacity)
                .map_err(|f| self.fault(f, 0))?;
            if let Some(r) = region {
                let g = snap.generation;
                let valid = if r.gen_lo == g & LO {
                    Some((g, r.end.min(snap.cursor)))
                } else if g > snap.reset_generation && r.gen_lo == g.wrapping_sub(1) & LO {
                    Some((g - 1, r.end.min(snap.floor)))
                } else {
                    None
                };
                if let Some((generation, end)) = valid {
                    if r.start < end {
                        let (from, to) = (self.pool_off + r.start, self.pool_off + end);
                        let t = self.walk(view, from, to, generation)?;
                        self.fill(view.base(), t, to, generation);
                        bytes = bytes.saturating_add(to - t);
                    }
                }
            }
            lane.clear();
        }
        Ok(bytes)
    }

    /// The end of the last block of `generation` in `from..to`
    /// (segment-relative, inside the pool): headers are followed, other
    /// words (alignment padding, or nothing written yet) skipped 8 bytes
    /// at a time. A block's header lies less than `MAX_ALIGN` bytes past
    /// the end of the block before it (its alignment padding), so the walk
    /// stops once it has skipped that far: it reads at most one word per
    /// block plus `MAX_ALIGN / 8`, however long the region.
    fn walk(&self, view: &SegmentView, from: u64, to: u64, generation: u64) -> Result<u64> {
        let g32 = block::gen_tag(generation);
        let (mut pos, mut last) = (from, from);
        while pos + HEADER_LEN <= to && pos - last < crate::MAX_ALIGN {
            // Relaxed: the region's owner has stopped (dead, or the caller);
            // its header stores were made before that, and a dead process's
            // stores are all visible once its death is known (the Acquire of
            // the adopted owner word orders them).
            let word = view.atomic_u64(Offset::new(pos))?.load(Ordering::Relaxed);
            let (len, g) = block::decode(self.salt, pos + HEADER_LEN, word);
            if g == g32 && len <= to - pos - HEADER_LEN {
                pos += HEADER_LEN + len;
                last = pos;
            } else {
                pos += GRAIN;
            }
        }
        Ok(last)
    }
}

impl<S: AsRef<SegmentView>> ShmAllocator for Bump<S> {
    fn view(&self) -> &SegmentView {
        self.seg.as_ref()
    }

    /// Allocates `size` bytes aligned to `align` (a power of two up to
    /// [`MAX_ALIGN`](crate::MAX_ALIGN)); the offset is aligned relative to
    /// the segment base, and so in memory wherever the base is page-aligned.
    #[inline]
    fn alloc_aligned(&self, size: u64, align: u64) -> Result<Offset> {
        let Some((size8, align)) = block::request(size, align) else {
            return Err(block::request_error(size, align));
        };
        // One Relaxed load of a process-local word: a fork child's inherited
        // handle must not carve its parent's chunk (the slow path refuses it).
        if fork_generation() == self.fork_gen {
            if let (Some((view, st)), Some(slot)) = (self.try_parts(), self.local.current()) {
                if let Some(at) = self.alloc_local(view, st, slot, size8, size8 - size, align) {
                    return Ok(at);
                }
            }
        }
        self.alloc_shared(size, size8, align)
    }

    /// Always [`Error::Unsupported`]: a bump allocator frees with
    /// [`Bump::reset`](Self::reset) or [`Bump::rewind`](Self::rewind).
    fn free(&self, _offset: Offset) -> Result<()> {
        Err(Error::Unsupported {
            op: "free",
            by: "the bump allocator (use reset or rewind)",
        })
    }

    fn usable_size(&self, offset: Offset) -> Result<u64> {
        self.check(offset)
    }

    /// The size asked for (the header's slack subtracted): what `write_at`,
    /// `read`, `read_into` and `read_slice` may touch; `block_ptr` reaches
    /// to [`usable_size`](ShmAllocator::usable_size) instead.
    fn requested_size(&self, offset: Offset) -> Result<u64> {
        Bump::requested_size(self, offset)
    }

    fn stats(&self) -> AllocStats {
        self.collect_stats()
    }
}
