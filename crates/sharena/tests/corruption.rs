//! The corruption fuzz: a live segment (blocks allocated, some freed,
//! caches warm, one attachment left behind by a process that died) gets
//! bytes flipped and whole words overwritten with hostile
//! values (`u64::MAX`, zero, one bit, a 32-bit maximum, off by a few, and
//! words shaped like block tags, link words, chunk-table entries and
//! granule-aligned offsets, so that they pass the decoders) in its
//! allocator metadata (the state region, and the headers and links beside
//! live and free blocks), then runs operations, `check()`, `runs()`,
//! `reclaim_dead()` and a second attach. Errors are fine; a panic, a
//! signal (segfault, abort) or a hang is a failure. Every case runs in its
//! own forked child with a timeout; 1,300 cases per allocator kind (free
//! list, slab, bump, handle heap: 5,200 in all), or `SHARENA_FUZZ_CASES` in
//! all. It prints whether this build checks overflow: run it in both
//! profiles, `cargo test -p sharena --test corruption` (the test profile:
//! debug assertions and overflow checks on) and the same with `--release`
//! (both off), as `.ci/run` does. A failing case prints its seed:
//! `SHARENA_FUZZ_CASE=KIND:SEED cargo test -p sharena --test corruption`
//! replays it alone. `SHARENA_FUZZ_SWEEP=W` replaces the random writes
//! with a sweep: case `i` of each kind writes one of 8 hostile values over
//! word `i % W` of the state region, so `8 x W` cases per kind try each
//! value on each of the first `W` words (replay a case with the same
//! `SHARENA_FUZZ_SWEEP` and `SHARENA_FUZZ_CASE=KIND:i`).
//!
//! `harness = false`: `main` is single-threaded, so `fork` is safe here.

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use sharena::{Handle, Offset, Recover, RegionId, ShmAllocator};
use sharena_testkit::harness::{fork_child, kill, try_wait, wait, Exit};
use sharena_testkit::XorShift;
use std::time::{Duration, Instant};

/// Cases per allocator kind unless `SHARENA_FUZZ_CASES` says how many in
/// all: 1,300 x 4 kinds = 5,200.
const CASES_PER_KIND: u64 = 1_300;
const PARALLEL: usize = 2;
const TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    FreeList,
    Slab,
    Bump,
    Handles,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::FreeList, Kind::Slab, Kind::Bump, Kind::Handles];
    fn name(self) -> &'static str {
        match self {
            Kind::FreeList => "freelist",
            Kind::Slab => "slab",
            Kind::Bump => "bump",
            Kind::Handles => "handles",
        }
    }
    fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Where one corruption lands: a few in the state region, a few in the 16
/// bytes before some of the blocks (headers, tags) and in the first 16
/// bytes of others (free-list links live there once freed).
fn target(state: sharena::Region, blocks: &[u64], rng: &mut XorShift) -> u64 {
    match rng.next() % 3 {
        // Most allocator state sits at the start of the region (control
        // block, registry, counters); half the writes go there.
        0 => state.offset + rng.next() % state.len.min(16 << 10),
        1 => state.offset + rng.next() % state.len,
        _ if !blocks.is_empty() => {
            let b = blocks[(rng.next() % blocks.len() as u64) as usize];
            (b + rng.next() % 32).saturating_sub(16)
        }
        _ => state.offset,
    }
}

/// A 32-bit field's hostile value: zero, one, its maximum, near it, or
/// random.
fn hostile_u32(rng: &mut XorShift) -> u64 {
    match rng.next() % 5 {
        0 => 0,
        1 => 1,
        2 => u64::from(u32::MAX),
        3 => u64::from(u32::MAX - (rng.next() % 64) as u32),
        _ => rng.next() & 0xFFFF_FFFF,
    }
}

/// A whole word's hostile value: the ends of the ranges that make
/// arithmetic overflow (a counter at `u64::MAX`, an offset near the top,
/// a count of zero, a 32-bit field at its maximum), or random bits; and
/// words shaped like the free list's packed words so that they pass the
/// decoders' magic and reserved-bit checks and reach the arithmetic
/// behind them: a block tag (its magic byte) with a hostile size or owner,
/// a link word (previous block FREE) with a size under a block or near
/// `u32::MAX` and its slack bits set, a chunk-table entry with a hostile
/// run length, and an offset moved by whole granules (a bin, cache,
/// remote-list or parked-span word that still looks aligned).
fn hostile_word(old: u64, rng: &mut XorShift) -> u64 {
    match rng.next() % 16 {
        10 => {
            // A tag: magic 0xB7, a state, an owner, a size.
            let state = rng.next() % 4;
            let flags = (rng.next() % 32) & 0x1C;
            let owner = match rng.next() % 3 {
                0 => 0xFFFF,
                1 => rng.next() % 4,
                _ => (old >> 8) & 0xFFFF,
            };
            state | flags | owner << 8 | 0xB7 << 24 | hostile_u32(rng) << 32
        }
        11 => {
            // A link: previous block FREE, hostile size, any slack.
            let slack = match rng.next() % 3 {
                0 => 0,
                1 => (1 << 31) - 1,
                _ => old >> 33,
            };
            1 << 32 | hostile_u32(rng) | slack << 33
        }
        12 => {
            // A chunk-table entry: a kind, a small owner, a hostile n.
            (rng.next() % 8) | (rng.next() % 4) << 8 | hostile_u32(rng) << 32
        }
        13 => old.wrapping_add(16 * (1 + rng.next() % 4096)),
        14 => old.wrapping_sub(16 * (1 + rng.next() % 4096)),
        15 => old & 0xFFFF_FFFF | hostile_u32(rng) << 32,
        0 => u64::MAX,
        1 => u64::MAX - rng.next() % 64,
        2 => 0,
        3 => 1 << (rng.next() % 64),
        4 => u64::from(u32::MAX),
        5 => old.wrapping_add(1 + rng.next() % 8),
        6 => old.wrapping_sub(1 + rng.next() % 8),
        7 => old | 0xFFFF_FFFF_0000_0000,
        8 => old ^ (u64::MAX << (rng.next() % 64)),
        _ => rng.next(),
    }
}

/// The sweep (`SHARENA_FUZZ_SWEEP=W`): case `i` writes one hostile value,
/// `SWEEP_VALUES[(i / W) % 8]`, over word `i % W` of the state region
/// (`W` capped at the region's words), instead of random corruptions. Set
/// in `main` before any fork.
static SWEEP: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// What the sweep writes, given the word's old value.
fn sweep_value(k: u64, old: u64) -> u64 {
    match k % 8 {
        0 => u64::MAX,
        1 => u64::MAX - 7,
        2 => 0,
        3 => 1 << 63,
        4 => u64::from(u32::MAX),
        5 => old.wrapping_add(1),
        6 => old.wrapping_sub(1),
        _ => old | 0xFFFF_FFFF_0000_0000,
    }
}

/// Corrupts metadata: 1 to 8 byte flips or whole-word writes (hostile
/// values, `hostile_word`) at `target`s; in the sweep, the one word case
/// `seed` names.
fn corrupt(view: &sharena::SegmentView, blocks: &[u64], rng: &mut XorShift, seed: u64) {
    let state = view.region(RegionId::State);
    if let Some(&w) = SWEEP.get() {
        let words = (state.len / 8).min(w).max(1);
        let at = Offset::new(state.offset + seed % words * 8);
        let mut word = [0u8; 8];
        if view.read_bytes(at, &mut word).is_ok() {
            let new = sweep_value(seed / words, u64::from_le_bytes(word));
            let _ = view.write_bytes(at, &new.to_le_bytes());
        }
        return;
    }
    let writes = 1 + rng.next() % 8;
    for _ in 0..writes {
        let at = target(state, blocks, rng);
        if rng.next() % 2 == 0 {
            let at = Offset::new(at & !7);
            let mut word = [0u8; 8];
            if view.read_bytes(at, &mut word).is_ok() {
                let new = hostile_word(u64::from_le_bytes(word), rng);
                let _ = view.write_bytes(at, &new.to_le_bytes());
            }
            continue;
        }
        let mut byte = [0u8];
        if view.read_bytes(Offset::new(at), &mut byte).is_ok() {
            let flip = match rng.next() % 4 {
                0 => 0xFF,
                1 => 1 << (rng.next() % 8),
                2 => byte[0], // zero it
                _ => (rng.next() % 255 + 1) as u8,
            };
            byte[0] ^= flip;
            let _ = view.write_bytes(Offset::new(at), &byte);
        }
    }
}

/// Runs allocator operations on a heap; every result is ignored except
/// that it must come back.
fn exercise<A: ShmAllocator + Recover>(
    heap: &A,
    live: &mut Vec<u64>,
    rng: &mut XorShift,
    ops: u64,
) {
    let pool = heap.view().region(RegionId::Pool);
    for _ in 0..ops {
        match rng.next() % 10 {
            0..=3 => {
                let size = 1 + rng.next() % 3000;
                if let Ok(o) = heap.alloc(size) {
                    let _ = heap.write(o, &[0xA5; 24][..size.min(24) as usize]);
                    live.push(o.get());
                }
            }
            4..=6 if !live.is_empty() => {
                let i = (rng.next() % live.len() as u64) as usize;
                let o = live.swap_remove(i);
                let _ = heap.read(Offset::new(o), 8);
                let _ = heap.usable_size(Offset::new(o));
                let _ = heap.free(Offset::new(o));
            }
            7 => {
                // A wild offset: anywhere in or near the pool.
                let o = pool.offset.saturating_sub(64) + rng.next() % (pool.len + 128);
                let _ = heap.usable_size(Offset::new(o));
                let _ = heap.free(Offset::new(o));
            }
            8 => {
                let _ = heap.stats();
                if let Some(&o) = live.first() {
                    let _ = heap.share(Offset::new(o));
                }
            }
            _ => {
                let _ = heap.alloc_aligned(1 + rng.next() % 600, 1 << (rng.next() % 13));
            }
        }
    }
}

/// The facade handles a case attaches again after the corruption, so that
/// attaching (which reads the control block and the registries) meets the
/// hostile bytes too.
trait Again: Sized {
    fn again(&self) -> sharena::Result<Self>;
}

macro_rules! again {
    ($($t:ty),*) => {$(
        impl Again for $t {
            fn again(&self) -> sharena::Result<Self> {
                self.reattach()
            }
        }
    )*};
}
again!(
    sharena::FreeList,
    sharena::Slab,
    sharena::Bump,
    sharena::Handles
);

/// Leaves a dead attachment behind: a forked child attaches, allocates
/// `blocks` blocks and exits without detaching, so that `reclaim_dead()`
/// after the corruption adopts or rebuilds its state from hostile bytes.
fn abandon<H: Again>(heap: &H, alloc: impl Fn(&H)) {
    // SAFETY: the case process is single-threaded (forked from a
    // single-threaded `main`); the child `_exit`s, skipping destructors,
    // which is the point: its attachment is left as a death leaves it.
    let pid = unsafe {
        fork_child(|| {
            if let Ok(h) = heap.again() {
                alloc(&h);
                std::mem::forget(h);
            }
            0
        })
    };
    if let Ok(pid) = pid {
        let _ = wait(pid);
    }
}

fn case_on<H, A>(heap: &H, seed: u64)
where
    H: Again + std::ops::Deref<Target = A>,
    A: ShmAllocator + Recover,
{
    let mut rng = XorShift::new(seed | 1);
    let mut live = Vec::new();
    exercise(&**heap, &mut live, &mut rng, 200);
    let sizes = rng.next();
    abandon(heap, |h| {
        for i in 0..24 {
            let _ = h.alloc(1 + (sizes >> (i % 48)) % 3000);
        }
    });
    corrupt(heap.view(), &live, &mut rng, seed);
    let _ = heap.check();
    let _ = heap.runs(4096);
    let again = heap.again();
    exercise(&**heap, &mut live, &mut rng, 300);
    let _ = heap.reclaim_dead();
    let _ = heap.check();
    let _ = heap.runs(1 << 20);
    if let Ok(h) = &again {
        exercise(&**h, &mut live, &mut rng, 100);
    }
    drop(again);
    exercise(&**heap, &mut live, &mut rng, 100);
    for o in live {
        let _ = heap.free(Offset::new(o));
    }
}

/// `exercise` and `case_on` for the handle heap (handles, not offsets).
fn exercise_handles(heap: &sharena::Handles, live: &mut Vec<Handle>, rng: &mut XorShift, ops: u64) {
    for _ in 0..ops {
        match rng.next() % 10 {
            0..=3 => {
                let size = 1 + rng.next() % 3000;
                if let Ok(h) = heap.alloc(size) {
                    let _ = heap.write(h, &[0xA5; 24][..size.min(24) as usize]);
                    live.push(h);
                }
            }
            4..=5 if !live.is_empty() => {
                let i = (rng.next() % live.len() as u64) as usize;
                let h = live.swap_remove(i);
                let _ = heap.read(h, 8);
                let _ = heap.size_of(h);
                let _ = heap.free(h);
            }
            6 if !live.is_empty() => {
                let h = live[(rng.next() % live.len() as u64) as usize];
                if let Ok(p) = heap.pin(h) {
                    let mut b = [0u8; 8];
                    let _ = p.read_at(rng.next() % (p.size() + 8), &mut b);
                }
            }
            7 => {
                // A wild handle: a random index and generation.
                let h = Handle::new((rng.next() % 4096) as u32, (rng.next() % 4) as u32);
                let _ = heap.size_of(h);
                let _ = heap.free(h);
            }
            8 => {
                let _ = heap.stats();
                if let Some(&h) = live.first() {
                    let _ = heap.share_handle(h);
                }
            }
            _ => {
                let _ = heap.compact();
            }
        }
    }
}

fn case_on_handles(heap: &sharena::Handles, seed: u64) {
    let mut rng = XorShift::new(seed | 1);
    let mut live = Vec::new();
    exercise_handles(heap, &mut live, &mut rng, 200);
    let sizes = rng.next();
    abandon(heap, |h| {
        for i in 0..24 {
            if let Ok(x) = h.alloc(1 + (sizes >> (i % 48)) % 3000) {
                // A pin held at death, for the reclaim to drop.
                if i == 0 {
                    std::mem::forget(h.pin(x));
                }
            }
        }
    });
    let blocks: Vec<u64> = live
        .iter()
        .filter_map(|&h| heap.pin(h).ok().map(|p| p.offset().get()))
        .collect();
    corrupt(heap.view(), &blocks, &mut rng, seed);
    let _ = heap.check();
    let _ = heap.runs(4096);
    let again = heap.again();
    exercise_handles(heap, &mut live, &mut rng, 300);
    let _ = heap.reclaim_dead();
    let _ = heap.check();
    let _ = heap.runs(1 << 20);
    if let Ok(h) = &again {
        exercise_handles(h, &mut live, &mut rng, 100);
    }
    drop(again);
    exercise_handles(heap, &mut live, &mut rng, 100);
    for h in live {
        let _ = heap.free(h);
    }
}

/// One case, in the child.
fn case(kind: Kind, seed: u64) {
    match kind {
        Kind::FreeList => {
            let h = sharena::FreeList::anonymous(2 << 20).expect("free list");
            case_on(&h, seed);
        }
        Kind::Slab => {
            let slot = [16, 64, 200][(seed % 3) as usize];
            let h = sharena::Slab::anonymous(1 << 20, slot).expect("slab");
            case_on(&h, seed);
        }
        Kind::Bump => {
            let h = sharena::Bump::anonymous(1 << 20).expect("bump");
            case_on(&h, seed);
        }
        Kind::Handles => {
            let h = sharena::Handles::anonymous(1 << 20).expect("handle heap");
            case_on_handles(&h, seed);
        }
    }
}

fn start(kind: Kind, seed: u64) -> Pid {
    // SAFETY: `main` is single-threaded (harness = false). The child
    // `_exit`s, skipping the destructors of inherited state.
    let pid = unsafe {
        fork_child(|| {
            case(kind, seed);
            0
        })
    };
    pid.expect("fork")
}

/// Waits for one of `running` to end (bounded by `TIMEOUT` per case);
/// returns its index and a failure description, if any.
fn reap(running: &[(Pid, Kind, u64, Instant)]) -> (usize, Option<String>) {
    loop {
        for (i, &(pid, kind, seed, started)) in running.iter().enumerate() {
            let what = |how: String| Some(format!("case {}:{seed} {how}", kind.name()));
            match try_wait(pid) {
                None => {
                    if started.elapsed() > TIMEOUT {
                        kill(pid, Signal::SIGKILL);
                        let _ = wait(pid);
                        return (i, what(format!("hung (killed after {TIMEOUT:?})")));
                    }
                }
                Some(Exit::Exited(0)) => return (i, None),
                Some(Exit::Exited(code)) => return (i, what(format!("exited {code} (a panic)"))),
                Some(Exit::Signaled(sig)) => return (i, what(format!("died of {sig:?}"))),
                Some(Exit::Lost) => return (i, what("could not be waited for".to_string())),
            }
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn on(yes: bool) -> &'static str {
    if yes {
        "on"
    } else {
        "off"
    }
}

/// Whether this build checks integer overflow (the test profile does, the
/// release profile does not): an addition that overflows either panics or
/// wraps.
fn overflow_checks() -> bool {
    let add = || std::hint::black_box(u64::MAX) + std::hint::black_box(1);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let panicked = std::panic::catch_unwind(add).is_err();
    std::panic::set_hook(hook);
    panicked
}

fn main() {
    let sweep = std::env::var("SHARENA_FUZZ_SWEEP").ok().map(|w| {
        w.parse::<u64>()
            .expect("SHARENA_FUZZ_SWEEP is a word count")
    });
    if let Some(w) = sweep {
        SWEEP.set(w).expect("set once, before any fork");
    }
    if let Ok(spec) = std::env::var("SHARENA_FUZZ_CASE") {
        let (k, s) = spec.split_once(':').expect("KIND:SEED");
        let kind = Kind::parse(k).expect("kind is freelist, slab, bump or handles");
        case(kind, s.parse().expect("seed"));
        println!("case {spec} passed");
        return;
    }
    let base = std::env::var("SHARENA_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xC0_22_u64 << 20 ^ u64::from(std::process::id()));
    let per_kind = std::env::var("SHARENA_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(CASES_PER_KIND, |all| all.div_ceil(Kind::ALL.len() as u64));
    match sweep {
        Some(w) => println!("corruption sweep of the first {w} state words x 8 values"),
        None => println!("corruption fuzz base seed {base} (set SHARENA_FUZZ_SEED to replay)"),
    }
    println!(
        "profile: debug assertions {}, overflow checks {}",
        on(cfg!(debug_assertions)),
        on(overflow_checks())
    );
    // The workspace's test profile says both; a build that drops overflow
    // checks there would let this fuzz miss every overflow panic.
    assert!(
        !cfg!(debug_assertions) || overflow_checks(),
        "debug assertions without overflow checks: set overflow-checks = true in [profile.test]"
    );
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut done = 0u64;
    let mut running: Vec<(Pid, Kind, u64, Instant)> = Vec::new();
    let mut todo = Kind::ALL.into_iter().flat_map(|k| {
        (0..per_kind).map(move |i| {
            // The sweep's seed is the case index: it names the word.
            let seed = if sweep.is_some() {
                i
            } else {
                base.wrapping_add(i * 0x9E37)
            };
            (k, seed)
        })
    });
    loop {
        while running.len() < PARALLEL {
            let Some((kind, seed)) = todo.next() else {
                break;
            };
            running.push((start(kind, seed), kind, seed, Instant::now()));
        }
        if running.is_empty() {
            break;
        }
        let (i, failure) = reap(&running);
        running.swap_remove(i);
        done += 1;
        if let Some(f) = failure {
            eprintln!("{f}");
            failures.push(f);
        }
    }
    println!(
        "{done} corruption cases run ({per_kind} per kind), {} failed, in {:.0?}",
        failures.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} cases failed: {failures:#?}",
        failures.len()
    );
}
