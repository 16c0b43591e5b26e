//! The free list's self-check and run map (`Recover::check`, `runs`).
//!
//! Both only read, and every loop is bounded by the chunk count or the
//! pool's block count. `check` verifies, each problem with its offset:
//! - the chunk bitmap against the chunk table (a run's chunks are taken; a
//!   taken chunk is in a run), and every run's body entries; a claim or
//!   release in flight (a `Claiming` or `Releasing` head) is reported, as
//!   it is one until it ends or a reclaim of its dead arena finishes it;
//! - every span: its blocks' tags valid and owned by the span's arena,
//!   sizes in bounds and tiling the span exactly;
//! - huge runs: a USED header of the run's owner (a FREE one is a free
//!   whose run is not given back yet);
//! - parked spans: one FREE block;
//! - for *quiescent* arenas only (free, or owned by a running process that
//!   is not mid-operation: run `check` when nobody works for an exact
//!   answer): no two neighbouring FREE blocks, every link word right, the
//!   bins (in bounds, acyclic, each block FREE, of the bin's class, in this
//!   arena, and every FREE block in one), the bin bitmaps, the class caches
//!   (CACHED blocks of the class, each cached block in one), and the
//!   counters `used`/`live` against the walk. A dead owner's arena is
//!   checked for structure only: it may have died mid-operation, and
//!   `reclaim_dead` rebuilds the rest.

// Offset arithmetic reads best with the short names of `arena.rs`.
#![allow(clippy::many_single_char_names)]

use crate::arena::Pool;
use crate::block::{Link, State, Tag, MIN_BLOCK};
use crate::chunks::{Entry, Kind};
use crate::class::{bin_index, bin_of, BINS, FL_COUNT, GRANULE_SHIFT, SL_COUNT};
use crate::layout::{CACHE_CLASSES, CACHE_DEPTH, CACHE_STRIDE};
use crate::rebuild::huge_header;
use crate::FreeList;
use shm_layout::sync::Ordering;
use shm_layout::{CheckReport, Error, Liveness, Result, Run, RunKind, SegmentView};
use std::collections::{HashMap, HashSet};

/// What the walk found in one arena's spans.
#[derive(Default)]
struct ArenaSeen {
    /// FREE blocks: offset -> granules.
    free: HashMap<u64, u64>,
    /// CACHED blocks: offset -> granules.
    cached: HashMap<u64, u64>,
    used: u64,
    live: u64,
}

fn load(w: &shm_layout::sync::AtomicU64) -> u64 {
    // Relaxed: a read-only snapshot (module docs).
    w.load(Ordering::Relaxed)
}

pub(crate) fn check<S: AsRef<SegmentView>>(fl: &FreeList<S>) -> CheckReport {
    let pool = fl.pool();
    let geo = fl.geometry();
    let mut r = CheckReport::default();
    let arenas = geo.arenas as usize;
    let mut seen: Vec<ArenaSeen> = (0..arenas).map(|_| ArenaSeen::default()).collect();
    let mut live = Liveness::new(fl.me());
    let quiet: Vec<bool> = (0..arenas as u32)
        .map(|id| fl.slot(id).holder().is_none_or(|h| live.is_alive(h)))
        .collect();
    let map = &pool.map();
    let chunks = map.chunks();
    let table_at = |c: u64| fl.table_off() + 8 * c;
    let bit = |c: u64| map.bit(c);
    let mut c = 0;
    while c < chunks {
        let e = match map.entry(c) {
            Ok(e) => e,
            Err(crate::chunks::Fault::Entry(_, w)) => {
                r.problem(
                    table_at(c),
                    format!("chunk {c}: table word {w:#x} is not an entry"),
                );
                c += 1;
                continue;
            }
        };
        let n = u64::from(e.n());
        match e.kind() {
            Kind::Free => {
                if bit(c) {
                    r.problem(
                        table_at(c),
                        format!(
                            "chunk {c} is taken in the bitmap but in no run (a set bit always \
                             has a taken table word behind it)"
                        ),
                    );
                }
                c += 1;
                continue;
            }
            Kind::Claiming | Kind::Releasing => {
                let what = if e.kind() == Kind::Claiming {
                    "claimed"
                } else {
                    "given back"
                };
                r.problem(
                    table_at(c),
                    format!(
                        "chunk {c}: a run of {n} chunks being {what} by arena {} (in flight, or \
                         left by a process that died: `reclaim_dead` finishes it)",
                        e.owner()
                    ),
                );
                // Its bodies (those that point back at it) go with it.
                let mut d = 1;
                while d < n
                    && c + d < chunks
                    && map
                        .entry(c + d)
                        .is_ok_and(|b| b.is_body() && u64::from(b.n()) == d)
                {
                    d += 1;
                }
                c += d;
                continue;
            }
            Kind::SpanBody | Kind::HugeBody => {
                r.problem(
                    table_at(c),
                    format!("chunk {c} is a run body without its head"),
                );
                c += 1;
                continue;
            }
            _ => {}
        }
        if n == 0 || c + n > chunks {
            r.problem(
                table_at(c),
                format!("chunk {c}: a run of {n} chunks past the pool"),
            );
            c += 1;
            continue;
        }
        check_run(fl, &mut r, c, e, &bit);
        let owner = u64::from(e.owner());
        let start = pool.chunk_off(c);
        let bytes = n << pool.chunk_shift;
        match e.kind() {
            Kind::SpanHead | Kind::Parked if owner == 0 || owner > geo.arenas => {
                r.problem(
                    table_at(c),
                    format!("span at chunk {c} names no arena ({owner})"),
                );
            }
            Kind::SpanHead => {
                let id = (owner - 1) as usize;
                walk_span(
                    &pool,
                    &mut r,
                    start,
                    start + bytes,
                    e.owner(),
                    quiet[id],
                    &mut seen[id],
                );
            }
            Kind::Parked => {
                let ok = pool.tag(start).is_ok_and(|t| {
                    t.state() == State::Free
                        && t.owner() == e.owner()
                        && u64::from(t.size()) << GRANULE_SHIFT == bytes
                });
                if !ok {
                    r.problem(start, "a parked span that is not one free block");
                }
            }
            Kind::HugeHead => match huge_header(&pool, start, bytes, e.owner()) {
                Some((_, t)) if t.state() == State::Used => {
                    r.blocks += 1;
                    r.used_bytes += bytes;
                }
                Some((b, _)) => r.problem(b, "a freed huge block whose run is still taken"),
                None => r.problem(start, "a huge run without its block header"),
            },
            _ => {}
        }
        c += n;
    }
    for id in 0..arenas {
        if quiet[id] {
            check_arena(fl, &pool, &mut r, id as u32, &seen[id]);
        }
    }
    r
}

/// The body entries and bitmap bits of the run at `c`.
fn check_run<S: AsRef<SegmentView>>(
    fl: &FreeList<S>,
    r: &mut CheckReport,
    c: u64,
    e: Entry,
    bit: &dyn Fn(u64) -> bool,
) {
    let map = fl.pool().map();
    let body = if e.kind() == Kind::HugeHead {
        Kind::HugeBody
    } else {
        Kind::SpanBody
    };
    for k in 0..u64::from(e.n()) {
        if !bit(c + k) {
            r.problem(
                fl.table_off() + 8 * (c + k),
                format!("chunk {} is in a run but free in the bitmap", c + k),
            );
        }
        if k == 0 {
            continue;
        }
        let want = Entry::new(body, e.owner(), k as u32);
        if map.entry(c + k) != Ok(want) {
            r.problem(
                fl.table_off() + 8 * (c + k),
                format!("chunk {}: not the body of the run at chunk {c}", c + k),
            );
        }
    }
}

/// Walks one span of arena `owner` (bounded by its block count).
fn walk_span(
    p: &Pool<'_>,
    r: &mut CheckReport,
    start: u64,
    end: u64,
    owner: u16,
    quiet: bool,
    seen: &mut ArenaSeen,
) {
    let mut b = start;
    let mut prev: Option<(State, u64)> = None;
    while b < end {
        let Ok(t) = p.tag(b) else {
            r.problem(b, "not a block header where the span's tiling puts one");
            return;
        };
        let g = u64::from(t.size());
        // A REMOTE block's tag names its freer, not its arena.
        let theirs = t.owner() != owner && t.state() != State::Remote;
        if t.huge() || theirs || g < MIN_BLOCK || b + (g << GRANULE_SHIFT) > end {
            r.problem(
                b,
                format!(
                    "block tag {:#x} does not fit its span (owner {owner}, span end {end})",
                    t.pack()
                ),
            );
            return;
        }
        r.blocks += 1;
        if quiet {
            let link = p
                .word(b.wrapping_add(8))
                .ok()
                .map(load)
                .and_then(Link::unpack);
            let want = match prev {
                Some((State::Free, pg)) => Link {
                    prev_free: true,
                    size: pg as u32,
                },
                _ => Link::NONE,
            };
            if link.is_none_or(|l| l.prev_free != want.prev_free || (l.prev_free && l != want)) {
                r.problem(b, "a link word that does not describe the block before");
            }
        }
        match t.state() {
            State::Free => {
                if quiet && matches!(prev, Some((State::Free, _))) {
                    r.problem(b, "two neighbouring FREE blocks (coalescing merges them)");
                }
                seen.free.insert(b, g);
            }
            State::Used if t.cached() => {
                seen.cached.insert(b, g);
            }
            State::Used | State::Remote => {
                seen.used += g << GRANULE_SHIFT;
                seen.live += 1;
                r.used_bytes += g << GRANULE_SHIFT;
            }
        }
        prev = Some((if t.cached() { State::Used } else { t.state() }, g));
        b += g << GRANULE_SHIFT;
    }
}

/// Bins, caches and counters of a quiescent arena against the walk.
fn check_arena<S: AsRef<SegmentView>>(
    fl: &FreeList<S>,
    p: &Pool<'_>,
    r: &mut CheckReport,
    id: u32,
    seen: &ArenaSeen,
) {
    let a = fl.arena_in(p, id);
    let at = fl.arena_off(id);
    let bound = seen.free.len() + 1;
    let mut binned: HashSet<u64> = HashSet::new();
    for (i, bin) in a.bins().iter().enumerate() {
        let (fl_i, sl_i) = (i / SL_COUNT, i % SL_COUNT);
        let first = load(bin);
        let bit = load(&a.head.sl_map[fl_i]) >> sl_i & 1 == 1;
        if bit != (first != 0) {
            r.problem(
                at,
                format!("arena {id}: bin {i}'s bitmap bit disagrees with the bin"),
            );
        }
        let (mut b, mut back, mut steps) = (first, 0, 0);
        while b != 0 {
            steps += 1;
            if steps > bound {
                r.problem(
                    at,
                    format!("arena {id}: bin {i} is longer than its free blocks (a cycle)"),
                );
                break;
            }
            let Some(&g) = seen.free.get(&b) else {
                r.problem(
                    b,
                    format!("arena {id}: bin {i} holds a block that is not one of its FREE blocks"),
                );
                break;
            };
            let (f, s) = bin_of(g);
            if bin_index(f, s) != i {
                r.problem(b, format!("arena {id}: a block of {g} granules in bin {i}"));
            }
            if !binned.insert(b) {
                r.problem(
                    b,
                    format!("arena {id}: a block in two bins or twice in one"),
                );
                break;
            }
            let (Ok(nw), Ok(pw)) = (p.word(b.wrapping_add(16)), p.word(b.wrapping_add(24))) else {
                break;
            };
            if load(pw) != back {
                r.problem(
                    b,
                    format!("arena {id}: a bin's back link that does not match"),
                );
            }
            back = b;
            b = load(nw);
        }
    }
    for fl_i in 0..FL_COUNT {
        let bit = load(&a.head.fl_map) >> fl_i & 1 == 1;
        if bit != (load(&a.head.sl_map[fl_i]) & 0xFFFF != 0) {
            r.problem(
                at,
                format!("arena {id}: level {fl_i}'s bitmap bit disagrees"),
            );
        }
    }
    debug_assert_eq!(a.bins().len(), BINS);
    for &b in seen.free.keys() {
        if !binned.contains(&b) {
            r.problem(b, format!("arena {id}: a FREE block in no bin"));
        }
    }
    let mut cached = HashSet::new();
    for class in 0..CACHE_CLASSES {
        let base = class * CACHE_STRIDE;
        let n = load(&a.cache()[base]);
        if n > CACHE_DEPTH as u64 {
            r.problem(at, format!("arena {id}: class cache {class} counts {n}"));
            continue;
        }
        for k in 1..=n as usize {
            let b = load(&a.cache()[base + k]);
            match seen.cached.get(&b) {
                Some(&g) if bin_index(bin_of(g).0, bin_of(g).1) == class => {
                    if !cached.insert(b) {
                        r.problem(b, format!("arena {id}: a block cached twice"));
                    }
                }
                _ => r.problem(
                    b,
                    format!(
                        "arena {id}: class cache {class} names a block that is not CACHED in it"
                    ),
                ),
            }
        }
    }
    for &b in seen.cached.keys() {
        if !cached.contains(&b) {
            r.problem(b, format!("arena {id}: a CACHED block in no class cache"));
        }
    }
    let s = &a.head.stats.0;
    if load(&s.used) != seen.used || load(&s.live) != seen.live {
        r.problem(
            at + 256,
            format!(
                "arena {id}: counters say {} bytes in {} blocks; its spans hold {} in {}",
                load(&s.used),
                load(&s.live),
                seen.used,
                seen.live
            ),
        );
    }
}

/// The pool as runs (`Recover::runs`).
pub(crate) fn runs<S: AsRef<SegmentView>>(fl: &FreeList<S>, limit: usize) -> Result<Vec<Run>> {
    let pool = fl.pool();
    let map = &pool.map();
    let chunks = map.chunks();
    let mut out: Vec<Run> = Vec::new();
    let corrupt = |at: u64, what: String| Error::Corrupt {
        segment: fl.view().name().to_string(),
        what,
        at,
    };
    let mut c = 0;
    while c < chunks && out.len() <= limit {
        let e = map.entry(c).map_err(|f| fl.corrupt(f.into()))?;
        let n = u64::from(e.n());
        let start = pool.chunk_off(c);
        let owner = u32::from(e.owner());
        if e.kind() == Kind::Free {
            push(
                &mut out,
                limit,
                start,
                1 << pool.chunk_shift,
                RunKind::Free,
                0,
            );
            c += 1;
            continue;
        }
        if matches!(e.kind(), Kind::Claiming | Kind::Releasing) && n > 0 && c + n <= chunks {
            // In flight: the head and the bodies that point back at it.
            let mut d = 1;
            while d < n
                && map
                    .entry(c + d)
                    .is_ok_and(|b| b.is_body() && u64::from(b.n()) == d)
            {
                d += 1;
            }
            push(
                &mut out,
                limit,
                start,
                d << pool.chunk_shift,
                RunKind::Used,
                owner,
            );
            c += d;
            continue;
        }
        if !matches!(e.kind(), Kind::SpanHead | Kind::HugeHead | Kind::Parked)
            || n == 0
            || c + n > chunks
        {
            return Err(corrupt(
                fl.table_off() + 8 * c,
                format!(
                    "chunk {c}: a run entry {:#x} that does not start a run",
                    e.pack()
                ),
            ));
        }
        let bytes = n << pool.chunk_shift;
        match e.kind() {
            Kind::Parked => push(&mut out, limit, start, bytes, RunKind::Free, owner),
            Kind::HugeHead => {
                let kind = match huge_header(&pool, start, bytes, e.owner()) {
                    Some((_, t)) if t.state() == State::Used && t.shared() => RunKind::Shared,
                    Some((_, t)) if t.state() == State::Free => RunKind::Free,
                    _ => RunKind::Used,
                };
                push(&mut out, limit, start, bytes, kind, owner);
            }
            _ => {
                let end = start + bytes;
                let mut b = start;
                while b < end {
                    let t: Tag = pool.tag(b).map_err(|f| fl.corrupt(f))?;
                    let g = u64::from(t.size());
                    if g < MIN_BLOCK || b + (g << GRANULE_SHIFT) > end {
                        return Err(corrupt(
                            b,
                            format!("block of {g} granules does not fit its span"),
                        ));
                    }
                    let kind = match t.state() {
                        State::Free => RunKind::Free,
                        State::Remote => RunKind::Remote,
                        State::Used if t.cached() => RunKind::Cached,
                        State::Used if t.shared() => RunKind::Shared,
                        State::Used => RunKind::Used,
                    };
                    push(&mut out, limit, b, g << GRANULE_SHIFT, kind, owner);
                    b += g << GRANULE_SHIFT;
                }
            }
        }
        c += n;
    }
    out.truncate(limit);
    Ok(out)
}

/// Appends a run, merged into the last one if adjacent, same kind and owner.
fn push(out: &mut Vec<Run>, limit: usize, offset: u64, len: u64, kind: RunKind, owner: u32) {
    if let Some(last) = out.last_mut() {
        if last.offset + last.len == offset && last.kind == kind && last.owner == owner {
            last.len += len;
            return;
        }
    }
    if out.len() <= limit {
        out.push(Run {
            offset,
            len,
            kind,
            owner,
        });
    }
}
