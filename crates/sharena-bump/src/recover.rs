//! Crash recovery and self-checks for [`Bump`] (`shm_layout::Recover`).
//!
//! Blocks are never freed one by one, so a process that leaves takes no
//! block with it: its blocks stay until the next `reset` or `rewind`.
//! What is per-process is each thread's current reservation (its chunk,
//! and a large block it reserves beside it), recorded in a reservation
//! record of the segment (`state.rs`, `Lane`). Every exit settles the
//! records the same way: `Drop` (normal return, panic) for its own,
//! `reclaim_dead` for a dead attachment's (exit, abort, SIGKILL): the
//! unused tail becomes a filler block, counted like any block, so the bytes
//! in use equal what the blocks hold. `share` accepts any live block (a
//! bump block is never reclaimed, so every block is shared).

use crate::block::{self, HEADER_LEN};
use crate::state::GRAIN;
use crate::state::RECORDS;
use crate::Bump;
use shm_layout::sync::Ordering;
use shm_layout::{
    finish_reclaim, Adoption, CheckReport, Liveness, Offset, OwnerId, ReclaimReport, Recover,
    Result, Run, RunKind, SegmentView,
};
use std::time::Instant;

impl<S: AsRef<SegmentView>> Recover for Bump<S> {
    /// Settles the reservation records of dead attachments (each record's
    /// unused tail becomes a filler block: bytes nobody holds, counted by
    /// `check`, released by the next reset or rewind like every block),
    /// gives the records back, and frees the process-table entries of dead
    /// processes. Reports the processes, 0 blocks (bump blocks are never
    /// freed one by one) and, as `bytes`, the tail bytes it accounted for.
    /// In a fork child, through a handle inherited from the parent,
    /// [`shm_layout::Error::Forked`].
    fn reclaim_dead(&self) -> Result<ReclaimReport> {
        self.not_forked()?;
        let started = Instant::now();
        let (view, st) = self.parts()?;
        let mut live = Liveness::new(self.owner);
        let mut reclaimed: Vec<OwnerId> = Vec::new();
        let mut bytes = 0u64;
        for i in 0..RECORDS {
            let Some(rec) = st.record(i) else { break };
            // The orderings: `OwnerSlot::adopt_if`.
            let holder = match rec.owner().adopt_if_dead(self.owner, &mut live) {
                Adoption::Adopted(holder) => holder,
                Adoption::Free | Adoption::Alive(_) | Adoption::Lost => continue,
            };
            // The snapshot is taken after the adoption: the dead holder's
            // last head CAS (if any) is in it.
            let snap = st.snapshot(self.capacity).map_err(|f| self.fault(f, 0))?;
            match self.settle_record(view, st, i, &snap) {
                Ok(b) => bytes = bytes.saturating_add(b),
                Err(e) => {
                    // A corrupt record: give it back to its holder, so that
                    // the next reclaim (and `check`) still finds it.
                    rec.owner().hand_back(self.owner, holder);
                    return Err(e);
                }
            }
            rec.owner().release(self.owner);
            if !reclaimed.contains(&holder) {
                reclaimed.push(holder);
            }
        }
        finish_reclaim(view, started, &reclaimed, 0, bytes)
    }

    /// Checks the control words (cursor within the pool, the head's epoch
    /// tag and generation parity, reset generation and floor, as every
    /// snapshot does) and walks the block headers below the cursor: a
    /// header of a live generation must describe a block that ends at or
    /// before the cursor. Bytes between blocks (alignment padding, chunk
    /// tails, blocks of released generations) are skipped 8 at a time, so
    /// the walk is bounded by the pool's length / 8. `blocks` counts the
    /// live blocks found, `used_bytes` their lengths plus headers.
    fn check(&self) -> Result<CheckReport> {
        let mut r = CheckReport::default();
        let (view, st) = self.parts()?;
        let snap = match st.snapshot(self.capacity) {
            Ok(s) => s,
            Err(f) => {
                let e = self.fault(f, 0);
                r.problem(self.state_off, e.to_string());
                return Ok(r);
            }
        };
        let used_end = self.pool_off + snap.cursor;
        let current = snap.generation;
        let mut pos = self.pool_off;
        while pos + HEADER_LEN < used_end {
            let start = pos + HEADER_LEN;
            // Relaxed: a snapshot of header words (see `checked.rs`).
            let word = view.atomic_u64(Offset::new(pos))?.load(Ordering::Relaxed);
            let (len, g32) = block::decode(self.salt, start, word);
            let age = block::age(current, g32);
            let past_floor = pos >= self.pool_off + snap.floor;
            let live_age = if past_floor {
                0
            } else {
                current - snap.reset_generation
            };
            // A length of 0 is a filler of one header (a tail of 8 bytes).
            if age <= live_age && start + len <= self.pool_end {
                if start + len > used_end {
                    r.problem(
                        pos,
                        format!(
                            "the block header at {pos} says {len} bytes, past the cursor at {used_end}"
                        ),
                    );
                    break;
                }
                r.blocks += 1;
                r.used_bytes += len + HEADER_LEN;
                pos = start + len;
            } else {
                pos += GRAIN;
            }
        }
        Ok(r)
    }

    /// Ok for a live block (bump blocks are never reclaimed: every block is
    /// already shared); the checked API's error otherwise.
    fn share(&self, offset: Offset) -> Result<()> {
        self.check(offset).map(|_| ())
    }

    /// Two runs at most: the bytes below the shared cursor (`Used`, owner
    /// 0: blocks, padding and chunk tails alike) and the free tail.
    fn runs(&self, limit: usize) -> Result<Vec<Run>> {
        let (_, st) = self.parts()?;
        let snap = st.snapshot(self.capacity).map_err(|f| self.fault(f, 0))?;
        let mut out = Vec::new();
        for (offset, len, kind) in [
            (self.pool_off, snap.cursor, RunKind::Used),
            (
                self.pool_off + snap.cursor,
                self.capacity - snap.cursor,
                RunKind::Free,
            ),
        ] {
            if len > 0 && out.len() < limit {
                out.push(Run {
                    offset,
                    len,
                    kind,
                    owner: 0,
                });
            }
        }
        Ok(out)
    }
}
