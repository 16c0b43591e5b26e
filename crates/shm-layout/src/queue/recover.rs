//! Recovering slots whose claim a dead process left behind.
//!
//! A slot's owner word is held only for the few writes of one push or pop.
//! A push or pop that fails to claim a slot counts its failures on the same
//! slot and holder; after every `SPINS_BEFORE_CHECK` of them it asks
//! whether the holder is alive and, if not, adopts the word (`dead -> me`,
//! one CAS) and releases it (`me -> 0`). A try operation gives up after
//! `MAX_HELD` failed claims (two checks), so it stays short. [`Queue::recover`] does the same for every slot
//! at once, for a supervisor that saw a process die.
//!
//! The slot's sequence and value need no repair: each change of the
//! sequence is one store, so a dead holder left it in one of the states of
//! the module docs (empty for its position, full, or taken), and whatever it
//! means is what the dead process did or did not do. An adopter that dies
//! holding the word leaves it owned by a dead process again, which the next
//! adopter takes over the same way.

use super::{Caller, Held, Queue, QueueError, Slot, MAX_HELD, SPINS_BEFORE_CHECK, YIELD_AFTER};
use crate::owner::{Adoption, OwnerId};
use crate::sync::yield_now;

/// What a [`Queue::recover`] pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Slots whose dead holder's claim this pass released.
    pub released: u64,
    /// Slots held by live processes (left alone).
    pub held_by_live: u64,
}

impl Queue<'_> {
    /// Called after a failed claim of slot `i`: counts the failure, and
    /// once the same holder has kept the slot for `SPINS_BEFORE_CHECK`
    /// failures, releases its claim if it is dead. An owner word that is
    /// not an identity any process writes is corruption (nobody would ever
    /// release it).
    pub(super) fn held(
        i: u64,
        slot: &Slot,
        held: &mut Held,
        who: &mut Caller<'_>,
    ) -> Result<(), QueueError> {
        let holder = slot.owner.raw();
        if holder == 0 {
            return Ok(()); // Released meanwhile: the next round claims it.
        }
        if OwnerId::from_raw(holder).is_none() {
            return Err(QueueError::Corrupt {
                what: "slot owner word is not a process identity",
                at: Self::slot_at(i) + 8,
            });
        }
        if held.slot != i || held.holder != holder {
            held.slot = i;
            held.holder = holder;
            held.spins = 0;
        }
        held.spins = held.spins.saturating_add(1);
        held.total = held.total.saturating_add(1);
        if held.spins > YIELD_AFTER {
            // The holder is likely preempted: let it run.
            yield_now();
        }
        if held.spins % SPINS_BEFORE_CHECK == 0 {
            Self::release_if_dead(slot, who);
        }
        if held.total >= MAX_HELD {
            return Err(QueueError::Contended);
        }
        Ok(())
    }

    /// Adopts and releases `slot`'s claim if its holder is dead; what it
    /// found.
    fn release_if_dead(slot: &Slot, who: &mut Caller<'_>) -> Adoption {
        let me = who.me;
        let adoption = slot.owner.adopt_if(me, |h: OwnerId| {
            // Our own identity is never dead to us (another thread of this
            // attachment holds it).
            h != me && !(who.is_alive)(h)
        });
        if let Adoption::Adopted(_) = adoption {
            // The adoption made us the holder; the slot's state is final
            // (module docs), so give it straight back.
            slot.owner.release(me);
        }
        adoption
    }

    /// Releases every slot claim held by a dead process (by `who`'s
    /// judgement). Bounded: one pass over the slots. Safe to run at any
    /// time, concurrently with pushes, pops and other recoveries.
    pub fn recover(&self, who: &mut Caller<'_>) -> Recovered {
        let mut out = Recovered::default();
        for slot in self.slots {
            match Self::release_if_dead(slot, who) {
                Adoption::Adopted(_) => out.released += 1,
                Adoption::Alive(_) => out.held_by_live += 1,
                Adoption::Free | Adoption::Lost => {}
            }
        }
        out
    }
}
