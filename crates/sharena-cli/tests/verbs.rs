//! `check`, `reclaim`, `map` and every verb's help, on fresh segments:
//! exit statuses, one-line errors, JSON keys, a well-formed SVG.

mod common;

use common::{code, json, name, sharena, stderr_line, Cleanup};

fn created(kind: &str, extra: &[&str]) -> (String, Cleanup) {
    let n = name(kind);
    let guard = Cleanup(n.clone());
    let mut args = vec!["create", &n, "--kind", kind, "--size", "8M"];
    args.extend_from_slice(extra);
    let o = sharena(&args);
    assert_eq!(code(&o), 0, "{o:?}");
    (n, guard)
}

/// The allocators' `Recover` implementations are being written; until they
/// land, `check` and `reclaim` fail with the allocator's "not supported"
/// error (exit 1, one line). This accepts exactly that and nothing else.
/// Delete it (and its uses) once every kind implements `Recover`.
#[test]
fn check_on_a_fresh_segment_is_ok() {
    for (kind, extra) in [
        ("freelist", &[][..]),
        ("slab", &["--slot-size", "64"]),
        ("bump", &[]),
    ] {
        let (n, _g) = created(kind, extra);
        let o = sharena(&["check", &n, "--json"]);
        assert_eq!(code(&o), 0, "{kind}: {o:?}");
        let v = json(&o);
        assert_eq!(v["ok"], true, "{kind}: {v}");
        assert_eq!(v["problems"].as_array().map(Vec::len), Some(0), "{v}");
        let o = sharena(&["check", &n]);
        assert_eq!(code(&o), 0);
        assert!(String::from_utf8_lossy(&o.stdout).contains("0 problems"));
    }
}

#[test]
fn reclaim_on_a_fresh_segment_frees_nothing() {
    for kind in ["freelist", "slab", "bump"] {
        let (n, _g) = created(kind, &[]);
        let o = sharena(&["reclaim", &n, "--json"]);
        assert_eq!(code(&o), 0, "{kind}: {o:?}");
        let v = json(&o);
        for key in ["processes", "blocks", "bytes", "micros"] {
            assert!(v[key].is_u64(), "reclaim --json lacks {key}: {v}");
        }
        assert_eq!(
            (v["blocks"].as_u64(), v["bytes"].as_u64()),
            (Some(0), Some(0)),
            "{v}"
        );
    }
}

#[test]
fn map_writes_a_well_formed_svg() {
    let (n, _g) = created("freelist", &[]);
    let out = std::env::temp_dir().join(format!("sharena-map-{}.svg", std::process::id()));
    let out_s = out.to_string_lossy().into_owned();
    let _f = Cleanup(out_s.clone());
    let o = sharena(&["map", &n, "--out", &out_s, "--json"]);
    assert_eq!(code(&o), 0, "{o:?}");
    let v = json(&o);
    assert_eq!(v["out"], out_s.as_str());
    let svg = std::fs::read_to_string(&out).expect("the SVG was written");
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains(&n), "the title names the segment");
    for tag in ["text", "svg", "style"] {
        assert_eq!(
            svg.matches(&format!("<{tag}")).count(),
            svg.matches(&format!("</{tag}>")).count(),
            "<{tag}> balanced"
        );
    }
    // Every <rect> closes itself.
    assert_eq!(svg.matches("<rect").count(), svg.matches("/>").count());
    // A fresh pool is all free: no fragmentation (or totals only, if this
    // build's free list cannot list its runs).
    if v["runs"].is_null() {
        assert!(svg.contains("totals only"));
    } else {
        assert_eq!(v["fragmentation"].as_f64(), Some(0.0), "{v}");
        assert!(svg.contains("fragmentation 0.0%"));
    }
}

/// A handle heap through every verb that opens a segment: `create` makes a
/// real heap, `info` reads its statistics, `check` finds nothing wrong,
/// `reclaim` frees nothing, `map` draws it.
#[test]
fn a_handles_segment_works_with_every_verb() {
    let (n, _g) = created("handles", &["--mode", "640"]);
    let v = json(&sharena(&["info", &n, "--json"]));
    assert_eq!(v["kind"], "handles", "{v}");
    assert_eq!(
        (v["used"].as_u64(), v["allocations"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(v["capacity"].as_u64().unwrap() > 6 << 20, "{v}");
    assert!(
        v["allocator"]["handle_capacity"].as_u64().unwrap() > 0,
        "{v}"
    );
    assert!(
        v["processes"].is_array() && v["directory"].is_array(),
        "{v}"
    );
    let o = sharena(&["info", &n]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("handles"));

    let o = sharena(&["check", &n, "--json"]);
    assert_eq!(code(&o), 0, "{o:?}");
    let v = json(&o);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["problems"].as_array().map(Vec::len), Some(0), "{v}");

    let o = sharena(&["reclaim", &n, "--json"]);
    assert_eq!(code(&o), 0, "{o:?}");
    let v = json(&o);
    for key in ["processes", "blocks", "bytes", "micros"] {
        assert!(v[key].is_u64(), "reclaim --json lacks {key}: {v}");
    }
    assert_eq!(
        (v["blocks"].as_u64(), v["bytes"].as_u64()),
        (Some(0), Some(0))
    );

    let out = std::env::temp_dir().join(format!("sharena-map-h-{}.svg", std::process::id()));
    let out_s = out.to_string_lossy().into_owned();
    let _f = Cleanup(out_s.clone());
    let o = sharena(&["map", &n, "--out", &out_s, "--json"]);
    assert_eq!(code(&o), 0, "{o:?}");
    let v = json(&o);
    assert_eq!(v["kind"], "handles", "{v}");
    let svg = std::fs::read_to_string(&out).expect("the SVG was written");
    assert!(svg.trim_end().ends_with("</svg>") && svg.contains(&n));
}

#[test]
fn recovery_verbs_refuse_what_they_cannot_do() {
    let o = sharena(&["check", &name("missing")]);
    assert_eq!(code(&o), 1);
    stderr_line(&o);
    let o = sharena(&["reclaim", "no-slash-and-no-file"]);
    assert_eq!(code(&o), 2);
    stderr_line(&o);
    let o = sharena(&["map", "/x"]);
    assert_eq!(code(&o), 2, "--out is required");
    assert!(stderr_line(&o).contains("--out"));
    let (n, _g) = created("freelist", &[]);
    let o = sharena(&["map", &n, "--out", "/nonexistent-dir/x.svg"]);
    assert_eq!(code(&o), 1);
    assert!(stderr_line(&o).contains("cannot write"));
}

#[test]
fn every_verb_has_help_with_an_example() {
    for verb in [
        "create", "info", "list", "unlink", "stress", "bench", "check", "reclaim", "map",
    ] {
        let o = sharena(&[verb, "--help"]);
        assert_eq!(code(&o), 0, "{verb}");
        let s = String::from_utf8_lossy(&o.stdout);
        assert!(s.contains("Example"), "{verb}: {s}");
        assert!(s.contains(&format!("sharena {verb}")), "{verb}: {s}");
    }
    let o = sharena(&["--help"]);
    assert_eq!(code(&o), 0);
    let s = String::from_utf8_lossy(&o.stdout);
    for verb in [
        "create", "info", "list", "unlink", "stress", "bench", "check", "reclaim", "map",
    ] {
        assert!(s.contains(verb), "--help lists {verb}");
    }
    assert!(s.contains("sharena stress"), "{s}");
    assert_eq!(code(&sharena(&["--version"])), 0);
}

#[test]
fn sizes_and_typos_give_one_line_and_status_2() {
    let n = name("usage");
    for args in [
        vec!["create", &n, "--kind", "slab", "--size", "0"],
        vec!["create", &n, "--kind", "slab", "--size", "-1"],
        vec!["create", &n, "--kind", "slab", "--size", "1e9"],
        vec!["create", &n, "--kind", "slab", "--size", "64Q"],
        vec!["create", &n, "--kind", "slab", "--szie", "64M"],
        vec!["stress", "--size", "0"],
        vec!["stress", "--size", "-1"],
        vec!["stress", "--size", "1e9"],
        vec!["stress", "--prcs", "2"],
        vec!["bench", "--workload", "W9"],
        vec!["bench", "--quik"],
        vec!["check"],
        vec!["mapp", &n],
    ] {
        let o = sharena(&args);
        assert_eq!(code(&o), 2, "{args:?}: {o:?}");
        let line = stderr_line(&o);
        assert!(line.starts_with("sharena: "), "{args:?}: {line}");
        assert!(o.stdout.is_empty(), "{args:?}");
    }
    assert!(!std::path::Path::new("/dev/shm").join(&n[1..]).exists());
    // A typo gets a suggestion.
    let line = stderr_line(&sharena(&["stress", "--prcs", "2"]));
    assert!(line.contains("--procs"), "{line}");
}

#[test]
fn sizes_with_binary_suffixes_are_accepted() {
    for size in ["64MiB", "64M"] {
        let n = name("sz");
        let _g = Cleanup(n.clone());
        let o = sharena(&["create", &n, "--kind", "slab", "--size", size, "--json"]);
        assert_eq!(code(&o), 0, "{o:?}");
        assert_eq!(json(&o)["size"], 64u64 << 20);
    }
}

#[test]
fn info_lists_processes_and_directory() {
    let (n, _g) = created("slab", &[]);
    let v = json(&sharena(&["info", &n, "--json"]));
    assert!(v["processes"].is_array(), "{v}");
    assert!(v["directory"].is_array(), "{v}");
    let s = String::from_utf8_lossy(&sharena(&["info", &n]).stdout).into_owned();
    assert!(s.contains("processes") && s.contains("directory"), "{s}");
}
