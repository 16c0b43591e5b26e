//! `sharena create NAME --kind K --size SIZE [--slot-size N] [--mode 600]`

use super::allocator::Allocator;
use crate::kind::{check_size, options, parse_kind, DEFAULT_SLOT, KINDS};
use crate::size::{human, parse_mode, parse_size};
use crate::Failure;
use sharena::{AllocatorKind, Bump, FreeList, Handles, RegionId, Slab};

/// The help text after the options.
pub const AFTER_HELP: &str = "\
The size must hold the kind's metadata and at least one block (a slab: one
slot); a smaller one is refused, naming the smallest. The segment's pages
are reserved now, so a size /dev/shm cannot hold fails here, not at a
later write. The mode is set exactly as given (the umask does not apply);
openers refuse a segment another user owns or others may write.

Example:
  sharena create /orders --kind slab --size 64MiB --slot-size 128 --mode 640";

/// Arguments of `create`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Segment name: one leading '/', no other '/', at most 255 bytes.
    pub name: String,
    /// Allocator kind: bump, freelist, slab or handles.
    #[arg(long, value_parser = parse_kind)]
    pub kind: AllocatorKind,
    /// Bytes, or K, M, G, KiB, MiB, GiB (powers of 1024).
    #[arg(long, value_parser = parse_size, allow_hyphen_values = true)]
    pub size: u64,
    /// Slot size in bytes, a multiple of 8 (slab only; default 64).
    #[arg(long, value_parser = parse_size)]
    pub slot_size: Option<u64>,
    /// Permission bits, octal.
    #[arg(long, default_value = "600", value_parser = parse_mode)]
    pub mode: u32,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// The slot size asked for: a multiple of 8 (the slab would round it up
/// silently), only with `--kind slab`.
fn slot_size(a: &Args) -> Result<u64, Failure> {
    match a.slot_size {
        Some(_) if a.kind != AllocatorKind::Slab => {
            Err(Failure::usage("--slot-size only applies to --kind slab"))
        }
        Some(s) if s % 8 != 0 => Err(Failure::usage(format!(
            "--slot-size {s} is not a multiple of 8 (slots are 8-byte aligned): use {}",
            s.next_multiple_of(8)
        ))),
        Some(s) => Ok(s),
        None => Ok(DEFAULT_SLOT),
    }
}

/// Runs `create`.
pub fn run(a: &Args) -> Result<(), Failure> {
    sharena::validate_name(&a.name)?;
    let slot = slot_size(a)?;
    check_size(a.kind, a.size, slot)?;
    let opts = options(a.kind, a.size, slot)
        .map_err(|e| Failure::usage(format!("--size {}: {e}", a.size)))?
        .mode(a.mode);
    let made = match a.kind {
        AllocatorKind::Bump => Allocator::Bump(Bump::create_with_options(&a.name, &opts)?),
        AllocatorKind::Slab => Allocator::Slab(Slab::create_with_options(&a.name, &opts)?),
        AllocatorKind::FreeList => {
            Allocator::FreeList(FreeList::create_with_options(&a.name, &opts)?)
        }
        AllocatorKind::Handles => Allocator::Handles(Handles::create_with_options(&a.name, &opts)?),
        AllocatorKind::Raw => {
            return Err(Failure::usage(format!("kind raw is internal: use {KINDS}")))
        }
    };
    let seg = made.segment();
    let pool = seg.view().region(RegionId::Pool);
    let slot_json = (a.kind == AllocatorKind::Slab).then_some(slot);
    if a.json {
        super::print_json(&serde_json::json!({
            "name": seg.name(), "kind": seg.kind().name(), "size": seg.len(),
            "capacity": pool.len, "mode": format!("{:o}", a.mode), "slot_size": slot_json,
        }));
    } else {
        let slots = slot_json.map_or(String::new(), |s| format!(", {s}-byte slots"));
        outln!(
            "created {}: {} segment of {} ({} pool{slots}), mode {:o}",
            seg.name(),
            seg.kind(),
            human(seg.len()),
            human(pool.len),
            a.mode
        );
    }
    Ok(())
}
