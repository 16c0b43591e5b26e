//! `sharena info NAME [--json]`

use super::allocator::Allocator;
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
    #[command(flatten)]
    pub trust: super::TrustArgs,
}

/// Runs `info`.
pub fn run(a: &Args) -> Result<(), Failure> {
    let opts = a.trust.open_options();
    let seg = super::open_any(&a.name, &opts)?;
    let h = *seg.view().header();
    let pool = seg.view().region(RegionId::Pool);
    // Allocation statistics come from the allocator (a raw segment has
    // none, and reports an empty pool).
    let (used, allocations, extra) = if seg.kind() == sharena::AllocatorKind::Raw {
        (0, 0, serde_json::Value::Null)
    } else {
        stats(&Allocator::open(&a.name, "info", &opts)?)?
    };
    let procs = processes(seg.view())?;
    let dir = directory(seg.view())?;
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
            "free": pool.len.saturating_sub(used),
            "allocations": allocations,
            "processes": procs.iter().map(|p| serde_json::json!({
                "slot": p.slot, "pid": p.id.pid(), "start_ticks": p.id.start_ticks(),
                "alive": p.alive, "attached_unix_ns": p.attached_unix_ns,
            })).collect::<Vec<_>>(),
            "directory": dir.iter().map(|d| serde_json::json!({
                "name": d.name, "value": d.value, "owner_pid": d.owner_pid,
            })).collect::<Vec<_>>(),
            "backend": format!("{:?}", seg.backend()).to_lowercase(),
            "creator_pid": h.creator_pid,
            "created_unix_ns": h.created_unix_ns,
            "regions": regions,
            "allocator": extra,
        }));
        return Ok(());
    }
    outln!("segment   {}", crate::out::shown(seg.name()));
    outln!("kind      {}", seg.kind());
    outln!("layout    version {}", h.layout_version);
    outln!("size      {} ({} bytes)", human(seg.len()), seg.len());
    outln!("creator   pid {}", h.creator_pid);
    outln!("regions");
    for id in RegionId::ALL {
        let r = h.region(id);
        outln!(
            "  {:<9} offset {:>12}  length {:>12} ({})",
            id.name(),
            r.offset,
            r.len,
            human(r.len)
        );
    }
    outln!(
        "stats     capacity {} used {} free {} allocations {allocations}",
        human(pool.len),
        human(used),
        human(pool.len.saturating_sub(used))
    );
    if let Some(obj) = extra.as_object() {
        for (k, v) in obj {
            outln!("  {k:<9} {v}");
        }
    }
    if procs.is_empty() {
        outln!("processes (none attached)");
    } else {
        outln!("processes");
        outln!(
            "  {:>5} {:>8} {:>12}  {:<5} attached",
            "slot",
            "pid",
            "start",
            "alive"
        );
        let now = now_unix_ns();
        for p in &procs {
            outln!(
                "  {:>5} {:>8} {:>12}  {:<5} {}",
                p.slot,
                p.id.pid(),
                p.id.start_ticks(),
                if p.alive { "yes" } else { "no" },
                ago(now, p.attached_unix_ns)
            );
        }
    }
    if dir.is_empty() {
        outln!("directory (empty)");
    } else {
        outln!("directory");
        for d in &dir {
            // Names come from the segment, which any writer can fill.
            outln!(
                "  {:<64} {:>12}  pid {}",
                crate::out::shown(&d.name),
                d.value,
                d.owner_pid
            );
        }
    }
    Ok(())
}

/// The process table's entries (none when the segment has no table).
fn processes(view: &sharena::SegmentView) -> Result<Vec<sharena::ProcEntry>, Failure> {
    let table = sharena::ProcTable::of(view)?;
    if table.capacity() == 0 {
        return Ok(Vec::new());
    }
    Ok(table.entries()?)
}

/// One published name.
#[derive(Debug)]
struct Published {
    name: String,
    value: u64,
    /// Pid of the publisher (0: not recorded).
    owner_pid: u32,
}

/// The directory's published names (none when the segment has no
/// directory).
fn directory(view: &sharena::SegmentView) -> Result<Vec<Published>, Failure> {
    let dir = sharena::layout::Directory::of(view)?;
    if dir.capacity() == 0 {
        return Ok(Vec::new());
    }
    Ok(dir
        .entries()?
        .into_iter()
        .map(|e| Published {
            name: e.name,
            value: e.value,
            owner_pid: e.owner.map_or(0, sharena::ProcId::pid),
        })
        .collect())
}

fn now_unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// "12.3 s ago" (or "?" for a time in the future or unset).
fn ago(now: u64, then: u64) -> String {
    if then == 0 || then > now {
        return "?".into();
    }
    let s = (now - then) as f64 / 1e9;
    if s < 120.0 {
        format!("{s:.1} s ago")
    } else if s < 7200.0 {
        format!("{:.1} min ago", s / 60.0)
    } else {
        format!("{:.1} h ago", s / 3600.0)
    }
}

/// (used bytes, live allocations, allocator-specific details).
fn stats(alloc: &Allocator) -> Result<(u64, u64, serde_json::Value), Failure> {
    let s = alloc.stats();
    let extra = match alloc {
        Allocator::Slab(slab) => serde_json::json!({
            "slot_size": slab.slot_size(), "slot_count": slab.slot_count(),
            "high_water": s.high_water, "available": s.available,
        }),
        Allocator::Bump(arena) => serde_json::json!({
            "generation": arena.generation()?, "chunk_size": arena.chunk_size(),
            "high_water": s.high_water, "available": s.available,
        }),
        Allocator::FreeList(heap) => {
            let g = heap.geometry();
            serde_json::json!({
                "chunk_size": g.chunk_size(), "chunks": g.chunks, "arenas": g.arenas,
                "span_chunks": g.span_chunks, "high_water": s.high_water,
                "available": s.available,
            })
        }
        Allocator::Handles(heap) => serde_json::json!({
            "handle_capacity": heap.handle_capacity(), "high_water": s.high_water,
            "available": s.available,
        }),
    };
    Ok((s.used, s.allocations, extra))
}
