//! The shared free stack of slot indices and the never-used counter.
//!
//! A Treiber stack (R. K. Treiber, *Systems Programming: Coping with
//! Parallelism*, IBM RJ 5118, 1986) whose head is one 64-bit word: a 32-bit
//! slot index and a 32-bit ABA tag bumped by every successful CAS (the
//! "counted pointer" of IBM System/370, also in Michael & Scott 1996). The
//! `next` links live in the slots' state words (`word.rs`), never in the
//! user's bytes, so a stale reader races only with atomics.
//!
//! Never-used slots are not on the stack: they come from a counter, so a
//! fresh slab of any size needs one word written, not a pass over its slots.
//!
//! Every index read from shared memory (the head, a `next` link) is
//! bounds-checked, and the node it names must be FREE, before it is used or
//! installed. A check that fails while the head is unchanged (confirmed by a
//! CAS that bumps only the tag) is corruption, not a race, and is reported
//! as a [`Fault`]; a CAS that fails means another
//! process changed the head, so every retry follows someone's progress
//! (lock-free), and a corrupt chain cannot make a loop spin for ever: a cycle
//! reaches a node that is no longer FREE.

use crate::crash::{self, Point};
use crate::layout::{Control, PopRecord};
use crate::word::{Head, SlotState, SlotWord, NIL};
use shm_layout::sync::{spin_loop, AtomicU64, Ordering};

/// Where a corrupt value was found (turned into a byte offset by the slab).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The head word names a slot past the end.
    Head(u64),
    /// The never-used counter is past the slot count.
    Counter(u64),
    /// A slot's state word is impossible here.
    Slot(u32, &'static str),
    /// A cache's index array names a slot past the end.
    CacheIndex(u32, u64),
}

/// The shared part of a slab: control block and slot words.
#[derive(Clone, Copy, Debug)]
pub struct Shared<'a> {
    /// Head, counter, shared stats.
    pub ctl: &'a Control,
    /// One state word per slot; `slots.len()` is the slot count.
    pub slots: &'a [AtomicU64],
}

impl<'a> Shared<'a> {
    /// The shared part over `ctl` and `slots` (at most `u32::MAX - 1`
    /// slots).
    pub fn new(ctl: &'a Control, slots: &'a [AtomicU64]) -> Self {
        debug_assert!(slots.len() < NIL as usize);
        Shared { ctl, slots }
    }

    /// The slot count.
    #[inline(always)]
    pub fn len(&self) -> u32 {
        self.slots.len() as u32
    }

    /// Sets a fresh slab's state: an empty stack. The counter and every
    /// slot word are already zero (fresh memory), so this is O(1).
    pub fn init(&self) {
        self.ctl.head.0.store(Head::EMPTY.pack(), Ordering::Relaxed);
        self.ctl.unused.0.store(0, Ordering::Relaxed);
    }

    /// The slot word of `index` (checked by the caller).
    #[inline(always)]
    pub fn word(&self, index: u32) -> &'a AtomicU64 {
        &self.slots[index as usize]
    }

    /// Pops one slot, giving it the state `to(free_word)`. `None`: empty.
    ///
    /// `record`: the popping entry's [`PopRecord`]. Before the head CAS the
    /// pop writes the slot's index (with the head's tag above it), then its
    /// FREE word, into it; it clears
    /// the word right after the CAS fails or the slot is stamped. So the
    /// record's word is nonzero exactly from before this pop can take the
    /// slot until the slot is stamped (or the pop lost the CAS), and a death
    /// anywhere in between leaves the slot attributable to the dead entry:
    /// a FREE slot off the stack with exactly the recorded word (recovery
    /// returns it). A pop without a record (`None`: loom models only) leaves
    /// nothing to find.
    ///
    /// The stamp is a CAS from the FREE word read before the head CAS: if
    /// a recovery took the slot meanwhile (it returns slots it finds FREE
    /// off the stack with a CAS that bumps their generation), the stamp
    /// fails and the pop starts over; the slot is then back on the stack,
    /// never in two places.
    ///
    /// Linearization point: the successful CAS on the head.
    pub fn pop(
        &self,
        to: impl Fn(SlotWord) -> SlotWord,
        record: Option<&PopRecord>,
    ) -> Result<Option<u32>, Fault> {
        // SYNC POINT (pop, Acquire): pairs with the Release CAS of `push_chain`,
        // so the FREE word (and `next`) the pusher stored, and the block bytes
        // the last owner wrote, are visible before we read or reuse them. The
        // CASes on the head form one release sequence, so reading any later
        // head value synchronises with every earlier push.
        let mut head = Head::unpack(self.ctl.head.0.load(Ordering::Acquire));
        // Each round either pops, or fails a CAS because another process
        // changed the head (its progress), or finds the stack empty or
        // corrupt: lock-free, and a corrupt chain ends at a non-FREE node.
        loop {
            if head.index == NIL {
                return Ok(None);
            }
            let checked = self.check_free(head.index);
            let (word, next) = match checked {
                Ok(v) => v,
                Err(fault) => {
                    // A node that is not FREE, or a bad link, is fine only if
                    // someone popped it meanwhile. Re-reading the head cannot
                    // tell (a Relaxed observation of the node gives no
                    // happens-before with the pop that changed it), so
                    // confirm with an RMW: bump only the tag. If that CAS
                    // succeeds, no CAS came between our load and it, so
                    // nobody popped the node: the segment is corrupt. If it
                    // fails, the head moved: retry from the new head.
                    match self.ctl.head.0.compare_exchange(
                        head.pack(),
                        head.next(head.index).pack(),
                        Ordering::Acquire,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => return Err(fault),
                        Err(now) => {
                            head = Head::unpack(now);
                            spin_loop();
                            continue;
                        }
                    }
                }
            };
            if let Some(r) = record {
                // Relaxed: read only by a recovery after this process died
                // (its death orders every store it made before), or by this
                // thread. The word is 0 here (cleared after every round),
                // so the index is written while the record is void.
                r.index.store(
                    (u64::from(head.tag) << 32) | u64::from(head.index),
                    Ordering::Relaxed,
                );
                r.word.store(word.pack(), Ordering::Relaxed);
            }
            match self.ctl.head.0.compare_exchange(
                head.pack(),
                head.next(next).pack(),
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if record.is_some() {
                        crash::point(Point::Popped);
                    }
                    // Relaxed: the Acquire head CAS above already ordered the
                    // pusher's stores; this CAS only decides the word
                    // against a recovery (which takes only FREE slots off
                    // the stack).
                    let stamped = self
                        .word(head.index)
                        .compare_exchange(
                            word.pack(),
                            to(word).pack(),
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        )
                        .is_ok();
                    if let Some(r) = record {
                        // Relaxed: as above.
                        r.word.store(0, Ordering::Relaxed);
                    }
                    if stamped {
                        return Ok(Some(head.index));
                    }
                    // A recovery took the slot back to the stack: go again.
                    head = Head::unpack(self.ctl.head.0.load(Ordering::Acquire));
                }
                Err(now) => {
                    if let Some(r) = record {
                        // Relaxed: as above. The record named a slot this
                        // pop did not take; void it before anything else.
                        r.word.store(0, Ordering::Relaxed);
                    }
                    head = Head::unpack(now);
                    spin_loop();
                }
            }
        }
    }

    /// Checks that `index` is a FREE slot with a valid link; returns its
    /// word and `next`.
    #[inline]
    fn check_free(&self, index: u32) -> Result<(SlotWord, u32), Fault> {
        if index >= self.len() {
            return Err(Fault::Head(u64::from(index)));
        }
        let word = SlotWord::unpack(self.word(index).load(Ordering::Relaxed))
            .ok_or(Fault::Slot(index, "reserved bits set"))?;
        if word.state != SlotState::Free {
            return Err(Fault::Slot(index, "on the free stack but not FREE"));
        }
        if word.next != NIL && word.next >= self.len() {
            return Err(Fault::Slot(index, "free-stack link past the last slot"));
        }
        Ok((word, word.next))
    }

    /// Pushes `chain` (slots this caller owns, first becomes the top) in one
    /// CAS. `generation(i)` is the generation to keep for `chain[i]`;
    /// `owner` (the pushing cache entry id + 1, or 0) is recorded in the
    /// FREE words, so that a push a death cuts short (words linked FREE, no
    /// head CAS) is attributable to that entry.
    ///
    /// Linearization point: the successful CAS on the head.
    ///
    /// `flag`: the pushing entry's `pushing` word. The push writes the
    /// head's tag (above bit 32) and 1 into it before its first link store,
    /// and 0 after its head CAS, so that a recovery knows a death in
    /// between may have left the chain off the stack, and how deep it can
    /// lie on the stack if it is there (`reclaim::depth_since`). Pushes
    /// that several threads make through one entry count themselves in its
    /// `others_pushing` instead (`None` here).
    pub fn push_chain(
        &self,
        chain: &[u32],
        owner: u16,
        generation: impl Fn(usize) -> u8,
        flag: Option<&AtomicU64>,
    ) {
        let Some((&last, _)) = chain.split_last() else {
            return;
        };
        debug_assert!(chain.len() <= crate::cache::MAX_BATCH);
        let mut head = Head::unpack(self.ctl.head.0.load(Ordering::Relaxed));
        if let Some(f) = flag {
            // Relaxed: read only by a recovery after this process died, or
            // by this thread. The tag is a lower bound of the one the CAS
            // below succeeds at (tags only grow).
            f.store((u64::from(head.tag) << 32) | 1, Ordering::Relaxed);
        }
        for (i, pair) in chain.windows(2).enumerate() {
            let w = SlotWord::free(owner, generation(i), pair[1]);
            self.word(pair[0]).store(w.pack(), Ordering::Relaxed);
        }
        if owner != 0 {
            crash::point(Point::Linked);
        }
        let last_gen = generation(chain.len() - 1);
        loop {
            // The link is whatever the head holds; a corrupt head index is
            // caught by the popper that reaches it.
            let w = SlotWord::free(owner, last_gen, head.index);
            self.word(last).store(w.pack(), Ordering::Relaxed);
            // SYNC POINT (push, Release): pairs with the Acquire load in
            // `pop`; publishes the FREE words stored above and the bytes the
            // slots' last owners wrote.
            match self.ctl.head.0.compare_exchange(
                head.pack(),
                head.next(chain[0]).pack(),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if let Some(f) = flag {
                        // Relaxed: as above.
                        f.store(0, Ordering::Relaxed);
                    }
                    return;
                }
                Err(now) => {
                    head = Head::unpack(now);
                    spin_loop();
                }
            }
        }
    }

    /// Takes up to `max` never-used slots from the counter: `(first, n)`,
    /// `n == 0` when none are left. Slots taken are still UNUSED (all-zero
    /// words); the caller gives them their state with [`Shared::stamp_unused`]
    /// (a recovery may take an UNUSED slot below the counter first: then
    /// the caller just does without it).
    ///
    /// Linearization point: the successful CAS on the counter.
    pub fn take_unused(&self, max: u32) -> Result<(u32, u32), Fault> {
        let len = u64::from(self.len());
        // Relaxed: never-used slots carry nothing to publish (their words
        // and bytes are as creation left them, visible since READY).
        let mut cur = self.ctl.unused.0.load(Ordering::Relaxed);
        loop {
            if cur > len {
                return Err(Fault::Counter(cur));
            }
            let n = (len - cur).min(u64::from(max));
            if n == 0 {
                return Ok((0, 0));
            }
            match self.ctl.unused.0.compare_exchange(
                cur,
                cur + n,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok((cur as u32, n as u32)),
                Err(now) => {
                    cur = now;
                    spin_loop();
                }
            }
        }
    }

    /// The never-used counter (slots ever handed out), clamped to the count.
    pub fn used_ever(&self) -> u64 {
        self.ctl
            .unused
            .0
            .load(Ordering::Relaxed)
            .min(u64::from(self.len()))
    }

    /// Gives a slot taken from the counter its first state: a CAS from
    /// UNUSED, which fails only if a recovery took the slot (a taker that
    /// died before stamping looks the same) and returned it to the stack.
    pub fn stamp_unused(&self, index: u32, to: SlotWord) -> bool {
        // Relaxed: never-used slots carry nothing to publish; the CAS only
        // decides the word against a recovery.
        self.word(index)
            .compare_exchange(0, to.pack(), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// Allocates one slot without a cache: the stack first (the pop
    /// recorded in `record`), then the counter; the slot's new word is
    /// `allocated(owner, _, slack)`.
    pub fn alloc_one(
        &self,
        owner: u16,
        slack: u32,
        record: Option<&PopRecord>,
    ) -> Result<Option<u32>, Fault> {
        // Each round either allocates or loses a slot to a recovery, which
        // puts it on the stack for the next round; bounded all the same.
        for _ in 0..=self.len() {
            if let Some(i) =
                self.pop(|w| SlotWord::allocated(owner, w.generation, slack), record)?
            {
                return Ok(Some(i));
            }
            let (first, n) = self.take_unused(1)?;
            if n == 0 {
                return Ok(None);
            }
            if self.stamp_unused(first, SlotWord::allocated(owner, 0, slack)) {
                return Ok(Some(first));
            }
        }
        Ok(None)
    }

    /// Takes a live slot back for freeing: ALLOCATED -> CACHED(`owner`).
    /// `Err(Some(word))` if it was not ALLOCATED (a double free) or, with
    /// `cas`, changed meanwhile (a racing free); `Err(None)` if the word is
    /// corrupt. The word is untouched on error.
    ///
    /// With `cas` the transition is a CAS, so of two racing frees of one slot
    /// exactly one wins. Without it (the cache owner's fast path, unless the
    /// slab was created strict) it is a load and a store: every free that
    /// comes after another in time is still caught, but two frees racing at
    /// the same instant (a use-after-free bug of the caller) are not.
    ///
    /// Linearization point of a free: this CAS (or store).
    #[inline(always)]
    pub fn release_live(&self, index: u32, owner: u16, cas: bool) -> Result<u8, Option<SlotWord>> {
        let cell = self.word(index);
        let raw = cell.load(Ordering::Relaxed);
        if !SlotWord::is_live(raw) {
            return Err(SlotWord::unpack(raw));
        }
        let generation = (raw >> 24) as u8;
        let to = SlotWord::cache_live(raw, owner);
        if !cas {
            cell.store(to, Ordering::Relaxed);
            return Ok(generation);
        }
        // Relaxed: the CAS decides ownership of the slot word only. The bytes
        // of the block were handed to this thread by the user's own
        // synchronisation (or it allocated the block itself); they travel on
        // to the next owner through the stack's Release/Acquire pair or
        // program order within this thread.
        match cell.compare_exchange(raw, to, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => Ok(generation),
            Err(now) => Err(SlotWord::unpack(now)),
        }
    }
}
