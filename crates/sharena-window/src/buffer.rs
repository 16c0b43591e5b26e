//! A sliding buffer: a whole file (from a start offset) indexed like one byte array,
//! with the windows moved underneath as needed.

use std::borrow::Cow;
use std::fmt;
use std::ops::{Deref, Range};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use crate::cursor::Cursor;
use crate::error::{Error, Result};
use crate::hint::Hint;
use crate::region::Region;

/// A file seen as one byte array from offset `start` to its end, through a [`Cursor`]
/// that slides its window as indices move. Every index and range is relative to
/// `start`. Ranges that cross windows are copied together; an empty range is empty.
///
/// The length is read when the buffer is made and read again whenever an access falls
/// past it, so a file that grew is seen at its new size ([`refresh`](SlidingBuffer::refresh)
/// rereads it on demand).
#[derive(Debug)]
pub struct SlidingBuffer {
    cursor: Cursor,
    start: u64,
    len: u64,
}

impl SlidingBuffer {
    /// A buffer over the cursor's file from `start` to the end. As smmap's, it refuses
    /// to start at or past the end of the file ([`Error::OffsetPastEnd`]), so an empty
    /// file has no buffer: a buffer has at least one byte when it is made.
    pub fn new(cursor: Cursor, start: u64) -> Result<SlidingBuffer> {
        let file_size = cursor.file_size()?;
        if start >= file_size {
            return Err(Error::OffsetPastEnd {
                offset: start,
                file_size,
            });
        }
        Ok(SlidingBuffer {
            cursor,
            start,
            len: file_size - start,
        })
    }

    /// Bytes from `start` to the end of the file, as last seen.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the buffer has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file offset of index 0.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Rereads the file size and returns the new length (0 if the file shrank below `start`).
    pub fn refresh(&mut self) -> Result<u64> {
        self.len = self.cursor.file_size()?.saturating_sub(self.start);
        Ok(self.len)
    }

    /// The cursor underneath.
    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }

    /// Gives back the cursor.
    pub fn into_cursor(self) -> Cursor {
        self.cursor
    }

    /// Checks `[start, end)` against the length, rereading it once if needed.
    fn check(&mut self, start: u64, end: u64) -> Result<()> {
        if start > end || (end > self.len && end > self.refresh()?) {
            return Err(Error::OutOfRange {
                start,
                end,
                len: self.len,
            });
        }
        Ok(())
    }

    /// The byte at `index`.
    pub fn get(&mut self, index: u64) -> Result<u8> {
        let Some(end) = index.checked_add(1) else {
            return Err(Error::OutOfRange {
                start: index,
                end: index,
                len: self.len,
            });
        };
        self.check(index, end)?;
        Ok(self.cursor.use_region(self.start + index, 1)?[0])
    }

    /// The bytes of `range`: borrowed from the mapping when one window holds them all,
    /// copied together when they cross windows. An empty range gives an empty slice.
    pub fn slice(&mut self, range: Range<u64>) -> Result<Cow<'_, [u8]>> {
        self.check(range.start, range.end)?;
        if range.is_empty() {
            return Ok(Cow::Borrowed(&[]));
        }
        let (at, n) = (self.start + range.start, range.end - range.start);
        let n_usize = usize::try_from(n).map_err(|_| Error::SizeTooLarge { size: usize::MAX })?;
        let in_view = |c: &Cursor| c.includes(at) && c.end() - at >= n;
        if !in_view(&self.cursor) {
            let cursor = &mut self.cursor;
            let covered = cursor.use_region(at, n_usize)?.len() == n_usize;
            if !covered {
                let mut out = vec![0; n_usize];
                self.read_into(range.start, &mut out)?;
                return Ok(Cow::Owned(out));
            }
        }
        let off = (at - self.cursor.begin()) as usize;
        Ok(Cow::Borrowed(&self.cursor.bytes()[off..off + n_usize]))
    }

    /// Copies the bytes from `index` into `out`, across windows as needed.
    ///
    /// Under [`Hint::Random`], a part that no mapped window holds, and that would need an
    /// eviction to map, is read with `pread` instead: a scattered small read then costs
    /// one system call rather than an `munmap`, an `mmap` and a page fault.
    pub fn read_into(&mut self, index: u64, out: &mut [u8]) -> Result<()> {
        let Some(end) = index.checked_add(out.len() as u64) else {
            return Err(Error::Overflow {
                offset: index,
                size: out.len(),
            });
        };
        self.check(index, end)?;
        let random = self.cursor.manager().config().get_hint() == Hint::Random;
        let mut done = 0;
        while done < out.len() {
            let at = self.start + index + done as u64;
            let want = out.len() - done;
            if !self.cursor.try_use_region(at, want, !random)? {
                self.cursor
                    .file()
                    .read_exact_at(&mut out[done..], at)
                    .map_err(|source| self.cursor.io("read", source))?;
                return Ok(());
            }
            // The view starts at `at` and holds at most `want` bytes.
            let bytes = self.cursor.bytes();
            let n = bytes.len();
            out[done..done + n].copy_from_slice(bytes);
            done += n;
        }
        Ok(())
    }

    /// The bytes from `index` to the end, as zero-copy [`Chunk`]s of at most `chunk_size`
    /// bytes that never cross a window (so some are shorter). `chunk_size` 0 yields nothing.
    pub fn chunks(&mut self, index: u64, chunk_size: usize) -> Chunks<'_> {
        Chunks {
            buffer: self,
            next: index,
            chunk_size,
            failed: false,
        }
    }
}

/// Iterator over a [`SlidingBuffer`]'s bytes in [`Chunk`]s; from [`SlidingBuffer::chunks`].
/// After an error it yields nothing more.
#[derive(Debug)]
pub struct Chunks<'a> {
    buffer: &'a mut SlidingBuffer,
    next: u64,
    chunk_size: usize,
    failed: bool,
}

impl Iterator for Chunks<'_> {
    type Item = Result<Chunk>;

    fn next(&mut self) -> Option<Result<Chunk>> {
        if self.failed || self.chunk_size == 0 || self.next >= self.buffer.len {
            return None;
        }
        let buffer = &mut *self.buffer;
        let at = buffer.start + self.next;
        let want = (buffer.len - self.next).min(self.chunk_size as u64) as usize;
        if let Err(e) = buffer.cursor.use_region(at, want) {
            self.failed = true;
            return Some(Err(e));
        }
        let region = Arc::clone(buffer.cursor.region()?);
        let start = (at - region.begin()) as usize;
        let len = (region.end() - at).min(want as u64) as usize;
        let chunk = Chunk {
            region,
            index: self.next,
            start,
            len,
        };
        self.next += len as u64;
        Some(Ok(chunk))
    }
}

/// Bytes of one window, kept mapped for as long as the chunk lives (it counts as a use
/// of the region). Dereferences to `[u8]`.
pub struct Chunk {
    region: Arc<Region>,
    /// Index of the first byte, relative to the buffer's start.
    index: u64,
    start: usize,
    len: usize,
}

impl Chunk {
    /// Index of the chunk's first byte in its buffer.
    pub fn index(&self) -> u64 {
        self.index
    }
}

impl Deref for Chunk {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.region.bytes()[self.start..self.start + self.len]
    }
}

impl fmt::Debug for Chunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chunk")
            .field("index", &self.index)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}
