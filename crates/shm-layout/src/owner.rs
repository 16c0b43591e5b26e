//! Who holds what: one identity word, and one owner-slot type that every
//! registry of every allocator uses to claim, adopt and release an entry.
//!
//! An [`OwnerId`] names one *attachment* (one allocator handle of one
//! process) in a single `u64`:
//!
//! ```text
//! bits  0..22  pid (Linux caps pids at 2^22)
//! bits 22..32  epoch: which attachment of that process (a per-process counter)
//! bits 32..64  start time: the low 32 bits of the process's start, in clock
//!              ticks since boot (field 22 of /proc/PID/stat); 0 = unknown
//! ```
//!
//! Because the whole identity is one word, an owner slot changes hands with
//! one CAS and is never half-written: there is no instant at which a slot
//! names a pid without its start time (the window the older two-word
//! scheme had). A pid the kernel gives to a new process carries another
//! start time, so it is dead to us. 2^32 ticks at the usual 100 Hz are 497
//! days: a reused pid is mistaken for the old process only if it started a
//! multiple of that long after it, and the mistake errs towards keeping
//! memory, never towards freeing a live process's blocks.
//!
//! An [`OwnerSlot`] is one atomic word in a segment: 0 when free, else the
//! [`OwnerId`] of its holder. Its three transitions are each one CAS:
//!
//! | transition | CAS | who |
//! |---|---|---|
//! | [`claim`](OwnerSlot::claim) | `0 -> me` | a process taking a free entry |
//! | [`adopt_if`](OwnerSlot::adopt_if) | `dead -> me` | a reclaimer, after judging the holder dead |
//! | [`release`](OwnerSlot::release) | `me -> 0` | the holder (or the adopter) giving it back |
//!
//! Exactly one of several racing claimers or adopters wins a slot, and a
//! reclaimer that dies holding an adopted slot leaves it owned by a dead
//! process, which the next reclaim adopts again. The loom model
//! (`loom_tests.rs`) checks these races.

use crate::procid;
use crate::sync::{AtomicU64, Ordering};

/// Bits of an [`OwnerId`] that hold the pid.
pub const OWNER_PID_BITS: u32 = 22;
/// Bits of an [`OwnerId`] that hold the epoch.
pub const OWNER_EPOCH_BITS: u32 = 10;
/// Where the start time begins.
const START_SHIFT: u32 = OWNER_PID_BITS + OWNER_EPOCH_BITS;
const PID_MASK: u64 = (1 << OWNER_PID_BITS) - 1;
const EPOCH_MASK: u64 = (1 << OWNER_EPOCH_BITS) - 1;

/// One attachment's identity: pid, epoch and start time in one word.
/// Never 0 (a real pid is never 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OwnerId(u64);

impl OwnerId {
    /// Packs a pid (its low 22 bits), an epoch (its low 10 bits) and a
    /// start time (its low 32 bits); `None` for pid 0.
    pub const fn new(pid: u32, epoch: u32, start_ticks: u64) -> Option<OwnerId> {
        let pid = pid as u64 & PID_MASK;
        if pid == 0 {
            return None;
        }
        Some(OwnerId(
            pid | ((epoch as u64 & EPOCH_MASK) << OWNER_PID_BITS)
                | ((start_ticks & 0xFFFF_FFFF) << START_SHIFT),
        ))
    }

    /// A word read from a segment; `None` for 0 (nobody) or a pid of 0
    /// (not a word any process writes).
    pub const fn from_raw(raw: u64) -> Option<OwnerId> {
        if raw & PID_MASK == 0 {
            None
        } else {
            Some(OwnerId(raw))
        }
    }

    /// The packed word, as stored in a segment.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The pid.
    pub const fn pid(self) -> u32 {
        (self.0 & PID_MASK) as u32
    }

    /// The epoch: which attachment of its process this is.
    pub const fn epoch(self) -> u32 {
        ((self.0 >> OWNER_PID_BITS) & EPOCH_MASK) as u32
    }

    /// The low 32 bits of the start time (0: unknown).
    pub const fn start_ticks(self) -> u64 {
        self.0 >> START_SHIFT
    }

    /// Whether `self` and `other` name the same process (any epoch).
    pub const fn same_process(self, other: OwnerId) -> bool {
        self.pid() == other.pid() && self.start_ticks() == other.start_ticks()
    }

    /// Whether the process this names still runs: its pid exists, is not a
    /// zombie, and started at the recorded tick (a recorded 0 matches any
    /// start). Reads `/proc`; [`Liveness`] caches answers for a pass.
    pub fn is_alive(self) -> bool {
        match procid::start_of(self.pid()) {
            Some(start) => self.start_ticks() == 0 || start & 0xFFFF_FFFF == self.start_ticks(),
            None => false,
        }
    }

    /// A fresh identity for a new attachment of the calling process: its
    /// pid and start time, and the next epoch of this process.
    #[cfg(not(shm_loom))]
    pub fn attach() -> OwnerId {
        // Relaxed: the RMW alone makes epochs distinct (modulo 2^10; an
        // epoch is reused only after 1,024 attachments of one process, by
        // which time the attachment that had it is long gone).
        static NEXT_EPOCH: crate::sync::AtomicUsize = crate::sync::AtomicUsize::new(0);
        watch_forks();
        let epoch = NEXT_EPOCH.fetch_add(1, Ordering::Relaxed) as u32;
        let pid = std::process::id();
        let start = procid::start_of(pid).unwrap_or(0);
        // A running process's pid is never 0, so `new` is Some; fall back to
        // pid 1's slot shape only to stay panic-free.
        OwnerId::new(pid, epoch, start).unwrap_or(OwnerId(1))
    }
}

/// A process identity as an attachment of epoch 0: for the registries that
/// still record a bare pid and start time (their own words, not owner
/// slots), so their reclaims report through the same type.
impl From<procid::ProcId> for OwnerId {
    fn from(p: procid::ProcId) -> OwnerId {
        OwnerId::new(p.pid(), 0, p.start_ticks()).unwrap_or(OwnerId(1))
    }
}

impl std::fmt::Display for OwnerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} #{}", self.pid(), self.epoch())
    }
}

/// How many times this process's ancestry forked into it: 0 in a process
/// that was never a fork child, bumped in the child by every `fork`.
///
/// A handle records it when it attaches ([`OwnerId::attach`] installs the
/// `pthread_atfork` handler that bumps it); a handle whose recorded value
/// differs from the current one was inherited through `fork` and must not
/// touch its registry entries, which belong to the parent. Reading it is
/// one Relaxed load, cheap enough for every allocation.
#[cfg(not(shm_loom))]
#[inline(always)]
pub fn fork_generation() -> u64 {
    // Relaxed: bumped in the child before any of its code runs (the atfork
    // child handler runs in the child's only thread, before `fork`
    // returns there), so the child's own loads see it.
    FORKS.load(Ordering::Relaxed)
}

#[cfg(not(shm_loom))]
static FORKS: crate::sync::AtomicU64 = crate::sync::AtomicU64::new(0);

#[cfg(not(shm_loom))]
extern "C" fn bump_forks() {
    // Relaxed: see `fork_generation`.
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// Installs the atfork handler once per process.
#[cfg(not(shm_loom))]
fn watch_forks() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `pthread_atfork` only records three function pointers;
        // `bump_forks` is async-signal-safe (one atomic RMW on a static),
        // as a handler that runs in a fork child must be.
        unsafe {
            libc::pthread_atfork(None, None, Some(bump_forks));
        }
    });
}

/// Answers "is this owner alive?" for one pass over a registry (a reclaim
/// or a check), reading `/proc` at most once per process and never for the
/// caller's own process.
#[derive(Debug)]
pub struct Liveness {
    me: OwnerId,
    seen: Vec<(u32, u64, bool)>,
}

impl Liveness {
    /// A cache for a pass run by `me`: every identity of `me`'s process
    /// counts as alive without a look at `/proc`.
    pub fn new(me: OwnerId) -> Liveness {
        Liveness {
            me,
            seen: Vec::new(),
        }
    }

    /// Whether `id`'s process still runs.
    pub fn is_alive(&mut self, id: OwnerId) -> bool {
        if id.same_process(self.me) {
            return true;
        }
        let key = (id.pid(), id.start_ticks());
        if let Some(&(_, _, alive)) = self.seen.iter().find(|e| (e.0, e.1) == key) {
            return alive;
        }
        let alive = id.is_alive();
        self.seen.push((key.0, key.1, alive));
        alive
    }
}

/// What [`OwnerSlot::adopt_if`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adoption {
    /// The slot was free; nothing to adopt.
    Free,
    /// Its holder is alive (by the caller's judgement); untouched.
    Alive(OwnerId),
    /// This call took the slot over from this dead holder.
    Adopted(OwnerId),
    /// The slot changed under the call (another adopter, or its holder
    /// released it): this call owns nothing.
    Lost,
}

/// One owner word in a segment: 0 free, else the holder's [`OwnerId`].
///
/// `repr(transparent)` over one shim atomic, so it is laid over mapped
/// bytes in production and built on the heap in loom models.
#[derive(Debug, Default)]
#[repr(transparent)]
pub struct OwnerSlot(AtomicU64);

impl OwnerSlot {
    /// A free slot.
    #[cfg(not(shm_loom))]
    pub const fn new() -> OwnerSlot {
        OwnerSlot(AtomicU64::new(0))
    }

    /// A free slot.
    #[cfg(shm_loom)]
    pub fn new() -> OwnerSlot {
        OwnerSlot(AtomicU64::new(0))
    }

    /// The slot over an atomic word the segment format declares an owner
    /// word.
    pub fn from_atomic(word: &AtomicU64) -> &OwnerSlot {
        // SAFETY: `OwnerSlot` is `repr(transparent)` over `AtomicU64`, so a
        // reference to one is a valid reference to the other, with the same
        // lifetime.
        unsafe { &*core::ptr::from_ref(word).cast::<OwnerSlot>() }
    }

    /// Clears the word of a structure being initialised, which nobody else
    /// uses yet (the initialiser publishes it afterwards with a Release
    /// store of its own).
    pub(crate) fn clear_for_init(&self) {
        // Relaxed: published by the initialiser's Release (see above).
        self.0.store(0, Ordering::Relaxed);
    }

    /// The raw word (for diagnostics and `check`).
    pub fn raw(&self) -> u64 {
        // Acquire: pairs with the AcqRel/Release of every transition, so
        // the caller sees what the holder published before it took or gave
        // the slot.
        self.0.load(Ordering::Acquire)
    }

    /// The holder, or `None` when free (or when the word is not an
    /// identity any process writes, which `check` reports).
    pub fn holder(&self) -> Option<OwnerId> {
        OwnerId::from_raw(self.raw())
    }

    /// Takes the slot if it is free. `true` if this call won it.
    pub fn claim(&self, me: OwnerId) -> bool {
        // SYNC POINT (claim, AcqRel): the Acquire pairs with the Release of
        // the `release` (or the adoption) that freed the slot, so the last
        // holder's writes to the entry are visible; the Release publishes
        // nothing yet but lets a reclaimer that Acquires the word see
        // everything we wrote before claiming.
        self.0.load(Ordering::Relaxed) == 0
            && self
                .0
                .compare_exchange(0, me.raw(), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    /// Gives the slot back if `me` holds it. `true` if this call freed it.
    pub fn release(&self, me: OwnerId) -> bool {
        // SYNC POINT (release, Release): pairs with the Acquire of the next
        // `claim` or `adopt_if`: every write the holder made to the entry
        // happens before the next holder's reads.
        self.0
            .compare_exchange(me.raw(), 0, Ordering::Release, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes the slot from a holder that `is_dead` judges dead, for `me`.
    ///
    /// The judgement is made on the holder read here, and the CAS succeeds
    /// only if the slot still names that holder: a slot released and
    /// claimed again in between is never taken from its new holder.
    pub fn adopt_if(&self, me: OwnerId, is_dead: impl FnOnce(OwnerId) -> bool) -> Adoption {
        let raw = self.raw();
        let Some(holder) = OwnerId::from_raw(raw) else {
            return Adoption::Free;
        };
        if !is_dead(holder) {
            return Adoption::Alive(holder);
        }
        // SYNC POINT (adopt, AcqRel): the Acquire pairs with the dead
        // holder's last writes (its Release claim or store; it can write no
        // more); the Release lets the next reclaimer, should we die holding
        // the slot, see what we wrote before.
        match self
            .0
            .compare_exchange(raw, me.raw(), Ordering::AcqRel, Ordering::Relaxed)
        {
            Ok(_) => Adoption::Adopted(holder),
            Err(_) => Adoption::Lost,
        }
    }

    /// [`adopt_if`](Self::adopt_if) with liveness judged by `live`.
    pub fn adopt_if_dead(&self, me: OwnerId, live: &mut Liveness) -> Adoption {
        self.adopt_if(me, |holder| !live.is_alive(holder))
    }

    /// Hands a slot `me` holds to `to` (`me -> to`, one CAS): for an adopter
    /// that found the entry corrupt and gives it back to the dead holder it
    /// adopted it from, so that the next reclaim finds (and reports) it
    /// again rather than a live process sitting on it. `true` if this call
    /// moved it.
    pub fn hand_back(&self, me: OwnerId, to: OwnerId) -> bool {
        // SYNC POINT (hand back, Release): as `release`: pairs with the
        // Acquire of the next adoption, which sees what we wrote.
        self.0
            .compare_exchange(me.raw(), to.raw(), Ordering::Release, Ordering::Relaxed)
            .is_ok()
    }
}

#[cfg(all(test, not(shm_loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn attach_names_this_process_with_distinct_epochs() {
        let a = OwnerId::attach();
        let b = OwnerId::attach();
        assert_eq!(a.pid(), std::process::id());
        assert!(a.start_ticks() > 0, "/proc gives a start time");
        assert!(a.same_process(b));
        assert_ne!(a, b);
        assert!(a.is_alive());
        assert_eq!(OwnerId::from_raw(a.raw()), Some(a));
    }

    #[test]
    fn fork_generation_moves_only_in_a_fork_child() {
        let _ = OwnerId::attach();
        let before = fork_generation();
        // The test harness is threaded, so the child only reads a static
        // and exits (async-signal-safe work only).
        // SAFETY: the child calls nothing but an atomic load and `_exit`.
        match unsafe { libc::fork() } {
            0 => {
                let code = i32::from(fork_generation() != before + 1);
                // SAFETY: `_exit` ends the child at once.
                unsafe { libc::_exit(code) }
            }
            pid if pid > 0 => {
                let mut status = 0;
                // SAFETY: waits for our own child, writing into `status`.
                unsafe { libc::waitpid(pid, &raw mut status, 0) };
                assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
                assert_eq!(fork_generation(), before, "the parent's count is unchanged");
            }
            _ => panic!("fork failed"),
        }
    }

    #[test]
    fn a_reused_pid_is_dead_and_pid_zero_is_nobody() {
        let me = OwnerId::attach();
        let impostor = OwnerId::new(me.pid(), 0, me.start_ticks() + 1).unwrap();
        assert!(!impostor.is_alive());
        assert_eq!(OwnerId::new(0, 3, 7), None);
        assert_eq!(OwnerId::from_raw(0), None);
        assert_eq!(OwnerId::from_raw(5 << OWNER_PID_BITS), None);
        let mut live = Liveness::new(me);
        assert!(!live.is_alive(impostor));
        assert!(live.is_alive(OwnerId::attach()));
    }

    #[test]
    fn a_reaped_child_is_dead() {
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let start = procid::start_of(child.id());
        child.wait().expect("wait");
        if let Some(start) = start {
            assert!(!OwnerId::new(child.id(), 0, start).unwrap().is_alive());
        }
    }

    #[test]
    fn slot_transitions_are_exclusive() {
        let me = OwnerId::new(7, 1, 100).unwrap();
        let other = OwnerId::new(8, 0, 200).unwrap();
        let slot = OwnerSlot::new();
        assert_eq!(slot.adopt_if(other, |_| true), Adoption::Free);
        assert!(slot.claim(me));
        assert!(!slot.claim(other));
        assert!(!slot.release(other));
        assert_eq!(slot.adopt_if(other, |_| false), Adoption::Alive(me));
        assert_eq!(slot.adopt_if(other, |_| true), Adoption::Adopted(me));
        assert_eq!(slot.holder(), Some(other));
        assert!(!slot.release(me));
        assert!(slot.release(other));
        assert_eq!(slot.holder(), None);
    }

    #[test]
    fn a_slot_is_handed_back_only_by_its_holder() {
        let me = OwnerId::new(7, 1, 100).unwrap();
        let dead = OwnerId::new(8, 0, 200).unwrap();
        let slot = OwnerSlot::new();
        assert!(!slot.hand_back(me, dead), "a free slot is nobody's to hand");
        assert!(slot.claim(me));
        assert!(!slot.hand_back(dead, me));
        assert!(slot.hand_back(me, dead));
        assert_eq!(slot.holder(), Some(dead));
        assert_eq!(slot.adopt_if(me, |_| true), Adoption::Adopted(dead));
    }

    proptest! {
        #[test]
        fn ids_round_trip(pid in 1u32..(1 << 22), epoch in 0u32..1024, start in any::<u32>()) {
            let id = OwnerId::new(pid, epoch, u64::from(start)).unwrap();
            prop_assert_eq!((id.pid(), id.epoch(), id.start_ticks()), (pid, epoch, u64::from(start)));
            prop_assert_eq!(OwnerId::from_raw(id.raw()), Some(id));
        }
    }
}
