//! `sharena info NAME [--json]`

use crate::size::human;
use crate::Failure;
use sharena::RegionId;

/// Arguments of `info`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Segment name (`/x`) or the path of a file-backed segment.
    pub name: String,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs `info`.
pub fn run(a: &Args) -> Result<(), Failure> {
    let seg = super::open_any(&a.name)?;
    let h = *seg.view().header();
    let pool = seg.view().region(RegionId::Pool);
    // Allocation statistics, the process table and the directory come from
    // the allocators (later issues); a segment without them has nothing
    // allocated, no attached processes and an empty directory.
    let (used, allocations) = (0u64, 0u64);
    let regions: serde_json::Map<String, serde_json::Value> = RegionId::ALL
        .iter()
        .map(|id| {
            let r = h.region(*id);
            (
                id.name().to_string(),
                serde_json::json!({"offset": r.offset, "len": r.len}),
            )
        })
        .collect();
    if a.json {
        super::print_json(&serde_json::json!({
            "name": seg.name(),
            "kind": seg.kind().name(),
            "layout_version": h.layout_version,
            "size": seg.len(),
            "capacity": pool.len,
            "used": used,
            "free": pool.len - used,
            "allocations": allocations,
            "processes": [],
            "directory": [],
            "backend": format!("{:?}", seg.backend()).to_lowercase(),
            "creator_pid": h.creator_pid,
            "created_unix_ns": h.created_unix_ns,
            "regions": regions,
        }));
        return Ok(());
    }
    println!("segment   {}", seg.name());
    println!("kind      {}", seg.kind());
    println!("layout    version {}", h.layout_version);
    println!("size      {} ({} bytes)", human(seg.len()), seg.len());
    println!("creator   pid {}", h.creator_pid);
    println!("regions");
    for id in RegionId::ALL {
        let r = h.region(id);
        println!(
            "  {:<9} offset {:>12}  length {:>12} ({})",
            id.name(),
            r.offset,
            r.len,
            human(r.len)
        );
    }
    println!(
        "stats     capacity {} used {} free {} allocations {allocations}",
        human(pool.len),
        human(used),
        human(pool.len - used)
    );
    println!("processes (none attached)");
    println!("directory (empty)");
    Ok(())
}
