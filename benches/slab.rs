//! Hot paths of the slab allocator (`sharena::Slab`, 64-byte slots, over an
//! anonymous segment), beside the system allocator (a 64-byte `Box`) and a
//! `Mutex<Vec<u32>>` free list over as many 64-byte slots of an anonymous
//! region of the same size:
//!
//! - `slab_pair`: one alloc + free pair with an 8-byte tag write (the slab's
//!   cache-hit fast path);
//! - `slab_churn`: W2 of docs/WORKLOADS.md in one thread: 4096 live slots, each
//!   op reads and checks a random slot's tag (xorshift64, seed 42), frees it,
//!   allocates a new one and tags it; the fill and teardown are untimed;
//! - `slab_pair_threads`: the pair loop in 2 threads at once, started by a
//!   `Barrier` and timed with `iter_custom` (wall = last end - first start);
//!   for the slab each thread owns its own `Slab` handle attached to one
//!   segment.
//!
//! - `slab_reclaim`: `reclaim_dead` on a 64 MiB segment of 64-byte slots
//!   after a dead process held 1000 slots and a full cache (the death is
//!   simulated: a second handle whose cache entry's owner word and
//!   process-table entry get a forged start time, then forgotten); only the
//!   reclaim is timed. `reclaim_dead_64MiB_all_used` is the worst case:
//!   every slot of the segment handed out once and freed in random order
//!   before, so the pass reads every slot word and the stack holds about a
//!   million of them in random order. `..._mid_push`: the same, with the
//!   victim dead inside a flush (its entry's push flag forged as a flush
//!   sets it), the one case where the reclaim walks the stack, as deep as
//!   the pushes since the flag allow.
//!   The bar (docs/BENCHMARKS.md) is under 10 ms.
//!
//! Medians are in docs/BENCHMARKS.md.

use std::hint::black_box;
use std::mem::MaybeUninit;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use sharena_benches::{pool_of, prefault};
use sharena_testkit::XorShift;

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use sharena::{
    AllocatorKind, Offset, OwnerId, ProcTable, Recover, RegionId, Segment, SegmentOptions,
    ShmAllocator, Slab,
};

/// Bytes of the slab's segment and of the free list's region.
const SEGMENT: u64 = 16 << 20;
/// The slot (block) size.
const SLOT: u64 = 64;
/// Live slots in the churn (docs/WORKLOADS.md, "Working set").
const LIVE: usize = 4096;
/// Threads in `slab_pair_threads`.
const THREADS: usize = 2;

/// What every subject offers the loops: a 64-byte block, at least
/// 8-aligned, whose first word the loops read and write.
trait Pool {
    type Handle;
    fn alloc(&mut self) -> Self::Handle;
    fn free(&mut self, h: Self::Handle);
    /// The block's first word; valid until `free(h)`.
    fn word(&mut self, h: &mut Self::Handle) -> *mut u64;
}

/// `slab`: offsets from a `Slab`, the tag through the zero-copy pointer.
struct SlabPool<'a> {
    slab: &'a Slab,
    base: *mut u8,
}

impl<'a> SlabPool<'a> {
    fn new(slab: &'a Slab) -> Self {
        let base = slab.segment().view().base().as_ptr();
        SlabPool { slab, base }
    }
}

impl Pool for SlabPool<'_> {
    type Handle = Offset;
    #[inline(always)]
    fn alloc(&mut self) -> Offset {
        self.slab.alloc(SLOT).expect("slab alloc")
    }
    #[inline(always)]
    fn free(&mut self, h: Offset) {
        self.slab.free(h).expect("slab free");
    }
    #[inline(always)]
    fn word(&mut self, h: &mut Offset) -> *mut u64 {
        // The offset came from `alloc` of this slab, so it lies in the pool.
        self.base.wrapping_add(h.get() as usize).cast()
    }
}

/// `system`: a 64-byte `Box` from the global (system) allocator, left
/// uninitialised as a slab slot is.
struct SystemPool;

type Block = MaybeUninit<[u64; 8]>;

impl Pool for SystemPool {
    type Handle = Box<Block>;
    #[inline(always)]
    fn alloc(&mut self) -> Box<Block> {
        Box::new_uninit()
    }
    #[inline(always)]
    fn free(&mut self, h: Box<Block>) {
        drop(h);
    }
    #[inline(always)]
    fn word(&mut self, h: &mut Box<Block>) -> *mut u64 {
        h.as_mut_ptr().cast()
    }
}

/// The slots of the `mutex-vec` free list: an anonymous segment of the
/// slab's size, prefaulted, cut into 64-byte slots.
struct Slots {
    seg: Segment,
    count: u32,
}

impl Slots {
    fn new(max: u64) -> Slots {
        let seg = Segment::anonymous(&SegmentOptions::new(AllocatorKind::Raw, SEGMENT))
            .expect("anonymous region");
        let (ptr, len) = pool_of(seg.view());
        prefault(ptr, len);
        let count = (len / SLOT).min(max).min(u64::from(u32::MAX)) as u32;
        Slots { seg, count }
    }

    /// A full free list, popping slot 0 first.
    fn free_list(&self) -> Mutex<Vec<u32>> {
        Mutex::new((0..self.count).rev().collect())
    }
}

/// `mutex-vec`: indices popped from and pushed to a `Mutex<Vec<u32>>`.
struct MutexPool<'a> {
    list: &'a Mutex<Vec<u32>>,
    base: *mut u8,
}

impl<'a> MutexPool<'a> {
    fn new(list: &'a Mutex<Vec<u32>>, slots: &Slots) -> Self {
        let (base, _) = pool_of(slots.seg.view());
        MutexPool {
            list,
            base: base.as_ptr(),
        }
    }
}

impl Pool for MutexPool<'_> {
    type Handle = u32;
    #[inline(always)]
    fn alloc(&mut self) -> u32 {
        self.list.lock().expect("lock").pop().expect("a free slot")
    }
    #[inline(always)]
    fn free(&mut self, h: u32) {
        self.list.lock().expect("lock").push(h);
    }
    #[inline(always)]
    fn word(&mut self, h: &mut u32) -> *mut u64 {
        // `h < count`, and `count` slots fit the region's pool.
        self.base.wrapping_add(*h as usize * SLOT as usize).cast()
    }
}

/// One alloc + tag + free.
#[inline(always)]
fn pair<P: Pool>(p: &mut P, seq: u64) {
    let mut h = black_box(p.alloc());
    let w = p.word(&mut h);
    // SAFETY: `h` is a live 64-byte block of `p`, at least 8-aligned, that
    // only this thread holds until the free below.
    unsafe { w.write(seq) };
    p.free(h);
}

/// W2 in one thread: fill (untimed), `iters` ops (timed), teardown
/// (untimed). Panics if a tag read back is wrong.
fn churn<P: Pool>(p: &mut P, iters: u64) -> Duration {
    let mut slot: Vec<Option<P::Handle>> = Vec::with_capacity(LIVE);
    let mut tag = vec![0u64; LIVE];
    for (j, t) in tag.iter_mut().enumerate() {
        let mut h = p.alloc();
        *t = (1 << 56) | (u64::MAX - j as u64).wrapping_add(1);
        // SAFETY: `h` is a live 64-byte block, 8-aligned, held only here.
        unsafe { p.word(&mut h).write(*t) };
        slot.push(Some(h));
    }
    let mut rng = XorShift::new(42);
    let (mut errors, mut sum) = (0u64, 0u64);
    let start = Instant::now();
    for n in 0..iters {
        let i = (rng.next() % LIVE as u64) as usize;
        let mut h = slot[i].take().expect("a live slot");
        // SAFETY: `h` is live (slot `i` holds it) and 8-aligned.
        let seen = unsafe { p.word(&mut h).read() };
        errors += u64::from(seen != tag[i]);
        sum = sum.wrapping_add(seen);
        p.free(h);
        let mut h = p.alloc();
        let new_tag = (1 << 56) | (n + 1);
        // SAFETY: `h` is a fresh live 64-byte block, 8-aligned, held only
        // here.
        unsafe { p.word(&mut h).write(new_tag) };
        tag[i] = new_tag;
        slot[i] = Some(h);
    }
    let elapsed = start.elapsed();
    assert_eq!(errors, 0, "tags read back wrong");
    black_box(sum);
    for h in slot.into_iter().flatten() {
        p.free(h);
    }
    elapsed
}

/// Runs each worker in its own thread; they wait on one barrier, then each
/// times its own loop. Returns the last end minus the first start (docs/WORKLOADS.md's
/// wall time, taken by the workers themselves so that a late wake-up of
/// this thread cannot shorten it).
fn run_threads<F>(workers: Vec<F>) -> Duration
where
    F: FnOnce(&Barrier) -> (Instant, Instant) + Send,
{
    let bar = Barrier::new(workers.len());
    std::thread::scope(|s| {
        let bar = &bar;
        let joins: Vec<_> = workers
            .into_iter()
            .map(|w| s.spawn(move || w(bar)))
            .collect();
        let spans: Vec<(Instant, Instant)> = joins
            .into_iter()
            .map(|j| j.join().expect("worker"))
            .collect();
        let start = spans.iter().map(|span| span.0).min().expect("workers");
        let end = spans.iter().map(|span| span.1).max().expect("workers");
        end - start
    })
}

/// A worker's loop: one untimed pair (a slab handle's first use claims its
/// cache), the barrier, `iters` pairs; returns its start and end times.
fn pairs_after<P: Pool>(p: &mut P, iters: u64, bar: &Barrier) -> (Instant, Instant) {
    pair(p, 0);
    bar.wait();
    let start = Instant::now();
    for n in 0..iters {
        pair(p, n + 1);
    }
    (start, Instant::now())
}

fn new_slab() -> Slab {
    let slab = Slab::anonymous(SEGMENT, SLOT).expect("anonymous slab");
    let (ptr, len) = pool_of(slab.segment().view());
    prefault(ptr, len);
    slab
}

fn slab_pair(c: &mut Criterion) {
    let mut g = c.benchmark_group("slab_pair");
    g.throughput(Throughput::Elements(1));
    let slab = new_slab();
    let slots = Slots::new(slab.slot_count());
    let list = slots.free_list();
    let mut seq = 0u64;
    {
        let mut p = SlabPool::new(&slab);
        g.bench_function(BenchmarkId::new("slab", SLOT), |b| {
            b.iter(|| {
                seq += 1;
                pair(&mut p, seq);
            });
        });
    }
    g.bench_function(BenchmarkId::new("system", SLOT), |b| {
        b.iter(|| {
            seq += 1;
            pair(&mut SystemPool, seq);
        });
    });
    {
        let mut p = MutexPool::new(&list, &slots);
        g.bench_function(BenchmarkId::new("mutex-vec", SLOT), |b| {
            b.iter(|| {
                seq += 1;
                pair(&mut p, seq);
            });
        });
    }
    g.finish();
}

fn slab_churn(c: &mut Criterion) {
    let mut g = c.benchmark_group("slab_churn");
    g.throughput(Throughput::Elements(1));
    let slab = new_slab();
    let slots = Slots::new(slab.slot_count());
    let list = slots.free_list();
    let live = LIVE as u64;
    {
        let mut p = SlabPool::new(&slab);
        g.bench_function(BenchmarkId::new("slab", live), |b| {
            b.iter_custom(|iters| churn(&mut p, iters));
        });
    }
    g.bench_function(BenchmarkId::new("system", live), |b| {
        b.iter_custom(|iters| churn(&mut SystemPool, iters));
    });
    {
        let mut p = MutexPool::new(&list, &slots);
        g.bench_function(BenchmarkId::new("mutex-vec", live), |b| {
            b.iter_custom(|iters| churn(&mut p, iters));
        });
    }
    g.finish();
}

fn slab_pair_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("slab_pair_threads");
    // One iteration is one pair in each thread.
    g.throughput(Throughput::Elements(THREADS as u64));
    let slab = new_slab();
    let mut handles: Vec<Slab> = (0..THREADS)
        .map(|_| slab.reattach().expect("reattach"))
        .collect();
    let slots = Slots::new(slab.slot_count());
    let list = slots.free_list();
    let threads = THREADS as u64;
    g.bench_function(BenchmarkId::new("slab", threads), |b| {
        b.iter_custom(|iters| {
            run_threads(
                handles
                    .iter_mut()
                    .map(|h| {
                        move |bar: &Barrier| {
                            let span = pairs_after(&mut SlabPool::new(h), iters, bar);
                            // Untimed: hands the cache back, so that the next
                            // sample's thread owns it.
                            h.flush().expect("flush");
                            span
                        }
                    })
                    .collect(),
            )
        });
    });
    g.bench_function(BenchmarkId::new("system", threads), |b| {
        b.iter_custom(|iters| {
            run_threads(
                (0..THREADS)
                    .map(|_| move |bar: &Barrier| pairs_after(&mut SystemPool, iters, bar))
                    .collect(),
            )
        });
    });
    g.bench_function(BenchmarkId::new("mutex-vec", threads), |b| {
        b.iter_custom(|iters| {
            run_threads(
                (0..THREADS)
                    .map(|_| {
                        let (list, slots) = (&list, &slots);
                        move |bar: &Barrier| {
                            pairs_after(&mut MutexPool::new(list, slots), iters, bar)
                        }
                    })
                    .collect(),
            )
        });
    });
    g.finish();
}

/// Bytes of one slab registry entry (format 2: one line, `CacheHead`).
const SLAB_ENTRY_LEN: u64 = 128;

/// Bytes of the reclaim bench's segment.
const RECLAIM_SEGMENT: u64 = 64 << 20;
/// Slots the dead process holds.
const DEAD_HELD: usize = 1000;

/// Makes `victim` look dead (same pid, another start time, in its cache
/// entry's owner word and its process-table entry) and forgets it.
fn kill_in_place(victim: Slab, mine_before: &[u32]) {
    let view = victim.segment().view();
    let me = victim.owner_id();
    let dead = OwnerId::new(me.pid(), me.epoch(), me.start_ticks() + 1).expect("a pid");
    // Slab format 2 (docs/FORMAT.md): each registry entry is one 128-byte
    // line, its owner word first.
    let entry_len = SLAB_ENTRY_LEN;
    let id = u64::from(victim.cache_id());
    let owner_at = view.region(RegionId::State).offset + 0x200 + id * entry_len;
    let word = view.atomic_u64(Offset::new(owner_at)).expect("in bounds");
    word.store(dead.raw(), std::sync::atomic::Ordering::Relaxed);
    let table = ProcTable::of(view).expect("table");
    for e in table.entries().expect("entries") {
        if e.id.same_process(me) && !mine_before.contains(&e.slot) {
            let at = view.region(RegionId::Metadata).offset + u64::from(e.slot) * 64;
            let w = view.atomic_u64(Offset::new(at)).expect("in bounds");
            let dead = OwnerId::new(dead.pid(), e.id.epoch(), dead.start_ticks()).expect("a pid");
            w.store(dead.raw(), std::sync::atomic::Ordering::Relaxed);
        }
    }
    std::mem::forget(victim);
}

/// One timed reclaim after a simulated death: the victim holds
/// `DEAD_HELD` slots and a full cache; with `mid_push`, it died inside a
/// push (its entry's `pushing` flag is forged), so the reclaim must walk
/// the stack.
fn reclaim_after_a_death(slab: &Slab, mid_push: bool) -> Duration {
    let before: Vec<u32> = ProcTable::of(slab.segment().view())
        .and_then(|t| t.entries())
        .expect("entries")
        .iter()
        .map(|e| e.slot)
        .collect();
    let victim = slab.reattach().expect("attach");
    let held: Vec<Offset> = (0..DEAD_HELD)
        .map(|_| victim.alloc(SLOT).expect("alloc"))
        .collect();
    // Fill the cache: free the last 128 (a cache's capacity).
    for &at in &held[DEAD_HELD - 128..] {
        victim.free(at).expect("free");
    }
    if mid_push {
        let view = victim.segment().view();
        let entry_len = SLAB_ENTRY_LEN;
        let at = view.region(RegionId::State).offset
            + 0x200
            + u64::from(victim.cache_id()) * entry_len
            + 0x20;
        let word = view.atomic_u64(Offset::new(at)).expect("in bounds");
        // The flag a flush sets: the head's tag now, and 1.
        let head = view
            .atomic_u64(Offset::new(view.region(RegionId::State).offset))
            .expect("in bounds")
            .load(std::sync::atomic::Ordering::Relaxed);
        word.store((head >> 32 << 32) | 1, std::sync::atomic::Ordering::Relaxed);
    }
    kill_in_place(victim, &before);
    let t = Instant::now();
    let r = black_box(slab.reclaim_dead().expect("reclaim"));
    let took = t.elapsed();
    assert_eq!(r.processes, 1);
    took
}

fn slab_reclaim(c: &mut Criterion) {
    let mut g = c.benchmark_group("slab_reclaim");
    let slab = Slab::anonymous(RECLAIM_SEGMENT, SLOT).expect("slab");
    g.bench_function("reclaim_dead_64MiB", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| reclaim_after_a_death(&slab, false))
                .sum()
        });
    });
    // The worst case: every slot handed out once (the slot-word pass reads
    // them all) and freed in random order (the stack walk visits ~all of
    // them, hopping about the slot words).
    let mut slab = Slab::anonymous(RECLAIM_SEGMENT, SLOT).expect("slab");
    let mut all: Vec<Offset> = Vec::new();
    while let Ok(at) = slab.alloc(SLOT) {
        all.push(at);
    }
    let mut rng = XorShift::new(7);
    for i in (1..all.len()).rev() {
        all.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    for at in all {
        slab.free(at).expect("free");
    }
    slab.flush().expect("flush");
    g.bench_function("reclaim_dead_64MiB_all_used", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| reclaim_after_a_death(&slab, false))
                .sum()
        });
    });
    g.bench_function("reclaim_dead_64MiB_all_used_mid_push", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| reclaim_after_a_death(&slab, true)).sum());
    });
    g.finish();
}

mod group {
    //! The criterion group (its generated function lives here, out of the crate's API).
    criterion::criterion_group! {
        name = benches;
        config = sharena_benches::config();
        targets = super::slab_pair, super::slab_churn, super::slab_pair_threads, super::slab_reclaim
    }
}

criterion_main!(group::benches);
