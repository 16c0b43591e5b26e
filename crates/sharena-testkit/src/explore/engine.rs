//! The loop: count a scenario's writes, then kill its victim at each one.

use super::notes::{self, Notes};
use super::report::Report;
use super::{Ended, Outcome, Scenario};
use crate::harness::{self, Exit};
use crate::ShmGuard;
use nix::sys::signal::Signal;
use shm_layout::crash;
use std::os::fd::OwnedFd;
use std::time::Duration;

/// How the explorer runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// How long a victim may take before it counts as stuck (and is
    /// killed).
    pub victim_timeout: Duration,
    /// Crash states explored at most per scenario past its counted writes
    /// (a scenario whose write count varies between runs gets this many
    /// more tries to complete).
    pub slack: u64,
    /// Failures described in full per scenario (the rest are counted).
    pub detail: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            victim_timeout: Duration::from_secs(20),
            slack: 64,
            detail: 3,
        }
    }
}

/// Explores `scenario` at every write of its victim.
///
/// Must be called from a process with exactly one thread (it forks).
pub fn explore(scenario: &dyn Scenario, opts: &Options) -> Report {
    let mut report = Report::new(scenario.kind(), scenario.name());
    // k = 0 counts the writes of a complete run; k >= 1 dies before the
    // k-th.
    let mut limit = u64::MAX;
    let mut k = 0u64;
    loop {
        let Some(ended) = run_once(scenario, k, opts, &mut report) else {
            {
                // The run could not even start or was not a clean death:
                // recorded as a failure; go on with the next state.
                if k == 0 {
                    return report;
                }
                k += 1;
                if k > limit {
                    return report;
                }
                continue;
            }
        };
        match ended {
            Ran::Finished(writes) if k == 0 => {
                report.writes = writes;
                limit = writes + 1 + opts.slack;
            }
            Ran::Finished(_) => return report,
            Ran::Killed => {}
        }
        k += 1;
        if k > limit {
            report.fail(
                opts,
                k,
                &format!(
                    "the victim still died at write {k}, past its {} counted writes",
                    report.writes
                ),
            );
            return report;
        }
    }
}

enum Ran {
    Finished(u64),
    Killed,
}

/// One run: setup, the victim to write `k` (0: to the end), verify.
fn run_once(scenario: &dyn Scenario, k: u64, opts: &Options, report: &mut Report) -> Option<Ran> {
    let guard = ShmGuard::new(&format!("x-{}", scenario.kind()));
    let mut world = match scenario.setup(guard.name()) {
        Ok(w) => w,
        Err(e) => {
            report.fail(opts, k, &format!("setup failed: {e}"));
            return None;
        }
    };
    let (rd, wr) = match nix::unistd::pipe() {
        Ok(p) => p,
        Err(e) => {
            report.fail(opts, k, &format!("pipe: {e}"));
            return None;
        }
    };
    let seg = guard.name().to_string();
    // The closure runs only in the child; in this process the write end
    // stays here, to be closed below (the read end sees EOF once every
    // write end is closed: ours now, the victim's when it ends).
    let mut wr = Some(wr);
    let wr_slot = &mut wr;
    // SAFETY: `explore`'s contract: this process has one thread.
    let forked = unsafe {
        harness::fork_child(|| match wr_slot.take() {
            Some(fd) => victim_main(world.as_mut(), &seg, k, fd),
            None => 4,
        })
    };
    let pid = match forked {
        Ok(pid) => pid,
        Err(e) => {
            report.fail(opts, k, &format!("fork: {e}"));
            return None;
        }
    };
    drop(wr);
    let Some(exit) = harness::wait_timeout(pid, opts.victim_timeout) else {
        {
            harness::kill(pid, Signal::SIGKILL);
            let _ = harness::wait(pid);
            report.stuck += 1;
            report.fail(opts, k, "the victim hung (killed after the timeout)");
            return None;
        }
    };
    let mut text = String::new();
    let notes = notes::read_all(rd, &mut text);
    let (ended, ran) = match exit {
        Exit::Exited(0) => {
            let writes = notes::tagged(&notes, "writes").last().unwrap_or(0);
            (Ended::Finished, Ran::Finished(writes))
        }
        Exit::Signaled(Signal::SIGKILL) if k > 0 => (Ended::Killed(k), Ran::Killed),
        other => {
            report.fail(opts, k, &format!("the victim {other}: {}", text.trim()));
            return None;
        }
    };
    if k > 0 {
        report.crash_states += 1;
    }
    let outcome = world.verify(&notes, ended);
    report.add(opts, k, &outcome);
    drop(world);
    Some(ran)
}

/// The forked victim: runs the scenario armed at write `k`, notes its
/// write count when it completes.
fn victim_main(world: &mut dyn super::World, seg: &str, k: u64, wr: OwnedFd) -> i32 {
    let mut notes = Notes::new(wr);
    let mut arm = || {
        if k == 0 {
            crash::count_writes();
        } else {
            crash::arm_writes(k);
        }
    };
    match world.victim(seg, &mut arm, &mut notes) {
        Ok(()) => {
            let n = crash::disarm_writes();
            notes.note("writes", n);
            0
        }
        Err(e) => {
            crash::disarm_writes();
            notes.note("error", 0);
            eprintln!("victim error: {e}");
            3
        }
    }
}

/// Runs `body`, turning a panic into a stuck outcome (a survivor's check
/// that panics is itself a bug the explorer reports, not a crash of the
/// explorer).
pub fn guarded(body: impl FnOnce(&mut Outcome)) -> Outcome {
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut o = Outcome::default();
        body(&mut o);
        o
    }));
    match caught {
        Ok(o) => o,
        Err(p) => {
            let mut out = Outcome::default();
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_default();
            out.stuck(format!("the survivor panicked: {msg}"));
            out
        }
    }
}
