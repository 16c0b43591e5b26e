//! Finding sharena segments in `/dev/shm` by their magic.

use shm_layout::{AllocatorKind, Error, Header, InitState, Result, INIT_WORD_OFFSET, MAGIC};
use std::io::Read;

/// One sharena segment found by [`list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Its POSIX name (`/...`).
    pub name: String,
    /// Its size on the shm file system.
    pub size: u64,
    /// The allocator kind in its header (`None` if the value is unknown).
    pub kind: Option<AllocatorKind>,
    /// The header's layout version.
    pub layout_version: u32,
    /// The pid that created it.
    pub creator_pid: u32,
    /// Whether it was READY when read.
    pub ready: bool,
    /// The uid that owns the object (opening refuses another than the
    /// caller's unless asked: `OpenOptions::allow_foreign_owner`).
    pub owner_uid: u32,
    /// The object's permission bits.
    pub mode: u32,
}

/// Lists the sharena segments in `/dev/shm`, sorted by name: every regular
/// file whose first bytes are sharena's magic. Objects this user may not
/// read, links and names that are not UTF-8 are skipped. A name is as the
/// file system has it: any local user can create one holding control
/// characters, so escape it before printing it to a terminal.
///
/// ```
/// for seg in sharena::list()? {
///     println!("{} {} bytes", seg.name, seg.size);
/// }
/// # Ok::<(), sharena::Error>(())
/// ```
pub fn list() -> Result<Vec<SegmentInfo>> {
    let dir = std::fs::read_dir("/dev/shm").map_err(|e| Error::io("/dev/shm", "read_dir", e))?;
    let mut found = Vec::new();
    for entry in dir.flatten() {
        let Ok(ft) = entry.file_type() else { continue };
        if !ft.is_file() {
            continue;
        }
        let Some(fname) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if let Some(info) = probe(&entry.path(), &fname) {
            found.push(info);
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Reads the header of one object: opened with `O_NOFOLLOW` and
/// `O_NONBLOCK`, so a link or FIFO swapped in after `read_dir` neither
/// leads elsewhere nor blocks, and read only if `fstat` says it is a
/// regular file.
fn probe(path: &std::path::Path, fname: &str) -> Option<SegmentInfo> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    let meta = f.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let size = meta.len();
    let mut buf = [0u8; (INIT_WORD_OFFSET + 8) as usize];
    f.read_exact(&mut buf).ok()?;
    if buf[..8] != MAGIC {
        return None;
    }
    let header: Header = bytemuck::pod_read_unaligned(&buf[..core::mem::size_of::<Header>()]);
    let word_at = INIT_WORD_OFFSET as usize;
    let word = u64::from_ne_bytes(buf[word_at..word_at + 8].try_into().ok()?);
    Some(SegmentInfo {
        name: format!("/{fname}"),
        size,
        kind: AllocatorKind::from_raw(header.kind),
        layout_version: header.layout_version,
        creator_pid: header.creator_pid,
        ready: matches!(shm_layout::init::unpack(word), InitState::Ready { .. }),
        owner_uid: meta.uid(),
        mode: meta.mode() & 0o7777,
    })
}
