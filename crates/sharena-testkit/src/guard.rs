//! Guards that clean up when dropped, also when a test panics: a named
//! segment unlinked, a file removed, a child process killed and reaped.

use crate::names::{unique_name, unique_path};
use std::path::{Path, PathBuf};

/// Unlinks a named segment when dropped.
///
/// ```
/// use sharena_testkit::ShmGuard;
/// let g = ShmGuard::new("doc");
/// sharena::Slab::create(g.name(), 1 << 20, 64).unwrap();
/// assert!(sharena_testkit::shm_exists(g.name()));
/// let name = g.name().to_string();
/// drop(g);
/// assert!(!sharena_testkit::shm_exists(&name));
/// ```
#[derive(Debug)]
pub struct ShmGuard(pub String);

impl ShmGuard {
    /// A guard for a fresh [`unique_name`].
    pub fn new(tag: &str) -> Self {
        ShmGuard(unique_name(tag))
    }

    /// The segment's name.
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl Drop for ShmGuard {
    fn drop(&mut self) {
        let _ = sharena::Segment::unlink(&self.0);
    }
}

/// Removes a file when dropped.
#[derive(Debug)]
pub struct TempPath(pub PathBuf);

impl TempPath {
    /// A guard for a fresh [`unique_path`] (no file is made).
    pub fn new(tag: &str) -> Self {
        TempPath(unique_path(tag))
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Cleans up whatever `target` names when dropped: a segment name
/// (`/name`, one slash) is unlinked, anything else is removed as a file.
#[derive(Debug)]
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if self.0.starts_with('/') && !self.0[1..].contains('/') {
            let _ = sharena::Segment::unlink(&self.0);
        } else {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::shm_exists;

    #[test]
    fn guards_clean_up_on_panic() {
        let name = unique_name("guard");
        let path = unique_path("guard");
        let (n, p) = (name.clone(), path.clone());
        let r = std::panic::catch_unwind(move || {
            let _g = ShmGuard(n.clone());
            let _f = TempPath(p.clone());
            sharena::Bump::create(&n, 1 << 20).unwrap();
            std::fs::write(&p, b"x").unwrap();
            assert!(shm_exists(&n) && p.exists());
            panic!("the test fails");
        });
        assert!(r.is_err());
        assert!(!shm_exists(&name), "{name} left behind");
        assert!(!path.exists(), "{} left behind", path.display());
        let name = unique_name("cleanup");
        sharena::Bump::create(&name, 1 << 20).unwrap();
        drop(Cleanup(name.clone()));
        assert!(!shm_exists(&name));
    }
}
