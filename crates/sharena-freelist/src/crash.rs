//! Crash hooks for the recovery tests: named points in the owner's and the
//! remote freer's paths where a test child can make itself die, to leave
//! the segment exactly as a `SIGKILL` at that instruction would.
//!
//! Public only with the `crash-hooks` feature (outside semver, for tests),
//! which a test arms through `shm_layout::crash::arm(point.into(), 1)`.
//! Without it every point compiles to nothing, so the hot paths pay
//! nothing. With it, each point is one Relaxed load of a static.
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

#[cfg(feature = "crash-hooks")]
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
impl From<Point> for shm_layout::crash::Point {
    fn from(p: Point) -> Self {
        use shm_layout::crash::Point as P;
        match p {
            Point::Carve => const { P::new("freelist.carve") },
            Point::CachePush => const { P::new("freelist.cache-push") },
            Point::Coalesce => const { P::new("freelist.coalesce") },
            Point::RemotePush => const { P::new("freelist.remote-push") },
            Point::Drain => const { P::new("freelist.drain") },
        }
    }
}

/// Dies here if the test armed `at` (`shm_layout::crash::arm`); nothing
/// at all without the `crash-hooks` feature.
#[inline(always)]
pub(crate) fn point(at: Point) {
    #[cfg(feature = "crash-hooks")]
    shm_layout::crash::hit(at.into());
    #[cfg(not(feature = "crash-hooks"))]
    let _ = at;
}
