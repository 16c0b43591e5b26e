//! Named POSIX segments, through the `shared_memory` crate.
//!
//! `shared_memory` creates with `O_CREAT | O_EXCL` and mode 0600, maps
//! `MAP_SHARED`, and unlinks on drop while it is the "owner". A sharena
//! segment outlives its creator, so ownership is dropped as soon as the
//! segment is READY; until then a failed create unlinks what it made.

use crate::name::dev_shm_path;
use shared_memory::{Shmem, ShmemConf, ShmemError};
use shm_layout::{Error, Result};
use std::io;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

pub(crate) struct NamedMap {
    shmem: Shmem,
}

impl NamedMap {
    pub(crate) fn span(&self) -> (NonNull<u8>, u64) {
        let p = NonNull::new(self.shmem.as_ptr()).unwrap_or(NonNull::dangling());
        (p, self.shmem.len() as u64)
    }

    /// Whether dropping this unlinks the name (true until READY).
    pub(crate) fn set_unlink_on_drop(&mut self, yes: bool) {
        self.shmem.set_owner(yes);
    }
}

fn shmem_error(name: &str, op: &'static str, e: ShmemError) -> Error {
    let errno = |n: u32| io::Error::from_raw_os_error(n as i32);
    match e {
        ShmemError::MappingIdExists => Error::AlreadyExists {
            segment: name.to_string(),
        },
        ShmemError::MapCreateFailed(n)
        | ShmemError::MapOpenFailed(n)
        | ShmemError::UnknownOsError(n) => Error::io(name, op, errno(n)),
        other => Error::Io {
            segment: name.to_string(),
            op,
            source: io::Error::other(other.to_string()),
        },
    }
}

/// Creates the object exclusively, sizes it and maps it. The returned map
/// unlinks on drop until told otherwise.
pub(crate) fn create(name: &str, size: u64, mode: u32) -> Result<NamedMap> {
    let len = usize::try_from(size).map_err(|_| Error::InvalidSize {
        segment: name.to_string(),
        size,
        reason: "larger than this platform's address space".into(),
    })?;
    let shmem = ShmemConf::new()
        .os_id(name)
        .size(len)
        .create()
        .map_err(|e| shmem_error(name, "create", e))?;
    let map = NamedMap { shmem };
    if mode != 0o600 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dev_shm_path(name), std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io(name, "chmod", e))?;
    }
    Ok(map)
}

/// Opens and maps an existing object, waiting (up to `timeout`) while it is
/// smaller than a header: its creator may not have sized it yet.
pub(crate) fn open(name: &str, timeout: Duration) -> Result<NamedMap> {
    let start = Instant::now();
    let path = dev_shm_path(name);
    loop {
        let len = std::fs::metadata(&path)
            .map_err(|e| Error::io(name, "stat", e))?
            .len();
        if len >= shm_layout::HEADER_LEN {
            break;
        }
        if start.elapsed() >= timeout {
            return Err(Error::TooSmall {
                segment: name.to_string(),
                len,
                min: shm_layout::HEADER_LEN,
            });
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let shmem = ShmemConf::new()
        .os_id(name)
        .open()
        .map_err(|e| shmem_error(name, "open", e))?;
    Ok(NamedMap { shmem })
}

/// Removes the name; mappings that exist stay valid until dropped.
pub(crate) fn unlink(name: &str) -> Result<()> {
    nix::sys::mman::shm_unlink(name).map_err(|e| Error::io(name, "shm_unlink", e.into()))
}
