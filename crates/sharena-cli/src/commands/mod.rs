//! One module per verb.

pub mod allocator;
pub mod check;
pub mod create;
pub mod info;
pub mod list;
pub mod map;
pub mod reclaim;
pub mod unlink;

use crate::Failure;
use sharena::{OpenOptions, Segment};

/// Opens NAME: a POSIX name (`/x`) or, failing the naming rules, a
/// file-backed segment's path.
pub fn open_any(name: &str) -> Result<Segment, Failure> {
    if sharena::validate_name(name).is_ok() {
        Ok(Segment::open(name, &OpenOptions::new())?)
    } else if std::path::Path::new(name).exists() {
        Ok(Segment::open_file(name, &OpenOptions::new())?)
    } else {
        Err(Failure::usage(format!(
            "{name:?} is neither a segment name (one leading '/', no other '/') nor an existing file"
        )))
    }
}

/// The arguments of verbs that take a segment and `--json` alone (`check`,
/// `reclaim`).
#[derive(Debug, clap::Args)]
pub struct NameArgs {
    /// Segment name (`/x`) or the path of a file-backed segment.
    pub name: String,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Prints a JSON value as one line, unprintable characters escaped
/// ([`json_shown`](crate::out::json_shown)).
pub fn print_json(v: &serde_json::Value) {
    outln!("{}", crate::out::json_shown(&v.to_string()));
}
