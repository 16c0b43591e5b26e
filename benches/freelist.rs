//! Hot paths of the free list (`sharena::FreeList` over an anonymous
//! segment), beside the system allocator (`std::alloc`) and `mutex-tlsf`:
//! rlsf's TLSF over an anonymous region of the same size behind a
//! `std::sync::Mutex` (the in-process cousin of the `mutex-shm` baseline of
//! `sharena bench`):
//!
//! - `freelist_pair`: one alloc + free pair of 64 bytes with an 8-byte tag
//!   write (the arena's fast path: a bin hit, a split, a coalesce);
//! - `freelist_churn`: W3 of docs/WORKLOADS.md in one thread: 4096 live blocks
//!   of sizes uniform in [16, 4096]; each op checks a random block's tag
//!   (xorshift64, seed 42), frees it and allocates a new size; fill and
//!   teardown are untimed;
//! - `freelist_reclaim`: `reclaim_dead` after a dead process held 1000
//!   blocks (sizes uniform in [16, 4096], every 8th shared) and a full class
//!   cache in 20 classes (the bar, in docs/BENCHMARKS.md: under 10 ms on a 64 MiB segment);
//!   the death is simulated (`simulate_death` with a reaped child's
//!   identity) and the set-up is untimed.
//!
//! Medians are in docs/BENCHMARKS.md.

use std::alloc::Layout;
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sharena_testkit::XorShift;

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use sharena::{
    AllocatorKind, FreeList, Offset, ProcId, Recover, Segment, SegmentOptions, ShmAllocator,
};

/// Bytes of the free list's segment and of the TLSF region.
const SEGMENT: u64 = 64 << 20;
/// Live blocks in the churn (docs/WORKLOADS.md, "Working set").
const LIVE: usize = 4096;

/// What every subject offers the loops: a block of at least `size` bytes,
/// 8-aligned, whose first word the loops write and read.
trait Pool {
    fn alloc(&mut self, size: u64) -> NonNull<u64>;
    fn free(&mut self, p: NonNull<u64>, size: u64);
}

/// `freelist`: offsets from a `FreeList`, turned into pointers through the
/// segment's base.
struct FreeListPool<'a> {
    heap: &'a FreeList,
    base: *mut u8,
}

impl Pool for FreeListPool<'_> {
    #[inline(always)]
    fn alloc(&mut self, size: u64) -> NonNull<u64> {
        let at = self.heap.alloc(size).expect("freelist alloc");
        // The offset came from this heap, so it lies in the mapping.
        NonNull::new(self.base.wrapping_add(at.get() as usize).cast()).expect("non-null")
    }
    #[inline(always)]
    fn free(&mut self, p: NonNull<u64>, _size: u64) {
        let off = p.as_ptr() as usize - self.base as usize;
        self.heap
            .free(Offset::new(off as u64))
            .expect("freelist free");
    }
}

/// `system`: `std::alloc` with 8-byte alignment.
struct SystemPool;

impl Pool for SystemPool {
    #[inline(always)]
    fn alloc(&mut self, size: u64) -> NonNull<u64> {
        let layout = Layout::from_size_align(size as usize, 8).expect("layout");
        // SAFETY: `size` is nonzero (every caller asks for at least 16).
        NonNull::new(unsafe { std::alloc::alloc(layout) }.cast()).expect("system alloc")
    }
    #[inline(always)]
    fn free(&mut self, p: NonNull<u64>, size: u64) {
        let layout = Layout::from_size_align(size as usize, 8).expect("layout");
        // SAFETY: `p` came from `alloc` with this same layout.
        unsafe { std::alloc::dealloc(p.as_ptr().cast(), layout) };
    }
}

type Tlsf = rlsf::Tlsf<'static, u32, u32, 28, 16>;

/// `mutex-tlsf`: rlsf over an anonymous region, behind a `Mutex`.
struct TlsfPool {
    heap: Mutex<Tlsf>,
    _region: Segment,
}

impl TlsfPool {
    fn new() -> TlsfPool {
        let region = Segment::anonymous(&SegmentOptions::new(AllocatorKind::Raw, SEGMENT))
            .expect("anonymous region");
        let (ptr, len) = sharena_benches::pool_of(region.view());
        let mut heap = Tlsf::new();
        // SAFETY: the pool is mapped for as long as `_region` lives, which
        // is as long as the heap; nothing else uses those bytes.
        let block = unsafe {
            std::slice::from_raw_parts_mut(ptr.as_ptr().cast::<MaybeUninit<u8>>(), len as usize)
        };
        heap.insert_free_block(block);
        TlsfPool {
            heap: Mutex::new(heap),
            _region: region,
        }
    }
}

impl Pool for &TlsfPool {
    #[inline(always)]
    fn alloc(&mut self, size: u64) -> NonNull<u64> {
        let layout = Layout::from_size_align(size as usize, 8).expect("layout");
        let mut heap = self.heap.lock().expect("lock");
        heap.allocate(layout).expect("tlsf alloc").cast()
    }
    #[inline(always)]
    fn free(&mut self, p: NonNull<u64>, _size: u64) {
        let mut heap = self.heap.lock().expect("lock");
        // SAFETY: `p` came from `allocate` of this heap with alignment 8.
        unsafe { heap.deallocate(p.cast(), 8) };
    }
}

/// `iters` alloc + tag + free pairs of 64 bytes.
fn pairs<P: Pool>(p: &mut P, iters: u64) -> Duration {
    let t = Instant::now();
    for seq in 0..iters {
        let b = black_box(p.alloc(64));
        // SAFETY: `b` is a live block of at least 64 bytes, 8-aligned, that
        // only this thread holds until the free below.
        unsafe { b.as_ptr().write(seq) };
        p.free(b, 64);
    }
    t.elapsed()
}

/// W3 in one thread: fill (untimed), `iters` ops (timed), teardown
/// (untimed). Panics if a tag read back is wrong.
fn churn<P: Pool>(p: &mut P, iters: u64) -> Duration {
    let mut rng = XorShift::new(42);
    let mut live: Vec<(NonNull<u64>, u64, u64)> = (0..LIVE)
        .map(|j| {
            let size = 16 + rng.next() % 4081;
            let b = p.alloc(size);
            let tag = (1u64 << 56) | j as u64;
            // SAFETY: a fresh block of `size >= 16` bytes, 8-aligned.
            unsafe { b.as_ptr().write(tag) };
            (b, size, tag)
        })
        .collect();
    let t = Instant::now();
    for n in 0..iters {
        let i = (rng.next() % LIVE as u64) as usize;
        let size = 16 + rng.next() % 4081;
        let (b, old, tag) = live[i];
        // SAFETY: `b` is live and holds the tag written when it was made.
        assert_eq!(unsafe { b.as_ptr().read() }, tag);
        p.free(b, old);
        let b = p.alloc(size);
        let tag = (1u64 << 56) | (n + 1);
        // SAFETY: as in the fill.
        unsafe { b.as_ptr().write(tag) };
        live[i] = (b, size, tag);
    }
    let d = t.elapsed();
    for (b, size, _) in live {
        p.free(b, size);
    }
    d
}

/// The identity of a process that has exited (a reaped child).
fn dead_proc() -> ProcId {
    let mut child = std::process::Command::new("true")
        .spawn()
        .expect("spawn true");
    let pid = child.id();
    let id = ProcId::of_pid(pid).unwrap_or(ProcId::new(pid, 1));
    child.wait().expect("reap true");
    id
}

/// `iters` reclaims, each after a fresh handle allocated 1000 blocks,
/// filled 20 class caches and "died" (untimed).
fn reclaims(heap: &FreeList, dead: ProcId, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut rng = XorShift::new(42);
    for _ in 0..iters {
        let victim = heap.reattach().expect("reattach");
        let mut shared = Vec::new();
        for i in 0..1000u64 {
            let at = victim.alloc(16 + rng.next() % 4081).expect("alloc");
            if i % 8 == 0 {
                victim.share(at).expect("share");
                shared.push(at);
            }
        }
        for class in 0..20u64 {
            let blocks: Vec<Offset> = (0..4)
                .map(|_| victim.alloc(64 + class * 48).expect("alloc"))
                .collect();
            for at in blocks {
                victim.free(at).expect("free");
            }
        }
        victim.simulate_death(dead);
        drop(victim);
        let t = Instant::now();
        let report = heap.reclaim_dead().expect("reclaim");
        total += t.elapsed();
        assert!(report.blocks >= 875, "{report:?}");
        // Untimed: the shared blocks go too (and the next reclaim's tidy
        // of ownerless arenas starts from an empty remote list).
        for at in shared {
            heap.free(at).expect("free shared");
        }
        heap.reclaim_dead().expect("tidy");
    }
    total
}

fn bench(c: &mut Criterion) {
    let heap = FreeList::anonymous(SEGMENT).expect("anonymous free list");
    let base = heap.segment().view().base().as_ptr();
    let tlsf = TlsfPool::new();

    let mut g = c.benchmark_group("freelist_pair");
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("freelist", 64), |b| {
        b.iter_custom(|n| pairs(&mut FreeListPool { heap: &heap, base }, n));
    });
    g.bench_function(BenchmarkId::new("system", 64), |b| {
        b.iter_custom(|n| pairs(&mut SystemPool, n));
    });
    g.bench_function(BenchmarkId::new("mutex-tlsf", 64), |b| {
        b.iter_custom(|n| pairs(&mut &tlsf, n));
    });
    g.finish();

    let mut g = c.benchmark_group("freelist_churn");
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("freelist", LIVE), |b| {
        b.iter_custom(|n| churn(&mut FreeListPool { heap: &heap, base }, n));
    });
    g.bench_function(BenchmarkId::new("system", LIVE), |b| {
        b.iter_custom(|n| churn(&mut SystemPool, n));
    });
    g.bench_function(BenchmarkId::new("mutex-tlsf", LIVE), |b| {
        b.iter_custom(|n| churn(&mut &tlsf, n));
    });
    g.finish();

    let mut g = c.benchmark_group("freelist_reclaim");
    let dead = dead_proc();
    g.bench_function(BenchmarkId::new("reclaim_dead", 1000), |b| {
        b.iter_custom(|n| reclaims(&heap, dead, n));
    });
    g.finish();
}

mod group {
    //! The criterion group (its generated function lives here, out of the crate's API).
    criterion::criterion_group! {
        name = benches;
        config = sharena_benches::config();
        targets = super::bench
    }
}

criterion_main!(group::benches);
