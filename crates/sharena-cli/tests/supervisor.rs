//! `sharena stress` killed from outside: once its workers have attached,
//! nothing of the run outlives it. The segment's name is unlinked as soon
//! as every worker has opened it, so a SIGKILL of the supervisor leaves
//! nothing in /dev/shm, and the workers die with it (`PR_SET_PDEATHSIG`);
//! a SIGHUP stops the run as Ctrl-C does (workers stopped, report
//! printed, exit status 1).

mod common;

use common::code;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The parent pid of `pid` from /proc (None once it is gone or reaped).
fn ppid_of(pid: u32) -> Option<(u32, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name's closing parenthesis: state, ppid.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    Some((f.next()?.parse().ok()?, state))
}

/// The children of `pid` (by a scan of /proc).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) {
            if ppid_of(p).is_some_and(|(pp, _)| pp == pid) {
                out.push(p);
            }
        }
    }
    out
}

/// The run's segments in /dev/shm (its names start with the supervisor's
/// pid).
fn segments_of(pid: u32) -> Vec<String> {
    let prefix = format!("sharena-stress-{pid}-");
    std::fs::read_dir("/dev/shm")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

fn until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts a handles run of three workers, waits until they run and the
/// name is gone; returns the supervisor and its workers.
fn started() -> (Child, Vec<u32>) {
    let child = Command::new(env!("CARGO_BIN_EXE_sharena"))
        .args([
            "stress", "--kind", "handles", "--procs", "3", "--secs", "60",
        ])
        .args(["--size", "8M", "--kill-every", "50", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sharena");
    let pid = child.id();
    let mut workers = Vec::new();
    until("three workers run", Duration::from_secs(20), || {
        workers = children(pid);
        workers.len() == 3
    });
    until(
        "the segment's name is unlinked",
        Duration::from_secs(20),
        || segments_of(pid).is_empty(),
    );
    // Let kills and replacements happen (replacements reattach through
    // the supervisor's mapping: the name is gone).
    std::thread::sleep(Duration::from_millis(400));
    workers = children(pid);
    assert!(!workers.is_empty(), "workers run");
    (child, workers)
}

/// No worker of the run is left running, nor a segment of it.
fn nothing_left(pid: u32, workers: &[u32]) {
    // Gone, or a zombie not yet reaped by whoever inherited it.
    until("every worker has ended", Duration::from_secs(20), || {
        workers.iter().all(|&w| {
            !Path::new(&format!("/proc/{w}")).exists()
                || ppid_of(w).is_none_or(|(_, state)| state == 'Z')
        })
    });
    assert_eq!(segments_of(pid), Vec::<String>::new(), "left in /dev/shm");
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) with a pid we spawned and have not reaped.
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0);
}

#[test]
fn a_sigkilled_supervisor_leaves_nothing() {
    let (mut child, workers) = started();
    let pid = child.id();
    signal(pid, libc::SIGKILL);
    let status = child.wait().expect("wait for sharena");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    nothing_left(pid, &workers);
}

#[test]
fn a_hung_up_supervisor_stops_the_run_and_leaves_nothing() {
    let (child, workers) = started();
    let pid = child.id();
    signal(pid, libc::SIGHUP);
    let o = child.wait_with_output().expect("wait for sharena");
    assert_eq!(code(&o), 1, "{o:?}");
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).expect("one report");
    assert_eq!(v["interrupted"], true, "{v}");
    assert_eq!(v["lost_bytes"], 0, "{v}");
    nothing_left(pid, &workers);
}
