//! `sharena list [--json]`

use crate::size::human;
use crate::Failure;

/// Arguments of `list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs `list`.
pub fn run(a: &Args) -> Result<(), Failure> {
    let found = sharena::list()?;
    if a.json {
        let segs: Vec<serde_json::Value> = found
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "kind": s.kind.map_or("unknown", |k| k.name()),
                    "size": s.size,
                    "layout_version": s.layout_version,
                    "creator_pid": s.creator_pid,
                    "ready": s.ready,
                    "owner_uid": s.owner_uid,
                    "mode": format!("{:o}", s.mode),
                })
            })
            .collect();
        super::print_json(&serde_json::json!({ "segments": segs }));
        return Ok(());
    }
    if found.is_empty() {
        outln!("no sharena segments in /dev/shm");
        return Ok(());
    }
    outln!(
        "{:<32} {:<9} {:>10} {:>6} {:>4}  state",
        "NAME",
        "KIND",
        "SIZE",
        "OWNER",
        "MODE"
    );
    for s in &found {
        // Any local user can name an object in /dev/shm: escape what a
        // terminal would act on.
        outln!(
            "{:<32} {:<9} {:>10} {:>6} {:>4o}  {}",
            crate::out::shown(&s.name),
            s.kind.map_or("unknown", |k| k.name()),
            human(s.size),
            s.owner_uid,
            s.mode,
            if s.ready { "ready" } else { "initialising" }
        );
    }
    Ok(())
}
