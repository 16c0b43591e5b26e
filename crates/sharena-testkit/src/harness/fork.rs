//! `fork` and what a parent does with its children: kill, wait, wait with
//! a timeout, peek. Only a process with exactly one thread may fork (a
//! `harness = false` test's `main`, or the command's): the child of a
//! threaded process may deadlock on a lock another thread held.

use super::Exit;
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, getppid, ForkResult, Pid};
use std::io::Write;
use std::time::{Duration, Instant};

/// Forks a child that runs `body` and ends with the status it returns
/// (101 if it panics), never returning into the caller's code: the
/// parent's guards and destructors do not run in the child (it flushes
/// stdout and stderr and `_exit`s). Returns the child's pid.
///
/// # Safety
/// The calling process has exactly one thread.
pub unsafe fn fork_child(body: impl FnOnce() -> i32) -> std::io::Result<Pid> {
    // SAFETY: the caller's contract: one thread, so the child may run any
    // code.
    match unsafe { fork() }.map_err(std::io::Error::from)? {
        ForkResult::Child => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(101);
            let _ = std::io::stdout().flush();
            let _ = std::io::stderr().flush();
            // SAFETY: `_exit` ends this process at once; it runs no atexit
            // handler and no destructor of the state inherited from the
            // parent.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => Ok(child),
    }
}

/// Sends `sig` to `pid` (an error when it is gone is ignored: a reaped
/// child cannot be signalled, an unreaped one always can).
pub fn kill(pid: Pid, sig: Signal) {
    let _ = nix::sys::signal::kill(pid, sig);
}

/// Waits for `pid` to end (retried on EINTR).
pub fn wait(pid: Pid) -> Exit {
    loop {
        match waitpid(pid, None) {
            Err(Errno::EINTR) => {}
            Ok(status) => {
                if let Some(exit) = Exit::from_wait(status) {
                    return exit;
                }
            }
            Err(_) => return Exit::Lost,
        }
    }
}

/// Reaps `pid` if it has ended; `None` while it runs.
pub fn try_wait(pid: Pid) -> Option<Exit> {
    match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
        Ok(status) => Exit::from_wait(status),
        Err(Errno::EINTR) => None,
        Err(_) => Some(Exit::Lost),
    }
}

/// Waits for `pid` at most `timeout`; `None` if it still runs then (it is
/// neither killed nor reaped).
pub fn wait_timeout(pid: Pid, timeout: Duration) -> Option<Exit> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(exit) = try_wait(pid) {
            return Some(exit);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Whether `pid` has ended, without reaping it (its status stays for a
/// later wait).
pub fn has_ended(pid: Pid) -> bool {
    matches!(
        waitid(
            Id::Pid(pid),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT
        ),
        Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..))
    )
}

/// In a fresh child: die (SIGKILL) when the parent `parent` dies, and if it
/// already has, exit with `code` now.
pub fn die_with_parent(parent: Pid, code: i32) {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes plain integers and only sets a
    // flag of this process.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    if getppid() != parent {
        // The parent died before the flag was set.
        std::process::exit(code);
    }
}

/// Forked children, SIGKILLed and reaped when dropped (also when a test
/// fails), so none outlives its parent's test.
#[derive(Debug, Default)]
pub struct Forked(pub Vec<Pid>);

impl Drop for Forked {
    fn drop(&mut self) {
        for &pid in &self.0 {
            kill(pid, Signal::SIGKILL);
            let _ = wait(pid);
        }
    }
}
