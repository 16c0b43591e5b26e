//! Shared test support, from the testkit: unique names, guards that clean
//! up even when a test fails, and re-spawning this test binary as a child
//! process.
#![allow(dead_code, unused_imports)]

pub use sharena_testkit::harness::{recv, role, send, ChildGuard, ROLE_VAR};
pub use sharena_testkit::{shm_exists, unique_name, ShmGuard, TempPath};

/// Re-spawns this test binary running only `test` (a test that dispatches
/// on [`role`]) with `role` and `env` in the environment.
pub fn spawn_child(test: &str, role: &str, env: &[(&str, &str)]) -> ChildGuard {
    let mut spawn = sharena_testkit::harness::Spawn::test(test, role);
    for (k, v) in env {
        spawn = spawn.env(k, v);
    }
    spawn.spawn().expect("spawn child")
}
