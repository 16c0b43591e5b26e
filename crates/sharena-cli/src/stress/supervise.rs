//! One stress run from the parent's chair: create the segment under a
//! unique name (unlinked on every way out), note `stats().used`, fork the
//! fleet, drive the clock (kills, resets between phases, Ctrl-C), stop,
//! reap, and measure what was not given back.

use super::fleet::Fleet;
use super::shared::{Claims, Control, Tally};
use super::subject::{Release, Subject};
use crate::bench::rng::XorShift;
use crate::Failure;
use sharena::layout::sync::{AtomicBool, AtomicU32, Ordering};
use sharena::{Error, ShmAllocator};
use std::time::{Duration, Instant};

/// What the command asked for.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Workers at once.
    pub procs: usize,
    /// Run length.
    pub secs: Duration,
    /// Segment size in bytes.
    pub size: u64,
    /// Kill a random worker this often.
    pub kill_every: Option<Duration>,
}

/// What a run found.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// The kind's name.
    pub kind: &'static str,
    /// The segment's name.
    pub name: String,
    /// The segment's length in bytes.
    pub segment_len: u64,
    /// Bytes the allocator can hand out.
    pub capacity: u64,
    /// Seconds from the first fork to the stop.
    pub secs: f64,
    /// Every worker's counters, summed.
    pub tally: Tally,
    /// Workers killed on purpose.
    pub killed: u64,
    /// Workers that died on their own.
    pub crashed: u64,
    /// Resets between phases (reset kinds).
    pub resets: u64,
    /// `stats().used` after creation and at the end.
    pub used_before: u64,
    /// As above, at the end (after the final reset for reset kinds).
    pub used_after: u64,
    /// Ctrl-C (or SIGTERM) cut the run short.
    pub interrupted: bool,
}

impl Outcome {
    /// Bytes still in use that the run gave back (or should have).
    pub fn lost_bytes(&self) -> u64 {
        self.used_after.saturating_sub(self.used_before)
    }
}

/// Set by SIGINT / SIGTERM in the parent.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// The parent's SIGINT and SIGTERM handlers for the run's length.
struct Handlers(Vec<(nix::sys::signal::Signal, nix::sys::signal::SigAction)>);

impl Handlers {
    fn install() -> Self {
        use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
        INTERRUPTED.store(false, Ordering::SeqCst);
        let act = SigAction::new(
            SigHandler::Handler(on_interrupt),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        let mut old = Vec::new();
        for sig in [Signal::SIGINT, Signal::SIGTERM] {
            // SAFETY: the handler only stores to an atomic, which is
            // async-signal-safe.
            if let Ok(prev) = unsafe { sigaction(sig, &act) } {
                old.push((sig, prev));
            }
        }
        Handlers(old)
    }
}

impl Drop for Handlers {
    fn drop(&mut self) {
        for (sig, prev) in &self.0 {
            // SAFETY: restores the handler that was there before `install`.
            let _ = unsafe { nix::sys::signal::sigaction(*sig, prev) };
        }
    }
}

/// Unlinks the run's segment on drop.
struct Unlink(String);

impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = sharena::Segment::unlink(&self.0);
    }
}

/// A unique segment name for one run.
fn run_name(kind: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    // Relaxed: a counter for uniqueness within this process only.
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("/sharena-stress-{}-{n}-{kind}", std::process::id())
}

/// Runs the stress test of kind `S`.
pub fn run<S: Subject>(cfg: &Config) -> Result<Outcome, Failure> {
    let name = run_name(S::NAME);
    let subject = S::create(&name, cfg.size).map_err(|e| match e {
        Error::InvalidSize { size, reason, .. } => Failure::usage(format!(
            "--size {size} is invalid for {}: {reason}",
            S::NAME
        )),
        e => Failure::op(format!("stress: {e}")),
    })?;
    let _unlink = Unlink(name.clone());
    let a = subject.allocator();
    let mut out = Outcome {
        kind: S::NAME,
        name: name.clone(),
        segment_len: subject.segment().len(),
        capacity: a.stats().capacity,
        used_before: a.stats().used,
        ..Outcome::default()
    };
    let shared = |e: Error| Failure::op(format!("stress: shared control memory: {e}"));
    let ctl = Control::new(cfg.procs).map_err(shared)?;
    let claims = Claims::new(subject.segment().len(), subject.granule()).map_err(shared)?;
    let _handlers = Handlers::install();
    let resets = subject.release() == Release::Reset;
    let mut rng = XorShift::for_process(std::process::id() as usize);

    let start = Instant::now();
    let mut fleet = Fleet::<S>::start(&name, &ctl, &claims, cfg.procs)?;
    let deadline = start + cfg.secs;
    let mut next_kill = cfg.kill_every.map(|d| start + d);
    let mut phase = 0;
    loop {
        let now = Instant::now();
        // SeqCst: set by the signal handler; no data rides on it.
        if now >= deadline || INTERRUPTED.load(Ordering::SeqCst) {
            break;
        }
        fleet.poll_exits();
        if let (Some(at), Some(every)) = (next_kill, cfg.kill_every) {
            if now >= at {
                fleet.kill_one(rng.next())?;
                next_kill = Some((at + every).max(now));
            }
        }
        if resets && fleet.all_done(phase) {
            // Every live worker verified its blocks, released its claims
            // and waits: nothing allocates while the arena resets.
            subject
                .reset()
                .map_err(|e| Failure::op(format!("stress: reset failed: {e}")))?;
            out.resets += 1;
            phase += 1;
            ctl.set_phase(phase);
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    ctl.stop();
    out.secs = start.elapsed().as_secs_f64();
    out.interrupted = INTERRUPTED.load(Ordering::SeqCst);
    fleet.wait_all(Duration::from_secs(30));
    if resets {
        // Every worker is gone: release what the last phase held.
        subject
            .reset()
            .map_err(|e| Failure::op(format!("stress: final reset failed: {e}")))?;
    }
    out.used_after = a.stats().used;
    out.tally = fleet.totals;
    out.killed = fleet.killed;
    out.crashed = fleet.crashed;
    Ok(out)
}
