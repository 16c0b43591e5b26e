//! [`Slab`]: the fixed-size slab allocator on any backend.

use crate::handle::{self, SharedSegment};
use crate::options::SegmentOptions;
use shm_layout::{AllocatorKind, Error, Result};
use std::ops::DerefMut;

/// A lock-free slab of fixed-size slots in a shared segment.
///
/// Every process attaches its own `Slab` (by name, or [`Slab::reattach`]
/// after `fork`) and gets a cache of free slots registered in the segment.
/// The allocator surface ([`ShmAllocator`](crate::ShmAllocator): `alloc`,
/// `free`, `read`, `write`, typed values) comes through `Deref`.
///
/// A slot belongs to the `Slab` that allocated it until it is freed or
/// shared ([`Recover::share`](crate::Recover::share), or `publish`, which
/// shares). When the handle ends, its unshared slots are freed: by `Drop`
/// when it runs (a normal return, a panic that unwinds), otherwise
/// (`std::process::exit`, an abort, SIGKILL) by the next
/// [`reclaim_dead`](crate::Recover::reclaim_dead) once the process is gone.
/// Share what must outlive its handle. In a `fork` child an inherited
/// handle returns [`Error::Forked`] from every operation that would touch
/// the parent's cache, and dropping it touches nothing: call `reattach`.
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

    /// A new handle with its own cache on the same segment: what a `fork`ed
    /// child calls before allocating (the inherited handle's cache belongs to
    /// the parent), or a thread that wants a cache of its own. It is an
    /// attachment of its own: what it allocates and does not share is freed
    /// when it is dropped.
    pub fn reattach(&self) -> Result<Self> {
        Self::wrap(self.inner.segment().clone())
    }
}

handle::sized_handle!(
    Slab,
    sharena_slab::Slab<SharedSegment>,
    sharena_slab::init,
    "slab";
    " with `slot_size`-byte slots";
    slot_size: u64
);

impl DerefMut for Slab {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}
