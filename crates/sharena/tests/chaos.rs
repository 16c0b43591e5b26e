//! Issue 6's chaos test: 3 forked workers allocate, stamp, verify and free
//! at random on one segment (free list, then slab) while the parent
//! SIGKILLs one at a random moment and forks a replacement, 200 times per
//! kind. After each kill the parent pauses the live workers between their
//! operations (they free what they hold and acknowledge), then asserts:
//! every live worker made progress since the last kill, `check()` passes,
//! `reclaim_dead()` frees the dead worker's holdings, a second reclaim
//! finds nothing, and the bytes in use equal the shared blocks' bytes (the
//! only legitimate holdings left). At the end the shared blocks are freed,
//! nothing is in use and the whole pool is allocatable again.
//!
//! `harness = false`: `main` is single-threaded, so `fork` is safe here.

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use sharena::layout::sync::{AtomicU64, Ordering};
use sharena::{
    AllocatorKind, Offset, Recover, RegionId, RunKind, Segment, SegmentOptions, ShmAllocator,
};
use sharena_testkit::harness::{fork_child, kill, try_wait, wait, Exit, Forked};
use sharena_testkit::stamp::Stamp;
use sharena_testkit::subject::{OffsetSubject, Sizes};
use sharena_testkit::XorShift;
use std::time::{Duration, Instant};

const WORKERS: usize = 3;
const KILLS: u64 = 200;
/// Allocations out of this many that are shared (and logged).
const SHARE_ONE_IN: u64 = 97;
/// The most blocks a worker holds at once.
const HOLD: usize = 96;

/// The control block: a second anonymous segment the workers inherit.
/// Words (segment offsets from the control pool): 0 the pause epoch (odd:
/// paused), then per worker 128 bytes (ack epoch, ops, corruptions), and
/// from 4096 the shared-block log (count, then offsets).
struct Ctl {
    seg: Segment,
    base: u64,
}

const LOG_AT: u64 = 4096;
/// The most blocks shared in one run (so shared blocks never fill the pool).
const LOG_CAP: u64 = 2_000;

impl Ctl {
    fn new() -> Ctl {
        let seg = Segment::anonymous(&SegmentOptions::new(AllocatorKind::Raw, 1 << 20))
            .expect("control segment");
        let base = seg.view().region(RegionId::Pool).offset;
        Ctl { seg, base }
    }
    fn word(&self, at: u64) -> &AtomicU64 {
        self.seg
            .view()
            .atomic_u64(Offset::new(self.base + at))
            .expect("control word")
    }
    fn pause(&self) -> &AtomicU64 {
        self.word(0)
    }
    fn slot(&self, k: usize, i: u64) -> &AtomicU64 {
        self.word(128 * (k as u64 + 1) + 8 * i)
    }
    /// Logs a block about to be shared; `false` when the log is full (the
    /// block is then not shared).
    fn log(&self, off: Offset) -> bool {
        let n = self.word(LOG_AT).fetch_add(1, Ordering::AcqRel);
        if n < LOG_CAP {
            self.word(LOG_AT + 8 * (n + 1))
                .store(off.get(), Ordering::Release);
        }
        n < LOG_CAP
    }
    fn logged(&self) -> Vec<u64> {
        let n = self.word(LOG_AT).load(Ordering::Acquire).min(LOG_CAP);
        let mut v: Vec<u64> = (0..n)
            .map(|i| self.word(LOG_AT + 8 * (i + 1)).load(Ordering::Acquire))
            .filter(|&o| o != 0)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// A block's stamp: its first 64 bytes at most (the testkit's cheap
/// stamp), naming this process, worker `k` and the sequence number.
fn pattern(k: usize, seq: u64, len: u64) -> Vec<u8> {
    Stamp::mine(k as u64, seq).cheap_bytes(len)
}

/// A worker: runs until killed. Between operations it watches the pause
/// epoch; on an odd one it frees all it holds, settles, and acknowledges.
fn worker<H: OffsetSubject>(parent: &H, ctl: &Ctl, k: usize, seed: u64, sizes: Sizes) -> ! {
    let handle = parent.reattach().expect("reattach");
    let heap = handle.allocator();
    let mut rng = XorShift::new(seed | 1);
    let mut held: Vec<(Offset, u64, u64)> = Vec::with_capacity(HOLD);
    let mut seq = 0u64;
    let mut seen = 0u64;
    let verify = |h: &H::A, (off, len, s): (Offset, u64, u64)| {
        let want = pattern(k, s, len);
        match h.read(off, want.len() as u64) {
            Ok(got) if got == want => {}
            _ => {
                ctl.slot(k, 2).fetch_add(1, Ordering::Relaxed);
            }
        }
        if h.free(off).is_err() {
            ctl.slot(k, 2).fetch_add(1, Ordering::Relaxed);
        }
    };
    loop {
        // Acquire: pairs with the parent's Release store of the epoch.
        let now = ctl.pause().load(Ordering::Acquire);
        if now != seen {
            if now % 2 == 1 {
                for b in held.drain(..) {
                    verify(heap, b);
                }
                handle.settle();
                // Release: the frees above happen before the parent's checks.
                ctl.slot(k, 0).store(now, Ordering::Release);
            }
            seen = now;
        }
        if now % 2 == 1 {
            std::thread::sleep(Duration::from_micros(50));
            continue;
        }
        let roll = rng.next();
        if held.len() < HOLD && (held.is_empty() || roll % 3 != 0) {
            let len = sizes.draw(&mut rng);
            if let Ok(off) = heap.alloc(len) {
                seq += 1;
                let data = pattern(k, seq, len);
                if heap.write(off, &data).is_err() {
                    ctl.slot(k, 2).fetch_add(1, Ordering::Relaxed);
                }
                if seq % SHARE_ONE_IN == 0 && ctl.log(off) {
                    // Logged before it is shared: a worker killed between
                    // the two leaves a logged block that reclaim frees.
                    if heap.share(off).is_err() {
                        ctl.slot(k, 2).fetch_add(1, Ordering::Relaxed);
                    }
                } else {
                    held.push((off, len, seq));
                }
            }
        } else {
            let i = (roll as usize / 3) % held.len();
            let b = held.swap_remove(i);
            verify(heap, b);
        }
        ctl.slot(k, 1).fetch_add(1, Ordering::Relaxed);
    }
}

fn spawn<H: OffsetSubject>(heap: &H, ctl: &Ctl, k: usize, seed: u64, sizes: Sizes) -> Pid {
    // SAFETY: `main` is single-threaded (harness = false); the child only
    // runs `worker`, which never returns, and ends through a signal.
    unsafe { fork_child(|| worker(heap, ctl, k, seed, sizes)) }.expect("fork")
}

/// Pauses the workers and waits for every acknowledgement (bounded: a
/// worker that cannot get through one operation in 10 s is stuck).
fn pause_all(ctl: &Ctl, fleet: &Forked, epoch: u64, what: &str) {
    ctl.pause().store(epoch, Ordering::Release);
    let deadline = Instant::now() + Duration::from_secs(10);
    for k in 0..fleet.0.len() {
        while ctl.slot(k, 0).load(Ordering::Acquire) != epoch {
            if let Some(end @ (Exit::Exited(_) | Exit::Signaled(_))) = try_wait(fleet.0[k]) {
                panic!("{what}: worker {k} died on its own ({end})");
            }
            assert!(Instant::now() < deadline, "{what}: worker {k} is stuck");
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

/// Waits until every worker has done an operation since `last` (bounded:
/// 10 s on a loaded machine means stuck).
fn wait_for_progress(ctl: &Ctl, last: &[u64; WORKERS], what: &str, when: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for (k, &before) in last.iter().enumerate() {
        while ctl.slot(k, 1).load(Ordering::Relaxed) <= before {
            assert!(
                Instant::now() < deadline,
                "{what} {when}: worker {k} made no progress"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

fn shared_bytes(h: &impl Recover) -> u64 {
    h.runs(usize::MAX)
        .expect("runs")
        .iter()
        .filter(|r| r.kind == RunKind::Shared)
        .map(|r| r.len)
        .sum()
}

/// The chaos run on `handle`'s segment: workers ask for `sizes`, and at
/// the end one block of `whole` bytes must fit.
fn chaos<H: OffsetSubject>(handle: &H, seed: u64, sizes: Sizes, whole: u64) {
    let heap = handle.allocator();
    let what = H::NAME;
    let ctl = Ctl::new();
    let mut rng = XorShift::new(seed);
    let mut fleet = Forked::default();
    for k in 0..WORKERS {
        fleet.0.push(spawn(handle, &ctl, k, rng.next(), sizes));
    }
    let mut epoch = 0u64;
    let mut last_ops = [0u64; WORKERS];
    let (mut blocks, mut bytes) = (0u64, 0u64);
    // Every kill must land on a worker that has attached and is working:
    // wait (bounded) for the first operations before the first kill. Later
    // rounds start after the previous round saw every worker progress.
    wait_for_progress(&ctl, &last_ops, what, "start");
    for round in 0..KILLS {
        std::thread::sleep(Duration::from_micros(500 + rng.next() % 8_000));
        let victim = (rng.next() % WORKERS as u64) as usize;
        kill(fleet.0[victim], Signal::SIGKILL);
        let st = wait(fleet.0[victim]);
        assert!(
            st.killed_by(Signal::SIGKILL),
            "{what} round {round}: the victim ended as {st:?}"
        );
        fleet.0[victim] = spawn(handle, &ctl, victim, rng.next(), sizes);
        // Every worker, the replacement included, must get on with its
        // work after the kill.
        wait_for_progress(&ctl, &last_ops, what, &format!("round {round}"));
        // Then pause everyone between operations.
        epoch += 2;
        pause_all(&ctl, &fleet, epoch - 1, what);
        for (k, last) in last_ops.iter_mut().enumerate() {
            *last = ctl.slot(k, 1).load(Ordering::Relaxed);
        }
        let report = heap.check().expect("check runs");
        assert!(
            report.ok(),
            "{what} round {round}: check found {:?}",
            report.problems
        );
        let r = heap.reclaim_dead().expect("reclaim_dead");
        assert!(
            r.processes >= 1,
            "{what} round {round}: reclaim found no dead process: {r:?}"
        );
        blocks += r.blocks;
        bytes += r.bytes;
        let again = heap.reclaim_dead().expect("second reclaim");
        assert_eq!(
            (again.processes, again.blocks, again.bytes),
            (0, 0, 0),
            "{what} round {round}: reclaim is not idempotent"
        );
        let report = heap.check().expect("check runs");
        assert!(
            report.ok(),
            "{what} round {round}: check after reclaim found {:?}",
            report.problems
        );
        let used = heap.stats().used;
        let shared = shared_bytes(heap);
        assert_eq!(
            used,
            shared,
            "{what} round {round}: {used} bytes in use but only {shared} are shared: {} lost",
            used as i64 - shared as i64
        );
        ctl.pause().store(epoch, Ordering::Release);
    }
    let corrupt: u64 = (0..WORKERS)
        .map(|k| ctl.slot(k, 2).load(Ordering::Relaxed))
        .sum();
    let ops: u64 = (0..WORKERS)
        .map(|k| ctl.slot(k, 1).load(Ordering::Relaxed))
        .sum();
    drop(fleet);
    assert_eq!(corrupt, 0, "{what}: workers saw corrupt or failed blocks");
    heap.reclaim_dead().expect("final reclaim");
    handle.settle();
    let logged = ctl.logged();
    for &off in &logged {
        // A worker killed between logging and sharing left a block that
        // reclaim freed (and someone may have reused and freed it since).
        let _ = heap.free(Offset::new(off));
    }
    // Frees into arenas nobody owns any more wait on their remote lists
    // until someone takes them in: reclaim tidies unowned arenas too.
    heap.reclaim_dead().expect("tidying reclaim");
    handle.settle();
    let s = heap.stats();
    assert_eq!(
        (s.used, s.allocations),
        (0, 0),
        "{what}: bytes lost at the end: {s:?}"
    );
    assert!(heap.check().expect("check").ok());
    let all = heap.alloc(whole).expect("the whole pool after chaos");
    heap.free(all).expect("free the whole pool");
    println!(
        "{what}: {KILLS} SIGKILLs among {WORKERS} workers, {ops} ops, {} shared blocks, reclaimed {blocks} blocks ({bytes} bytes), 0 lost",
        logged.len()
    );
}

fn main() {
    let seed = std::env::var("SHARENA_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x05EE_D0FC_4A05_u64 ^ u64::from(std::process::id()));
    println!("chaos seed {seed} (set SHARENA_CHAOS_SEED to replay)");
    let fl = sharena::FreeList::anonymous(32 << 20).expect("free list");
    let whole = fl.max_alloc();
    chaos(&fl, seed, Sizes::Uniform { lo: 1, hi: 4096 }, whole);
    let slab = sharena::Slab::anonymous(16 << 20, 64).expect("slab");
    chaos(&slab, seed ^ 0xABCD, Sizes::Fixed(64), 64);
    println!("2 passed, 0 failed");
}
