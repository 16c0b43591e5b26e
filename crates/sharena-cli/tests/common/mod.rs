//! Support shared by the command's tests: unique names, cleanup guards,
//! running the binary, and reading its one-line outputs.
#![allow(dead_code)]

use sharena::layout::sync::{AtomicU32, Ordering};
use std::process::{Command, Output};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A segment name no other test (or test process) uses, with the prefix
/// `.ci/run` checks /dev/shm for.
pub fn name(tag: &str) -> String {
    // Relaxed: a counter for unique names within this process.
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("/sharena-test-{}-{n}-{tag}", std::process::id())
}

/// Unlinks a segment (or removes a file) on drop, also when a test fails.
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

/// Runs the `sharena` binary with `args`.
pub fn sharena(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sharena"))
        .args(args)
        .output()
        .expect("run sharena")
}

/// The exit status.
pub fn code(o: &Output) -> i32 {
    o.status.code().expect("an exit status")
}

/// stderr, asserted to be one line.
pub fn stderr_line(o: &Output) -> String {
    let s = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(s.trim_end().lines().count(), 1, "not one line: {s:?}");
    s
}

/// stdout, asserted to be one JSON object.
pub fn json(o: &Output) -> serde_json::Value {
    let s = String::from_utf8_lossy(&o.stdout);
    assert_eq!(s.trim_end().lines().count(), 1, "not one object: {s}");
    serde_json::from_str(&s).expect("valid JSON")
}
