//! Orphans: REMOTE blocks whose freer died around its push, marked by the
//! reclaim of the freer's arena (`owner.rs`, `block::ORPHAN`) and counted
//! in their own arena's `orphans` word. No list may name an orphan and
//! none ever will, so its arena's owner takes it in by a walk of its spans
//! once it has taken in its remote list (where an orphan pushed before its
//! freer died still is).

// Offset arithmetic reads best with the short names of `arena.rs`.
#![allow(clippy::many_single_char_names)]

use crate::arena::{Arena, Fault};
use crate::block::{State, Tag, MIN_BLOCK, ORPHAN};
use crate::chunks::{self, Kind};
use crate::class::GRANULE_SHIFT;
use shm_layout::sync::Ordering;

impl Arena<'_> {
    /// Takes in the arena's orphans (REMOTE blocks whose freer died and
    /// that no list names, `block::ORPHAN`) when a reclaim reported some:
    /// takes in the remote list first (an orphan may be on it), then walks
    /// the spans for the rest. Returns how many it freed.
    #[cold]
    #[inline(never)]
    pub fn take_orphans(&self) -> Result<u64, Fault> {
        let counter = &self.head.remote.0.orphans;
        // Acquire: pairs with the Release bump of the reclaim that marked
        // them, so the marks are visible to the walk.
        let reported = counter.load(Ordering::Acquire);
        if reported == 0 {
            return Ok(0);
        }
        self.drain_remote()?;
        let mut found = Vec::new();
        self.walk_spans(|b, t| {
            if t.state() == State::Remote && t.owner() == ORPHAN {
                found.push(b);
            }
        })?;
        for &b in &found {
            // Nobody else changes an orphan's tag (it is not USED, and no
            // list names it): the one found is still there, unless a
            // coalesce above merged it into a free block (it does not merge
            // REMOTE blocks), so this re-read is a check only.
            let t = self.own_tag(b)?;
            if t.state() == State::Remote && t.owner() == ORPHAN {
                self.free_remote_block(b, t)?;
            }
        }
        // Relaxed: bumps after our load stay for the next walk.
        counter.fetch_sub(reported, Ordering::Relaxed);
        Ok(found.len() as u64)
    }

    /// Calls `f` on every block of this arena's spans (the owner's view:
    /// the spans tile by tag sizes between its operations). Bounded: one
    /// pass over the table, each span walk by its block count.
    fn walk_spans(&self, mut f: impl FnMut(u64, Tag)) -> Result<(), Fault> {
        let p = &self.pool;
        let chunks = p.map().chunks();
        let mut c = 0;
        while c < chunks {
            let Ok(e) = p.map().entry(c) else {
                c += 1;
                continue;
            };
            let len = u64::from(e.n());
            let whole = len > 0 && c + len <= chunks;
            if e.kind() == Kind::SpanHead && e.owner() == self.owner && whole {
                let (start, end) = (p.chunk_off(c), p.chunk_off(c + len));
                let mut b = start;
                let bound = ((end - start) >> GRANULE_SHIFT) / MIN_BLOCK + 1;
                for _ in 0..bound {
                    if b >= end {
                        break;
                    }
                    let t = self.own_tag(b)?;
                    f(b, t);
                    b += u64::from(t.size()) << GRANULE_SHIFT;
                }
                if b != end {
                    return Err(Fault::Block(start, "a span whose blocks do not tile it"));
                }
            }
            c += chunks::stable_step(e, whole, len);
        }
        Ok(())
    }
}
