//! The byte layout of a sharena segment, and the checks that make it safe to
//! trust: header, region table, offsets, validation and the sync shim.
//!
//! Every other sharena crate stands on this one and this one depends on no
//! sibling. It knows nothing of POSIX names, files or `fork` (the facade
//! crate `sharena` maps memory); it turns a base pointer and a length into a
//! [`SegmentView`] only after the bytes have passed every check of
//! `docs/FORMAT.md`.
//!
//! # Example
//! ```
//! use shm_layout::{AllocatorKind, LayoutSpec, Offset, RegionId, SegmentView, WaitPolicy};
//! use std::ptr::NonNull;
//!
//! // 64 KiB of 128-byte-aligned memory standing in for a mapping.
//! #[repr(C, align(128))]
//! struct Page([u8; 128]);
//! let mut mem: Vec<Page> = (0..512).map(|_| Page([0; 128])).collect();
//! let base = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap();
//! let len = 512 * 128;
//!
//! let spec = LayoutSpec { kind: AllocatorKind::Raw, total_len: len, metadata_len: 0,
//!                         state_len: 64, params: [0; 8] };
//! // SAFETY: `mem` outlives both views and is 128-byte aligned; nobody else
//! // initialises it.
//! let created = unsafe { SegmentView::initialize("<doc>", base, len, &spec, true, |_| Ok(())) }?;
//! let pool = created.region(RegionId::Pool);
//! created.write_bytes(Offset::new(pool.offset), b"hello")?;
//!
//! // SAFETY: as above.
//! let opened = unsafe {
//!     SegmentView::open("<doc>", base, len, Some(AllocatorKind::Raw), WaitPolicy::default(), |_| true)
//! }?;
//! let mut out = [0u8; 5];
//! opened.read_bytes(Offset::new(pool.offset), &mut out)?;
//! assert_eq!(&out, b"hello");
//! // Offsets are bounds-checked before they become pointers.
//! assert!(opened.ptr(Offset::new(len - 2), 8).is_err());
//! # Ok::<(), shm_layout::Error>(())
//! ```
//!
//! # Safety and correctness
//! - Nothing read from shared memory is trusted: the header is copied (with
//!   volatile reads) and the copy validated; all later lookups use the copy.
//! - Offsets, never pointers, live in the segment; a view checks bounds (and
//!   alignment, for typed offsets and atomics) before handing out a pointer.
//! - Shared bytes are never exposed as `&[u8]`: only raw pointers, atomics
//!   and volatile copies.
//! - The open protocol (see [`init`]) publishes READY last with Release;
//!   openers Acquire it, with a timeout, and report a dead creator.
//!
//! # Model checking
//! [`sync`] switches every atomic to loom's under `--cfg shm_loom`; the
//! protocol structs ([`InitWord`], and the allocators' heads) are plain
//! `#[repr(C)]` structs of those atomics, so loom builds them on the heap
//! while production lays them over mapped bytes. `ci/loom.sh` runs the
//! models.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs, missing_debug_implementations)]

#[cfg(not(shm_loom))]
pub mod alloc;
pub mod consts;
#[cfg(all(feature = "crash-hooks", not(shm_loom)))]
pub mod crash;
pub mod directory;
pub mod error;
pub mod header;
pub mod init;
pub mod kind;
pub mod offset;
pub mod owner;
pub mod pad;
pub mod procid;
#[cfg(not(shm_loom))]
pub mod proctable;
pub mod queue;
#[cfg(not(shm_loom))]
pub mod recovery;
pub mod sync;
pub mod validate;
#[cfg(not(shm_loom))]
pub mod view;
pub mod wait;

#[cfg(not(shm_loom))]
pub use alloc::{AllocStats, ShmAllocator};
pub use consts::*;
pub use directory::{validate_directory_name, DirEntry, Directory, MAX_DIRECTORY_NAME};
pub use error::{Error, Result};
pub use header::{align_up, fnv1a64, Header, LayoutSpec, Region, RegionId, PARAM_NAMES};
pub use init::{InitState, InitWord};
pub use kind::AllocatorKind;
pub use offset::{Offset, TypedOffset};
#[cfg(not(shm_loom))]
pub use owner::fork_generation;
pub use owner::{Adoption, Liveness, OwnerId, OwnerSlot};
pub use pad::Line;
pub use procid::ProcId;
#[cfg(not(shm_loom))]
pub use proctable::{ProcEntry, ProcTable, Registration};
#[cfg(not(shm_loom))]
pub use recovery::{finish_reclaim, CheckReport, Problem, ReclaimReport, Recover, Run, RunKind};
pub use validate::validate_header;
#[cfg(not(shm_loom))]
pub use view::{SegmentView, WaitPolicy};

#[cfg(all(test, shm_loom))]
mod loom_tests;
