//! The forked churn baselines at P=2, from a single-threaded `main`
//! (`harness = false`): `rts-alloc`, each child opening and joining the
//! file itself, and `system` over libc; both passes verified, and no
//! segment file left behind.

use sharena_testkit::bench::pool::{system_run, Pass, Sizes};
use sharena_testkit::bench::rts::rts_run;

fn leftovers() -> usize {
    std::fs::read_dir("/dev/shm").map_or(0, |d| {
        d.flatten()
            .filter(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                n.contains(&format!("-{}-", std::process::id())) && n.ends_with("rts-alloc")
            })
            .count()
    })
}

fn main() {
    let ops = 20_000;
    for sizes in [Sizes::Fixed(64), Sizes::Variable] {
        let r = rts_run(2, ops, sizes, 64 << 20, Pass::Timed).expect("rts-alloc timed");
        assert_eq!(
            (r.ops, r.errors, r.oom, r.crashed),
            (2 * ops, 0, 0, 0),
            "{r:?}"
        );
        assert_eq!(r.per_proc.len(), 2);
        let f = rts_run(2, ops, sizes, 64 << 20, Pass::Frag).expect("rts-alloc frag");
        assert_eq!((f.errors, f.oom, f.crashed), (0, 0, 0), "{f:?}");
        let frag = f.frag.expect("fragmentation figures");
        // One shared file: the span covers both children's live blocks.
        assert!(frag.footprint_peak >= frag.live_peak, "{frag:?}");
        let s = system_run(2, ops, sizes, Pass::Timed).expect("system timed");
        assert_eq!(
            (s.ops, s.errors, s.oom, s.crashed),
            (2 * ops, 0, 0, 0),
            "{s:?}"
        );
    }
    assert_eq!(leftovers(), 0, "an rts-alloc file was left in /dev/shm");
    println!("1 passed, 0 failed");
}
