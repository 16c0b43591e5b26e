//! The crate's one error type: every way a request can fail, each with its own variant.

use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::path::PathBuf;

/// What a cursor maps: a file named by a path, or an open file descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// A file opened by path.
    Path(PathBuf),
    /// A file given as an open descriptor (the number the caller passed in).
    Fd(RawFd),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Path(p) => write!(f, "file {}", p.display()),
            Target::Fd(fd) => write!(f, "file descriptor {fd}"),
        }
    }
}

/// Why a window request failed. Nothing stays mapped for a request that returns an error.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The path names no file.
    NotFound {
        /// The path that was asked for.
        path: PathBuf,
    },
    /// The path or descriptor names a directory, which cannot be mapped.
    IsADirectory {
        /// The directory.
        target: Target,
    },
    /// The file exists but is neither a regular file nor a directory (a pipe, socket, device).
    NotARegularFile {
        /// The file.
        target: Target,
    },
    /// The file cannot be opened with the access the manager needs.
    PermissionDenied {
        /// The file.
        path: PathBuf,
    },
    /// The requested offset is at or past the end of the file.
    OffsetPastEnd {
        /// The requested offset.
        offset: u64,
        /// The file's size when the request was made.
        file_size: u64,
    },
    /// The requested size is larger than any slice can be (`isize::MAX`).
    SizeTooLarge {
        /// The requested size.
        size: usize,
    },
    /// `offset + size` does not fit in a `u64`.
    Overflow {
        /// The requested offset.
        offset: u64,
        /// The requested size.
        size: usize,
    },
    /// The window does not fit in the memory budget, even after unmapping every
    /// region that no cursor uses.
    BudgetExhausted {
        /// Bytes (whole pages) the smallest window covering the request needs.
        needed: u64,
        /// Bytes mapped by regions that cursors still use, in whole pages
        /// ([`Stats::mapped_page_bytes`](crate::Stats::mapped_page_bytes)).
        mapped: u64,
        /// The memory budget.
        budget: u64,
    },
    /// One more mapping would pass the handle budget, and every mapped region is in use.
    FileBudgetExhausted {
        /// Regions mapped now, all in use.
        handles: usize,
        /// The handle budget.
        budget: usize,
    },
    /// A path cursor was asked for its descriptor, or a descriptor cursor for its path.
    WrongHandleKind {
        /// What was asked for: `"path"` or `"file descriptor"`.
        asked: &'static str,
        /// What the cursor was made from.
        target: Target,
    },
    /// A write or flush was asked of a read-only manager.
    ReadOnly,
    /// A writable region is held by another cursor; writable regions are never shared.
    RegionInUse {
        /// First byte of the region.
        begin: u64,
        /// One past its last byte.
        end: u64,
    },
    /// An index or range of a sliding buffer is past its end.
    OutOfRange {
        /// First byte asked for, relative to the buffer's start.
        start: u64,
        /// One past the last byte asked for.
        end: u64,
        /// The buffer's length.
        len: u64,
    },
    /// The operating system refused an operation.
    Io {
        /// What was being done, e.g. `"map"`, `"stat"`, `"flush"`.
        op: &'static str,
        /// The file concerned.
        target: Target,
        /// The system's error.
        source: io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound { path } => write!(f, "no such file: {}", path.display()),
            Error::IsADirectory { target } => {
                write!(
                    f,
                    "{target} is a directory; only regular files can be mapped"
                )
            }
            Error::NotARegularFile { target } => {
                write!(
                    f,
                    "{target} is not a regular file; only regular files can be mapped"
                )
            }
            Error::PermissionDenied { path } => {
                write!(f, "permission denied opening {}", path.display())
            }
            Error::OffsetPastEnd { offset, file_size } => write!(
                f,
                "offset {offset} is at or past the end of the file ({file_size} bytes)"
            ),
            Error::SizeTooLarge { size } => write!(
                f,
                "requested size {size} is larger than the largest possible slice ({})",
                isize::MAX
            ),
            Error::Overflow { offset, size } => {
                write!(
                    f,
                    "offset {offset} plus size {size} overflows a 64-bit offset"
                )
            }
            Error::BudgetExhausted {
                needed,
                mapped,
                budget,
            } => write!(
                f,
                "memory budget exhausted: the window needs {needed} bytes, {mapped} bytes are \
                 mapped by regions in use, and the budget is {budget} bytes"
            ),
            Error::FileBudgetExhausted { handles, budget } => write!(
                f,
                "handle budget exhausted: {handles} regions are mapped and in use, \
                 the budget is {budget}"
            ),
            Error::WrongHandleKind { asked, target } => {
                write!(
                    f,
                    "asked for a {asked}, but the cursor was made from {target}"
                )
            }
            Error::ReadOnly => write!(f, "the manager maps files read-only; open it read-write"),
            Error::RegionInUse { begin, end } => write!(
                f,
                "the writable region [{begin}, {end}) is held by another cursor"
            ),
            Error::OutOfRange { start, end, len } => write!(
                f,
                "range [{start}, {end}) is outside the buffer of {len} bytes"
            ),
            Error::Io { op, target, source } => write!(f, "{op} failed on {target}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
