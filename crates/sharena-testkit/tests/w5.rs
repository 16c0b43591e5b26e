//! Smoke test of the W5/W5r workload module of `sharena bench`: a small file, one
//! repetition, checksums that agree.

use sharena_testkit::bench::w5;

#[test]
fn the_pattern_and_the_fold() {
    assert_eq!((0..4).map(w5::pattern).collect::<Vec<_>>(), [3, 10, 17, 24]);
    assert_eq!(w5::pattern(35), 248); // (35 * 7 + 3) mod 251
    assert_ne!(w5::fold(0, &[1, 2, 3]), w5::fold(0, &[1, 2, 4]));
}

#[test]
fn w5_runs_and_every_subject_agrees() {
    let results = w5::run_sized(&std::env::temp_dir(), (2 << 20) + 4097, 1).unwrap();
    let names: Vec<_> = results.iter().map(|r| (r.wl, r.subject)).collect();
    assert_eq!(
        names,
        [
            ("W5", "window-4m"),
            ("W5", "window-default"),
            ("W5", "mmap-whole"),
            ("W5", "read"),
            ("W5r", "window-64m-fit"),
            ("W5r", "mmap-whole"),
            ("W5r", "window-64m"),
            ("W5r", "pread"),
        ]
    );
    for r in &results {
        assert_eq!(r.errors, 0, "{r:?}");
        assert!(r.secs > 0.0 && r.mib_per_s > 0.0, "{r:?}");
        // One thread's CPU time never passes the wall time (run by run, so medians too).
        assert!(r.cpu_secs > 0.0 && r.cpu_secs <= r.secs + 1e-3, "{r:?}");
        let base = results
            .iter()
            .find(|b| b.wl == r.wl && b.subject == "mmap-whole")
            .unwrap();
        assert_eq!(r.checksum, base.checksum, "{r:?}");
    }
    assert_eq!((results[0].ops, results[4].ops), (3, 100_000));
    assert_eq!(
        (results[0].bytes, results[4].bytes),
        ((2 << 20) + 4097, 409_600_000)
    );
    // `run` is `run_sized` with the reference sizes (512 MiB, or 64 MiB when quick).
    let _: fn(&std::path::Path, bool, usize) -> std::io::Result<Vec<w5::W5Result>> = w5::run;
    assert!(w5::run_sized(&std::env::temp_dir(), 100, 1).is_err());
}
