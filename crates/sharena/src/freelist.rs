//! [`FreeList`]: the general-purpose allocator on any backend.

use crate::backend::CallerBuffer;
use crate::handle::{self, SharedSegment, Source};
use crate::options::SegmentOptions;
use crate::segment::{Opened, Segment};
use shm_layout::{AllocatorKind, Error, Result};
use std::ops::Deref;
use std::path::Path;

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
    inner: freelist::FreeList<SharedSegment>,
}

const KIND: AllocatorKind = AllocatorKind::FreeList;

impl FreeList {
    /// Segment options for a free list segment of `size` bytes.
    pub fn options(size: u64) -> Result<SegmentOptions> {
        let base = SegmentOptions::new(KIND, size);
        let (p, state_len) =
            freelist::for_segment(size, base.metadata_len(), 0).ok_or(Error::InvalidSize {
                segment: String::new(),
                size,
                reason: "too small for a free list (its state and one 4 KiB chunk)".into(),
            })?;
        Ok(base
            .param(0, p[0])
            .param(1, p[1])
            .param(2, p[2])
            .state_len(state_len))
    }

    fn wrap(seg: SharedSegment) -> Result<Self> {
        Ok(FreeList {
            inner: freelist::FreeList::attach(seg)?,
        })
    }

    fn make(src: Source<'_>, size: u64) -> Result<Self> {
        Self::wrap(handle::segment(
            src,
            KIND,
            &|| Self::options(size),
            freelist::init,
        )?)
    }

    /// Creates a named free list segment of `size` bytes.
    pub fn create(name: &str, size: u64) -> Result<Self> {
        Self::make(Source::Create(name), size)
    }

    /// Creates a named free list with options made by
    /// [`FreeList::options`] (and, say, a `mode`).
    pub fn create_with_options(name: &str, opts: &SegmentOptions) -> Result<Self> {
        let opts = opts.clone();
        Self::wrap(handle::segment(
            Source::Create(name),
            KIND,
            &|| Ok(opts.clone()),
            freelist::init,
        )?)
    }

    /// Opens a named free list segment.
    pub fn open(name: &str) -> Result<Self> {
        Self::make(Source::Open(name), 0)
    }

    /// Creates the named free list, or opens it if it exists.
    pub fn create_or_open(name: &str, size: u64) -> Result<(Self, Opened)> {
        let (seg, how) = handle::create_or_open(name, &|| Self::options(size), freelist::init)?;
        Ok((Self::wrap(seg)?, how))
    }

    /// An anonymous free list shared with children forked after this call
    /// (each child calls [`FreeList::reattach`]).
    pub fn anonymous(size: u64) -> Result<Self> {
        Self::make(Source::Anonymous, size)
    }

    /// A file-backed free list at `path` (which must not exist).
    pub fn create_file(path: impl AsRef<Path>, size: u64) -> Result<Self> {
        Self::make(Source::CreateFile(path.as_ref()), size)
    }

    /// Opens a file-backed free list.
    pub fn open_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::make(Source::OpenFile(path.as_ref()), 0)
    }

    /// A free list over a caller's buffer (its whole usable length), for
    /// the threads of one process.
    pub fn in_buffer(buf: impl Into<CallerBuffer>) -> Result<Self> {
        Self::wrap(handle::in_buffer(
            buf,
            &|len| Self::options(len),
            freelist::init,
        )?)
    }

    /// A new handle with its own arena on the same segment: what a `fork`ed
    /// child calls before allocating (the inherited handle's arenas belong
    /// to the parent).
    pub fn reattach(&self) -> Result<Self> {
        Self::wrap(self.inner.segment().clone())
    }

    /// The segment.
    pub fn segment(&self) -> &Segment {
        &self.inner.segment().0
    }
}

impl Deref for FreeList {
    type Target = freelist::FreeList<SharedSegment>;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}
