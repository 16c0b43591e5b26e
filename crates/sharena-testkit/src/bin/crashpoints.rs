//! `crashpoints`: the crash explorer over every scenario of every kind
//! (`scripts/crashpoints.sh` builds and runs it; `docs/RECOVERY.md` says
//! what it proves).
//!
//! ```text
//! crashpoints [--json] [--kind K]... [--scenario S]... [--detail N]
//! ```
//! Exit status 0 when no crash state failed, 1 when one did, 2 for bad
//! usage. With `--json`: one line per (kind, scenario) and a summary line.

use sharena_testkit::explore::{self, Options, Report, Summary};
use std::process::ExitCode;
use std::time::Instant;

fn usage(msg: &str) -> ExitCode {
    eprintln!("crashpoints: {msg}");
    eprintln!("usage: crashpoints [--json] [--kind K]... [--scenario S]... [--detail N]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut json = false;
    let mut kinds: Vec<String> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut opts = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json = true,
            "--kind" | "--scenario" | "--detail" => {
                let Some(v) = args.next() else {
                    return usage(&format!("{a} needs a value"));
                };
                match a.as_str() {
                    "--kind" => kinds.push(v),
                    "--scenario" => names.push(v),
                    _ => match v.parse() {
                        Ok(n) => opts.detail = n,
                        Err(_) => return usage(&format!("--detail {v}: not a number")),
                    },
                }
            }
            "-h" | "--help" => {
                println!("crashpoints [--json] [--kind K]... [--scenario S]... [--detail N]");
                println!(
                    "Kills a victim process at every write of every scenario; checks, reclaims and"
                );
                println!("accounts after each. Example: crashpoints --kind freelist --json");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other}")),
        }
    }
    let all = explore::all();
    for k in &kinds {
        if !all.iter().any(|s| s.kind() == k) {
            return usage(&format!("no scenarios of kind {k}"));
        }
    }
    let chosen: Vec<_> = all
        .into_iter()
        .filter(|s| kinds.is_empty() || kinds.iter().any(|k| k == s.kind()))
        .filter(|s| names.is_empty() || names.iter().any(|n| n == s.name()))
        .collect();
    if chosen.is_empty() {
        return usage("no scenario matches");
    }
    let start = Instant::now();
    let mut reports: Vec<Report> = Vec::new();
    for s in chosen {
        let r = explore::explore(s, &opts);
        if json {
            println!("{}", r.json());
        } else {
            println!("{}", r.text());
        }
        reports.push(r);
    }
    let sum = Summary::of(&reports);
    if json {
        println!("{}", sum.json());
    } else {
        println!(
            "{} kinds, {} scenarios, {} crash states, {} failures, in {:.1} s",
            sum.kinds,
            sum.scenarios,
            sum.crash_states,
            sum.failures,
            start.elapsed().as_secs_f64()
        );
    }
    if sum.failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
