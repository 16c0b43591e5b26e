//! The init-state word and the open protocol.
//!
//! The word lives at [`INIT_WORD_OFFSET`](crate::consts::INIT_WORD_OFFSET),
//! alone on its cache line: low 8 bits a state, high 32 bits the pid of the
//! process that initialises the segment.
//!
//! ```text
//! EMPTY --(creator: begin, Relaxed CAS)--> INITIALIZING|pid
//!       --(creator writes header + allocator state)-->
//!       --(creator: publish, Release store)--> READY|pid
//! ```
//! Openers load it with Acquire: READY means every byte the creator wrote
//! before publishing is visible. INITIALIZING with a dead pid means the
//! creator died mid-init; the opener reports it instead of waiting.

use crate::sync::{spin_loop, AtomicU64, Ordering};

/// No creator has claimed the segment yet (fresh, zero-filled memory).
pub const STATE_EMPTY: u64 = 0;
/// A creator is writing the header and allocator state.
pub const STATE_INITIALIZING: u64 = 1;
/// The segment is complete and may be used.
pub const STATE_READY: u64 = 2;

/// What an opener sees in the init word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitState {
    /// Nobody has started initialising.
    Empty,
    /// Process `pid` is initialising.
    Initializing {
        /// The creator.
        pid: u32,
    },
    /// Ready; created by `pid`.
    Ready {
        /// The creator.
        pid: u32,
    },
    /// A value no version of the protocol writes.
    Invalid(u64),
}

/// Packs a state and a pid into the word.
pub const fn pack(state: u64, pid: u32) -> u64 {
    state | ((pid as u64) << 32)
}

/// Decodes a raw word.
pub const fn unpack(word: u64) -> InitState {
    let pid = (word >> 32) as u32;
    if word & 0xFFFF_FF00 != 0 {
        return InitState::Invalid(word);
    }
    match word & 0xFF {
        STATE_EMPTY if pid == 0 => InitState::Empty,
        STATE_INITIALIZING => InitState::Initializing { pid },
        STATE_READY => InitState::Ready { pid },
        _ => InitState::Invalid(word),
    }
}

/// The init word: a plain struct of shim atomics, so loom can build it on
/// the heap and production can lay it over mapped bytes.
#[derive(Debug)]
#[repr(C)]
pub struct InitWord {
    word: AtomicU64,
}

impl InitWord {
    /// A fresh (EMPTY) word, for loom models and tests.
    pub fn new() -> Self {
        InitWord {
            word: AtomicU64::new(STATE_EMPTY),
        }
    }

    /// Claims the segment for initialisation by `pid`. Returns `false` if
    /// the word was not EMPTY (someone else claimed it, or it is garbage).
    pub fn begin(&self, pid: u32) -> bool {
        // Relaxed: the claim publishes nothing; readers only learn the pid
        // from it. The data the creator writes afterwards is published by the
        // Release store in `publish_ready`.
        self.word
            .compare_exchange(
                STATE_EMPTY,
                pack(STATE_INITIALIZING, pid),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Marks the segment READY.
    pub fn publish_ready(&self, pid: u32) {
        // SYNC POINT (publish): Release pairs with the Acquire load in
        // `state`, so every header and state byte written before this store is
        // visible to an opener that sees READY.
        self.word.store(pack(STATE_READY, pid), Ordering::Release);
    }

    /// Reads the state.
    pub fn state(&self) -> InitState {
        // SYNC POINT (consume): Acquire pairs with the Release store in
        // `publish_ready`.
        unpack(self.word.load(Ordering::Acquire))
    }

    /// Polls the word up to `max_polls` times, yielding between polls.
    /// Returns the last state seen (READY as soon as it is seen).
    pub fn poll_ready(&self, max_polls: u32) -> InitState {
        let mut last = self.state();
        for _ in 0..max_polls {
            if matches!(last, InitState::Ready { .. }) {
                break;
            }
            spin_loop();
            last = self.state();
        }
        last
    }
}

impl Default for InitWord {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(test, not(shm_loom)))]
mod tests {
    use super::*;

    #[test]
    fn pack_unpack_round_trip() {
        for pid in [0u32, 1, 4242, u32::MAX] {
            assert_eq!(
                unpack(pack(STATE_INITIALIZING, pid)),
                InitState::Initializing { pid }
            );
            assert_eq!(unpack(pack(STATE_READY, pid)), InitState::Ready { pid });
        }
        assert_eq!(unpack(0), InitState::Empty);
        assert_eq!(unpack(7), InitState::Invalid(7));
        assert_eq!(unpack(0x100), InitState::Invalid(0x100));
        assert_eq!(unpack(pack(0, 5)), InitState::Invalid(pack(0, 5)));
    }

    #[test]
    fn begin_claims_once() {
        let w = InitWord::new();
        assert!(w.begin(10));
        assert!(!w.begin(11));
        assert_eq!(w.state(), InitState::Initializing { pid: 10 });
        w.publish_ready(10);
        assert_eq!(w.poll_ready(0), InitState::Ready { pid: 10 });
    }
}
