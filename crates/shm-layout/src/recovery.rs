//! Crash recovery and self-checks: the surface every allocator kind offers
//! (docs/RECOVERY.md), and the report types the `sharena` command prints.
//!
//! The model: every block an allocator hands out belongs to the registry
//! entry (arena, cache) of the process that allocated it, until it is freed
//! or [`Recover::share`]d. When that process is gone (its pid no longer
//! runs with the recorded start time, see [`OwnerId`]), anyone may call
//! [`Recover::reclaim_dead`], which frees its unshared blocks and cached
//! free blocks, gives its registry entries back and frees its process-table
//! entries. `docs/RECOVERY.md` says what is and is not guaranteed.

use crate::error::Result;
use crate::offset::Offset;
use crate::owner::OwnerId;
use crate::proctable::ProcTable;
use crate::view::SegmentView;
use std::fmt;
use std::time::Instant;

/// What one [`Recover::reclaim_dead`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReclaimReport {
    /// Dead processes whose holdings (or table entries) this call freed.
    pub processes: u64,
    /// Blocks freed (live blocks of dead processes, and cached free ones).
    pub blocks: u64,
    /// Bytes those blocks span (headers and rounding included).
    pub bytes: u64,
    /// Wall time of the call, in microseconds.
    pub micros: u64,
}

/// One broken invariant found by [`Recover::check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The segment offset the problem is at (a block, a word of state).
    pub at: u64,
    /// What is wrong, in one line.
    pub what: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at offset {}: {}", self.at, self.what)
    }
}

/// The most problems a [`CheckReport`] lists (the rest are only counted).
pub const MAX_PROBLEMS: usize = 64;

/// What [`Recover::check`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// The first [`MAX_PROBLEMS`] problems, in the order found.
    pub problems: Vec<Problem>,
    /// Problems found in all (may exceed `problems.len()`).
    pub problem_count: u64,
    /// Blocks (or slots) visited.
    pub blocks: u64,
    /// Bytes the visited live blocks hold, headers and rounding included.
    pub used_bytes: u64,
}

impl CheckReport {
    /// No problem found.
    pub fn ok(&self) -> bool {
        self.problem_count == 0
    }

    /// Records a problem.
    pub fn problem(&mut self, at: u64, what: impl Into<String>) {
        self.problem_count += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem {
                at,
                what: what.into(),
            });
        }
    }
}

/// What a stretch of the pool holds, for maps and checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunKind {
    /// Free (binned, on a free stack, or never used).
    Free,
    /// Live, owned by the process of its registry entry.
    Used,
    /// Live and shared: never reclaimed.
    Shared,
    /// Free, in a per-process cache.
    Cached,
    /// Freed by another process, not yet taken in by the owner.
    Remote,
}

impl RunKind {
    /// The kind's name in reports and legends.
    pub fn name(self) -> &'static str {
        match self {
            RunKind::Free => "free",
            RunKind::Used => "used",
            RunKind::Shared => "shared",
            RunKind::Cached => "cached",
            RunKind::Remote => "remote",
        }
    }
}

/// A stretch of the pool in one state: a block, or several adjacent
/// blocks (or slots) of the same kind and owner merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// Segment offset of its first byte.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// What it holds.
    pub kind: RunKind,
    /// The registry entry (arena, cache) + 1 that owns it; 0 for none.
    pub owner: u32,
}

/// Recovery and self-checks, implemented by every allocator kind.
pub trait Recover {
    /// Frees what processes that are gone held: their unshared live blocks,
    /// their cached free blocks, their registry entries and their process
    /// table entries. Safe to run while other processes allocate and free;
    /// idempotent (a second call finds nothing); bounded by the segment's
    /// size.
    fn reclaim_dead(&self) -> Result<ReclaimReport>;

    /// Verifies every invariant of the allocator's state, reporting each
    /// problem with its offset. Blocks nobody (reads only, every loop
    /// bounded); run it when no process is mid-operation for an exact
    /// answer, since a concurrent operation can look like a problem.
    fn check(&self) -> Result<CheckReport>;

    /// Hands the live block at `offset` over to the segment: it is no longer
    /// the allocating process's, so `reclaim_dead` never frees it (anyone
    /// may still `free` it).
    fn share(&self, offset: Offset) -> Result<()>;

    /// The pool as runs of one kind and owner, in offset order, at most
    /// `limit` of them (adjacent runs of the same kind and owner merged).
    fn runs(&self, limit: usize) -> Result<Vec<Run>>;
}

/// The last step of every `reclaim_dead`: frees the process-table entries of
/// dead processes and fills in the report. `reclaimed` names the processes
/// whose allocator state the caller freed (they count once even if they had
/// no table entry left).
pub fn finish_reclaim(
    view: &SegmentView,
    started: Instant,
    reclaimed: &[impl Copy + Into<OwnerId>],
    blocks: u64,
    bytes: u64,
) -> Result<ReclaimReport> {
    let table = ProcTable::of(view)?;
    let mut procs: Vec<OwnerId> = reclaimed.iter().map(|&p| p.into()).collect();
    for id in table.dead()? {
        if table.release_all(id)? > 0 && !procs.contains(&id) {
            procs.push(id);
        }
    }
    // Processes, not attachments: one process's several handles count once.
    procs.sort_by_key(|p| (p.pid(), p.start_ticks()));
    procs.dedup_by(|a, b| a.same_process(*b));
    Ok(ReclaimReport {
        processes: procs.len() as u64,
        blocks,
        bytes,
        micros: started.elapsed().as_micros() as u64,
    })
}
