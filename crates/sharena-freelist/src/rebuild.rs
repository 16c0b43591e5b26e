//! Rebuilding a dead process's arena from the chunk table and the block
//! tags (`reclaim_dead`, in `recover.rs`, adopts the arena first).
//!
//! The dead owner may have died anywhere, mid-carve or mid-coalesce, with
//! plain stores half done, so nothing owner-written is trusted: the bins,
//! their bitmaps, the class caches and the counters are cleared and
//! rebuilt. What is trusted (after bounds checks) is what every path keeps
//! consistent at every instruction: the chunk table's runs of this arena
//! and the tags, whose sizes tile each span (`docs/ALLOCATORS.md`,
//! "Recovery"). Two phases:
//!
//! 1. **Lists.** Every block the dead owner had taken off its remote list
//!    but not yet freed (`drain_block`, `draining`), and every block still
//!    on the list (taken now through `draining`), is REMOTE: each becomes a
//!    FREE block of the same size, which the walk then merges. A block left
//!    FREE on `draining` was converted by an earlier reclaimer that died:
//!    its link is intact (nothing bins it before `draining` is cleared).
//! 2. **Walk.** Every run the table gives this arena is finished: a claim
//!    or a release the owner left half done is rolled back or completed
//!    (`ChunkMap::resume`); every span is walked block by block: FREE,
//!    CACHED, orphaned REMOTE and unshared USED blocks (the last by a CAS,
//!    which a live process's remote free of the same block may win) become
//!    free space, merged with their free neighbours and binned; shared USED
//!    blocks and other REMOTE blocks (a push still to come) stay, with their
//!    link words rewritten. A span left entirely free goes back to the
//!    chunk heap; parked spans and unshared huge blocks of this arena too.
//!
//! (Before both, `recover.rs` settles the dead owner's own remote free in
//! flight, `pending`, which is a block of another arena.)
//!
//! Every store keeps the walk consistent, so a reclaimer that dies here
//! leaves an arena the next reclaimer rebuilds again (it adopts it: the
//! dead reclaimer is itself a dead owner).

// Offset arithmetic reads best with the short names of `arena.rs`.
#![allow(clippy::many_single_char_names)]

use crate::arena::{load, store, Arena, Fault, Pool};
use crate::block::{relink, Link, State, Tag, HEADER, MIN_BLOCK, ORPHAN};
use crate::chunks::{Entry, Kind};
use crate::class::GRANULE_SHIFT;
use crate::remote;
use shm_layout::sync::Ordering;

/// What one arena's rebuild freed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Freed {
    /// Blocks freed: unshared USED, CACHED, taken REMOTE, unshared huge.
    pub blocks: u64,
    /// Their bytes (headers and rounding included; whole chunks for huge).
    pub bytes: u64,
}

/// Rebuilds the arena `a`, which the caller adopted (or holds and is
/// leaving: `Drop` runs the same code).
pub(crate) fn rebuild(a: &Arena<'_>) -> Result<Freed, Fault> {
    let mut freed = Freed::default();
    // Acquire: pairs with the Release bumps of the reclaims that marked
    // orphans here: the walk below frees every orphan counted so far.
    let orphans = a.head.remote.0.orphans.load(Ordering::Acquire);
    take_lists(a, &mut freed)?;
    clear_owner_state(a);
    walk_table(a, &mut freed)?;
    // Relaxed: bumps after our load stay for the next owner's walk.
    a.head
        .remote
        .0
        .orphans
        .fetch_sub(orphans, Ordering::Relaxed);
    Ok(freed)
}

/// The tag of `b` if it is an in-span block of `a` (16-aligned, in a span
/// of this arena, tag owned by it).
fn own_block(a: &Arena<'_>, b: u64) -> Result<Tag, Fault> {
    let p = &a.pool;
    if b < p.start || b >= p.end || (b - p.start) % 16 != 0 {
        return Err(Fault::Block(b, "a remote-list link outside the pool"));
    }
    let e = p.map().entry(p.chunk_of(b))?;
    if !matches!(e.kind(), Kind::SpanHead | Kind::SpanBody) || e.owner() != a.owner {
        return Err(Fault::Block(b, "a remote-list block outside its arena"));
    }
    a.own_tag(b)
}

/// Phase 1: every taken or queued remote free becomes a FREE tag.
fn take_lists(a: &Arena<'_>, freed: &mut Freed) -> Result<(), Fault> {
    let h = a.head;
    let cur = load(&h.drain_block);
    if cur != 0 {
        // While `drain_block` names a block, a REMOTE tag there is the dead
        // owner's to free (only the owner reallocates it, after clearing
        // the word); any other tag means it got that far.
        if let Ok(t) = own_block(a, cur) {
            if t.state() == State::Remote {
                store(a.pool.word(cur)?, Tag::free(a.owner, t.size()).pack());
                count(freed, t);
            }
        }
        store(&h.drain_block, 0);
    }
    follow(a, load(&h.draining), freed)?;
    store(&h.draining, 0);
    let list = remote::take_into(&h.remote.0.head, &h.draining);
    follow(a, list, freed)?;
    store(&h.draining, 0);
    Ok(())
}

fn count(freed: &mut Freed, t: Tag) {
    // Saturating: a hostile list may name more blocks than the pool holds
    // before its bound stops it; the totals are a report, not an input.
    freed.blocks = freed.blocks.saturating_add(1);
    freed.bytes = freed
        .bytes
        .saturating_add(u64::from(t.size()) << GRANULE_SHIFT);
}

/// Frees the REMOTE blocks of the list starting at `off` (bounded: a list
/// longer than the pool has blocks is a cycle).
fn follow(a: &Arena<'_>, mut off: u64, freed: &mut Freed) -> Result<(), Fault> {
    let p = &a.pool;
    let bound = ((p.end - p.start) >> GRANULE_SHIFT) / MIN_BLOCK + 1;
    let mut n = 0;
    while off != 0 {
        n += 1;
        if n > bound {
            return Err(Fault::Block(off, "the remote list has a cycle"));
        }
        let t = own_block(a, off)?;
        let next = load(p.word(off.wrapping_add(16))?);
        match t.state() {
            State::Remote => {
                store(p.word(off)?, Tag::free(a.owner, t.size()).pack());
                count(freed, t);
            }
            // Converted by a reclaimer that died before clearing `draining`.
            State::Free => {}
            State::Used => {
                return Err(Fault::Block(
                    off,
                    "a block on the remote list is not REMOTE",
                ))
            }
        }
        off = next;
    }
    Ok(())
}

/// Clears the bins, their bitmaps, the class caches and the span hints.
fn clear_owner_state(a: &Arena<'_>) {
    let s = &a.head.stats.0;
    let words = a
        .bins()
        .iter()
        .chain(a.cache().iter())
        .chain(&a.head.sl_map);
    for w in words.chain([&a.head.fl_map, &s.parked, &s.idle, &s.cached]) {
        // Only the words that are not zero already: a leaving handle's
        // arena is mostly empty, and every store is a write to the segment.
        if load(w) != 0 {
            store(w, 0);
        }
    }
}

/// Phase 2 over the chunk table: this arena's spans, parked spans and huge
/// blocks. One pass; every step moves forward.
fn walk_table(a: &Arena<'_>, freed: &mut Freed) -> Result<(), Fault> {
    let p = &a.pool;
    let chunks = p.map().chunks();
    let (mut used, mut live, mut spans) = (0u64, 0u64, 0u64);
    let mut c = 0;
    while c < chunks {
        // Other processes change their own runs meanwhile: a word that does
        // not decode, or a run of another arena, is just skipped.
        let Ok(e) = p.map().entry(c) else {
            c += 1;
            continue;
        };
        let n = u64::from(e.n());
        let whole = n > 0 && c + n <= chunks;
        let mine = e.owner() == a.owner;
        match e.kind() {
            Kind::SpanHead if mine => {
                if !whole {
                    return Err(Fault::Chunk(crate::chunks::Fault::Entry(c, e.pack())));
                }
                let w = walk_span(a, c, e, freed)?;
                used += w.used;
                live += w.live;
                spans += u64::from(w.kept);
            }
            // Anyone may steal a parked span; so do we (one CAS decides).
            Kind::Parked if mine && whole => {
                p.map().take_run(c, e, a.owner);
            }
            Kind::HugeHead if mine && whole => huge(a, c, e, freed)?,
            // A claim or a release the owner left half done.
            Kind::Claiming | Kind::Releasing if mine && whole => {
                p.map().resume(c, e);
            }
            _ => {}
        }
        c += crate::chunks::stable_step(e, whole, n);
    }
    let s = &a.head.stats.0;
    store(&s.used, used);
    store(&s.live, live);
    store(&s.spans, spans);
    Ok(())
}

/// What walking one span found.
struct SpanWalk {
    /// Bytes and count of blocks still live (shared USED, REMOTE).
    used: u64,
    live: u64,
    /// The span stays (it holds a live block).
    kept: bool,
}

/// Walks span `e` at chunk `c` block by block (bounded: every step moves
/// by a block of at least `MIN_BLOCK` granules), rebuilding it.
fn walk_span(a: &Arena<'_>, c: u64, e: Entry, freed: &mut Freed) -> Result<SpanWalk, Fault> {
    let p = &a.pool;
    let start = p.chunk_off(c);
    let end = start + (u64::from(e.n()) << p.chunk_shift);
    let mut w = SpanWalk {
        used: 0,
        live: 0,
        kept: false,
    };
    // The free run being merged: (first block, granules).
    let mut run: Option<(u64, u64)> = None;
    let mut b = start;
    let bound = ((end - start) >> GRANULE_SHIFT) / MIN_BLOCK + 1;
    let mut steps = 0;
    while b < end {
        steps += 1;
        if steps > bound {
            return Err(Fault::Block(b, "a span walk that does not end"));
        }
        let t = a.own_tag(b)?;
        let g = u64::from(t.size());
        let next = b + (g << GRANULE_SHIFT);
        if next > end {
            return Err(Fault::Block(b, "a block that runs past its span"));
        }
        let free = match t.state() {
            State::Free => true,
            State::Used if t.cached() => {
                count(freed, t);
                true
            }
            State::Used if t.shared() => false,
            State::Used => {
                // A CAS, not a store: a live process may be freeing this
                // block (REMOTE) or sharing it right now; whoever wins, the
                // other sees the result. No retry-on-shared here: a block
                // shared meanwhile stays.
                let word = p.word(b)?;
                // Relaxed: decides a race only (as `block::cas_tag`).
                match word.compare_exchange(
                    t.pack(),
                    Tag::free(a.owner, t.size()).pack(),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        count(freed, t);
                        true
                    }
                    Err(now) => match Tag::unpack(now) {
                        Some(t2) if t2.size() == t.size() && t2.state() != State::Free => false,
                        _ => {
                            return Err(Fault::Block(b, "a tag that changed size under a reclaim"))
                        }
                    },
                }
            }
            // Freed by a process that died around its push: no list names
            // it (the lists were taken in above), and none ever will.
            State::Remote if t.owner() == ORPHAN => {
                count(freed, t);
                true
            }
            // Freed by someone else and not yet pushed: the push will come
            // (or, if that freer dies first, its reclaim orphans it).
            State::Remote => false,
        };
        if free {
            run = Some(match run {
                Some((rs, rg)) => (rs, rg + g),
                None => (b, g),
            });
        } else {
            // Kept: re-read the state for the counters (a CAS lost above
            // means it is REMOTE or shared now; both count as used).
            let link = match run.take() {
                Some((rs, rg)) => {
                    flush(a, rs, rg)?;
                    Link {
                        prev_free: true,
                        size: rg as u32,
                    }
                }
                None => Link::NONE,
            };
            // A kept USED block keeps its slack.
            let lw = p.word(b.wrapping_add(8))?;
            store(lw, relink(load(lw), link));
            w.used += g << GRANULE_SHIFT;
            w.live += 1;
            w.kept = true;
        }
        b = next;
    }
    match run {
        Some((rs, _)) if rs == start => {
            // Entirely free: back to the chunk heap (one CAS from the span
            // head this arena's holder alone changes).
            p.map().take_run(c, e, a.owner);
        }
        Some((rs, rg)) => flush(a, rs, rg)?,
        None => {}
    }
    Ok(w)
}

/// Makes `rs` one FREE block of `rg` granules (one store: the blocks inside
/// are skipped by any later walk) and bins it.
fn flush(a: &Arena<'_>, rs: u64, rg: u64) -> Result<(), Fault> {
    let p = &a.pool;
    store(p.word(rs)?, Tag::free(a.owner, rg as u32).pack());
    // The block before a free run is live or the span's start.
    store(p.word(rs.wrapping_add(8))?, Link::NONE.pack());
    a.insert(rs, rg)
}

/// Frees the huge block of this arena whose run starts at chunk `c` (head
/// `e`), unless it is shared.
fn huge(a: &Arena<'_>, c: u64, e: Entry, freed: &mut Freed) -> Result<(), Fault> {
    let p = &a.pool;
    let start = p.chunk_off(c);
    let n = u64::from(e.n());
    let run_bytes = n << p.chunk_shift;
    let Some((b, t)) = huge_header(p, start, run_bytes, a.owner) else {
        return Err(Fault::Block(start, "a huge run without its block header"));
    };
    if t.state() == State::Used {
        if t.shared() {
            return Ok(());
        }
        // Relaxed: decides the race with a live free of the block.
        if p.word(b)?
            .compare_exchange(
                t.pack(),
                t.with(State::Free).pack(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return Ok(()); // freed or shared meanwhile: theirs.
        }
    }
    // FREE: ours now, or a freer's (live or dead) that has not given the run
    // back yet. The head CAS decides; the winner counts it.
    if p.map().take_run(c, e, a.owner) {
        freed.blocks = freed.blocks.saturating_add(1);
        freed.bytes = freed.bytes.saturating_add(run_bytes);
    }
    Ok(())
}

/// The header of the huge block whose run of `run_bytes` starts at `start`
/// (owner `owner`): it sits `front - 16` bytes in, `front` = max(16, align),
/// a power of two up to 4096, with `front` in its link. Tries each,
/// preferring a USED one (a FREE one may be a stale header of an earlier
/// block of the same run, freed before).
pub(crate) fn huge_header(
    p: &Pool<'_>,
    start: u64,
    run_bytes: u64,
    owner: u16,
) -> Option<(u64, Tag)> {
    let mut found: Option<(u64, Tag)> = None;
    let mut front = HEADER;
    while front <= crate::MAX_ALIGN && front < run_bytes {
        let b = start + front - HEADER;
        if let (Ok(t), Ok(lw)) = (p.tag(b), p.word(b.wrapping_add(8))) {
            let link_ok =
                Link::unpack(load(lw)).is_some_and(|l| u64::from(l.size) << GRANULE_SHIFT == front);
            if t.huge() && t.owner() == owner && link_ok && t.state() != State::Remote {
                if t.state() == State::Used {
                    return Some((b, t));
                }
                found = found.or(Some((b, t)));
            }
        }
        front <<= 1;
    }
    found
}
