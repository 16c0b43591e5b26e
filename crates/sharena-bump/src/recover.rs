//! Crash recovery and self-checks for [`Bump`] (`shm_layout::Recover`).
//!
//! A bump segment records no per-process state: a thread's chunk (its
//! reservation from the shared cursor) lives in that process's memory
//! only, and blocks are never freed one by one. So a dead process leaves
//! nothing the segment could give back: its blocks stay until the next
//! `reset` or `rewind`, and the unused tail of its last chunk is not
//! recorded anywhere (at most one chunk, `params[0]` bytes, per thread
//! that died; reclaimed by the next reset like every other byte).
//! `reclaim_dead` therefore frees only the process-table entries of dead
//! processes and reports 0 blocks and 0 bytes; `share` accepts any live
//! block (a bump block is never reclaimed, so every block is shared).

use crate::block::{self, HEADER_LEN};
use crate::state::GRAIN;
use crate::Bump;
use shm_layout::sync::Ordering;
use shm_layout::{
    finish_reclaim, CheckReport, Offset, ReclaimReport, Recover, Result, Run, RunKind, SegmentView,
};
use std::time::Instant;

impl<S: AsRef<SegmentView>> Recover for Bump<S> {
    /// Frees the process-table entries of dead processes; reports 0 blocks
    /// (see the module notes: nothing else is per-process). In a fork child,
    /// through a handle inherited from the parent, [`shm_layout::Error::Forked`].
    fn reclaim_dead(&self) -> Result<ReclaimReport> {
        self.not_forked()?;
        let started = Instant::now();
        finish_reclaim(
            self.seg.as_ref(),
            started,
            &[] as &[shm_layout::OwnerId],
            0,
            0,
        )
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
            let age = u64::from((current as u32).wrapping_sub(g32));
            let past_floor = pos >= self.pool_off + snap.floor;
            let live_age = if past_floor {
                0
            } else {
                current - snap.reset_generation
            };
            if len > 0 && age <= live_age && start + len <= self.pool_end {
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
