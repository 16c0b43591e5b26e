//! Lock-free bump allocator inside a shared-memory segment.
//!
//! Many processes map one segment and allocate from it at once; a block
//! is never freed alone: [`Bump::reset`] releases everything (and makes
//! old offsets stale), and [`Bump::mark`] / [`Bump::rewind`] give
//! request-scoped checkpoints.
//!
//! # Example
//! ```
//! use sharena_bump::Bump;
//! use shm_layout::{AllocatorKind, Error, LayoutSpec, SegmentView, ShmAllocator};
//! use std::ptr::NonNull;
//!
//! // A caller's buffer standing in for a shared mapping.
//! #[repr(C, align(4096))]
//! struct Page([u8; 4096]);
//! struct Heap(Vec<Page>, SegmentView);
//! impl AsRef<SegmentView> for Heap {
//!     fn as_ref(&self) -> &SegmentView { &self.1 }
//! }
//! let mut mem: Vec<Page> = (0..16).map(|_| Page([0; 4096])).collect();
//! let base = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap();
//! let len = 16 * 4096;
//! let spec = LayoutSpec { kind: AllocatorKind::Bump, total_len: len, metadata_len: 0,
//!                         state_len: Bump::<Heap>::state_len(), params: [0; 8] };
//! // SAFETY: `mem` is page-aligned, `len` bytes, never moved, and lives as
//! // long as the view (both are in `Heap`); nobody else initialises it.
//! let view = unsafe {
//!     SegmentView::initialize("<doc>", base, len, &spec, true, |v| Bump::<Heap>::init(v))
//! }?;
//! let arena = Bump::attach(Heap(mem, view))?;
//!
//! let a = arena.alloc(5)?;
//! arena.write(a, b"hello")?;
//! assert_eq!(arena.read(a, 5)?, b"hello");
//!
//! let mark = arena.mark()?;
//! let scratch = arena.alloc_aligned(100, 64)?;
//! assert_eq!(scratch.get() % 64, 0);
//! arena.rewind(mark)?; // `scratch` is released, `a` is still live
//! assert_eq!(arena.read(a, 5)?, b"hello");
//!
//! arena.reset()?;
//! assert!(matches!(arena.read(a, 5), Err(Error::Stale { .. })));
//! assert!(matches!(arena.free(a), Err(Error::Unsupported { .. })));
//! # Ok::<(), Error>(())
//! ```
//!
//! # Safety and correctness
//! - No two live blocks overlap, in any number of threads and processes:
//!   every byte is handed out once per epoch by a CAS on one shared cursor
//!   word, and a thread carves blocks only from a chunk reserved in the
//!   current epoch (the loom models in `src/loom_tests.rs` check both).
//! - Nothing read from the segment is trusted: the state region's length
//!   and alignment are checked before it is cast, the cursor is checked
//!   against the pool before it is used, block headers are decoded and
//!   bounds-checked; a corrupt state is [`shm_layout::Error::Corrupt`], and
//!   every loop over shared words is bounded.
//! - The checked API (`usable_size`, `read`, `write`, ...) accepts only
//!   live block starts of the current generation; an offset from before a
//!   reset is [`shm_layout::Error::Stale`]. `read`, `write` and the typed
//!   helpers stop at the size the allocation asked for
//!   ([`Bump::requested_size`]; past it: [`shm_layout::Error::OutOfBounds`]
//!   naming that size); `usable_size` and `block_ptr`, the zero-copy path,
//!   reach to the end of the rounded block.
//! - An allocation that races a reset (or rewind) linearizes before it or
//!   after it: before, its block belongs to the old generation and is stale
//!   at once; after, it is a block of the new one. The racing allocation
//!   still writes its 8-byte header, which may land in a block of the new
//!   generation: reset and rewind release blocks, so call them when no
//!   allocation of the released phase is still in flight if the new
//!   phase's first bytes must be intact. Nothing unsafe happens either way.
//! - `free` is [`shm_layout::Error::Unsupported`], never silently ignored.
//! - Every thread's current reservation is recorded in the segment (an
//!   intent published before the reserving CAS and confirmed after), so a
//!   process that dies anywhere leaves no byte unaccounted for: the next
//!   `reclaim_dead` turns the unused tail into a filler block.
//! - A handle inherited through `fork` is [`shm_layout::Error::Forked`] in
//!   the child (its chunk is the parent's) and its `Drop` touches nothing;
//!   how an attachment ends, by any exit, is on [`Bump`].
//!
//! # Performance
//! The fast path is process-local: a thread-local lookup, one read of the
//! read-mostly epoch word, and a cursor bump in this thread's chunk, plus
//! the 8-byte header store. It has no atomic read-modify-write and writes
//! no shared cache line. A chunk (`params[0]`, 64 KiB by default) costs one
//! CAS on the shared cursor and a few stores to this thread's reservation
//! record; blocks larger than half a chunk take their own CAS. Each block costs 8 header bytes plus rounding to 8 and alignment
//! padding. `sharena bench --workload W1` measures 64-byte allocations with
//! an 8-byte tag against the W1 baselines of docs/WORKLOADS.md; the figures are in
//! `docs/BENCHMARKS.md`.
//!
//! See [`implementation`] for the algorithm, the layout and the orderings.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs, missing_debug_implementations)]
#![cfg_attr(shm_loom, allow(dead_code, unused_imports))]

#[cfg(not(shm_loom))]
mod arena;
mod block;
#[cfg(not(shm_loom))]
mod checked;
pub mod implementation;
#[cfg(not(shm_loom))]
mod local;
#[cfg(not(shm_loom))]
mod recover;
#[cfg(not(shm_loom))]
mod scope;
mod state;
mod words;

#[cfg(not(shm_loom))]
pub use arena::{Bump, DEFAULT_CHUNK, MAX_CHUNK, MIN_CHUNK};
pub use block::{HEADER_LEN, MAX_ALIGN, MAX_BLOCK};
#[cfg(not(shm_loom))]
pub use scope::Mark;
#[cfg(not(shm_loom))]
pub use shm_layout::ShmAllocator;

/// The allocator kind recorded in the header of this allocator's segments.
pub const KIND: shm_layout::AllocatorKind = shm_layout::AllocatorKind::Bump;

/// Bytes the state region of a bump segment needs (also
/// `Bump::state_len()`).
pub const STATE_LEN: u64 = state::STATE_LEN;

#[cfg(all(test, shm_loom))]
mod loom_tests;
