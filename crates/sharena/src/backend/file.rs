//! File-backed segments: the heap persists; reopen the file next run and
//! find your data.
//!
//! Creating is exclusive (`O_CREAT | O_EXCL`, which never follows a link)
//! with mode 0600, then set with `fchmod` to exactly the mode asked for, as
//! the named backend does: the umask applies to neither. Opening uses
//! `O_NOFOLLOW` (a symbolic link as the last component is refused) and
//! `O_NONBLOCK` (a FIFO or device put in the file's place cannot block the
//! open), and checks type, owner and mode on the descriptor before mapping
//! (`trust.rs`). Every descriptor is `O_CLOEXEC`.

use super::raw_span;
use super::trust::{self, Trust};
use shm_layout::{Error, Result, HEADER_LEN};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

pub(crate) struct FileMap {
    map: memmap2::MmapRaw,
    _file: File,
    /// Set while creating: the file is removed if creation fails.
    remove_on_drop: Option<PathBuf>,
}

impl FileMap {
    pub(crate) fn span(&self) -> (NonNull<u8>, u64) {
        raw_span(&self.map)
    }

    pub(crate) fn keep(&mut self) {
        self.remove_on_drop = None;
    }
}

impl Drop for FileMap {
    fn drop(&mut self) {
        if let Some(p) = self.remove_on_drop.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

pub(crate) fn display(path: &Path) -> String {
    path.display().to_string()
}

/// Creates the file exclusively, sizes it, reserves its blocks (when
/// `reserve`) and maps it; a failure anywhere removes the file.
pub(crate) fn create(path: &Path, size: u64, mode: u32, reserve: bool) -> Result<FileMap> {
    use std::os::unix::fs::OpenOptionsExt;
    let name = display(path);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::io(&name, "create", e))?;
    // From here on a failure removes the file.
    let cleanup = RemoveGuard(Some(path.to_path_buf()));
    super::set_mode(&name, &file, mode)?;
    file.set_len(size)
        .map_err(|e| Error::io(&name, "set_len", e))?;
    if reserve {
        super::reserve::reserve(&name, &file, size)?;
    }
    let map = memmap2::MmapRaw::map_raw(&file).map_err(|e| Error::io(&name, "mmap", e))?;
    Ok(FileMap {
        map,
        _file: file,
        remove_on_drop: cleanup.disarm(),
    })
}

pub(crate) fn open(path: &Path, timeout: Duration, trust: Trust) -> Result<FileMap> {
    use std::os::unix::fs::OpenOptionsExt;
    let name = display(path);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| open_error(&name, path, e))?;
    let start = Instant::now();
    loop {
        let meta = file.metadata().map_err(|e| Error::io(&name, "stat", e))?;
        trust::check(&name, &meta, trust)?;
        if meta.len() >= HEADER_LEN {
            break;
        }
        if start.elapsed() >= timeout {
            return Err(Error::TooSmall {
                segment: name,
                len: meta.len(),
                min: HEADER_LEN,
            });
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let map = memmap2::MmapRaw::map_raw(&file).map_err(|e| Error::io(&name, "mmap", e))?;
    Ok(FileMap {
        map,
        _file: file,
        remove_on_drop: None,
    })
}

/// An `open` error: a link (`ELOOP` from `O_NOFOLLOW`) or a directory
/// (`EISDIR`) is [`Error::NotRegularFile`].
fn open_error(name: &str, path: &Path, e: std::io::Error) -> Error {
    let found = match e.raw_os_error() {
        Some(nix::libc::ELOOP) => std::fs::symlink_metadata(path)
            .ok()
            .and_then(|m| trust::not_regular(m.file_type())),
        Some(nix::libc::EISDIR) => Some("a directory"),
        _ => None,
    };
    match found {
        Some(found) => Error::NotRegularFile {
            segment: name.to_string(),
            found,
        },
        None => Error::io(name, "open", e),
    }
}

struct RemoveGuard(Option<PathBuf>);

impl RemoveGuard {
    fn disarm(mut self) -> Option<PathBuf> {
        self.0.take()
    }
}

impl Drop for RemoveGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}
