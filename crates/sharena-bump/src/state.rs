//! The bump allocator's shared state and the lock-free algorithm over it.
//!
//! [`BumpState`] is a `#[repr(C)]` struct of shim atomics. Production lays
//! it over the segment's state region (after checking the region's length
//! and alignment); the loom models build it on the heap. Its methods work
//! on pool-relative byte offsets only: headers, chunks and pointers belong
//! to [`crate::Bump`].
//!
//! The algorithm is a CAS-advanced bump cursor (as in any lock-free linear
//! allocator) whose head word also carries an epoch tag, with two read-mostly
//! mirror words (`epoch`, `generation`) completed by *helping*, in the style
//! of the cooperative descriptors of Harris, Fraser and Pratt (DISC 2002):
//! a reset, mark or rewind linearizes at one CAS on `head`, and whoever sees
//! the mirror lag behind finishes the update before going on. The packed
//! words have typed pack/unpack helpers (`words.rs`). Every access is
//! SeqCst except the statistics counters and the fast path's epoch check
//! (each commented where it is made): these are slow paths, and SeqCst gives one total order over the
//! three words that the consistency argument of `snapshot` needs.

use crate::words::{
    epoch_lo, floor_unpack, floor_word, parity, tagged, untag, Head, FLOOR_TAG_BITS, MAX_TAG,
};
use shm_layout::sync::{spin_loop, AtomicU64, Ordering};

/// `b"BUMPv002"`: the state region of an initialised bump segment starts
/// with it (v2: the head carries a lane tag and the state holds the
/// reservation records).
pub(crate) const STATE_MAGIC: u64 = u64::from_le_bytes(*b"BUMPv002");

/// Every cursor and block length is a multiple of this.
pub(crate) const GRAIN: u64 = 8;

/// Retry bound of every loop over shared words: hostile bytes that keep
/// changing make an error, never a hang (docs/ARCHITECTURE.md, invariants).
pub(crate) const MAX_RETRIES: u32 = 1 << 20;

/// Byte offsets of the words inside the state region (docs/FORMAT.md, "Bump segments").
pub(crate) const OFF_MAGIC: u64 = 0x000;
pub(crate) const OFF_CAPACITY: u64 = 0x008;
pub(crate) const OFF_EPOCH: u64 = 0x080;
pub(crate) const OFF_HEAD: u64 = 0x100;
/// Where the reservation records start.
pub(crate) const OFF_RECORDS: u64 = 0x280;
/// Bytes of one reservation record.
pub(crate) const RECORD_LEN: u64 = 64;
/// Reservation records: one per thread that allocates (two lanes each, so
/// that every lane has a head tag in `1..=MAX_TAG`).
#[cfg(not(shm_loom))]
pub(crate) const RECORDS: usize = 127;
/// Loom models need two records at most.
#[cfg(shm_loom)]
pub(crate) const RECORDS: usize = 2;
/// Lanes per record: a thread's chunk, and a block larger than half a
/// chunk that it reserves beside its chunk.
pub(crate) const LANES: usize = 2;
/// The lane of a thread's chunk.
pub(crate) const LANE_CHUNK: usize = 0;
/// The lane of a large block reserved beside the chunk.
pub(crate) const LANE_LARGE: usize = 1;
/// Bytes the state region needs.
pub(crate) const STATE_LEN: u64 = OFF_RECORDS + RECORDS as u64 * RECORD_LEN;

const _: () = assert!(RECORDS * LANES <= MAX_TAG as usize);

/// The head tag of `lane` of record `record`.
pub(crate) const fn lane_tag(record: usize, lane: usize) -> u64 {
    (1 + record * LANES + lane) as u64
}

#[cfg(not(shm_loom))]
type Pad<const N: usize> = [AtomicU64; N];
// Loom atomics are runtime objects, not bytes: padding means nothing there.
#[cfg(shm_loom)]
type Pad<const N: usize> = [(); N];

#[cfg(not(shm_loom))]
fn pad<const N: usize>() -> Pad<N> {
    [const { AtomicU64::new(0) }; N]
}
#[cfg(shm_loom)]
fn pad<const N: usize>() -> Pad<N> {
    [(); N]
}

/// The state region of a bump segment. Hot words each own a 128-byte line
/// (`shm_layout::CACHE_LINE`); the padding is atomics too, so every byte of
/// the struct may be written by other processes without breaking `&Self`.
#[repr(C)]
pub(crate) struct BumpState {
    magic: AtomicU64,
    capacity: AtomicU64,
    salt: AtomicU64,
    _pad0: Pad<13>,
    /// Read-mostly: bumped by reset, mark and rewind. The fast path reads it.
    epoch: AtomicU64,
    /// Read-mostly: bumped by reset and rewind; block headers record it.
    generation: AtomicU64,
    /// Read-mostly: the generation the last reset started.
    reset_generation: AtomicU64,
    /// Read-mostly: `generation_lo:20 | cursor/8:44`, the cursor the last
    /// reset or rewind installed; headers at or past it must be of the
    /// current generation.
    floor: AtomicU64,
    _pad1: Pad<12>,
    /// Hot: `parity:1 | reset:1 | epoch_lo:10 | tag:8 | cursor/8:44`,
    /// CAS'd by every refill.
    head: AtomicU64,
    _pad2: Pad<15>,
    /// `generation_lo:16 | count:48`: flushed allocation counts.
    allocations: AtomicU64,
    _pad3: Pad<15>,
    /// `generation_lo:16 | bytes:48`: high water recorded by rewinds.
    high_water: AtomicU64,
    _pad4: Pad<15>,
    /// One per thread that allocates (docs/FORMAT.md, "Reservation
    /// records").
    records: [Record; RECORDS],
}

/// One reservation of a thread, recorded in the segment so that a reclaim
/// finds its unused tail whichever way the thread's process ends.
///
/// - `to`: 0 when the lane holds nothing. Otherwise a head word: with a
///   lane tag, an *intent* (the head the lane's next CAS installs); with
///   tag 0, *held* (the reservation ends at its cursor).
/// - `start`: `generation_lo:20 | start/8:44` (the floor word's packing):
///   where the reservation starts, and the generation it was made in.
/// - `fallback`: the end the lane holds if the intent's CAS failed (the
///   start for a new reservation; the old end for an extension or a
///   mark's give-back).
///
/// The intent is written before the head CAS and confirmed (tag cleared)
/// after it, by the lane itself or by whoever moves the head on first
/// ([`BumpState::help_lane`]), so an unconfirmed intent whose head is gone
/// failed: a reclaim resolves every lane without doubt.
#[repr(C)]
pub(crate) struct Lane {
    to: AtomicU64,
    start: AtomicU64,
    fallback: AtomicU64,
}

/// A record: its owner word (an `OwnerSlot`) and two lanes.
#[repr(C)]
pub(crate) struct Record {
    owner: AtomicU64,
    lanes: [Lane; LANES],
    _pad: Pad<1>,
}

/// What a lane holds, resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Region {
    /// The low 20 bits of the generation it was reserved in.
    pub gen_lo: u64,
    /// Pool-relative start and end.
    pub start: u64,
    pub end: u64,
}

/// The `held` form of a `to` word: its tag cleared.
fn held(to: u64) -> u64 {
    Head {
        tag: 0,
        ..Head::unpack(to)
    }
    .pack()
}

impl Lane {
    fn new() -> Self {
        Lane {
            to: AtomicU64::new(0),
            start: AtomicU64::new(0),
            fallback: AtomicU64::new(0),
        }
    }

    /// Publishes the intent `to` (a head word tagged with this lane) of a
    /// reservation that starts at `start` in `generation`, holding
    /// `fallback` if its CAS fails.
    ///
    /// `fresh`: a new reservation, so the lane first empties (the caller
    /// has accounted for what it held). Otherwise the reservation grows the
    /// one held, and `start` is where its owner has carved up to: every
    /// byte below it is in blocks, so moving the start there while the
    /// lane still holds the old end leaves the same tail, and it bounds the
    /// walk a reclaim makes to the bytes reserved since.
    fn publish(&self, generation: u64, start: u64, fallback: u64, to: u64, fresh: bool) {
        let b = floor_word(generation, start);
        // SeqCst (all): the intent must precede the head CAS in the one
        // total order that a helper's head load and lane load are part of
        // (see `help_lane`).
        if self.start.load(Ordering::SeqCst) != b {
            if fresh {
                self.to.store(0, Ordering::SeqCst);
            }
            self.start.store(b, Ordering::SeqCst);
        }
        self.fallback.store(fallback, Ordering::SeqCst);
        self.to.store(to, Ordering::SeqCst);
    }

    /// Confirms the intent `to` if the lane still holds it (idempotent).
    fn confirm(&self, to: u64) {
        // SeqCst: see `publish`. A failed CAS means the lane moved on (the
        // owner confirmed it and published anew) or a helper confirmed it.
        if self.to.load(Ordering::SeqCst) == to {
            let _ = self
                .to
                .compare_exchange(to, held(to), Ordering::SeqCst, Ordering::SeqCst);
        }
    }

    /// Empties the lane (its owner, or the reclaimer that adopted it, once
    /// the region is accounted for).
    pub(crate) fn clear(&self) {
        // SeqCst: see `publish`.
        self.to.store(0, Ordering::SeqCst);
    }

    /// What the lane holds, with the head word `head` read after its owner
    /// stopped (died, or is the caller). `Err` names a word the algorithm
    /// never writes.
    pub(crate) fn resolve(&self, head: u64, capacity: u64) -> Result<Option<Region>, Fault> {
        // SeqCst: see `publish`.
        let to = self.to.load(Ordering::SeqCst);
        if to == 0 {
            return Ok(None);
        }
        let (gen_lo, start) = floor_unpack(self.start.load(Ordering::SeqCst));
        let h = Head::unpack(to);
        let end = if h.tag == 0 || head == to {
            h.cursor
        } else {
            // An intent whose head is gone: its CAS failed (whoever moved
            // the head on from it would have confirmed it).
            self.fallback.load(Ordering::SeqCst)
        };
        if start > end || end > capacity || end % GRAIN != 0 {
            return Err(Fault::Corrupt {
                what: "a reservation record's start and end disagree",
                word: OFF_RECORDS,
            });
        }
        Ok(Some(Region { gen_lo, start, end }))
    }
}

impl Record {
    fn new() -> Self {
        Record {
            owner: AtomicU64::new(0),
            lanes: [Lane::new(), Lane::new()],
            _pad: pad(),
        }
    }

    /// The owner word.
    pub(crate) fn owner(&self) -> &shm_layout::OwnerSlot {
        shm_layout::OwnerSlot::from_atomic(&self.owner)
    }

    /// Lane `i` (`LANE_CHUNK` or `LANE_LARGE`).
    pub(crate) fn lane(&self, i: usize) -> &Lane {
        &self.lanes[i % LANES]
    }
}

#[cfg(not(shm_loom))]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<BumpState>() as u64 == STATE_LEN);
    assert!(align_of::<BumpState>() == 8);
    assert!(offset_of!(BumpState, magic) as u64 == OFF_MAGIC);
    assert!(offset_of!(BumpState, capacity) as u64 == OFF_CAPACITY);
    assert!(offset_of!(BumpState, salt) == 0x010);
    assert!(offset_of!(BumpState, epoch) as u64 == OFF_EPOCH);
    assert!(offset_of!(BumpState, generation) == 0x088);
    assert!(offset_of!(BumpState, reset_generation) == 0x090);
    assert!(offset_of!(BumpState, floor) == 0x098);
    assert!(offset_of!(BumpState, head) as u64 == OFF_HEAD);
    assert!(offset_of!(BumpState, allocations) == 0x180);
    assert!(offset_of!(BumpState, high_water) == 0x200);
    assert!(offset_of!(BumpState, records) as u64 == OFF_RECORDS);
    assert!(size_of::<Record>() as u64 == RECORD_LEN);
    assert!(OFF_EPOCH % shm_layout::CACHE_LINE == 0 && OFF_HEAD % shm_layout::CACHE_LINE == 0);
};

/// A consistent view of the three control words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// The epoch (resets, marks and rewinds so far).
    pub epoch: u64,
    /// The generation (resets and rewinds so far).
    pub generation: u64,
    /// The generation the last reset started (no live block is older).
    pub reset_generation: u64,
    /// The cursor the last reset or rewind installed: blocks at or past it
    /// are of the current generation.
    pub floor: u64,
    /// Pool-relative bytes reserved.
    pub cursor: u64,
    /// The raw head word this snapshot saw.
    pub head: u64,
}

/// Why a state operation failed; [`crate::Bump`] turns it into an `Error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// A shared word holds a value the algorithm never writes.
    Corrupt { what: &'static str, word: u64 },
    /// The words kept changing for `MAX_RETRIES` attempts.
    Contended,
    /// The plan did not fit; `available` bytes are left.
    Exhausted { available: u64 },
    /// A rewind's mark belongs to another generation.
    WrongGeneration { current: u64 },
    /// A rewind's mark lies past the cursor (released by an earlier rewind).
    MarkReleased { current: u64 },
}

/// A give-back of the unused tail `cur..end` of a chunk reserved in
/// `epoch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GiveBack {
    pub epoch: u64,
    pub cur: u64,
    pub end: u64,
}

/// The operations that start a new epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transition {
    /// Cursor to 0, new generation.
    Reset,
    /// Same cursor (less a given-back tail), new epoch: every chunk retires.
    Mark(Option<GiveBack>),
    /// Cursor back to a mark's `cursor` (taken in `generation`), new
    /// generation and epoch.
    Rewind { generation: u64, cursor: u64 },
}

impl BumpState {
    /// A fresh state on the heap (loom models and unit tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn new(capacity: u64, salt: u64) -> Self {
        let s = BumpState {
            magic: AtomicU64::new(0),
            capacity: AtomicU64::new(0),
            salt: AtomicU64::new(0),
            _pad0: pad(),
            epoch: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            reset_generation: AtomicU64::new(0),
            floor: AtomicU64::new(0),
            _pad1: pad(),
            head: AtomicU64::new(0),
            _pad2: pad(),
            allocations: AtomicU64::new(0),
            _pad3: pad(),
            high_water: AtomicU64::new(0),
            _pad4: pad(),
            records: std::array::from_fn(|_| Record::new()),
        };
        s.init(capacity, salt);
        s
    }

    /// Writes the initial state (the creator's hook, before READY).
    pub(crate) fn init(&self, capacity: u64, salt: u64) {
        // Relaxed: the creator publishes all of these at once with the init
        // word's Release store (READY); openers Acquire it (FORMAT.md).
        self.capacity.store(capacity, Ordering::Relaxed);
        self.salt.store(salt, Ordering::Relaxed);
        self.epoch.store(0, Ordering::Relaxed);
        self.generation.store(0, Ordering::Relaxed);
        self.reset_generation.store(0, Ordering::Relaxed);
        self.floor.store(floor_word(0, 0), Ordering::Relaxed);
        self.head.store(0, Ordering::Relaxed);
        self.allocations.store(0, Ordering::Relaxed);
        self.high_water.store(0, Ordering::Relaxed);
        for r in &self.records {
            r.owner.store(0, Ordering::Relaxed);
            for l in &r.lanes {
                l.to.store(0, Ordering::Relaxed);
                l.start.store(0, Ordering::Relaxed);
                l.fallback.store(0, Ordering::Relaxed);
            }
        }
        self.magic.store(STATE_MAGIC, Ordering::Relaxed);
    }

    /// The magic word (immutable after init).
    pub(crate) fn magic(&self) -> u64 {
        // Relaxed: written before READY (Release), read after the opener's
        // Acquire of READY.
        self.magic.load(Ordering::Relaxed)
    }

    /// The capacity the creator recorded (immutable after init).
    pub(crate) fn capacity(&self) -> u64 {
        // Relaxed: as `magic`.
        self.capacity.load(Ordering::Relaxed)
    }

    /// The segment's salt (immutable after init).
    pub(crate) fn salt(&self) -> u64 {
        // Relaxed: as `magic`.
        self.salt.load(Ordering::Relaxed)
    }

    /// The fast path's epoch check.
    #[inline(always)]
    pub(crate) fn epoch_relaxed(&self) -> u64 {
        // Relaxed: pairs with the SeqCst epoch CAS in `help` only through
        // coherence. Reading an old epoch orders this allocation before the
        // transition (its block lies below the old cursor, which the
        // reserving CAS made ours); nothing else is read through it. A
        // thread that happens-after the transition sees the new value by
        // write-read coherence.
        self.epoch.load(Ordering::Relaxed)
    }

    /// A consistent snapshot, helping a pending transition to complete.
    pub(crate) fn snapshot(&self, capacity: u64) -> Result<Snapshot, Fault> {
        for _ in 0..MAX_RETRIES {
            // SeqCst (all four): the argument below needs one total order
            // over `epoch`, `generation` and `head`.
            let e1 = self.epoch.load(Ordering::SeqCst);
            let g = self.generation.load(Ordering::SeqCst);
            let rg = self.reset_generation.load(Ordering::SeqCst);
            let (floor_tag, floor) = floor_unpack(self.floor.load(Ordering::SeqCst));
            let raw = self.head.load(Ordering::SeqCst);
            let e2 = self.epoch.load(Ordering::SeqCst);
            if e1 != e2 {
                spin_loop();
                continue;
            }
            let h = Head::unpack(raw);
            if h.cursor > capacity {
                return Err(Fault::Corrupt {
                    what: "the head cursor lies past the end of the pool",
                    word: OFF_HEAD,
                });
            }
            if h.tag > (RECORDS * LANES) as u64 {
                return Err(Fault::Corrupt {
                    what: "the head's lane tag names no reservation record",
                    word: OFF_HEAD,
                });
            }
            if h.epoch_lo == epoch_lo(e1) {
                // The epoch did not move while we read, so no transition
                // could start (it would need `head` tagged e1+1) and finish
                // (it would move `epoch`): `g`, `rg` and the floor (all
                // written before the epoch CAS) belong to this head.
                if h.parity != parity(g) {
                    return Err(Fault::Corrupt {
                        what: "the head's generation parity disagrees with the generation word",
                        word: OFF_HEAD,
                    });
                }
                if rg > g || floor_tag != g & ((1 << FLOOR_TAG_BITS) - 1) || floor > h.cursor {
                    return Err(Fault::Corrupt {
                        what:
                            "the reset generation or floor disagrees with the generation and cursor",
                        word: OFF_EPOCH,
                    });
                }
                return Ok(Snapshot {
                    epoch: e1,
                    generation: g,
                    reset_generation: rg,
                    floor,
                    cursor: h.cursor,
                    head: raw,
                });
            }
            if h.epoch_lo == epoch_lo(e1.wrapping_add(1)) {
                self.help(e1, g, h);
                continue;
            }
            return Err(Fault::Corrupt {
                what: "the head's epoch tag is neither the epoch nor the next one",
                word: OFF_HEAD,
            });
        }
        Err(Fault::Contended)
    }

    /// Completes the transition whose head CAS made `h` (tagged `e + 1`),
    /// as seen with generation word `g`: generation, reset generation,
    /// floor, counters, then epoch. Every step is a CAS from the value it
    /// replaces (or a `fetch_max`), so late or repeated helpers change
    /// nothing.
    fn help(&self, e: u64, g: u64, h: Head) {
        let g_new = if h.parity == parity(g) {
            g // a mark, or a reset or rewind whose generation step is done
        } else {
            // SeqCst: see `snapshot`. Failure means another helper did it.
            let _ = self.generation.compare_exchange(
                g,
                g.wrapping_add(1),
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
            g.wrapping_add(1)
        };
        if h.reset {
            // SeqCst: see `snapshot`. Monotonic, so a late helper is a no-op.
            self.reset_generation.fetch_max(g_new, Ordering::SeqCst);
        }
        // The floor belongs to the generation that installed it: move it
        // only from the tag of the generation before.
        let prev_tag = g_new.wrapping_sub(1) & ((1 << FLOOR_TAG_BITS) - 1);
        // SeqCst: see `snapshot`.
        let f = self.floor.load(Ordering::SeqCst);
        if floor_unpack(f).0 == prev_tag {
            let _ = self.floor.compare_exchange(
                f,
                floor_word(g_new, h.cursor),
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
        }
        Self::catch_up(&self.allocations, g_new, h.reset);
        Self::catch_up(&self.high_water, g_new, h.reset);
        // SYNC POINT (epoch): completes the transition; `snapshot` and the
        // fast path read it.
        let _ =
            self.epoch
                .compare_exchange(e, e.wrapping_add(1), Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Moves a generation-tagged counter that still belongs to the
    /// generation before `g_new` into `g_new`: restarted at 0 by a reset,
    /// carried over by a rewind (which then sets it itself).
    fn catch_up(word: &AtomicU64, g_new: u64, restart: bool) {
        let prev = g_new.wrapping_sub(1) & 0xFFFF;
        // SeqCst: done before the epoch CAS that completes the transition,
        // so no flush of the new generation can be dropped by a stale tag.
        let mut cur = word.load(Ordering::SeqCst);
        for _ in 0..MAX_RETRIES {
            if untag(cur).0 != prev {
                return;
            }
            let value = if restart { 0 } else { untag(cur).1 };
            match word.compare_exchange(
                cur,
                tagged(g_new, value),
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return,
                Err(now) => cur = now,
            }
            spin_loop();
        }
    }

    /// The head word (loom models).
    #[cfg(all(test, shm_loom))]
    pub(crate) fn head_raw(&self) -> u64 {
        self.head.load(Ordering::SeqCst)
    }

    /// Record `i`, if there is one.
    pub(crate) fn record(&self, i: usize) -> Option<&Record> {
        self.records.get(i)
    }

    /// The lane a head tag names (`None` for 0 or a tag past the table).
    fn lane_of_tag(&self, tag: u64) -> Option<&Lane> {
        let t = usize::try_from(tag.checked_sub(1)?).ok()?;
        Some(self.records.get(t / LANES)?.lane(t % LANES))
    }

    /// Confirms the intent of the lane that installed `head`, before the
    /// caller's CAS moves the head on from it: so a head that moved on
    /// from a lane's intent leaves that intent confirmed, and an intent
    /// still unconfirmed once its head is gone failed.
    ///
    /// Why the intent is there to see: the lane stored it before its head
    /// CAS, and the caller read the head that CAS installed; all SeqCst, so
    /// the caller's lane load comes after the store in the total order.
    fn help_lane(&self, head: u64) {
        if let Some(lane) = self.lane_of_tag(Head::unpack(head).tag) {
            lane.confirm(head);
        }
    }

    /// Reserves pool bytes with one CAS on `head`: `plan` sees a snapshot
    /// and returns the new cursor (past the snapshot's, at most `capacity`,
    /// a multiple of 8) and where the reservation `lane` records starts
    /// (the snapshot's cursor for a new one; for an extension of the chunk
    /// the lane holds, how far its owner has carved it), or a fault. With a lane `(tag, lane)` the reservation is
    /// published in it before the CAS and confirmed after. Returns the
    /// snapshot the CAS succeeded on and the new cursor: the bytes between
    /// are the caller's.
    pub(crate) fn reserve(
        &self,
        capacity: u64,
        lane: Option<(u64, &Lane)>,
        plan: impl FnMut(&Snapshot) -> Result<(u64, u64), Fault>,
    ) -> Result<(Snapshot, u64), Fault> {
        self.reserve_with(capacity, lane, plan, MAX_RETRIES, true)
    }

    /// `reserve`, with `attempts` CAS attempts at most and the lane's own
    /// confirmation left out if `!confirm` (the loom models' death right
    /// after the CAS).
    pub(crate) fn reserve_with(
        &self,
        capacity: u64,
        lane: Option<(u64, &Lane)>,
        mut plan: impl FnMut(&Snapshot) -> Result<(u64, u64), Fault>,
        attempts: u32,
        confirm: bool,
    ) -> Result<(Snapshot, u64), Fault> {
        for _ in 0..attempts {
            let snap = self.snapshot(capacity)?;
            self.help_lane(snap.head);
            let (new, start) = plan(&snap)?;
            if new <= snap.cursor || new > capacity || new % GRAIN != 0 || start > snap.cursor {
                debug_assert!(false, "a plan returned cursor {new} from {snap:?}");
                return Err(Fault::Exhausted {
                    available: capacity.saturating_sub(snap.cursor),
                });
            }
            let next = Head {
                cursor: new,
                tag: lane.map_or(0, |(t, _)| t),
                ..Head::unpack(snap.head)
            }
            .pack();
            if let Some((_, l)) = lane {
                l.publish(
                    snap.generation,
                    start,
                    snap.cursor,
                    next,
                    start == snap.cursor,
                );
            }
            // SYNC POINT (reserve): the linearization point of a chunk or
            // block reservation. SeqCst: see `snapshot`.
            if self
                .head
                .compare_exchange(snap.head, next, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                if let (Some((_, l)), true) = (lane, confirm) {
                    l.confirm(next);
                }
                return Ok((snap, new));
            }
            spin_loop();
        }
        Err(Fault::Contended)
    }

    /// Starts a new epoch with one CAS on `head` and completes it. Returns
    /// the snapshot it replaced and the state it installed.
    ///
    /// A mark's give-back is published in `lane` (the marking thread's
    /// chunk lane, tag given) as a reservation would be: its intent is the
    /// shorter chunk.
    pub(crate) fn transition(
        &self,
        capacity: u64,
        t: Transition,
        lane: Option<(u64, &Lane)>,
    ) -> Result<(Snapshot, Snapshot), Fault> {
        for _ in 0..MAX_RETRIES {
            let snap = self.snapshot(capacity)?;
            self.help_lane(snap.head);
            let mut given: Option<GiveBack> = None;
            let (cursor, bump, reset) = match t {
                Transition::Reset => (0, true, true),
                Transition::Mark(give_back) => match give_back {
                    Some(gb)
                        if gb.epoch == snap.epoch
                            && gb.end == snap.cursor
                            && gb.cur <= gb.end
                            && gb.cur % GRAIN == 0 =>
                    {
                        given = Some(gb);
                        (gb.cur, false, false)
                    }
                    _ => (snap.cursor, false, false),
                },
                Transition::Rewind { generation, cursor } => {
                    if generation < snap.reset_generation || generation > snap.generation {
                        return Err(Fault::WrongGeneration {
                            current: snap.generation,
                        });
                    }
                    // Past the cursor, or below the floor a later rewind
                    // installed: released already.
                    let released = generation < snap.generation && snap.floor < cursor;
                    if cursor > snap.cursor || cursor % GRAIN != 0 || released {
                        return Err(Fault::MarkReleased {
                            current: snap.generation,
                        });
                    }
                    (cursor, true, false)
                }
            };
            let old = Head::unpack(snap.head);
            let recorded: Option<(GiveBack, (u64, &Lane))> = given.zip(lane);
            let next = Head {
                cursor,
                epoch_lo: epoch_lo(snap.epoch.wrapping_add(1)),
                tag: recorded.map_or(0, |(_, (t, _))| t),
                parity: old.parity ^ bump,
                reset,
            };
            if let Some((gb, (_, l))) = recorded {
                l.publish(snap.generation, gb.cur, snap.cursor, next.pack(), false);
            }
            // SYNC POINT (transition): the linearization point of reset,
            // mark and rewind. SeqCst: see `snapshot`.
            if self
                .head
                .compare_exchange(snap.head, next.pack(), Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                if let Some((_, (_, l))) = recorded {
                    l.confirm(next.pack());
                }
                self.help(snap.epoch, snap.generation, next);
                let generation = snap.generation.wrapping_add(u64::from(bump));
                let after = Snapshot {
                    epoch: snap.epoch.wrapping_add(1),
                    generation,
                    reset_generation: if reset {
                        generation
                    } else {
                        snap.reset_generation
                    },
                    floor: if bump { cursor } else { snap.floor },
                    cursor,
                    head: next.pack(),
                };
                return Ok((snap, after));
            }
            spin_loop();
        }
        Err(Fault::Contended)
    }

    /// Applies `f` to a generation-tagged counter if it belongs to
    /// `generation`; a counter of another generation is left alone.
    fn update_tagged(word: &AtomicU64, generation: u64, f: impl Fn(u64) -> u64) {
        let tag = generation & 0xFFFF;
        // Relaxed (load and CAS): a statistic that publishes nothing; the
        // tag check and the update are one RMW on one word, so a flush can
        // never straddle a reset (whose restart of the counter is a CAS on
        // the same word).
        let mut cur = word.load(Ordering::Relaxed);
        for _ in 0..MAX_RETRIES {
            let (t, v) = untag(cur);
            if t != tag {
                return;
            }
            let next = tagged(generation, f(v));
            if next == cur {
                return;
            }
            match word.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(now) => cur = now,
            }
            spin_loop();
        }
    }

    fn read_tagged(word: &AtomicU64, generation: u64) -> u64 {
        // Relaxed: a statistic (see `update_tagged`).
        let (t, v) = untag(word.load(Ordering::Relaxed));
        if t == generation & 0xFFFF {
            v
        } else {
            0
        }
    }

    /// Adds `n` allocations made in `generation` (dropped if it is over).
    pub(crate) fn flush_allocations(&self, generation: u64, n: u64) {
        if n > 0 {
            Self::update_tagged(&self.allocations, generation, |v| v.saturating_add(n));
        }
    }

    /// Sets the flushed allocation count of `generation`.
    #[cfg_attr(shm_loom, allow(dead_code))]
    pub(crate) fn set_allocations(&self, generation: u64, n: u64) {
        Self::update_tagged(&self.allocations, generation, |_| n);
    }

    /// The flushed allocation count of `generation`.
    pub(crate) fn allocations(&self, generation: u64) -> u64 {
        Self::read_tagged(&self.allocations, generation)
    }

    /// Raises the recorded high water of `generation` to `bytes`.
    #[cfg_attr(shm_loom, allow(dead_code))]
    pub(crate) fn raise_high_water(&self, generation: u64, bytes: u64) {
        Self::update_tagged(&self.high_water, generation, |v| v.max(bytes));
    }

    /// The recorded high water of `generation`.
    #[cfg_attr(shm_loom, allow(dead_code))]
    pub(crate) fn high_water(&self, generation: u64) -> u64 {
        Self::read_tagged(&self.high_water, generation)
    }

    /// Overwrites the head word (tests of corrupt states only).
    #[cfg(test)]
    pub(crate) fn poke_head(&self, raw: u64) {
        self.head.store(raw, Ordering::SeqCst);
    }
}

#[cfg(all(test, not(shm_loom)))]
#[path = "state_tests.rs"]
mod tests;
