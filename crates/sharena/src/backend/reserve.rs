//! Reserving a new segment's backing store, so that a segment the file
//! system cannot hold fails at create instead of raising `SIGBUS` at the
//! first write to a page that cannot be allocated.
//!
//! On tmpfs (`/dev/shm`) this allocates every page now: creating costs time
//! in proportion to the size and the memory is taken at once
//! (docs/BENCHMARKS.md has the figures). `SegmentOptions::reserve(false)`
//! keeps the old lazy behaviour for callers who accept the risk.

use nix::errno::Errno;
use shm_layout::{Error, Result};
use std::fs::File;
use std::os::fd::AsRawFd;

/// Reserves `size` bytes of `file` (already sized with `set_len`): refused
/// at once when the file system has fewer bytes free, so a reservation
/// that cannot succeed never fills it for a moment; otherwise
/// `posix_fallocate`, retried when a signal interrupts it.
pub(crate) fn reserve(segment: &str, file: &File, size: u64) -> Result<()> {
    let no_space = |available| Error::NoSpace {
        segment: segment.to_string(),
        size,
        available,
    };
    let free = available(segment, file)?;
    if size > free {
        return Err(no_space(free));
    }
    let len = i64::try_from(size).map_err(|_| no_space(free))?;
    loop {
        match nix::fcntl::posix_fallocate(file.as_raw_fd(), 0, len) {
            Ok(()) => return Ok(()),
            Err(Errno::EINTR) => {}
            Err(Errno::ENOSPC) => return Err(no_space(available(segment, file).unwrap_or(0))),
            Err(e) => {
                return Err(Error::io(
                    segment,
                    "reserving the backing store (posix_fallocate; reserve(false) skips it)",
                    e.into(),
                ))
            }
        }
    }
}

/// The bytes free to this process on `file`'s file system (the blocks
/// kept for root count when the process is root).
fn available(segment: &str, file: &File) -> Result<u64> {
    let st =
        nix::sys::statvfs::fstatvfs(file).map_err(|e| Error::io(segment, "fstatvfs", e.into()))?;
    let blocks = if nix::unistd::geteuid().is_root() {
        st.blocks_free()
    } else {
        st.blocks_available()
    };
    Ok(blocks.saturating_mul(st.fragment_size()))
}
