//! `sharena stress` (README.md, "The `sharena` command"): the JSON keys, clean runs of every
//! kind (handles with blocks verified after compactions moved them), kills
//! reclaimed with nothing lost, exit status 1 on Ctrl-C, exit status 2 on
//! bad usage, and no segment left in /dev/shm.

mod common;

use common::{code, sharena, stderr_line};

use std::process::{Command, Output, Stdio};
use std::time::Duration;

const KEYS: [&str; 12] = [
    "kind",
    "procs",
    "secs",
    "ops",
    "ops_per_sec",
    "verified_bytes",
    "corruptions",
    "duplicates",
    "killed",
    "lost_bytes",
    "reclaim",
    "check_problems",
];

/// The one JSON object on stdout, with every contract key, and its
/// segment gone from /dev/shm.
fn report(o: &Output) -> serde_json::Value {
    let s = String::from_utf8_lossy(&o.stdout);
    assert_eq!(s.trim_end().lines().count(), 1, "not one object: {s}");
    let v: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
    for k in KEYS {
        assert!(v.get(k).is_some(), "key {k} missing: {v}");
    }
    let seg = v["segment"].as_str().expect("segment name");
    assert!(
        !std::path::Path::new(&format!("/dev/shm{seg}")).exists(),
        "{seg} left in /dev/shm"
    );
    v
}

fn n(v: &serde_json::Value, k: &str) -> u64 {
    v[k].as_u64()
        .unwrap_or_else(|| panic!("{k} is not a count: {v}"))
}

fn assert_clean(o: &Output, kind: &str) -> serde_json::Value {
    assert_eq!(code(o), 0, "{o:?}");
    let v = report(o);
    assert_eq!(v["kind"], kind);
    assert_eq!(n(&v, "procs"), 2);
    assert!(n(&v, "ops") > 0, "{v}");
    assert!(n(&v, "verified_bytes") > 0, "{v}");
    assert!(v["ops_per_sec"].as_f64().unwrap() > 0.0);
    assert!(v["secs"].as_f64().unwrap() >= 0.5);
    for k in [
        "corruptions",
        "duplicates",
        "killed",
        "lost_bytes",
        "crashed",
        "errors",
    ] {
        assert_eq!(n(&v, k), 0, "{k}: {v}");
    }
    v
}

#[test]
fn slab_runs_clean() {
    let o = sharena(&[
        "stress", "--kind", "slab", "--procs", "2", "--secs", "1", "--json",
    ]);
    assert_clean(&o, "slab");
}

#[test]
fn freelist_is_the_default_and_runs_clean() {
    let o = sharena(&["stress", "--procs", "2", "--secs", "1", "--json"]);
    let v = assert_clean(&o, "freelist");
    assert_eq!(n(&v, "duplicates"), 0, "{v}");
}

#[test]
fn bump_runs_clean_through_resets() {
    // A small arena fills often: several fill, verify, reset phases.
    let o = sharena(&[
        "stress", "--kind", "bump", "--procs", "2", "--secs", "1", "--size", "4M", "--json",
    ]);
    let v = assert_clean(&o, "bump");
    assert!(n(&v, "resets") >= 1, "{v}");
}

#[test]
fn kills_are_counted_and_reclaimed() {
    for kind in ["slab", "freelist"] {
        let o = sharena(&[
            "stress",
            "--kind",
            kind,
            "--procs",
            "2",
            "--secs",
            "1",
            "--size",
            "8M",
            "--kill-every",
            "150",
            "--json",
        ]);
        let v = report(&o);
        assert!(n(&v, "killed") >= 1, "{v}");
        assert_eq!(n(&v, "corruptions") + n(&v, "duplicates"), 0, "{v}");
        assert_eq!(n(&v, "crashed"), 0, "{v}");
        assert!(n(&v, "reclaims") >= n(&v, "killed"), "{v}");
        assert_eq!(n(&v, "reclaim_errors"), 0, "{v}");
        // The parent reclaimed after every kill: nothing is lost, and the
        // final check found nothing wrong.
        assert_eq!(code(&o), 0, "{kind}: {o:?}");
        assert_eq!(n(&v, "lost_bytes"), 0, "{v}");
        assert!(
            matches!(v["check_problems"].as_u64(), None | Some(0)),
            "{v}"
        );
    }
}

#[test]
fn ctrl_c_stops_the_run_and_unlinks() {
    let child = Command::new(env!("CARGO_BIN_EXE_sharena"))
        .args(["stress", "--kind", "slab", "--procs", "2", "--secs", "30"])
        .args(["--size", "4M", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sharena");
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill(2) with a pid we spawned and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let o = child.wait_with_output().expect("wait for sharena");
    assert_eq!(code(&o), 1, "{o:?}");
    assert!(stderr_line(&o).contains("interrupted"));
    let v = report(&o);
    assert_eq!(v["interrupted"], true);
    assert!(v["secs"].as_f64().unwrap() < 10.0, "{v}");
    assert_eq!(n(&v, "crashed") + n(&v, "lost_bytes"), 0, "{v}");
}

#[test]
fn bad_usage_exits_2_with_one_line() {
    for args in [
        &["stress", "--procs", "0", "--kind", "slab"][..],
        &["stress", "--kind", "nope"],
        &["stress", "--kind", "raw"],
        &["stress", "--kind", "slab", "--secs", "0"],
        &["stress", "--kind", "slab", "--secs", "-1"],
        &["stress", "--kind", "slab", "--kill-every", "0"],
        &["stress", "--kind", "slab", "--size", "1K"],
        &["stress", "--kind", "bump", "--size", "12Q"],
    ] {
        let o = sharena(args);
        assert_eq!(code(&o), 2, "{args:?}: {o:?}");
        stderr_line(&o);
        assert!(o.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn handles_runs_clean_and_verifies_moved_blocks() {
    // A 4 MiB heap fills within milliseconds: allocations compact it
    // (auto-compaction), so blocks move between their stamp and check.
    let o = sharena(&[
        "stress", "--kind", "handles", "--procs", "2", "--secs", "2", "--size", "4M", "--json",
    ]);
    let v = assert_clean(&o, "handles");
    assert_eq!(v["check_problems"].as_u64(), Some(0), "{v}");
    assert_eq!(v["reclaim"], "ok", "{v}");
    assert!(n(&v, "relocated_verified") > 0, "no block moved: {v}");
}

#[test]
fn handles_kills_are_reclaimed_with_nothing_lost() {
    let o = sharena(&[
        "stress",
        "--kind",
        "handles",
        "--procs",
        "2",
        "--secs",
        "2",
        "--size",
        "8M",
        "--kill-every",
        "100",
        "--json",
    ]);
    let v = report(&o);
    assert_eq!(v["kind"], "handles");
    assert!(n(&v, "killed") >= 1, "{v}");
    for k in [
        "corruptions",
        "duplicates",
        "crashed",
        "errors",
        "reclaim_errors",
    ] {
        assert_eq!(n(&v, k), 0, "{k}: {v}");
    }
    assert!(n(&v, "verified_bytes") > 0, "{v}");
    assert!(n(&v, "reclaims") >= n(&v, "killed"), "{v}");
    assert_eq!(code(&o), 0, "{o:?}");
    assert_eq!(n(&v, "lost_bytes"), 0, "{v}");
    assert_eq!(v["check_problems"].as_u64(), Some(0), "{v}");
}

#[test]
fn help_shows_an_example() {
    let o = sharena(&["stress", "--help"]);
    assert_eq!(code(&o), 0);
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("sharena stress --kind slab"), "{s}");
    assert!(s.contains("--kill-every"), "{s}");
}
