//! `sharena map NAME --out F.svg [--json]`

use super::allocator::{unsupported, Allocator};
use crate::map_svg::{free_space, render, Subject};
use crate::Failure;
use sharena::RegionId;
use std::path::PathBuf;

/// The most runs asked of the allocator.
const RUN_LIMIT: usize = 1 << 20;

/// Arguments of `map`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Segment name (`/x`) or the path of a file-backed segment.
    pub name: String,
    /// Where to write the SVG picture.
    #[arg(long, value_name = "F.svg")]
    pub out: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub trust: super::TrustArgs,
}

/// Runs `map`.
pub fn run(a: &Args) -> Result<(), Failure> {
    let alloc = Allocator::open(&a.name, "map", &a.trust.open_options())?;
    let seg = alloc.segment();
    let pool = seg.view().region(RegionId::Pool);
    let stats = alloc.stats();
    let runs = match alloc.recover().runs(RUN_LIMIT) {
        Ok(runs) => Some(runs),
        Err(e) if unsupported(&e) => None,
        Err(e) => return Err(Failure::op(format!("map {}: {e}", a.name))),
    };
    let truncated = runs.as_ref().is_some_and(|r| r.len() >= RUN_LIMIT);
    let subject = Subject {
        name: &a.name,
        kind: seg.kind().name(),
        segment_len: seg.len(),
        pool_offset: pool.offset,
        pool_len: pool.len,
        used: stats.used,
        capacity: stats.capacity,
    };
    let svg = render(&subject, runs.as_deref(), truncated);
    std::fs::write(&a.out, svg)
        .map_err(|e| Failure::op(format!("map: cannot write {}: {e}", a.out.display())))?;
    let fs = runs.as_deref().map(free_space);
    if a.json {
        super::print_json(&serde_json::json!({
            "name": a.name, "kind": subject.kind, "out": a.out.display().to_string(),
            "runs": runs.as_ref().map(Vec::len), "used": stats.used,
            "free": fs.map(|f| f.free), "largest_free": fs.map(|f| f.largest),
            "fragmentation": fs.map(|f| f.fragmentation), "truncated": truncated,
        }));
    } else {
        match (runs.as_ref(), fs) {
            (Some(r), Some(f)) => outln!(
                "wrote {}: {} runs, fragmentation {:.1}%",
                a.out.display(),
                r.len(),
                100.0 * f.fragmentation
            ),
            _ => outln!(
                "wrote {}: totals only ({} cannot list its runs in this build)",
                a.out.display(),
                subject.kind
            ),
        }
    }
    Ok(())
}
