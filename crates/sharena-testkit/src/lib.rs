//! What sharena's tests, `sharena stress` and `sharena bench` share, written
//! once.
//!
//! The low-level part names only `shm-layout` and `std` types (and
//! unlinks through the facade), so any crate's tests may use it:
//!
//! - [`XorShift`] (`rng.rs`): the workloads' random stream (xorshift64,
//!   seed `42 + k`).
//! - [`unique_name`], [`ShmGuard`], [`TempPath`] (`names.rs`, `guard.rs`):
//!   names no other test uses, and guards that unlink or remove them when
//!   dropped, also when a test panics.
//! - [`HeapSegment`] (`heap.rs`): a segment in heap memory for
//!   single-process tests, built from a layout and the caller's creator
//!   hook.
//! - [`harness`]: real processes: re-spawn this binary in a role
//!   ([`harness::Spawn`]), or fork from a single-threaded `main`
//!   ([`harness::fork_child`]); kill, wait with a timeout, and an
//!   [`harness::Exit`] that tells a signal from an exit status.
//! - [`Stamp`] (`stamp.rs`): the one block stamp, every byte of a block
//!   naming its writer (pid, worker, sequence); [`churn`]: stamped churn
//!   over any `ShmAllocator`; [`Tally`] (`tally.rs`): what a worker
//!   counted.
//! - [`users`]: a second local user (made when the tests run as root), for
//!   the tests of what opening a segment trusts.
//!
//! The engines name the facade's allocator types:
//!
//! - [`Subject`] (`subject.rs`): the one adapter over the allocator kinds
//!   (bump, slab, freelist, handles), with [`blocks::Blocks`] (`blocks.rs`),
//!   a block as a worker uses it (an offset, or a handle reached through a
//!   pin).
//! - [`stress`] and [`mod@bench`]: the engines of `sharena stress` and
//!   `sharena bench` (the command keeps the flags and the output); [`run`]:
//!   the progress and failure an engine reports.
//!
//! ```
//! use sharena::ShmAllocator;
//! use sharena_testkit::{ShmGuard, XorShift};
//!
//! // A named segment that is unlinked however the test ends.
//! let guard = ShmGuard::new("doc-lib");
//! let slab = sharena::Slab::create(guard.name(), 1 << 20, 64).unwrap();
//! // Process 0 of a workload draws the same stream everywhere.
//! let mut rng = XorShift::for_process(0);
//! assert_eq!(rng.next(), 45_454_805_674);
//! let at = slab.alloc(64).unwrap();
//! slab.write(at, &rng.next().to_le_bytes()).unwrap();
//! slab.free(at).unwrap();
//! ```
//!
//! # Who may depend on it
//!
//! The testkit depends on the facade (`sharena`), so on every allocator
//! crate. It is a dev-dependency of the library crates and a dependency
//! of the command only: no library crate ever depends on it normally.
//! Cargo allows the dev-dependency cycle: an allocator crate's integration
//! tests and the testkit link the same build of that crate, so the
//! engines' types and the test's agree. A unit test inside an allocator
//! crate's `src` is another build of that crate: it may use the low-level
//! part (whose items name no allocator type), never an item that names
//! its own crate's types (`Subject`, `stress`, `bench`, `churn` over the
//! facade's handles).
//!
//! Forking helpers and the engines fork: call them only from a
//! single-threaded `main` (a `harness = false` test, or the command).
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod bench;
pub mod blocks;
pub mod churn;
#[cfg(feature = "crash-hooks")]
pub mod explore;
pub mod guard;
pub mod harness;
pub mod heap;
pub mod names;
pub mod rng;
pub mod run;
pub mod stamp;
pub mod stress;
pub mod subject;
pub mod tally;
pub mod users;

pub use guard::{Cleanup, ShmGuard, TempPath};
pub use heap::{HeapSegment, SharedHeap};
pub use names::{shm_exists, unique_name, unique_name_with, unique_path};
pub use rng::XorShift;
pub use stamp::{Stamp, Verdict};
pub use subject::{OffsetSubject, Release, Sizes, Subject};
pub use tally::Tally;
