//! Shared test support: unique names, guards that clean up even when a test
//! fails, and re-spawning this test binary as a child process.
#![allow(dead_code)]

use sharena::layout::sync::{AtomicU32, Ordering};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The env var that selects a child role when this binary is re-spawned.
pub const ROLE_VAR: &str = "SHARENA_TEST_CHILD_ROLE";

/// A name no other test (or test process) uses: pid plus a counter.
pub fn unique_name(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("/sharena-test-{}-{n}-{tag}", std::process::id())
}

/// Unlinks a named segment when dropped (also when the test panics).
pub struct ShmGuard(pub String);

impl ShmGuard {
    pub fn new(tag: &str) -> Self {
        ShmGuard(unique_name(tag))
    }
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl Drop for ShmGuard {
    fn drop(&mut self) {
        let _ = sharena::Segment::unlink(&self.0);
    }
}

/// A temp-file path removed when dropped.
pub struct TempPath(pub PathBuf);

impl TempPath {
    pub fn new(tag: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        TempPath(
            std::env::temp_dir().join(format!("sharena-test-{}-{n}-{tag}", std::process::id())),
        )
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Whether `/dev/shm/NAME` exists.
pub fn shm_exists(name: &str) -> bool {
    std::path::Path::new("/dev/shm").join(&name[1..]).exists()
}

/// Re-spawns this test binary running only `test` (a test that dispatches
/// on [`ROLE_VAR`]) with `role` and `args` in the environment.
pub fn spawn_child(test: &str, role: &str, args: &[(&str, &str)]) -> Child {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env(ROLE_VAR, role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in args {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn child")
}

/// The child role of this process, if it is a re-spawned child.
pub fn role() -> Option<String> {
    std::env::var(ROLE_VAR).ok()
}

/// Kills a child on drop (so a failing test leaves no process behind).
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Prefix of the lines a child sends its parent (libtest prints its own
/// lines on the same stdout).
pub const MSG: &str = "@@ ";

/// Sends one message line to the parent.
pub fn send(msg: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{MSG}{msg}").unwrap();
    out.flush().unwrap();
}

/// Reads the next message line from a child (empty string at end of file).
pub fn recv(from: &mut impl std::io::BufRead) -> String {
    loop {
        let mut line = String::new();
        if from.read_line(&mut line).unwrap() == 0 {
            return String::new();
        }
        if let Some(msg) = line.strip_prefix(MSG) {
            return msg.trim_end().to_string();
        }
    }
}

pub mod stamp;
