//! The `sharena` command: create, inspect, check, reclaim, map, list and
//! unlink sharena segments; stress and benchmark the allocators.
//!
//! The contract (README.md, "The `sharena` command") is what scripts rely on: exit status 0 when
//! done, 1 when the operation failed or found a problem, 2 for bad usage;
//! errors are one line on stderr; `--json` prints one JSON object.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[macro_use]
mod out;

mod bench;
mod commands;
mod kind;
mod map_svg;
mod progress;
mod size;
mod stress;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Inspect and manage sharena shared-memory segments.
#[derive(Debug, Parser)]
#[command(
    name = "sharena",
    version,
    about = "Create, inspect, check, reclaim, map, list and unlink sharena segments; stress and bench.",
    after_help = "Exit status: 0 done, 1 the operation failed or found a problem, 2 bad usage.\n\nExamples:\n  sharena stress                  (4 processes, 10 s, a free list, every byte verified)\n  sharena create /orders --kind freelist --size 64M\n  sharena info /orders --json\n  sharena check /orders\n  sharena map /orders --out orders.svg\n  sharena list\n  sharena unlink /orders"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a named segment for an allocator kind.
    #[command(after_help = commands::create::AFTER_HELP)]
    Create(commands::create::Args),
    /// Show a segment's header, regions, stats, processes and directory.
    #[command(
        after_help = "Examples:\n  sharena info /orders\n  sharena info /var/tmp/heap.shm --json   (a file-backed segment)"
    )]
    Info(commands::info::Args),
    /// List the sharena segments in /dev/shm.
    #[command(after_help = "Example:\n  sharena list --json")]
    List(commands::list::Args),
    /// Run the benchmark workloads beside their baselines.
    #[command(
        after_help = "Examples:\n  sharena bench --workload W2 --quick\n  sharena bench --json > results.jsonl"
    )]
    Bench(bench::Args),
    /// Run N processes on one segment, verifying every block they hold.
    #[command(after_help = stress::AFTER_HELP)]
    Stress(stress::Args),
    /// Verify the allocator's invariants; exit status 1 on any problem.
    #[command(
        after_help = "Examples:\n  sharena check /orders\n  sharena check /orders --json   (keys: ok problems)"
    )]
    Check(commands::check::Args),
    /// Free what dead processes held (their blocks, caches and table slots).
    #[command(
        after_help = "Examples:\n  sharena reclaim /orders\n  sharena reclaim /orders --json   (keys: processes blocks bytes micros)"
    )]
    Reclaim(commands::reclaim::Args),
    /// Draw the pool's occupancy and fragmentation as an SVG picture.
    #[command(after_help = "Example:\n  sharena map /orders --out orders.svg")]
    Map(commands::map::Args),
    /// Remove a named segment (processes that have it mapped keep it).
    #[command(after_help = "Example:\n  sharena unlink /orders")]
    Unlink(commands::unlink::Args),
}

/// A failure with its exit status.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// Exit status 1: the operation failed or found a problem.
    pub fn op(message: impl std::fmt::Display) -> Self {
        Failure {
            code: 1,
            message: message.to_string(),
        }
    }

    /// Exit status 2: bad usage.
    pub fn usage(message: impl std::fmt::Display) -> Self {
        Failure {
            code: 2,
            message: message.to_string(),
        }
    }
}

impl From<sharena_testkit::run::Failure> for Failure {
    fn from(f: sharena_testkit::run::Failure) -> Self {
        match f {
            sharena_testkit::run::Failure::Usage(m) => Failure::usage(m),
            sharena_testkit::run::Failure::Op(m) => Failure::op(m),
        }
    }
}

impl From<sharena::Error> for Failure {
    fn from(e: sharena::Error) -> Self {
        use sharena::Error;
        match e {
            Error::InvalidName { .. } => Failure::usage(e),
            // The library names its options; the command names its flags.
            Error::ForeignOwner {
                segment,
                owner_uid,
                euid,
                mode,
            } => Failure::op(format!(
                "segment {segment} is owned by uid {owner_uid} (mode {mode:04o}), not by uid \
                 {euid}: refused (--allow-foreign-owner opens it)"
            )),
            Error::WritableByOthers {
                segment,
                owner_uid,
                mode,
            } => Failure::op(format!(
                "segment {segment} (owner uid {owner_uid}) has mode {mode:04o}, which lets other \
                 users write it: refused (--allow-shared-write opens it)"
            )),
            e => Failure::op(e),
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let result = match cli.command {
        Command::Create(a) => commands::create::run(&a),
        Command::Info(a) => commands::info::run(&a),
        Command::List(a) => commands::list::run(&a),
        Command::Unlink(a) => commands::unlink::run(&a),
        Command::Bench(a) => bench::run(&a),
        Command::Stress(a) => stress::run(&a),
        Command::Check(a) => commands::check::run(&a),
        Command::Reclaim(a) => commands::reclaim::run(&a),
        Command::Map(a) => commands::map::run(&a),
    };
    // Output a closed pipe cut short is not a failure; any other failed
    // write is, if the verb itself succeeded.
    let result = match (result, out::finish()) {
        (Ok(()), Err(e)) => Err(Failure::op(format!("cannot write the output: {e}"))),
        (r, _) => r,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            error_line(&f.message);
            ExitCode::from(f.code)
        }
    }
}

/// Writes `sharena: MESSAGE` as one line on stderr; a closed stderr is
/// ignored (the exit status still says what happened).
fn error_line(message: &str) {
    use std::io::Write;
    let line = message.replace('\n', " ");
    let _ = writeln!(std::io::stderr(), "sharena: {line}");
}

/// Help and version go to stdout with status 0; every other parse error is
/// one line on stderr with status 2.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let rendered = e.render().to_string();
    let mut lines = rendered.lines().map(str::trim).skip_while(|l| l.is_empty());
    let mut first = lines
        .next()
        .unwrap_or("bad usage")
        .trim_start_matches("error: ")
        .to_string();
    if first.ends_with(':') {
        // "the following required arguments were not provided:" and the
        // arguments on the lines below.
        let listed: Vec<&str> = lines.take_while(|l| !l.is_empty()).collect();
        first = format!("{first} {}", listed.join(", "));
    }
    // clap's suggestion for a typo ("tip: a similar argument exists:
    // '--procs'") joins the line.
    let tip = rendered
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("tip: a similar"))
        .map_or(String::new(), |t| format!("; {t}"));
    error_line(&format!("{first}{tip} (see 'sharena --help')"));
    ExitCode::from(2)
}
