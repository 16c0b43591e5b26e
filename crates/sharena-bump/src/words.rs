//! The packed words of the bump state: the head, the floor
//! and the generation-tagged counters, with their pack/unpack helpers.

use crate::state::GRAIN;

const CURSOR_BITS: u32 = 44;
/// Bits of the head's lane tag (which reservation record last moved it).
const TAG_BITS: u32 = 8;
const TAG_SHIFT: u32 = CURSOR_BITS;
const EPOCH_BITS: u32 = 10;
const EPOCH_SHIFT: u32 = CURSOR_BITS + TAG_BITS;
const RESET_BIT: u32 = 62;
/// The largest lane tag (0 is "no lane").
pub(crate) const MAX_TAG: u64 = (1 << TAG_BITS) - 1;
/// Bits of the generation tag in the floor word.
pub(crate) const FLOOR_TAG_BITS: u32 = 20;
const CURSOR_MASK: u64 = (1 << CURSOR_BITS) - 1;
const EPOCH_MASK: u64 = (1 << EPOCH_BITS) - 1;
const VALUE_BITS: u32 = 48;
const VALUE_MASK: u64 = (1 << VALUE_BITS) - 1;

/// The head word, unpacked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    /// Pool-relative bytes handed out (a multiple of 8, below 2^47).
    pub cursor: u64,
    /// The low 10 bits of the epoch this head belongs to.
    pub epoch_lo: u64,
    /// The reservation lane whose intent installed this head (0: none, a
    /// transition or a reservation without a record): whoever moves the
    /// head on confirms that lane's intent first (`BumpState::help_lane`).
    pub tag: u64,
    /// The low bit of the generation this head belongs to.
    pub parity: bool,
    /// Set by the transition that installed this head if it was a reset.
    pub reset: bool,
}

impl Head {
    pub(crate) fn pack(self) -> u64 {
        debug_assert!(self.cursor % GRAIN == 0 && self.cursor / GRAIN <= CURSOR_MASK);
        debug_assert!(self.tag <= MAX_TAG);
        (self.cursor / GRAIN)
            | (self.tag & MAX_TAG) << TAG_SHIFT
            | (self.epoch_lo & EPOCH_MASK) << EPOCH_SHIFT
            | u64::from(self.reset) << RESET_BIT
            | u64::from(self.parity) << 63
    }

    pub(crate) fn unpack(raw: u64) -> Self {
        Head {
            cursor: (raw & CURSOR_MASK) * GRAIN,
            tag: (raw >> TAG_SHIFT) & MAX_TAG,
            epoch_lo: (raw >> EPOCH_SHIFT) & EPOCH_MASK,
            parity: raw >> 63 == 1,
            reset: (raw >> RESET_BIT) & 1 == 1,
        }
    }
}

pub(crate) fn epoch_lo(epoch: u64) -> u64 {
    epoch & EPOCH_MASK
}

pub(crate) fn parity(generation: u64) -> bool {
    generation & 1 == 1
}

/// A counter word tagged with the low 16 bits of its generation, so that a
/// flush from an old generation can never land in a new one.
pub(crate) fn tagged(generation: u64, value: u64) -> u64 {
    (generation & 0xFFFF) << VALUE_BITS | value.min(VALUE_MASK)
}

pub(crate) fn untag(word: u64) -> (u64, u64) {
    (word >> VALUE_BITS, word & VALUE_MASK)
}

/// The floor word: a cursor tagged with the low 20 bits of the generation
/// that installed it.
pub(crate) fn floor_word(generation: u64, cursor: u64) -> u64 {
    (generation & ((1 << FLOOR_TAG_BITS) - 1)) << CURSOR_BITS | (cursor / GRAIN)
}

pub(crate) fn floor_unpack(word: u64) -> (u64, u64) {
    (word >> CURSOR_BITS, (word & CURSOR_MASK) * GRAIN)
}

#[cfg(all(test, not(shm_loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn head_round_trips(cursor in 0u64..(1 << 44), epoch in any::<u64>(), parity in any::<bool>(), tag in 0..=MAX_TAG) {
            let h = Head { cursor: cursor * GRAIN, epoch_lo: epoch_lo(epoch), tag, parity, reset: !parity };
            prop_assert_eq!(Head::unpack(h.pack()), h);
        }

        #[test]
        fn tagged_round_trips(generation in any::<u64>(), value in 0u64..(1 << 48)) {
            prop_assert_eq!(untag(tagged(generation, value)), (generation & 0xFFFF, value));
        }

        #[test]
        fn floor_round_trips(generation in any::<u64>(), cursor in 0u64..(1 << 44)) {
            let w = floor_word(generation, cursor * GRAIN);
            prop_assert_eq!(floor_unpack(w), (generation & ((1 << FLOOR_TAG_BITS) - 1), cursor * GRAIN));
        }
    }
}
