//! A cursor: one file, at most one region in use, and a view into it starting at the
//! offset last asked for.

use std::fmt;
use std::fs::File;
use std::ops::Range;
use std::os::fd::RawFd;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result, Target};
use crate::hint::Hint;
use crate::manager::{Acquired, Manager, Request};
use crate::region::Region;
use crate::table::FileId;

/// A view of one file through its [`Manager`]: [`use_region`](Cursor::use_region) maps
/// (or reuses) a window containing an offset, and the cursor's bytes start at that
/// offset. The region stays mapped while the cursor uses it; the manager may unmap it
/// once the cursor moves on or drops.
///
/// Cursors come from [`Manager::cursor`] (a path) and [`Manager::cursor_fd`] (an open
/// descriptor); the bytes they hand out are subject to the manager's
/// [safety contract](Manager#safety-contract).
pub struct Cursor {
    manager: Manager,
    id: FileId,
    file: Arc<File>,
    target: Target,
    region: Option<Arc<Region>>,
    /// Offset of the first byte of the view (the offset last asked for).
    begin: u64,
    /// Bytes in the view.
    size: usize,
}

impl Cursor {
    pub(crate) fn new(manager: Manager, id: FileId, file: Arc<File>, target: Target) -> Cursor {
        Cursor {
            manager,
            id,
            file,
            target,
            region: None,
            begin: 0,
            size: 0,
        }
    }

    /// Makes the cursor's bytes start at `offset`, mapping a window if the region in use
    /// does not contain it, and returns them: `size` bytes, or fewer where the window or
    /// the file ends first (never 0).
    ///
    /// `size == 0` asks, as in smmap, for as much as the window allows: the bytes from
    /// `offset` to the end of the region that holds it. A new window for it is placed as
    /// for a request of [`window_size`](crate::Config::window_size) bytes from the page
    /// of `offset`, so it grows left only where the end of the file or the next region
    /// clips it; on a static manager it is the whole file.
    ///
    /// Fails, leaving the cursor without a region, for `size > isize::MAX`, an
    /// `offset + size` that overflows, an offset at or past the end of the file, or
    /// when the budgets leave no room.
    pub fn use_region(&mut self, offset: u64, size: usize) -> Result<&[u8]> {
        self.try_use_region(offset, size, true)?;
        Ok(self.bytes())
    }

    /// [`use_region`](Cursor::use_region) that, with `evict == false`, returns
    /// `Ok(false)` (and holds no region) where mapping would need an eviction.
    pub(crate) fn try_use_region(&mut self, offset: u64, size: usize, evict: bool) -> Result<bool> {
        if isize::try_from(size).is_err() {
            self.unuse_region();
            return Err(Error::SizeTooLarge { size });
        }
        // Where the view may end, and the end of the bytes a new window must cover.
        let (view_end, req_end) = if size == 0 {
            (u64::MAX, self.whole_window_end(offset))
        } else {
            let Some(req_end) = offset.checked_add(size as u64) else {
                self.unuse_region();
                return Err(Error::Overflow { offset, size });
            };
            (req_end, req_end)
        };
        if let Some(region) = &self.region {
            if region.contains(offset) {
                self.set_view(offset, view_end);
                return Ok(true);
            }
        }
        let previous = self.region.take();
        self.size = 0;
        let request = Request {
            offset,
            req_end,
            evict,
        };
        match self
            .manager
            .acquire(self.id, &self.target, previous, request)?
        {
            Acquired::Region(region) => {
                self.region = Some(region);
                self.set_view(offset, view_end);
                Ok(true)
            }
            Acquired::NoRoom => Ok(false),
        }
    }

    /// For `size == 0`: the end of a window of the configured size that starts at the
    /// page of `offset` (a request that covers it leaves no room to grow left), or
    /// `u64::MAX` for whole files.
    fn whole_window_end(&self, offset: u64) -> u64 {
        let window = self.manager.config().get_window_size();
        if window == 0 {
            return u64::MAX;
        }
        let page = self.manager.page_size();
        let start = offset & !(page - 1);
        // At least one page past the start, so the request holds `offset`.
        start.saturating_add(window.max(1).div_ceil(page).saturating_mul(page))
    }

    fn set_view(&mut self, offset: u64, req_end: u64) {
        let end = self
            .region
            .as_ref()
            .map_or(offset, |r| r.end().min(req_end));
        self.begin = offset;
        // The view lies inside a mapped region, so it fits in `usize`.
        self.size = (end - offset) as usize;
    }

    fn give_back(&self, region: Option<Arc<Region>>) {
        if let Some(region) = region {
            self.manager.release(self.id, region);
        }
    }

    /// Stops using the region, which the manager may then unmap. Does nothing without one.
    pub fn unuse_region(&mut self) {
        let region = self.region.take();
        self.size = 0;
        self.give_back(region);
    }

    /// Whether the cursor holds a region (after a successful `use_region`).
    pub fn has_region(&self) -> bool {
        self.region.is_some()
    }

    /// The bytes of the view: from the offset last asked for, [`size`](Cursor::size) of
    /// them. Empty without a region.
    pub fn bytes(&self) -> &[u8] {
        match &self.region {
            Some(region) => {
                let start = (self.begin - region.begin()) as usize;
                &region.bytes()[start..start + self.size]
            }
            None => &[],
        }
    }

    /// The bytes of the view, writable. Writes reach the file (and every other mapping of
    /// it) at once, and the disk after [`flush`](Cursor::flush) or in the kernel's time.
    ///
    /// Fails with [`Error::ReadOnly`] on a read-only manager, and with
    /// [`Error::RegionInUse`] while a [`Chunk`](crate::Chunk) of this region is alive.
    pub fn bytes_mut(&mut self) -> Result<&mut [u8]> {
        if !self.manager.config().is_writable() {
            return Err(Error::ReadOnly);
        }
        let Some(region) = &self.region else {
            return Ok(&mut []);
        };
        // The manager hands a writable region to one cursor at a time, so the region's
        // references are the manager's, ours, and any chunk made from this cursor's
        // buffer. Two means no chunk: nothing else can read these bytes. The count
        // cannot grow meanwhile: only the manager (refusing, we hold it) and our own
        // buffer (borrowed by `&mut self`) make new references.
        if Arc::strong_count(region) != 2 {
            return Err(Error::RegionInUse {
                begin: region.begin(),
                end: region.end(),
            });
        }
        // Pairs with the release decrement of the dropped chunks' `Arc`s: their reads of
        // the bytes happen before our writes.
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        let ptr = region.write_ptr().ok_or(Error::ReadOnly)?;
        let start = (self.begin - region.begin()) as usize;
        debug_assert!(start + self.size <= (region.end() - region.begin()) as usize);
        // SAFETY: `ptr` maps the region's bytes, writable, while `region` lives, which
        // the returned borrow of `self` ensures; `[start, start + size)` lies inside them
        // (the view is inside the region). As argued above, no other reference to these
        // bytes exists, and `&mut self` keeps this cursor from making one meanwhile.
        Ok(unsafe { std::slice::from_raw_parts_mut(ptr.add(start), self.size) })
    }

    /// Writes the view's bytes back to the file (`msync`). Fails on a read-only manager.
    pub fn flush(&self) -> Result<()> {
        if !self.manager.config().is_writable() {
            return Err(Error::ReadOnly);
        }
        match &self.region {
            Some(region) => region
                .flush((self.begin - region.begin()) as usize, self.size)
                .map_err(|source| self.io("flush", source)),
            None => Ok(()),
        }
    }

    /// Applies `hint` to the view's bytes with `madvise`.
    pub fn advise(&self, hint: Hint) -> Result<()> {
        match &self.region {
            Some(region) => region
                .advise(hint, (self.begin - region.begin()) as usize, self.size)
                .map_err(|source| self.io("madvise", source)),
            None => Ok(()),
        }
    }

    /// Offset of the view's first byte (the offset last asked for); 0 without a region.
    pub fn begin(&self) -> u64 {
        if self.region.is_some() {
            self.begin
        } else {
            0
        }
    }

    /// Offset one past the view's last byte; 0 without a region.
    pub fn end(&self) -> u64 {
        self.begin() + self.size as u64
    }

    /// Bytes in the view; 0 without a region.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether `offset` lies in the view.
    pub fn includes(&self, offset: u64) -> bool {
        self.region.is_some() && self.begin <= offset && offset < self.end()
    }

    /// The file offsets of the whole region in use (the window), if any.
    pub fn window(&self) -> Option<Range<u64>> {
        self.region.as_ref().map(|r| r.begin()..r.end())
    }

    /// The file's size now (one `fstat`; a file that grew is seen at its new size).
    pub fn file_size(&self) -> Result<u64> {
        self.file
            .metadata()
            .map(|m| m.len())
            .map_err(|source| self.io("stat", source))
    }

    /// The path the cursor was made from; [`Error::WrongHandleKind`] for a descriptor cursor.
    pub fn path(&self) -> Result<&Path> {
        match &self.target {
            Target::Path(p) => Ok(p),
            Target::Fd(_) => Err(Error::WrongHandleKind {
                asked: "path",
                target: self.target.clone(),
            }),
        }
    }

    /// The descriptor the cursor was made from; [`Error::WrongHandleKind`] for a path cursor.
    pub fn fd(&self) -> Result<RawFd> {
        match &self.target {
            Target::Fd(fd) => Ok(*fd),
            Target::Path(_) => Err(Error::WrongHandleKind {
                asked: "file descriptor",
                target: self.target.clone(),
            }),
        }
    }

    /// What the cursor was made from.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The manager the cursor maps through.
    pub fn manager(&self) -> &Manager {
        &self.manager
    }

    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// The region in use, if any.
    pub(crate) fn region(&self) -> Option<&Arc<Region>> {
        self.region.as_ref()
    }

    pub(crate) fn io(&self, op: &'static str, source: std::io::Error) -> Error {
        Error::Io {
            op,
            target: self.target.clone(),
            source,
        }
    }
}

impl Drop for Cursor {
    fn drop(&mut self) {
        self.manager.close_cursor(self.id, self.region.take());
    }
}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cursor")
            .field("target", &self.target)
            .field("window", &self.window())
            .field("begin", &self.begin())
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}
