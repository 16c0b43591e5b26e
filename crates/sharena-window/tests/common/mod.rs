//! Helpers shared by the window tests: patterned temporary files removed on drop.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sharena_window::{Config, Manager};

/// The page size (windows align to it).
pub fn page() -> u64 {
    // SAFETY: a manager that maps nothing has no contract to keep.
    unsafe { Manager::new(Config::sliding()) }.page_size()
}

/// The byte at offset `i` of every patterned test file (docs/WORKLOADS.md, W5's pattern).
pub fn pattern(i: u64) -> u8 {
    ((i % 251 * 7 + 3) % 251) as u8
}

/// `len` pattern bytes from offset `from`.
pub fn pattern_bytes(from: u64, len: u64) -> Vec<u8> {
    (from..from + len).map(pattern).collect()
}

/// A temporary file (process id plus a counter), removed when dropped, even when the
/// test fails.
#[derive(Debug)]
pub struct TempFile {
    pub path: PathBuf,
}

impl TempFile {
    /// A fresh path, no file yet.
    pub fn path_only(tag: &str) -> TempFile {
        static NEXT: Mutex<u32> = Mutex::new(0);
        let n = {
            let mut next = NEXT
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *next += 1;
            *next
        };
        let path =
            std::env::temp_dir().join(format!("window-test-{tag}-{}-{n}", std::process::id()));
        TempFile { path }
    }

    /// A patterned file of `len` bytes.
    pub fn patterned(tag: &str, len: u64) -> TempFile {
        let f = TempFile::path_only(tag);
        fs::write(&f.path, pattern_bytes(0, len)).expect("write test file");
        f
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.path.is_dir() {
            let _ = fs::remove_dir(&self.path);
        } else {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A read-only manager.
pub fn manager(config: Config) -> Manager {
    // SAFETY: the tests' files are private temporary files; nothing truncates or
    // modifies them while mapped, except where a test does so on purpose and reads
    // nothing past the new end.
    unsafe { Manager::new(config) }
}
