//! Support shared by the command's tests: unique names, cleanup guards,
//! running the binary, and reading its one-line outputs.
#![allow(dead_code, unused_imports)]

use std::process::{Command, Output};

pub use sharena_testkit::{unique_name as name, Cleanup};

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
