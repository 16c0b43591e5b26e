//! One mapped window of one file. Dropping a `Region` unmaps it.
//!
//! Regions are shared as `Arc<Region>`: the manager holds one reference for as long as
//! the window stays mapped, and each cursor (or [`Chunk`](crate::Chunk)) using it holds
//! another. A region whose only reference is the manager's is *unreferenced* and may be
//! unmapped to make room.

use std::fs::File;
use std::io;

use memmap2::{Mmap, MmapOptions, MmapRaw};

use crate::hint::Hint;

/// The mapping behind a region.
#[derive(Debug)]
enum Map {
    /// A read-only mapping; its bytes are only ever read.
    Read(Mmap),
    /// A shared read-write mapping. Its bytes are written only through
    /// `Cursor::bytes_mut`, which holds the region alone (see `Region::bytes_mut`).
    Write(MmapRaw),
}

/// A mapped window `[begin, end)` of a file.
#[derive(Debug)]
pub(crate) struct Region {
    begin: u64,
    end: u64,
    map: Map,
}

impl Region {
    /// Maps `[begin, end)` of `file`, read-only or read-write, and applies `hint`.
    ///
    /// # Safety
    ///
    /// The caller upholds the contract of [`Manager::new`](crate::Manager::new) for
    /// `file`: nobody truncates it or writes the mapped bytes behind this crate's back
    /// while the region is mapped.
    pub(crate) unsafe fn map(
        file: &File,
        begin: u64,
        end: u64,
        writable: bool,
        hint: Hint,
    ) -> io::Result<Region> {
        debug_assert!(begin < end);
        let len = usize::try_from(end - begin)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "window too large"))?;
        let mut options = MmapOptions::new();
        options.offset(begin).len(len);
        let map = if writable {
            Map::Write(options.map_raw(file)?)
        } else {
            // SAFETY: the caller promises (this function's contract, which is the
            // manager's) that the file is not truncated or modified while mapped.
            Map::Read(unsafe { options.map(file)? })
        };
        let region = Region { begin, end, map };
        if hint != Hint::Normal {
            region.advise(hint, 0, len)?;
        }
        Ok(region)
    }

    /// First file offset the region maps.
    #[inline]
    pub(crate) fn begin(&self) -> u64 {
        self.begin
    }

    /// One past the last file offset the region maps.
    #[inline]
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// Whether the region maps file offset `offset`.
    #[inline]
    pub(crate) fn contains(&self, offset: u64) -> bool {
        self.begin <= offset && offset < self.end
    }

    /// Whether the region is mapped read-write.
    #[inline]
    pub(crate) fn is_writable(&self) -> bool {
        matches!(self.map, Map::Write(_))
    }

    /// The region's bytes, `end - begin` of them.
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        match &self.map {
            Map::Read(m) => m,
            Map::Write(m) => {
                // SAFETY: `m` maps `m.len()` readable bytes for as long as `self` lives.
                // Writes happen only through `bytes_mut`, whose caller holds the region
                // alone and exclusively borrowed, so no write overlaps this borrow
                // (beyond the file contract of `Manager::new`).
                unsafe { std::slice::from_raw_parts(m.as_ptr(), m.len()) }
            }
        }
    }

    /// Start of the region's bytes for writing, or `None` for a read-only region. The
    /// pointer is valid for `end - begin` bytes while the region lives; who may write
    /// through it is [`Cursor::bytes_mut`](crate::Cursor::bytes_mut)'s business.
    #[inline]
    pub(crate) fn write_ptr(&self) -> Option<*mut u8> {
        match &self.map {
            Map::Read(_) => None,
            Map::Write(m) => Some(m.as_mut_ptr()),
        }
    }

    /// Applies `hint` to `len` bytes starting `offset` bytes into the region.
    pub(crate) fn advise(&self, hint: Hint, offset: usize, len: usize) -> io::Result<()> {
        match &self.map {
            Map::Read(m) => m.advise_range(hint.advice(), offset, len),
            Map::Write(m) => m.advise_range(hint.advice(), offset, len),
        }
    }

    /// Writes `len` bytes starting `offset` bytes into the region back to the file.
    /// A read-only region has nothing to write back.
    pub(crate) fn flush(&self, offset: usize, len: usize) -> io::Result<()> {
        match &self.map {
            Map::Read(_) => Ok(()),
            Map::Write(m) => m.flush_range(offset, len),
        }
    }
}
