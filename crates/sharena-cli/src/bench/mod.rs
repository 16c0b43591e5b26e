//! `sharena bench`: the workloads of WORKLOADS.md, each subject beside the
//! baselines run in the same process, interleaved (A B A B ...), median of
//! at least 3 repetitions.

pub mod harness;
pub mod pool;
pub mod rng;
pub mod subjects;
pub mod w1;
pub mod w5;

use crate::Failure;
use harness::{median, prefault, run_forked, RunOut};
use pool::{churn, Sizes, System, Treiber};

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// W1, W2, W2P2, W5, W5r or all.
    #[arg(long, default_value = "all")]
    pub workload: String,
    /// A tenth of the reference op counts (W5: a 64 MiB file).
    #[arg(long)]
    pub quick: bool,
    /// Repetitions per subject (the median is reported; at least 3).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// One JSON object per result line.
    #[arg(long)]
    pub json: bool,
}

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
    /// Unit of `rate` (ops/s or MiB/s).
    pub unit: &'static str,
    /// Bytes moved (W5) and the data checksum, where the workload has them.
    pub bytes_checksum: Option<(u64, u64)>,
}

/// A bar: `subject`'s rate must be at least `min` times `baseline`'s.
struct Bar {
    subject: &'static str,
    baseline: &'static str,
    wl: &'static str,
    p: usize,
    base_p: usize,
    min: f64,
}

type Runner<'a> = (&'static str, Box<dyn Fn() -> std::io::Result<RunOut> + 'a>);

/// Runs every subject `reps` times, interleaved, and keeps each one's
/// median run (by rate).
fn interleave(
    wl: &'static str,
    p: usize,
    reps: usize,
    runners: &[Runner<'_>],
) -> Result<Vec<Figure>, Failure> {
    let mut runs: Vec<Vec<RunOut>> = vec![Vec::new(); runners.len()];
    for _ in 0..reps {
        for (i, (name, run)) in runners.iter().enumerate() {
            let r = run().map_err(|e| Failure::op(format!("{wl} {name}: {e}")))?;
            runs[i].push(r);
        }
    }
    Ok(runners
        .iter()
        .zip(runs)
        .map(|((name, _), mut rs)| {
            let mut rates: Vec<f64> = rs.iter().map(RunOut::rate).collect();
            let m = median(&mut rates);
            rs.sort_by(|a, b| (a.rate() - m).abs().total_cmp(&(b.rate() - m).abs()));
            Figure {
                subject: name,
                wl,
                p,
                run: rs.swap_remove(0),
                unit: "ops/s",
                bytes_checksum: None,
            }
        })
        .collect())
}

fn w1(ops: u64, reps: usize) -> Result<Vec<Figure>, Failure> {
    use w1::{run_limit, Limit};
    interleave(
        "W1",
        1,
        reps,
        &[
            (
                "bump",
                Box::new(move || subjects::bump_run(ops, w1::REGION)),
            ),
            (
                "limit-bump-local",
                Box::new(move || run_limit(Limit::Local, ops)),
            ),
            (
                "limit-bump-faa",
                Box::new(move || run_limit(Limit::Faa, ops)),
            ),
            (
                "limit-bump-faa-cold",
                Box::new(move || run_limit(Limit::FaaCold, ops)),
            ),
        ],
    )
}

/// The shared 256 MiB segment of W2/W3/W4.
const POOL_SEGMENT: u64 = 256 << 20;

fn treiber_run(p: usize, ops: u64) -> std::io::Result<RunOut> {
    let (_seg, base, pool_len) = harness::shared_region(POOL_SEGMENT)?;
    // SAFETY: the pool region is 4096-aligned, holds 65 * 16384 bytes, and is
    // used only by this stack (in this process and its forked children).
    let stack = unsafe { Treiber::init(base.as_ptr(), 16_384) };
    run_forked(p, |k, ctl| {
        prefault(base.as_ptr(), pool_len as usize);
        let mut t = stack.attach();
        let mut out = churn(k, ctl, &mut t, ops, Sizes::Fixed(64));
        out.retries = t.retries;
        out
    })
}

fn system_run(p: usize, ops: u64, sizes: Sizes) -> std::io::Result<RunOut> {
    run_forked(p, |k, ctl| churn(k, ctl, &mut System, ops, sizes))
}

fn w2(p: usize, ops: u64, reps: usize) -> Result<Vec<Figure>, Failure> {
    let wl = "W2";
    interleave(
        wl,
        p,
        reps,
        &[
            (
                "slab",
                Box::new(move || subjects::slab_run(p, ops, POOL_SEGMENT)),
            ),
            ("limit-treiber-slab", Box::new(move || treiber_run(p, ops))),
            (
                "system",
                Box::new(move || system_run(p, ops, Sizes::Fixed(64))),
            ),
        ],
    )
}

fn w5(quick: bool, reps: usize) -> Result<Vec<Figure>, Failure> {
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
            bytes_checksum: Some((r.bytes, r.checksum)),
        })
        .collect())
}

fn bars() -> Vec<Bar> {
    let b = |subject, baseline, wl, p, base_p, min| Bar {
        subject,
        baseline,
        wl,
        p,
        base_p,
        min,
    };
    vec![
        b("bump", "limit-bump-local", "W1", 1, 1, 0.7),
        b("bump", "limit-bump-faa", "W1", 1, 1, 1.0),
        b("slab", "limit-treiber-slab", "W2", 1, 1, 2.0),
        b("slab", "system", "W2", 1, 1, 1.0),
        b("slab", "slab", "W2", 2, 1, 1.8),
        b("window-4m", "mmap-whole", "W5", 1, 1, 0.95),
        b("window-64m", "mmap-whole", "W5r", 1, 1, 0.9),
    ]
}

fn rate_of(figs: &[Figure], subject: &str, wl: &str, p: usize) -> Option<f64> {
    let f = figs
        .iter()
        .find(|f| f.subject == subject && f.wl == wl && f.p == p)?;
    Some(if f.unit == "MiB/s" {
        f.run.per_proc.first().copied().unwrap_or(0.0)
    } else {
        f.run.rate()
    })
}

fn print(figs: &[Figure], json: bool) {
    let all_bars = bars();
    for f in figs {
        let rate = rate_of(figs, f.subject, f.wl, f.p).unwrap_or(0.0);
        let per_proc: Vec<String> = f.run.per_proc.iter().map(|r| format!("{r:.0}")).collect();
        let ratios: Vec<(&str, f64, f64)> = all_bars
            .iter()
            .filter(|b| b.subject == f.subject && b.wl == f.wl && b.p == f.p)
            .filter_map(|b| {
                Some((
                    b.baseline,
                    rate / rate_of(figs, b.baseline, b.wl, b.base_p)?,
                    b.min,
                ))
            })
            .collect();
        if json {
            let (ratio_to, ratio) = ratios
                .first()
                .map_or((None, None), |r| (Some(r.0), Some(r.1)));
            println!(
                "{}",
                serde_json::json!({
                    "subject": f.subject, "wl": f.wl, "P": f.p, "ops": f.run.ops, "secs": f.run.secs,
                    "rate": rate, "unit": f.unit, "per_proc": f.run.per_proc, "errors": f.run.errors,
                    "oom": f.run.oom, "retries": f.run.retries, "crashed": f.run.crashed,
                    "ratio_to": ratio_to, "ratio": ratio,
                    "bytes": f.bytes_checksum.map(|b| b.0), "checksum": f.bytes_checksum.map(|b| b.1),
                    "ratios": ratios.iter().map(|r| serde_json::json!({"to": r.0, "ratio": r.1, "bar": r.2})).collect::<Vec<_>>(),
                })
            );
            continue;
        }
        println!(
            "RESULT subject={} wl={} P={} ops={} secs={:.4} rate={:.0} per_proc={} errors={} oom={} retries={}{}",
            f.subject, f.wl, f.p, f.run.ops, f.run.secs, rate, per_proc.join(","), f.run.errors, f.run.oom, f.run.retries,
            if f.unit == "ops/s" { String::new() } else { format!(" unit={}", f.unit) }
        );
        for (to, ratio, min) in ratios {
            let ok = if ratio >= min { "meets" } else { "MISSES" };
            println!("  ratio_to={to} ratio={ratio:.2} (bar {min:.2}: {ok})");
        }
    }
}

/// Runs `bench`.
pub fn run(a: &Args) -> Result<(), Failure> {
    let wl = a.workload.to_ascii_uppercase();
    let known = ["ALL", "W1", "W2", "W2P2", "W5", "W5R"];
    if !known.contains(&wl.as_str()) {
        return Err(Failure::usage(format!(
            "unknown workload {:?} (this build runs W1, W2, W2P2, W5, W5r or all; W3 and W4 come with the free list)",
            a.workload
        )));
    }
    if a.reps < 3 {
        return Err(Failure::usage(
            "--reps must be at least 3 (the median of three or more)",
        ));
    }
    let scale = if a.quick { 10 } else { 1 };
    let mut figs = Vec::new();
    let want = |w: &str| wl == "ALL" || wl == w;
    if want("W1") {
        figs.extend(w1(10_000_000 / scale, a.reps)?);
    }
    if want("W2") {
        figs.extend(w2(1, 10_000_000 / scale, a.reps)?);
    }
    if want("W2P2") {
        figs.extend(w2(2, 10_000_000 / scale, a.reps)?);
    }
    if want("W5") || want("W5R") {
        let w5figs = w5(a.quick, a.reps)?;
        figs.extend(
            w5figs
                .into_iter()
                .filter(|f| want("ALL") || f.wl.eq_ignore_ascii_case(&wl)),
        );
    }
    print(&figs, a.json);
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
