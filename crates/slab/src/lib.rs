//! Fixed-size lock-free slab allocator inside a shared-memory segment.
//!
//! **Status: skeleton.** This crate fixes the allocator kind it owns and
//! where its state lives in the segment (see `docs/FORMAT.md`); the
//! allocator itself lands with its own issue (see `docs/ARCHITECTURE.md`).
//!
//! ```
//! assert_eq!(slab::KIND, shm_layout::AllocatorKind::Slab);
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs, missing_debug_implementations)]

/// The allocator kind recorded in the header of this allocator's segments.
pub const KIND: shm_layout::AllocatorKind = shm_layout::AllocatorKind::Slab;
