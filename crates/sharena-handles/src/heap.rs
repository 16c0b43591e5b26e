//! [`Handles`]: the handle heap over a validated segment.

use crate::layout::{
    ENTRY_LEN, FORMAT_WORD, MAX_HANDLES, NIL, OFF_CAPACITY, OFF_FORMAT, OFF_FREE_HEAD, OFF_TABLE,
    OFF_TOP, OFF_USED,
};
use crate::word::{
    try_kill, try_pin, unpin, KillTry, Loc, Meta, PinTry, ALLOCATING, FREE, LIVE, MAX_DATA_LEN,
};
use shm_layout::sync::{AtomicBool, AtomicU64, Ordering};
use shm_layout::{
    AllocStats, AllocatorKind, Error, Offset, ProcId, ProcTable, RegionId, Registration, Result,
    SegmentView, CACHE_LINE, PARAM_NAMES,
};
use std::fmt;

/// `size` rounded up to 8; a corrupt size near `u64::MAX` gives
/// `u64::MAX` (then refused by the bounds checks) instead of overflowing.
pub(crate) const fn round8(size: u64) -> u64 {
    match size.checked_next_multiple_of(8) {
        Some(l) => l,
        None => u64::MAX,
    }
}

/// How many times a pin or free waits for a block being moved (yielding
/// each time) before it asks whether the compactor died, and gives up.
pub(crate) const MOVE_WAIT: u32 = 1 << 16;

/// A handle: entry index plus generation. Stale once freed (the entry's
/// generation moves on), so it never reaches another block.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handle(u64);

impl Handle {
    /// A handle from its index and generation.
    pub const fn new(index: u32, generation: u32) -> Handle {
        Handle(index as u64 | ((generation as u64) << 32))
    }
    /// The packed word (what the facade's `publish_handle` stores).
    pub const fn raw(self) -> u64 {
        self.0
    }
    /// A handle from a packed word (validated when used).
    pub const fn from_raw(raw: u64) -> Handle {
        Handle(raw)
    }
    /// The entry index.
    pub const fn index(self) -> u32 {
        self.0 as u32
    }
    /// The generation.
    pub const fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({}v{})", self.index(), self.generation())
    }
}

/// A handle heap attached to a segment: allocations are reached through
/// [`Handle`]s, accessed through [`Pin`]s, and [`Handles::compact`] slides
/// unpinned blocks together.
///
/// Each `Handles` registers in the segment's process table (if it has one)
/// and records this process as the owner of what it allocates, so
/// `reclaim_dead` can free the unshared handles of a process that died.
pub struct Handles<S: AsRef<SegmentView>> {
    pub(crate) seg: S,
    pub(crate) state_off: u64,
    pub(crate) data_off: u64,
    pub(crate) data_len: u64,
    pub(crate) capacity: u64,
    pub(crate) me: ProcId,
    reg: Option<Registration>,
    attach_pid: u32,
    auto_compact: AtomicBool,
}

impl<S: AsRef<SegmentView>> fmt::Debug for Handles<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handles")
            .field("segment", &self.view().name())
            .field("capacity", &self.capacity)
            .field("data_len", &self.data_len)
            .finish_non_exhaustive()
    }
}

/// Checks kind, params and regions; returns (capacity, state, data, len).
fn geometry(view: &SegmentView) -> Result<(u64, u64, u64, u64)> {
    let segment = || view.name().to_string();
    if view.kind() != AllocatorKind::Handles {
        return Err(Error::KindMismatch {
            segment: segment(),
            found: view.kind(),
            expected: AllocatorKind::Handles,
        });
    }
    let cap = view.header().params[0];
    if cap == 0 || cap > MAX_HANDLES {
        return Err(Error::BadField {
            segment: segment(),
            field: PARAM_NAMES[0],
            value: cap,
            expected: "a handle-table capacity of 1 to 2^31 - 1",
        });
    }
    let state = view.region(RegionId::State);
    let pool = view.region(RegionId::Pool);
    if state.offset % CACHE_LINE != 0 || state.len < crate::layout::state_len(cap) {
        return Err(Error::Corrupt {
            segment: segment(),
            what: format!(
                "the state region ({} bytes at {}) must be 128-byte aligned and hold a {cap}-entry handle table",
                state.len, state.offset
            ),
            at: state.offset,
        });
    }
    if pool.len > MAX_DATA_LEN {
        return Err(Error::Corrupt {
            segment: segment(),
            what: format!(
                "a handle heap's data area is at most 2^40 bytes, not {}",
                pool.len
            ),
            at: pool.offset,
        });
    }
    Ok((cap, state.offset, pool.offset, pool.len))
}

/// The creator's hook: writes the format word, the capacity and an empty
/// free stack. O(1): the rest of the state region must be zero.
pub fn init(view: &SegmentView) -> Result<()> {
    let (cap, state, _, _) = geometry(view)?;
    let at = |o: u64| view.atomic_u64(Offset::new(state + o));
    // Relaxed: published by the segment's READY (Release).
    at(OFF_FREE_HEAD)?.store(NIL, Ordering::Relaxed);
    at(OFF_CAPACITY)?.store(cap, Ordering::Relaxed);
    at(OFF_FORMAT)?.store(FORMAT_WORD, Ordering::Relaxed);
    Ok(())
}

/// A pinned block: it does not move while the pin lives. Reads and writes
/// through it are checked against the allocation's size.
#[derive(Debug)]
pub struct Pin<'h, S: AsRef<SegmentView>> {
    heap: &'h Handles<S>,
    index: u64,
    offset: Offset,
    size: u64,
}

impl<S: AsRef<SegmentView>> Pin<'_, S> {
    /// The block's segment offset while pinned.
    pub fn offset(&self) -> Offset {
        self.offset
    }

    /// The allocation's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn check(&self, at: u64, len: u64) -> Result<Offset> {
        match at.checked_add(len) {
            Some(end) if end <= self.size => Ok(Offset::new(self.offset.get() + at)),
            _ => Err(Error::OutOfBounds {
                offset: self.offset.get(),
                len: at.saturating_add(len),
                block_len: self.size,
            }),
        }
    }

    /// Copies `out.len()` bytes from `at` bytes into the block.
    pub fn read_at(&self, at: u64, out: &mut [u8]) -> Result<()> {
        let o = self.check(at, out.len() as u64)?;
        self.heap.view().read_bytes(o, out)
    }

    /// Copies `data` into the block, `at` bytes in.
    pub fn write_at(&self, at: u64, data: &[u8]) -> Result<()> {
        let o = self.check(at, data.len() as u64)?;
        self.heap.view().write_bytes(o, data)
    }

    /// A raw pointer to `len` bytes `at` bytes into the block, valid while
    /// the pin lives (shared memory: use volatile or atomic access).
    pub fn ptr(&self, at: u64, len: u64) -> Result<std::ptr::NonNull<u8>> {
        let o = self.check(at, len)?;
        self.heap.view().ptr(o, len)
    }
}

impl<S: AsRef<SegmentView>> Drop for Pin<'_, S> {
    fn drop(&mut self) {
        if let Ok(e) = self.heap.entry(self.index) {
            unpin(e.loc);
        }
    }
}

/// The four words of one handle entry.
pub(crate) struct Entry<'a> {
    pub(crate) loc: &'a AtomicU64,
    pub(crate) meta: &'a AtomicU64,
    pub(crate) size: &'a AtomicU64,
    pub(crate) owner: &'a AtomicU64,
}

impl<S: AsRef<SegmentView>> Handles<S> {
    /// The creator's hook (the same as the free function [`init`]).
    pub fn init(view: &SegmentView) -> Result<()> {
        init(view)
    }

    /// Attaches to a ready handle heap: validates the geometry and format
    /// word, and registers this process in the process table.
    pub fn attach(seg: S) -> Result<Self> {
        let view = seg.as_ref();
        let (capacity, state_off, data_off, data_len) = geometry(view)?;
        let word = |o: u64| view.atomic_u64(Offset::new(state_off + o));
        // Relaxed: READY (Acquire in open) made init's stores visible.
        let format = word(OFF_FORMAT)?.load(Ordering::Relaxed);
        if format != FORMAT_WORD || word(OFF_CAPACITY)?.load(Ordering::Relaxed) != capacity {
            return Err(Error::Corrupt {
                segment: view.name().to_string(),
                what: format!("handle heap format word is {format:#x}: never initialised"),
                at: state_off,
            });
        }
        let me = ProcId::current();
        let reg = ProcTable::of(view)?.register(shm_layout::OwnerId::attach())?;
        Ok(Handles {
            seg,
            state_off,
            data_off,
            data_len,
            capacity,
            me,
            reg,
            attach_pid: std::process::id(),
            auto_compact: AtomicBool::new(false),
        })
    }

    /// The segment.
    pub fn segment(&self) -> &S {
        &self.seg
    }

    /// The validated view.
    pub fn view(&self) -> &SegmentView {
        self.seg.as_ref()
    }

    /// How many handles the table holds.
    pub fn handle_capacity(&self) -> u64 {
        self.capacity
    }

    /// Whether an allocation that does not fit compacts and tries again.
    pub fn set_auto_compact(&self, on: bool) {
        // Relaxed: a process-local option.
        self.auto_compact.store(on, Ordering::Relaxed);
    }

    pub(crate) fn word(&self, off: u64) -> Result<&AtomicU64> {
        self.view().atomic_u64(Offset::new(self.state_off + off))
    }

    pub(crate) fn entry(&self, index: u64) -> Result<Entry<'_>> {
        if index >= self.capacity {
            return Err(Error::InvalidOffset {
                offset: index,
                reason: "handle index outside the handle table",
            });
        }
        let base = OFF_TABLE + index * ENTRY_LEN;
        Ok(Entry {
            loc: self.word(base)?,
            meta: self.word(base + 8)?,
            size: self.word(base + 16)?,
            owner: self.word(base + 24)?,
        })
    }

    pub(crate) fn corrupt(&self, what: impl Into<String>, at: u64) -> Error {
        Error::Corrupt {
            segment: self.view().name().to_string(),
            what: what.into(),
            at,
        }
    }

    /// Entries handed out at least once (bounded by the capacity).
    pub(crate) fn used(&self) -> Result<u64> {
        // Acquire: pairs with the claim's AcqRel, so every entry below the
        // count has had its first state written.
        Ok(self
            .word(OFF_USED)?
            .load(Ordering::Acquire)
            .min(self.capacity))
    }

    /// Takes a free handle entry: from the free stack, else a never-used
    /// one. `None` when every entry is live.
    fn pop_entry(&self) -> Result<Option<u64>> {
        let head = self.word(OFF_FREE_HEAD)?;
        // Acquire: pairs with the push's Release, so the `next` link we
        // read is the pusher's.
        let mut h = head.load(Ordering::Acquire);
        for _ in 0..self.capacity.saturating_mul(4).max(64) {
            let idx = h & NIL;
            if idx == NIL {
                break;
            }
            if idx >= self.capacity {
                return Err(self.corrupt(
                    "free-stack head outside the table",
                    self.state_off + OFF_FREE_HEAD,
                ));
            }
            // Relaxed: the link of an entry another thread popped first
            // may be anything; the tagged CAS then fails.
            let next = self.entry(idx)?.size.load(Ordering::Relaxed) & NIL;
            if next != NIL && next >= self.capacity {
                // Acquire: as above.
                let now = head.load(Ordering::Acquire);
                if now == h {
                    return Err(self.corrupt("free-stack link outside the table", idx));
                }
                h = now;
                continue;
            }
            let new = ((h >> 32).wrapping_add(1) << 32) | next;
            // Acquire as above; the tag defeats ABA.
            match head.compare_exchange(h, new, Ordering::Acquire, Ordering::Acquire) {
                Ok(_) => return Ok(Some(idx)),
                Err(now) => h = now,
            }
            shm_layout::sync::spin_loop();
        }
        // Relaxed: the counter only hands out distinct indices; the entry's
        // words are zero (never used).
        let used = self.word(OFF_USED)?;
        let mut u = used.load(Ordering::Relaxed);
        while u < self.capacity {
            // AcqRel: see `used`.
            match used.compare_exchange_weak(u, u + 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Ok(Some(u)),
                Err(now) => u = now,
            }
        }
        Ok(None)
    }

    /// Puts a FREE entry back on the free stack.
    pub(crate) fn push_entry(&self, idx: u64) -> Result<()> {
        let head = self.word(OFF_FREE_HEAD)?;
        let e = self.entry(idx)?;
        // Relaxed: the CAS below retries.
        let mut h = head.load(Ordering::Relaxed);
        loop {
            // Relaxed: published by the Release CAS.
            e.size.store(h & NIL, Ordering::Relaxed);
            let new = ((h >> 32).wrapping_add(1) << 32) | idx;
            // SYNC POINT (push, Release): pairs with the pop's Acquire.
            match head.compare_exchange_weak(h, new, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(now) => h = now,
            }
            shm_layout::sync::spin_loop();
        }
    }

    /// Reserves `len` bytes of the data area with the bump cursor.
    fn reserve(&self, len: u64) -> Result<Option<u64>> {
        let top = self.word(OFF_TOP)?;
        // Relaxed: the CAS decides.
        let mut t = top.load(Ordering::Relaxed);
        loop {
            if t > self.data_len {
                return Err(
                    self.corrupt("bump cursor past the data area", self.state_off + OFF_TOP)
                );
            }
            if self.data_len - t < len {
                return Ok(None);
            }
            // SYNC POINT (reserve, Release): pairs with the compactor's
            // Acquire of `top`, so our ALLOCATING store is visible to its
            // scan whenever our block lies below the top it read.
            match top.compare_exchange_weak(t, t + len, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Ok(Some(t)),
                Err(now) => t = now,
            }
            shm_layout::sync::spin_loop();
        }
    }

    /// Allocates `size` bytes (rounded up to 8 in the data area).
    /// Fragmentation can make it fail with space free in all; then
    /// [`Handles::compact`] (or [`Handles::set_auto_compact`]) helps. A
    /// failed allocation changes nothing and moves nothing.
    pub fn alloc(&self, size: u64) -> Result<Handle> {
        if size == 0 {
            return Err(Error::ZeroSize);
        }
        let len = match size.checked_next_multiple_of(8) {
            Some(l) if l <= self.data_len => l,
            _ => {
                return Err(Error::SizeTooLarge {
                    size,
                    max: self.data_len,
                })
            }
        };
        let Some(idx) = self.pop_entry()? else {
            return Err(Error::OutOfMemory {
                requested: size,
                available: 0,
            });
        };
        let e = self.entry(idx)?;
        // Relaxed: our entry (popped); `reserve`'s Release publishes it.
        let m = Meta::unpack(e.meta.load(Ordering::Relaxed));
        let gen = m.gen;
        e.owner.store(self.me.raw(), Ordering::Relaxed);
        // Release: `reclaim_dead` Acquires ALLOCATING and reads the owner.
        e.meta.store(
            Meta {
                gen,
                state: ALLOCATING,
                shared: false,
            }
            .pack(),
            Ordering::Release,
        );
        let mut at = self.reserve(len)?;
        // Relaxed: a process-local option.
        if at.is_none() && self.auto_compact.load(Ordering::Relaxed) {
            // Our own entry is ALLOCATING: the compactor would wait for
            // it, so step back while compacting.
            e.meta.store(m.pack(), Ordering::Relaxed);
            let _ = self.compact();
            e.meta.store(
                Meta {
                    gen,
                    state: ALLOCATING,
                    shared: false,
                }
                .pack(),
                Ordering::Relaxed,
            );
            at = self.reserve(len)?;
        }
        let Some(at) = at else {
            // Release: the FREE state is published with the push.
            e.meta.store(m.pack(), Ordering::Release);
            self.push_entry(idx)?;
            // Relaxed: informational.
            let top = self.word(OFF_TOP)?.load(Ordering::Relaxed);
            return Err(Error::OutOfMemory {
                requested: size,
                available: self.data_len.saturating_sub(top),
            });
        };
        e.size.store(size, Ordering::Relaxed);
        // Relaxed: published by the LIVE store below.
        e.loc.store(Loc::new(at, gen).pack(), Ordering::Relaxed);
        // SYNC POINT (alloc, Release): pairs with the Acquire of pins,
        // frees and the compactor's scan of `meta`. The linearization
        // point: no counter follows (statistics are read off the table),
        // so a process killed after this store leaves nothing half done.
        e.meta.store(
            Meta {
                gen,
                state: LIVE,
                shared: false,
            }
            .pack(),
            Ordering::Release,
        );
        Ok(Handle::new(idx as u32, gen))
    }

    /// The LIVE entry of `h`, or why `h` names none.
    pub(crate) fn live(&self, h: Handle) -> Result<(Entry<'_>, Meta)> {
        let e = self.entry(u64::from(h.index()))?;
        // Acquire: pairs with the alloc's LIVE store.
        let m = Meta::unpack(e.meta.load(Ordering::Acquire));
        if m.state == LIVE && m.gen == h.generation() {
            return Ok((e, m));
        }
        if m.state == FREE && m.gen == h.generation().wrapping_add(1) {
            return Err(Error::DoubleFree { offset: h.raw() });
        }
        Err(Error::Stale {
            offset: u64::from(h.index()),
            generation: u64::from(h.generation()),
            current: u64::from(m.gen),
        })
    }

    fn stale(h: Handle) -> Error {
        Error::Stale {
            offset: u64::from(h.index()),
            generation: u64::from(h.generation()),
            current: u64::from(h.generation()).wrapping_add(1),
        }
    }

    /// Waits one turn for a block being moved; after [`MOVE_WAIT`] turns,
    /// finishes the move itself if the compactor died, else gives up.
    fn wait_move(&self, turn: u32) -> Result<()> {
        if turn % 1024 == 1023 {
            self.recover_dead_compactor()?;
        }
        if turn >= MOVE_WAIT {
            return Err(Error::Unsupported {
                op: "access to a block being moved",
                by: "a compaction that did not finish in time",
            });
        }
        shm_layout::sync::yield_now();
        Ok(())
    }

    /// Pins `h`'s block: it will not move (nor be freed) until the
    /// [`Pin`] drops.
    pub fn pin(&self, h: Handle) -> Result<Pin<'_, S>> {
        for turn in 0.. {
            let (e, _) = self.live(h)?;
            match try_pin(e.loc, h.generation() as u16) {
                PinTry::Pinned(l) => {
                    // Relaxed: written before LIVE, which `live` Acquired.
                    let size = e.size.load(Ordering::Relaxed);
                    let pin = Pin {
                        heap: self,
                        index: u64::from(h.index()),
                        offset: Offset::new(self.data_off + l.off),
                        size,
                    };
                    if l.off
                        .checked_add(size)
                        .is_none_or(|end| end > self.data_len)
                    {
                        return Err(self.corrupt(
                            format!(
                                "handle {h:?} places {size} bytes at {} past the data area",
                                l.off
                            ),
                            self.state_off + OFF_TABLE + u64::from(h.index()) * ENTRY_LEN,
                        ));
                    }
                    return Ok(pin);
                }
                PinTry::Gone => return Err(Self::stale(h)),
                PinTry::Saturated => {
                    return Err(Error::Unsupported {
                        op: "a 512th pin",
                        by: "a handle (at most 511 pins at once)",
                    })
                }
                PinTry::Moving => self.wait_move(turn)?,
            }
        }
        unreachable!("the loop returns")
    }

    /// Frees `h`. A pinned handle is refused; a stale one is an error
    /// ([`Error::DoubleFree`] if it was just freed, else [`Error::Stale`]).
    pub fn free(&self, h: Handle) -> Result<()> {
        for turn in 0.. {
            let (e, m) = self.live(h)?;
            match try_kill(e.loc, h.generation() as u16) {
                KillTry::Killed(_) => {
                    // `false`: `reclaim_dead` finished this free first.
                    self.retire(u64::from(h.index()), &e, m)?;
                    return Ok(());
                }
                KillTry::Gone => return Err(Self::stale(h)),
                KillTry::Pinned => {
                    return Err(Error::InvalidOffset {
                        offset: h.raw(),
                        reason: "the handle is pinned",
                    })
                }
                KillTry::Moving => self.wait_move(turn)?,
            }
        }
        unreachable!("the loop returns")
    }

    /// For crash tests only: the first half of [`Handles::free`], as if
    /// the process died between marking the block DEAD and retiring its
    /// entry. The handle is then stale; the entry comes back through
    /// `Recover::reclaim_dead`. Test-only: exists with the `crash-hooks`
    /// feature alone.
    #[cfg(feature = "crash-hooks")]
    #[doc(hidden)]
    pub fn free_interrupted_for_tests(&self, h: Handle) -> Result<()> {
        let (e, _) = self.live(h)?;
        match try_kill(e.loc, h.generation() as u16) {
            KillTry::Killed(_) => Ok(()),
            _ => Err(Self::stale(h)),
        }
    }

    /// After `try_kill` (the loc word is DEAD): moves the generation on
    /// and puts the entry back on the free stack. Whoever wins the CAS of
    /// the meta word from LIVE (generation `m.gen`) to FREE does it, so the
    /// freer and a `reclaim_dead` finishing an interrupted free can race:
    /// exactly one pushes. `Ok(false)` if someone else retired it first.
    pub(crate) fn retire(&self, idx: u64, e: &Entry<'_>, m: Meta) -> Result<bool> {
        let next = Meta {
            gen: m.gen.wrapping_add(1),
            state: FREE,
            shared: false,
        }
        .pack();
        let mut cur = m.pack();
        // Bounded: besides the retire, the word changes only by
        // `share_handle` setting SHARED (once).
        for _ in 0..4 {
            // Release: pairs with the Acquire of `live` and the pop (via
            // the push). Relaxed on failure: decoded below.
            match e
                .meta
                .compare_exchange(cur, next, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.push_entry(idx)?;
                    return Ok(true);
                }
                Err(now) => {
                    let n = Meta::unpack(now);
                    if n.state != LIVE || n.gen != m.gen {
                        return Ok(false);
                    }
                    cur = now;
                }
            }
        }
        Err(self.corrupt(
            format!("handle {idx}: its meta word keeps changing while it is freed"),
            self.state_off + OFF_TABLE + idx * ENTRY_LEN + 8,
        ))
    }

    /// Live bytes (each block rounded to 8) and live handles, read off
    /// the table: LIVE entries whose block is not DEAD. A snapshot
    /// (exact while nobody allocates or frees); O(entries used).
    pub(crate) fn live_totals(&self) -> Result<(u64, u64)> {
        let (mut bytes, mut count) = (0u64, 0u64);
        for index in 0..self.used()? {
            let e = self.entry(index)?;
            // Acquire: pairs with the alloc's LIVE store (size and loc
            // were written before it).
            let m = Meta::unpack(e.meta.load(Ordering::Acquire));
            if m.state != LIVE {
                continue;
            }
            // Acquire: the loc word's last writer (a move or a kill).
            let l = Loc::unpack(e.loc.load(Ordering::Acquire));
            if l.dead || l.gen16 != m.gen as u16 {
                continue; // freed, or being freed
            }
            // Relaxed: written before LIVE. A racing free may have put a
            // free-stack link here; a snapshot tolerates that, and a
            // corrupt size only saturates.
            let len = e.size.load(Ordering::Relaxed);
            bytes = bytes.saturating_add(round8(len));
            count += 1;
        }
        Ok((bytes, count))
    }

    /// The allocation's size.
    pub fn size_of(&self, h: Handle) -> Result<u64> {
        let (e, _) = self.live(h)?;
        // Relaxed: written before LIVE.
        Ok(e.size.load(Ordering::Relaxed))
    }

    /// Reads `len` bytes from the start of `h`'s block (pinned meanwhile).
    pub fn read(&self, h: Handle, len: u64) -> Result<Vec<u8>> {
        let pin = self.pin(h)?;
        pin.check(0, len)?;
        let mut out = vec![0u8; len as usize];
        pin.read_at(0, &mut out)?;
        Ok(out)
    }

    /// Copies `data` into `h`'s block from its start (pinned meanwhile).
    pub fn write(&self, h: Handle, data: &[u8]) -> Result<()> {
        self.pin(h)?.write_at(0, data)
    }

    /// Marks `h` shared: `reclaim_dead` never frees it.
    pub fn share_handle(&self, h: Handle) -> Result<()> {
        let (e, m) = self.live(h)?;
        let shared = Meta { shared: true, ..m }.pack();
        // AcqRel: keeps the word's release sequence; fails if freed.
        e.meta
            .compare_exchange(m.pack(), shared, Ordering::AcqRel, Ordering::Relaxed)
            .map(|_| ())
            .map_err(|_| Self::stale(h))
    }

    /// Statistics: `used` is live bytes (rounded to 8), `allocations` live
    /// handles, `high_water` the bump cursor (bytes of the data area handed
    /// out since the last compaction), `available` the free bytes in all
    /// (fragmentation may need a compaction to use them).
    ///
    /// `used` and `allocations` are counted from the handle table, not
    /// kept in counters, so a process killed inside `alloc` or `free`
    /// cannot leave them wrong: O(handle entries used) per call. A snapshot
    /// while others allocate and free; a corrupt table reads as zero.
    pub fn stats(&self) -> AllocStats {
        let (bytes, allocations) = self.live_totals().unwrap_or((0, 0));
        let used = bytes.min(self.data_len);
        AllocStats {
            capacity: self.data_len,
            used,
            available: self.data_len - used,
            // Relaxed: statistics.
            high_water: self.word(OFF_TOP).map_or(0, |w| w.load(Ordering::Relaxed)),
            allocations,
        }
    }

    /// The data area's segment offset.
    pub fn data_offset(&self) -> u64 {
        self.data_off
    }
}

impl<S: AsRef<SegmentView>> Drop for Handles<S> {
    fn drop(&mut self) {
        if std::process::id() != self.attach_pid {
            return; // a forked child's copy: the registration is the parent's
        }
        if let (Some(reg), Ok(t)) = (self.reg, ProcTable::of(self.seg.as_ref())) {
            t.unregister(reg);
        }
    }
}
