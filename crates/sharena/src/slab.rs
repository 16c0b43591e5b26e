//! [`Slab`]: the fixed-size slab allocator on any backend.

use crate::backend::CallerBuffer;
use crate::options::{OpenOptions, SegmentOptions};
use crate::segment::{Opened, Segment};
use shm_layout::{AllocatorKind, Error, Result, SegmentView};
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::Arc;

/// A segment shared by the allocator handles of one process.
#[derive(Clone, Debug)]
pub struct SharedSegment(pub Arc<Segment>);

impl AsRef<SegmentView> for SharedSegment {
    fn as_ref(&self) -> &SegmentView {
        self.0.view()
    }
}

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
    inner: slab::Slab<SharedSegment>,
}

impl Slab {
    /// Segment options for a slab of `size` bytes with `slot_size`-byte
    /// slots (at least 8, rounded up to 8).
    pub fn options(size: u64, slot_size: u64) -> Result<SegmentOptions> {
        let slot = slot_size.max(8).next_multiple_of(8);
        let base = SegmentOptions::new(AllocatorKind::Slab, size).param(0, slot);
        let (_, state_len) =
            slab::slots_for_segment(slot, size, base.metadata_len()).ok_or(Error::InvalidSize {
                segment: String::new(),
                size,
                reason: format!("not one {slot}-byte slot fits"),
            })?;
        Ok(base.state_len(state_len))
    }

    fn wrap(seg: Segment) -> Result<Self> {
        Ok(Slab {
            inner: slab::Slab::attach(SharedSegment(Arc::new(seg)))?,
        })
    }

    /// Creates a named slab segment of `size` bytes.
    pub fn create(name: &str, size: u64, slot_size: u64) -> Result<Self> {
        let opts = Self::options(size, slot_size).map_err(|e| named(e, name))?;
        Self::wrap(Segment::create_with(name, &opts, slab::init)?)
    }

    /// Creates a named slab with options made by [`Slab::options`] (and, say,
    /// a `mode`).
    pub fn create_with_options(name: &str, opts: &SegmentOptions) -> Result<Self> {
        Self::wrap(Segment::create_with(name, opts, slab::init)?)
    }

    /// Opens a named slab segment.
    pub fn open(name: &str) -> Result<Self> {
        Self::wrap(Segment::open(
            name,
            &OpenOptions::new().kind(AllocatorKind::Slab),
        )?)
    }

    /// Creates the named slab, or opens it if it exists.
    pub fn create_or_open(name: &str, size: u64, slot_size: u64) -> Result<(Self, Opened)> {
        let opts = Self::options(size, slot_size).map_err(|e| named(e, name))?;
        loop {
            match Segment::create_with(name, &opts, slab::init) {
                Ok(seg) => return Ok((Self::wrap(seg)?, Opened::Created)),
                Err(Error::AlreadyExists { .. }) => {}
                Err(e) => return Err(e),
            }
            match Self::open(name) {
                Ok(s) => return Ok((s, Opened::Existing)),
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// An anonymous slab shared with children forked after this call (each
    /// child calls [`Slab::reattach`]).
    pub fn anonymous(size: u64, slot_size: u64) -> Result<Self> {
        let opts = Self::options(size, slot_size)?;
        Self::wrap(Segment::anonymous_with(&opts, slab::init)?)
    }

    /// A file-backed slab at `path` (which must not exist).
    pub fn create_file(path: impl AsRef<Path>, size: u64, slot_size: u64) -> Result<Self> {
        let opts = Self::options(size, slot_size)?;
        Self::wrap(Segment::create_file_with(path, &opts, slab::init)?)
    }

    /// Opens a file-backed slab.
    pub fn open_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::wrap(Segment::open_file(
            path,
            &OpenOptions::new().kind(AllocatorKind::Slab),
        )?)
    }

    /// A slab over a caller's buffer (its whole usable length).
    pub fn in_buffer(buf: impl Into<CallerBuffer>, slot_size: u64) -> Result<Self> {
        let buf: CallerBuffer = buf.into();
        let opts = Self::options(buf.usable_len(), slot_size)?;
        Self::wrap(Segment::in_buffer_with(buf, &opts, slab::init)?)
    }

    /// A new handle with its own cache on the same segment: what a `fork`ed
    /// child calls before allocating (the inherited handle's cache belongs to
    /// the parent), or a second thread that wants a cache of its own.
    pub fn reattach(&self) -> Result<Self> {
        Ok(Slab {
            inner: slab::Slab::attach(self.inner.segment().clone())?,
        })
    }

    /// The segment.
    pub fn segment(&self) -> &Segment {
        &self.inner.segment().0
    }
}

fn named(e: Error, name: &str) -> Error {
    match e {
        Error::InvalidSize { size, reason, .. } => Error::InvalidSize {
            segment: name.to_string(),
            size,
            reason,
        },
        e => e,
    }
}

impl Deref for Slab {
    type Target = slab::Slab<SharedSegment>;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl DerefMut for Slab {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}
