//! The per-handle words and their transitions (state in packed words,
//! typed pack and unpack), and the three races every handle entry decides
//! in them: pin versus move, pin versus free, and a dead seat's pins
//! versus everyone.
//!
//! ```text
//! loc   bits 0..37  block offset from the data area's start / 8
//!       bit  37     KILLING: a free is deciding (pinned or not)
//!       bits 38..44 the freeing seat (while KILLING)
//!       bit  46     MOVING: a compaction is copying the block
//!       bit  47     DEAD: freed (the entry's generation moves on next)
//!       bits 48..64 low 16 bits of the handle's generation
//! meta  bits 0..32  generation (of the live handle, or of the next one)
//!       bits 32..34 state: 0 FREE, 1 ALLOCATING, 2 LIVE
//!       bit  34     SHARED (never reclaimed from a dead owner)
//!       bits 35..41 the owning seat (ALLOCATING and LIVE)
//! pins  bit s       seat s holds at least one pin of the block
//! ```
//!
//! A pin is recorded by *who* holds it: seat `s` sets bit `s` of the
//! entry's pin word (after noting the entry in its own seat, so a reclaim
//! of a dead seat finds every bit it set and clears exactly those). A pin
//! and a move or a free are decided Dekker-style on the pin word, both of
//! whose accesses are read-modify-writes: the pinner sets its bit
//! (`fetch_or`) and then reads `loc`; a mover (free) sets MOVING (KILLING)
//! in `loc` by CAS and then reads the pin word with an RMW that changes
//! nothing (`fetch_or(0)`); all AcqRel. An RMW reads the last value in its
//! word's modification order, so of the pinner's `fetch_or` and the
//! mover's, one comes first. If the pinner's, the mover's reads the bit.
//! If the mover's, the pinner's reads what it wrote and acquires what the
//! mover did before (its flag), so the pinner's read of `loc` sees the
//! flag. At least one of the two sees the other: a pinner that
//! sees MOVING or KILLING takes its bit back and waits; a mover or freer
//! that sees a bit undoes its flag. So a pinned block never moves and is
//! never freed, and a pin never reads a block being copied. (No `SeqCst`
//! is needed, and loom models exactly this; it models `SeqCst` accesses as
//! AcqRel, so a pair of `SeqCst` stores and loads would not be checked.)
//! Each side's flag is one word, set and
//! cleared by one RMW, so a process killed between any two writes leaves
//! either a bit its seat's record names (cleared by the reclaim of that
//! seat), or a MOVING flag the compaction journal names, or a KILLING flag
//! that names its seat (settled by whoever finds that seat gone).

use shm_layout::sync::{AtomicU64, Ordering};

const OFF_MASK: u64 = (1 << 37) - 1;
const KILLING: u64 = 1 << 37;
const KILLER_SHIFT: u32 = 38;
const KILLER_MASK: u64 = 0x3F << KILLER_SHIFT;
const MOVING: u64 = 1 << 46;
const DEAD: u64 = 1 << 47;
const GEN_SHIFT: u32 = 48;
/// Largest data area: offsets / 8 fit 37 bits.
pub const MAX_DATA_LEN: u64 = 1 << 40;
/// Seats a heap has (one bit each in an entry's pin word).
pub const SEATS: u64 = 64;

/// A decoded `loc` word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loc {
    /// Block offset from the data area's start, in bytes (a multiple of 8).
    pub off: u64,
    /// A free is deciding, by this seat.
    pub killing: Option<u64>,
    /// A compaction is moving the block.
    pub moving: bool,
    /// The handle was freed.
    pub dead: bool,
    /// Low 16 bits of the generation.
    pub gen16: u16,
}

impl Loc {
    /// A fresh location.
    pub const fn new(off: u64, gen: u32) -> Loc {
        Loc {
            off,
            killing: None,
            moving: false,
            dead: false,
            gen16: gen as u16,
        }
    }

    /// Packs the fields (`off` must be a multiple of 8 below
    /// [`MAX_DATA_LEN`], a killing seat below [`SEATS`]).
    pub const fn pack(self) -> u64 {
        (self.off >> 3)
            | match self.killing {
                Some(s) => KILLING | ((s << KILLER_SHIFT) & KILLER_MASK),
                None => 0,
            }
            | if self.moving { MOVING } else { 0 }
            | if self.dead { DEAD } else { 0 }
            | ((self.gen16 as u64) << GEN_SHIFT)
    }

    /// Unpacks a word.
    pub const fn unpack(w: u64) -> Loc {
        Loc {
            off: (w & OFF_MASK) << 3,
            killing: if w & KILLING != 0 {
                Some((w & KILLER_MASK) >> KILLER_SHIFT)
            } else {
                None
            },
            moving: w & MOVING != 0,
            dead: w & DEAD != 0,
            gen16: (w >> GEN_SHIFT) as u16,
        }
    }

    /// Neither moving, nor being freed, nor freed.
    pub const fn settled(self) -> bool {
        !self.moving && !self.dead && self.killing.is_none()
    }
}

/// Entry states in `meta`.
pub const FREE: u64 = 0;
/// Taken by the seat in `meta`; its block is not placed yet.
pub const ALLOCATING: u64 = 1;
/// A live handle.
pub const LIVE: u64 = 2;
const SHARED: u64 = 1 << 34;
const SEAT_SHIFT: u32 = 35;

/// A decoded `meta` word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Generation.
    pub gen: u32,
    /// FREE, ALLOCATING or LIVE (3 is corrupt).
    pub state: u64,
    /// Shared: never reclaimed.
    pub shared: bool,
    /// The owning seat (0 while FREE).
    pub seat: u64,
}

impl Meta {
    /// A FREE entry of generation `gen`.
    pub const fn free(gen: u32) -> Meta {
        Meta {
            gen,
            state: FREE,
            shared: false,
            seat: 0,
        }
    }
    /// Packs the fields.
    pub const fn pack(self) -> u64 {
        self.gen as u64
            | (self.state << 32)
            | if self.shared { SHARED } else { 0 }
            | ((self.seat & (SEATS - 1)) << SEAT_SHIFT)
    }
    /// Unpacks a word.
    pub const fn unpack(w: u64) -> Meta {
        Meta {
            gen: w as u32,
            state: (w >> 32) & 3,
            shared: w & SHARED != 0,
            seat: (w >> SEAT_SHIFT) & (SEATS - 1),
        }
    }
}

/// What the compactor's scan makes of an entry whose meta word reads `w`,
/// having last waited at it when it read `waited` (`compact.rs`, module
/// doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// FREE, or a take the scan did not see begin (it began after the
    /// scan read the cursor, so its block lands at or above it).
    Skip,
    /// ALLOCATING by a take that may have begun before the cursor was
    /// read: wait for it to end (unless its seat is gone).
    Taking(Meta),
    /// LIVE: look at its loc word.
    Live(Meta),
    /// State 3.
    Corrupt,
}

/// The scan's rule for one look at an entry's meta word (see [`Seen`]).
pub fn scan_look(w: u64, waited: Option<u64>) -> Seen {
    let m = Meta::unpack(w);
    match m.state {
        FREE => Seen::Skip,
        ALLOCATING if waited.is_some_and(|v| v != w) => Seen::Skip,
        ALLOCATING => Seen::Taking(m),
        LIVE => Seen::Live(m),
        _ => Seen::Corrupt,
    }
}

/// What a pin attempt found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinTry {
    /// Pinned; the location as pinned.
    Pinned(Loc),
    /// A compaction is moving the block, or a free is deciding: retry
    /// shortly.
    Busy(Loc),
    /// Freed, or another generation: the handle is stale.
    Gone,
}

/// Seat `seat`'s first pin of the block of generation `gen16`: sets the
/// seat's bit, then looks at `loc`; takes the bit back unless the block is
/// settled. The caller noted the entry in its seat before (so a reclaim of
/// the seat finds the bit), and holds no other pin of it.
pub fn try_pin(loc: &AtomicU64, pins: &AtomicU64, seat: u64, gen16: u16) -> PinTry {
    let bit = 1u64 << (seat & (SEATS - 1));
    // SYNC POINT (pin, AcqRel): Dekker with `begin_move` and `try_kill`
    // (module doc): the Acquire takes a mover's or freer's flag from its
    // RMW read of `pins`, if that came first; the Release hands our bit to
    // it, if it comes after.
    pins.fetch_or(bit, Ordering::AcqRel);
    // Acquire: sees the flag acquired above; also pairs with the Release of
    // `finish_move` (the copied bytes) and of the allocation's LIVE store.
    let l = Loc::unpack(loc.load(Ordering::Acquire));
    let r = if l.dead || l.gen16 != gen16 {
        PinTry::Gone
    } else if l.settled() {
        return PinTry::Pinned(l);
    } else {
        PinTry::Busy(l)
    };
    // Release: pairs with the Acquire of a mover's or freer's `pins` RMW
    // (nothing was done under the bit, but it keeps `unpin`'s rule).
    pins.fetch_and(!bit, Ordering::Release);
    r
}

/// Seat `seat` drops its last pin of the block.
pub fn unpin(pins: &AtomicU64, seat: u64) {
    // SYNC POINT (unpin, Release): pairs with the Acquire of the `pins`
    // RMW in `begin_move`, so this seat's writes to the block are visible
    // to the copy.
    pins.fetch_and(!(1u64 << (seat & (SEATS - 1))), Ordering::Release);
}

/// Why a move did not begin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoMove {
    /// A seat pins the block.
    Pinned,
    /// The word changed (freed, being freed, or moved by someone else).
    Changed(u64),
}

/// Starts moving the block whose `loc` word is `expected` (settled): sets
/// MOVING, then looks at the pin word and clears MOVING again if any seat
/// pins the block.
pub fn begin_move(loc: &AtomicU64, pins: &AtomicU64, expected: u64) -> Result<u64, NoMove> {
    if !Loc::unpack(expected).settled() {
        return Err(NoMove::Changed(expected));
    }
    // SYNC POINT (move, AcqRel): Dekker with `try_pin` (module doc): the
    // flag, sequenced before the RMW read of `pins` that releases it.
    if let Err(now) = loc.compare_exchange(
        expected,
        expected | MOVING,
        Ordering::AcqRel,
        Ordering::Relaxed,
    ) {
        return Err(NoMove::Changed(now));
    }
    // AcqRel: the other half of the pair (an RMW reads the latest value).
    // Its Acquire also pairs with the Release of the last `unpin`, so the
    // bytes the copy reads are the pin holder's.
    if pins.fetch_or(0, Ordering::AcqRel) != 0 {
        undo_move(loc, expected | MOVING);
        return Err(NoMove::Pinned);
    }
    Ok(expected | MOVING)
}

/// Sets a MOVING word (`moving`) to `to`. Only the mover changes a MOVING
/// word (pins and frees wait for it), so the CAS does not fail on a sound
/// segment; a CAS rather than a store leaves a corrupt word to `check`.
fn leave_moving(loc: &AtomicU64, moving: u64, to: u64) {
    // Release: the caller's SYNC POINT. Relaxed on failure: a corrupt
    // word is left to `check`.
    let _ = loc.compare_exchange(moving, to, Ordering::Release, Ordering::Relaxed);
}

/// Undoes a move begun by `begin_move` (which returned `moving`) before
/// any byte was copied.
pub fn undo_move(loc: &AtomicU64, moving: u64) {
    // Release: nothing was written under MOVING; keeps the word's release
    // sequence for later pins.
    leave_moving(loc, moving, moving & !MOVING);
}

/// Ends a move begun with `begin_move` (which returned `moving`): the block
/// now lives at `new_off`.
pub fn finish_move(loc: &AtomicU64, moving: u64, new_off: u64) {
    let mut l = Loc::unpack(moving);
    l.off = new_off;
    l.moving = false;
    // SYNC POINT (move done, Release): pairs with the Acquire of `try_pin`,
    // publishing the copied bytes with the new offset.
    leave_moving(loc, moving, l.pack());
}

/// What a free attempt found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillTry {
    /// Marked DEAD; the location it had.
    Killed(Loc),
    /// A seat pins it: refused.
    Pinned,
    /// Being moved, or another seat is deciding a free of it: retry
    /// shortly (the location as seen).
    Busy(Loc),
    /// Already dead or another generation.
    Gone,
}

/// Frees the block of generation `gen16` for seat `seat`, unless a seat
/// pins it: sets KILLING (naming `seat`), reads the pin word, then either
/// clears KILLING (pinned) or turns it into DEAD. The decision is the
/// killer's alone while it lives; [`settle_kill`] makes it for a dead one.
pub fn try_kill(loc: &AtomicU64, pins: &AtomicU64, seat: u64, gen16: u16) -> KillTry {
    // Relaxed: the CAS below decides.
    let w = loc.load(Ordering::Relaxed);
    let l = Loc::unpack(w);
    if l.dead || l.gen16 != gen16 {
        return KillTry::Gone;
    }
    if !l.settled() {
        return KillTry::Busy(l);
    }
    let killing = Loc {
        killing: Some(seat & (SEATS - 1)),
        ..l
    }
    .pack();
    // SYNC POINT (free, AcqRel): Dekker with `try_pin` (module doc), as in
    // `begin_move`.
    match loc.compare_exchange(w, killing, Ordering::AcqRel, Ordering::Relaxed) {
        Ok(_) => {}
        Err(now) => return KillTry::Busy(Loc::unpack(now)),
    }
    if settle_kill(loc, pins, killing) {
        KillTry::Killed(l)
    } else {
        KillTry::Pinned
    }
}

/// Decides the free that left `loc` at `killing` (KILLING set): DEAD if
/// no seat pins the block, else back to settled. The killer calls it; so
/// does anyone who finds the killing seat dead. Returns whether the block
/// is DEAD now (whoever decided).
pub fn settle_kill(loc: &AtomicU64, pins: &AtomicU64, killing: u64) -> bool {
    let back = killing & !(KILLING | KILLER_MASK);
    // AcqRel: the other half of `try_kill`'s Dekker pair (an RMW reads the
    // latest value). A helper that read KILLING (Acquire) from the
    // killer's CAS, or from an RMW after it, has what the killer acquired
    // from pinners, so it sees their bits as the killer would.
    let new = if pins.fetch_or(0, Ordering::AcqRel) == 0 {
        back | DEAD
    } else {
        back
    };
    // AcqRel: keeps `loc`'s release sequence; on failure someone else
    // decided, and the word says what (nothing changes a DEAD word but a
    // new allocation, which needs the entry retired first).
    match loc.compare_exchange(killing, new, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => new & DEAD != 0,
        Err(now) => now & DEAD != 0 && Loc::unpack(now).gen16 == Loc::unpack(killing).gen16,
    }
}

/// A dead seat's pins are gone: clears its bit (one RMW; idempotent).
pub fn drop_seat_pins(pins: &AtomicU64, seat: u64) {
    unpin(pins, seat);
}

#[cfg(all(test, not(shm_loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn loc_round_trips(off in 0u64..(MAX_DATA_LEN / 8), killing in proptest::option::of(0u64..SEATS),
                           moving: bool, dead: bool, gen16: u16) {
            let l = Loc { off: off * 8, killing, moving, dead, gen16 };
            prop_assert_eq!(Loc::unpack(l.pack()), l);
        }

        #[test]
        fn meta_round_trips(gen: u32, state in 0u64..3, shared: bool, seat in 0u64..SEATS) {
            let m = Meta { gen, state, shared, seat };
            prop_assert_eq!(Meta::unpack(m.pack()), m);
        }
    }

    #[test]
    fn a_pinned_block_does_not_move_nor_die() {
        let loc = AtomicU64::new(Loc::new(64, 7).pack());
        let pins = AtomicU64::new(0);
        let PinTry::Pinned(l) = try_pin(&loc, &pins, 3, 7) else {
            panic!()
        };
        assert_eq!(l.off, 64);
        let w = loc.load(Ordering::Relaxed);
        assert_eq!(begin_move(&loc, &pins, w), Err(NoMove::Pinned));
        assert_eq!(loc.load(Ordering::Relaxed), w, "the move was undone");
        assert_eq!(try_kill(&loc, &pins, 5, 7), KillTry::Pinned);
        assert_eq!(loc.load(Ordering::Relaxed), w, "the free was undone");
        unpin(&pins, 3);
        let m = begin_move(&loc, &pins, w).unwrap();
        assert!(matches!(try_pin(&loc, &pins, 3, 7), PinTry::Busy(_)));
        assert_eq!(
            pins.load(Ordering::Relaxed),
            0,
            "a busy pin takes its bit back"
        );
        finish_move(&loc, m, 8);
        assert!(matches!(
            try_pin(&loc, &pins, 9, 7),
            PinTry::Pinned(Loc { off: 8, .. })
        ));
        assert_eq!(try_pin(&loc, &pins, 3, 8), PinTry::Gone);
        drop_seat_pins(&pins, 9);
        assert!(matches!(try_kill(&loc, &pins, 5, 7), KillTry::Killed(_)));
        assert_eq!(try_pin(&loc, &pins, 3, 7), PinTry::Gone);
    }

    #[test]
    fn a_dead_killers_decision_is_settled_by_others() {
        let pins = AtomicU64::new(0);
        let l = Loc::new(16, 2);
        let killing = Loc {
            killing: Some(4),
            ..l
        }
        .pack();
        let loc = AtomicU64::new(killing);
        assert_eq!(Loc::unpack(killing).killing, Some(4));
        assert!(matches!(try_pin(&loc, &pins, 1, 2), PinTry::Busy(_)));
        assert!(matches!(try_kill(&loc, &pins, 1, 2), KillTry::Busy(_)));
        pins.store(1, Ordering::Relaxed); // seat 0 pins it
        assert!(!settle_kill(&loc, &pins, killing));
        assert_eq!(loc.load(Ordering::Relaxed), l.pack());
        pins.store(0, Ordering::Relaxed);
        loc.store(killing, Ordering::Relaxed);
        assert!(settle_kill(&loc, &pins, killing));
        assert!(Loc::unpack(loc.load(Ordering::Relaxed)).dead);
        assert!(settle_kill(&loc, &pins, killing), "decided already: dead");
    }
}
