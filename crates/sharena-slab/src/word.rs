//! The two packed words of the slab: the free-stack head and the per-slot
//! state word, with typed pack/unpack helpers.
//!
//! ```text
//! head:  bits 0..32  index of the top slot (u32::MAX: empty)
//!        bits 32..64 ABA tag, +1 (wrapping) on every successful CAS
//! slot:  bits 0..2   state: 0 UNUSED, 1 FREE, 2 CACHED, 3 ALLOCATED
//!        bit  2      SHARED (ALLOCATED only): never reclaimed
//!        bits 3..8   zero
//!        bits 8..24  owner: cache entry id + 1 (0: none); for FREE, the
//!                    entry that pushed it (recovery attributes a push
//!                    cut short by a death to it)
//!        bits 24..32 generation, +1 (wrapping) on every allocation
//!        bits 32..64 FREE: next slot index on the free stack (u32::MAX
//!                    ends the chain); ALLOCATED: the slack, the slot's
//!                    bytes past the size its allocation asked for;
//!                    otherwise zero
//! ```
//! An all-zero slot word is UNUSED, so fresh (zero) shared memory is a valid
//! state in which no slot was ever handed out.

/// The index that means "no slot" (empty stack, end of chain).
pub const NIL: u32 = u32::MAX;

/// The decoded free-stack head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Index of the top slot, or [`NIL`].
    pub index: u32,
    /// ABA tag.
    pub tag: u32,
}

impl Head {
    /// The head of an empty stack with tag 0. Note that it is *not* the
    /// all-zero word: a fresh segment's head word is 0 (slot 0 on top), so
    /// `init` stores this once (an O(1) write).
    pub const EMPTY: Head = Head { index: NIL, tag: 0 };

    /// Packs into the shared word.
    #[inline(always)]
    pub const fn pack(self) -> u64 {
        ((self.tag as u64) << 32) | self.index as u64
    }

    /// Unpacks a shared word (every bit pattern is a `Head`; the index must
    /// still be bounds-checked before use).
    #[inline(always)]
    pub const fn unpack(word: u64) -> Head {
        Head {
            index: word as u32,
            tag: (word >> 32) as u32,
        }
    }

    /// The head after a successful CAS installs `index`.
    #[inline(always)]
    pub const fn next(self, index: u32) -> Head {
        Head {
            index,
            tag: self.tag.wrapping_add(1),
        }
    }
}

/// What a slot is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SlotState {
    /// Never handed out (at or past the never-used counter).
    Unused = 0,
    /// On the shared free stack.
    Free = 1,
    /// In a per-process cache (the owner field names which).
    Cached = 2,
    /// Live: handed out to a user (the owner field names the process's
    /// cache entry that allocated or last freed-and-reallocated it).
    Allocated = 3,
}

/// A decoded slot state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotWord {
    /// The state.
    pub state: SlotState,
    /// Cache entry id + 1 of the owner, 0 for none.
    pub owner: u16,
    /// ALLOCATED and handed over to the segment (`Recover::share`):
    /// recovery never frees it.
    pub shared: bool,
    /// Bumped on every allocation, so a stale CAS on the word fails.
    pub generation: u8,
    /// FREE: the next slot on the free stack ([`NIL`] ends it).
    /// ALLOCATED: the slack (slot size minus the size asked for).
    pub next: u32,
}

const STATE_MASK: u64 = 0b11;
const SHARED_BIT: u64 = 0b100;
const RESERVED_MASK: u64 = 0xF8;
/// State, SHARED, reserved and owner bits: what tells a CACHED word of an
/// owner from anything else (the generation and high half aside).
pub const KIND_MASK: u64 = 0x00FF_FFFF;
/// The generation's bits.
pub const GEN_MASK: u64 = 0xFF00_0000;
/// One generation step.
pub const GEN_ONE: u64 = 1 << 24;

impl SlotWord {
    /// The all-zero word: never used.
    #[cfg(test)]
    pub const UNUSED: SlotWord = SlotWord {
        state: SlotState::Unused,
        owner: 0,
        shared: false,
        generation: 0,
        next: 0,
    };

    /// Packs into the shared word.
    #[inline(always)]
    pub const fn pack(self) -> u64 {
        (self.state as u64)
            | if self.shared { SHARED_BIT } else { 0 }
            | ((self.owner as u64) << 8)
            | ((self.generation as u64) << 24)
            | ((self.next as u64) << 32)
    }

    /// Unpacks a shared word; `None` if reserved bits are set (corrupt).
    #[inline(always)]
    pub const fn unpack(word: u64) -> Option<SlotWord> {
        if word & RESERVED_MASK != 0 {
            return None;
        }
        let state = match word & STATE_MASK {
            0 => SlotState::Unused,
            1 => SlotState::Free,
            2 => SlotState::Cached,
            _ => SlotState::Allocated,
        };
        Some(SlotWord {
            state,
            owner: (word >> 8) as u16,
            shared: word & SHARED_BIT != 0,
            generation: (word >> 24) as u8,
            next: (word >> 32) as u32,
        })
    }

    /// The raw state bits of a packed word (no validation).
    #[inline(always)]
    pub const fn raw_state(word: u64) -> u64 {
        word & STATE_MASK
    }

    /// A FREE word linking to `next`, pushed by `owner` (0: a `Slab`
    /// without a cache entry), keeping this generation.
    #[inline(always)]
    pub const fn free(owner: u16, generation: u8, next: u32) -> SlotWord {
        SlotWord {
            state: SlotState::Free,
            owner,
            shared: false,
            generation,
            next,
        }
    }

    /// A CACHED word owned by `owner`.
    #[inline(always)]
    pub const fn cached(owner: u16, generation: u8) -> SlotWord {
        SlotWord {
            state: SlotState::Cached,
            owner,
            shared: false,
            generation,
            next: 0,
        }
    }

    /// An ALLOCATED word owned by `owner`, generation bumped, recording
    /// `slack` (the slot's bytes past the size asked for).
    #[inline(always)]
    pub const fn allocated(owner: u16, previous_generation: u8, slack: u32) -> SlotWord {
        SlotWord {
            state: SlotState::Allocated,
            owner,
            shared: false,
            generation: previous_generation.wrapping_add(1),
            next: slack,
        }
    }

    /// The packed ALLOCATED word that follows the packed CACHED word
    /// `cached` (whose [`KIND_MASK`] bits are `cached(owner, _)`'s):
    /// `allocated(owner, generation, slack)`, in a few integer operations.
    #[inline(always)]
    pub const fn allocate_cached(cached: u64, slack: u32) -> u64 {
        ((cached & GEN_MASK).wrapping_add(GEN_ONE) & GEN_MASK)
            | (cached & KIND_MASK)
            | (SlotState::Allocated as u64)
            | ((slack as u64) << 32)
    }

    /// The packed CACHED(`owner`) word that follows the packed ALLOCATED
    /// word `live`, keeping its generation.
    #[inline(always)]
    pub const fn cache_live(live: u64, owner: u16) -> u64 {
        (live & GEN_MASK) | SlotWord::cached(owner, 0).pack()
    }

    /// Whether the packed word is ALLOCATED with no reserved bit set.
    #[inline(always)]
    pub const fn is_live(word: u64) -> bool {
        word & (STATE_MASK | RESERVED_MASK) == SlotState::Allocated as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn head_round_trips(index in any::<u32>(), tag in any::<u32>()) {
            let h = Head { index, tag };
            prop_assert_eq!(Head::unpack(h.pack()), h);
            prop_assert_eq!(Head::unpack(h.pack()).next(7).tag, tag.wrapping_add(1));
        }

        #[test]
        fn any_head_word_unpacks_and_repacks(word in any::<u64>()) {
            prop_assert_eq!(Head::unpack(word).pack(), word);
        }

        #[test]
        fn slot_word_round_trips(s in 0u8..4, owner in any::<u16>(), shared in any::<bool>(), generation in any::<u8>(), next in any::<u32>()) {
            let state = [SlotState::Unused, SlotState::Free, SlotState::Cached, SlotState::Allocated][s as usize];
            let w = SlotWord { state, owner, shared, generation, next };
            prop_assert_eq!(SlotWord::unpack(w.pack()), Some(w));
            prop_assert_eq!(SlotWord::raw_state(w.pack()), u64::from(s));
        }

        #[test]
        fn the_fast_transitions_match_the_typed_ones(owner in any::<u16>(), other in any::<u16>(), shared in any::<bool>(), generation in any::<u8>(), slack in any::<u32>()) {
            let cached = SlotWord::cached(owner, generation);
            prop_assert_eq!(
                SlotWord::allocate_cached(cached.pack(), slack),
                SlotWord::allocated(owner, generation, slack).pack()
            );
            let live = SlotWord { shared, ..SlotWord::allocated(other, generation, slack) };
            prop_assert!(SlotWord::is_live(live.pack()));
            prop_assert_eq!(
                SlotWord::cache_live(live.pack(), owner),
                SlotWord::cached(owner, live.generation).pack()
            );
            prop_assert!(!SlotWord::is_live(cached.pack()));
            prop_assert!(!SlotWord::is_live(live.pack() | 0x08));
        }

        #[test]
        fn reserved_bits_are_corrupt(word in any::<u64>()) {
            let decoded = SlotWord::unpack(word);
            prop_assert_eq!(decoded.is_some(), word & RESERVED_MASK == 0);
            if let Some(w) = decoded {
                prop_assert_eq!(w.pack(), word);
            }
        }
    }

    #[test]
    fn zero_words_mean_fresh() {
        assert_eq!(SlotWord::unpack(0), Some(SlotWord::UNUSED));
        assert_eq!(Head::EMPTY.pack(), 0xFFFF_FFFF);
        assert_eq!(Head::unpack(0), Head { index: 0, tag: 0 });
        assert_eq!(SlotWord::allocated(3, 255, 0).generation, 0);
    }
}
