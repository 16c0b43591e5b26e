//! Crash recovery for [`FreeList`] (`shm_layout::Recover`): reclaiming
//! the arenas of dead attachments, sharing blocks, and (in `check.rs`) the
//! self-check and the run map.
//!
//! # Adoption
//! An arena's owner word is an `OwnerSlot`: the holder's `OwnerId` (pid,
//! epoch and start time in one word). A reclaim makes one `Liveness` for
//! its pass and adopts each arena whose holder's process is gone (its pid
//! is gone, a zombie, or now a process with another start time) with one
//! CAS from the dead id to its own (`adopt_if_dead`): exactly one
//! reclaimer wins. It then settles the dead holder's remote free in flight
//! (`owner.rs`), rebuilds the arena (`rebuild.rs`) and releases it. A
//! reclaimer killed mid-rebuild is a dead holder in turn: the next
//! `reclaim_dead` adopts the arena again and rebuilds it from scratch
//! (idempotent). After the arenas, it tidies what nobody holds and takes
//! in the frees made into the caller's own arena.

use crate::block::cas_share;
use crate::rebuild::Freed;
use crate::FreeList;
use shm_layout::{
    finish_reclaim, Adoption, CheckReport, Error, Liveness, Offset, ReclaimReport, Recover, Result,
    Run, SegmentView,
};
use std::time::Instant;

impl<S: AsRef<SegmentView>> Recover for FreeList<S> {
    /// Adopts, rebuilds and releases every arena whose holder's process is
    /// gone (module docs, `rebuild.rs`), tidies the arenas nobody holds and
    /// the huge runs freed without being given back, takes in the frees
    /// made into the calling thread's arena (a dead process's orphans
    /// among them), then frees the dead processes' process-table entries.
    /// `blocks`/`bytes` count the unshared live blocks, cached blocks,
    /// taken remote frees and huge blocks freed. In a forked child, with a
    /// handle inherited from the parent, [`Error::Forked`].
    fn reclaim_dead(&self) -> Result<ReclaimReport> {
        self.not_forked()?;
        let started = Instant::now();
        let mut live = Liveness::new(self.me());
        let mut freed = Freed::default();
        let mut ids = Vec::new();
        for id in 0..self.geometry().arenas as u32 {
            let Adoption::Adopted(dead) = self.slot(id).adopt_if_dead(self.me(), &mut live) else {
                continue;
            };
            let f = self.reclaim_arena(id, dead)?;
            freed.blocks = freed.blocks.saturating_add(f.blocks);
            freed.bytes = freed.bytes.saturating_add(f.bytes);
            if !ids.contains(&dead) {
                ids.push(dead);
            }
        }
        self.tidy()?;
        self.collect()?;
        finish_reclaim(self.view(), started, &ids, freed.blocks, freed.bytes)
    }

    fn check(&self) -> Result<CheckReport> {
        Ok(crate::check::check(self))
    }

    /// Marks the live block at `offset` shared (idempotent): `reclaim_dead`
    /// never frees it, and anyone may still free it.
    /// [`Error::InvalidOffset`] if `offset` is not a live block's start.
    fn share(&self, offset: Offset) -> Result<()> {
        let pool = self.pool();
        let not_live = || Error::InvalidOffset {
            offset: offset.get(),
            reason: "not a live block (it is free)",
        };
        let (b, _, _) = self.locate(&pool, offset).map_err(|e| match e {
            Error::DoubleFree { .. } => not_live(),
            e => e,
        })?;
        let word = pool.word(b).map_err(|f| self.corrupt(f))?;
        match cas_share(word) {
            Ok(_) => Ok(()),
            Err(_) => Err(not_live()),
        }
    }

    fn runs(&self, limit: usize) -> Result<Vec<Run>> {
        crate::check::runs(self, limit)
    }
}
