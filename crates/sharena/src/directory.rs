//! The named directory on every segment and allocator handle: publish a
//! block under a name, look it up from another process.

use crate::{Bump, FreeList, Handles, Segment, Slab};
use shm_layout::{DirEntry, Directory, Offset, Recover, Result, SegmentView, TypedOffset};

/// `publish`, `lookup`, `unpublish` and `directory` on a segment or an
/// allocator handle: lock-free, names of 1 to 64 bytes of UTF-8, a taken
/// name is [`Error::NameTaken`](crate::Error::NameTaken). On an allocator, `publish` also
/// shares the block (`Recover::share`), so `reclaim_dead` never frees it
/// when its allocating process dies.
///
/// ```
/// use sharena::{FreeList, Named, ShmAllocator};
/// let name = format!("/sharena-doc-named-{}", std::process::id());
/// let heap = FreeList::create(&name, 16 << 20)?;
/// let at = heap.alloc_value(&42u64)?;
/// heap.publish_typed("answer", at)?;
/// assert!(heap.publish_typed("answer", at).is_err()); // taken
/// let found = heap.lookup_typed::<u64>("answer")?.unwrap();
/// assert_eq!(heap.read_value(found)?, 42);
/// heap.unpublish("answer")?;
/// assert_eq!(heap.lookup("answer")?, None);
/// sharena::Segment::unlink(&name)?;
/// # Ok::<(), sharena::Error>(())
/// ```
pub trait Named {
    /// The segment the directory lives in.
    fn directory_view(&self) -> &SegmentView;

    /// Marks the block shared before it is published (allocators); the
    /// default does nothing (a bare segment).
    fn share_published(&self, _offset: Offset) -> Result<()> {
        Ok(())
    }

    /// Publishes `offset` under `name`, sharing the block first (as
    /// [`Handles::publish_handle`] does): a process killed between the two
    /// steps leaves a shared block nobody names (kept until freed), never a
    /// name for a block `reclaim_dead` may free. A block stays shared when
    /// the name turns out to be taken.
    fn publish(&self, name: impl AsRef<[u8]>, offset: Offset) -> Result<()> {
        let dir = Directory::of(self.directory_view())?;
        self.share_published(offset)?;
        dir.publish(name.as_ref(), offset.get())
    }

    /// Publishes a typed offset under `name`.
    fn publish_typed<T>(&self, name: impl AsRef<[u8]>, at: TypedOffset<T>) -> Result<()> {
        self.publish(name, at.offset())
    }

    /// The offset published under `name`, if any.
    fn lookup(&self, name: impl AsRef<[u8]>) -> Result<Option<Offset>> {
        Ok(Directory::of(self.directory_view())?
            .lookup(name.as_ref())?
            .map(Offset::new))
    }

    /// The typed offset published under `name`, if any (the type is the
    /// caller's promise, checked for alignment when the value is read).
    fn lookup_typed<T>(&self, name: impl AsRef<[u8]>) -> Result<Option<TypedOffset<T>>> {
        Ok(self.lookup(name)?.map(TypedOffset::new))
    }

    /// Removes `name`, returning what it named ([`Error::NameNotFound`](crate::Error::NameNotFound) if
    /// nothing). The block stays shared and allocated.
    fn unpublish(&self, name: impl AsRef<[u8]>) -> Result<Offset> {
        Directory::of(self.directory_view())?
            .unpublish(name.as_ref())
            .map(Offset::new)
    }

    /// Every published name, in directory order.
    fn directory(&self) -> Result<Vec<DirEntry>> {
        Directory::of(self.directory_view())?.entries()
    }
}

impl Named for Segment {
    fn directory_view(&self) -> &SegmentView {
        self.view()
    }
}

macro_rules! named_allocator {
    ($($ty:ty),*) => {$(
        impl Named for $ty {
            fn directory_view(&self) -> &SegmentView {
                self.segment().view()
            }
            fn share_published(&self, offset: Offset) -> Result<()> {
                Recover::share(&**self, offset)
            }
        }
    )*};
}

named_allocator!(Bump, FreeList, Slab);

/// A handle heap's blocks move when it compacts, so it publishes
/// handles: [`Handles::publish_handle`] and [`Handles::lookup_handle`].
/// Its [`Named::publish`] takes the offset of a live block (shared, so its
/// handle survives its process), which is only stable while pinned.
impl Named for Handles {
    fn directory_view(&self) -> &SegmentView {
        self.segment().view()
    }
    fn share_published(&self, offset: Offset) -> Result<()> {
        Recover::share(&**self, offset)
    }
}

impl Handles {
    /// Publishes `handle` under `name`, sharing it first (so it outlives
    /// the attachment that allocated it): a process killed between the two
    /// steps leaves a shared block nobody names, never a name for a block
    /// its `Drop` or a `reclaim_dead` frees. The block stays shared when
    /// the name is taken, and when it is unpublished.
    pub fn publish_handle(&self, name: impl AsRef<[u8]>, handle: crate::Handle) -> Result<()> {
        let dir = Directory::of(self.directory_view())?;
        self.share_handle(handle)?;
        dir.publish(name.as_ref(), handle.raw())
    }

    /// The handle published under `name`, if any (validated when used: a
    /// handle freed since is [`Error::Stale`](crate::Error::Stale), never
    /// another block).
    pub fn lookup_handle(&self, name: impl AsRef<[u8]>) -> Result<Option<crate::Handle>> {
        Ok(Directory::of(self.directory_view())?
            .lookup(name.as_ref())?
            .map(crate::Handle::from_raw))
    }
}
