//! The crash explorer: every state a death can leave, visited.
//!
//! A random SIGKILL rarely lands in a window of a few instructions, so
//! random chaos cannot prove that a death anywhere loses nothing. Under the
//! `crash-hooks` feature every write a process makes to segment memory is
//! a crash point (`shm_layout::crash::arm_writes`), and what dies with a
//! process is private, so a crash between two writes leaves the same
//! segment as a crash at any instruction between them. The explorer runs a
//! [`Scenario`] in a forked *victim* once to count its writes, then again
//! for `k = 1, 2, ...`, the victim killing itself just before its `k`-th
//! write, until a run completes: every state the scenario can leave behind
//! has then been left once. After each run the explorer's own process, the
//! *survivor*, checks the segment ([`World::verify`]): `reclaim_dead`,
//! `check`, the accounting (bytes in use equal what the survivor holds and
//! what is shared), and a fresh round of allocations to prove nothing is
//! stuck.
//!
//! A run that completes (the victim returned normally, its handles
//! dropped) is verified the same way, so the normal exit is one more state
//! of every scenario.
//!
//! The explorer forks, so it runs only from a single-threaded `main` (the
//! `crashpoints` binary, `scripts/crashpoints.sh`).

mod engine;
pub mod notes;
pub mod pool;
mod report;

pub mod bump;
pub mod freelist;
pub mod handles;
pub mod layout;
pub mod queue;
pub mod slab;
pub mod wait;

pub use engine::{explore, guarded, Options};
pub use notes::{Note, Notes};
pub use report::{Report, Summary};

/// One way of using an allocator, explored at every write.
pub trait Scenario: Sync {
    /// The allocator kind (`bump`, `slab`, `freelist`, `handles`, `layout`).
    fn kind(&self) -> &'static str;
    /// The scenario's name, unique within its kind.
    fn name(&self) -> &'static str;
    /// In the survivor, fresh for every run: creates the segment named
    /// `seg` and whatever the survivor holds before the victim starts.
    fn setup(&self, seg: &str) -> Result<Box<dyn World>, String>;
}

/// One run of a scenario: the segment and what the survivor holds.
///
/// The explorer forks after [`Scenario::setup`], so the victim starts with
/// a copy of this value; it must not use the survivor's handles (it opens
/// the segment by name, as another process would).
pub trait World {
    /// In the victim: the scenario. It calls `arm()` where the explored
    /// part begins (writes before it are setup and never crash points),
    /// and notes what the survivor must know (offsets it holds, shares or
    /// is freeing) through `notes`.
    fn victim(&mut self, seg: &str, arm: &mut dyn FnMut(), notes: &mut Notes)
        -> Result<(), String>;

    /// In the survivor, once the victim has ended (killed at a write, or
    /// finished): reclaim, check, account, and allocate again.
    fn verify(&mut self, notes: &[Note], ended: Ended) -> Outcome;
}

/// How the victim ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Killed just before this write (counting from 1).
    Killed(u64),
    /// It finished the scenario and returned (its handles dropped).
    Finished,
}

/// What a survivor found after one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Bytes in use that nobody holds and nobody shares.
    pub lost_bytes: u64,
    /// What `check` (or an accounting rule) found wrong, one line each.
    pub problems: Vec<String>,
    /// The survivor could not allocate (or an operation hung or failed).
    pub stuck: bool,
}

impl Outcome {
    /// Nothing wrong.
    pub fn ok(&self) -> bool {
        self.lost_bytes == 0 && self.problems.is_empty() && !self.stuck
    }

    /// Records a problem.
    pub fn problem(&mut self, what: impl Into<String>) {
        self.problems.push(what.into());
    }

    /// Records that the survivor is stuck, and why.
    pub fn stuck(&mut self, why: impl Into<String>) {
        self.stuck = true;
        self.problems.push(why.into());
    }
}

/// Every scenario of every kind, in report order.
pub fn all() -> Vec<&'static dyn Scenario> {
    let mut v: Vec<&'static dyn Scenario> = Vec::new();
    v.extend(layout::scenarios());
    v.extend(bump::scenarios());
    v.extend(slab::scenarios());
    v.extend(freelist::scenarios());
    v.extend(handles::scenarios());
    v.extend(queue::scenarios());
    v.extend(wait::scenarios());
    v
}
