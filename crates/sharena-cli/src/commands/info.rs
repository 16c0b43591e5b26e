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
    // Allocation statistics come from the allocator; kinds whose allocator
    // has not landed yet report an empty pool. The process table and the
    // directory arrive with the recovery and directory issues.
    let (used, allocations, extra) = stats(&a.name, seg.kind())?;
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
            "allocator": extra,
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
    if let Some(obj) = extra.as_object() {
        for (k, v) in obj {
            println!("  {k:<9} {v}");
        }
    }
    println!("processes (none attached)");
    println!("directory (empty)");
    Ok(())
}

/// (used bytes, live allocations, allocator-specific details).
fn stats(
    name: &str,
    kind: sharena::AllocatorKind,
) -> Result<(u64, u64, serde_json::Value), Failure> {
    use sharena::ShmAllocator;
    if kind == sharena::AllocatorKind::Slab && sharena::validate_name(name).is_ok() {
        let slab = sharena::Slab::open(name)?;
        let s = slab.stats();
        let extra = serde_json::json!({
            "slot_size": slab.slot_size(), "slot_count": slab.slot_count(),
            "high_water": s.high_water, "available": s.available,
        });
        return Ok((s.used, s.allocations, extra));
    }
    if kind == sharena::AllocatorKind::Bump && sharena::validate_name(name).is_ok() {
        let arena = sharena::Bump::open(name)?;
        let s = arena.stats();
        let extra = serde_json::json!({
            "generation": arena.generation()?, "chunk_size": arena.chunk_size(),
            "high_water": s.high_water, "available": s.available,
        });
        return Ok((s.used, s.allocations, extra));
    }
    if kind == sharena::AllocatorKind::FreeList && sharena::validate_name(name).is_ok() {
        let heap = sharena::FreeList::open(name)?;
        let s = heap.stats();
        let g = heap.geometry();
        let extra = serde_json::json!({
            "chunk_size": g.chunk_size(), "chunks": g.chunks, "arenas": g.arenas,
            "span_chunks": g.span_chunks, "high_water": s.high_water, "available": s.available,
        });
        return Ok((s.used, s.allocations, extra));
    }
    Ok((0, 0, serde_json::Value::Null))
}
