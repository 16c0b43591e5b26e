//! [`Handles`]: the handle heap over a validated segment: attach and
//! detach, allocation and free.

use crate::compact::{backoff, Room};
use crate::layout::{
    seats_off, ENTRY_LEN, FORMAT_WORD, MAX_HANDLES, OFF_CAPACITY, OFF_FORMAT, OFF_LOCK, OFF_TABLE,
    OFF_TOP, OFF_USED, SEATS, SEAT_LEN,
};
use crate::seat::SeatPins;
use crate::word::{try_kill, KillTry, Loc, Meta, FREE, LIVE, MAX_DATA_LEN};
use shm_layout::sync::{AtomicBool, AtomicU64, Ordering};
use shm_layout::{
    fork_generation, AllocatorKind, Error, Liveness, Offset, OwnerId, OwnerSlot, ProcTable,
    RegionId, Registration, Result, SegmentView, CACHE_LINE, PARAM_NAMES,
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

/// How many times a pin or free waits for a block being moved or freed
/// (yielding each time) before it gives up.
pub(crate) const MOVE_WAIT: u32 = 1 << 16;

/// How many times an allocation that did not fit compacts (or waits for
/// another attachment's compaction) and tries again, while concurrent
/// allocations take the room made.
pub(crate) const ALLOC_ROUNDS: u32 = 32;

/// What [`Handles::alloc_once`] says (as `available` of an
/// [`Error::OutOfMemory`] that never leaves [`Handles::alloc`]) when the
/// cursor had no room.
const NO_ROOM: u64 = u64::MAX;

/// How many turns an allocation waits for another attachment's compaction.
const COMPACT_WAIT: u32 = 1 << 18;

/// How many times a free that found a pin bit tries again (a pin attempt
/// that saw the free's flag takes its bit back at once).
const PINNED_TRIES: u32 = 4;

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
/// [`Handle`]s, accessed through [`Pin`](crate::Pin)s, and
/// [`Handles::compact`] slides unpinned blocks together.
///
/// # Who owns what
/// Each `Handles` is one *attachment*: it takes one of the heap's 64
/// seats (an owner slot holding its `OwnerId`), and every entry it
/// allocates and every pin it takes records that seat. **A block belongs
/// to the attachment that allocated it until it is freed or shared**
/// ([`Handles::share_handle`], or the facade's `publish_handle`). When the
/// attachment ends, its unshared blocks are freed: by `Drop` when it runs
/// (a normal return, a panic that unwinds), otherwise (`std::process::exit`,
/// abort, SIGKILL) by the next `reclaim_dead` once its process is gone,
/// which also drops the pins it held. A block another seat pins at that
/// moment cannot be freed under the pin: `Drop` shares it, a reclaim hands
/// it to the reclaiming attachment.
///
/// # fork
/// A `Handles` inherited through `fork` belongs to the parent: in the
/// child, every operation that acts for the attachment (`alloc`, `free`,
/// `pin`, `read`, `write`, `compact`, `reclaim_dead`) is
/// [`Error::Forked`], and its `Drop` touches nothing. The child attaches
/// its own (the facade's `reattach`).
pub struct Handles<S: AsRef<SegmentView>> {
    pub(crate) seg: S,
    pub(crate) state_off: u64,
    pub(crate) data_off: u64,
    pub(crate) data_len: u64,
    pub(crate) capacity: u64,
    /// This attachment's identity.
    pub(crate) me: OwnerId,
    /// Its seat.
    pub(crate) seat: u64,
    pub(crate) pins: SeatPins,
    fork_gen: u64,
    reg: Option<Registration>,
    auto_compact: AtomicBool,
    /// The hint word where this attachment last freed or found an entry
    /// (process-local).
    pub(crate) cursor: AtomicU64,
    /// Seats a reclaim adopted and kept, a block of theirs being busy
    /// then: finished by the next reclaim or by `Drop` (process-local).
    pub(crate) deferred: AtomicU64,
}

impl<S: AsRef<SegmentView>> fmt::Debug for Handles<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handles")
            .field("segment", &self.view().name())
            .field("capacity", &self.capacity)
            .field("data_len", &self.data_len)
            .field("seat", &self.seat)
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

/// The creator's hook: writes the format word and the capacity. O(1): the
/// rest of the state region must be zero (no entry used, no seat taken, no
/// hint set).
pub fn init(view: &SegmentView) -> Result<()> {
    let (cap, state, _, _) = geometry(view)?;
    let at = |o: u64| view.atomic_u64(Offset::new(state + o));
    // Relaxed: published by the segment's READY (Release).
    at(OFF_CAPACITY)?.store(cap, Ordering::Relaxed);
    at(OFF_FORMAT)?.store(FORMAT_WORD, Ordering::Relaxed);
    Ok(())
}

/// The four words of one handle entry.
pub(crate) struct Entry<'a> {
    pub(crate) loc: &'a AtomicU64,
    pub(crate) meta: &'a AtomicU64,
    pub(crate) size: &'a AtomicU64,
    pub(crate) pins: &'a AtomicU64,
}

impl<S: AsRef<SegmentView>> Handles<S> {
    /// The creator's hook (the same as the free function [`init`]).
    pub fn init(view: &SegmentView) -> Result<()> {
        init(view)
    }

    /// Attaches to a ready handle heap: validates the geometry and format
    /// word, takes a seat and registers in the process table (if the
    /// segment has one). All 64 seats taken is
    /// [`Error::ProcessTableFull`] (a `reclaim_dead` frees dead ones).
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
        let me = OwnerId::attach();
        let fork_gen = fork_generation();
        let mut seat = None;
        for s in 0..SEATS {
            // The claim's orderings: `OwnerSlot::claim`.
            if OwnerSlot::from_atomic(word(seats_off(capacity) + s * SEAT_LEN)?).claim(me) {
                seat = Some(s);
                break;
            }
        }
        let Some(seat) = seat else {
            return Err(Error::ProcessTableFull {
                segment: view.name().to_string(),
                capacity: SEATS,
            });
        };
        let reg = match ProcTable::of(view).and_then(|t| t.register(me)) {
            Ok(reg) => reg,
            Err(e) => {
                let slot = word(seats_off(capacity) + seat * SEAT_LEN)?;
                OwnerSlot::from_atomic(slot).release(me);
                return Err(e);
            }
        };
        Ok(Handles {
            seg,
            state_off,
            data_off,
            data_len,
            capacity,
            me,
            seat,
            pins: SeatPins::default(),
            fork_gen,
            reg,
            auto_compact: AtomicBool::new(false),
            cursor: AtomicU64::new(0),
            deferred: AtomicU64::new(0),
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

    /// [`Error::Forked`] in a process that inherited this attachment
    /// through `fork` (one Relaxed load).
    pub(crate) fn not_forked(&self) -> Result<()> {
        if fork_generation() == self.fork_gen {
            Ok(())
        } else {
            Err(Error::Forked {
                segment: self.view().name().to_string(),
                attached_by: self.me.pid(),
            })
        }
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
            pins: self.word(base + 24)?,
        })
    }

    /// Word `i` of seat `s` (0: its owner slot, 1..: its pin records).
    pub(crate) fn seat_word(&self, s: u64, i: u64) -> Result<&AtomicU64> {
        debug_assert!(s < SEATS && i < SEAT_LEN / 8);
        self.word(seats_off(self.capacity) + s * SEAT_LEN + i * 8)
    }

    /// Seat `s`'s owner slot.
    pub(crate) fn seat_slot(&self, s: u64) -> Result<&OwnerSlot> {
        Ok(OwnerSlot::from_atomic(self.seat_word(s, 0)?))
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
        // Acquire: pairs with the fresh take's AcqRel.
        Ok(self
            .word(OFF_USED)?
            .load(Ordering::Acquire)
            .min(self.capacity))
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
            // Acquire of `top`, so our ALLOCATING take is visible to its
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
    /// [`Handles::compact`] (or [`Handles::set_auto_compact`]) helps.
    ///
    /// With auto-compaction on, an allocation that does not fit first
    /// decides whether compaction can make room: if the free bytes in all
    /// are fewer than the request, or the blocks pinned now would leave
    /// too little room after them, it fails at once and moves nothing.
    /// Else it compacts and tries again; if another attachment (or thread)
    /// is compacting it waits for that one and tries again, and if
    /// concurrent allocations take the room made it decides anew (up to
    /// 32 times). A failed allocation changes nothing, and moves nothing
    /// unless allocations of others (or a pin taken while it compacts)
    /// took the room its compaction made. The error's `available` is the
    /// free bytes in all, or the room compaction could make, whichever
    /// decided. The wait is bounded: a live compactor that holds the lock
    /// for 2^18 turns (spinning, then yielding) makes the allocation
    /// [`Error::Unsupported`].
    pub fn alloc(&self, size: u64) -> Result<Handle> {
        self.not_forked()?;
        self.alloc_once(size, true)
    }

    /// One try of [`Handles::alloc`]: an entry, then bytes from the bump
    /// cursor. If they are not there, the entry goes back, and the first
    /// try goes on to [`Handles::alloc_compacting`]; a later one returns
    /// [`NO_ROOM`] (no free entry is a plain [`Error::OutOfMemory`]).
    fn alloc_once(&self, size: u64, first: bool) -> Result<Handle> {
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
        let Some((idx, m)) = self.take_entry()? else {
            return Err(Error::OutOfMemory {
                requested: size,
                available: 0,
            });
        };
        let e = self.entry(idx)?;
        let Some(at) = self.reserve(len)? else {
            // Given back before any compaction: the compactor waits for
            // live allocations in flight.
            self.put_back(idx, m.gen)?;
            if first {
                return self.alloc_compacting(size, len);
            }
            return Err(Error::OutOfMemory {
                requested: size,
                available: NO_ROOM,
            });
        };
        // Relaxed: published by the LIVE store below.
        e.size.store(size, Ordering::Relaxed);
        // Relaxed: as above.
        e.loc.store(Loc::new(at, m.gen).pack(), Ordering::Relaxed);
        // SYNC POINT (alloc, Release): pairs with the Acquire of pins,
        // frees and the compactor's scan of `meta`. The linearization
        // point: no counter follows (statistics are read off the table),
        // so a process killed after this store leaves nothing half done.
        e.meta
            .store(Meta { state: LIVE, ..m }.pack(), Ordering::Release);
        Ok(Handle::new(idx as u32, m.gen))
    }

    /// The rest of [`Handles::alloc`] once the cursor had no room: out of
    /// line, so the common path stays as short as it was.
    #[cold]
    #[inline(never)]
    fn alloc_compacting(&self, size: u64, len: u64) -> Result<Handle> {
        // Relaxed: a process-local option.
        if !self.auto_compact.load(Ordering::Relaxed) {
            return Err(self.no_room(size));
        }
        for _ in 0..ALLOC_ROUNDS {
            // Free bytes against the request: too few in all, and no
            // compaction can help (nothing is locked, nothing moved).
            let (live, _) = self.live_totals()?;
            let free = self.data_len.saturating_sub(live);
            if free < len {
                return Err(Error::OutOfMemory {
                    requested: size,
                    available: free,
                });
            }
            match self.make_room(len)? {
                Room::Made => {}
                Room::Never(room) => {
                    return Err(Error::OutOfMemory {
                        requested: size,
                        available: room,
                    })
                }
                Room::Busy => self.wait_compactor()?,
            }
            match self.alloc_once(size, false) {
                Err(Error::OutOfMemory {
                    available: NO_ROOM, ..
                }) => {}
                done => return done,
            }
        }
        Err(self.no_room(size))
    }

    /// Out of memory, with the room left at the end of the data area.
    fn no_room(&self, size: u64) -> Error {
        // Relaxed: informational.
        let top = self.word(OFF_TOP).map_or(0, |w| w.load(Ordering::Relaxed));
        Error::OutOfMemory {
            requested: size,
            available: self.data_len.saturating_sub(top),
        }
    }

    /// Waits (boundedly) until no live attachment holds the compaction
    /// lock; a dead holder's lock is left to the next `lock`, which adopts
    /// it.
    fn wait_compactor(&self) -> Result<()> {
        let slot = OwnerSlot::from_atomic(self.word(OFF_LOCK)?);
        for turn in 0..COMPACT_WAIT {
            let Some(holder) = slot.holder() else {
                return Ok(());
            };
            if turn % 256 == 255 && !Liveness::new(self.me).is_alive(holder) {
                return Ok(());
            }
            backoff(turn);
        }
        Err(Error::Unsupported {
            op: "an allocation waiting for another attachment's compaction",
            by: "a compaction that did not finish in time",
        })
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

    pub(crate) fn stale(h: Handle) -> Error {
        Error::Stale {
            offset: u64::from(h.index()),
            generation: u64::from(h.generation()),
            current: u64::from(h.generation()).wrapping_add(1),
        }
    }

    /// Frees `h`. A pinned handle is refused; a stale one is an error
    /// ([`Error::DoubleFree`] if it was just freed, else [`Error::Stale`]).
    pub fn free(&self, h: Handle) -> Result<()> {
        self.not_forked()?;
        let mut pinned = 0;
        for turn in 0.. {
            let (e, m) = self.live(h)?;
            match try_kill(e.loc, e.pins, self.seat, h.generation() as u16) {
                KillTry::Killed(_) => {
                    // `false`: `reclaim_dead` finished this free first.
                    self.retire(u64::from(h.index()), &e, m)?;
                    return Ok(());
                }
                KillTry::Gone => return Err(Self::stale(h)),
                KillTry::Pinned => {
                    pinned += 1;
                    if pinned >= PINNED_TRIES {
                        return Err(Error::InvalidOffset {
                            offset: h.raw(),
                            reason: "the handle is pinned",
                        });
                    }
                    shm_layout::sync::spin_loop();
                }
                KillTry::Busy(l) => self.wait_busy(turn, &e, l)?,
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
        match try_kill(e.loc, e.pins, self.seat, h.generation() as u16) {
            KillTry::Killed(_) => Ok(()),
            _ => Err(Self::stale(h)),
        }
    }

    /// After `try_kill` (the loc word is DEAD): moves the generation on
    /// and hints the entry free. Whoever wins the CAS of the meta word
    /// from LIVE (generation `m.gen`) to FREE does it, so the freer and a
    /// `reclaim_dead` finishing an interrupted free can race: exactly one
    /// retires. `Ok(false)` if someone else retired it first.
    pub(crate) fn retire(&self, idx: u64, e: &Entry<'_>, m: Meta) -> Result<bool> {
        let next = Meta::free(m.gen.wrapping_add(1)).pack();
        let mut cur = m.pack();
        // Bounded: besides the retire, the word changes only by sharing
        // (once) and by a reclaim handing the entry to another seat.
        for _ in 0..8 {
            // Release: pairs with the Acquire of `live` and of the next
            // take (`claim`). Relaxed on failure: decoded below.
            match e
                .meta
                .compare_exchange(cur, next, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.set_hint(idx)?;
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

    /// The size the allocation of `h` asked for: what [`Handles::read`],
    /// [`Handles::write`] and a [`Pin`](crate::Pin)'s `read_at` and
    /// `write_at` may touch.
    pub fn size_of(&self, h: Handle) -> Result<u64> {
        let (e, _) = self.live(h)?;
        // Relaxed: written before LIVE.
        Ok(e.size.load(Ordering::Relaxed))
    }

    /// The usable size of `h`'s block: its size rounded up to 8, what the
    /// zero-copy path ([`Pin::ptr`](crate::Pin::ptr)) may touch. Checked
    /// reads and writes stop at [`Handles::size_of`].
    pub fn usable_size(&self, h: Handle) -> Result<u64> {
        Ok(round8(self.size_of(h)?))
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

    /// Marks `h` shared: `reclaim_dead` never frees it, nor does the
    /// allocating attachment's `Drop`.
    pub fn share_handle(&self, h: Handle) -> Result<()> {
        let (e, m) = self.live(h)?;
        if m.shared {
            return Ok(());
        }
        let shared = Meta { shared: true, ..m }.pack();
        // AcqRel: keeps the word's release sequence; fails if freed.
        e.meta
            .compare_exchange(m.pack(), shared, Ordering::AcqRel, Ordering::Relaxed)
            .map(|_| ())
            .map_err(|_| Self::stale(h))
    }

    /// The data area's segment offset.
    pub fn data_offset(&self) -> u64 {
        self.data_off
    }
}

impl<S: AsRef<SegmentView>> Drop for Handles<S> {
    /// The attachment ends: its unshared blocks are freed, its seat given
    /// back, its process-table entry released (the same code a reclaim
    /// runs for a dead attachment). In a fork child that inherited it,
    /// nothing is touched: all of it is the parent's.
    fn drop(&mut self) {
        if fork_generation() != self.fork_gen {
            return;
        }
        let _ = self.leave();
        if let (Some(reg), Ok(t)) = (self.reg, ProcTable::of(self.seg.as_ref())) {
            t.unregister(reg);
        }
    }
}
