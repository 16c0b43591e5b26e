//! What a worker does to blocks, whatever names them: [`Blocks`] is
//! allocate, free, reach the bytes, and the key of the block's entry in the
//! duplicate table. [`Offsets`] serves every [`ShmAllocator`] (a block is
//! its offset); [`Pinned`] serves the handle heap (a block is a
//! [`Handle`], reached through a pin, and may move between two accesses).

use crate::Tally;
use sharena::{Error, Handle, Handles, Offset, RegionId, Result, ShmAllocator};
use std::fmt::Debug;

/// One in this many churn steps of a handle heap's worker compacts (on top
/// of the compactions its allocations run when the heap is full).
const COMPACT_EVERY: u64 = 1 << 15;

/// The blocks of one allocator, as a worker uses them.
pub trait Blocks {
    /// What names a block.
    type Block: Copy + Debug;

    /// Allocates a block of `len` bytes.
    fn alloc(&self, len: u64) -> Result<Self::Block>;

    /// Frees a block.
    fn free(&self, b: Self::Block) -> Result<()>;

    /// The block's entry in the duplicate table: no two live blocks share
    /// one unless the allocator handed a block out twice.
    fn key(&self, b: Self::Block) -> Offset;

    /// Runs `f` with a pointer to the block's `len` bytes, checked to lie
    /// in the segment and to be 8-aligned, and kept in place for the call.
    fn with_bytes<R>(&self, b: Self::Block, len: u64, f: impl FnOnce(*mut u8) -> R) -> Result<R>;

    /// Bytes the allocator can hand out.
    fn capacity(&self) -> u64;

    /// Whether `e` only says "not now": the access or free waited out its
    /// bound for another process's work on the block, and may be retried.
    fn busy(_e: &Error) -> bool {
        false
    }

    /// Upkeep between churn steps; `step` counts this worker's steps from 1.
    fn tend(&self, _step: u64, _t: &mut Tally) {}
}

/// An 8-aligned pointer, or the error saying it is not.
fn aligned(p: *mut u8, at: u64) -> Result<*mut u8> {
    if p as usize % 8 == 0 {
        Ok(p)
    } else {
        Err(Error::InvalidOffset {
            offset: at,
            reason: "a block start that is not 8-aligned",
        })
    }
}

/// An offset allocator's blocks.
#[derive(Debug)]
pub struct Offsets<'a, A>(pub &'a A);

impl<A: ShmAllocator> Blocks for Offsets<'_, A> {
    type Block = Offset;

    fn alloc(&self, len: u64) -> Result<Offset> {
        self.0.alloc(len)
    }

    fn free(&self, at: Offset) -> Result<()> {
        self.0.free(at)
    }

    fn key(&self, at: Offset) -> Offset {
        at
    }

    fn with_bytes<R>(&self, at: Offset, len: u64, f: impl FnOnce(*mut u8) -> R) -> Result<R> {
        let p = self.0.view().ptr_in(RegionId::Pool, at, len)?.as_ptr();
        Ok(f(aligned(p, at.get())?))
    }

    fn capacity(&self) -> u64 {
        self.0.stats().capacity
    }
}

/// A handle heap's blocks.
///
/// The duplicate table is keyed by the handle's entry index, not by an
/// offset: a compaction moves blocks, so an offset claimed at allocation
/// may hold another live block later (the claim would fire on a sound
/// heap), while an entry index names one live allocation from `alloc` to
/// `free` (the generation tells reuses apart, and a claim is released
/// before the free that ends the generation). Two live handles whose bytes
/// overlap (a bad move, a reused range) show up as corruptions instead:
/// every block is stamped whole and checked whole, through a pin, after
/// any number of moves.
#[derive(Debug)]
pub struct Pinned<'a>(pub &'a Handles);

impl Blocks for Pinned<'_> {
    type Block = Handle;

    fn alloc(&self, len: u64) -> Result<Handle> {
        self.0.alloc(len)
    }

    fn free(&self, h: Handle) -> Result<()> {
        self.0.free(h)
    }

    fn key(&self, h: Handle) -> Offset {
        Offset::new(u64::from(h.index()))
    }

    fn with_bytes<R>(&self, h: Handle, len: u64, f: impl FnOnce(*mut u8) -> R) -> Result<R> {
        let pin = self.0.pin(h)?;
        let p = aligned(pin.ptr(0, len)?.as_ptr(), pin.offset().get())?;
        let r = f(p);
        drop(pin);
        Ok(r)
    }

    fn capacity(&self) -> u64 {
        self.0.stats().capacity
    }

    fn busy(e: &Error) -> bool {
        // A pin or free of the one block being moved waits for the move a
        // bounded time (a descheduled compactor can outlast it), then gives
        // up with this error and changes nothing.
        matches!(e, Error::Unsupported { op, .. } if op.contains("being moved"))
    }

    fn tend(&self, step: u64, t: &mut Tally) {
        if step % COMPACT_EVERY != 0 {
            return;
        }
        match self.0.compact() {
            // Another process compacting, or allocations in flight that
            // did not settle: the pass did not run, which is fine.
            Ok(r) if !r.complete => {}
            Ok(r) => {
                t.compactions += 1;
                t.moved += r.blocks_moved;
            }
            Err(_) => t.errors += 1,
        }
    }
}
