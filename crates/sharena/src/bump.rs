//! [`Bump`]: the bump allocator on any backend.

use crate::handle::{self, SharedSegment};
use crate::options::SegmentOptions;
use shm_layout::{AllocatorKind, Result, SegmentView};

/// A lock-free bump arena in a shared segment: the fast path is a pointer
/// bump inside a chunk the thread reserved with one atomic operation.
///
/// `reset()` releases everything at once (offsets from before it are
/// reported stale by the checked API); `mark()`/`rewind()` give
/// request-scoped checkpoints; `free` is `Unsupported`. The allocator surface
/// ([`ShmAllocator`](crate::ShmAllocator)) comes through `Deref`.
///
/// ```
/// use sharena::{Bump, Error, ShmAllocator};
/// let name = format!("/sharena-doc-bump-{}", std::process::id());
/// let arena = Bump::create(&name, 4 << 20)?;
/// let greeting = arena.alloc(5)?;
/// arena.write(greeting, b"hello")?;
/// let mark = arena.mark()?;
/// let _scratch = arena.alloc_aligned(4096, 64)?;
/// arena.rewind(mark)?;                     // releases the scratch block
/// assert_eq!(arena.read(greeting, 5)?, b"hello");
/// arena.reset()?;                          // releases everything
/// assert!(matches!(arena.read(greeting, 5), Err(Error::Stale { .. })));
/// sharena::Segment::unlink(&name)?;
/// # Ok::<(), sharena::Error>(())
/// ```
#[derive(Debug)]
pub struct Bump {
    inner: sharena_bump::Bump<SharedSegment>,
}

const KIND: AllocatorKind = AllocatorKind::Bump;

fn init(view: &SegmentView) -> Result<()> {
    sharena_bump::Bump::<SharedSegment>::init(view)
}

impl Bump {
    /// Segment options for a bump arena of `size` bytes (64 KiB chunks).
    pub fn options(size: u64) -> Result<SegmentOptions> {
        Ok(SegmentOptions::new(KIND, size)
            .state_len(sharena_bump::Bump::<SharedSegment>::state_len()))
    }

    /// A new handle on the same segment, with no chunks reserved. A `fork`ed
    /// child must call this before allocating: the handle it inherited holds
    /// the parent's chunk, and allocating from it in two processes would
    /// hand out the same bytes twice, so it refuses every allocation (and
    /// `reset`, `mark`, `rewind`, `reclaim_dead`) with
    /// [`Error::Forked`](crate::Error::Forked).
    pub fn reattach(&self) -> Result<Self> {
        Self::wrap(self.inner.segment().clone())
    }
}

handle::sized_handle!(Bump, sharena_bump::Bump<SharedSegment>, init, "bump arena");
