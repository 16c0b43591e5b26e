//! `sharena unlink NAME`

use crate::Failure;

/// Arguments of `unlink`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Segment name.
    pub name: String,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs `unlink`.
pub fn run(a: &Args) -> Result<(), Failure> {
    sharena::Segment::unlink(&a.name)?;
    if a.json {
        super::print_json(&serde_json::json!({ "unlinked": a.name }));
    } else {
        outln!("unlinked {}", a.name);
    }
    Ok(())
}
