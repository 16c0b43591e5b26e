//! The engine of `sharena stress`: N forked processes on one named
//! segment, every block stamped and verified, duplicates caught in a side
//! table, workers killed and replaced on request, and the allocator's
//! `used` bytes and `check()` measured at the end. The command parses the
//! flags, calls [`run`] and prints the [`Outcome`].
//!
//! - `shared.rs`: the control block and the duplicate table.
//! - `worker.rs`: the worker loops, generic over [`crate::blocks::Blocks`].
//! - `fleet.rs`: forking, reaping, killing and replacing workers.
//! - `supervise.rs`: one run from the parent's side.
//!
//! A kind plugs in with its [`crate::Subject`] impl. The parent forks, so
//! [`run`] may be called only from a single-threaded `main`.

mod fleet;
mod shared;
mod supervise;
mod worker;

pub use shared::{Claims, Control, NO_PHASE};
pub use supervise::{run, CheckOutcome, Config, Outcome, Reclaims};
pub use worker::working_set;
