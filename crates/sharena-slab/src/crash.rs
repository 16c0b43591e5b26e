//! Crash points in the slab's cold paths, where a test process can make
//! itself die, so tests can prove that a death there loses nothing.
//!
//! Public only with the `crash-hooks` feature (outside semver, for tests).
//! A test arms a point through `shm_layout::crash::arm(point.into(), n)`:
//! the process then aborts (SIGABRT: no destructor, no flush, no
//! unregister, exactly like a SIGKILL for the segment) the `n`-th time it
//! reaches that point. Without the feature, and in loom builds, every point
//! compiles to nothing. The points sit on refill and flush only, never on
//! the cache-hit path.

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

#[cfg(feature = "crash-hooks")]
impl Point {
    /// The point named `name` (the names in parentheses above).
    pub fn parse(name: &str) -> Option<Point> {
        Some(match name {
            "popped" => Point::Popped,
            "taken" => Point::Taken,
            "linked" => Point::Linked,
            "refilled" => Point::Refilled,
            _ => return None,
        })
    }
}

#[cfg(all(feature = "crash-hooks", not(shm_loom)))]
impl From<Point> for shm_layout::crash::Point {
    fn from(p: Point) -> Self {
        use shm_layout::crash::Point as P;
        match p {
            Point::Popped => const { P::new("slab.popped") },
            Point::Taken => const { P::new("slab.taken") },
            Point::Linked => const { P::new("slab.linked") },
            Point::Refilled => const { P::new("slab.refilled") },
        }
    }
}

/// Dies here if the test armed `p`; nothing at all without the
/// `crash-hooks` feature.
#[inline(always)]
pub(crate) fn point(p: Point) {
    #[cfg(all(feature = "crash-hooks", not(shm_loom)))]
    shm_layout::crash::hit(p.into());
    #[cfg(not(all(feature = "crash-hooks", not(shm_loom))))]
    let _ = p;
}
