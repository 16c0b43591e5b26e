//! Names no other test, test process or run uses: the process id, a
//! counter, and a tag. Tests use [`unique_name`] (the
//! `/sharena-test-<pid>-<n>-<tag>` names `.ci/run` checks /dev/shm for);
//! the command's verbs pass their own prefix to [`unique_name_with`].

use shm_layout::sync::{AtomicU32, Ordering};
use std::path::PathBuf;

/// The prefix of every test segment's name (after the slash).
pub const TEST_PREFIX: &str = "sharena-test";

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn next() -> u32 {
    // Relaxed: a counter for unique names within this process only.
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// A segment name no other test (or test process) uses:
/// `/sharena-test-<pid>-<n>-<tag>`.
///
/// ```
/// let a = sharena_testkit::unique_name("slab");
/// let b = sharena_testkit::unique_name("slab");
/// assert!(a.starts_with(&format!("/sharena-test-{}-", std::process::id())));
/// assert!(a.ends_with("-slab"));
/// assert_ne!(a, b);
/// ```
pub fn unique_name(tag: &str) -> String {
    unique_name_with(TEST_PREFIX, tag)
}

/// `/<prefix>-<pid>-<n>-<tag>`: a unique name under another prefix (the
/// command's runs: `sharena-stress`, `sharena-bench`).
pub fn unique_name_with(prefix: &str, tag: &str) -> String {
    format!("/{prefix}-{}-{}-{tag}", std::process::id(), next())
}

/// A path in the temporary directory no other test uses:
/// `<tmp>/sharena-test-<pid>-<n>-<tag>` (nothing is created).
pub fn unique_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "{TEST_PREFIX}-{}-{}-{tag}",
        std::process::id(),
        next()
    ))
}

/// Whether the named segment exists (`/dev/shm/NAME`).
pub fn shm_exists(name: &str) -> bool {
    std::path::Path::new("/dev/shm")
        .join(name.trim_start_matches('/'))
        .exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_prefixed() {
        let pid = std::process::id();
        let a = unique_name("x");
        let b = unique_name_with("sharena-stress", "slab");
        assert!(a.starts_with(&format!("/sharena-test-{pid}-")), "{a}");
        assert!(b.starts_with(&format!("/sharena-stress-{pid}-")), "{b}");
        assert!(b.ends_with("-slab"));
        let p = unique_path("f");
        assert!(p.starts_with(std::env::temp_dir()));
        assert!(p
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(&format!("sharena-test-{pid}-")));
        assert_ne!(unique_name("x"), a);
    }
}
