//! Issue 6's corruption fuzz: a live segment (blocks allocated, some freed,
//! caches warm) gets random bytes flipped in its allocator metadata (the
//! state region, and the headers and links beside live and free blocks),
//! then runs operations, `check()`, `runs()` and `reclaim_dead()`. Errors
//! are fine; a panic, a signal (segfault, abort) or a hang is a failure.
//! Every case runs in its own forked child with a timeout; 1,700 cases per
//! allocator kind (5,100 in all). A failing case prints its seed:
//! `SHARENA_FUZZ_CASE=KIND:SEED cargo test -p sharena --test corruption`
//! replays it alone.
//!
//! `harness = false`: `main` is single-threaded, so `fork` is safe here.

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use sharena::{Offset, Recover, RegionId, ShmAllocator};
use sharena_testkit::harness::{fork_child, kill, try_wait, wait, Exit};
use sharena_testkit::XorShift;
use std::time::{Duration, Instant};

const CASES_PER_KIND: u64 = 1_700;
const PARALLEL: usize = 2;
const TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    FreeList,
    Slab,
    Bump,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::FreeList, Kind::Slab, Kind::Bump];
    fn name(self) -> &'static str {
        match self {
            Kind::FreeList => "freelist",
            Kind::Slab => "slab",
            Kind::Bump => "bump",
        }
    }
    fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Flips bytes: a few in the state region, a few in the 16 bytes before
/// some of the blocks (headers, tags) and in the first 16 bytes of others
/// (free-list links live there once freed).
fn corrupt(view: &sharena::SegmentView, blocks: &[u64], rng: &mut XorShift) {
    let state = view.region(RegionId::State);
    let flips = 1 + rng.next() % 8;
    for _ in 0..flips {
        let at = match rng.next() % 3 {
            // Most allocator state sits at the start of the region (control
            // block, registry); half the flips go there.
            0 => state.offset + rng.next() % state.len.min(16 << 10),
            1 => state.offset + rng.next() % state.len,
            _ if !blocks.is_empty() => {
                let b = blocks[(rng.next() % blocks.len() as u64) as usize];
                (b + rng.next() % 32).saturating_sub(16)
            }
            _ => state.offset,
        };
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

fn case_on<A: ShmAllocator + Recover>(heap: &A, seed: u64) {
    let mut rng = XorShift::new(seed | 1);
    let mut live = Vec::new();
    exercise(heap, &mut live, &mut rng, 200);
    corrupt(heap.view(), &live, &mut rng);
    let _ = heap.check();
    let _ = heap.runs(4096);
    exercise(heap, &mut live, &mut rng, 300);
    let _ = heap.reclaim_dead();
    let _ = heap.check();
    let _ = heap.runs(1 << 20);
    exercise(heap, &mut live, &mut rng, 100);
    for o in live {
        let _ = heap.free(Offset::new(o));
    }
}

/// One case, in the child.
fn case(kind: Kind, seed: u64) {
    match kind {
        Kind::FreeList => {
            let h = sharena::FreeList::anonymous(2 << 20).expect("free list");
            case_on(&*h, seed);
        }
        Kind::Slab => {
            let slot = [16, 64, 200][(seed % 3) as usize];
            let h = sharena::Slab::anonymous(1 << 20, slot).expect("slab");
            case_on(&*h, seed);
        }
        Kind::Bump => {
            let h = sharena::Bump::anonymous(1 << 20).expect("bump");
            case_on(&*h, seed);
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

fn main() {
    if let Ok(spec) = std::env::var("SHARENA_FUZZ_CASE") {
        let (k, s) = spec.split_once(':').expect("KIND:SEED");
        let kind = Kind::parse(k).expect("kind is freelist, slab or bump");
        case(kind, s.parse().expect("seed"));
        println!("case {spec} passed");
        return;
    }
    let base = std::env::var("SHARENA_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xC0_22_u64 << 20 ^ u64::from(std::process::id()));
    println!("corruption fuzz base seed {base} (set SHARENA_FUZZ_SEED to replay)");
    let mut failures = Vec::new();
    let mut done = 0u64;
    let mut running: Vec<(Pid, Kind, u64, Instant)> = Vec::new();
    let mut todo = Kind::ALL
        .into_iter()
        .flat_map(|k| (0..CASES_PER_KIND).map(move |i| (k, base.wrapping_add(i * 0x9E37))));
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
    println!("{done} corruption cases run, {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "{} cases failed: {failures:#?}",
        failures.len()
    );
}
