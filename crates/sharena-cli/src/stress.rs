//! `sharena stress [--kind K] [--procs N] [--secs S] [--size SIZE]
//! [--kill-every MS] [--json]`: N forked processes on one named segment,
//! every block stamped and verified, duplicates caught in a side table,
//! and the allocator's `used` bytes checked at the end.
//!
//! The engine is the testkit's (`sharena_testkit::stress`): this verb
//! parses the flags, draws the progress line and prints the outcome.

use crate::kind::{check_size, parse_kind, DEFAULT_SLOT, KINDS};
use crate::progress::Progress;
use crate::size::{human, parse_size};
use crate::Failure;
use sharena::{AllocatorKind, Bump, Handles, Slab};
use sharena_testkit::stress::{self as engine, Config, Outcome};
use std::fmt::Write;
use std::io::IsTerminal;
use std::time::Duration;

/// The help text after the options: what a run does, then examples.
pub const AFTER_HELP: &str = "\
Every block is stamped with (pid, worker, sequence) and a pattern over all
its bytes, and checked before it is given back; each block's start is
claimed in a side table while held, so a block handed out twice counts as
a duplicate. At the end the allocator's used bytes must be back to their
value after creation; the difference is lost_bytes. ops counts allocations
and frees. Exit status 1 on any corruption, duplicate, lost byte, allocator
error, failed reclaim, problem found by check or crashed worker; Ctrl-C
stops the run early, prints the summary and exits 1.

freelist (the default): random sizes in [1, 64 KiB]; each worker churns a
working set (free, then allocate a random size).
slab: 64-byte slots; each worker churns a working set of slots.
handles: random sizes in [1, 4 KiB] reached through pins. Workers turn
auto-compaction on (an allocation that finds the heap full compacts and
retries) and compact now and then, so blocks move between being stamped
and checked; the side table claims handle indices. An allocation refused
while another process compacts counts as out of memory. compactions and
blocks_moved count the workers' own compact() calls; relocated_verified
counts blocks checked at another address than they were stamped at;
move_retries counts pins and frees that waited out a move and tried again.
bump cannot free: workers allocate blocks of 1 to 512 bytes until the
arena is full, verify all their blocks and wait; once every worker is done
the parent resets the arena and the next phase starts.

--kill-every MS SIGKILLs a random worker every MS milliseconds, forks a
replacement, and calls reclaim_dead() through the parent's own handle: the
dead worker's blocks and caches go back to the pool (its claims in the
side table are withdrawn first, so a reclaimed block handed out again is
not a duplicate). At the end the parent reclaims once more, then measures
lost_bytes and runs check(). A worker of any kind dies wherever it is,
inside an allocation, a compaction or a pin: pins are recorded by seat and
reclaim releases a dead one's. A bump reset releases killed workers' blocks.

--size is at least the kind's smallest segment (an error names it). A
progress line is drawn on stderr when it is a terminal and --json is off.

Examples:
  sharena stress                      (4 processes, 10 s, a free list)
  sharena stress --kind slab --procs 8 --secs 30
  sharena stress --kind bump --secs 5 --json
  sharena stress --kind slab --procs 3 --secs 8 --kill-every 40
  sharena stress --kind handles --procs 4 --secs 5 --kill-every 100";

/// Arguments of `stress`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Allocator kind: bump, freelist, slab or handles.
    #[arg(long, default_value = "freelist", value_parser = parse_kind)]
    pub kind: AllocatorKind,
    /// Worker processes at once (1 to 1024).
    #[arg(long, default_value_t = 4)]
    pub procs: usize,
    /// Seconds to run (may be fractional, e.g. 0.5).
    #[arg(long, default_value = "10")]
    pub secs: f64,
    /// Bytes, or K, M, G, KiB, MiB, GiB (powers of 1024).
    #[arg(long, default_value = "64MiB", value_parser = parse_size, allow_hyphen_values = true)]
    pub size: u64,
    /// SIGKILL a random worker every MS milliseconds and fork a replacement.
    #[arg(long, value_name = "MS")]
    pub kill_every: Option<u64>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// The most worker processes.
const MAX_PROCS: usize = 1024;
/// The longest run, in seconds (a week).
const MAX_SECS: f64 = 7.0 * 86_400.0;

fn config(a: &Args) -> Result<Config, Failure> {
    if a.procs == 0 || a.procs > MAX_PROCS {
        return Err(Failure::usage(format!(
            "--procs must be between 1 and {MAX_PROCS} (got {})",
            a.procs
        )));
    }
    if !(a.secs.is_finite() && a.secs > 0.0 && a.secs <= MAX_SECS) {
        return Err(Failure::usage(format!(
            "--secs must be a number of seconds greater than 0 and at most {MAX_SECS} (got {})",
            a.secs
        )));
    }
    check_size(a.kind, a.size, DEFAULT_SLOT)?;
    if a.kill_every == Some(0) {
        return Err(Failure::usage(
            "--kill-every must be at least 1 millisecond",
        ));
    }
    Ok(Config {
        procs: a.procs,
        secs: Duration::from_secs_f64(a.secs),
        size: a.size,
        kill_every: a.kill_every.map(Duration::from_millis),
    })
}

/// Runs the kind's stress test: the one place a new kind plugs in (with
/// its `impl Subject` in the testkit's `subject.rs`).
fn dispatch(kind: AllocatorKind, cfg: &Config, json: bool) -> Result<Outcome, Failure> {
    let mut progress = Progress::new(json);
    let p = &mut progress;
    let out = match kind {
        AllocatorKind::Slab => engine::run::<Slab>(cfg, p),
        AllocatorKind::Bump => engine::run::<Bump>(cfg, p),
        AllocatorKind::FreeList => engine::run::<sharena::FreeList>(cfg, p),
        AllocatorKind::Handles => engine::run::<Handles>(cfg, p),
        AllocatorKind::Raw => {
            return Err(Failure::usage(format!("kind raw is internal: use {KINDS}")))
        }
    };
    Ok(out?)
}

/// Runs `stress`.
pub fn run(a: &Args) -> Result<(), Failure> {
    let cfg = config(a)?;
    let chatty = !a.json && std::io::stdout().is_terminal();
    if chatty {
        outln!(
            "sharena stress: {} processes on a {} {} segment for {} s ...",
            cfg.procs,
            human(cfg.size),
            a.kind.name(),
            a.secs
        );
    }
    let out = dispatch(a.kind, &cfg, a.json)?;
    if a.json {
        print_json(&out, cfg.procs);
    } else {
        print_table(&out, cfg.procs);
    }
    verdict(&out)
}

fn ops_per_sec(out: &Outcome) -> f64 {
    if out.secs > 0.0 {
        out.tally.ops as f64 / out.secs
    } else {
        0.0
    }
}

fn print_json(out: &Outcome, procs: usize) {
    let t = &out.tally;
    crate::commands::print_json(&serde_json::json!({
        "kind": out.kind, "procs": procs, "secs": out.secs, "ops": t.ops,
        "ops_per_sec": ops_per_sec(out), "verified_bytes": t.verified,
        "corruptions": t.corruptions, "duplicates": t.duplicates, "killed": out.killed,
        "lost_bytes": out.lost_bytes(), "crashed": out.crashed, "errors": t.errors,
        "oom": t.oom, "resets": out.resets, "compactions": t.compactions,
        "blocks_moved": t.moved, "relocated_verified": t.relocated,
        "move_retries": t.busy, "size": out.segment_len,
        "capacity": out.capacity, "segment": out.name, "interrupted": out.interrupted,
        "reclaim": if out.reclaim.unsupported { "unsupported" } else { "ok" },
        "reclaims": out.reclaim.calls, "reclaimed_processes": out.reclaim.processes,
        "reclaimed_blocks": out.reclaim.blocks, "reclaimed_bytes": out.reclaim.bytes,
        "reclaim_max_micros": out.reclaim.max_micros, "reclaim_errors": out.reclaim.errors,
        "check_problems": out.check.as_ref().map(|c| c.problems),
        "ok": problems(out).is_empty() && !out.interrupted,
    }));
}

fn print_table(out: &Outcome, procs: usize) {
    let t = &out.tally;
    outln!(
        "stress {}: {procs} processes, {:.2} s, {} segment",
        out.kind,
        out.secs,
        human(out.segment_len)
    );
    let r = &out.reclaim;
    let reclaimed = if r.unsupported {
        "unsupported by this kind".to_string()
    } else {
        format!(
            "{} blocks, {} in {} calls (slowest {} µs)",
            r.blocks,
            human(r.bytes),
            r.calls,
            r.max_micros
        )
    };
    let checked = match &out.check {
        None => "unsupported by this kind".to_string(),
        Some(c) if c.problems == 0 => "ok".to_string(),
        Some(c) => format!(
            "{} problems; first: {}",
            c.problems,
            c.first.as_deref().unwrap_or("?")
        ),
    };
    let rows: [(&str, String); 13] = [
        ("ops", format!("{} ({:.0} ops/s)", t.ops, ops_per_sec(out))),
        (
            "verified",
            format!("{} ({} bytes)", human(t.verified), t.verified),
        ),
        ("corruptions", t.corruptions.to_string()),
        ("duplicates", t.duplicates.to_string()),
        ("killed", out.killed.to_string()),
        ("lost bytes", out.lost_bytes().to_string()),
        ("reclaimed", reclaimed),
        ("check", checked),
        ("crashed", out.crashed.to_string()),
        ("errors", t.errors.to_string()),
        ("out of memory", t.oom.to_string()),
        ("resets", out.resets.to_string()),
        (
            "interrupted",
            if out.interrupted { "yes" } else { "no" }.into(),
        ),
    ];
    for (k, v) in rows {
        outln!("  {k:<14} {v}");
    }
    if out.kind == "handles" {
        outln!(
            "  {:<14} {} ({} blocks moved)",
            "compactions",
            t.compactions,
            t.moved
        );
        outln!(
            "  {:<14} {} blocks verified after a move; {} pins or frees retried after a move held them up",
            "relocated", t.relocated, t.busy
        );
    }
    let p = problems(out);
    let result = match (p.is_empty(), out.interrupted) {
        (true, false) => "clean".to_string(),
        (true, true) => "interrupted".to_string(),
        (false, _) => p.join(", "),
    };
    outln!("  {:<14} {result}", "result");
}

/// What makes the exit status 1.
fn problems(out: &Outcome) -> Vec<String> {
    let t = &out.tally;
    let mut p = Vec::new();
    for (n, what) in [
        (t.corruptions, "corrupt blocks"),
        (t.duplicates, "duplicate blocks"),
        (out.lost_bytes(), "lost bytes"),
        (out.crashed, "crashed workers"),
        (t.errors, "allocator errors"),
        (out.reclaim.errors, "failed reclaims"),
        (
            out.check.as_ref().map_or(0, |c| c.problems),
            "problems found by check",
        ),
    ] {
        if n > 0 {
            p.push(format!("{n} {what}"));
        }
    }
    if let Some(e) = &out.reclaim.first_error {
        p.push(format!("first reclaim failure: {e}"));
    }
    if let Some(first) = out.check.as_ref().and_then(|c| c.first.as_ref()) {
        p.push(format!("first check problem: {first}"));
    }
    p
}

fn verdict(out: &Outcome) -> Result<(), Failure> {
    let p = problems(out);
    if out.interrupted {
        let found = if p.is_empty() {
            String::new()
        } else {
            format!("; found {}", p.join(", "))
        };
        Err(Failure::op(format!(
            "stress {} interrupted after {:.2} s{found}",
            out.kind, out.secs
        )))
    } else if p.is_empty() {
        Ok(())
    } else {
        let mut msg = format!("stress {} found {}", out.kind, p.join(", "));
        if out.killed + out.crashed > 0 && out.lost_bytes() > 0 && out.reclaim.unsupported {
            let _ = write!(
                msg,
                " (dead workers' blocks stay lost: {} does not support reclaim_dead)",
                out.kind
            );
        }
        Err(Failure::op(msg))
    }
}
