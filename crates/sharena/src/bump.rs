//! [`Bump`]: the bump allocator on any backend.

use crate::backend::CallerBuffer;
use crate::handle::{self, SharedSegment, Source};
use crate::options::SegmentOptions;
use crate::segment::{Opened, Segment};
use shm_layout::{AllocatorKind, Result, SegmentView};
use std::ops::Deref;
use std::path::Path;

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
    inner: bump::Bump<SharedSegment>,
}

const KIND: AllocatorKind = AllocatorKind::Bump;

fn init(view: &SegmentView) -> Result<()> {
    bump::Bump::<SharedSegment>::init(view)
}

impl Bump {
    /// Segment options for a bump arena of `size` bytes (64 KiB chunks).
    pub fn options(size: u64) -> Result<SegmentOptions> {
        Ok(SegmentOptions::new(KIND, size).state_len(bump::Bump::<SharedSegment>::state_len()))
    }

    fn wrap(seg: SharedSegment) -> Result<Self> {
        Ok(Bump {
            inner: bump::Bump::attach(seg)?,
        })
    }

    fn make(src: Source<'_>, size: u64) -> Result<Self> {
        Self::wrap(handle::segment(src, KIND, &|| Self::options(size), init)?)
    }

    /// Creates a named bump segment of `size` bytes.
    pub fn create(name: &str, size: u64) -> Result<Self> {
        Self::make(Source::Create(name), size)
    }

    /// Creates a named bump segment with options made by [`Bump::options`].
    pub fn create_with_options(name: &str, opts: &SegmentOptions) -> Result<Self> {
        let opts = opts.clone();
        Self::wrap(handle::segment(
            Source::Create(name),
            KIND,
            &|| Ok(opts.clone()),
            init,
        )?)
    }

    /// Opens a named bump segment.
    pub fn open(name: &str) -> Result<Self> {
        Self::make(Source::Open(name), 0)
    }

    /// Creates the named arena, or opens it if it exists.
    pub fn create_or_open(name: &str, size: u64) -> Result<(Self, Opened)> {
        let (seg, how) = handle::create_or_open(name, &|| Self::options(size), init)?;
        Ok((Self::wrap(seg)?, how))
    }

    /// An anonymous arena shared with children forked after this call (each
    /// child calls [`Bump::reattach`]).
    pub fn anonymous(size: u64) -> Result<Self> {
        Self::make(Source::Anonymous, size)
    }

    /// A file-backed arena at `path` (which must not exist).
    pub fn create_file(path: impl AsRef<Path>, size: u64) -> Result<Self> {
        Self::make(Source::CreateFile(path.as_ref()), size)
    }

    /// Opens a file-backed arena.
    pub fn open_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::make(Source::OpenFile(path.as_ref()), 0)
    }

    /// An arena over a caller's buffer (its whole usable length).
    pub fn in_buffer(buf: impl Into<CallerBuffer>) -> Result<Self> {
        Self::wrap(handle::in_buffer(buf, &Self::options, init)?)
    }

    /// A new handle on the same segment, with no chunks reserved. A `fork`ed
    /// child must call this before allocating: the handle it inherited holds
    /// the parent's chunk, and allocating from it in two processes would
    /// hand out the same bytes twice.
    pub fn reattach(&self) -> Result<Self> {
        Self::wrap(self.inner.segment().clone())
    }

    /// The segment.
    pub fn segment(&self) -> &Segment {
        &self.inner.segment().0
    }
}

impl Deref for Bump {
    type Target = bump::Bump<SharedSegment>;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}
