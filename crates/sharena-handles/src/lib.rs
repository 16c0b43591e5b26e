//! A compacting heap inside a shared-memory segment: allocations are
//! reached through [`Handle`]s (entry index plus generation), accessed
//! through [`Pin`]s, and [`Handles::compact`] slides unpinned blocks
//! together so an allocation that failed only because of fragmentation
//! fits afterwards.
//!
//! # Example
//! ```
//! use sharena_handles::Handles;
//! use shm_layout::{AllocatorKind, Error, LayoutSpec, SegmentView};
//! use std::ptr::NonNull;
//!
//! // A caller's buffer standing in for a shared mapping.
//! #[repr(C, align(4096))]
//! struct Page([u8; 4096]);
//! struct Mem(Vec<Page>, SegmentView);
//! impl AsRef<SegmentView> for Mem {
//!     fn as_ref(&self) -> &SegmentView { &self.1 }
//! }
//! let mut pages: Vec<Page> = (0..8).map(|_| Page([0; 4096])).collect();
//! let base = NonNull::new(pages.as_mut_ptr().cast::<u8>()).unwrap();
//! let len = 8 * 4096;
//! let mut params = [0; 8];
//! params[0] = 64; // handle-table capacity
//! let spec = LayoutSpec { kind: AllocatorKind::Handles, total_len: len, metadata_len: 0,
//!                         state_len: sharena_handles::state_len(64), params };
//! // SAFETY: `pages` is page-aligned, `len` bytes, moves into `Mem` with
//! // the view (its heap buffer stays put); nobody else initialises it.
//! let view = unsafe { SegmentView::initialize("<doc>", base, len, &spec, true, sharena_handles::init) }?;
//! let heap = Handles::attach(Mem(pages, view))?;
//!
//! let a = heap.alloc(1000)?;
//! let b = heap.alloc(1000)?;
//! heap.write(b, b"survivor")?;
//! heap.free(a)?;                        // a hole before b
//! let report = heap.compact()?;         // b slides down into it
//! assert_eq!(report.blocks_moved, 1);
//! assert_eq!(heap.read(b, 8)?, b"survivor");
//! assert!(heap.read(a, 8).is_err());  // a is gone: a stale handle
//! {
//!     let pin = heap.pin(b)?;            // b will not move while pinned
//!     pin.write_at(0, b"S")?;
//! }
//! # Ok::<(), Error>(())
//! ```
//!
//! # Safety and correctness
//! - A handle reaches its own block or an error, never another block: the
//!   entry's generation moves on at every free, and the generation's low 16
//!   bits sit in the same word as the offset, so a pin of a stale handle
//!   fails on the same load that would pin.
//! - A pinned block never moves and is never freed: a pin and a move (or a
//!   free) are a Dekker pair on the entry's pin word and location word
//!   (`word` module), model-checked in `src/loom_tests.rs`.
//! - Every pin and every entry records its attachment's *seat* (an owner
//!   slot with its `OwnerId`), so when an attachment ends (its `Drop`, or
//!   `reclaim_dead` after its process died) its unshared blocks are freed
//!   and exactly its pins released: see [`Handles`], "Who owns what".
//! - Allocation is lock-free (an entry taken by one CAS, found through free
//!   hints; data from a bump cursor); compaction takes an owner-slot lock;
//!   nothing else waits for it except, boundedly, a pin or free of the one
//!   block being moved, and an allocation that did not fit with
//!   auto-compaction on (it waits for a live compactor). A dead compactor's lock is adopted and its move
//!   undone or finished from a journal (see `compact`).
//! - A process killed at any write leaves nothing that a `reclaim_dead`
//!   does not give back: the crash explorer's `handles` scenarios
//!   (`scripts/crashpoints.sh --kind handles`) kill one at every write.
//! - A failed allocation changes nothing. With auto-compaction on it
//!   compacts only after deciding that compaction can make room (free
//!   bytes, and pinned blocks kept in place), so it moves nothing unless
//!   others' allocations or pins took that room meanwhile
//!   ([`Handles::alloc`]).
//! - Checked reads and writes stop at the size the allocation asked for;
//!   [`Handles::usable_size`] (rounded up to 8) is what [`Pin::ptr`] may
//!   reach.
//! - Nothing read from the segment is trusted: indices, offsets and
//!   lengths are bounds-checked, loops over shared state are bounded.
//!
//! `docs/ALLOCATORS.md` ("Handles") gives the algorithm and its
//! linearization points, `docs/FORMAT.md` the bytes.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs, missing_debug_implementations)]
// Loom builds compile only the lock-free cores that the models drive.
#![cfg_attr(shm_loom, allow(dead_code))]

#[cfg(not(shm_loom))]
mod check;
#[cfg(not(shm_loom))]
mod compact;
#[cfg(not(shm_loom))]
mod entries;
#[cfg(not(shm_loom))]
mod heap;
mod layout;
#[cfg(not(shm_loom))]
mod recover;
#[cfg(not(shm_loom))]
mod seat;
mod word;

#[cfg(not(shm_loom))]
pub use compact::CompactReport;
#[cfg(not(shm_loom))]
pub use heap::{init, Handle, Handles};
pub use layout::{default_handles, state_len};
#[cfg(not(shm_loom))]
pub use seat::Pin;

/// The allocator kind recorded in the header of this allocator's segments.
pub const KIND: shm_layout::AllocatorKind = shm_layout::AllocatorKind::Handles;

#[cfg(all(test, shm_loom))]
mod loom_tests;
