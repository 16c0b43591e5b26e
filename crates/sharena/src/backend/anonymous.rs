//! Anonymous shared segments: a memfd mapped `MAP_SHARED`, so a `fork`ed
//! child shares the bytes (memmap2's `map_anon` is `MAP_PRIVATE`, which
//! would copy them on write).

use super::raw_span;
use shm_layout::{Error, Result};
use std::fs::File;
use std::ptr::NonNull;

pub(crate) const ANON_NAME: &str = "<anonymous>";

pub(crate) struct AnonMap {
    map: memmap2::MmapRaw,
    _file: File,
}

impl AnonMap {
    pub(crate) fn span(&self) -> (NonNull<u8>, u64) {
        raw_span(&self.map)
    }
}

pub(crate) fn create(size: u64) -> Result<AnonMap> {
    use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
    let fd = memfd_create(c"sharena", MemFdCreateFlag::MFD_CLOEXEC)
        .map_err(|e| Error::io(ANON_NAME, "memfd_create", e.into()))?;
    let file = File::from(fd);
    file.set_len(size)
        .map_err(|e| Error::io(ANON_NAME, "ftruncate", e))?;
    let map = memmap2::MmapRaw::map_raw(&file).map_err(|e| Error::io(ANON_NAME, "mmap", e))?;
    Ok(AnonMap { map, _file: file })
}
