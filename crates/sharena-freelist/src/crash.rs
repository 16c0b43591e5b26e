//! Crash hooks for the recovery tests: named points in the owner's and the
//! remote freer's paths where a test child can make itself die, to leave
//! the segment exactly as a `SIGKILL` at that instruction would.
//!
//! Compiled in only with the `crash-hooks` feature (outside semver, for
//! tests; the crate's own tests turn it on). Without it `point` is empty
//! and [`arm`] returns `false`, so the hot paths pay nothing. With it, each
//! point is one Relaxed load of a static.
//!
//! | point | where the process dies |
//! |---|---|
//! | `carve` | an allocation took a block from a bin and binned the rest, but has not stamped the block USED (nor counted it) |
//! | `cache-push` | a free moved the tag to USED\|CACHED but has not written the block into the class cache |
//! | `coalesce` | a free unlinked the free neighbours from their bins but has not written the merged tag |
//! | `remote-push` | a remote free won the CAS to REMOTE but has not pushed the block onto the owner's list |
//! | `drain` | the owner took its remote list and is between recording a block as taken and freeing it |

/// A place where an armed process dies (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    /// After carving, before the USED tag.
    Carve = 1,
    /// After the CACHED tag, before the class-cache store.
    CachePush = 2,
    /// Mid-coalesce, before the merged tag.
    Coalesce = 3,
    /// Between a remote free's tag CAS and its push.
    RemotePush = 4,
    /// Mid-drain of the remote list.
    Drain = 5,
}

impl Point {
    /// Every point.
    pub const ALL: [Point; 5] = [
        Point::Carve,
        Point::CachePush,
        Point::Coalesce,
        Point::RemotePush,
        Point::Drain,
    ];

    /// The point's name (the table above).
    pub fn name(self) -> &'static str {
        match self {
            Point::Carve => "carve",
            Point::CachePush => "cache-push",
            Point::Coalesce => "coalesce",
            Point::RemotePush => "remote-push",
            Point::Drain => "drain",
        }
    }

    /// The point named `name`.
    pub fn parse(name: &str) -> Option<Point> {
        Point::ALL.into_iter().find(|p| p.name() == name)
    }
}

#[cfg(feature = "crash-hooks")]
static ARMED: shm_layout::sync::AtomicU64 = shm_layout::sync::AtomicU64::new(0);

/// Makes this process abort the next time it reaches `at` (`None`
/// disarms). `false` when the hooks are not compiled in.
pub fn arm(at: Option<Point>) -> bool {
    #[cfg(feature = "crash-hooks")]
    {
        // Relaxed: read by this process's own threads; the test arms before
        // it starts the operation that should die.
        ARMED.store(
            at.map_or(0, |p| p as u64),
            shm_layout::sync::Ordering::Relaxed,
        );
        true
    }
    #[cfg(not(feature = "crash-hooks"))]
    {
        let _ = at;
        false
    }
}

/// Dies here if armed for `at`.
#[inline(always)]
pub(crate) fn point(at: Point) {
    #[cfg(feature = "crash-hooks")]
    {
        // Relaxed: see `arm`.
        if ARMED.load(shm_layout::sync::Ordering::Relaxed) == at as u64 {
            std::process::abort();
        }
    }
    #[cfg(not(feature = "crash-hooks"))]
    let _ = at;
}
