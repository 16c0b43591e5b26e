//! The fork helpers, from a single-threaded `main` (`harness = false`):
//! statuses, panics, signals, bounded waits, peeking without reaping, and
//! the guard that kills what is left.

use nix::sys::signal::Signal;
use sharena_testkit::harness::{
    fork_child, has_ended, kill, try_wait, wait, wait_timeout, Exit, Forked,
};
use sharena_testkit::TempPath;
use std::time::{Duration, Instant};

fn forked(body: impl FnOnce() -> i32) -> nix::unistd::Pid {
    // SAFETY: this test's `main` is single-threaded (harness = false).
    unsafe { fork_child(body) }.expect("fork")
}

fn main() {
    // A status comes back; a panic is 101.
    assert_eq!(wait(forked(|| 3)), Exit::Exited(3));
    let panics = forked(|| {
        std::panic::set_hook(Box::new(|_| {}));
        panic!("in the child")
    });
    assert_eq!(wait(panics), Exit::Exited(101));
    assert!(wait(forked(|| 0)).success());

    // A bounded wait returns while the child runs; a SIGKILL shows.
    let pid = forked(|| {
        std::thread::sleep(Duration::from_secs(600));
        0
    });
    let t = Instant::now();
    assert_eq!(wait_timeout(pid, Duration::from_millis(50)), None);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(try_wait(pid), None);
    assert!(!has_ended(pid));
    kill(pid, Signal::SIGKILL);
    while !has_ended(pid) {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Peeking did not reap it.
    let end = wait_timeout(pid, Duration::from_secs(10)).expect("ended");
    assert!(end.killed_by(Signal::SIGKILL), "{end}");
    assert_eq!(wait(pid), Exit::Lost, "reaped once only");

    // The child never returns into the caller's code, so it never runs
    // the parent's guards.
    struct Touch(std::path::PathBuf);
    impl Drop for Touch {
        fn drop(&mut self) {
            let _ = std::fs::write(&self.0, b"dropped");
        }
    }
    let marker = TempPath::new("fork-guard");
    let touch = Touch(marker.0.clone());
    assert_eq!(wait(forked(|| 0)), Exit::Exited(0));
    assert!(!marker.0.exists(), "the child ran the parent's guard");
    std::mem::forget(touch);

    // The guard kills and reaps on drop.
    let mut fleet = Forked::default();
    for _ in 0..3 {
        fleet.0.push(forked(|| {
            std::thread::sleep(Duration::from_secs(600));
            0
        }));
    }
    let pids = fleet.0.clone();
    drop(fleet);
    for pid in pids {
        assert_eq!(try_wait(pid), Some(Exit::Lost), "{pid} was reaped");
    }
    println!("1 passed, 0 failed");
}
