//! Real processes for multi-process tests, `sharena stress` and
//! `sharena bench`.
//!
//! Two ways to get one, by what the caller's process is:
//!
//! - [`Spawn`] (`respawn.rs`): re-spawn the current binary in a *role*
//!   named by the environment variable [`ROLE_VAR`]. Safe from anywhere,
//!   the threaded libtest harness included. The test reads the role
//!   ([`role`]) and its arguments ([`child_args`]) and dispatches; no
//!   library ever reads either.
//! - [`fork_child`] (`fork.rs`): `fork`, for a process that has exactly one
//!   thread: the `main` of a `harness = false` test, or the command's.
//!
//! Either way a child ends in an [`Exit`] (below), which tells a
//! child killed by a signal from one that exited, and waits are bounded
//! ([`ChildGuard::wait_timeout`], [`wait_timeout`]). Guards kill and reap
//! what is left when they drop, so a failing test leaves no process.

mod fork;
mod respawn;

pub use fork::{
    die_with_parent, fork_child, has_ended, kill, try_wait, wait, wait_timeout, Forked,
};
pub use respawn::{child_args, recv, role, send, ChildGuard, Spawn, ARGS_VAR, MSG, ROLE_VAR};

use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use std::os::unix::process::ExitStatusExt;

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this status.
    Exited(i32),
    /// A signal killed it.
    Signaled(Signal),
    /// It could not be waited for (no longer this process's child): its
    /// status is lost.
    Lost,
}

impl Exit {
    /// Exited with status 0.
    pub fn success(self) -> bool {
        self == Exit::Exited(0)
    }

    /// Killed by `sig`.
    pub fn killed_by(self, sig: Signal) -> bool {
        self == Exit::Signaled(sig)
    }

    /// The end a `waitpid` status reports, or `None` while the child still
    /// runs (or only stopped or continued).
    pub fn from_wait(status: WaitStatus) -> Option<Exit> {
        match status {
            WaitStatus::Exited(_, code) => Some(Exit::Exited(code)),
            WaitStatus::Signaled(_, sig, _) => Some(Exit::Signaled(sig)),
            _ => None,
        }
    }
}

impl From<std::process::ExitStatus> for Exit {
    fn from(s: std::process::ExitStatus) -> Exit {
        match (s.code(), s.signal().map(Signal::try_from)) {
            (Some(code), _) => Exit::Exited(code),
            (None, Some(Ok(sig))) => Exit::Signaled(sig),
            _ => Exit::Lost,
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Exited(code) => write!(f, "exited with status {code}"),
            Exit::Signaled(sig) => write!(f, "killed by {sig:?}"),
            Exit::Lost => write!(f, "lost (not this process's child)"),
        }
    }
}
