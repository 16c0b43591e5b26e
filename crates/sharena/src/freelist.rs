//! [`FreeList`]: the general-purpose allocator on any backend.

use crate::handle::{self, SharedSegment};
use crate::options::SegmentOptions;
use shm_layout::{AllocatorKind, Error, Result};

/// A general-purpose, coalescing, lock-free allocator in a shared segment:
/// any size from 1 byte to the whole pool, individual free.
///
/// Every process attaches its own `FreeList` (by name, or
/// [`FreeList::reattach`] after `fork`); each thread that allocates through
/// it gets an arena of its own registered in the segment. The allocator
/// surface ([`ShmAllocator`](crate::ShmAllocator): `alloc`, `free`, `read`,
/// `write`, typed values) comes through `Deref`.
///
/// ```
/// use sharena::{FreeList, ShmAllocator};
/// let name = format!("/sharena-doc-freelist-{}", std::process::id());
/// let heap = FreeList::create(&name, 16 << 20)?;
/// let order = heap.alloc(300)?;
/// heap.write(order, b"order #42: 3 widgets")?;
/// assert_eq!(heap.read(order, 9)?, b"order #42");
/// heap.free(order)?;
/// assert!(heap.free(order).is_err()); // double free
/// let all = heap.alloc(heap.max_alloc())?; // everything coalesced
/// heap.free(all)?;
/// sharena::Segment::unlink(&name)?;
/// # Ok::<(), sharena::Error>(())
/// ```
#[derive(Debug)]
pub struct FreeList {
    inner: sharena_freelist::FreeList<SharedSegment>,
}

const KIND: AllocatorKind = AllocatorKind::FreeList;

impl FreeList {
    /// Segment options for a free list segment of `size` bytes.
    pub fn options(size: u64) -> Result<SegmentOptions> {
        let base = SegmentOptions::new(KIND, size);
        let (p, state_len) = sharena_freelist::for_segment(size, base.metadata_len(), 0).ok_or(
            Error::InvalidSize {
                segment: String::new(),
                size,
                reason: "too small for a free list (its state and one 4 KiB chunk)".into(),
            },
        )?;
        Ok(base
            .param(0, p[0])
            .param(1, p[1])
            .param(2, p[2])
            .state_len(state_len))
    }

    /// A new handle with its own arena on the same segment: what a `fork`ed
    /// child calls before allocating (the inherited handle's arenas belong
    /// to the parent).
    pub fn reattach(&self) -> Result<Self> {
        Self::wrap(self.inner.segment().clone())
    }
}

handle::sized_handle!(
    FreeList,
    sharena_freelist::FreeList<SharedSegment>,
    sharena_freelist::init,
    "free list"
);
