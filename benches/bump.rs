//! Hot paths of the bump allocator (`sharena::Bump` over an anonymous
//! segment), beside the W1 limit loops of docs/WORKLOADS.md over a region of
//! the same size and kind (an anonymous `MAP_SHARED` segment, prefaulted):
//!
//! - `bump_alloc`: `alloc(64)` plus an 8-byte tag write, against
//!   `limit-bump-local` (a plain cursor) and `limit-bump-faa` (one
//!   `fetch_add` cursor);
//! - `bump_alloc_aligned`: the same with `alloc_aligned(64, 64)`;
//! - `bump_mark_rewind`: a `mark`/`rewind` pair around 0 or 1 allocation,
//!   beside `reset` as the other way to release.
//!
//! The allocation groups run over a 1 MiB region (it stays in cache: the
//! allocator's own cost) and a 256 MiB one (the loop streams through
//! memory, as W1's 1 GiB does); the parameter names the region. Each arena
//! is reset when it is nearly full, outside the timed part (`iter_custom`),
//! and the baselines reset after as many operations. Medians are in
//! docs/BENCHMARKS.md.

use std::hint::black_box;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use sharena_benches::{pool_of, prefault};

use criterion::{criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use sharena::layout::sync::{AtomicU64, Ordering};
use sharena::{AllocatorKind, Bump, Offset, RegionId, Segment, SegmentOptions, ShmAllocator};

/// The region sizes of the allocation groups: (parameter, bytes).
const REGIONS: [(&str, u64); 2] = [("1MiB", 1 << 20), ("256MiB", 256 << 20)];
/// The block size of every allocation.
const BLOCK: u64 = 64;

/// A fresh arena of `size` bytes with its pool prefaulted.
fn arena(size: u64) -> Bump {
    let arena = Bump::anonymous(size).expect("anonymous bump arena");
    let (ptr, len) = pool_of(arena.segment().view());
    prefault(ptr, len);
    arena
}

/// A raw region for the limit loops: an anonymous segment of the same size,
/// its pool prefaulted. The first cache line holds the `fetch_add` cursor;
/// blocks start at 128 (as in W1).
struct Region {
    seg: Segment,
    base: NonNull<u8>,
    len: u64,
}

impl Region {
    fn new(size: u64) -> Region {
        let seg = Segment::anonymous(&SegmentOptions::new(AllocatorKind::Raw, size))
            .expect("anonymous region");
        let (base, len) = pool_of(seg.view());
        prefault(base, len);
        Region { seg, base, len }
    }

    fn cursor(&self) -> &AtomicU64 {
        let at = self.seg.view().region(RegionId::Pool).offset;
        self.seg
            .view()
            .atomic_u64(Offset::new(at))
            .expect("cursor word")
    }
}

/// Counts operations since the last reset, so that `iter_custom` can reset
/// before the arena runs out, outside the timed part.
struct Fills {
    per_fill: u64,
    used: u64,
}

impl Fills {
    fn new(per_fill: u64) -> Fills {
        // Start full, so the first run resets.
        Fills {
            per_fill,
            used: per_fill,
        }
    }

    /// Runs `iters` operations through `run(state, n)` in runs that fit
    /// the arena, calling `reset(state)` (untimed) whenever it is nearly
    /// full; returns the time spent in `run`.
    fn time<T>(
        &mut self,
        iters: u64,
        state: &mut T,
        mut reset: impl FnMut(&mut T),
        mut run: impl FnMut(&mut T, u64),
    ) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            if self.used == self.per_fill {
                reset(state);
                self.used = 0;
            }
            let n = left.min(self.per_fill - self.used);
            let t = Instant::now();
            run(state, n);
            total += t.elapsed();
            self.used += n;
            left -= n;
        }
        total
    }
}

/// Writes the 8-byte tag at `at` bytes past `base`.
///
/// # Safety
/// `at + 8` bytes past `base` must lie in one mapping, `at` 8-aligned (the
/// base is page-aligned), and no one else may access those bytes.
#[inline(always)]
unsafe fn tag(base: *mut u8, at: u64, value: u64) {
    // SAFETY: the caller's contract.
    unsafe { base.add(at as usize).cast::<u64>().write(value) };
}

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Operations between resets in a region of `size` bytes when a block
/// occupies `bytes` (header and padding included): a margin of 1/8 covers
/// the segment's header and state and the unused ends of 64 KiB chunks.
fn per_fill(size: u64, bytes: u64) -> u64 {
    size / bytes * 7 / 8
}

/// The bump subject: `alloc_aligned(BLOCK, align)` and the tag.
fn bench_bump(g: &mut Group<'_>, (label, size): (&str, u64), align: u64, per_fill: u64) {
    let arena = arena(size);
    let base = arena.segment().view().base().as_ptr();
    let mut fills = Fills::new(per_fill);
    let mut seq = 0u64;
    g.bench_function(BenchmarkId::new("bump", label), |b| {
        b.iter_custom(|iters| {
            fills.time(
                iters,
                &mut seq,
                |_| {
                    arena.reset().expect("reset");
                },
                |seq, n| {
                    for _ in 0..n {
                        let at = arena.alloc_aligned(BLOCK, align).expect("alloc");
                        *seq += 1;
                        // SAFETY: `at` is a fresh BLOCK-byte block of this
                        // arena, inside its mapping, at least 8-aligned.
                        unsafe { tag(base, at.get(), *seq) };
                    }
                },
            )
        });
    });
}

/// `limit-bump-local`: a private cursor, aligned up to `align`.
fn bench_local(g: &mut Group<'_>, (label, size): (&str, u64), align: u64, per_fill: u64) {
    let region = Region::new(size);
    let (base, len) = (region.base.as_ptr(), region.len);
    let mut fills = Fills::new(per_fill);
    // The cursor and the tag sequence.
    let mut state = (128u64, 0u64);
    g.bench_function(BenchmarkId::new("limit-bump-local", label), |b| {
        b.iter_custom(|iters| {
            fills.time(
                iters,
                &mut state,
                |(cur, _)| *cur = 128,
                |(cur, seq), n| {
                    for _ in 0..n {
                        let at = (*cur + align - 1) & !(align - 1);
                        let end = at + BLOCK;
                        assert!(end <= len, "region exhausted");
                        *seq += 1;
                        // SAFETY: `at + BLOCK <= len`, inside the region's
                        // pool; `at` is `align`-aligned (at least 8).
                        unsafe { tag(base, at, *seq) };
                        *cur = end;
                    }
                },
            )
        });
    });
    drop(region);
}

/// `limit-bump-faa`: one shared cursor advanced by `fetch_add(BLOCK)`
/// (every block stays 64-aligned, so it serves `align` 64 as it is).
fn bench_faa(g: &mut Group<'_>, (label, size): (&str, u64), per_fill: u64) {
    let region = Region::new(size);
    let (base, len) = (region.base.as_ptr(), region.len);
    let cursor = region.cursor();
    let mut fills = Fills::new(per_fill);
    let mut seq = 0u64;
    g.bench_function(BenchmarkId::new("limit-bump-faa", label), |b| {
        b.iter_custom(|iters| {
            fills.time(
                iters,
                &mut seq,
                |_| cursor.store(0, Ordering::Relaxed),
                |seq, n| {
                    for _ in 0..n {
                        // Relaxed: the cursor only hands out disjoint ranges
                        // (the W1 baseline's definition).
                        let at = 128 + cursor.fetch_add(BLOCK, Ordering::Relaxed);
                        assert!(at + BLOCK <= len, "region exhausted");
                        *seq += 1;
                        // SAFETY: `at + BLOCK <= len`, inside the region's
                        // pool, 64-aligned; the range is this call's alone.
                        unsafe { tag(base, at, *seq) };
                    }
                },
            )
        });
    });
}

fn bump_alloc(c: &mut Criterion) {
    let mut g = c.benchmark_group("bump_alloc");
    g.throughput(Throughput::Elements(1));
    for region in REGIONS {
        // A block costs 64 bytes plus its 8-byte header.
        let n = per_fill(region.1, BLOCK + 8);
        bench_bump(&mut g, region, 8, n);
        bench_local(&mut g, region, 8, n);
        bench_faa(&mut g, region, n);
    }
    g.finish();
}

fn bump_alloc_aligned(c: &mut Criterion) {
    let mut g = c.benchmark_group("bump_alloc_aligned");
    g.throughput(Throughput::Elements(1));
    for region in REGIONS {
        // The header before a 64-aligned start costs a whole 64-byte step.
        let n = per_fill(region.1, 2 * BLOCK);
        bench_bump(&mut g, region, 64, n);
        bench_local(&mut g, region, 64, n);
        bench_faa(&mut g, region, n);
    }
    g.finish();
}

fn bump_mark_rewind(c: &mut Criterion) {
    let mut g = c.benchmark_group("bump_mark_rewind");
    g.throughput(Throughput::Elements(1));
    let arena = arena(REGIONS[0].1);
    let base = arena.segment().view().base().as_ptr();
    let mut seq = 0u64;
    let mut one = |arena: &Bump| {
        let at = arena.alloc(BLOCK).expect("alloc");
        seq += 1;
        // SAFETY: `at` is a fresh BLOCK-byte block of this arena, inside its
        // mapping, 8-aligned.
        unsafe { tag(base, at.get(), seq) };
    };
    g.bench_function(BenchmarkId::new("mark-rewind", 0), |b| {
        b.iter(|| {
            let m = arena.mark().expect("mark");
            arena.rewind(black_box(m)).expect("rewind");
        });
    });
    g.bench_function(BenchmarkId::new("mark-rewind", 1), |b| {
        b.iter(|| {
            let m = arena.mark().expect("mark");
            one(&arena);
            arena.rewind(m).expect("rewind");
        });
    });
    g.bench_function(BenchmarkId::new("reset", 1), |b| {
        b.iter(|| {
            one(&arena);
            arena.reset().expect("reset");
        });
    });
    g.finish();
}

mod group {
    //! The criterion group (its generated function lives here, out of the crate's API).
    criterion::criterion_group! {
        name = benches;
        config = sharena_benches::config();
        targets = super::bump_alloc, super::bump_alloc_aligned, super::bump_mark_rewind
    }
}

criterion_main!(group::benches);
