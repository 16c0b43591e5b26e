//! `sharena check NAME [--json]`

use super::allocator::Allocator;
use crate::Failure;

/// Arguments of `check`.
pub type Args = super::NameArgs;

/// Runs `check`: exit status 1 when a problem is found.
pub fn run(a: &Args) -> Result<(), Failure> {
    let alloc = Allocator::open(&a.name, "check", &a.trust.open_options())?;
    let report = alloc
        .recover()
        .check()
        .map_err(|e| Failure::op(format!("check {}: {e}", a.name)))?;
    if a.json {
        let problems: Vec<serde_json::Value> = report
            .problems
            .iter()
            .map(|p| serde_json::json!({"at": p.at, "what": p.what}))
            .collect();
        super::print_json(&serde_json::json!({
            "name": a.name, "kind": alloc.segment().kind().name(), "ok": report.ok(),
            "problems": problems, "problem_count": report.problem_count,
            "blocks": report.blocks, "used_bytes": report.used_bytes,
        }));
    } else {
        outln!(
            "check {} ({}): {} blocks visited, {} bytes in live blocks, {} problems",
            a.name,
            alloc.segment().kind(),
            report.blocks,
            report.used_bytes,
            report.problem_count
        );
        for p in &report.problems {
            outln!("  {p}");
        }
        if report.problem_count > report.problems.len() as u64 {
            outln!(
                "  ... and {} more",
                report.problem_count - report.problems.len() as u64
            );
        }
    }
    match report.problems.first() {
        None if report.ok() => Ok(()),
        first => Err(Failure::op(format!(
            "check {}: {} problems{}",
            a.name,
            report.problem_count,
            first.map_or(String::new(), |p| format!("; first {p}"))
        ))),
    }
}
