//! The two per-handle words and their transitions (state in one packed
//! word, typed pack and unpack).
//!
//! ```text
//! loc   bits 0..37  block offset from the data area's start / 8
//!       bits 37..46 pin count (at most 511)
//!       bit  46     MOVING: a compaction is copying the block
//!       bit  47     DEAD: freed (the entry's generation moves on next)
//!       bits 48..64 low 16 bits of the handle's generation
//! meta  bits 0..32  generation (of the live handle, or of the next one)
//!       bits 32..34 state: 0 FREE, 1 ALLOCATING, 2 LIVE
//!       bit  34     SHARED (never reclaimed from a dead owner)
//! ```
//! Pin versus move is decided by one word: a pin is a CAS that adds one
//! while MOVING and DEAD are clear; a move begins with a CAS that sets
//! MOVING while the pin count is 0, and ends with a Release store of the
//! new offset. So a pinned block never moves, and a pin taken after a move
//! sees the new offset and (Acquire) the bytes copied there.

use shm_layout::sync::{AtomicU64, Ordering};

/// Most pins one handle can hold at once.
pub const MAX_PINS: u64 = (1 << 9) - 1;
const PINS_SHIFT: u32 = 37;
const PIN_ONE: u64 = 1 << PINS_SHIFT;
const MOVING: u64 = 1 << 46;
const DEAD: u64 = 1 << 47;
const GEN_SHIFT: u32 = 48;
/// Largest data area: offsets / 8 fit 37 bits.
pub const MAX_DATA_LEN: u64 = 1 << 40;

/// A decoded `loc` word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loc {
    /// Block offset from the data area's start, in bytes (a multiple of 8).
    pub off: u64,
    /// Pins held.
    pub pins: u64,
    /// A compaction is moving the block.
    pub moving: bool,
    /// The handle was freed.
    pub dead: bool,
    /// Low 16 bits of the generation.
    pub gen16: u16,
}

impl Loc {
    /// A fresh, unpinned location.
    pub const fn new(off: u64, gen: u32) -> Loc {
        Loc {
            off,
            pins: 0,
            moving: false,
            dead: false,
            gen16: gen as u16,
        }
    }

    /// Packs the fields (`off` must be a multiple of 8 below
    /// [`MAX_DATA_LEN`], `pins` at most [`MAX_PINS`]).
    pub const fn pack(self) -> u64 {
        (self.off >> 3)
            | (self.pins << PINS_SHIFT)
            | if self.moving { MOVING } else { 0 }
            | if self.dead { DEAD } else { 0 }
            | ((self.gen16 as u64) << GEN_SHIFT)
    }

    /// Unpacks a word.
    pub const fn unpack(w: u64) -> Loc {
        Loc {
            off: (w & (PIN_ONE - 1)) << 3,
            pins: (w >> PINS_SHIFT) & MAX_PINS,
            moving: w & MOVING != 0,
            dead: w & DEAD != 0,
            gen16: (w >> GEN_SHIFT) as u16,
        }
    }
}

/// Entry states in `meta`.
pub const FREE: u64 = 0;
/// The allocating thread owns the entry; its block is not placed yet.
pub const ALLOCATING: u64 = 1;
/// A live handle.
pub const LIVE: u64 = 2;
const SHARED: u64 = 1 << 34;

/// A decoded `meta` word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Generation.
    pub gen: u32,
    /// FREE, ALLOCATING or LIVE (3 is corrupt).
    pub state: u64,
    /// Shared: never reclaimed.
    pub shared: bool,
}

impl Meta {
    /// Packs the fields.
    pub const fn pack(self) -> u64 {
        self.gen as u64 | (self.state << 32) | if self.shared { SHARED } else { 0 }
    }
    /// Unpacks a word.
    pub const fn unpack(w: u64) -> Meta {
        Meta {
            gen: w as u32,
            state: (w >> 32) & 3,
            shared: w & SHARED != 0,
        }
    }
}

/// What a pin attempt found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinTry {
    /// Pinned; the location as pinned.
    Pinned(Loc),
    /// A compaction is moving the block: retry shortly.
    Moving,
    /// Freed, or another generation: the handle is stale.
    Gone,
    /// [`MAX_PINS`] pins are held.
    Saturated,
}

/// Pins the block of generation `gen16`: one CAS adding a pin while
/// neither MOVING nor DEAD is set.
pub fn try_pin(loc: &AtomicU64, gen16: u16) -> PinTry {
    // Relaxed: the CAS below re-reads and decides.
    let mut w = loc.load(Ordering::Relaxed);
    loop {
        let l = Loc::unpack(w);
        if l.dead || l.gen16 != gen16 {
            return PinTry::Gone;
        }
        if l.moving {
            return PinTry::Moving;
        }
        if l.pins >= MAX_PINS {
            return PinTry::Saturated;
        }
        // SYNC POINT (pin, Acquire): pairs with the Release of
        // `finish_move` (the bytes copied to the new offset are visible)
        // and of the allocation that stored the first `loc`.
        match loc.compare_exchange_weak(w, w + PIN_ONE, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return PinTry::Pinned(l),
            Err(now) => w = now,
        }
        shm_layout::sync::spin_loop();
    }
}

/// Drops one pin.
pub fn unpin(loc: &AtomicU64) {
    // SYNC POINT (unpin, Release): pairs with the Acquire of
    // `begin_move`, so this pin holder's writes to the block are copied.
    loc.fetch_sub(PIN_ONE, Ordering::Release);
}

/// Starts moving the block whose `loc` word is `expected` (unpinned, not
/// moving, not dead): sets MOVING. Fails with the current word otherwise.
pub fn begin_move(loc: &AtomicU64, expected: u64) -> Result<u64, u64> {
    let l = Loc::unpack(expected);
    if l.pins != 0 || l.moving || l.dead {
        return Err(expected);
    }
    // SYNC POINT (move, Acquire): pairs with the Release of `unpin`, so
    // the last pin holder's writes are visible to the copy.
    loc.compare_exchange(
        expected,
        expected | MOVING,
        Ordering::Acquire,
        Ordering::Relaxed,
    )
    .map(|_| expected | MOVING)
}

/// Ends a move begun with `begin_move` (which returned `moving`): the block
/// now lives at `new_off`.
pub fn finish_move(loc: &AtomicU64, moving: u64, new_off: u64) {
    let mut l = Loc::unpack(moving);
    l.off = new_off;
    l.moving = false;
    // SYNC POINT (move done, Release): pairs with the Acquire of `try_pin`,
    // publishing the copied bytes with the new offset. Only the mover
    // changes a MOVING word, so a store suffices.
    loc.store(l.pack(), Ordering::Release);
}

/// What a free attempt found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillTry {
    /// Marked DEAD; the location it had.
    Killed(Loc),
    /// Pinned: refused.
    Pinned,
    /// Being moved: retry shortly.
    Moving,
    /// Already dead or another generation.
    Gone,
}

/// Marks the block of generation `gen16` dead, if it is not pinned or
/// moving (one CAS).
pub fn try_kill(loc: &AtomicU64, gen16: u16) -> KillTry {
    // Relaxed: the CAS decides.
    let mut w = loc.load(Ordering::Relaxed);
    loop {
        let l = Loc::unpack(w);
        if l.dead || l.gen16 != gen16 {
            return KillTry::Gone;
        }
        if l.moving {
            return KillTry::Moving;
        }
        if l.pins != 0 {
            return KillTry::Pinned;
        }
        // Acquire: pairs with the last unpin's Release (nothing of the
        // block is touched after this, but the accounting reads its
        // length). Relaxed on failure: decoded again.
        match loc.compare_exchange_weak(w, w | DEAD, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return KillTry::Killed(l),
            Err(now) => w = now,
        }
        shm_layout::sync::spin_loop();
    }
}

#[cfg(all(test, not(shm_loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn loc_round_trips(off in 0u64..(MAX_DATA_LEN / 8), pins in 0..=MAX_PINS,
                           moving: bool, dead: bool, gen16: u16) {
            let l = Loc { off: off * 8, pins, moving, dead, gen16 };
            prop_assert_eq!(Loc::unpack(l.pack()), l);
        }

        #[test]
        fn meta_round_trips(gen: u32, state in 0u64..3, shared: bool) {
            let m = Meta { gen, state, shared };
            prop_assert_eq!(Meta::unpack(m.pack()), m);
        }
    }

    #[test]
    fn a_pinned_block_does_not_move_nor_die() {
        let loc = AtomicU64::new(Loc::new(64, 7).pack());
        let PinTry::Pinned(l) = try_pin(&loc, 7) else {
            panic!()
        };
        assert_eq!(l.off, 64);
        let w = loc.load(Ordering::Relaxed);
        assert!(begin_move(&loc, w).is_err());
        assert_eq!(try_kill(&loc, 7), KillTry::Pinned);
        unpin(&loc);
        let w = loc.load(Ordering::Relaxed);
        let m = begin_move(&loc, w).unwrap();
        assert_eq!(try_pin(&loc, 7), PinTry::Moving);
        finish_move(&loc, m, 8);
        assert!(matches!(
            try_pin(&loc, 7),
            PinTry::Pinned(Loc { off: 8, .. })
        ));
        assert_eq!(try_pin(&loc, 8), PinTry::Gone);
    }
}
