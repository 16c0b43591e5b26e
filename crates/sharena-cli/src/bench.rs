//! `sharena bench`: the workloads of docs/WORKLOADS.md, each subject beside the
//! baselines run in the same process, interleaved (A B A B ...), median of
//! at least 3 repetitions. The engine is the testkit's
//! (`sharena_testkit::bench`); this verb checks the flags, draws the
//! progress line and prints the figures (`report.rs`).

mod report;

use crate::progress::Progress;
use crate::Failure;
use sharena_testkit::bench;

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// W1, W2, W2P2, W3, W4, W5, W5r, pipeline or all.
    #[arg(long, default_value = "all")]
    pub workload: String,
    /// A tenth of the reference op counts (W5: a 64 MiB file).
    #[arg(long)]
    pub quick: bool,
    /// Repetitions per subject, median reported (at least 3).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// One JSON object per result line.
    #[arg(long)]
    pub json: bool,
}

/// Runs `bench`.
pub fn run(a: &Args) -> Result<(), Failure> {
    let wl = a.workload.to_ascii_uppercase();
    if !bench::WORKLOADS.contains(&wl.as_str()) {
        return Err(Failure::usage(format!(
            "unknown workload {:?} (W1, W2, W2P2, W3, W4, W5, W5r, pipeline or all)",
            a.workload
        )));
    }
    if a.reps < 3 {
        return Err(Failure::usage(
            "--reps must be at least 3 (the median of three or more)",
        ));
    }
    let mut progress = Progress::new(a.json);
    let figs = bench::run(&wl, a.quick, a.reps, &mut progress)?;
    drop(progress);
    report::print(&figs, a.json);
    let bad: u64 = figs
        .iter()
        .map(|f| f.run.errors + f.run.oom + f.run.crashed)
        .sum();
    if bad > 0 {
        return Err(Failure::op(format!(
            "{bad} errors, failed allocations or crashed children"
        )));
    }
    Ok(())
}
