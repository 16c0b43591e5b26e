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
pub fn open_any(name: &str, opts: &OpenOptions) -> Result<Segment, Failure> {
    if sharena::validate_name(name).is_ok() {
        Ok(Segment::open(name, opts)?)
    } else if std::path::Path::new(name).symlink_metadata().is_ok() {
        Ok(Segment::open_file(name, opts)?)
    } else {
        Err(Failure::usage(format!(
            "{name:?} is neither a segment name (one leading '/', no other '/') nor an existing file"
        )))
    }
}

/// What the verbs that open a segment accept beyond segments this user
/// owns and no one else may write (`sharena::OpenOptions`).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct TrustArgs {
    /// Open a segment another user owns (it can read and truncate it).
    #[arg(long)]
    pub allow_foreign_owner: bool,
    /// Open a segment whose mode lets its group or others write it.
    #[arg(long)]
    pub allow_shared_write: bool,
}

impl TrustArgs {
    /// The open options these flags ask for.
    pub fn open_options(self) -> OpenOptions {
        OpenOptions::new()
            .allow_foreign_owner(self.allow_foreign_owner)
            .allow_shared_write(self.allow_shared_write)
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
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// Prints a JSON value as one line, unprintable characters escaped
/// ([`json_shown`](crate::out::json_shown)).
pub fn print_json(v: &serde_json::Value) {
    outln!("{}", crate::out::json_shown(&v.to_string()));
}
