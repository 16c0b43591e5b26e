//! A test hook that kills this process at a named point of the slab's cold
//! paths, so tests can prove that a death there loses nothing.
//!
//! `SHARENA_SLAB_CRASH_AT=<point>[:<n>]` (read once, into a static) makes
//! the process abort (SIGABRT: no destructor, no flush, no unregister,
//! exactly like a SIGKILL for the segment) the `n`-th time (default the
//! first) it reaches that point. Loom builds compile the points away.
//! The points sit on refill and flush only, never on the cache-hit path.
//! Unset (the normal case), each point costs one load of a static.

#[cfg(not(shm_loom))]
use shm_layout::sync::{AtomicU64, Ordering};
#[cfg(not(shm_loom))]
use std::sync::OnceLock;

/// A named point where a test may kill the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Point {
    /// Refill: the head CAS took a slot off the shared stack, its word is
    /// still FREE (`popped`).
    Popped = 1,
    /// Refill: slots taken from the never-used counter, none stamped yet
    /// (`taken`).
    Taken = 2,
    /// Flush: the cache count is lowered and the chain's words are linked
    /// FREE, the head CAS not done (`linked`).
    Linked = 3,
    /// Refill: the cache was just refilled (`refilled`).
    Refilled = 4,
}

impl Point {
    #[cfg_attr(shm_loom, allow(dead_code))]
    fn parse(s: &str) -> Option<Point> {
        Some(match s {
            "popped" => Point::Popped,
            "taken" => Point::Taken,
            "linked" => Point::Linked,
            "refilled" => Point::Refilled,
            _ => return None,
        })
    }
}

/// The environment variable naming the point.
pub const ENV: &str = "SHARENA_SLAB_CRASH_AT";

#[cfg(not(shm_loom))]
static AT: OnceLock<Option<(Point, u64)>> = OnceLock::new();
#[cfg(not(shm_loom))]
static HITS: AtomicU64 = AtomicU64::new(0);

#[cfg(not(shm_loom))]
fn parse_env() -> Option<(Point, u64)> {
    let v = std::env::var(ENV).ok()?;
    let (name, n) = match v.split_once(':') {
        Some((name, n)) => (name, n.parse().ok()?),
        None => (v.as_str(), 1),
    };
    Some((Point::parse(name)?, n))
}

/// Aborts the process if `SHARENA_SLAB_CRASH_AT` names `p` and this is its
/// `n`-th hit.
#[inline]
pub fn point(p: Point) {
    #[cfg(not(shm_loom))]
    if let Some((at, n)) = *AT.get_or_init(parse_env) {
        // Relaxed: a process-local count; nothing is published.
        if at == p && HITS.fetch_add(1, Ordering::Relaxed) + 1 == n {
            std::process::abort();
        }
    }
    #[cfg(shm_loom)]
    let _ = p;
}
