#![doc = include_str!("../../../README.md")]
//!
//! # This crate
//! `sharena` is the facade. [`Segment`] maps memory on one of four backends
//! (named POSIX, anonymous-for-fork, file, caller's buffer) and runs the
//! open protocol. Each allocator is a handle that owns its segment:
//! [`Bump`], [`FreeList`], [`Slab`] and the compacting [`Handles`], all with
//! the same constructors (`create`, `open`, `create_or_open`, `anonymous`,
//! `create_file`, `open_file`, `in_buffer`) and the allocator's own surface
//! through `Deref` ([`ShmAllocator`] for the first three, [`Recover`] for
//! all four). [`Named`] publishes blocks under names in a segment's
//! directory; [`list`] finds the sharena segments in `/dev/shm`. The byte
//! layout is re-exported as [`layout`] and the window mapper as [`window`].
//!
//! # Safety and correctness
//! See [the safety model](Segment#safety-model): nothing read from a segment
//! is trusted, offsets are checked before they become pointers, and a dead or
//! hostile process yields an [`Error`], never undefined behaviour.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs, missing_debug_implementations)]

mod backend;
mod bump;
mod directory;
mod freelist;
mod handle;
mod handles;
mod list;
mod name;
mod options;
mod process;
mod queue;
mod segment;
mod slab;
mod typed;

pub use self::handles::{CompactReport, Handle, Handles, Pin};
pub use backend::{AlignedBuffer, BackendKind, CallerBuffer};
pub use bump::Bump;
pub use directory::Named;
pub use freelist::FreeList;
pub use handle::SharedSegment;
pub use list::{list, SegmentInfo};
pub use name::{validate_name, MAX_NAME_LEN};
pub use options::{OpenOptions, SegmentOptions};
pub use process::is_alive;
pub use queue::{Queue, Recovered as QueueRecovered};
pub use segment::{Opened, Segment};
pub use shm_layout::{
    AllocStats, AllocatorKind, CheckReport, DirEntry, Directory, Error, Header, InitState, Offset,
    OwnerId, Problem, ProcEntry, ProcId, ProcTable, ReclaimReport, Recover, Region, RegionId,
    Result, Run, RunKind, SegmentView, ShmAllocator, TypedOffset, MAX_DIRECTORY_NAME,
};
pub use slab::Slab;
pub use typed::{Field, Objects, Shared, DEFAULT_WAIT};

/// The segment byte layout (header, regions, offsets, sync shim).
pub use shm_layout as layout;

/// Windowed mapping of files larger than memory.
pub use sharena_window as window;
