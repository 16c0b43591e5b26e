//! A bounded multi-producer multi-consumer queue of `u64` values (offsets)
//! that lives in segment memory and survives the death of any producer or
//! consumer.
//!
//! # The algorithm
//! Dmitry Vyukov's bounded MPMC queue ("Bounded MPMC queue", 1024cores.net,
//! 2011): a ring of `capacity` slots (a power of two), each with a sequence
//! word, and two position counters. The slot of position `p` is
//! `p & (capacity - 1)`; its sequence word says whose turn it is:
//!
//! | sequence | meaning |
//! |---|---|
//! | `p` | empty: the producer of position `p` may fill it |
//! | `p + 1` | full: the consumer of position `p` may take it |
//! | `p + capacity` | taken: empty for position `p + capacity` |
//!
//! # What changes for crash safety
//! In Vyukov's queue the claim of a position is the CAS on the position
//! counter, and the claimer publishes the slot later: a producer killed
//! between the two leaves a slot that says "empty" behind a counter that
//! moved past it, and every consumer waits for it for ever. Here the claim
//! is on the *slot*, and it names the claimer:
//!
//! - Each slot has an owner word ([`OwnerSlot`]): 0, or the [`OwnerId`] of
//!   the one process that may change the slot's sequence and value. A push
//!   or a pop claims it (one CAS `0 -> me`), re-reads the sequence, does its
//!   one or two writes, and releases it (`me -> 0`).
//! - The position counters are hints: a push or pop that finds its slot
//!   already done by someone else *helps* the counter on (one CAS), as in
//!   any helping scheme, and nobody waits for a counter.
//! - A process that finds a slot's owner word held for a while asks whether
//!   the holder is alive; a dead holder's word is adopted
//!   ([`OwnerSlot::adopt_if`]) and released. The slot itself needs no
//!   repair: its sequence word is always one of the states above, because
//!   every change of it is one store (see "What a death may lose").
//!   [`Queue::recover`] does the same for every slot at once.
//!
//! So a producer or consumer killed at any instruction wedges nobody for
//! longer than the time it takes a peer to see the holder dead, and the
//! queue is lock-free in the same practical sense as Vyukov's: a *live*
//! process preempted while it holds a slot delays the others at that slot
//! until it runs again (the try operations then report
//! [`QueueError::Contended`] rather than spin without end).
//!
//! # What a death may lose
//! - **A push** is done exactly when its store of `p + 1` into the slot's
//!   sequence word is done (its linearization point). A producer killed
//!   before that store did not push: the slot is still empty for `p`, and
//!   the next push fills it (its value word may hold the dead producer's
//!   value; it is never read). A producer killed after that store has
//!   pushed, whether or not it released its claim or returned.
//! - **A pop** is done exactly when its store of `p + capacity` is done. A
//!   consumer killed before it did not pop: the value stays in the queue
//!   and another consumer pops it. A consumer killed after that store (and
//!   before its caller used the value) took the value with it: that one
//!   value is lost, and never popped again.
//! - A value is never popped twice (the pop's store and its read are both
//!   made under the slot's claim, and the next pop of the slot needs the
//!   sequence the store wrote), and a fully pushed value is never lost.
//! - Order: values come out in position order, as in Vyukov's queue; a
//!   recovered slot keeps its position.
//!
//! # Tests
//! The loom models (`loom_tests.rs`: push against pop, two producers on one
//! slot, a full queue, deaths mid-push and mid-pop recovered by live
//! peers), a proptest against a bounded `VecDeque` (`tests.rs`), processes
//! SIGKILLed mid-stream (`crates/sharena/tests/queue.rs`) and the crash
//! explorer's `queue` scenarios, which kill a process at each of its writes.
//!
//! # Trust
//! Every word is read from shared memory and may hold anything: the header's
//! magic and capacity are checked at attach; a sequence word that no correct
//! execution can produce at the position being worked on (re-checked after
//! re-reading the counter) is [`QueueError::Corrupt`]; positions wrap;
//! every loop is bounded by [`MAX_ROUNDS`].

mod recover;
pub use recover::Recovered;

use crate::owner::{OwnerId, OwnerSlot};
use crate::sync::{spin_loop, yield_now, AtomicU32, AtomicU64, Ordering};
use crate::wait::Event;
use std::time::{Duration, Instant};

/// `b"SHQUEUE1"`: an initialised queue block starts with it (the `1` is the
/// queue format's version).
pub const QUEUE_MAGIC: u64 = u64::from_le_bytes(*b"SHQUEUE1");

/// The smallest capacity: Vyukov's sequence encoding needs two slots (with
/// one, "full at `p`" and "taken at `p`" are the same number).
pub const MIN_CAPACITY: u64 = 2;
/// The largest capacity (16 Mi slots, 512 MiB of slots).
pub const MAX_CAPACITY: u64 = 1 << 24;

/// Bytes of the queue header (four 128-byte lines).
pub const HEADER_LEN: u64 = 512;
/// Bytes of one slot.
pub const SLOT_LEN: u64 = 32;

/// Rounds one try operation makes before it gives up as
/// [`QueueError::Contended`]: each round either completes, helps a counter
/// on (someone's progress), or waits one spin for a slot a live process
/// holds (at most `MAX_HELD` of those).
#[cfg(not(shm_loom))]
pub const MAX_ROUNDS: u32 = 1 << 16;
/// Rounds one try operation makes (kept small for the models).
#[cfg(shm_loom)]
pub const MAX_ROUNDS: u32 = 16;

/// Failed claims of one slot held by one holder before the holder's
/// liveness is asked (a `/proc` read for another process).
#[cfg(not(shm_loom))]
const SPINS_BEFORE_CHECK: u32 = 64;
#[cfg(shm_loom)]
const SPINS_BEFORE_CHECK: u32 = 1;

/// Failed claims of one slot after which each further one also yields the
/// processor (the holder is likely preempted).
#[cfg(not(shm_loom))]
const YIELD_AFTER: u32 = 32;
#[cfg(shm_loom)]
const YIELD_AFTER: u32 = u32::MAX;

/// Failed claims (of any slot) after which a try operation gives up as
/// [`QueueError::Contended`]: a try stays short even when a live holder is
/// preempted, and it has asked about the holder's liveness at least once
/// by then (a dead one is released).
#[cfg(not(shm_loom))]
const MAX_HELD: u32 = 2 * SPINS_BEFORE_CHECK;
#[cfg(shm_loom)]
const MAX_HELD: u32 = MAX_ROUNDS;

/// How long a blocking operation sleeps at most before it tries again,
/// whatever wakes it: bounds what a slot held by a process that then died
/// costs a waiter that nobody notifies.
/// Try operations a blocking one makes, yielding in between, while they
/// report contention, before it sleeps.
const CONTENDED_RETRIES: u32 = 64;

#[cfg(not(shm_loom))]
const POLL: Duration = Duration::from_millis(20);

/// Tries of a blocking push or pop before it sleeps on the futex: half with
/// a spin hint, half giving the processor away (`sched_yield`).
#[cfg(not(shm_loom))]
const SPIN_TURNS: u32 = 32;

#[cfg(not(shm_loom))]
type Pad<const N: usize> = [AtomicU64; N];
// Loom atomics are runtime objects, not bytes: padding means nothing there.
#[cfg(shm_loom)]
type Pad<const N: usize> = [(); N];

#[cfg(not(shm_loom))]
fn pad<const N: usize>() -> Pad<N> {
    [const { AtomicU64::new(0) }; N]
}
#[cfg(shm_loom)]
fn pad<const N: usize>() -> Pad<N> {
    [(); N]
}

/// The queue header: magic and capacity, then the two position counters
/// and the two events, each on its own 128-byte line. Every byte is an
/// atomic, so other processes may write any of them without breaking
/// `&Self`.
#[repr(C)]
#[derive(Debug)]
pub struct QueueHeader {
    magic: AtomicU64,
    capacity: AtomicU64,
    _pad0: Pad<14>,
    /// The next position to push (a hint: see the module docs).
    enqueue: AtomicU64,
    _pad1: Pad<15>,
    /// The next position to pop (a hint).
    dequeue: AtomicU64,
    _pad2: Pad<15>,
    not_empty_seq: AtomicU32,
    not_empty_waiters: AtomicU32,
    not_full_seq: AtomicU32,
    not_full_waiters: AtomicU32,
    _pad3: Pad<14>,
}

/// One slot: sequence word, owner word, value.
#[repr(C)]
#[derive(Debug)]
pub struct Slot {
    seq: AtomicU64,
    owner: OwnerSlot,
    value: AtomicU64,
    _pad: Pad<1>,
}

#[cfg(not(shm_loom))]
const _: () = {
    assert!(core::mem::size_of::<QueueHeader>() as u64 == HEADER_LEN);
    assert!(core::mem::size_of::<Slot>() as u64 == SLOT_LEN);
};

impl QueueHeader {
    /// A zeroed header (for heap-built queues: tests and models).
    pub fn new() -> Self {
        QueueHeader {
            magic: AtomicU64::new(0),
            capacity: AtomicU64::new(0),
            _pad0: pad(),
            enqueue: AtomicU64::new(0),
            _pad1: pad(),
            dequeue: AtomicU64::new(0),
            _pad2: pad(),
            not_empty_seq: AtomicU32::new(0),
            not_empty_waiters: AtomicU32::new(0),
            not_full_seq: AtomicU32::new(0),
            not_full_waiters: AtomicU32::new(0),
            _pad3: pad(),
        }
    }

    /// The capacity word, as stored (untrusted).
    pub fn stored_capacity(&self) -> u64 {
        // Relaxed: written once before the magic (Release) and read here
        // only after the caller Acquired the magic (`stored_magic`).
        self.capacity.load(Ordering::Relaxed)
    }

    /// The magic word, as stored.
    pub fn stored_magic(&self) -> u64 {
        // SYNC POINT (attach, Acquire): pairs with the Release store of the
        // magic at the end of `Queue::init`, so every word the creator
        // initialised is visible to an attacher that sees the magic.
        self.magic.load(Ordering::Acquire)
    }
}

impl Default for QueueHeader {
    fn default() -> Self {
        Self::new()
    }
}

impl Slot {
    /// A zeroed slot (for heap-built queues).
    pub fn new() -> Self {
        Slot {
            seq: AtomicU64::new(0),
            owner: OwnerSlot::new(),
            value: AtomicU64::new(0),
            _pad: pad(),
        }
    }
}

impl Default for Slot {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a queue operation did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// Every slot holds a value (or a pop of the oldest is in flight).
    Full,
    /// No value is published (or a push of the next is in flight).
    Empty,
    /// [`MAX_ROUNDS`] rounds, or 128 failed claims, passed without
    /// completing: live processes kept the slot this operation needed.
    Contended,
    /// A blocking operation reached its deadline.
    TimedOut,
    /// A word no correct execution writes: `at` is its byte offset from the
    /// queue header's start.
    Corrupt {
        /// What was wrong.
        what: &'static str,
        /// Byte offset of the word from the start of the queue block.
        at: u64,
    },
}

impl QueueError {
    /// The crate's [`Error`](crate::Error) for this outcome: `segment`
    /// names the segment, `base` is the queue block's offset in it,
    /// `capacity` the queue's, `op` and `waited` describe a timeout.
    pub fn into_error(
        self,
        segment: &str,
        base: u64,
        capacity: u64,
        op: &'static str,
        waited: Duration,
    ) -> crate::Error {
        match self {
            QueueError::Full => crate::Error::QueueFull { capacity },
            QueueError::Empty => crate::Error::QueueEmpty,
            QueueError::Contended => crate::Error::QueueContended { op },
            QueueError::TimedOut => crate::Error::Timeout {
                segment: segment.to_string(),
                what: format!("the queue at {base:#x} ({op})"),
                waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            },
            QueueError::Corrupt { what, at } => crate::Error::Corrupt {
                segment: segment.to_string(),
                what: format!("queue: {what}"),
                at: base.saturating_add(at),
            },
        }
    }
}

/// Checks a capacity asked for or read from a segment: a power of two in
/// `MIN_CAPACITY..=MAX_CAPACITY`. Returns why not.
pub fn check_capacity(capacity: u64) -> Result<(), &'static str> {
    if capacity < MIN_CAPACITY {
        return Err("a queue needs at least 2 slots");
    }
    if capacity > MAX_CAPACITY {
        return Err("a queue holds at most 2^24 slots");
    }
    if !capacity.is_power_of_two() {
        return Err("a queue's capacity is a power of two");
    }
    Ok(())
}

/// The bytes a queue of `capacity` slots takes (header and slots); `None`
/// for a capacity [`check_capacity`] refuses.
pub fn bytes_for(capacity: u64) -> Option<u64> {
    check_capacity(capacity).ok()?;
    // Cannot overflow: capacity <= 2^24.
    Some(HEADER_LEN + capacity * SLOT_LEN)
}

/// Who is calling, for the slot claims: the caller's identity and its
/// judgement of whether another identity's process still runs.
pub struct Caller<'c> {
    /// The identity written into the owner words this caller claims.
    pub me: OwnerId,
    /// Whether the process of an identity found holding a slot still runs
    /// (a `/proc` look-up in production; a flag in the models).
    pub is_alive: &'c mut dyn FnMut(OwnerId) -> bool,
}

impl std::fmt::Debug for Caller<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller").field("me", &self.me).finish()
    }
}

/// A queue: a header and its slots, laid over segment bytes by the caller
/// (or built on the heap by tests and models).
#[derive(Clone, Copy, Debug)]
pub struct Queue<'a> {
    hdr: &'a QueueHeader,
    slots: &'a [Slot],
    mask: u64,
}

/// What a claim attempt on a slot found, for the spin-then-check policy.
#[derive(Default)]
struct Held {
    slot: u64,
    holder: u64,
    spins: u32,
    /// Failed claims in this operation, any slot.
    total: u32,
}

impl<'a> Queue<'a> {
    /// Initialises a fresh queue over `hdr` and `slots` (whose length is
    /// the capacity): every slot empty for its own position, both counters
    /// at 0, the magic last. Nobody else may use the words until this
    /// returns.
    pub fn init(hdr: &'a QueueHeader, slots: &'a [Slot]) -> Result<Self, &'static str> {
        let capacity = slots.len() as u64;
        check_capacity(capacity)?;
        // Relaxed (all but the magic): published by the Release store of
        // the magic below, which pairs with the Acquire in `stored_magic`.
        hdr.magic.store(0, Ordering::Relaxed);
        hdr.capacity.store(capacity, Ordering::Relaxed);
        hdr.enqueue.store(0, Ordering::Relaxed);
        hdr.dequeue.store(0, Ordering::Relaxed);
        for w in [
            &hdr.not_empty_seq,
            &hdr.not_empty_waiters,
            &hdr.not_full_seq,
            &hdr.not_full_waiters,
        ] {
            w.store(0, Ordering::Relaxed);
        }
        for (i, s) in slots.iter().enumerate() {
            s.seq.store(i as u64, Ordering::Relaxed);
            s.owner.clear_for_init();
            s.value.store(0, Ordering::Relaxed);
        }
        // SYNC POINT (init, Release): pairs with the Acquire of
        // `stored_magic` in `attach`.
        hdr.magic.store(QUEUE_MAGIC, Ordering::Release);
        Ok(Queue {
            hdr,
            slots,
            mask: capacity - 1,
        })
    }

    /// The queue over an initialised header and its slots: checks the magic
    /// and that the stored capacity is valid and equals `slots.len()`.
    pub fn attach(hdr: &'a QueueHeader, slots: &'a [Slot]) -> Result<Self, QueueError> {
        if hdr.stored_magic() != QUEUE_MAGIC {
            return Err(QueueError::Corrupt {
                what: "the block does not start with the queue magic",
                at: 0,
            });
        }
        let capacity = hdr.stored_capacity();
        if check_capacity(capacity).is_err() || capacity != slots.len() as u64 {
            return Err(QueueError::Corrupt {
                what: "capacity word is not a valid capacity",
                at: 8,
            });
        }
        Ok(Queue {
            hdr,
            slots,
            mask: capacity - 1,
        })
    }

    /// The number of slots.
    pub fn capacity(&self) -> u64 {
        self.mask + 1
    }

    /// The slot of `pos` and its index.
    #[inline]
    fn slot(&self, pos: u64) -> (u64, &'a Slot) {
        let i = pos & self.mask;
        // `i <= mask < slots.len()` (checked at init/attach).
        (i, &self.slots[i as usize])
    }

    pub(super) fn slot_at(i: u64) -> u64 {
        HEADER_LEN + i * SLOT_LEN
    }

    /// The event producers announce pushes on.
    pub fn not_empty(&self) -> Event<'a> {
        Event::new(&self.hdr.not_empty_seq, &self.hdr.not_empty_waiters)
    }

    /// The event consumers announce pops on.
    pub fn not_full(&self) -> Event<'a> {
        Event::new(&self.hdr.not_full_seq, &self.hdr.not_full_waiters)
    }

    /// A snapshot of how many values the queue holds (racy: a hint).
    pub fn len_hint(&self) -> u64 {
        // Acquire: as the loads in `try_push`/`try_pop`; a hint only.
        let d = self.hdr.dequeue.load(Ordering::Acquire);
        let e = self.hdr.enqueue.load(Ordering::Acquire);
        e.wrapping_sub(d).min(self.capacity())
    }

    /// Pushes `value` if a slot is free: [`QueueError::Full`] if not.
    ///
    /// Linearization point: the Release store of `pos + 1` into the slot's
    /// sequence word.
    pub fn try_push(&self, value: u64, who: &mut Caller<'_>) -> Result<(), QueueError> {
        let cap = self.capacity();
        let mut held = Held::default();
        // SYNC POINT (counter, Acquire): every load of a counter pairs with
        // the AcqRel help CASes that advance it; a helper advances it only
        // after it Acquired the slot's sequence, so reading a counter value
        // makes that slot's publication visible (the argument in
        // `judge_ahead`).
        let mut pos = self.hdr.enqueue.load(Ordering::Acquire);
        for _ in 0..MAX_ROUNDS {
            let (i, slot) = self.slot(pos);
            // SYNC POINT (slot, Acquire): pairs with the Release stores of
            // the sequence word by the last push or pop of this slot, so
            // the value a push stored before it is visible.
            let seq = slot.seq.load(Ordering::Acquire);
            let dif = seq.wrapping_sub(pos) as i64;
            if dif == 0 {
                if slot.owner.claim(who.me) {
                    // Under the claim nobody else changes the slot.
                    if slot.seq.load(Ordering::Acquire) == pos {
                        // Relaxed: published by the Release store below.
                        slot.value.store(value, Ordering::Relaxed);
                        // SYNC POINT (push, Release): pairs with the Acquire
                        // loads of the sequence in `try_pop` (and here):
                        // the value stored above is visible to the consumer
                        // that reads `pos + 1`.
                        slot.seq.store(pos.wrapping_add(1), Ordering::Release);
                        slot.owner.release(who.me);
                        Self::help(&self.hdr.enqueue, pos);
                        self.not_empty().notify_one();
                        return Ok(());
                    }
                    slot.owner.release(who.me);
                } else {
                    Self::held(i, slot, &mut held, who)?;
                }
                spin_loop();
                // Acquire: as above.
                pos = self.hdr.enqueue.load(Ordering::Acquire);
            } else if dif == 1 - cap as i64 {
                // The slot still holds the value pushed a lap ago.
                // Acquire: as above.
                let now = self.hdr.enqueue.load(Ordering::Acquire);
                if now == pos {
                    return Err(QueueError::Full);
                }
                pos = now;
            } else if dif == 1 || dif == cap as i64 {
                // Pushed at `pos` (and maybe popped): the counter lags.
                pos = Self::help(&self.hdr.enqueue, pos);
            } else {
                pos = Self::judge_ahead(
                    &self.hdr.enqueue,
                    pos,
                    i,
                    "sequence word impossible for the enqueue position",
                )?;
            }
        }
        Err(QueueError::Contended)
    }

    /// Pops the oldest value if one is published: [`QueueError::Empty`] if
    /// not.
    ///
    /// Linearization point: the Release store of `pos + capacity` into the
    /// slot's sequence word.
    pub fn try_pop(&self, who: &mut Caller<'_>) -> Result<u64, QueueError> {
        let cap = self.capacity();
        let mut held = Held::default();
        // Acquire: as in `try_push`.
        let mut pos = self.hdr.dequeue.load(Ordering::Acquire);
        for _ in 0..MAX_ROUNDS {
            let (i, slot) = self.slot(pos);
            // SYNC POINT (pop, Acquire): pairs with the Release store of
            // `pos + 1` in `try_push`: the value is visible once the
            // sequence says full.
            let seq = slot.seq.load(Ordering::Acquire);
            let dif = seq.wrapping_sub(pos.wrapping_add(1)) as i64;
            if dif == 0 {
                if slot.owner.claim(who.me) {
                    if slot.seq.load(Ordering::Acquire) == pos.wrapping_add(1) {
                        // Relaxed: made visible by the Acquire load of the
                        // sequence just above (paired with the push's
                        // Release store).
                        let value = slot.value.load(Ordering::Relaxed);
                        // SYNC POINT (pop, Release): pairs with the Acquire
                        // load of the sequence by the next push of this
                        // slot, so our read of the value happens before its
                        // overwrite.
                        slot.seq.store(pos.wrapping_add(cap), Ordering::Release);
                        slot.owner.release(who.me);
                        Self::help(&self.hdr.dequeue, pos);
                        self.not_full().notify_one();
                        return Ok(value);
                    }
                    slot.owner.release(who.me);
                } else {
                    Self::held(i, slot, &mut held, who)?;
                }
                spin_loop();
                // Acquire: as above.
                pos = self.hdr.dequeue.load(Ordering::Acquire);
            } else if dif == -1 {
                // Empty for `pos`: nothing pushed there yet.
                // Acquire: as above.
                let now = self.hdr.dequeue.load(Ordering::Acquire);
                if now == pos {
                    return Err(QueueError::Empty);
                }
                pos = now;
            } else if dif == cap as i64 - 1 || dif == cap as i64 {
                // Popped at `pos` (and maybe pushed again): the counter
                // lags.
                pos = Self::help(&self.hdr.dequeue, pos);
            } else {
                pos = Self::judge_ahead(
                    &self.hdr.dequeue,
                    pos,
                    i,
                    "sequence word impossible for the dequeue position",
                )?;
            }
        }
        Err(QueueError::Contended)
    }

    /// Moves `counter` from `pos` to `pos + 1` (the slot of `pos` is done);
    /// returns the counter's value after the attempt.
    fn help(counter: &AtomicU64, pos: u64) -> u64 {
        let next = pos.wrapping_add(1);
        // SYNC POINT (help, AcqRel): the Release half pairs with the
        // Acquire loads of the counter in `try_push`/`try_pop`: the slot's
        // sequence we Acquired before helping is visible to whoever reads
        // the new counter. The Acquire half (and the failure's) pairs with
        // the helper that moved it before us.
        match counter.compare_exchange(pos, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => next,
            Err(now) => now,
        }
    }

    /// A sequence word that fits no state at `pos`: fine if `pos` was stale
    /// (the counter moved since, so the slot may be laps ahead); corrupt if
    /// the counter still says `pos`. Sound because the writer of any later
    /// lap's sequence first read the counter past `pos`, and our Acquire of
    /// that sequence orders its read before our re-read.
    fn judge_ahead(
        counter: &AtomicU64,
        pos: u64,
        i: u64,
        what: &'static str,
    ) -> Result<u64, QueueError> {
        // Acquire: as the other counter loads.
        let now = counter.load(Ordering::Acquire);
        if now == pos {
            return Err(QueueError::Corrupt {
                what,
                at: Self::slot_at(i),
            });
        }
        spin_loop();
        Ok(now)
    }

    /// Pushes `value`, waiting until `deadline` for a free slot;
    /// [`QueueError::TimedOut`] at the deadline. Never waits without a
    /// deadline: sleeps are at most 20 ms each, so a slot held by a process
    /// that died is retried (and recovered) even if nobody notifies.
    pub fn push(
        &self,
        value: u64,
        who: &mut Caller<'_>,
        deadline: Instant,
    ) -> Result<(), QueueError> {
        let event = self.not_full();
        Self::block(&event, deadline, || {
            // Contention ends when a live holder runs, which no event
            // announces: retry it a few times before sleeping.
            for _ in 0..CONTENDED_RETRIES {
                match self.try_push(value, who) {
                    Err(QueueError::Contended) => yield_now(),
                    Err(QueueError::Full) => return None,
                    other => return Some(other),
                }
            }
            None
        })
    }

    /// Pops a value, waiting until `deadline` for one;
    /// [`QueueError::TimedOut`] at the deadline (sleeps as in
    /// [`push`](Self::push)).
    pub fn pop(&self, who: &mut Caller<'_>, deadline: Instant) -> Result<u64, QueueError> {
        let event = self.not_empty();
        Self::block(&event, deadline, || {
            // As in `push`.
            for _ in 0..CONTENDED_RETRIES {
                match self.try_pop(who) {
                    Err(QueueError::Contended) => yield_now(),
                    Err(QueueError::Empty) => return None,
                    other => return Some(other),
                }
            }
            None
        })
    }

    /// Runs `attempt` until it returns `Some` or `deadline` passes, sleeping
    /// on `event` (at most [`POLL`] at a time) in between.
    fn block<T>(
        event: &Event<'_>,
        deadline: Instant,
        mut attempt: impl FnMut() -> Option<Result<T, QueueError>>,
    ) -> Result<T, QueueError> {
        // A short busy phase first: a value or slot that turns up within
        // a few scheduler turns costs no futex sleep and wake-up.
        #[cfg(not(shm_loom))]
        for turn in 0..SPIN_TURNS {
            if let Some(r) = attempt() {
                return r;
            }
            if turn < SPIN_TURNS / 2 {
                crate::sync::spin_loop();
            } else {
                crate::sync::yield_now();
            }
        }
        // Bounded: each turn sleeps until `deadline` or for POLL, whichever
        // is first, and the loop ends at the deadline.
        loop {
            // Under loom, time must not steer the model: sleep to the
            // deadline (a model yield per turn, see `wait`).
            #[cfg(shm_loom)]
            let step = deadline;
            #[cfg(not(shm_loom))]
            let step = Instant::now()
                .checked_add(POLL)
                .map_or(deadline, |t| t.min(deadline));
            if let Some(r) = event.wait_until(step, &mut attempt) {
                return r;
            }
            if Instant::now() >= deadline {
                // One last attempt, so a zero timeout is a try.
                return attempt().unwrap_or(Err(QueueError::TimedOut));
            }
        }
    }
}

#[cfg(all(test, shm_loom))]
mod loom_tests;
#[cfg(all(test, not(shm_loom)))]
mod tests;
