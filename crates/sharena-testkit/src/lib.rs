//! What sharena's tests, `sharena stress` and `sharena bench` share, written
//! once.
//!
//! - [`XorShift`] (`rng.rs`): the workloads' random stream (xorshift64,
//!   seed `42 + k`).
//!
//! ```
//! use sharena_testkit::XorShift;
//!
//! // Process 0 of a workload draws the same stream everywhere.
//! let mut rng = XorShift::for_process(0);
//! assert_eq!(rng.next(), 45_454_805_674);
//! assert_eq!(rng.slot(), 703);
//! ```
//!
//! The testkit is a dev-dependency of the library crates and a dependency
//! of the command only: no library crate ever depends on it.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod rng;

pub use rng::XorShift;
