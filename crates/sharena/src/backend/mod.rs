//! The four places a segment's bytes can live. Each backend only maps
//! memory; the open protocol and validation are `shm-layout`'s.

pub(crate) mod anonymous;
pub(crate) mod buffer;
pub(crate) mod file;
pub(crate) mod named;
pub(crate) mod reserve;
pub(crate) mod trust;

pub use buffer::{AlignedBuffer, CallerBuffer};

use shm_layout::{Error, Result};
use std::fs::File;
use std::ptr::NonNull;

/// Which backend holds a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// A named POSIX shared-memory object (`/dev/shm`).
    Named,
    /// An anonymous shared mapping (a memfd), inherited across `fork`.
    Anonymous,
    /// A memory-mapped file; the heap persists across runs.
    File,
    /// A caller's buffer, shared by the threads of one process.
    Buffer,
}

/// The mapping a segment owns; dropping it unmaps.
pub(crate) enum Mapping {
    Named(named::NamedMap),
    Anonymous(anonymous::AnonMap),
    File(file::FileMap),
    Buffer(CallerBuffer),
}

// Every backend's mapping is Send + Sync (`MmapRaw` and `File` are, and
// `CallerBuffer` says why it is), so `Segment` is without an `unsafe impl`.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Mapping>();
};

impl Mapping {
    pub(crate) fn kind(&self) -> BackendKind {
        match self {
            Mapping::Named(_) => BackendKind::Named,
            Mapping::Anonymous(_) => BackendKind::Anonymous,
            Mapping::File(_) => BackendKind::File,
            Mapping::Buffer(_) => BackendKind::Buffer,
        }
    }

    /// Base and length of the mapped bytes (128-byte aligned base).
    pub(crate) fn span(&self) -> (NonNull<u8>, u64) {
        match self {
            Mapping::Named(m) => m.span(),
            Mapping::Anonymous(m) => m.span(),
            Mapping::File(m) => m.span(),
            Mapping::Buffer(b) => b.span(),
        }
    }
}

/// Base pointer of a `memmap2::MmapRaw` (never null: a mapping of length 0
/// is refused before mapping).
pub(crate) fn raw_span(map: &memmap2::MmapRaw) -> (NonNull<u8>, u64) {
    let p = NonNull::new(map.as_mut_ptr()).unwrap_or(NonNull::dangling());
    (p, map.len() as u64)
}

/// Sets a new object's permission bits to exactly `mode` with `fchmod` on
/// its descriptor (the object just made, whatever its name points at by
/// now): creation used 0600, narrowed by the umask, and the umask does not
/// apply to `fchmod`.
pub(crate) fn set_mode(segment: &str, file: &File, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(segment, "fchmod", e))
}
