//! Crash points for the recovery tests: places in the allocators' code
//! where a test process can make itself die, to leave a segment exactly as
//! a kill at that instruction would.
//!
//! Compiled only with the `crash-hooks` feature, which is for tests and
//! outside semver: the CLI, the examples and the benches never enable it,
//! and without it every crash point in every crate compiles to nothing.
//! Nothing here reads the environment: the test decides what to arm (from
//! its own argument or environment variable) and calls [`arm`]; library
//! code calls [`hit`] at each [`Point`].
//!
//! An armed process dies the `nth` time any of its threads reaches the
//! armed point, by `abort` (SIGABRT): no destructor, no flush, no
//! unregister, so for the segment it is a SIGKILL there. Disarmed, a hit is
//! one Relaxed load.
//!
//! ```
//! use shm_layout::crash::{self, Point};
//!
//! const HERE: Point = Point::new("doc.here");
//! crash::arm(HERE, 2);
//! crash::hit(HERE); // the first hit: still alive
//! crash::disarm();
//! crash::hit(HERE); // disarmed: nothing happens
//! ```

use crate::sync::{AtomicU64, Ordering};

mod writes;
pub use writes::{arm_writes, count_writes, disarm_writes, on_write, watch, writes, Unwatch};

/// A named crash point. Names are `crate.point` (`freelist.carve`), unique
/// across the workspace; a point is identified by a hash of its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Point {
    key: u64,
    name: &'static str,
}

impl Point {
    /// The point named `name`.
    pub const fn new(name: &'static str) -> Point {
        // FNV-1a, with the low bit set: 0 means "disarmed".
        let bytes = name.as_bytes();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut i = 0;
        while i < bytes.len() {
            h ^= bytes[i] as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
            i += 1;
        }
        Point { key: h | 1, name }
    }

    /// The point's name.
    pub const fn name(self) -> &'static str {
        self.name
    }
}

/// The armed point's key (0: disarmed).
static ARMED: AtomicU64 = AtomicU64::new(0);
/// Hits of the armed point still to pass before the one that dies.
static LEFT: AtomicU64 = AtomicU64::new(0);

/// Arms `at`: this process dies the `nth` time (counting from 1, from
/// now) one of its threads reaches it. Replaces any earlier arming.
pub fn arm(at: Point, nth: u64) {
    assert!(nth > 0, "crash points count hits from 1");
    // Relaxed, all three: read by this process's own threads, and the
    // test arms before it starts the operations that should die (a thread
    // it starts later sees these stores through the spawn).
    ARMED.store(0, Ordering::Relaxed);
    LEFT.store(nth, Ordering::Relaxed);
    ARMED.store(at.key, Ordering::Relaxed);
}

/// Disarms: no point kills this process any more.
pub fn disarm() {
    // Relaxed: see `arm`.
    ARMED.store(0, Ordering::Relaxed);
}

/// A crash point: dies here if `at` is armed and this is its `nth` hit.
#[inline]
pub fn hit(at: Point) {
    // Relaxed: see `arm`. The RMW on LEFT makes exactly one hit the last.
    if ARMED.load(Ordering::Relaxed) == at.key && LEFT.fetch_sub(1, Ordering::Relaxed) == 1 {
        die(at);
    }
}

#[cold]
#[inline(never)]
fn die(at: Point) -> ! {
    // The marker text `.ci/run` looks for to tell a hooked binary from a
    // shipped one: keep it in this one literal.
    eprintln!(
        "sharena-crash-hooks: armed point {} reached, aborting",
        at.name
    );
    std::process::abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_nonzero_and_tell_names_apart() {
        let names = ["a", "b", "freelist.carve", "slab.popped", ""];
        for (i, a) in names.iter().enumerate() {
            assert_ne!(Point::new(a).key, 0);
            for b in &names[i + 1..] {
                assert_ne!(Point::new(a), Point::new(b));
            }
        }
    }

    #[test]
    fn an_armed_point_counts_only_its_own_hits() {
        let (a, b) = (Point::new("test.a"), Point::new("test.b"));
        arm(a, 3);
        hit(a);
        hit(b);
        hit(b);
        hit(a);
        // One hit of `a` left before the kill.
        assert_eq!(LEFT.load(Ordering::Relaxed), 1);
        disarm();
        hit(a);
        hit(a);
        assert_eq!(ARMED.load(Ordering::Relaxed), 0);
    }
}
