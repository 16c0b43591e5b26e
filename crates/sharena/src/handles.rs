//! [`Handles`]: the compacting handle heap on any backend.

use crate::handle::{self, SharedSegment};
use crate::options::SegmentOptions;
use shm_layout::{AllocatorKind, Result};

pub use sharena_handles::{CompactReport, Handle, Pin};

/// A heap whose allocations are reached through [`Handle`]s (index plus
/// generation) and can be compacted: `compact()` slides unpinned blocks
/// together and reports what it moved; a [`Pin`] keeps a block in place
/// while it is read or written. A stale handle is an error, never another
/// block. The allocator surface (`alloc`, `free`, `pin`, `read`, `write`,
/// `size_of`, `usable_size`, `compact`, `set_auto_compact`, `stats`, and
/// `Recover`) comes through `Deref`. Checked reads and writes stop at the
/// size asked for (`size_of`); `usable_size` is that size rounded up to 8,
/// what the zero-copy `Pin::ptr` may reach. With auto-compaction on, an
/// allocation compacts only if that can make room for it.
///
/// **Who owns what.** Each `Handles` is one attachment (one of the heap's
/// 64 seats). A block belongs to the attachment that allocated it until it
/// is freed or shared (`share_handle`, or [`Handles::publish_handle`],
/// which shares). When the attachment ends, its unshared blocks are freed:
/// by `Drop` when it runs (a normal return, a panic that unwinds),
/// otherwise (`std::process::exit`, abort, SIGKILL) by the next
/// `reclaim_dead()` once its process is gone, which also releases every
/// pin the attachment held, so compaction can move those blocks again.
///
/// **fork.** A `Handles` inherited through `fork` is the parent's: in the
/// child, `alloc`, `free`, `pin`, `read`, `write`, `compact` and
/// `reclaim_dead` return [`Error::Forked`](crate::Error::Forked) and its
/// `Drop` touches nothing. The child calls [`Handles::reattach`].
///
/// ```
/// use sharena::Handles;
/// let name = format!("/sharena-doc-handles-{}", std::process::id());
/// let heap = Handles::create(&name, 1 << 20)?;
/// let a = heap.alloc(100)?;
/// let b = heap.alloc(100)?;
/// assert_eq!(heap.usable_size(b)?, 104);
/// assert!(heap.write(b, &[0; 101]).is_err()); // past the 100 asked for
/// heap.write(b, b"still here")?;
/// heap.free(a)?;
/// let moved = heap.compact()?;            // b slides into a's place
/// assert_eq!(moved.blocks_moved, 1);
/// assert_eq!(heap.read(b, 10)?, b"still here");
/// assert!(heap.read(a, 1).is_err());      // a is stale
/// sharena::Segment::unlink(&name)?;
/// # Ok::<(), sharena::Error>(())
/// ```
#[derive(Debug)]
pub struct Handles {
    inner: sharena_handles::Handles<SharedSegment>,
}

const KIND: AllocatorKind = AllocatorKind::Handles;

impl Handles {
    /// Segment options for a handle heap of `size` bytes, with one handle
    /// entry per 256 bytes (64 to 2^24).
    pub fn options(size: u64) -> Result<SegmentOptions> {
        Self::options_with_handles(size, sharena_handles::default_handles(size))
    }

    /// Segment options for a handle heap of `size` bytes with room for
    /// `max_handles` live handles.
    pub fn options_with_handles(size: u64, max_handles: u64) -> Result<SegmentOptions> {
        Ok(SegmentOptions::new(KIND, size)
            .param(0, max_handles)
            .state_len(sharena_handles::state_len(max_handles)))
    }

    /// A new attachment to the same segment (its own seat and
    /// process-table entry): what a `fork`ed child calls before it uses the
    /// heap, so what it allocates and pins is recorded as its own. Works in
    /// the child on a handle inherited from the parent.
    pub fn reattach(&self) -> Result<Self> {
        Self::wrap(self.inner.segment().clone())
    }
}

handle::sized_handle!(
    Handles,
    sharena_handles::Handles<SharedSegment>,
    sharena_handles::init,
    "handle heap"
);
