//! Crash recovery for [`FreeList`] (`shm_layout::Recover`): adopting the
//! arenas of dead processes, sharing blocks, and (in `check.rs`) the
//! self-check and the run map.
//!
//! # Adoption
//! An arena's owner is `owner` (`epoch << 32 | pid`) plus `owner_start`
//! (the start time, 0 = unknown). It is dead when
//! `ProcId::new(pid, owner_start)` is not alive: the pid is gone, a zombie,
//! or now a different process (another start time). A reclaimer
//! 1. reads `owner` (Acquire), then `owner_start`;
//! 2. zeroes `owner_start` (so that, until step 4, anyone checking sees
//!    "any start": a pid check, which finds the reclaimer alive);
//! 3. CASes `owner` from the dead word to its own (AcqRel): exactly one
//!    reclaimer wins; a loser skips the arena;
//! 4. stores its own start, rebuilds the arena (`rebuild.rs`), and releases
//!    it (`owner_start` 0, then `owner` 0 with Release).
//!
//! `owner_start` is 0 or the start of the process whose pid `owner` names:
//! only the winner of a CAS on `owner` stores a nonzero start, and every
//! hand-over zeroes it first; a reader that reads `owner` with Acquire reads
//! from the release sequence of the store or CAS that put that word there,
//! so it sees the zero written before it or a later value. A reclaimer
//! killed mid-rebuild is a dead owner in turn: the next reclaim adopts the
//! arena again and rebuilds it from scratch (idempotent).

use crate::block::cas_share;
use crate::freelist::release_owner;
use crate::rebuild::{rebuild, Freed};
use crate::FreeList;
use shm_layout::sync::Ordering;
use shm_layout::{
    finish_reclaim, CheckReport, Error, Offset, ProcId, ReclaimReport, Recover, Result, Run,
    SegmentView,
};
use std::time::Instant;

impl<S: AsRef<SegmentView>> FreeList<S> {
    /// Adopts arena `id` if its owner is dead: `Some(dead owner)` if this
    /// call adopted it.
    fn adopt(&self, id: u32) -> Option<(ProcId, u64)> {
        let h = self.arena_head(id);
        // Acquire: pairs with the Release (or AcqRel) that stored this word,
        // so `owner_start` below is at least as new (module docs).
        let w = h.owner.load(Ordering::Acquire);
        if w == 0 || w == self.owner_word() {
            return None;
        }
        // Relaxed: ordered by the Acquire above.
        let start = h.owner_start.load(Ordering::Relaxed);
        let owner = ProcId::new(w as u32, start);
        if owner.is_alive() {
            return None;
        }
        if !crate::owner::adopt(
            &h.owner,
            &h.owner_start,
            w,
            self.owner_word(),
            self.me().start_ticks(),
        ) {
            return None;
        }
        Some((owner, w))
    }

    /// Takes in the remote frees queued on arenas nobody owns (a released or
    /// reclaimed arena whose blocks others freed since) and gives back their
    /// spare spans: claims each such arena, runs `give_back_spare`, releases
    /// it. Run by `reclaim_dead` and when a huge allocation runs short, so
    /// that blocks freed after their owner left do not stay counted as used.
    pub(crate) fn tidy_unowned(&self) -> Result<()> {
        for id in 0..self.geometry().arenas as u32 {
            let h = self.arena_head(id);
            let s = &h.stats.0;
            // Relaxed: hints; the claim CAS below decides.
            if h.owner.load(Ordering::Relaxed) != 0
                || (h.remote.0.load(Ordering::Relaxed) == 0
                    && s.parked.load(Ordering::Relaxed) == 0
                    && s.idle.load(Ordering::Relaxed) == 0)
            {
                continue;
            }
            // SYNC POINT (arena claim, Acquire): as in `claim_arena`.
            if h.owner
                .compare_exchange(0, self.owner_word(), Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            // Relaxed: as in `claim_arena`.
            h.owner_start
                .store(self.me().start_ticks(), Ordering::Relaxed);
            let done = self.arena_in(self.pool(), id).give_back_spare();
            release_owner(h);
            done.map_err(|f| self.corrupt(f))?;
        }
        Ok(())
    }

    /// Rebuilds the adopted arena `id` and releases it; on corruption hands
    /// it back to the dead owner word `w` (so the next reclaim reports it
    /// again instead of this process holding it).
    fn reclaim_arena(&self, id: u32, w: u64, start: u64) -> Result<Freed> {
        let pool = self.pool();
        let a = self.arena_in(pool, id);
        match rebuild(&a) {
            Ok(f) => {
                release_owner(a.head);
                Ok(f)
            }
            Err(f) => {
                let h = a.head;
                // Relaxed/Release: the hand-over order of `release_owner`.
                h.owner_start.store(0, Ordering::Relaxed);
                h.owner.store(w, Ordering::Release);
                h.owner_start.store(start, Ordering::Relaxed);
                Err(self.corrupt(f))
            }
        }
    }
}

impl<S: AsRef<SegmentView>> Recover for FreeList<S> {
    /// Adopts, rebuilds and releases every arena whose owner process is
    /// gone (module docs, `rebuild.rs`), takes in the remote frees queued
    /// on arenas nobody owns, then frees the dead processes' process-table
    /// entries. `blocks`/`bytes` count the unshared live
    /// blocks, cached blocks, taken remote frees and huge blocks freed.
    fn reclaim_dead(&self) -> Result<ReclaimReport> {
        let started = Instant::now();
        let mut freed = Freed::default();
        let mut ids = Vec::new();
        for id in 0..self.geometry().arenas as u32 {
            let Some((owner, w)) = self.adopt(id) else {
                continue;
            };
            let f = self.reclaim_arena(id, w, owner.start_ticks())?;
            freed.blocks += f.blocks;
            freed.bytes += f.bytes;
            if !ids.contains(&owner) {
                ids.push(owner);
            }
        }
        self.tidy_unowned()?;
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
