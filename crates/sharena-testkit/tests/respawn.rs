//! The re-spawn harness from the threaded libtest harness: a child in a
//! role with arguments, messages both ways, a bounded wait, and a child
//! killed by a signal told from one that exited.

use nix::sys::signal::Signal;
use sharena_testkit::harness::{child_args, recv, role, send, Exit, Spawn};
use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

/// The entry point of every child role; a no-op in the parent.
#[test]
fn child_entry() {
    let Some(role) = role() else { return };
    match role.as_str() {
        "echo" => {
            send(&child_args().join("|"));
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).unwrap();
            send(&format!("got {}", line.trim_end()));
        }
        "exit" => std::process::exit(child_args()[0].parse().unwrap()),
        "sleep" => {
            send("sleeping");
            std::thread::sleep(Duration::from_secs(600));
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn a_child_gets_its_role_and_arguments_and_talks_back() {
    let mut child = Spawn::test("child_entry", "echo")
        .args(["one", "two words", ""])
        .args(["4"])
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    assert_eq!(recv(&mut out), "one|two words||4");
    writeln!(child.0.stdin.take().unwrap(), "hello").unwrap();
    assert_eq!(recv(&mut out), "got hello");
    assert_eq!(
        child.wait_timeout(Duration::from_secs(60)).unwrap(),
        Some(Exit::Exited(0))
    );
}

#[test]
fn exit_statuses_and_signals_are_told_apart() {
    let mut child = Spawn::test("child_entry", "exit")
        .args(["7"])
        .spawn()
        .unwrap();
    let end = child.wait_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(end, Some(Exit::Exited(7)));
    assert!(!end.unwrap().success());

    let mut child = Spawn::test("child_entry", "sleep").spawn().unwrap();
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    assert_eq!(recv(&mut out), "sleeping");
    // A bounded wait comes back while the child still runs.
    let t = Instant::now();
    assert_eq!(child.wait_timeout(Duration::from_millis(50)).unwrap(), None);
    assert!(t.elapsed() < Duration::from_secs(5));
    child.kill();
    let end = child.wait().unwrap();
    assert!(end.killed_by(Signal::SIGKILL), "{end}");
    assert_eq!(end, Exit::Signaled(Signal::SIGKILL));
}

#[test]
fn a_dropped_guard_kills_its_child() {
    let mut child = Spawn::test("child_entry", "sleep").spawn().unwrap();
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    assert_eq!(recv(&mut out), "sleeping");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    drop(child);
    // Reaped: the pid is no longer this process's child.
    assert!(nix::sys::wait::waitpid(pid, None).is_err());
}
