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
/// **Who owns a block.** A block belongs to the handle that allocated it
/// until it is freed or shared ([`Recover::share`](crate::Recover::share),
/// or [`Named::publish`](crate::Named::publish), which shares). When the
/// handle ends, its unshared blocks are freed: by its `Drop` when that runs
/// (a normal return, a panic that unwinds), otherwise (`std::process::exit`,
/// an abort, `SIGKILL`) by the next `reclaim_dead()` once its process is
/// gone. Share what must outlive the handle that allocated it.
///
/// **After `fork`.** A child must attach its own handle
/// ([`FreeList::reattach`], or `open` by name): a handle inherited from the
/// parent returns [`Error::Forked`] from every call that would touch the
/// parent's arenas (`alloc`, `free`, `collect`, `reclaim_dead`), and its
/// `Drop` leaves the segment alone.
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
    /// child calls before allocating or freeing (the inherited handle's
    /// arenas belong to the parent, and it refuses with [`Error::Forked`]).
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
