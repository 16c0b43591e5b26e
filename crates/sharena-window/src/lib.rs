//! Sliding-window mapping of files larger than memory or than an address-space budget.
//!
//! A [`Manager`] maps windows of files for [`Cursor`]s, keeps the bytes it maps within a
//! memory budget and the number of mappings within a handle budget, and unmaps the least
//! recently used window nobody uses when it needs room. A [`SlidingBuffer`] indexes a
//! whole file like one byte array on top of a cursor. This is the design of Python's
//! `smmap` (which GitPython uses for pack files), rebuilt over `memmap2`.
//!
//! ```
//! use sharena_window::{Config, Manager, SlidingBuffer};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let path = std::env::temp_dir().join(format!("window-doc-{}", std::process::id()));
//! std::fs::write(&path, (0..100_000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>())?;
//!
//! // SAFETY: nobody truncates or modifies the file while this manager maps it.
//! let manager = unsafe { Manager::new(Config::sliding().window_size(16 << 10)) };
//! let mut cursor = manager.cursor(&path)?;
//! let bytes = cursor.use_region(70_000, 100)?;
//! assert_eq!(bytes[0], (70_000 % 251) as u8);
//! assert_eq!(cursor.window(), Some(57_344..73_728)); // page-aligned, grown left first
//!
//! let mut buffer = SlidingBuffer::new(manager.cursor(&path)?, 1_000)?;
//! assert_eq!(buffer.get(0)?, (1_000 % 251) as u8); // relative to the buffer's start
//! assert_eq!(buffer.slice(60_000..80_000)?.len(), 20_000); // crosses windows
//! assert!(buffer.slice(5..5)?.is_empty());
//!
//! drop((cursor, buffer));
//! assert_eq!(manager.collect(), 3);
//! std::fs::remove_file(&path)?;
//! # Ok(())
//! # }
//! ```
//!
//! # Safety and correctness
//!
//! Handing out `&[u8]` over a file mapping is what memmap2's `Mmap` does, and carries
//! its caveat: **a file truncated or modified by another process (or by another mapping
//! in this one) while mapped is outside Rust's guarantees.** Bytes behind a borrowed
//! slice may change, and reading a page past a truncated end raises `SIGBUS`, which kills
//! the process. No library can check this. We make the caller promise it once per
//! manager: [`Manager::new`] is `unsafe` (see [its contract](Manager#safety-contract)),
//! and every later call (cursors, windows, buffers) is safe. We chose this over memmap2's
//! `unsafe` per mapping because every window of a manager would repeat the same promise
//! about the same files, and over a safe constructor because the obligation is real and
//! should be visible at the one place a program decides what it maps.
//!
//! Inside the process, writable windows stay sound by never being shared: a
//! read-write manager hands a region to one cursor at a time ([`Error::RegionInUse`]
//! otherwise), and [`Cursor::bytes_mut`] refuses while a [`Chunk`] of it lives.
//!
//! What we guarantee, and test against a model: windows are page aligned, contain the
//! requested offset, never overlap another region of the same file, and end at the end
//! of the file; the handle budget and the (default) hard memory budget are never
//! exceeded, bytes counted in whole pages; eviction is least recently *used*; the file
//! size is read afresh whenever a window is mapped; every bad input gets its own
//! [`Error`] variant and leaves nothing newly mapped.
//!
//! # Comparison with smmap
//!
//! Same model (sliding and static managers, cursors, a sliding buffer, budgets, `collect`)
//! and semantics (a request of size 0 takes as much as the window allows; a buffer needs
//! a byte to start at; `open_files` and `mapped_bytes` count what smmap's counters
//! count; a soft memory budget on request) without smmap's bugs: its "LRU" evicts by use
//! count, not recency; window size 0 maps the wrong part of the file; its limits are
//! exceeded by a page; it caches the file size for ever; its buffer ignores its own start
//! offset; an empty slice returns everything.
//! Beyond smmap: thread safety (`Send + Sync`), cursors over file descriptors, read-write
//! windows with flush, `madvise` hints, and zero-copy chunk iteration.
//!
//! # Performance
//!
//! A cursor reading inside its window takes no lock and makes no system call. Moving to
//! a region already mapped takes the manager's lock once (an index and a binary search
//! under it, no system call); mapping a new window adds an `fstat`, the `mmap`, and,
//! after the lock is released, an `munmap` if something was evicted. With 4 MiB windows
//! a 1 MiB chunked scan runs at whole-file-mapping speed; under [`Hint::Random`] a
//! [`SlidingBuffer::read_into`] that would have to evict reads with `pread` instead,
//! learning that without a system call. Measured figures are in `docs/WINDOW.md`.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs, missing_debug_implementations)]

mod buffer;
mod config;
mod cursor;
mod error;
mod geometry;
mod hint;
mod manager;
mod region;
mod table;

pub use buffer::{Chunk, Chunks, SlidingBuffer};
pub use config::{Config, Flavour, Stats, DEFAULT_MEMORY_BUDGET, DEFAULT_WINDOW_SIZE};
pub use cursor::Cursor;
pub use error::{Error, Result, Target};
pub use hint::Hint;
pub use manager::{Manager, RegionInfo};

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn shared_types_are_send_and_sync() {
        assert_send_sync::<Manager>();
        assert_send_sync::<Cursor>();
        assert_send_sync::<SlidingBuffer>();
        assert_send_sync::<Chunk>();
    }
}
