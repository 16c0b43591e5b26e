//! The fork harness of docs/WORKLOADS.md: the parent forks P children; each
//! prepares (untimed), increments `ready` and spins until `go`; the parent
//! takes `t0` and sets `go`; each child records `t_end` after its last op.
//! Wall time is `max(t_end) - t0`.
//!
//! The control block lives in an anonymous sharena segment (a memfd mapped
//! `MAP_SHARED`), inherited by the children. `fork` is safe here because the
//! command's `main` is single-threaded.

use crate::harness::{fork_child, has_ended, wait, Exit};
use nix::unistd::Pid;
use sharena::layout::sync::{spin_loop, AtomicU64, Ordering};
use sharena::{AllocatorKind, Offset, RegionId, Segment, SegmentOptions};
use std::time::Duration;

/// Words per child in the control block.
const CHILD_WORDS: u64 = 16;

/// Extra words a child may report (the fragmentation pass's figures).
pub const EXTRA: usize = 4;

/// The first extra word in a child's block.
const EXTRA_AT: u64 = 8;

/// What one child reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChildOut {
    /// Operations done in the timed section.
    pub ops: u64,
    /// Verification errors.
    pub errors: u64,
    /// Failed allocations.
    pub oom: u64,
    /// CAS retries (where the subject counts them).
    pub retries: u64,
    /// Pass-specific words (the fragmentation pass: see `frag.rs`).
    pub extra: [u64; EXTRA],
}

/// One run's figures.
#[derive(Clone, Debug, Default)]
pub struct RunOut {
    /// Total ops over all children.
    pub ops: u64,
    /// `max(t_end) - t0`, seconds.
    pub secs: f64,
    /// Each child's own rate (`ops / (t_end - t_start)`).
    pub per_proc: Vec<f64>,
    /// Sums over children.
    pub errors: u64,
    /// Sums over children.
    pub oom: u64,
    /// Sums over children.
    pub retries: u64,
    /// Children that did not exit cleanly.
    pub crashed: u64,
    /// Each clean child's extra words.
    pub extra: Vec<[u64; EXTRA]>,
    /// The fragmentation figures, for a fragmentation pass.
    pub frag: Option<super::frag::Frag>,
}

impl RunOut {
    /// Total ops per second.
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.ops as f64 / self.secs
        } else {
            0.0
        }
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds (comparable across processes).
pub fn now_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    })
}

/// The control block the children see.
#[derive(Debug)]
pub struct Ctl {
    seg: Segment,
    base: u64,
}

impl Ctl {
    fn word(&self, i: u64) -> &AtomicU64 {
        self.seg
            .view()
            .atomic_u64(Offset::new(self.base + 8 * i))
            .expect("control word in bounds")
    }

    fn child_word(&self, k: usize, i: u64) -> &AtomicU64 {
        self.word(16 + k as u64 * CHILD_WORDS + i)
    }

    /// Marks this child ready, spins until the parent says go, and returns
    /// `t_start`.
    pub fn start(&self, k: usize) -> u64 {
        // SYNC POINT: Release pairs with the parent's Acquire load of `ready`.
        self.word(0).fetch_add(1, Ordering::Release);
        // Acquire pairs with the parent's Release store of `go`.
        while self.word(1).load(Ordering::Acquire) == 0 {
            spin_loop();
        }
        let t = now_ns();
        self.child_word(k, 0).store(t, Ordering::Relaxed);
        t
    }

    /// A control block for one in-process child (tests, [`in_process`]):
    /// `go` is already set, so [`Ctl::start`] returns at once.
    pub fn solo() -> Ctl {
        let seg = Segment::anonymous(&SegmentOptions::new(AllocatorKind::Raw, 1 << 20))
            .expect("an anonymous control segment");
        let base = seg.view().region(RegionId::Pool).offset;
        let ctl = Ctl { seg, base };
        // Release pairs with `start`'s Acquire load of `go`.
        ctl.word(1).store(1, Ordering::Release);
        ctl
    }

    /// Records `t_end` now.
    pub fn end(&self, k: usize) {
        self.child_word(k, 1).store(now_ns(), Ordering::Relaxed);
    }

    fn report(&self, k: usize, out: &ChildOut) {
        // Relaxed: the parent reads these after waitpid, which orders them.
        self.child_word(k, 2).store(out.ops, Ordering::Relaxed);
        self.child_word(k, 3).store(out.errors, Ordering::Relaxed);
        self.child_word(k, 4).store(out.oom, Ordering::Relaxed);
        self.child_word(k, 5).store(out.retries, Ordering::Relaxed);
        for (i, w) in out.extra.iter().enumerate() {
            self.child_word(k, EXTRA_AT + i as u64)
                .store(*w, Ordering::Relaxed);
        }
        self.child_word(k, 6).store(1, Ordering::Relaxed);
    }
}

thread_local! {
    /// Set by [`in_process`]: one-process runs stay in this process.
    static IN_PROCESS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// From now on, on this thread, a run of one process calls its child in
/// this process instead of forking it: the `churn-solo` binary, so that
/// `valgrind --tool=callgrind` counts one process's instructions
/// (scripts/callgrind.sh). Runs of more processes still fork.
pub fn in_process() {
    IN_PROCESS.with(|c| c.set(true));
}

/// Forks `p` children that each run `child(k, &ctl)` and return their
/// figures. The child must call `ctl.start(k)` before its timed section and
/// `ctl.end(k)` after it. After [`in_process`], a run of one child calls it
/// here instead.
pub fn run_forked(p: usize, child: impl Fn(usize, &Ctl) -> ChildOut) -> std::io::Result<RunOut> {
    if p == 1 && IN_PROCESS.with(std::cell::Cell::get) {
        let ctl = Ctl::solo();
        let out = child(0, &ctl);
        let (ts, te) = (
            ctl.child_word(0, 0).load(Ordering::Relaxed),
            ctl.child_word(0, 1).load(Ordering::Relaxed),
        );
        let own = te.saturating_sub(ts).max(1) as f64 / 1e9;
        return Ok(RunOut {
            ops: out.ops,
            secs: own,
            per_proc: vec![out.ops as f64 / own],
            errors: out.errors,
            oom: out.oom,
            retries: out.retries,
            extra: vec![out.extra],
            ..RunOut::default()
        });
    }
    let seg = Segment::anonymous(&SegmentOptions::new(AllocatorKind::Raw, 1 << 20))
        .map_err(std::io::Error::other)?;
    let base = seg.view().region(RegionId::Pool).offset;
    let ctl = Ctl { seg, base };
    let mut pids: Vec<Pid> = Vec::with_capacity(p);
    for k in 0..p {
        // SAFETY: the `sharena` command's main is single-threaded. A child
        // that panics ends with 101 and reports nothing.
        let pid = unsafe {
            fork_child(|| {
                let out = child(k, &ctl);
                ctl.report(k, &out);
                0
            })
        }?;
        pids.push(pid);
    }
    // Wait for every child to be ready (or to have died trying).
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    // Acquire pairs with the children's Release increments of `ready`.
    while ctl.word(0).load(Ordering::Acquire) < p as u64 {
        if std::time::Instant::now() > deadline || pids.iter().any(|pid| has_ended(*pid)) {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let t0 = now_ns();
    // SYNC POINT: Release pairs with the children's Acquire loads of `go`.
    ctl.word(1).store(1, Ordering::Release);
    let mut out = RunOut::default();
    let mut t_end_max = t0;
    for (k, pid) in pids.iter().enumerate() {
        let clean = wait(*pid) == Exit::Exited(0);
        let done = ctl.child_word(k, 6).load(Ordering::Relaxed) == 1;
        if !clean || !done {
            out.crashed += 1;
            continue;
        }
        let (ts, te) = (
            ctl.child_word(k, 0).load(Ordering::Relaxed),
            ctl.child_word(k, 1).load(Ordering::Relaxed),
        );
        let ops = ctl.child_word(k, 2).load(Ordering::Relaxed);
        out.ops += ops;
        out.errors += ctl.child_word(k, 3).load(Ordering::Relaxed);
        out.oom += ctl.child_word(k, 4).load(Ordering::Relaxed);
        out.retries += ctl.child_word(k, 5).load(Ordering::Relaxed);
        let mut extra = [0u64; EXTRA];
        for (i, w) in extra.iter_mut().enumerate() {
            *w = ctl
                .child_word(k, EXTRA_AT + i as u64)
                .load(Ordering::Relaxed);
        }
        out.extra.push(extra);
        t_end_max = t_end_max.max(te);
        let own = te.saturating_sub(ts).max(1) as f64 / 1e9;
        out.per_proc.push(ops as f64 / own);
    }
    out.secs = t_end_max.saturating_sub(t0) as f64 / 1e9;
    Ok(out)
}

/// Prefaults `len` bytes at `ptr` in this process: `MADV_POPULATE_WRITE`,
/// or a read of every 4 KiB page where that call fails (docs/WORKLOADS.md, "Segment").
pub(crate) fn prefault(ptr: *mut u8, len: usize) {
    // SAFETY: madvise only changes page-table state for the caller's own
    // mapping; a failure is handled below.
    let r = unsafe { libc::madvise(ptr.cast(), len, libc::MADV_POPULATE_WRITE) };
    if r != 0 {
        let mut sum = 0u8;
        for off in (0..len).step_by(4096) {
            // SAFETY: `off < len`, inside the caller's mapping.
            sum = sum.wrapping_add(unsafe { ptr.add(off).read_volatile() });
        }
        std::hint::black_box(sum);
    }
}

/// The median of `xs` (NaN-free input).
pub fn median(xs: &mut [f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        f64::midpoint(xs[n / 2 - 1], xs[n / 2])
    }
}

/// A fresh anonymous shared region of at least `len` bytes (a memfd mapped
/// `MAP_SHARED`, inherited by forked children): the segment and the base and
/// length of its pool.
pub fn shared_region(len: u64) -> std::io::Result<(Segment, std::ptr::NonNull<u8>, u64)> {
    let seg = Segment::anonymous(&SegmentOptions::new(AllocatorKind::Raw, len))
        .map_err(std::io::Error::other)?;
    let pool = seg.view().region(RegionId::Pool);
    let base = seg
        .view()
        .ptr(Offset::new(pool.offset), pool.len)
        .map_err(std::io::Error::other)?;
    Ok((seg, base, pool.len))
}
