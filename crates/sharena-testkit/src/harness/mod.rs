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
//! Either way a child ends in an [`Exit`] (`exit.rs`), which tells a
//! child killed by a signal from one that exited, and waits are bounded
//! ([`ChildGuard::wait_timeout`], [`wait_timeout`]). Guards kill and reap
//! what is left when they drop, so a failing test leaves no process.

mod exit;
mod fork;
mod respawn;

pub use exit::Exit;
pub use fork::{
    die_with_parent, fork_child, has_ended, kill, try_wait, wait, wait_timeout, Forked,
};
pub use respawn::{child_args, recv, role, send, ChildGuard, Spawn, ARGS_VAR, MSG, ROLE_VAR};
