//! What opening a segment trusts: the object's owner and who else may
//! write it, read with `fstat` on the open descriptor before anything is
//! mapped.
//!
//! A segment's bytes are validated wherever they are read, but validation
//! cannot stop a writer from reading what a process publishes, or from
//! shrinking the object under its mapping (`SIGBUS`). So an opener maps
//! only objects its own effective uid owns and no one else may write,
//! unless it says otherwise ([`OpenOptions`](crate::OpenOptions)).

use shm_layout::{Error, Result};
use std::fs::{FileType, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};

/// The write bits of group and others.
pub(crate) const SHARED_WRITE: u32 = 0o022;

/// What an opener accepts beyond objects of its own that only it may
/// write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Trust {
    /// Accept an object another uid owns.
    pub(crate) foreign_owner: bool,
    /// The write bits (of [`SHARED_WRITE`]) accepted in the object's mode.
    pub(crate) shared_write: u32,
}

/// Checks `meta` (the `fstat` of the descriptor about to be mapped): a
/// regular file, owned by this process's effective uid, writable by no one
/// else, unless `trust` accepts it.
pub(crate) fn check(segment: &str, meta: &Metadata, trust: Trust) -> Result<()> {
    if let Some(found) = not_regular(meta.file_type()) {
        return Err(Error::NotRegularFile {
            segment: segment.to_string(),
            found,
        });
    }
    let mode = meta.mode() & 0o7777;
    let owner_uid = meta.uid();
    let euid = nix::unistd::geteuid().as_raw();
    if owner_uid != euid && !trust.foreign_owner {
        return Err(Error::ForeignOwner {
            segment: segment.to_string(),
            owner_uid,
            euid,
            mode,
        });
    }
    if mode & SHARED_WRITE & !trust.shared_write != 0 {
        return Err(Error::WritableByOthers {
            segment: segment.to_string(),
            owner_uid,
            mode,
        });
    }
    Ok(())
}

/// What a file type is, in words, when it is not a regular file.
pub(crate) fn not_regular(ft: FileType) -> Option<&'static str> {
    Some(if ft.is_file() {
        return None;
    } else if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_block_device() || ft.is_char_device() {
        "a device"
    } else {
        "not a file"
    })
}
