//! Fixed-size, lock-free slab allocator inside a shared-memory segment,
//! with per-process caches of free slots.
//!
//! Every slot has the same size (at least 8 bytes, a multiple of 8). Free
//! slots sit on a lock-free Treiber stack whose head is one 64-bit word
//! (32-bit index, 32-bit ABA tag); slots never used yet come from a counter,
//! so creating a slab of any size costs O(1). A state word per slot catches
//! double frees and offsets that are not slot starts. Each attachment (each
//! [`Slab`]) claims an entry of a cache registry in the segment and keeps
//! a cache of free slots in its own memory, so the common alloc and free
//! write one shared word (the slot's state word) and need no atomic
//! read-modify-write. The state word of a live slot also keeps the size
//! its allocation asked for: checked reads and writes stop there
//! ([`Slab::requested_size`]).
//!
//! A slot belongs to the `Slab` that allocated it until it is freed or
//! shared (`share`, or `publish`, which shares); when the attachment ends,
//! its unshared slots are freed, by `Drop` when it runs and otherwise by
//! the next `reclaim_dead` once its process is gone ([`Slab`] has the
//! details).
//!
//! # Example
//! ```
//! use shm_layout::{AllocatorKind, LayoutSpec, SegmentView, ShmAllocator};
//! use sharena_slab::Slab;
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
//! let len = 64 * 4096;
//! let mut pages: Vec<Page> = (0..64).map(|_| Page([0; 4096])).collect();
//! let base = NonNull::new(pages.as_mut_ptr().cast::<u8>()).unwrap();
//!
//! // How many 64-byte slots fit, and how much state they need.
//! let (slots, state_len) = sharena_slab::slots_for_segment(64, len, 0).unwrap();
//! let mut params = [0; 8];
//! params[0] = 64; // slot size
//! let spec = LayoutSpec { kind: AllocatorKind::Slab, total_len: len, metadata_len: 0,
//!                         state_len, params };
//! // SAFETY: `pages` is 4096-aligned, `len` bytes, moves into `Mem` with the
//! // view (its heap buffer stays put), and nothing else initialises it.
//! let view = unsafe { SegmentView::initialize("<doc>", base, len, &spec, true, sharena_slab::init) }?;
//! let slab = Slab::attach(Mem { view, _pages: pages })?;
//! assert_eq!(slab.slot_count(), slots);
//!
//! let a = slab.alloc(40)?;            // any size up to the slot size
//! slab.write(a, b"hello, slab")?;
//! assert_eq!(slab.read(a, 11)?, b"hello, slab");
//! slab.free(a)?;
//! assert!(matches!(slab.free(a), Err(shm_layout::Error::DoubleFree { .. })));
//! # Ok::<(), shm_layout::Error>(())
//! ```
//!
//! # Safety and correctness
//! - Nothing read from the segment is trusted: every index taken from the
//!   stack head, a `next` link, the never-used counter or a cache array is
//!   bounds-checked and its slot's state checked before use; a bad value is
//!   [`shm_layout::Error::Corrupt`] naming the byte offset, never undefined
//!   behaviour, a panic or an endless loop.
//! - Every failed call leaves the slab as it was: bad alignment, zero or
//!   too-large size, an offset outside the slots or inside one, a slot that
//!   is not live ([`shm_layout::Error::DoubleFree`]).
//! - A double free is caught whenever the second free comes after the
//!   first. Two frees of one slot racing at the same instant (a
//!   use-after-free in the caller) are told apart only by the CAS paths:
//!   threads that bypass the cache, and every free of a slab created with
//!   `params[4]` bit 0 (`FLAG_STRICT_FREE`), which costs one
//!   uncontended CAS per free. Correct callers never get a slot twice.
//! - A process may die at any instruction: the others never wait for it
//!   (nothing shared is a lock), and `shm_layout::Recover::reclaim_dead`
//!   returns what it held (see the [`implementation`] notes).
//! - Slots have the alignment of their start: the largest power of two
//!   dividing the slot size and the pool offset (the pool is page-aligned),
//!   at most 4096; [`Slab::max_align`] says which.
//!
//! # Performance
//! The fast path of a thread that owns its `Slab`'s cache is plain loads and
//! stores on process-local memory plus one store of the slot's state word,
//! inlined into the caller: no atomic read-modify-write at all
//! (STRICT_FREE adds one uncontended CAS per free, on a slower path). The shared head is touched once per refill or flush of half a
//! cache (64 slots by default). Other threads sharing one `Slab` use the
//! shared stack directly (a CAS per free; their pops take turns through a
//! process-local lock, see [`Slab`]); they can see
//! `OutOfMemory` while the owner thread's cache still holds up to `K`
//! free slots ([`Slab::flush`] returns them). Attach a `Slab` per thread
//! for the fast path everywhere. `sharena bench --workload W2` measures it
//! beside the one-CAS Treiber baseline and the system allocator; the
//! figures are in `docs/BENCHMARKS.md`.
//!
//! [`implementation`] describes the algorithm, its linearization points and
//! memory orderings; `docs/FORMAT.md` the bytes.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs, missing_debug_implementations)]
// Loom builds compile only the lock-free cores that the models drive.
#![cfg_attr(shm_loom, allow(dead_code))]

// Internal but for the re-exports below (and the crash points, public
// only with the test-only `crash-hooks` feature).
#[cfg(not(shm_loom))]
mod alloc;
mod cache;
#[cfg(feature = "crash-hooks")]
pub mod crash;
#[cfg(not(feature = "crash-hooks"))]
mod crash;
pub mod implementation;
mod layout;
mod reclaim;
#[cfg(not(shm_loom))]
mod recover;
#[cfg(not(shm_loom))]
mod slab;
mod stack;
#[cfg(not(shm_loom))]
mod sweep;
mod word;

pub use layout::{slots_for_segment, state_len, Geometry};
#[cfg(not(shm_loom))]
pub use slab::{init, Slab};

/// The allocator kind recorded in the header of this allocator's segments.
pub const KIND: shm_layout::AllocatorKind = shm_layout::AllocatorKind::Slab;

#[cfg(all(test, shm_loom))]
mod loom_tests;
