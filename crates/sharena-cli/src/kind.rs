//! KIND arguments, and the smallest segment each kind can be made in: one
//! parser and one list of kinds for every verb.

use crate::size::human;
use crate::Failure;
use sharena::layout::MAX_SEGMENT_LEN;
use sharena::{AllocatorKind, Bump, FreeList, Handles, SegmentOptions, Slab};

/// The kinds a user may ask for, as every message lists them.
pub const KINDS: &str = "bump, freelist, slab or handles";

/// The slot size `create` gives a slab by default, and `stress` uses.
pub const DEFAULT_SLOT: u64 = 64;

/// Parses `--kind`: `bump`, `freelist`, `slab` or `handles`, in any case
/// (`FreeList` too). `raw` is internal.
pub fn parse_kind(s: &str) -> Result<AllocatorKind, String> {
    let lower = s.to_ascii_lowercase();
    match lower.parse::<AllocatorKind>() {
        Ok(AllocatorKind::Raw) => Err(format!("kind raw is internal: use {KINDS}")),
        Ok(k) => Ok(k),
        Err(_) => Err(format!("unknown kind {s:?} (expected {KINDS})")),
    }
}

/// The creation options of `kind` for a segment of `size` bytes, exactly
/// as `create` and the stress engine make them.
pub fn options(kind: AllocatorKind, size: u64, slot: u64) -> sharena::Result<SegmentOptions> {
    match kind {
        AllocatorKind::Bump => Bump::options(size),
        AllocatorKind::Slab => Slab::options(size, slot),
        AllocatorKind::FreeList => FreeList::options(size),
        AllocatorKind::Handles | AllocatorKind::Raw => Handles::options(size),
    }
}

fn fits(kind: AllocatorKind, size: u64, slot: u64) -> bool {
    options(kind, size, slot).is_ok_and(|o| o.layout("").is_ok())
}

/// The smallest size a `kind` segment can be made in (with `slot`-byte
/// slots for a slab), found by bisection over the sizes the options
/// accept; `None` if not even the largest fits.
pub fn min_size(kind: AllocatorKind, slot: u64) -> Option<u64> {
    if !fits(kind, MAX_SEGMENT_LEN, slot) {
        return None;
    }
    let (mut lo, mut hi) = (0u64, MAX_SEGMENT_LEN);
    // Invariant: `hi` fits and `lo` does not (0 never does).
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(kind, mid, slot) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// Checks `--size` for `kind`: below the smallest segment or above the
/// largest is bad usage, in one line that names the bound.
pub fn check_size(kind: AllocatorKind, size: u64, slot: u64) -> Result<(), Failure> {
    if size > MAX_SEGMENT_LEN {
        return Err(Failure::usage(format!(
            "--size {size} is larger than the largest segment, {MAX_SEGMENT_LEN} bytes (128 TiB)"
        )));
    }
    let what = if kind == AllocatorKind::Slab {
        format!("{kind} segment with {slot}-byte slots")
    } else {
        format!("{kind} segment")
    };
    match min_size(kind, slot) {
        Some(min) if size < min => Err(Failure::usage(format!(
            "--size {size} is smaller than the smallest {what}, {min} bytes ({}): use --size {min} or more",
            human(min)
        ))),
        Some(_) => Ok(()),
        None => Err(Failure::usage(format!("no {what} fits in any size"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_in_any_case_and_raw_is_refused() {
        for (s, k) in [
            ("freelist", AllocatorKind::FreeList),
            ("FreeList", AllocatorKind::FreeList),
            ("SLAB", AllocatorKind::Slab),
            ("bump", AllocatorKind::Bump),
            ("Handles", AllocatorKind::Handles),
        ] {
            assert_eq!(parse_kind(s), Ok(k), "{s}");
        }
        for bad in ["raw", "blob", "", "free list"] {
            let e = parse_kind(bad).unwrap_err();
            assert!(e.contains(KINDS), "{bad}: {e}");
            assert!(!e.contains("raw,"), "{e}");
        }
    }

    #[test]
    fn the_minimum_is_the_edge_of_what_fits() {
        for kind in [
            AllocatorKind::Bump,
            AllocatorKind::FreeList,
            AllocatorKind::Slab,
            AllocatorKind::Handles,
        ] {
            let min = min_size(kind, DEFAULT_SLOT).unwrap();
            assert!(fits(kind, min, DEFAULT_SLOT), "{kind} {min}");
            assert!(!fits(kind, min - 1, DEFAULT_SLOT), "{kind} {min}");
            assert!(check_size(kind, min, DEFAULT_SLOT).is_ok());
            let e = check_size(kind, min - 1, DEFAULT_SLOT).unwrap_err();
            assert!(e.message.contains(&min.to_string()), "{}", e.message);
        }
        // A bigger slot needs a bigger slab.
        assert!(
            min_size(AllocatorKind::Slab, 4096).unwrap()
                > min_size(AllocatorKind::Slab, 64).unwrap()
        );
    }
}
