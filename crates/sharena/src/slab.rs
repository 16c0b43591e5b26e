//! [`Slab`]: the fixed-size slab allocator on any backend.

use crate::backend::CallerBuffer;
use crate::handle::{self, SharedSegment, Source};
use crate::options::SegmentOptions;
use crate::segment::{Opened, Segment};
use shm_layout::{AllocatorKind, Error, Result};
use std::ops::{Deref, DerefMut};
use std::path::Path;

/// A lock-free slab of fixed-size slots in a shared segment.
///
/// Every process attaches its own `Slab` (by name, or [`Slab::reattach`]
/// after `fork`) and gets a cache of free slots registered in the segment.
/// The allocator surface ([`ShmAllocator`](crate::ShmAllocator): `alloc`,
/// `free`, `read`, `write`, typed values) comes through `Deref`.
///
/// ```
/// use sharena::{ShmAllocator, Slab};
/// let name = format!("/sharena-doc-slab-{}", std::process::id());
/// let slab = Slab::create(&name, 4 << 20, 64)?;
/// let at = slab.alloc(48)?;
/// slab.write(at, b"order #42")?;
/// assert_eq!(slab.read(at, 9)?, b"order #42");
/// slab.free(at)?;
/// assert!(slab.free(at).is_err()); // double free
/// sharena::Segment::unlink(&name)?;
/// # Ok::<(), sharena::Error>(())
/// ```
#[derive(Debug)]
pub struct Slab {
    inner: sharena_slab::Slab<SharedSegment>,
}

const KIND: AllocatorKind = AllocatorKind::Slab;

impl Slab {
    /// Segment options for a slab of `size` bytes with `slot_size`-byte
    /// slots (at least 8, rounded up to 8).
    pub fn options(size: u64, slot_size: u64) -> Result<SegmentOptions> {
        let slot = slot_size.max(8).next_multiple_of(8);
        let base = SegmentOptions::new(KIND, size).param(0, slot);
        let (_, state_len) = sharena_slab::slots_for_segment(slot, size, base.metadata_len())
            .ok_or(Error::InvalidSize {
                segment: String::new(),
                size,
                reason: format!("not one {slot}-byte slot fits"),
            })?;
        Ok(base.state_len(state_len))
    }

    fn wrap(seg: SharedSegment) -> Result<Self> {
        Ok(Slab {
            inner: sharena_slab::Slab::attach(seg)?,
        })
    }

    fn make(src: Source<'_>, size: u64, slot_size: u64) -> Result<Self> {
        Self::wrap(handle::segment(
            src,
            KIND,
            &|| Self::options(size, slot_size),
            sharena_slab::init,
        )?)
    }

    /// Creates a named slab segment of `size` bytes.
    pub fn create(name: &str, size: u64, slot_size: u64) -> Result<Self> {
        Self::make(Source::Create(name), size, slot_size)
    }

    /// Creates a named slab with options made by [`Slab::options`] (and, say,
    /// a `mode`).
    pub fn create_with_options(name: &str, opts: &SegmentOptions) -> Result<Self> {
        let opts = opts.clone();
        Self::wrap(handle::segment(
            Source::Create(name),
            KIND,
            &|| Ok(opts.clone()),
            sharena_slab::init,
        )?)
    }

    /// Opens a named slab segment.
    pub fn open(name: &str) -> Result<Self> {
        Self::make(Source::Open(name), 0, 0)
    }

    /// Creates the named slab, or opens it if it exists.
    pub fn create_or_open(name: &str, size: u64, slot_size: u64) -> Result<(Self, Opened)> {
        let (seg, how) =
            handle::create_or_open(name, &|| Self::options(size, slot_size), sharena_slab::init)?;
        Ok((Self::wrap(seg)?, how))
    }

    /// An anonymous slab shared with children forked after this call (each
    /// child calls [`Slab::reattach`]).
    pub fn anonymous(size: u64, slot_size: u64) -> Result<Self> {
        Self::make(Source::Anonymous, size, slot_size)
    }

    /// A file-backed slab at `path` (which must not exist).
    pub fn create_file(path: impl AsRef<Path>, size: u64, slot_size: u64) -> Result<Self> {
        Self::make(Source::CreateFile(path.as_ref()), size, slot_size)
    }

    /// Opens a file-backed slab.
    pub fn open_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::make(Source::OpenFile(path.as_ref()), 0, 0)
    }

    /// A slab over a caller's buffer (its whole usable length).
    pub fn in_buffer(buf: impl Into<CallerBuffer>, slot_size: u64) -> Result<Self> {
        Self::wrap(handle::in_buffer(
            buf,
            &|len| Self::options(len, slot_size),
            sharena_slab::init,
        )?)
    }

    /// A new handle with its own cache on the same segment: what a `fork`ed
    /// child calls before allocating (the inherited handle's cache belongs to
    /// the parent), or a thread that wants a cache of its own.
    pub fn reattach(&self) -> Result<Self> {
        Self::wrap(self.inner.segment().clone())
    }

    /// The segment.
    pub fn segment(&self) -> &Segment {
        &self.inner.segment().0
    }
}

impl Deref for Slab {
    type Target = sharena_slab::Slab<SharedSegment>;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl DerefMut for Slab {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}
