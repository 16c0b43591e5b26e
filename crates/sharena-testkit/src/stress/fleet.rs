//! The parent's side of a stress run: forks the workers from the
//! command's single-threaded `main`, reaps them, kills one at random on
//! request (anywhere: inside a pin, an allocation, a compaction) and forks
//! its replacement, and on every exit path kills and reaps whatever still
//! runs (so no worker outlives the command; each also dies with the
//! parent, by `PR_SET_PDEATHSIG`, should the parent be killed).
//!
//! The first workers open the segment by name; once all have attached the
//! parent unlinks the name, so nothing of the run outlives it even if the
//! parent is SIGKILLed. A replacement is forked from the parent, inherits
//! its mapping of the segment and reattaches to it (a fresh attachment of
//! a fresh process, the same as one by name): no name and no descriptor
//! is needed, and the parent's mapping is there in every child for free.

use super::shared::{Claims, Control, Tally, NO_PHASE};
use super::worker::{self, Env, Source};
use crate::harness::{die_with_parent, fork_child, kill, try_wait, wait, Exit};
use crate::run::Failure;
use crate::subject::Subject;
use nix::sys::signal::Signal;
use nix::unistd::{getpid, Pid};
use std::time::{Duration, Instant};

/// The workers of one run, slot by slot.
pub struct Fleet<'a, S> {
    name: &'a str,
    /// The parent's handle: replacements reattach through its mapping.
    parent: &'a S,
    ctl: &'a Control,
    claims: &'a Claims,
    slots: Vec<Option<Pid>>,
    next_serial: u32,
    /// Counters of every worker reaped so far.
    pub totals: Tally,
    /// Workers killed on purpose (`--kill-every`).
    pub killed: u64,
    /// Workers that died or exited uncleanly on their own.
    pub crashed: u64,
}

impl<'a, S: Subject> Fleet<'a, S> {
    /// Forks `procs` workers on the segment `name` (which `parent` is a
    /// handle of).
    pub fn start(
        name: &'a str,
        parent: &'a S,
        ctl: &'a Control,
        claims: &'a Claims,
        procs: usize,
    ) -> Result<Self, Failure> {
        let mut fleet = Fleet {
            name,
            parent,
            ctl,
            claims,
            slots: vec![None; procs],
            next_serial: 1,
            totals: Tally::default(),
            killed: 0,
            crashed: 0,
        };
        for k in 0..procs {
            fleet.spawn(k, true)?;
        }
        Ok(fleet)
    }

    /// Waits until every first worker has attached (or ended, or
    /// `patience` ran out): then the segment's name may go.
    pub fn wait_attached(&mut self, patience: Duration) {
        let deadline = Instant::now() + patience;
        loop {
            self.poll_exits();
            let pending =
                (0..self.slots.len()).any(|k| self.slots[k].is_some() && !self.ctl.is_attached(k));
            if !pending || Instant::now() > deadline {
                return;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Forks a worker into slot `k` (which must be empty), opening the
    /// segment by name or reattaching to the inherited mapping.
    fn spawn(&mut self, k: usize, by_name: bool) -> Result<(), Failure> {
        let serial = self.next_serial;
        self.next_serial += 1;
        self.ctl.prepare(k, serial);
        let parent = getpid();
        let env = Env {
            ctl: self.ctl,
            claims: self.claims,
            k,
            procs: self.slots.len(),
        };
        let src = if by_name {
            Source::Name(self.name)
        } else {
            Source::Inherited(self.parent)
        };
        // SAFETY: the `sharena` command's main is single-threaded (the
        // stress verb starts no thread). The child never returns into the
        // parent's code (its guards would unlink the segment).
        let child = unsafe {
            fork_child(|| {
                child_setup(parent);
                worker::main::<S>(src, &env)
            })
        };
        match child {
            Ok(pid) => {
                self.slots[k] = Some(pid);
                Ok(())
            }
            Err(e) => Err(Failure::op(format!("stress: fork failed: {e}"))),
        }
    }

    /// Accounts for slot `k`'s worker, reaped with `status`.
    fn reaped(&mut self, k: usize, status: Exit, killed_on_purpose: bool) {
        self.slots[k] = None;
        let (t, finished) = self.ctl.tally(k);
        self.totals.add(&t);
        match status {
            Exit::Signaled(Signal::SIGKILL) if killed_on_purpose => {
                self.killed += 1;
                // Withdraw its claims before anyone reclaims its blocks
                // (the parent's `reclaim_dead` after this kill, or the
                // next reset for reset kinds): once freed they may be
                // handed out again, and claimed by another worker.
                self.claims.forget(self.ctl.serial(k));
            }
            Exit::Exited(0) if finished => {}
            _ => {
                self.crashed += 1;
                self.claims.forget(self.ctl.serial(k));
            }
        }
    }

    /// Reaps workers that exited on their own (before the stop, a crash).
    pub fn poll_exits(&mut self) {
        for k in 0..self.slots.len() {
            let Some(pid) = self.slots[k] else { continue };
            if let Some(status) = try_wait(pid) {
                self.reaped(k, status, false);
            }
        }
    }

    /// SIGKILLs the worker of a slot chosen by `draw`, wherever it is,
    /// reaps it, and forks its replacement.
    pub fn kill_one(&mut self, draw: u64) -> Result<(), Failure> {
        let live: Vec<usize> = (0..self.slots.len())
            .filter(|k| self.slots[*k].is_some())
            .collect();
        if live.is_empty() {
            return Ok(());
        }
        let k = live[(draw % live.len() as u64) as usize];
        let Some(pid) = self.slots[k] else {
            return Ok(());
        };
        kill(pid, Signal::SIGKILL);
        let status = wait(pid);
        self.reaped(k, status, true);
        self.spawn(k, false)
    }

    /// Operations so far: reaped workers' and the running ones' latest
    /// published counts (for the progress line).
    pub fn ops_so_far(&self) -> u64 {
        let running: u64 = (0..self.slots.len())
            .filter(|k| self.slots[*k].is_some())
            .map(|k| self.ctl.tally(k).0.ops)
            .sum();
        self.totals.ops + running
    }

    /// Whether every live worker finished `phase` (and at least one lives).
    pub fn all_done(&self, phase: u64) -> bool {
        let mut any = false;
        for (k, pid) in self.slots.iter().enumerate() {
            if pid.is_some() {
                any = true;
                let done = self.ctl.finished_phase(k);
                if done == NO_PHASE || done != phase {
                    return false;
                }
            }
        }
        any
    }

    /// Waits for every worker to exit (the parent said stop); those still
    /// running after `patience` are killed and count as crashed.
    pub fn wait_all(&mut self, patience: Duration) {
        let deadline = Instant::now() + patience;
        while self.slots.iter().any(Option::is_some) {
            self.poll_exits();
            if Instant::now() > deadline {
                self.kill_all();
                return;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// SIGKILLs and reaps every worker still running (counted as crashed).
    fn kill_all(&mut self) {
        for k in 0..self.slots.len() {
            if let Some(pid) = self.slots[k] {
                kill(pid, Signal::SIGKILL);
                let status = wait(pid);
                self.reaped(k, status, false);
            }
        }
    }
}

impl<S> Drop for Fleet<'_, S> {
    /// On an error path: no worker outlives the run.
    fn drop(&mut self) {
        for pid in self.slots.iter_mut().filter_map(Option::take) {
            kill(pid, Signal::SIGKILL);
            let _ = wait(pid);
        }
    }
}

/// A fresh worker: Ctrl-C at the terminal is the parent's to handle (it
/// stops the run and reports), SIGTERM kills as usual, and the worker dies
/// with its parent.
fn child_setup(parent: Pid) {
    use nix::sys::signal::{signal, SigHandler};
    // SAFETY: installing SIG_IGN / SIG_DFL runs no code of ours in a
    // signal context.
    unsafe {
        let _ = signal(Signal::SIGINT, SigHandler::SigIgn);
        let _ = signal(Signal::SIGTERM, SigHandler::SigDfl);
    }
    die_with_parent(parent, worker::EXIT_OPEN);
}
