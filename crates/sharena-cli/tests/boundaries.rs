//! The command's contract where it meets what it does not control: a
//! reader that closes stdout, names any local user can put in /dev/shm, a
//! segment another user made, a /dev/shm too small, and bad sizes, kinds
//! and slot sizes (README.md, "The `sharena` command").

mod common;

use common::{code, json, name, sharena, stderr_line, Cleanup};
use sharena_testkit::users::{as_user, other_user_or_skip};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sharena"))
}

/// Runs `sharena args` with a stdout whose reader is already gone, so the
/// first write fails with EPIPE.
fn closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = nix::unistd::pipe().unwrap();
    drop(reader);
    bin()
        .args(args)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn created(kind: &str) -> (String, Cleanup) {
    let n = name(kind);
    let g = Cleanup(n.clone());
    let o = sharena(&["create", &n, "--kind", kind, "--size", "2M"]);
    assert_eq!(code(&o), 0, "{o:?}");
    (n, g)
}

#[test]
fn a_closed_stdout_ends_every_verb_quietly() {
    let (n, _g) = created("freelist");
    let svg = sharena_testkit::TempPath::new("pipe.svg");
    let svg = svg.path().to_str().unwrap().to_string();
    let other = name("pipe-made");
    let _g2 = Cleanup(other.clone());
    for args in [
        vec!["info", &n],
        vec!["info", &n, "--json"],
        vec!["check", &n],
        vec!["check", &n, "--json"],
        vec!["reclaim", &n],
        vec!["list"],
        vec!["list", "--json"],
        vec!["map", &n, "--out", &svg],
        vec!["create", &other, "--kind", "slab", "--size", "1M"],
        vec!["unlink", &other],
        vec!["stress", "--procs", "1", "--secs", "0.2", "--size", "4M"],
        vec!["--help"],
        vec!["info", "--help"],
    ] {
        let o = closed_stdout(&args);
        assert_eq!(code(&o), 0, "{args:?}: {o:?}");
        assert!(
            o.stderr.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // A failure keeps its status and its one line.
    let o = closed_stdout(&["info", &name("missing")]);
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not exist"));
}

#[test]
fn a_failed_write_that_is_not_a_closed_pipe_is_a_failure() {
    let (n, _g) = created("bump");
    let full = std::fs::File::options()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let o = bin()
        .args(["info", &n])
        .stdout(Stdio::from(full))
        .output()
        .unwrap();
    assert_eq!(code(&o), 1, "{o:?}");
    assert!(stderr_line(&o).contains("cannot write the output"));
}

/// A /dev/shm object removed when dropped, whatever its name holds.
struct ShmFile(PathBuf);

impl Drop for ShmFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn list_escapes_names_a_terminal_would_act_on() {
    let (n, _g) = created("slab");
    // Any local user can copy a segment's bytes under a name of their own.
    let hostile = format!(
        "{}-\u{1b}[2J\u{1b}]0;owned\u{7}-\u{9b}31m-\u{202e}",
        &n[1..]
    );
    let copy = ShmFile(Path::new("/dev/shm").join(&hostile));
    std::fs::copy(Path::new("/dev/shm").join(&n[1..]), &copy.0).unwrap();
    let o = sharena(&["list"]);
    assert_eq!(code(&o), 0);
    let out = String::from_utf8(o.stdout.clone()).unwrap();
    let line = out
        .lines()
        .find(|l| l.contains(&format!("{n}-")))
        .unwrap_or_else(|| panic!("the copy is listed: {out}"));
    for raw in ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}'] {
        assert!(!out.contains(raw), "{raw:?} reached the terminal: {out:?}");
    }
    assert!(
        line.contains("\\u{1b}[2J") && line.contains("\\u{9b}31m"),
        "{line}"
    );
    // JSON keeps the exact name, with every such character escaped.
    let o = sharena(&["list", "--json"]);
    let text = String::from_utf8(o.stdout.clone()).unwrap();
    assert!(!text.contains(['\u{1b}', '\u{9b}', '\u{202e}']), "{text:?}");
    let v = json(&o);
    let names: Vec<&str> = v["segments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(names.contains(&format!("/{hostile}").as_str()), "{names:?}");
}

#[test]
fn a_segment_another_user_made_is_refused_unless_a_flag_accepts_it() {
    let Some(other) = other_user_or_skip("a_segment_another_user_made_is_refused") else {
        return;
    };
    for (mode, flags) in [
        ("644", &["--allow-foreign-owner"][..]),
        ("666", &["--allow-foreign-owner", "--allow-shared-write"]),
    ] {
        let n = name("foreign");
        let _g = Cleanup(n.clone());
        let mut cmd = bin();
        as_user(&mut cmd, other);
        let o = cmd
            .args([
                "create", &n, "--kind", "freelist", "--size", "1M", "--mode", mode,
            ])
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{o:?}");
        let svg = sharena_testkit::TempPath::new("foreign.svg");
        let svg = svg.path().to_str().unwrap().to_string();
        for verb in [
            vec!["info", &n],
            vec!["check", &n],
            vec!["reclaim", &n],
            vec!["map", &n, "--out", &svg],
        ] {
            let o = sharena(&verb);
            assert_eq!(code(&o), 1, "{verb:?}: {o:?}");
            let line = stderr_line(&o);
            assert!(
                line.contains(&format!("owned by uid {}", other.uid))
                    && line.contains(&format!("mode 0{mode}"))
                    && line.contains("--allow-foreign-owner"),
                "{line}"
            );
            let mut accepted = verb.clone();
            accepted.extend_from_slice(flags);
            let o = sharena(&accepted);
            assert_eq!(code(&o), 0, "{accepted:?}: {o:?}");
        }
        if mode == "666" {
            let o = sharena(&["info", &n, "--allow-foreign-owner"]);
            assert_eq!(code(&o), 1);
            assert!(stderr_line(&o).contains("--allow-shared-write"));
        }
    }
}

#[test]
fn create_gives_exactly_the_mode_asked_for() {
    for mode in ["600", "640", "666", "604"] {
        let n = name("mode");
        let _g = Cleanup(n.clone());
        let o = sharena(&[
            "create", &n, "--kind", "bump", "--size", "1M", "--mode", mode, "--json",
        ]);
        assert_eq!(code(&o), 0, "{o:?}");
        assert_eq!(json(&o)["mode"], mode);
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(Path::new("/dev/shm").join(&n[1..])).unwrap();
        assert_eq!(
            format!("{:o}", meta.permissions().mode() & 0o777),
            mode,
            "ls -l /dev/shm shows the mode asked for"
        );
        let listed = json(&sharena(&["list", "--json"]));
        let me = listed["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == n.as_str())
            .cloned()
            .unwrap();
        assert_eq!(me["mode"], mode, "{me}");
    }
}

#[test]
fn a_size_dev_shm_cannot_hold_fails_at_create_and_leaves_nothing() {
    let st = nix::sys::statvfs::statvfs("/dev/shm").unwrap();
    let gib = st.blocks() * st.fragment_size() / (1 << 30) + 2;
    let n = name("huge");
    let _g = Cleanup(n.clone());
    let size = format!("{gib}G");
    let o = sharena(&["create", &n, "--kind", "freelist", "--size", &size]);
    assert_eq!(code(&o), 1, "{o:?}");
    let line = stderr_line(&o);
    assert!(
        line.contains(&(gib << 30).to_string()) && line.contains("free"),
        "{line}"
    );
    assert!(!Path::new("/dev/shm").join(&n[1..]).exists());
}

#[test]
fn a_size_below_the_minimum_is_bad_usage_naming_it() {
    let n = name("small");
    for kind in ["bump", "freelist", "slab", "handles"] {
        for verb in [
            vec!["create", &n, "--kind", kind, "--size", "4095"],
            vec!["stress", "--kind", kind, "--size", "4095"],
        ] {
            let o = sharena(&verb);
            assert_eq!(code(&o), 2, "{verb:?}: {o:?}");
            let line = stderr_line(&o);
            let min: u64 = line
                .split("use --size ")
                .nth(1)
                .and_then(|t| t.split_whitespace().next())
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("names the minimum: {line}"));
            assert!(min > 4095 && line.contains("smallest"), "{line}");
            assert!(
                !line.contains("segment :") && !line.contains("segment segment"),
                "{line}"
            );
            if verb[0] == "create" {
                // The minimum it names is one that works.
                let ok = name("at-min");
                let _g = Cleanup(ok.clone());
                let m = min.to_string();
                let o = sharena(&["create", &ok, "--kind", kind, "--size", &m]);
                assert_eq!(code(&o), 0, "{kind} at {m}: {o:?}");
            }
        }
    }
    assert!(!Path::new("/dev/shm").join(&n[1..]).exists());
}

#[test]
fn sizes_take_exactly_the_documented_suffixes() {
    for bad in ["16MB", "16mb", "16m", "16k", "1T", "8B"] {
        for verb in [
            vec!["create", "/x", "--kind", "bump", "--size", bad],
            vec!["stress", "--size", bad],
        ] {
            let o = sharena(&verb);
            assert_eq!(code(&o), 2, "{verb:?}");
            assert!(stderr_line(&o).contains("unknown suffix"), "{verb:?}");
        }
    }
    for (size, bytes) in [
        ("16M", 16u64 << 20),
        ("16MiB", 16 << 20),
        ("64K", 64 << 10),
        ("64KiB", 64 << 10),
        ("65536", 65536),
    ] {
        let n = name("sfx");
        let _g = Cleanup(n.clone());
        let o = sharena(&["create", &n, "--kind", "bump", "--size", size, "--json"]);
        assert_eq!(code(&o), 0, "{size}: {o:?}");
        assert_eq!(json(&o)["size"], bytes, "{size}");
    }
}

#[test]
fn a_slot_size_that_is_not_a_multiple_of_8_is_refused() {
    let n = name("slot");
    let _g = Cleanup(n.clone());
    for bad in ["3", "100", "1001"] {
        let o = sharena(&[
            "create",
            &n,
            "--kind",
            "slab",
            "--size",
            "1M",
            "--slot-size",
            bad,
        ]);
        assert_eq!(code(&o), 2, "{bad}");
        assert!(stderr_line(&o).contains("multiple of 8"), "{bad}");
    }
    let o = sharena(&[
        "create",
        &n,
        "--kind",
        "slab",
        "--size",
        "1M",
        "--slot-size",
        "104",
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("104-byte slots"));
    assert_eq!(
        json(&sharena(&["info", &n, "--json"]))["allocator"]["slot_size"],
        104
    );
}

#[test]
fn every_verb_names_the_same_kinds_in_any_case() {
    for verb in [
        vec!["create", "/x", "--kind", "blob", "--size", "1M"],
        vec!["create", "/x", "--kind", "raw", "--size", "1M"],
        vec!["stress", "--kind", "blob"],
        vec!["stress", "--kind", "raw"],
    ] {
        let o = sharena(&verb);
        assert_eq!(code(&o), 2, "{verb:?}");
        let line = stderr_line(&o);
        assert!(line.contains("bump, freelist, slab or handles"), "{line}");
        assert!(!line.contains("raw, "), "{line}");
    }
    let n = name("case");
    let _g = Cleanup(n.clone());
    let o = sharena(&["create", &n, "--kind", "FreeList", "--size", "1M", "--json"]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert_eq!(json(&o)["kind"], "freelist");
}

#[test]
fn every_help_is_short_current_and_ends_with_an_example() {
    for verb in [
        "create", "info", "list", "unlink", "stress", "bench", "check", "reclaim", "map",
    ] {
        let o = sharena(&[verb, "--help"]);
        assert_eq!(code(&o), 0, "{verb}");
        let text = String::from_utf8(o.stdout).unwrap();
        for line in text.lines() {
            assert!(line.chars().count() <= 100, "{verb}: a long line: {line}");
        }
        // Words of behaviour that is gone: reclaim once "not built yet";
        // a handles worker once stopped (SIGSTOP) until it held no pin,
        // before pins were recorded by seat and reclaim released them.
        for stale in ["not built", "SIGSTOP", "records no owner", "holds no pin"] {
            assert!(!text.contains(stale), "{verb}: {stale:?} in {text}");
        }
        let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
        assert!(
            last.trim_start().starts_with(&format!("sharena {verb}")),
            "{verb} ends with: {last}"
        );
    }
}
