//! Who holds which arena: claims, adoption, release, the exit rule, and
//! the tidying of arenas nobody holds.
//!
//! Each arena's `owner` word is a `shm_layout::OwnerSlot` holding the
//! `OwnerId` of the attachment (the `FreeList` handle) that holds it, so
//! every hand-over is one CAS on one word: a claim `0 -> me`, an adoption
//! `dead -> me` (judged by a `Liveness` made once per pass), a release
//! `me -> 0`. There is no instant at which an arena names a process
//! without its start time.
//!
//! **The exit rule.** A block belongs to the attachment that allocated it
//! until it is freed or shared. When the attachment ends its unshared
//! blocks are freed: `Drop` rebuilds each arena it holds exactly as a
//! reclaim rebuilds a dead owner's (`rebuild.rs`), then releases it; a
//! process that never runs `Drop` is reclaimed once it is gone. So an
//! arena nobody holds keeps only shared blocks and REMOTE blocks whose
//! push is still to come.
//!
//! **Arenas nobody holds** still receive frees (of their shared blocks,
//! of blocks freed after their owner left). Whoever frees into one takes
//! the free in itself: it claims the arena, runs `give_back_spare`, and
//! releases it again. The freer's push and the releaser's release are each
//! followed by a `SeqCst` fence and a look at the other word (the
//! store-buffer pattern: of two processes that each write one word, fence,
//! and read the other's, at least one sees the other's write), so either
//! the releaser sees the push and takes it in, or the freer sees the arena
//! free and does (loom model `a_push_and_a_release_never_both_miss`).

use crate::layout::ArenaHead;
use crate::rebuild::{rebuild, Freed};
use crate::FreeList;
use shm_layout::sync::{fence, Ordering};
use shm_layout::{Adoption, Liveness, OwnerId, Result, SegmentView};

/// Rounds a release or a tidy goes on while frees keep arriving (each
/// round means another process pushed meanwhile; after the last, that
/// process's own look at the owner word takes over).
const TIDY_ROUNDS: usize = 64;

/// Whether the words others write into arena `h` hold work for a holder.
fn queued(h: &ArenaHead) -> bool {
    // Relaxed: hints, read after the caller's fence; the claim decides.
    h.remote.0.head.load(Ordering::Relaxed) != 0 || h.remote.0.orphans.load(Ordering::Relaxed) != 0
}

impl<S: AsRef<SegmentView>> FreeList<S> {
    /// Adopts an arena whose holder died, rebuilds it and keeps it: what a
    /// claim falls back on when no arena is free. `None` if none is dead
    /// (or every dead one is corrupt: those are handed back).
    pub(crate) fn adopt_any(&self) -> Option<u32> {
        let mut live = Liveness::new(self.me());
        (0..self.geometry().arenas as u32).find(|&id| {
            let Adoption::Adopted(dead) = self.slot(id).adopt_if_dead(self.me(), &mut live) else {
                return false;
            };
            self.resolve_pending(id);
            if rebuild(&self.arena_in(&self.pool(), id)).is_ok() {
                return true;
            }
            self.slot(id).hand_back(self.me(), dead);
            false
        })
    }

    /// Rebuilds the adopted arena `id` (`dead` held it) and releases it; on
    /// corruption hands it back to `dead`, so that the next reclaim reports
    /// it again instead of this process sitting on it.
    pub(crate) fn reclaim_arena(&self, id: u32, dead: OwnerId) -> Result<Freed> {
        self.resolve_pending(id);
        match rebuild(&self.arena_in(&self.pool(), id)) {
            Ok(f) => {
                self.release_arena(id);
                Ok(f)
            }
            Err(f) => {
                self.slot(id).hand_back(self.me(), dead);
                Err(self.corrupt(f))
            }
        }
    }

    /// The exit rule for one arena this handle holds (`Drop`): the rebuild
    /// a reclaim would run, then the release. A corrupt arena stays held
    /// by us (the next reclaim after this process is gone reports it).
    pub(crate) fn retire_arena(&self, id: u32) {
        self.resolve_pending(id);
        if rebuild(&self.arena_in(&self.pool(), id)).is_ok() {
            self.release_arena(id);
        }
    }

    /// Releases arena `id`, then takes in whatever was freed into it while
    /// we held it and we did not see (module docs).
    pub(crate) fn release_arena(&self, id: u32) {
        // The release's orderings: `OwnerSlot::release`.
        self.slot(id).release(self.me());
        // SYNC POINT (hand-over fence, SeqCst): pairs with the fence in
        // `after_remote_free` (module docs).
        fence(Ordering::SeqCst);
        if queued(self.arena_head(id)) {
            // Corruption found here surfaces on the next holder's use.
            let _ = self.tidy_arena(id);
        }
    }

    /// After a free into arena `id` (a push, or an orphan's mark): if nobody
    /// holds it, takes the free in (module docs).
    pub(crate) fn after_remote_free(&self, id: u32) {
        // SYNC POINT (hand-over fence, SeqCst): pairs with the fence in
        // `release_arena`.
        fence(Ordering::SeqCst);
        if self.slot(id).raw() == 0 {
            let _ = self.tidy_arena(id);
        }
    }

    /// Claims arena `id` if nobody holds it, gives back everything spare in
    /// it (remote frees and orphans taken in, caches flushed, idle and
    /// parked spans back to the heap), and releases it; again while more
    /// arrives (bounded).
    pub(crate) fn tidy_arena(&self, id: u32) -> Result<()> {
        for _ in 0..TIDY_ROUNDS {
            if !self.slot(id).claim(self.me()) {
                return Ok(());
            }
            let done = self.arena_in(&self.pool(), id).give_back_spare();
            self.slot(id).release(self.me());
            done.map_err(|f| self.corrupt(f))?;
            // SYNC POINT (hand-over fence, SeqCst): as in `release_arena`.
            fence(Ordering::SeqCst);
            if !queued(self.arena_head(id)) {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Tidies every arena nobody holds that has work queued or spare spans,
    /// and gives back the runs of huge blocks freed without an arena to
    /// release them under (`huge.rs`). Run by `reclaim_dead` and when a
    /// huge allocation runs short.
    pub(crate) fn tidy(&self) -> Result<()> {
        let mut first = None;
        for id in 0..self.geometry().arenas as u32 {
            let h = self.arena_head(id);
            let s = &h.stats.0;
            // Relaxed: hints; the claim in `tidy_arena` decides.
            let spare =
                s.parked.load(Ordering::Relaxed) != 0 || s.idle.load(Ordering::Relaxed) != 0;
            if self.slot(id).raw() == 0 && (queued(h) || spare) {
                if let Err(e) = self.tidy_arena(id) {
                    first.get_or_insert(e);
                }
            }
        }
        self.tidy_huge();
        first.map_or(Ok(()), Err)
    }

    /// Settles the remote frees the (dead or leaving) holder of arena `id`
    /// had in flight, `pending` and `pending_shared` (`remote::free_block`):
    /// a block still REMOTE by this arena may be on its owner's list or not
    /// (the freer died between its tag CAS and its push, or just after the
    /// push); it is marked orphaned (`block::ORPHAN`) and its arena's
    /// orphan count bumped, so that its owner takes it in either way: off
    /// the list if it is there, by a walk if not. A block found orphaned
    /// already is counted again (the last reclaimer may have died between
    /// the mark and the bump; a count too high only costs a walk). Run by
    /// the adopter, before the rebuild.
    pub(crate) fn resolve_pending(&self, id: u32) {
        let h = self.arena_head(id);
        let freer = (id + 1) as u16;
        for word in [&h.pending, &h.pending_shared] {
            // Relaxed: the adopter's Acquire of the owner slot ordered the
            // dead holder's writes before this (it wrote nothing after).
            let b = word.load(Ordering::Relaxed);
            if b != 0 {
                if let Some(target) = self.orphan(b, freer) {
                    self.after_remote_free(target);
                }
                // Relaxed: owner-only; the release of the arena publishes it.
                word.store(0, Ordering::Relaxed);
            }
        }
    }

    /// Marks block `b` orphaned if it is REMOTE by arena `freer` (or
    /// orphaned already) and bumps its arena's orphan count; returns that
    /// arena. Everything read is checked: a bad `b` is ignored.
    fn orphan(&self, b: u64, freer: u16) -> Option<u32> {
        use crate::block::{State, ORPHAN};
        use crate::chunks::Kind;
        let pool = self.pool();
        if b < pool.start || (b - pool.start) % 16 != 0 {
            return None;
        }
        let t = pool.tag(b).ok()?;
        if t.state() != State::Remote || t.huge() {
            return None;
        }
        let e = pool.map().entry(pool.chunk_of(b)).ok()?;
        let target = u64::from(e.owner());
        if !matches!(e.kind(), Kind::SpanHead | Kind::SpanBody)
            || target == 0
            || target > self.geometry().arenas
        {
            return None;
        }
        let target = (target - 1) as u32;
        if t.owner() == freer {
            // Relaxed: the Release bump below publishes the mark. A CAS from
            // the exact REMOTE-by-us word: the owner may have taken the
            // block in meanwhile (then it is not this word any more).
            pool.word(b)
                .ok()?
                .compare_exchange(
                    t.pack(),
                    t.remote_by(ORPHAN).pack(),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .ok()?;
        } else if t.owner() != ORPHAN {
            return None;
        }
        // SYNC POINT (orphan, Release): pairs with the Acquire load of the
        // count in `Arena::take_orphans` and `rebuild`.
        self.arena_head(target)
            .remote
            .0
            .orphans
            .fetch_add(1, Ordering::Release);
        Some(target)
    }
}
