//! `sharena create NAME --kind K --size SIZE [--slot-size N] [--mode 600]`

use crate::size::{human, parse_mode, parse_size};
use crate::Failure;
use sharena::{AllocatorKind, Bump, FreeList, Handles, RegionId, Segment, Slab};

/// Arguments of `create`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Segment name: one leading '/', no other '/', at most 255 bytes.
    pub name: String,
    /// Allocator kind: bump, freelist, slab or handles.
    #[arg(long, value_parser = parse_kind)]
    pub kind: AllocatorKind,
    /// Segment size in bytes, or with K, M, G, KiB, MiB, GiB (e.g. 64M).
    #[arg(long, value_parser = parse_size, allow_hyphen_values = true)]
    pub size: u64,
    /// Slot size in bytes (slab only; at least 8, rounded up to 8; default 64).
    #[arg(long, value_parser = parse_size)]
    pub slot_size: Option<u64>,
    /// Permission bits, octal.
    #[arg(long, default_value = "600", value_parser = parse_mode)]
    pub mode: u32,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn parse_kind(s: &str) -> Result<AllocatorKind, String> {
    match s.parse::<AllocatorKind>()? {
        AllocatorKind::Raw => {
            Err("kind raw is internal; use bump, freelist, slab or handles".into())
        }
        k => Ok(k),
    }
}

/// Runs `create`.
pub fn run(a: &Args) -> Result<(), Failure> {
    if a.slot_size.is_some() && a.kind != AllocatorKind::Slab {
        return Err(Failure::usage("--slot-size only applies to --kind slab"));
    }
    let slab;
    let bump;
    let heap;
    let handles;
    let seg: &Segment = if a.kind == AllocatorKind::Bump {
        let opts = Bump::options(a.size)?.mode(a.mode);
        bump = Bump::create_with_options(&a.name, &opts)?;
        bump.segment()
    } else if a.kind == AllocatorKind::Slab {
        let slot = a.slot_size.unwrap_or(64);
        let opts = Slab::options(a.size, slot)
            .map_err(|e| Failure::op(format!("segment {}: {e}", a.name)))?
            .mode(a.mode);
        slab = Slab::create_with_options(&a.name, &opts)?;
        slab.segment()
    } else if a.kind == AllocatorKind::FreeList {
        let opts = FreeList::options(a.size)
            .map_err(|e| Failure::op(format!("segment {}: {e}", a.name)))?
            .mode(a.mode);
        heap = FreeList::create_with_options(&a.name, &opts)?;
        heap.segment()
    } else {
        // `parse_kind` refuses raw: what is left is the handle heap.
        let opts = Handles::options(a.size)
            .map_err(|e| Failure::op(format!("segment {}: {e}", a.name)))?
            .mode(a.mode);
        handles = Handles::create_with_options(&a.name, &opts)?;
        handles.segment()
    };
    let pool = seg.view().region(RegionId::Pool);
    if a.json {
        super::print_json(&serde_json::json!({
            "name": seg.name(), "kind": seg.kind().name(), "size": seg.len(),
            "capacity": pool.len, "mode": format!("{:o}", a.mode),
        }));
    } else {
        outln!(
            "created {}: {} segment of {} ({} pool), mode {:o}",
            seg.name(),
            seg.kind(),
            human(seg.len()),
            human(pool.len),
            a.mode
        );
    }
    Ok(())
}
