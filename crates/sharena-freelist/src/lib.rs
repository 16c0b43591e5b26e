//! General-purpose allocator with coalescing inside a shared-memory
//! segment: any size, individual free, lock-free between processes.
//!
//! The pool is cut into chunks (64 KiB by default). A bitmap of taken
//! chunks is the page heap: runs are claimed first-fit with CAS and freed
//! runs merge with their free neighbours by construction. Each thread that
//! allocates owns an *arena* registered in the segment (with its owner):
//! a TLSF heap (two-level segregated fit, 16 classes per power of two)
//! over spans of chunks, with boundary-tag coalescing. The owner allocates
//! and frees its own blocks with plain loads and stores on lines nobody
//! else writes; a block freed by anyone else goes onto its arena's remote
//! list with one CAS and is coalesced by the owner later. Allocations
//! larger than a chunk take whole chunks. Creating a free list of any size
//! writes one word.
//!
//! # Example
//! ```
//! use sharena_freelist::FreeList;
//! use shm_layout::{AllocatorKind, LayoutSpec, SegmentView, ShmAllocator};
//! use std::ptr::NonNull;
//!
//! // A caller's buffer standing in for a mapping (the facade's `Segment`
//! // plays this part for real shared memory).
//! #[repr(C, align(4096))]
//! struct Page([u8; 4096]);
//! struct Mem { view: SegmentView, _pages: Vec<Page> }
//! impl AsRef<SegmentView> for Mem {
//!     fn as_ref(&self) -> &SegmentView { &self.view }
//! }
//! let len = 1 << 20;
//! let mut pages: Vec<Page> = (0..len / 4096).map(|_| Page([0; 4096])).collect();
//! let base = NonNull::new(pages.as_mut_ptr().cast::<u8>()).unwrap();
//!
//! let (p, state_len) = sharena_freelist::for_segment(len as u64, 0, 0).unwrap();
//! let spec = LayoutSpec { kind: AllocatorKind::FreeList, total_len: len as u64,
//!                         metadata_len: 0, state_len,
//!                         params: [p[0], p[1], p[2], 0, 0, 0, 0, 0] };
//! // SAFETY: `pages` is 4096-aligned, `len` bytes, moves into `Mem` with the
//! // view (its heap buffer stays put), and nothing else initialises it.
//! let view = unsafe { SegmentView::initialize("<doc>", base, len as u64, &spec, true, sharena_freelist::init) }?;
//! let heap = FreeList::attach(Mem { view, _pages: pages })?;
//!
//! let a = heap.alloc(100)?;
//! let b = heap.alloc_aligned(3000, 256)?;
//! assert_eq!(b.get() % 256, 0);
//! heap.write(a, b"hello, free list")?;
//! assert_eq!(heap.read(a, 16)?, b"hello, free list");
//! heap.free(a)?;
//! assert!(matches!(heap.free(a), Err(shm_layout::Error::DoubleFree { .. })));
//! heap.free(b)?;
//! // Everything coalesces: the whole pool is one allocation away.
//! let all = heap.alloc(heap.max_alloc())?;
//! heap.free(all)?;
//! # Ok::<(), shm_layout::Error>(())
//! ```
//!
//! # Safety and correctness
//! - Nothing read from the segment is trusted: every offset taken from a
//!   bin, a link, a remote list or the chunk table is bounds-checked before
//!   it is followed, every header is checked (magic, state, owner, size
//!   within its span), and every loop over shared data is bounded. A bad
//!   value is [`shm_layout::Error::Corrupt`] naming the offset, never
//!   undefined behaviour, a panic or an endless loop.
//! - Every failed call leaves the heap as it was: zero size, a size larger
//!   than the pool (`u64::MAX` included: no overflow when rounding), an
//!   alignment that is 0, not a power of two or above 4096, an offset
//!   outside the pool, not 16-aligned or not a block start
//!   ([`shm_layout::Error::InvalidOffset`]), a block that is not live
//!   ([`shm_layout::Error::DoubleFree`], also when two frees race).
//! - Known limit: an offset inside a live block whose bytes the caller
//!   forged to look like a block header is not told apart from a block.
//! - A process may die at any instruction: nobody waits for it (nothing
//!   here is a lock). Every block, chunk run and arena records its owner,
//!   and every half-done change names the arena whose reclaim finishes or
//!   rolls it back (`docs/ALLOCATORS.md`, "Recovery").
//! - A block belongs to the handle that allocated it until it is freed or
//!   shared; when the handle ends, its unshared blocks are freed (by `Drop`,
//!   or by `reclaim_dead` once a process that never ran it is gone). A
//!   handle inherited through `fork` returns `Error::Forked`.
//! - No safe item lets a caller pick an address to dereference: pools,
//!   arenas and chunk maps are internal, built only from a validated view.
//!   This does not compile:
//!
//! ```compile_fail,E0603
//! #![forbid(unsafe_code)]
//! use sharena_freelist::arena::Pool; // error: module `arena` is private
//!
//! fn peek(pool: &Pool<'_>) -> u64 {
//!     pool.word(0).map_or(0, |w| w.load(std::sync::atomic::Ordering::Relaxed))
//! }
//! ```
//!
//! # Performance
//! The common alloc and free are a TLSF lookup (two bit scans) and a few
//! stores on the owner's own lines, with one uncontended CAS per free.
//! Processes share nothing on that path, so they scale. Chunks are taken
//! and given back with a CAS per chunk-table word and an RMW per bitmap
//! word (a cold path: a span is up to 16 chunks). `sharena bench --workload
//! W3|W4` measures it beside `system` (malloc) and `mutex-shm` (TLSF behind
//! a process-shared lock); the figures are in `docs/BENCHMARKS.md`.
//!
//! `docs/ALLOCATORS.md` describes the algorithm, its invariants,
//! linearization points and memory orderings; `docs/FORMAT.md` the bytes.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs, missing_debug_implementations)]
// Loom builds compile only the lock-free cores that the models drive.
#![cfg_attr(shm_loom, allow(dead_code))]

// Internal: the public surface is the re-exports below. (`arena::Pool`
// once was public, and its safe `word()` dereferenced whatever base a
// caller put in it.)
#[cfg(not(shm_loom))]
mod arena;
mod block;
#[cfg(not(shm_loom))]
mod bounds;
#[cfg(not(shm_loom))]
mod check;
mod chunks;
mod class;
#[cfg(all(not(shm_loom), feature = "crash-hooks"))]
pub mod crash;
#[cfg(all(not(shm_loom), not(feature = "crash-hooks")))]
mod crash;
#[cfg(not(shm_loom))]
mod freelist;
#[cfg(not(shm_loom))]
mod huge;
mod layout;
#[cfg(not(shm_loom))]
mod locate;
#[cfg(not(shm_loom))]
mod orphans;
#[cfg(not(shm_loom))]
mod owner;
#[cfg(not(shm_loom))]
mod rebuild;
#[cfg(not(shm_loom))]
mod recover;
mod remote;
#[cfg(not(shm_loom))]
mod thread;

#[cfg(not(shm_loom))]
pub use freelist::{init, FreeList, MAX_ALIGN};
pub use layout::{for_segment, Geometry};

/// The allocator kind recorded in the header of this allocator's segments.
pub const KIND: shm_layout::AllocatorKind = shm_layout::AllocatorKind::FreeList;

#[cfg(all(test, shm_loom))]
mod loom_tests;
