//! The engine of `sharena bench`: the workloads of docs/WORKLOADS.md, each
//! subject beside the baselines run in the same process, interleaved
//! (A B A B ...), median of at least 3 repetitions. The command parses the
//! flags, calls [`run`] and prints the [`Figure`]s. The children are
//! forked, so [`run`] may be called only from a single-threaded `main`.

pub mod churn;
pub mod frag;
pub mod harness;
pub mod mutex_shm;
pub mod pipeline;
pub mod pool;
pub mod rts;
pub mod subjects;
pub mod treiber;
pub mod w1;
pub mod w5;

use crate::run::{Failure, Progress};
use harness::{median, RunOut};

/// One reported figure.
#[derive(Clone, Debug)]
pub struct Figure {
    /// The subject's name (as scripts parse it).
    pub subject: &'static str,
    /// The workload.
    pub wl: &'static str,
    /// Processes.
    pub p: usize,
    /// The median run.
    pub run: RunOut,
    /// Unit of `rate` (ops/s or MiB/s; B for a fragmentation pass).
    pub unit: &'static str,
    /// The block alignment the subject gives (0: not stated).
    pub align: u64,
    /// Bytes moved (W5) and the data checksum, where the workload has them.
    pub bytes_checksum: Option<(u64, u64)>,
}

/// One timed run of a subject, repeated by `interleave`.
pub struct Runner<'a> {
    /// The subject's name.
    pub subject: &'static str,
    /// The workload.
    pub wl: &'static str,
    /// Processes.
    pub p: usize,
    /// The block alignment it gives (0: not stated).
    pub align: u64,
    /// One run.
    pub run: Box<dyn Fn() -> std::io::Result<RunOut> + 'a>,
}

impl std::fmt::Debug for Runner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("subject", &self.subject)
            .field("wl", &self.wl)
            .field("p", &self.p)
            .field("align", &self.align)
            .finish_non_exhaustive()
    }
}

impl<'a> Runner<'a> {
    fn new(
        subject: &'static str,
        wl: &'static str,
        run: impl Fn() -> std::io::Result<RunOut> + 'a,
    ) -> Self {
        Runner {
            subject,
            wl,
            p: 1,
            align: 0,
            run: Box::new(run),
        }
    }
}

/// Runs every runner `reps` times, interleaved, and keeps each one's
/// median run (by rate), with the errors, failed allocations and crashes of
/// every repetition (a failure in any of them fails the run).
fn interleave(
    reps: usize,
    runners: &[Runner<'_>],
    progress: &mut dyn Progress,
) -> Result<Vec<Figure>, Failure> {
    let mut runs: Vec<Vec<RunOut>> = vec![Vec::new(); runners.len()];
    for rep in 0..reps {
        for (i, r) in runners.iter().enumerate() {
            progress.update(
                Some((rep * runners.len() + i) as f64 / (reps * runners.len()) as f64),
                &format!(
                    "{} P={} {} (run {} of {reps})",
                    r.wl,
                    r.p,
                    r.subject,
                    rep + 1
                ),
            );
            let out = (r.run)()
                .map_err(|e| Failure::op(format!("{} P={} {}: {e}", r.wl, r.p, r.subject)))?;
            runs[i].push(out);
        }
    }
    Ok(runners
        .iter()
        .zip(runs)
        .map(|(r, mut rs)| {
            let mut rates: Vec<f64> = rs.iter().map(RunOut::rate).collect();
            let m = median(&mut rates);
            let (errors, oom, crashed) = rs.iter().fold((0, 0, 0), |t, r| {
                (t.0 + r.errors, t.1 + r.oom, t.2 + r.crashed)
            });
            rs.sort_by(|a, b| (a.rate() - m).abs().total_cmp(&(b.rate() - m).abs()));
            let mut run = rs.swap_remove(0);
            (run.errors, run.oom, run.crashed) = (errors, oom, crashed);
            Figure {
                subject: r.subject,
                wl: r.wl,
                p: r.p,
                run,
                unit: "ops/s",
                align: r.align,
                bytes_checksum: None,
            }
        })
        .collect())
}

fn w1(ops: u64, reps: usize, progress: &mut dyn Progress) -> Result<Vec<Figure>, Failure> {
    use w1::{run_limit, Limit};
    interleave(
        reps,
        &[
            Runner::new("bump", "W1", move || subjects::bump_run(ops, w1::REGION)),
            Runner::new("limit-bump-local", "W1", move || {
                run_limit(Limit::Local, ops)
            }),
            Runner::new("limit-bump-faa", "W1", move || run_limit(Limit::Faa, ops)),
            Runner::new("limit-bump-faa-cold", "W1", move || {
                run_limit(Limit::FaaCold, ops)
            }),
        ],
        progress,
    )
}

/// The shared 256 MiB segment of W2/W3/W4.
pub const POOL_SEGMENT: u64 = 256 << 20;

fn w5(quick: bool, reps: usize, progress: &mut dyn Progress) -> Result<Vec<Figure>, Failure> {
    progress.update(None, "W5 and W5r: scanning a patterned file ...");
    let dir = std::env::temp_dir();
    let results = w5::run(&dir, quick, reps).map_err(|e| Failure::op(format!("W5: {e}")))?;
    Ok(results
        .into_iter()
        .map(|r| Figure {
            subject: r.subject,
            wl: r.wl,
            p: 1,
            run: RunOut {
                ops: r.ops,
                secs: r.secs,
                per_proc: vec![r.mib_per_s],
                errors: r.errors,
                ..RunOut::default()
            },
            unit: "MiB/s",
            align: 0,
            bytes_checksum: Some((r.bytes, r.checksum)),
        })
        .collect())
}

/// The workloads [`run`] knows, as the command spells them (upper case).
pub const WORKLOADS: [&str; 9] = [
    "ALL", "W1", "W2", "W2P2", "W3", "W4", "W5", "W5R", "PIPELINE",
];

/// Runs workload `wl` (one of [`WORKLOADS`]), a tenth of the reference op
/// counts when `quick`, `reps` repetitions per subject (at least 3),
/// drawing `progress`; the figures in print order.
pub fn run(
    wl: &str,
    quick: bool,
    reps: usize,
    progress: &mut dyn Progress,
) -> Result<Vec<Figure>, Failure> {
    let scale = if quick { 10 } else { 1 };
    let mut figs = Vec::new();
    let want = |w: &str| wl == "ALL" || wl == w;
    if want("W1") {
        figs.extend(w1(10_000_000 / scale, reps, progress)?);
    }
    let w2 = churn::w2_subjects(10_000_000 / scale);
    let w3 = churn::w3_subjects(5_000_000 / scale);
    if want("W2") {
        figs.extend(churn::run("W2", &[1], &[1], reps, &w2, progress)?);
    }
    if want("W2P2") {
        // As W4 below: alone, W2P2 runs the P=1 figures too, for its ratio
        // to P=1.
        let ps: &[usize] = if want("W2") { &[2] } else { &[1, 2] };
        figs.extend(churn::run("W2", ps, &[2], reps, &w2, progress)?);
    }
    if want("W3") {
        figs.extend(churn::run("W3", &[1], &[1], reps, &w3, progress)?);
    }
    if want("W4") {
        // W4's ratio to P=1 is measured in the same run: alone, W4 runs the
        // P=1 figures too, interleaved with its own.
        let ps: &[usize] = if want("W3") { &[2] } else { &[1, 2] };
        figs.extend(churn::run("W3", ps, &[2], reps, &w3, progress)?);
    }
    if want("W5") || want("W5R") {
        let w5figs = w5(quick, reps, progress)?;
        figs.extend(
            w5figs
                .into_iter()
                .filter(|f| want("ALL") || f.wl.eq_ignore_ascii_case(wl)),
        );
    }
    if want("PIPELINE") {
        figs.extend(pipeline_figs(2_000_000 / scale, reps, progress)?);
    }
    progress.finish();
    Ok(figs)
}

fn pipeline_figs(n: u64, reps: usize, progress: &mut dyn Progress) -> Result<Vec<Figure>, Failure> {
    use pipeline::{channel_run, queue_run, Channel, CONSUMERS};
    let p = 1 + CONSUMERS;
    let mut runners = [
        Runner::new("queue", "pipeline", move || queue_run(n)),
        Runner::new("pipe", "pipeline", move || channel_run(Channel::Pipe, n)),
        Runner::new("unix-socket", "pipeline", move || {
            channel_run(Channel::Socket, n)
        }),
    ];
    for r in &mut runners {
        r.p = p;
    }
    interleave(reps, &runners, progress)
}
