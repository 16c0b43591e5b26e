//! Where everything lives in the state region, computed from the header
//! params and region lengths alone (so every process agrees), and the
//! `#[repr(C)]` structs of shim atomics laid over it.
//!
//! ```text
//! state region (offsets from its start)
//! 0x000  Control       4 lines of 128 B: format | chunk-heap stats |
//!                      reserved | reserved
//! 0x200  arenas        `arenas` entries of ARENA_LEN bytes (ArenaHead + bins)
//! ...    chunk bitmap  ceil(chunks / 64) u64 words, 1 bit per chunk (1 = taken)
//! ...    chunk table   `chunks` u64 words (see `chunks::Entry`)
//! ```
//! Every word starts at zero in a fresh segment, and zero means "free
//! arena, empty bins, chunk free": creating a free list of any size writes
//! one word (the format word).

use crate::class::{BINS, FL_COUNT};
use shm_layout::sync::AtomicU64;
use shm_layout::{align_up, CACHE_LINE};

/// `params[0]`: log2 of the chunk size (12 to 24); 0 picks from the pool
/// length ([`default_chunk_shift`]).
pub const PARAM_CHUNK_SHIFT: usize = 0;
/// `params[1]`: chunks per arena span (1 to 4096); 0 = [`DEFAULT_SPAN_CHUNKS`].
pub const PARAM_SPAN_CHUNKS: usize = 1;
/// `params[2]`: arena registry entries (1 to [`MAX_ARENAS`]); 0 = [`DEFAULT_ARENAS`].
pub const PARAM_ARENAS: usize = 2;

/// Chunks per span when `params[1]` is 0.
pub const DEFAULT_SPAN_CHUNKS: u64 = 16;
/// Arena entries when `params[2]` is 0.
pub const DEFAULT_ARENAS: u64 = 64;
/// The most arena entries (owner ids are 16 bits: entry id + 1).
pub const MAX_ARENAS: u64 = 4096;
/// The smallest chunk (4 KiB).
pub const MIN_CHUNK_SHIFT: u32 = 12;
/// The largest chunk (16 MiB).
pub const MAX_CHUNK_SHIFT: u32 = 24;
/// The most chunks per span.
pub const MAX_SPAN_CHUNKS: u64 = 4096;
/// The most chunks a pool has (chunk indices and run lengths are u32).
pub const MAX_CHUNKS: u64 = 1 << 31;

/// The value `init` writes into [`Control::format`]: "FREE" and format 2
/// (format 2: a USED block's link word records its slack in bits 33..64,
/// which format 1 kept zero and checked).
pub const FORMAT_WORD: u64 = 0x0000_0002_4545_5246;

/// Bytes of the control block.
pub const CONTROL_LEN: u64 = 4 * CACHE_LINE;

pub use shm_layout::Line;

/// The control block at the start of the state region.
#[derive(Debug, Default)]
#[repr(C)]
pub struct Control {
    /// [`FORMAT_WORD`] once `init` ran.
    pub format: Line<AtomicU64>,
    /// Chunk-heap counters.
    pub heap: Line<HeapStats>,
    /// Reserved; zero (once the huge-block counters: `stats()` now counts
    /// huge blocks from the chunk table, which a death cannot leave out of
    /// step).
    pub reserved1: Line<AtomicU64>,
    /// Reserved; zero (once the arena clock: owner identities now carry
    /// their own epoch, `shm_layout::OwnerId`).
    pub reserved2: Line<AtomicU64>,
}

/// Chunk-heap counters.
#[derive(Debug, Default)]
#[repr(C)]
pub struct HeapStats {
    /// Reserved; zero (once a count of taken chunks, which a process
    /// killed between a claim and its count left wrong).
    pub reserved: AtomicU64,
    /// One past the highest chunk any claim ever took (`fetch_max`, so a
    /// death leaves it at worst one claim high): the pool's footprint,
    /// `stats().high_water`.
    pub peak_end: AtomicU64,
}

/// The head of one arena entry: the per-process (per-thread) heap, with
/// its size-class bins following it.
#[derive(Debug, Default)]
#[repr(C, align(128))]
pub struct ArenaHead {
    /// The owner slot (`shm_layout::OwnerSlot`): 0 for a free entry, else
    /// the `OwnerId` of the attachment holding it (pid, epoch and start time
    /// in one word).
    pub owner: AtomicU64,
    /// Reserved; zero (once the owner's start time, now part of `owner`).
    pub reserved_start: AtomicU64,
    /// The remote list the owner is taking in (`Arena::drain_remote`): the
    /// part not yet processed, 0 when none. Owner-written; read by an
    /// adopter to finish a drain its dead owner left half-done.
    pub draining: AtomicU64,
    /// The block of `draining` the owner is processing now (0: none).
    pub drain_block: AtomicU64,
    /// The header of the block the owner thread is freeing into another
    /// arena right now (0: none): written before the tag CAS that marks it
    /// REMOTE, cleared after the push (`remote::free_block`), so that an
    /// adopter finds a free its dead owner left between the two.
    pub pending: AtomicU64,
    /// The same for the threads of the holder's handle that have no arena
    /// of their own (they take turns under a process-local lock).
    pub pending_shared: AtomicU64,
    /// Reserved; zero.
    pub reserved0: [AtomicU64; 10],
    /// Blocks other threads or processes freed, waiting for the owner. Its
    /// own line: the only words of the entry others write.
    pub remote: Line<Remote>,
    /// Owner-written counters.
    pub stats: Line<ArenaStats>,
    /// Owner-written TLSF bitmaps: bit `fl` set when level `fl` has a
    /// non-empty bin.
    pub fl_map: AtomicU64,
    /// Bit `sl` of `sl_map[fl]` set when bin `(fl, sl)` is non-empty.
    pub sl_map: [AtomicU64; FL_COUNT],
}

/// The words of an arena entry that others write.
#[derive(Debug, Default)]
#[repr(C)]
pub struct Remote {
    /// Head of the remote-free list (an offset, 0 = empty).
    pub head: AtomicU64,
    /// Bumped by a reclaim each time it marks one of this arena's blocks
    /// *orphaned*: REMOTE, freed by a process that died before (or just
    /// after) pushing it, so never to be pushed again. The owner takes
    /// orphans in by a walk of its spans (`Arena::take_orphans`) and
    /// subtracts what it saw.
    pub orphans: AtomicU64,
}

/// Counters of one arena, written by its owner only. Updates wrap rather
/// than overflow: a corrupt counter must give wrong statistics (which
/// `stats()` clamps and `check()` reports), never a panic.
#[derive(Debug, Default)]
#[repr(C)]
pub struct ArenaStats {
    /// Bytes of live blocks (headers and rounding included).
    pub used: AtomicU64,
    /// Live blocks.
    pub live: AtomicU64,
    /// Reserved (once a count of allocations): nothing reads it, and no
    /// version writes it any more (two stores per pair that bought
    /// nothing); an older writer's count may remain.
    pub allocs: AtomicU64,
    /// Reserved (once a count of frees), as `allocs`.
    pub frees: AtomicU64,
    /// The parked span's first chunk + 1 (0: none): an entirely free span
    /// kept for reuse, which any process may take back (`chunks.rs`).
    pub parked: AtomicU64,
    /// Spans this arena holds now (the parked one included).
    pub spans: AtomicU64,
    /// The idle span's first chunk + 1 (0: none): the arena's only active
    /// span, entirely free but kept in the bins; cleared by any allocation.
    pub idle: AtomicU64,
    /// Bytes of the blocks in the class caches (headers included): a free
    /// is cached only while this stays within the pool's
    /// `1 / CACHE_SHARE`. Zeroed by every flush and every rebuild.
    pub cached: AtomicU64,
}

/// Size classes (the first bins) whose freed blocks an arena caches
/// without coalescing: blocks up to 257 granules (4096 bytes of payload).
pub const CACHE_CLASSES: usize = 81;
/// Blocks each class's cache holds.
pub const CACHE_DEPTH: usize = 4;
/// Words per class cache: a count, then `CACHE_DEPTH` block offsets.
pub const CACHE_STRIDE: usize = CACHE_DEPTH + 1;

/// Bytes of an arena entry: head, one `u64` free-list head per bin (an
/// offset, 0 = empty), then the class caches, rounded to a line.
pub const ARENA_LEN: u64 = {
    let raw = CACHE_OFFSET + 8 * (CACHE_CLASSES * CACHE_STRIDE) as u64;
    (raw + CACHE_LINE - 1) & !(CACHE_LINE - 1)
};
/// Offset of the class caches inside an arena entry.
pub const CACHE_OFFSET: u64 = core::mem::size_of::<ArenaHead>() as u64 + 8 * BINS as u64;
/// Offset of the bins inside an arena entry.
pub const BINS_OFFSET: u64 = core::mem::size_of::<ArenaHead>() as u64;

#[cfg(not(shm_loom))]
const _: () = {
    assert!(core::mem::size_of::<Control>() as u64 == CONTROL_LEN);
    assert!(core::mem::offset_of!(ArenaHead, remote) == 128);
    assert!(core::mem::offset_of!(ArenaHead, stats) == 256);
    assert!(core::mem::offset_of!(ArenaHead, fl_map) == 384);
    assert!(core::mem::offset_of!(ArenaHead, sl_map) == 392);
    assert!(BINS_OFFSET == 640);
    assert!(CACHE_OFFSET == 3072);
    assert!(ARENA_LEN == 6400);
};

/// The chunk shift a pool of `pool_len` bytes gets when `params[0]` is 0:
/// 64 KiB chunks from 16 MiB up, 4 KiB below, and larger chunks for pools
/// so big that the bitmap would pass 2^20 chunks.
pub const fn default_chunk_shift(pool_len: u64) -> u32 {
    if pool_len < (16 << 20) {
        return MIN_CHUNK_SHIFT;
    }
    let mut shift = 16;
    while shift < MAX_CHUNK_SHIFT && (pool_len >> shift) > (1 << 20) {
        shift += 1;
    }
    shift
}

/// The free list's geometry, derived from header params and region lengths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// log2 of the chunk size.
    pub chunk_shift: u32,
    /// Chunks per arena span.
    pub span_chunks: u64,
    /// Arena registry entries.
    pub arenas: u64,
    /// Chunks in the pool (0 until [`Geometry::fit`]).
    pub chunks: u64,
}

impl Geometry {
    /// The chunk size in bytes.
    pub const fn chunk_size(self) -> u64 {
        1 << self.chunk_shift
    }

    /// Offset of the arena registry from the state region's start.
    pub const ARENAS_OFFSET: u64 = CONTROL_LEN;

    /// Offset of the chunk bitmap from the state region's start.
    pub const fn bitmap_offset(self) -> u64 {
        CONTROL_LEN + self.arenas * ARENA_LEN
    }

    /// `u64` words of chunk bitmap.
    pub const fn bitmap_words(self) -> u64 {
        self.chunks.div_ceil(64)
    }

    /// Offset of the chunk table from the state region's start.
    pub const fn table_offset(self) -> u64 {
        match align_up(self.bitmap_offset() + 8 * self.bitmap_words(), CACHE_LINE) {
            Some(v) => v,
            None => u64::MAX,
        }
    }

    /// Bytes of state this geometry needs, `None` on overflow.
    pub const fn state_len(self) -> Option<u64> {
        match self.chunks.checked_mul(8) {
            Some(t) => match self.table_offset().checked_add(t) {
                Some(total) => align_up(total, CACHE_LINE),
                None => None,
            },
            None => None,
        }
    }

    /// Decodes the params against a pool of `pool_len` bytes, applying
    /// defaults; `Err` names the invalid word and what it must be.
    /// `chunks` is left 0: see [`Geometry::fit`].
    pub fn from_params(params: &[u64], pool_len: u64) -> Result<Geometry, (usize, &'static str)> {
        let chunk_shift = match params[PARAM_CHUNK_SHIFT] {
            0 => default_chunk_shift(pool_len),
            s if (u64::from(MIN_CHUNK_SHIFT)..=u64::from(MAX_CHUNK_SHIFT)).contains(&s) => s as u32,
            _ => return Err((0, "12 to 24 (log2 of the chunk size; 0 picks one)")),
        };
        let span_chunks = match params[PARAM_SPAN_CHUNKS] {
            0 => DEFAULT_SPAN_CHUNKS,
            n if n <= MAX_SPAN_CHUNKS => n,
            _ => return Err((1, "at most 4096 (chunks per span; 0 for 16)")),
        };
        let arenas = match params[PARAM_ARENAS] {
            0 => DEFAULT_ARENAS,
            n if n <= MAX_ARENAS => n,
            _ => return Err((2, "at most 4096 (arena entries; 0 for 64)")),
        };
        for (i, p) in params.iter().enumerate().take(6).skip(3) {
            if *p != 0 {
                return Err((i, "0 (reserved)"));
            }
        }
        Ok(Geometry {
            chunk_shift,
            span_chunks,
            arenas,
            chunks: 0,
        })
    }

    /// The most chunks that fit a pool of `pool_len` bytes and a state
    /// region of `state_len` bytes.
    pub fn fit(self, pool_len: u64, state_len: u64) -> Geometry {
        let by_pool = (pool_len >> self.chunk_shift).min(MAX_CHUNKS);
        let fits = |chunks: u64| {
            Geometry { chunks, ..self }
                .state_len()
                .is_some_and(|l| l <= state_len)
        };
        // The state needed grows with the chunk count: binary search for the
        // most chunks the state region holds (at most 32 steps).
        let (mut lo, mut hi) = (0, by_pool);
        if !fits(0) {
            return Geometry { chunks: 0, ..self };
        }
        while lo < hi {
            let mid = hi - (hi - lo) / 2;
            if fits(mid) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Geometry { chunks: lo, ..self }
    }
}

/// What a free list segment of `total_len` bytes with `metadata_len` bytes
/// of metadata region needs: `(params, state_len)` for the creator, such
/// that [`Geometry::fit`] at attach time derives every chunk the pool
/// holds. `arenas` 0 picks a default (fewer for small pools). `None` if not
/// one chunk fits.
///
/// Regions are laid out as `shm_layout::LayoutSpec::build` does: header
/// page, metadata and state each rounded to a page, pool the rest.
pub fn for_segment(total_len: u64, metadata_len: u64, arenas: u64) -> Option<([u64; 3], u64)> {
    let page = shm_layout::REGION_PLACEMENT_ALIGN;
    let meta = align_up(metadata_len, 64)?;
    let state_off = align_up(shm_layout::HEADER_LEN.checked_add(meta)?, page)?;
    let room = total_len.checked_sub(state_off)?;
    let arenas = match arenas {
        0 => (room >> 20).clamp(2, DEFAULT_ARENAS),
        n => n.min(MAX_ARENAS),
    };
    let shift = default_chunk_shift(room);
    let base = Geometry {
        chunk_shift: shift,
        span_chunks: DEFAULT_SPAN_CHUNKS,
        arenas,
        chunks: 0,
    };
    // Estimate the chunk count, then step down until state + pool fit.
    let mut chunks = (room >> shift).min(MAX_CHUNKS);
    loop {
        let st = Geometry { chunks, ..base }.state_len()?;
        let st_pages = align_up(st, page)?;
        if let Some(pool) = room.checked_sub(st_pages) {
            if (pool >> shift) >= chunks {
                if chunks == 0 {
                    return None;
                }
                return Some(([u64::from(shift), DEFAULT_SPAN_CHUNKS, arenas], st));
            }
            // The pool holds fewer: jump straight to what it holds.
            chunks = (pool >> shift).min(chunks - 1);
        } else {
            chunks = chunks.checked_sub(1)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_params_take_defaults() {
        let g = Geometry::from_params(&[0; 8], 256 << 20).unwrap();
        assert_eq!(g.chunk_shift, 16);
        assert_eq!(g.span_chunks, DEFAULT_SPAN_CHUNKS);
        assert_eq!(g.arenas, DEFAULT_ARENAS);
        assert_eq!(
            Geometry::from_params(&[0; 8], 1 << 20).unwrap().chunk_shift,
            12
        );
    }

    #[test]
    fn bad_params_name_their_word() {
        assert_eq!(
            Geometry::from_params(&[11, 0, 0, 0, 0, 0, 0, 0], 1 << 30)
                .unwrap_err()
                .0,
            0
        );
        assert_eq!(
            Geometry::from_params(&[0, 5000, 0, 0, 0, 0, 0, 0], 1 << 30)
                .unwrap_err()
                .0,
            1
        );
        assert_eq!(
            Geometry::from_params(&[0, 0, 9999, 0, 0, 0, 0, 0], 1 << 30)
                .unwrap_err()
                .0,
            2
        );
        assert_eq!(
            Geometry::from_params(&[0, 0, 0, 0, 1, 0, 0, 0], 1 << 30)
                .unwrap_err()
                .0,
            4
        );
    }

    #[test]
    fn big_pools_get_bigger_chunks() {
        assert_eq!(default_chunk_shift(1 << 36), 16);
        assert_eq!(default_chunk_shift(1 << 37), 17);
        assert_eq!(default_chunk_shift(1 << 47), 24);
    }

    #[test]
    fn for_segment_fits_exactly() {
        for total in [
            64 << 10,
            1 << 20,
            3 << 20,
            64 << 20,
            256 << 20,
            (1 << 30) + 12345,
        ] {
            let Some((p, st)) = for_segment(total, 0, 0) else {
                assert!(total < 1 << 20, "{total}");
                continue;
            };
            let spec = shm_layout::LayoutSpec {
                kind: shm_layout::AllocatorKind::FreeList,
                total_len: total,
                metadata_len: 0,
                state_len: st,
                params: [p[0], p[1], p[2], 0, 0, 0, 0, 0],
            };
            let regions = spec.build(1, 0).unwrap().regions;
            let pool = regions[2].len;
            let state = regions[1].len;
            let g = Geometry::from_params(&spec.params, pool)
                .unwrap()
                .fit(pool, state);
            assert_eq!(g.chunks, pool >> g.chunk_shift, "total {total}");
            assert!(g.chunks > 0);
        }
    }
}
