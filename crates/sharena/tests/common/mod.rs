//! Shared test support: unique names, guards that clean up even when a test
//! fails, and re-spawning this test binary as a child process.
#![allow(dead_code, unused_imports)]

use std::process::{Child, Command, Stdio};

pub use sharena_testkit::{shm_exists, unique_name, ShmGuard, TempPath};

/// The env var that selects a child role when this binary is re-spawned.
pub const ROLE_VAR: &str = "SHARENA_TEST_CHILD_ROLE";

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
