//! The command's contract (README.md, "The `sharena` command"): exit statuses, one-line errors,
//! JSON keys.

mod common;

use common::{code, json, name, sharena, stderr_line, Cleanup};

#[test]
fn create_info_list_unlink_round_trip() {
    let n = name("cli");
    let _g = Cleanup(n.clone());
    let o = sharena(&[
        "create",
        &n,
        "--kind",
        "slab",
        "--size",
        "4MiB",
        "--slot-size",
        "104",
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    let o = sharena(&["info", &n, "--json"]);
    assert_eq!(code(&o), 0);
    let v = json(&o);
    for key in [
        "name",
        "kind",
        "layout_version",
        "size",
        "capacity",
        "used",
        "free",
        "allocations",
        "processes",
        "directory",
    ] {
        assert!(v.get(key).is_some(), "info --json lacks {key}: {v}");
    }
    assert_eq!(v["kind"], "slab");
    assert_eq!(v["size"], 4 << 20);
    let o = sharena(&["info", &n]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("slab"));
    let v = json(&sharena(&["list", "--json"]));
    assert!(v["segments"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["name"] == n.as_str()));
    assert!(String::from_utf8_lossy(&sharena(&["list"]).stdout).contains(&n));
    let o = sharena(&["unlink", &n]);
    assert_eq!(code(&o), 0);
    let o = sharena(&["unlink", &n]);
    assert_eq!(code(&o), 1);
    assert!(stderr_line(&o).contains("does not exist"));
}

#[test]
fn operation_failures_exit_1_with_one_line() {
    let n = name("dup");
    let _g = Cleanup(n.clone());
    assert_eq!(
        code(&sharena(&["create", &n, "--kind", "bump", "--size", "1M"])),
        0
    );
    let o = sharena(&["create", &n, "--kind", "bump", "--size", "1M"]);
    assert_eq!(code(&o), 1);
    assert!(stderr_line(&o).contains("already exists"));
    let o = sharena(&["info", &name("missing")]);
    assert_eq!(code(&o), 1);
    stderr_line(&o);
}

#[test]
fn bad_usage_exits_2_with_one_line() {
    let n = name("usage");
    for args in [
        vec!["create", &n, "--kind", "bump", "--size", "0"],
        vec!["create", &n, "--kind", "bump", "--size", "-1"],
        vec!["create", &n, "--kind", "bump", "--size", "1e9"],
        vec!["create", &n, "--kind", "bump", "--sise", "1M"],
        vec!["create", &n, "--kind", "blob", "--size", "1M"],
        vec![
            "create",
            &n,
            "--kind",
            "bump",
            "--size",
            "1M",
            "--slot-size",
            "8",
        ],
        vec![
            "create", &n, "--kind", "bump", "--size", "1M", "--mode", "999",
        ],
        vec!["create", "no-slash", "--kind", "bump", "--size", "1M"],
        // Below the kind's smallest segment (boundaries.rs checks the line).
        vec!["create", &n, "--kind", "bump", "--size", "100"],
        vec!["frobnicate"],
    ] {
        let o = sharena(&args);
        assert_eq!(code(&o), 2, "{args:?}: {o:?}");
        stderr_line(&o);
    }
    assert!(!std::path::Path::new("/dev/shm").join(&n[1..]).exists());
}

#[test]
fn help_shows_examples() {
    for verb in ["create", "info", "list", "unlink"] {
        let o = sharena(&[verb, "--help"]);
        assert_eq!(code(&o), 0);
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("Example"),
            "{verb}"
        );
    }
    assert_eq!(code(&sharena(&["--help"])), 0);
}

#[test]
fn sizes_with_suffixes() {
    for (size, bytes) in [
        ("64MiB", 64u64 << 20),
        ("64M", 64 << 20),
        ("1048576", 1 << 20),
    ] {
        let n = name("sz");
        let _g = Cleanup(n.clone());
        assert_eq!(
            code(&sharena(&[
                "create", &n, "--kind", "freelist", "--size", size
            ])),
            0
        );
        assert_eq!(json(&sharena(&["info", &n, "--json"]))["size"], bytes);
    }
}
