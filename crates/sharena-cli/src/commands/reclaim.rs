//! `sharena reclaim NAME [--json]`

use super::allocator::Allocator;
use crate::size::human;
use crate::Failure;

/// Arguments of `reclaim`.
pub type Args = super::NameArgs;

/// Runs `reclaim`: frees what dead processes held.
pub fn run(a: &Args) -> Result<(), Failure> {
    let alloc = Allocator::open(&a.name, "reclaim", &a.trust.open_options())?;
    let r = alloc
        .recover()
        .reclaim_dead()
        .map_err(|e| Failure::op(format!("reclaim {}: {e}", a.name)))?;
    if a.json {
        super::print_json(&serde_json::json!({
            "name": a.name, "processes": r.processes, "blocks": r.blocks,
            "bytes": r.bytes, "micros": r.micros,
        }));
    } else {
        outln!(
            "reclaim {}: {} dead processes, {} blocks, {} freed in {} µs",
            a.name,
            r.processes,
            r.blocks,
            human(r.bytes),
            r.micros
        );
    }
    Ok(())
}
