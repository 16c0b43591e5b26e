//! An arena: one thread's heap of blocks carved from its spans, with TLSF
//! bins (`class.rs`) and boundary-tag coalescing. Only the arena's owner
//! runs the code here (plain loads and stores through the shim's atomics,
//! `Relaxed`, on lines no one else writes); other threads and processes
//! only push onto its remote list (`remote.rs`) and CAS a USED tag to
//! REMOTE first, which the owner's own free does with a CAS too.
//!
//! Invariants the owner keeps between its operations (`docs/ALLOCATORS.md`
//! lists them all): blocks tile each span; no two FREE blocks are
//! neighbours; every FREE block is in exactly the bin of its size, and
//! every block in a bin is FREE; a block's `Link` says whether the block
//! before it is FREE and, if so, its size; a span that is entirely free is
//! parked or given back, never left in a bin.

// Offset arithmetic reads best with the usual short names: `b` a block,
// `g` granules, `p` the pool, `s` the stats, `t` a tag.
#![allow(clippy::many_single_char_names)]

use crate::block::{
    cas_state, cas_tag, relink, with_slack, Link, State, Tag, HEADER, MAX_SLACK, MIN_BLOCK,
};
use crate::chunks::{self, ChunkMap, Entry, Kind};
use crate::class::{bin_index, bin_of, search_bin, BINS, FL_COUNT, GRANULE, GRANULE_SHIFT};
use crate::layout::{
    ArenaHead, Control, BINS_OFFSET, CACHE_CLASSES, CACHE_DEPTH, CACHE_OFFSET, CACHE_STRIDE,
};
use crate::remote;
use shm_layout::sync::{atomic_u64_at, AtomicU64, Ordering};

/// A corrupt value met by the owner (turned into `Error::Corrupt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The chunk table.
    Chunk(chunks::Fault),
    /// A block header or link at this offset is impossible here.
    Block(u64, &'static str),
}

impl From<chunks::Fault> for Fault {
    fn from(f: chunks::Fault) -> Self {
        Fault::Chunk(f)
    }
}

/// Where the pool is and how it is cut: worked out once at attach from
/// the validated geometry (process-local, never read from the segment).
#[derive(Clone, Copy, Debug)]
pub struct PoolParts {
    /// The pool's first byte (a segment offset, page-aligned).
    pub start: u64,
    /// One past the last chunk's last byte.
    pub end: u64,
    /// `end - start` (at least a page).
    pub len: u64,
    /// log2 of the chunk size.
    pub chunk_shift: u32,
    /// Chunks per span (at least 1).
    pub span_chunks: u64,
    /// Segment offsets of the control block, the chunk bitmap and the
    /// chunk table, and their lengths in words.
    pub ctl_off: u64,
    pub bitmap_off: u64,
    pub bitmap_words: usize,
    pub table_off: u64,
    pub chunks: usize,
}

/// The pool as the owner sees it: the mapping's base and the parts, two
/// words (made on every operation); the chunk heap and the control block
/// are found from them when needed.
#[derive(Clone, Copy, Debug)]
pub struct Pool<'a> {
    /// The mapping's base in this process.
    base: *mut u8,
    parts: &'a PoolParts,
}

impl core::ops::Deref for Pool<'_> {
    type Target = PoolParts;
    #[inline(always)]
    fn deref(&self) -> &PoolParts {
        self.parts
    }
}

impl<'a> Pool<'a> {
    /// The pool of a mapping at `base`.
    ///
    /// # Safety
    /// `parts` were validated against this mapping (its pool, control
    /// block, bitmap and table lie inside it, 8-aligned, atomics by
    /// format), which stays mapped for `'a`.
    #[inline(always)]
    pub unsafe fn new(base: *mut u8, parts: &'a PoolParts) -> Self {
        Pool { base, parts }
    }

    /// The mapping's base in this process.
    #[inline(always)]
    pub fn base(&self) -> *mut u8 {
        self.base
    }

    /// The chunk heap.
    #[inline(always)]
    pub fn map(&self) -> ChunkMap<'a> {
        let p = self.parts;
        // SAFETY: `new`'s contract: the bitmap and the table lie inside
        // the mapping, 8-aligned, atomics by format, alive for `'a`.
        unsafe {
            ChunkMap::new(
                std::slice::from_raw_parts(
                    self.base.add(p.bitmap_off as usize).cast::<AtomicU64>(),
                    p.bitmap_words,
                ),
                std::slice::from_raw_parts(
                    self.base.add(p.table_off as usize).cast::<AtomicU64>(),
                    p.chunks,
                ),
            )
        }
    }

    /// The control block.
    #[inline(always)]
    pub fn ctl(&self) -> &'a Control {
        // SAFETY: as in `map`: the control block lies in the mapping,
        // 128-aligned, all atomics.
        unsafe { &*self.base.add(self.parts.ctl_off as usize).cast::<Control>() }
    }

    /// The word at segment offset `off`: `Err` unless it lies in the pool,
    /// 8-aligned. Every offset read from shared memory goes through here.
    /// Callers name a block's fields as `b.wrapping_add(16)`: `b` may be a
    /// hostile value near `u64::MAX`, and the wrapped sum (below 32) lies
    /// below the pool, so it is refused here instead of overflowing.
    #[inline(always)]
    pub fn word(&self, off: u64) -> Result<&'a AtomicU64, Fault> {
        // One compare for both ends: below `start` wraps to a value past
        // the pool's length. `start` is page-aligned, so `rel`'s low bits
        // are `off`'s.
        let rel = off.wrapping_sub(self.start);
        if rel >= self.len || rel % 8 != 0 {
            return Err(Fault::Block(off, "an offset outside the pool"));
        }
        // SAFETY: `start <= off < end`, and `end` is inside the mapping of
        // `base` (the handle checked the pool region against the view),
        // 8-aligned (the pool is page-aligned); the format makes every
        // header and link word an atomic u64 for every process; the handle
        // keeps the mapping alive for `'a`.
        Ok(unsafe { atomic_u64_at(self.base.add(off as usize).cast()) })
    }

    /// The two header words (tag, link) of a block at segment offset `b`,
    /// with one check: `Err` unless `b` is 16-aligned and both words lie
    /// in the pool.
    #[inline(always)]
    pub fn header(&self, b: u64) -> Result<(&'a AtomicU64, &'a AtomicU64), Fault> {
        let rel = b.wrapping_sub(self.start);
        // `len` is at least a page, so `len - HEADER` does not wrap.
        if rel > self.len - HEADER || rel % 16 != 0 {
            return Err(Fault::Block(b, "an offset outside the pool"));
        }
        // SAFETY: as in `word`, for `b` and `b + 8`, both below `end`
        // (`b + 16 <= end`) and 8-aligned.
        unsafe {
            let p = self.base.add(b as usize).cast::<u64>();
            Ok((atomic_u64_at(p), atomic_u64_at(p.add(1))))
        }
    }

    /// The chunk holding segment offset `off` (which must be in the pool).
    #[inline(always)]
    pub fn chunk_of(&self, off: u64) -> u64 {
        (off - self.start) >> self.chunk_shift
    }

    /// The segment offset of chunk `c`.
    #[inline(always)]
    pub fn chunk_off(&self, c: u64) -> u64 {
        self.start + (c << self.chunk_shift)
    }

    /// The tag of the block at `b`.
    #[inline(always)]
    pub fn tag(&self, b: u64) -> Result<Tag, Fault> {
        let w = self.word(b)?.load(Ordering::Relaxed);
        Tag::unpack(w).ok_or(Fault::Block(b, "not a block header"))
    }

    /// Records that a claim took chunks up to `end` (the footprint).
    pub fn note_claim(&self, end: u64) {
        // Relaxed: statistics only; a max, so no death can undo it.
        self.ctl().heap.0.peak_end.fetch_max(end, Ordering::Relaxed);
    }

    /// Whether the block at `b` lies in a span of arena `owner` (by the
    /// chunk table, the record of whose chunks are whose).
    pub fn in_span_of(&self, b: u64, owner: u16) -> Result<bool, Fault> {
        if b < self.start || b >= self.end {
            return Ok(false);
        }
        let e = self.map().entry(self.chunk_of(b))?;
        Ok(matches!(e.kind(), Kind::SpanHead | Kind::SpanBody) && e.owner() == owner)
    }
}

/// The slack of a block of `size` granules (at least [`MIN_BLOCK`])
/// handed out for `req` bytes: its usable bytes past `req`.
#[inline(always)]
fn slack(size: u64, req: u64) -> u64 {
    ((size << GRANULE_SHIFT) - HEADER)
        .saturating_sub(req)
        .min(MAX_SLACK)
}

/// A span takes at most `1 / SPAN_SHARE` of the pool's chunks.
pub const SPAN_SHARE: u64 = 16;
/// An arena's class caches hold at most `1 / CACHE_SHARE` of the pool.
pub const CACHE_SHARE: u64 = 128;

/// The most bytes one span (so one in-span block) can have.
pub fn max_span_bytes(geo: crate::layout::Geometry) -> u64 {
    (geo.span_chunks.max(2) << geo.chunk_shift).min(1 << 35)
}

/// One arena, seen by its owner: three words, so that making one per
/// operation costs next to nothing (the bins and class caches are found
/// from the head, which they follow in the arena's entry).
#[derive(Clone, Copy, Debug)]
pub struct Arena<'a> {
    /// The pool.
    pub pool: &'a Pool<'a>,
    /// The entry's head.
    pub head: &'a ArenaHead,
    /// Arena id + 1: the owner id in tags and chunk entries.
    pub owner: u16,
}

/// Loads an owner-only word (Relaxed: see [`store`]).
#[inline(always)]
pub(crate) fn load(w: &AtomicU64) -> u64 {
    w.load(Ordering::Relaxed)
}

/// Stores an owner-only word.
#[inline(always)]
pub(crate) fn store(w: &AtomicU64, v: u64) {
    // Relaxed: owner-only words (module docs); others read them only for
    // checks, which tolerate a stale value. The owner is whoever holds the
    // arena: its claimer, or a reclaimer that adopted it with an AcqRel
    // CAS; the Release of the arena's release publishes the words to the
    // next owner.
    w.store(v, Ordering::Relaxed);
}

impl<'a> Arena<'a> {
    /// The arena whose entry starts with `head`.
    ///
    /// # Safety
    /// `head` is the start of a whole arena entry (`ARENA_LEN` bytes of
    /// the mapping, 128-aligned, atomics by format) that outlives `'a`:
    /// [`bins`](Arena::bins) and [`cache`](Arena::cache) read past it.
    #[inline(always)]
    pub unsafe fn new(pool: &'a Pool<'a>, head: &'a ArenaHead, owner: u16) -> Self {
        Arena { pool, head, owner }
    }

    /// The bins (one free-list head offset each, 0 = empty).
    #[inline(always)]
    pub fn bins(&self) -> &'a [AtomicU64] {
        // SAFETY: `new`'s contract: the entry holds `BINS` words at
        // `BINS_OFFSET` from its head, 8-aligned, inside the mapping.
        unsafe {
            std::slice::from_raw_parts(
                std::ptr::from_ref(self.head)
                    .cast::<u8>()
                    .add(BINS_OFFSET as usize)
                    .cast::<AtomicU64>(),
                BINS,
            )
        }
    }

    /// The class caches: per class a count, then `CACHE_DEPTH` offsets.
    #[inline(always)]
    pub fn cache(&self) -> &'a [AtomicU64] {
        // SAFETY: as in `bins`: the caches follow at `CACHE_OFFSET`.
        unsafe {
            std::slice::from_raw_parts(
                std::ptr::from_ref(self.head)
                    .cast::<u8>()
                    .add(CACHE_OFFSET as usize)
                    .cast::<AtomicU64>(),
                CACHE_CLASSES * CACHE_STRIDE,
            )
        }
    }

    // ---- class caches ------------------------------------------------

    /// A cached block of class `search_bin(g)` (every block there holds
    /// `g` granules), or else of the next class up (its blocks are larger
    /// still, by at most a class's width), for a request of `req` bytes,
    /// marked USED again; `None` if both caches are empty.
    ///
    /// The fallback is what makes the caches hit when sizes vary: with
    /// uniform sizes (W3) a cache of depth 4 is empty a fifth of the time,
    /// and both a class's and the next one's about a tenth (measured).
    #[inline(always)]
    fn cache_pop(&self, g: u64, req: u64) -> Result<Option<u64>, Fault> {
        let Some((fl, sl)) = search_bin(g) else {
            return Ok(None);
        };
        let mut class = bin_index(fl, sl);
        if class >= CACHE_CLASSES {
            return Ok(None);
        }
        let mut at = class * CACHE_STRIDE;
        let mut n = load(&self.cache()[at]);
        if n == 0 {
            class += 1;
            if class >= CACHE_CLASSES {
                return Ok(None);
            }
            at = class * CACHE_STRIDE;
            n = load(&self.cache()[at]);
            if n == 0 {
                return Ok(None);
            }
        }
        if n > CACHE_DEPTH as u64 {
            return Err(Fault::Block(0, "a class cache count past its depth"));
        }
        let b = load(&self.cache()[at + n as usize]);
        let (t, tw, lw) = self.own_block(b)?;
        if t.state() != State::Used || !t.cached() || u64::from(t.size()) < g {
            return Err(Fault::Block(
                b,
                "a class cache holds a block that is not cached there",
            ));
        }
        // Count first: the array never names a block that is not CACHED.
        store(&self.cache()[at], n - 1);
        store(lw, with_slack(load(lw), slack(u64::from(t.size()), req)));
        store(tw, t.with_cached(false).pack());
        let s = &self.head.stats.0;
        let bytes = u64::from(t.size()) << GRANULE_SHIFT;
        store(&s.cached, load(&s.cached).saturating_sub(bytes));
        store(&s.used, load(&s.used).wrapping_add(bytes));
        store(&s.live, load(&s.live).wrapping_add(1));
        Ok(Some(b))
    }

    /// Caches this arena's USED block `b` (tag `t`) instead of coalescing
    /// it, if its class caches and has room. `Ok(false)`: not cached.
    #[inline(always)]
    fn cache_push(&self, b: u64, t: Tag) -> Result<bool, FreeFault> {
        let (fl, sl) = bin_of(u64::from(t.size()));
        let class = bin_index(fl, sl);
        if class >= CACHE_CLASSES {
            return Ok(false);
        }
        let at = class * CACHE_STRIDE;
        let n = load(&self.cache()[at]);
        let s = &self.head.stats.0;
        let bytes = u64::from(t.size()) << GRANULE_SHIFT;
        let cached = load(&s.cached).wrapping_add(bytes);
        // The budget: a small pool's caches must not hold what the other
        // threads need (`CACHE_SHARE`).
        let budget = self.pool.len / CACHE_SHARE;
        if n >= CACHE_DEPTH as u64 || cached > budget {
            return Ok(false);
        }
        let word = self.pool.word(b).map_err(FreeFault::Corrupt)?;
        if !cas_tag(word, t, t.with_cached(true)) {
            return Err(FreeFault::Lost);
        }
        crate::crash::point(crate::crash::Point::CachePush);
        store(&self.cache()[at + 1 + n as usize], b);
        store(&self.cache()[at], n + 1);
        store(&s.cached, cached);
        store(&s.used, load(&s.used).wrapping_sub(bytes));
        store(&s.live, load(&s.live).wrapping_sub(1));
        Ok(true)
    }

    /// Empties every class cache into the bins (coalescing each block);
    /// returns how many blocks it moved.
    #[cold]
    #[inline(never)]
    pub fn flush_cache(&self) -> Result<u64, Fault> {
        let mut moved = 0;
        for class in 0..CACHE_CLASSES {
            let at = class * CACHE_STRIDE;
            let n = load(&self.cache()[at]);
            if n > CACHE_DEPTH as u64 {
                return Err(Fault::Block(0, "a class cache count past its depth"));
            }
            for k in (1..=n as usize).rev() {
                let b = load(&self.cache()[at + k]);
                let t = self.own_tag(b)?;
                if t.state() != State::Used || !t.cached() {
                    return Err(Fault::Block(
                        b,
                        "a class cache holds a block that is not cached there",
                    ));
                }
                store(&self.cache()[at], k as u64 - 1);
                store(self.pool.word(b)?, t.with(State::Free).pack());
                self.coalesce(b, u64::from(t.size()))?;
                moved += 1;
            }
        }
        store(&self.head.stats.0.cached, 0);
        Ok(moved)
    }

    // ---- bins --------------------------------------------------------

    pub(crate) fn insert(&self, b: u64, g: u64) -> Result<(), Fault> {
        let (fl, sl) = bin_of(g);
        let bin = &self.bins()[bin_index(fl, sl)];
        let first = load(bin);
        store(self.pool.word(b.wrapping_add(16))?, first);
        store(self.pool.word(b.wrapping_add(24))?, 0);
        if first != 0 {
            store(self.pool.word(first.wrapping_add(24))?, b);
        }
        store(bin, b);
        store(&self.head.sl_map[fl], load(&self.head.sl_map[fl]) | 1 << sl);
        store(&self.head.fl_map, load(&self.head.fl_map) | 1 << fl);
        Ok(())
    }

    fn remove(&self, b: u64, g: u64) -> Result<(), Fault> {
        let (fl, sl) = bin_of(g);
        let bin = &self.bins()[bin_index(fl, sl)];
        let next = load(self.pool.word(b.wrapping_add(16))?);
        let prev = load(self.pool.word(b.wrapping_add(24))?);
        if prev == 0 {
            if load(bin) != b {
                return Err(Fault::Block(b, "a free block missing from its bin"));
            }
            store(bin, next);
        } else {
            store(self.pool.word(prev.wrapping_add(16))?, next);
        }
        if next != 0 {
            store(self.pool.word(next.wrapping_add(24))?, prev);
        }
        if load(bin) == 0 {
            let sl_map = load(&self.head.sl_map[fl]) & !(1 << sl);
            store(&self.head.sl_map[fl], sl_map);
            if sl_map == 0 {
                store(&self.head.fl_map, load(&self.head.fl_map) & !(1 << fl));
            }
        }
        Ok(())
    }

    /// The first non-empty bin whose blocks all hold `g` granules.
    #[inline(always)]
    fn find(&self, g: u64) -> Option<usize> {
        let (fl, sl) = search_bin(g)?;
        let sl_map = load(&self.head.sl_map[fl]) & (u64::MAX << sl) & 0xFFFF;
        if sl_map != 0 {
            return Some(bin_index(fl, sl_map.trailing_zeros() as usize));
        }
        let fl_map = load(&self.head.fl_map) & (u64::MAX << (fl + 1)) & ((1 << FL_COUNT) - 1);
        if fl_map == 0 {
            return None;
        }
        let fl = fl_map.trailing_zeros() as usize;
        let sl_map = load(&self.head.sl_map[fl]) & 0xFFFF;
        (sl_map != 0).then(|| bin_index(fl, sl_map.trailing_zeros() as usize))
    }

    // ---- neighbours --------------------------------------------------

    /// Whether a block of this arena starts at `off`, which is the end of
    /// one of its blocks: the end of the pool, or a chunk boundary where
    /// another run starts, ends the span.
    #[inline(always)]
    fn has_block_at(&self, off: u64) -> Result<bool, Fault> {
        let p = &self.pool;
        if off >= p.end {
            return Ok(false);
        }
        if (off - p.start) & ((1 << p.chunk_shift) - 1) != 0 {
            return Ok(true);
        }
        let e = p.map().entry(p.chunk_of(off))?;
        Ok(e.kind() == Kind::SpanBody && e.owner() == self.owner)
    }

    /// The tag of a neighbour, which must be one of this arena's in-span
    /// blocks (a REMOTE one names its freer, not this arena).
    #[inline(always)]
    pub(crate) fn own_tag(&self, b: u64) -> Result<Tag, Fault> {
        self.own_block(b).map(|(t, _, _)| t)
    }

    /// [`own_tag`](Arena::own_tag), with the block's tag and link words.
    #[inline(always)]
    pub(crate) fn own_block(&self, b: u64) -> Result<(Tag, &'a AtomicU64, &'a AtomicU64), Fault> {
        let (tw, lw) = self.pool.header(b)?;
        let w = load(tw);
        let t = Tag::unpack(w).ok_or(Fault::Block(b, "not a block header"))?;
        // `tag` put `b` below `end`, and a size is under 2^36 bytes: the
        // sum cannot overflow, and bounding the block by the pool here
        // bounds every neighbour offset derived from it.
        if t.huge()
            || (t.owner() != self.owner && t.state() != State::Remote)
            || u64::from(t.size()) < MIN_BLOCK
            || b + (u64::from(t.size()) << GRANULE_SHIFT) > self.pool.end
        {
            return Err(Fault::Block(
                b,
                "a neighbour that is not this arena's block",
            ));
        }
        Ok((t, tw, lw))
    }

    fn set_prev(&self, next: u64, prev_free: bool, size: u64) -> Result<(), Fault> {
        if self.has_block_at(next)? {
            let link = Link {
                prev_free,
                size: size as u32,
            };
            // The next block keeps its slack (it may be USED).
            let w = self.pool.word(next.wrapping_add(8))?;
            store(w, relink(load(w), link));
        }
        Ok(())
    }

    // ---- alloc -------------------------------------------------------

    /// A block of `g` granules whose payload is `align`-aligned (`align` a
    /// power of two up to 4096), for a request of `req` bytes (which `g`
    /// granules hold with the header): its header offset, `None` when the
    /// arena has no room and no chunks can be had.
    #[inline(always)]
    pub fn alloc(&self, g: u64, align: u64, req: u64) -> Result<Option<u64>, Fault> {
        let extra = if align > GRANULE {
            (align >> GRANULE_SHIFT) + MIN_BLOCK
        } else {
            0
        };
        let want = g + extra;
        if load(&self.head.remote.0.head) != 0 {
            self.drain_remote()?;
        }
        if extra == 0 {
            if let Some(b) = self.cache_pop(g, req)? {
                return Ok(Some(b));
            }
        }
        let mut grown = false;
        let mut flushed = false;
        loop {
            if let Some(i) = self.find(want) {
                let b = load(&self.bins()[i]);
                let t = self.own_tag(b)?;
                if t.state() != State::Free || u64::from(t.size()) < want {
                    return Err(Fault::Block(b, "a bin holds a block that does not fit it"));
                }
                self.remove(b, u64::from(t.size()))?;
                let b = if extra != 0 {
                    self.align_front(b, u64::from(t.size()), align)?
                } else {
                    (b, u64::from(t.size()))
                };
                return self.carve(b.0, b.1, g, req).map(Some);
            }
            if !flushed {
                // Before taking more chunks, put cached blocks back.
                flushed = true;
                if self.flush_cache()? > 0 {
                    continue;
                }
            }
            if grown || !self.grow(want)? {
                return Ok(None);
            }
            grown = true;
        }
    }

    /// Splits the free, unbinned block `b` of `size` granules so that the
    /// payload of what follows is `align`-aligned; the front part goes back
    /// to a bin. Returns the aligned block and its size.
    fn align_front(&self, b: u64, size: u64, align: u64) -> Result<(u64, u64), Fault> {
        let mut p = (b + HEADER).next_multiple_of(align);
        if p - HEADER != b && p - HEADER - b < MIN_BLOCK * GRANULE {
            p += align;
        }
        let a = p - HEADER;
        let front = (a - b) >> GRANULE_SHIFT;
        if front == 0 {
            return Ok((b, size));
        }
        let rest = size - front;
        // The aligned block's header first, then the front's tag: a walk by
        // header sizes (recovery) meets a valid header at every instruction.
        store(
            self.pool.word(a)?,
            Tag::free(self.owner, rest as u32).pack(),
        );
        store(
            self.pool.word(a.wrapping_add(8))?,
            Link {
                prev_free: true,
                size: front as u32,
            }
            .pack(),
        );
        store(
            self.pool.word(b)?,
            Tag::free(self.owner, front as u32).pack(),
        );
        self.insert(b, front)?;
        Ok((a, rest))
    }

    /// Records in the link word of block `b` (`size` granules, about to be
    /// handed out for `req` bytes) how many usable bytes lie past `req`.
    /// Before the USED tag's store, so a death in between leaves a free
    /// block with a stale slack, which nothing reads. Same 16 bytes as the
    /// tag: no new cache line.
    #[inline(always)]
    fn set_slack(&self, b: u64, size: u64, req: u64) -> Result<(), Fault> {
        let w = self.pool.word(b.wrapping_add(8))?;
        store(w, with_slack(load(w), slack(size, req)));
        Ok(())
    }

    /// Hands out the first `g` granules of the free, unbinned block `b` of
    /// `size` granules for a request of `req` bytes; the rest, if big
    /// enough, goes back to a bin.
    #[inline(always)]
    fn carve(&self, b: u64, size: u64, g: u64, req: u64) -> Result<u64, Fault> {
        let next = b + (size << GRANULE_SHIFT);
        let used = if size - g >= MIN_BLOCK {
            let r = b + (g << GRANULE_SHIFT);
            let rem = size - g;
            store(self.pool.word(r)?, Tag::free(self.owner, rem as u32).pack());
            store(self.pool.word(r.wrapping_add(8))?, Link::NONE.pack());
            self.set_prev(next, true, rem)?;
            self.insert(r, rem)?;
            g
        } else {
            self.set_prev(next, false, 0)?;
            size
        };
        self.set_slack(b, used, req)?;
        crate::crash::point(crate::crash::Point::Carve);
        // Relaxed: the caller hands the offset on with its own
        // synchronisation; a remote free CASes from this exact word.
        store(
            self.pool.word(b)?,
            Tag::used(self.owner, used as u32).pack(),
        );
        let s = &self.head.stats.0;
        if load(&s.idle) != 0 {
            store(&s.idle, 0);
        }
        store(&s.used, load(&s.used).wrapping_add(used << GRANULE_SHIFT));
        store(&s.live, load(&s.live).wrapping_add(1));
        Ok(b)
    }

    /// Adds room for a block of `g` granules: the parked span, else a new
    /// span from the chunk heap (stealing parked spans if it is full).
    #[cold]
    #[inline(never)]
    fn grow(&self, g: u64) -> Result<bool, Fault> {
        let p = &self.pool;
        let s = &self.head.stats.0;
        let parked = load(&s.parked);
        if parked != 0 {
            store(&s.parked, 0);
            let first = parked - 1;
            if first < p.map().chunks() {
                let e = p.map().entry(first)?;
                if e.kind() == Kind::Parked
                    && e.owner() == self.owner
                    && p.map().unpark(first, self.owner, e.n())
                {
                    let b = p.chunk_off(first);
                    let t = self.own_tag(b)?;
                    if t.state() != State::Free
                        || u64::from(t.size()) << GRANULE_SHIFT != u64::from(e.n()) << p.chunk_shift
                    {
                        return Err(Fault::Block(b, "a parked span that is not one free block"));
                    }
                    self.insert(b, u64::from(t.size()))?;
                    if u64::from(t.size()) >= g {
                        return Ok(true);
                    }
                }
            }
        }
        // Orphans may free enough (they are rare: a freer's death).
        if self.take_orphans()? > 0 {
            return Ok(true);
        }
        let min = (g << GRANULE_SHIFT).div_ceil(1 << p.chunk_shift);
        let max_run = (1u64 << 35) >> p.chunk_shift; // sizes in granules fit u32
                                                     // A span is at most a sixteenth of the pool (one chunk at least):
                                                     // on a small pool, one thread's span must not take what the other
                                                     // threads need (`span_chunks` is the most, not the least).
        let fair = (p.map().chunks() / SPAN_SHARE).max(1);
        let k = p.span_chunks.min(fair).max(min).min(max_run.max(1));
        if min > k {
            return Ok(false);
        }
        let claim = |k| p.map().claim(k, self.owner, Kind::SpanBody).map(|c| (c, k));
        let first = claim(k).or_else(|| claim(min)).or_else(|| {
            p.map().steal_parked(self.owner);
            claim(min)
        });
        let Some((first, k)) = first else {
            return Ok(false);
        };
        p.note_claim(first + k);
        let b = p.chunk_off(first);
        let size = (k << p.chunk_shift) >> GRANULE_SHIFT;
        // The span's one free header before its final head: a walker that
        // sees the span (Acquire in `entry`, Release in `publish`) sees the
        // header, never the chunks' stale bytes. A death before `publish`
        // leaves the `Claiming` head, which the adopter rolls back.
        store(p.word(b)?, Tag::free(self.owner, size as u32).pack());
        store(p.word(b.wrapping_add(8))?, Link::NONE.pack());
        p.map()
            .publish(first, Entry::new(Kind::SpanHead, self.owner, k as u32));
        self.insert(b, size)?;
        store(&s.spans, load(&s.spans).wrapping_add(1));
        Ok(true)
    }

    // ---- free --------------------------------------------------------

    /// Frees this arena's USED block `b` (tag `t`, read by the caller).
    #[inline(always)]
    pub fn free_local(&self, b: u64, t: Tag) -> Result<(), FreeFault> {
        if self.cache_push(b, t)? {
            return Ok(());
        }
        let word = self.pool.word(b).map_err(FreeFault::Corrupt)?;
        if !cas_state(word, t, State::Free) {
            return Err(FreeFault::Lost);
        }
        let s = &self.head.stats.0;
        store(
            &s.used,
            load(&s.used).wrapping_sub(u64::from(t.size()) << GRANULE_SHIFT),
        );
        store(&s.live, load(&s.live).wrapping_sub(1));
        self.coalesce(b, u64::from(t.size()))
            .map_err(FreeFault::Corrupt)
    }

    /// Merges the FREE-tagged, unbinned block `b` with free neighbours and
    /// bins the result (or parks or gives back its span).
    fn coalesce(&self, b: u64, size: u64) -> Result<(), Fault> {
        let p = &self.pool;
        let mut start = b;
        let mut g = size;
        let next = b + (size << GRANULE_SHIFT);
        if self.has_block_at(next)? {
            let nt = self.own_tag(next)?;
            if nt.state() == State::Free {
                self.remove(next, u64::from(nt.size()))?;
                g += u64::from(nt.size());
            }
        }
        let link = Link::unpack(load(p.word(b.wrapping_add(8))?))
            .ok_or(Fault::Block(b, "a link word no block can have"))?;
        if link.prev_free {
            let back = u64::from(link.size) << GRANULE_SHIFT;
            let prev = b.checked_sub(back).filter(|&x| back != 0 && x >= p.start);
            let prev = prev.ok_or(Fault::Block(b, "a link to a block before the pool"))?;
            let pt = self.own_tag(prev)?;
            if pt.state() != State::Free || pt.size() != link.size {
                return Err(Fault::Block(
                    b,
                    "a link that does not match the block before",
                ));
            }
            self.remove(prev, u64::from(pt.size()))?;
            start = prev;
            g += u64::from(pt.size());
        }
        crate::crash::point(crate::crash::Point::Coalesce);
        store(p.word(start)?, Tag::free(self.owner, g as u32).pack());
        let end = start + (g << GRANULE_SHIFT);
        self.set_prev(end, true, g)?;
        // A whole span?
        if (start - p.start) & ((1 << p.chunk_shift) - 1) == 0 {
            let c = p.chunk_of(start);
            let e = p.map().entry(c)?;
            if e.kind() == Kind::SpanHead
                && e.owner() == self.owner
                && (u64::from(e.n()) << p.chunk_shift) == g << GRANULE_SHIFT
            {
                let s = &self.head.stats.0;
                let active = load(&s.spans).wrapping_sub(u64::from(load(&s.parked) != 0));
                if active > 1 {
                    self.retire_span(c, e.n());
                    return Ok(());
                }
                // The arena's only span: keep it in the bins (a thread that
                // allocates and frees one block in a loop must not take and
                // give back a span each time), but remember it, so that it
                // can be given back when memory runs short or the owner
                // leaves (`retire_idle`).
                store(&s.idle, c + 1);
            }
        }
        self.insert(start, g)
    }

    /// An entirely free span leaves the bins: parked if the arena has none
    /// parked, else given back to the chunk heap.
    fn retire_span(&self, first: u64, n: u32) {
        let s = &self.head.stats.0;
        if load(&s.parked) == 0 {
            self.pool.map().park(first, self.owner, n);
            store(&s.parked, first + 1);
        } else {
            let head = Entry::new(Kind::SpanHead, self.owner, n);
            // Only this arena's holder changes its spans' heads: the CAS
            // wins.
            self.pool.map().take_run(first, head, self.owner);
            store(&s.spans, load(&s.spans).wrapping_sub(1));
        }
    }

    /// Gives the parked span back to the chunk heap (when the owner leaves).
    pub fn release_parked(&self) {
        let s = &self.head.stats.0;
        let parked = load(&s.parked);
        store(&s.parked, 0);
        if parked == 0 || parked > self.pool.map().chunks() {
            return;
        }
        let first = parked - 1;
        if let Ok(e) = self.pool.map().entry(first) {
            // One CAS from `Parked`, as a thief's: `false` if one was first.
            if e.kind() == Kind::Parked
                && e.owner() == self.owner
                && self.pool.map().take_run(first, e, self.owner)
            {
                store(&s.spans, load(&s.spans).wrapping_sub(1));
            }
        }
    }

    /// Gives back the arena's idle span (its only span, entirely free, kept
    /// in the bins): parked if none is, else to the chunk heap. Returns
    /// whether there was one.
    pub fn retire_idle(&self) -> Result<bool, Fault> {
        let s = &self.head.stats.0;
        let idle = load(&s.idle);
        store(&s.idle, 0);
        if idle == 0 || idle > self.pool.map().chunks() {
            return Ok(false);
        }
        let c = idle - 1;
        let e = self.pool.map().entry(c)?;
        let b = self.pool.chunk_off(c);
        let t = self.own_tag(b)?;
        let span = u64::from(e.n()) << self.pool.chunk_shift;
        if e.kind() != Kind::SpanHead
            || e.owner() != self.owner
            || t.state() != State::Free
            || u64::from(t.size()) << GRANULE_SHIFT != span
        {
            // Every allocation clears the hint, so this means the hint was
            // stale or corrupt: leave the span where it is.
            return Ok(false);
        }
        self.remove(b, u64::from(t.size()))?;
        self.retire_span(c, e.n());
        Ok(true)
    }

    /// Hands back everything the arena holds but does not use: takes in
    /// remote frees and orphans, empties the class caches, and gives back
    /// the idle and the parked span. Run when memory runs short, and by
    /// whoever tidies an arena nobody holds.
    pub fn give_back_spare(&self) -> Result<(), Fault> {
        self.drain_remote()?;
        self.take_orphans()?;
        self.flush_cache()?;
        self.retire_idle()?;
        self.release_parked();
        Ok(())
    }

    /// Takes in every block on the remote list; returns how many.
    ///
    /// Crash-safe for recovery: the list is taken through `draining`
    /// (`remote::take_into`), and before each block is processed `draining`
    /// moves past it and `drain_block` names it, so an adopter finds every
    /// taken block that is still REMOTE on one of the two.
    #[cold]
    #[inline(never)]
    pub fn drain_remote(&self) -> Result<u64, Fault> {
        let p = &self.pool;
        let mut off = remote::take_into(&self.head.remote.0.head, &self.head.draining);
        let bound = ((p.end - p.start) >> GRANULE_SHIFT) / MIN_BLOCK + 1;
        let mut n = 0;

        while off != 0 {
            n += 1;
            if n > bound {
                return Err(Fault::Block(off, "the remote list has a cycle"));
            }
            let t = self.own_tag(off)?;
            if t.state() != State::Remote {
                return Err(Fault::Block(
                    off,
                    "a block on the remote list is not REMOTE",
                ));
            }
            // Its tag names its freer: the table says whether it is ours.
            if !p.in_span_of(off, self.owner)? {
                return Err(Fault::Block(
                    off,
                    "a block on the remote list is not in this arena",
                ));
            }
            let next = load(p.word(off.wrapping_add(16))?);
            store(&self.head.drain_block, off);
            store(&self.head.draining, next);
            crate::crash::point(crate::crash::Point::Drain);
            self.free_remote_block(off, t)?;
            store(&self.head.drain_block, 0);
            off = next;
        }
        Ok(n)
    }

    /// The owner takes in the REMOTE block `b` (tag `t`): FREE, counted,
    /// coalesced.
    pub(crate) fn free_remote_block(&self, b: u64, t: Tag) -> Result<(), Fault> {
        let s = &self.head.stats.0;
        store(self.pool.word(b)?, Tag::free(self.owner, t.size()).pack());
        store(
            &s.used,
            load(&s.used).wrapping_sub(u64::from(t.size()) << GRANULE_SHIFT),
        );
        store(&s.live, load(&s.live).wrapping_sub(1));
        self.coalesce(b, u64::from(t.size()))
    }
}

/// Why a local free did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeFault {
    /// Another free of the block won the race (a double free).
    Lost,
    /// Corruption.
    Corrupt(Fault),
}

/// Frees a USED block `b` (tag `t`) of another arena, whose entry head is
/// `head`, for arena `freer` (id + 1) whose in-flight record is `pending`:
/// see `remote::free_block`. `false` if another free won.
pub fn free_remote(
    pool: &Pool<'_>,
    head: &ArenaHead,
    b: u64,
    t: Tag,
    freer: u16,
    pending: &AtomicU64,
) -> Result<bool, Fault> {
    Ok(remote::free_block(
        pool.word(b)?,
        t,
        pool.word(b.wrapping_add(16))?,
        &head.remote.0.head,
        b,
        freer,
        pending,
    ))
}
