//! Offset validation for the checked API (`usable_size`, and through it
//! `read`, `write`, `block_ptr` and the typed helpers).
//!
//! An offset is a live block start iff it lies in the pool, is 8-aligned,
//! its header decodes (with this segment's salt and this offset's key) to
//! a live generation (the current one at or past the floor of the last
//! reset or rewind, any since the last reset below it) and a length whose
//! block ends inside the bytes reserved so far. Nothing read from the segment is used before it is
//! checked: the header word is read through a bounds-checked atomic and its
//! decoded length is compared with the pool's end before any arithmetic
//! that could overflow.

use crate::block::{self, HEADER_LEN};
use crate::state::GRAIN;
use crate::Bump;
use shm_layout::sync::Ordering;
use shm_layout::{Error, Offset, Result, SegmentView};

impl<S: AsRef<SegmentView>> Bump<S> {
    /// Validates `offset` as a live block start; returns its usable length.
    pub(crate) fn check(&self, offset: Offset) -> Result<u64> {
        self.check_full(offset).map(|(len, _)| len)
    }

    /// The size the allocation of the live block at `offset` asked for:
    /// what `read`, `write` and the typed helpers may touch (at most
    /// [`usable_size`](shm_layout::ShmAllocator::usable_size), which the
    /// zero-copy path `block_ptr` may touch). Errors as `usable_size` does.
    pub fn requested_size(&self, offset: Offset) -> Result<u64> {
        // `len` is a positive multiple of 8 and the slack at most 7.
        self.check_full(offset).map(|(len, slack)| len - slack)
    }

    /// As `check`, with the header's slack: (usable length, slack).
    fn check_full(&self, offset: Offset) -> Result<(u64, u64)> {
        let o = offset.get();
        let invalid = |reason: &'static str| Error::InvalidOffset { offset: o, reason };
        if o == 0 {
            return Err(invalid("null offset"));
        }
        if o < self.pool_off + HEADER_LEN || o >= self.pool_end {
            return Err(invalid("not inside this segment's pool"));
        }
        if o % GRAIN != 0 {
            return Err(invalid("not 8-byte aligned, so no block starts there"));
        }
        let (view, st) = self.parts()?;
        let snap = st.snapshot(self.capacity).map_err(|f| self.fault(f, 0))?;
        // Relaxed: pairs with the Relaxed header store through the
        // happens-before edge that handed this offset to us (see
        // `write_header`); a header of a block still being carved is not a
        // block this caller can hold.
        let word = view
            .atomic_u64(Offset::new(o - HEADER_LEN))?
            .load(Ordering::Relaxed);
        let (len, g32) = block::decode(self.salt, o, word);
        // `len` < 2^35 and `o` < 2^47: no overflow.
        let in_pool = len > 0 && o + len <= self.pool_end;
        let used_end = self.pool_off + snap.cursor;
        let current = snap.generation;
        // How many generations ago the header says the block was made.
        let age = block::age(current, g32);
        // Blocks at or past the floor were made after the last reset or
        // rewind, so in the current generation; blocks below it in any
        // generation since the last reset.
        let past_floor = o - HEADER_LEN >= self.pool_off + snap.floor;
        let live_age = if past_floor {
            0
        } else {
            current - snap.reset_generation
        };
        if in_pool && age <= live_age && o + len <= used_end {
            return Ok((len, block::slack(self.salt, o, word)));
        }
        if in_pool && age > 0 && age <= current {
            // A header of an earlier generation where only a newer one can
            // be live: released by a reset or a rewind. (A garbage word
            // lands here with odds of about age / 2^29.)
            return Err(Error::Stale {
                offset: o,
                generation: current - age,
                current,
            });
        }
        if o >= used_end {
            Err(invalid("not allocated: past the bump cursor"))
        } else {
            Err(invalid("not the start of a live block"))
        }
    }
}
