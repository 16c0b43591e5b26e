//! How a child process ended.

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
