//! `churn-solo WL SUBJECT OPS`: one subject of W2 or W3 at P=1, run in this
//! process (no fork), the same code `sharena bench` times. For
//! `valgrind --tool=callgrind` (scripts/callgrind.sh counts instructions per
//! op from two op counts) and for the comparison of `system` with the C
//! loop of scripts/churn_malloc.c.

use sharena_testkit::bench::churn::{w2_subjects, w3_subjects, Subject};
use sharena_testkit::bench::harness::in_process;
use sharena_testkit::bench::pool::Pass;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || {
        eprintln!("usage: churn-solo W2|W3 SUBJECT OPS");
        ExitCode::from(2)
    };
    let [wl, subject, ops] = args.as_slice() else {
        return usage();
    };
    let Ok(ops) = ops.parse::<u64>() else {
        return usage();
    };
    let subjects = match wl.to_ascii_uppercase().as_str() {
        "W2" => w2_subjects(ops),
        "W3" => w3_subjects(ops),
        _ => return usage(),
    };
    let Some(s) = subjects.iter().find(|s| s.name() == subject) else {
        let names: Vec<&str> = subjects.iter().map(Subject::name).collect();
        eprintln!("unknown subject {subject:?} of {wl}: {}", names.join(", "));
        return ExitCode::from(2);
    };
    in_process();
    match s.run(1, Pass::Timed) {
        Ok(r) => {
            println!(
                "{wl} {subject} ops={} secs={:.4} rate={:.0} errors={} oom={}",
                r.ops,
                r.secs,
                r.rate(),
                r.errors,
                r.oom
            );
            if r.errors + r.oom > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("churn-solo: {e}");
            ExitCode::FAILURE
        }
    }
}
