//! Named POSIX segments: `shm_open` (through `nix`) and a `MAP_SHARED`
//! mapping (through `memmap2`), as the anonymous backend maps its memfd.
//!
//! Creating is exclusive (`O_CREAT | O_EXCL`) with mode 0600, then set with
//! `fchmod` to exactly the mode asked for (the umask does not apply).
//! Its pages are reserved before it is mapped (`reserve.rs`). Opening
//! checks the object's owner and mode on the descriptor before mapping it
//! (`trust.rs`). Every descriptor is `O_CLOEXEC`, and glibc's
//! `shm_open` adds `O_NOFOLLOW`. A sharena segment outlives its creator, so
//! the name is unlinked on drop only until the segment is READY: a failed
//! create removes what it made.

use super::raw_span;
use super::trust::{self, Trust};
use nix::fcntl::OFlag;
use nix::sys::mman::shm_open;
use nix::sys::stat::Mode;
use shm_layout::{Error, Result, HEADER_LEN};
use std::fs::File;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

pub(crate) struct NamedMap {
    map: memmap2::MmapRaw,
    _file: File,
    unlink: UnlinkGuard,
}

impl NamedMap {
    pub(crate) fn span(&self) -> (NonNull<u8>, u64) {
        raw_span(&self.map)
    }

    /// Whether dropping this unlinks the name (true until READY).
    pub(crate) fn set_unlink_on_drop(&mut self, yes: bool) {
        self.unlink.armed = yes;
    }
}

/// Unlinks the name on drop while armed.
struct UnlinkGuard {
    name: String,
    armed: bool,
}

impl Drop for UnlinkGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = nix::sys::mman::shm_unlink(self.name.as_str());
        }
    }
}

fn too_large(name: &str, size: u64) -> Error {
    Error::InvalidSize {
        segment: name.to_string(),
        size,
        reason: "larger than this platform's address space".into(),
    }
}

/// Creates the object exclusively, sizes it, reserves its pages (when
/// `reserve`) and maps it. The returned map unlinks on drop until told
/// otherwise, so a failure anywhere leaves no name behind.
pub(crate) fn create(name: &str, size: u64, mode: u32, reserve: bool) -> Result<NamedMap> {
    usize::try_from(size).map_err(|_| too_large(name, size))?;
    if size == 0 {
        return Err(Error::InvalidSize {
            segment: name.to_string(),
            size,
            reason: "a mapping cannot be empty".into(),
        });
    }
    let fd = shm_open(
        name,
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR | OFlag::O_CLOEXEC,
        Mode::S_IRUSR | Mode::S_IWUSR,
    )
    .map_err(|e| Error::io(name, "create", e.into()))?;
    let file = File::from(fd);
    // From here on a failure unlinks the name.
    let unlink = UnlinkGuard {
        name: name.to_string(),
        armed: true,
    };
    file.set_len(size)
        .map_err(|e| Error::io(name, "ftruncate", e))?;
    super::set_mode(name, &file, mode)?;
    if reserve {
        super::reserve::reserve(name, &file, size)?;
    }
    let map = memmap2::MmapRaw::map_raw(&file).map_err(|e| Error::io(name, "mmap", e))?;
    Ok(NamedMap {
        map,
        _file: file,
        unlink,
    })
}

/// Opens and maps an existing object, waiting (up to `timeout`) while it is
/// smaller than a header: its creator may not have sized it yet. The name is
/// opened again on every try, so one unlinked meanwhile is `NotFound`. Each
/// try checks the object's type, owner and mode against `trust` first.
pub(crate) fn open(name: &str, timeout: Duration, trust: Trust) -> Result<NamedMap> {
    let start = Instant::now();
    let (file, len) = loop {
        let fd = shm_open(name, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty()).map_err(|e| {
            // glibc opens with O_NOFOLLOW: a link under the name is ELOOP.
            if e == nix::errno::Errno::ELOOP {
                Error::NotRegularFile {
                    segment: name.to_string(),
                    found: "a symbolic link",
                }
            } else {
                Error::io(name, "open", e.into())
            }
        })?;
        let file = File::from(fd);
        let meta = file.metadata().map_err(|e| Error::io(name, "stat", e))?;
        trust::check(name, &meta, trust)?;
        let len = meta.len();
        if len >= HEADER_LEN {
            break (file, len);
        }
        if start.elapsed() >= timeout {
            return Err(Error::TooSmall {
                segment: name.to_string(),
                len,
                min: HEADER_LEN,
            });
        }
        drop(file);
        std::thread::sleep(Duration::from_micros(200));
    };
    // The object's size as `fstat` gave it, which the header check saw.
    let map_len = usize::try_from(len).map_err(|_| too_large(name, len))?;
    let map = memmap2::MmapOptions::new()
        .len(map_len)
        .map_raw(&file)
        .map_err(|e| Error::io(name, "mmap", e))?;
    Ok(NamedMap {
        map,
        _file: file,
        unlink: UnlinkGuard {
            name: name.to_string(),
            armed: false,
        },
    })
}

/// Removes the name; mappings that exist stay valid until dropped.
pub(crate) fn unlink(name: &str) -> Result<()> {
    nix::sys::mman::shm_unlink(name).map_err(|e| Error::io(name, "shm_unlink", e.into()))
}
