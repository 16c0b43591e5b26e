//! One stress run from the parent's chair: create the segment under a
//! unique name, note `stats().used`, fork the fleet, unlink the name as
//! soon as every first worker has attached (so nothing of the run
//! outlives it, even a SIGKILL of this process: the workers die with it
//! and the segment with its last mapping), drive the clock (kills,
//! resets between phases, Ctrl-C, SIGTERM or SIGHUP), stop, reap, and
//! measure what was not given back.

use super::fleet::Fleet;
use super::shared::{Claims, Control, Tally};
use crate::run::{Failure, Progress};
use crate::subject::{Release, Subject};
use crate::{unique_name_with, ShmGuard, XorShift};
use sharena::layout::sync::{AtomicBool, Ordering};
use sharena::Error;
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
    /// What the parent's `reclaim_dead` calls freed.
    pub reclaim: Reclaims,
    /// What the final `check` found (None: the kind has no `check` yet).
    pub check: Option<CheckOutcome>,
}

/// The parent's `reclaim_dead` calls over a run (after each kill or
/// crash, and once at the end).
#[derive(Clone, Debug, Default)]
pub struct Reclaims {
    /// Calls that succeeded.
    pub calls: u64,
    /// Dead processes, blocks and bytes they freed, summed.
    pub processes: u64,
    /// As above.
    pub blocks: u64,
    /// As above.
    pub bytes: u64,
    /// The slowest call, in microseconds.
    pub max_micros: u64,
    /// The kind has no `reclaim_dead` in this build.
    pub unsupported: bool,
    /// Calls that failed otherwise, and the first failure.
    pub errors: u64,
    /// As above.
    pub first_error: Option<String>,
}

/// What `check` found after the run.
#[derive(Clone, Debug, Default)]
pub struct CheckOutcome {
    /// Problems found.
    pub problems: u64,
    /// The first one, in one line.
    pub first: Option<String>,
}

impl Outcome {
    /// Bytes still in use that the run gave back (or should have).
    pub fn lost_bytes(&self) -> u64 {
        self.used_after.saturating_sub(self.used_before)
    }
}

/// Set by SIGINT, SIGTERM or SIGHUP in the parent.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// The parent's SIGINT, SIGTERM and SIGHUP handlers for the run's length
/// (a hang-up stops the run like Ctrl-C: workers stopped, the segment
/// unlinked).
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
        for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
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

/// Calls `reclaim_dead` through the parent's handle and adds it up.
fn reclaim<S: Subject>(subject: &S, out: &mut Reclaims) {
    match subject.recover().reclaim_dead() {
        Ok(r) => {
            out.calls += 1;
            out.processes += r.processes;
            out.blocks += r.blocks;
            out.bytes += r.bytes;
            out.max_micros = out.max_micros.max(r.micros);
        }
        Err(Error::Unsupported { .. }) => out.unsupported = true,
        Err(e) => {
            out.errors += 1;
            out.first_error.get_or_insert_with(|| e.to_string());
        }
    }
}

/// Runs `check` through the parent's handle (every worker is gone).
fn check<S: Subject>(subject: &S) -> Option<CheckOutcome> {
    match subject.recover().check() {
        Ok(r) => Some(CheckOutcome {
            problems: r.problem_count,
            first: r.problems.first().map(ToString::to_string),
        }),
        Err(Error::Unsupported { .. }) => None,
        Err(e) => Some(CheckOutcome {
            problems: 1,
            first: Some(format!("check failed: {e}")),
        }),
    }
}

/// Runs the stress test of kind `S`, drawing `progress` from the parent's
/// loop. Call it only from a single-threaded `main` (it forks).
pub fn run<S: Subject>(cfg: &Config, progress: &mut dyn Progress) -> Result<Outcome, Failure> {
    let name = unique_name_with("sharena-stress", S::NAME);
    let subject = S::create(&name, cfg.size).map_err(|e| match e {
        Error::InvalidSize { size, reason, .. } => Failure::usage(format!(
            "--size {size} is invalid for {}: {reason}",
            S::NAME
        )),
        e => Failure::op(format!("stress: {e}")),
    })?;
    // Unlinks the name on every way out before the workers attached.
    let unlink = ShmGuard(name.clone());
    let mut out = Outcome {
        kind: S::NAME,
        name: name.clone(),
        segment_len: subject.segment().len(),
        capacity: subject.stats().capacity,
        used_before: subject.stats().used,
        ..Outcome::default()
    };
    let shared = |e: Error| Failure::op(format!("stress: shared control memory: {e}"));
    let ctl = Control::new(cfg.procs).map_err(shared)?;
    let claims = Claims::new(subject.key_span(), subject.granule()).map_err(shared)?;
    let _handlers = Handlers::install();
    let resets = subject.release() == Release::Reset;
    let mut rng = XorShift::for_process(std::process::id() as usize);

    let start = Instant::now();
    let mut fleet = Fleet::start(&name, &subject, &ctl, &claims, cfg.procs)?;
    // Every first worker has opened the segment by name (or ended): the
    // name goes now; replacements reattach through this mapping.
    fleet.wait_attached(Duration::from_secs(10));
    drop(unlink);
    let deadline = start + cfg.secs;
    let mut next_kill = cfg.kill_every.map(|d| start + d);
    let mut phase = 0;
    loop {
        let now = Instant::now();
        // SeqCst: set by the signal handler; no data rides on it.
        if now >= deadline || INTERRUPTED.load(Ordering::SeqCst) {
            break;
        }
        let crashed = fleet.crashed;
        fleet.poll_exits();
        if fleet.crashed > crashed {
            reclaim(&subject, &mut out.reclaim);
        }
        if let (Some(at), Some(every)) = (next_kill, cfg.kill_every) {
            if now >= at {
                // The killed worker is reaped and its claims withdrawn
                // before its blocks are reclaimed.
                fleet.kill_one(rng.next())?;
                reclaim(&subject, &mut out.reclaim);
                next_kill = Some((at + every).max(now));
            }
        }
        let elapsed = now - start;
        progress.update(
            Some(elapsed.as_secs_f64() / cfg.secs.as_secs_f64()),
            &format!(
                "{:.1}/{:.1} s  {} ops  {} killed",
                elapsed.as_secs_f64(),
                cfg.secs.as_secs_f64(),
                fleet.ops_so_far(),
                fleet.killed
            ),
        );
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
    progress.finish();
    out.secs = start.elapsed().as_secs_f64();
    out.interrupted = INTERRUPTED.load(Ordering::SeqCst);
    fleet.wait_all(Duration::from_secs(30));
    if resets {
        // Every worker is gone: release what the last phase held.
        subject
            .reset()
            .map_err(|e| Failure::op(format!("stress: final reset failed: {e}")))?;
    }
    // Whatever dead workers still hold is reclaimed; what is left in use
    // after that was lost (every live worker freed its blocks and exited).
    reclaim(&subject, &mut out.reclaim);
    out.used_after = subject.stats().used;
    out.check = check(&subject);
    out.tally = fleet.totals;
    out.killed = fleet.killed;
    out.crashed = fleet.crashed;
    Ok(out)
}
