//! Releasing memory: [`Bump::reset`], [`Bump::mark`] / [`Bump::rewind`],
//! and the statistics that follow them.

use crate::local::Slot;
use crate::state::{lane_tag, GiveBack, Transition, LANE_CHUNK};
use crate::Bump;
use shm_layout::{AllocStats, Error, Offset, Result, SegmentView};

/// A checkpoint of a bump segment, from [`Bump::mark`], for
/// [`Bump::rewind`]. Plain data: it may be sent to another process of the
/// same segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    salt: u64,
    generation: u64,
    cursor: u64,
    allocations: u64,
}

impl Mark {
    /// The generation the mark was taken in (a reset makes it stale).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Pool-relative bytes in use when the mark was taken: rewinding
    /// releases everything reserved past this point.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }
}

impl<S: AsRef<SegmentView>> Bump<S> {
    /// The current generation: the number of resets and rewinds so far.
    pub fn generation(&self) -> Result<u64> {
        let (_, st) = self.parts()?;
        let snap = st.snapshot(self.capacity).map_err(|f| self.fault(f, 0))?;
        Ok(snap.generation)
    }

    /// Releases every block, in every process, and starts a new generation
    /// (returned; rewinds start generations too). The checked API reports offsets of earlier generations as
    /// [`Error::Stale`]. Lock-free; see the crate docs for what an
    /// allocation racing a reset gets.
    pub fn reset(&self) -> Result<u64> {
        self.not_forked()?;
        let (_, st) = self.parts()?;
        let (_, after) = st
            .transition(self.capacity, Transition::Reset, None)
            .map_err(|f| self.fault(f, 0))?;
        Ok(after.generation)
    }

    /// A checkpoint: [`Bump::rewind`](Self::rewind) to it releases everything allocated
    /// after this call, by any process. Taking it retires every thread's
    /// chunk (in all processes); this thread's unused tail goes back to the
    /// pool when it is the last reservation.
    pub fn mark(&self) -> Result<Mark> {
        self.not_forked()?;
        let (_, st) = self.parts()?;
        let slot = self.local.current();
        let give_back = slot.and_then(|s| {
            let epoch = Slot::get(&s.epoch);
            let (cur, end) = s.chunk_in(epoch)?;
            Some(GiveBack {
                epoch,
                cur: cur.checked_sub(self.pool_off)?,
                end: end.checked_sub(self.pool_off)?,
            })
        });
        // The give-back is recorded in this thread's chunk lane, like a
        // reservation: a death at any point leaves the record right.
        let lane = slot.and_then(|s| {
            let r = usize::try_from(Slot::get(&s.record).checked_sub(1)?).ok()?;
            Some((lane_tag(r, LANE_CHUNK), st.record(r)?.lane(LANE_CHUNK)))
        });
        let (_, after) = st
            .transition(self.capacity, Transition::Mark(give_back), lane)
            .map_err(|f| self.fault(f, 0))?;
        if let (Some(s), Some(gb)) = (slot, give_back) {
            if after.cursor == gb.cur {
                // Given back: the chunk now ends where it was used up to.
                Slot::set(&s.end, Slot::get(&s.cur));
            }
        }
        let (_, local) = self.local.totals(after.epoch, after.generation);
        Ok(Mark {
            salt: self.salt,
            generation: after.generation,
            cursor: after.cursor,
            allocations: st.allocations(after.generation) + local,
        })
    }

    /// Rewinds to `mark`: every byte reserved after it, by any process, is
    /// free again, every thread's chunk retires, and a new generation
    /// starts. Offsets of the released blocks are [`Error::Stale`] (exactly
    /// for the latest rewind; see the crate docs).
    ///
    /// Marks nest: rewind to the innermost first. A mark from before a
    /// reset is [`Error::Stale`], and so is one that a later rewind
    /// released; one of another segment is [`Error::InvalidOffset`].
    pub fn rewind(&self, mark: Mark) -> Result<()> {
        let at = self.pool_off.saturating_add(mark.cursor);
        if mark.salt != self.salt || mark.cursor > self.capacity {
            return Err(Error::InvalidOffset {
                offset: at,
                reason: "the mark belongs to another segment",
            });
        }
        self.not_forked()?;
        let (_, st) = self.parts()?;
        let rewind = Transition::Rewind {
            generation: mark.generation,
            cursor: mark.cursor,
        };
        let (before, after) = st
            .transition(self.capacity, rewind, None)
            .map_err(|f| match self.fault(f, at) {
                Error::Stale {
                    offset, current, ..
                } => Error::Stale {
                    offset,
                    generation: mark.generation,
                    current,
                },
                e => e,
            })?;
        st.raise_high_water(after.generation, before.cursor);
        // The mark counted this thread's unflushed allocations; the ones
        // made since are released: start this thread's count afresh.
        if let Some(slot) = self.local.current() {
            Slot::set(&slot.count, 0);
        }
        let (_, local) = self.local.totals(after.epoch, after.generation);
        st.set_allocations(after.generation, mark.allocations.saturating_sub(local));
        Ok(())
    }

    /// Statistics as this process sees them: bytes reserved by other
    /// processes' chunks count as used, this process's unused chunk bytes
    /// as available.
    pub(crate) fn collect_stats(&self) -> AllocStats {
        let capacity = self.capacity;
        let snap = self
            .parts()
            .ok()
            .and_then(|(_, st)| Some((st, st.snapshot(capacity).ok()?)));
        let Some((st, snap)) = snap else {
            // A corrupt state: report nothing available rather than guess.
            return AllocStats {
                capacity,
                used: capacity,
                ..AllocStats::default()
            };
        };
        let (spare, local) = self.local.totals(snap.epoch, snap.generation);
        let used = snap.cursor.saturating_sub(spare);
        AllocStats {
            capacity,
            used,
            available: capacity - used,
            high_water: st.high_water(snap.generation).max(used),
            allocations: st.allocations(snap.generation) + local,
        }
    }

    /// The segment-relative offset where the pool starts.
    pub fn pool_offset(&self) -> Offset {
        Offset::new(self.pool_off)
    }
}
