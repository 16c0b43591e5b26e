//! Crash recovery and the end of an attachment (`shm_layout::Recover`).
//!
//! An attachment's holdings are found by its seat: the pins its records
//! name, and the entries whose meta word names the seat. Ending an
//! attachment, whether its own `Drop` or a `reclaim_dead` after its
//! process died, runs the same steps ([`Handles::end_seats`]): clear the
//! seat's pin bits (by its records), give back the entries it left
//! ALLOCATING, free its unshared LIVE blocks, then release the seat. A
//! reclaim adopts each dead seat first (`OwnerSlot::adopt_if_dead`, with
//! one `Liveness` for the pass), so one reclaimer wins it; a reclaimer
//! that dies leaves the seat held by a dead process, and the next reclaim
//! adopts it again and redoes every step (each is idempotent).
//!
//! A reclaim also repairs what a death anywhere can leave: a dead
//! compactor's lock and journal (the move is finished or undone), a free
//! its freer did not decide (`word::settle_kill`), a free decided but not
//! retired (LIVE and DEAD), and free entries whose hint (or hint word's
//! summary bit) was never set. No counter needs repair: statistics and
//! `check` count the table itself.
//!
//! A reclaim never waits for another live process: a dead seat's block
//! that a live compactor is moving (or a live seat is freeing) right then
//! is left for later, and the seat with it: the reclaimer keeps the seat
//! (process-locally noted) and finishes it in its next `reclaim_dead`, or
//! in its `Drop`; should the reclaimer die first, the seat is held by a
//! dead process and the next reclaim adopts it. A block another seat pins
//! (it cannot be freed under the pin) goes to the reclaimer instead.

use crate::heap::{round8, Entry, Handles};
use crate::layout::{SEATS, SEAT_RECORDS};
use crate::word::{
    drop_seat_pins, settle_kill, try_kill, KillTry, Loc, Meta, ALLOCATING, FREE, LIVE,
};
use shm_layout::sync::Ordering;
use shm_layout::{
    finish_reclaim, Adoption, CheckReport, Liveness, Offset, ReclaimReport, Recover, Result, Run,
    SegmentView,
};
use std::time::Instant;

/// Turns an attachment's `Drop` waits at most for one of its blocks being
/// moved or freed by someone else before it shares the block instead of
/// freeing it (a reclaim does not wait: it defers).
const BUSY_TURNS: u32 = 1 << 12;

/// Tries a reclaim makes to free a block whose pin word shows a bit (a
/// pin attempt racing it takes its bit back at once).
const PINNED_TRIES: u32 = 4;

/// What a free of an ending seat's block did.
enum Freed {
    /// Freed, this many bytes.
    Bytes(u64),
    /// Gone already, or handed to the heir.
    Nothing,
    /// Busy (moved or freed by a live process): left for a later pass.
    Later,
}

/// What becomes of an ending seat's unshared block that cannot be freed
/// (another seat pins it), and whether a busy one is waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Heir {
    /// It is shared (the attachment's own `Drop`: it leaves).
    Share,
    /// It becomes this attachment's (a reclaim: the reclaimer lives on and
    /// frees it when it ends).
    Me,
}

impl<S: AsRef<SegmentView>> Handles<S> {
    /// Clears the pin bits seat `s`'s records name, and the records.
    fn drop_pins_of(&self, s: u64) -> Result<()> {
        for r in 1..=SEAT_RECORDS {
            let record = self.seat_word(s, r)?;
            // Acquire: pairs with the pinner's Release store of the record.
            let v = record.load(Ordering::Acquire);
            if v == 0 {
                continue;
            }
            if v - 1 < self.capacity {
                drop_seat_pins(self.entry(v - 1)?.pins, s);
            }
            // Release: after the bit, as an unpin does.
            record.store(0, Ordering::Release);
        }
        Ok(())
    }

    /// Ends the attachments holding the seats in `seats` (a bit mask),
    /// which `self` holds now (adopted, or its own): drops their pins,
    /// gives back their ALLOCATING entries and frees their unshared LIVE
    /// blocks (a block another seat pins goes to `heir`), then releases the
    /// seats, except (for [`Heir::Me`]) those with a block busy right now.
    /// With `repair` (a reclaim), also settles the frees of gone seats,
    /// retires decided frees and hints unhinted free entries, over the
    /// whole table. Returns the blocks and bytes freed, and the seats kept.
    pub(crate) fn end_seats(
        &self,
        seats: u64,
        heir: Heir,
        repair: bool,
        live: &mut Liveness,
    ) -> Result<(u64, u64, u64)> {
        let mut kept = 0u64;
        for s in (0..SEATS).filter(|s| seats & (1 << s) != 0) {
            self.drop_pins_of(s)?;
        }
        let (mut blocks, mut bytes) = (0u64, 0u64);
        for idx in 0..self.used()? {
            let e = self.entry(idx)?;
            // Acquire: pairs with the take's and the alloc's Release.
            let mw = e.meta.load(Ordering::Acquire);
            let m = Meta::unpack(mw);
            let owned = seats & (1 << m.seat) != 0;
            match m.state {
                FREE if repair && !self.hinted(idx)? => self.set_hint(idx)?,
                // Release: the FREE state before its hint. Fails only if
                // the seat's holder (us) changed it: never.
                ALLOCATING
                    if owned
                        && e.meta
                            .compare_exchange(
                                mw,
                                Meta::free(m.gen).pack(),
                                Ordering::Release,
                                Ordering::Relaxed,
                            )
                            .is_ok() =>
                {
                    self.set_hint(idx)?;
                }
                LIVE => {
                    // Acquire: the loc word's last writer.
                    let mut l = Loc::unpack(e.loc.load(Ordering::Acquire));
                    if l.gen16 != m.gen as u16 {
                        continue; // being reused: not this generation's
                    }
                    if let Some(k) = l.killing {
                        if repair && (seats & (1 << k) != 0 || self.seat_gone(k, live)?) {
                            settle_kill(e.loc, e.pins, l.pack());
                            // Acquire: as above.
                            l = Loc::unpack(e.loc.load(Ordering::Acquire));
                        }
                    }
                    if l.dead {
                        // A free decided but not retired: its freer died,
                        // or is retiring it now (only one wins the CAS).
                        if repair || owned {
                            // Relaxed: written before LIVE.
                            let len = round8(e.size.load(Ordering::Relaxed));
                            if self.retire(idx, &e, m)? {
                                blocks += 1;
                                bytes = bytes.saturating_add(len);
                            }
                        }
                    } else if owned && !m.shared {
                        match self.free_owned(idx, &e, m, seats, heir, live)? {
                            Freed::Bytes(len) => {
                                blocks += 1;
                                bytes = bytes.saturating_add(len);
                            }
                            Freed::Nothing => {}
                            Freed::Later => kept |= 1 << m.seat,
                        }
                    }
                }
                _ => {}
            }
        }
        if repair {
            self.repair_summary()?;
        }
        for s in (0..SEATS).filter(|s| (seats & !kept) & (1 << s) != 0) {
            // The release's orderings: `OwnerSlot::release`.
            self.seat_slot(s)?.release(self.me);
        }
        Ok((blocks, bytes, kept))
    }

    /// Frees an ending seat's unshared block (of meta `m`); one that stays
    /// pinned goes to `heir`; one that is busy is left for later
    /// ([`Heir::Me`]), or waited for up to [`BUSY_TURNS`] and then shared
    /// ([`Heir::Share`]).
    fn free_owned(
        &self,
        idx: u64,
        e: &Entry<'_>,
        m: Meta,
        seats: u64,
        heir: Heir,
        live: &mut Liveness,
    ) -> Result<Freed> {
        let mut pinned = 0;
        for turn in 0..BUSY_TURNS {
            match try_kill(e.loc, e.pins, self.seat, m.gen as u16) {
                KillTry::Killed(_) => {
                    // Relaxed: written before LIVE.
                    let len = round8(e.size.load(Ordering::Relaxed));
                    return Ok(if self.retire(idx, e, m)? {
                        Freed::Bytes(len)
                    } else {
                        Freed::Nothing
                    });
                }
                KillTry::Gone => return Ok(Freed::Nothing),
                KillTry::Pinned => {
                    pinned += 1;
                    if pinned >= PINNED_TRIES {
                        break;
                    }
                    shm_layout::sync::spin_loop();
                }
                KillTry::Busy(l) => {
                    if let Some(k) = l.killing {
                        if k != self.seat && (seats & (1 << k) != 0 || self.seat_gone(k, live)?) {
                            settle_kill(e.loc, e.pins, l.pack());
                            continue;
                        }
                    }
                    if heir == Heir::Me {
                        return Ok(Freed::Later);
                    }
                    if l.moving && turn % 256 == 255 {
                        self.recover_dead_compactor()?;
                    }
                    shm_layout::sync::yield_now();
                }
            }
        }
        self.hand_over(e, m, heir);
        Ok(Freed::Nothing)
    }

    /// Gives a block that could not be freed to `heir` (one CAS of its
    /// meta word; a free that wins first makes it moot).
    fn hand_over(&self, e: &Entry<'_>, m: Meta, heir: Heir) {
        let to = match heir {
            Heir::Share => Meta { shared: true, ..m },
            Heir::Me => Meta {
                seat: self.seat,
                ..m
            },
        };
        // AcqRel: keeps the word's release sequence (as `share_handle`).
        // Fails only if the block was freed meanwhile: then nothing is
        // left to hand over.
        let _ = e
            .meta
            .compare_exchange(m.pack(), to.pack(), Ordering::AcqRel, Ordering::Relaxed);
    }

    /// The attachment ends (its `Drop`): its unshared blocks are freed (or
    /// shared, if another seat pins them), its seat released.
    /// Seats it adopted in a reclaim and kept (a block was busy) are
    /// ended with it.
    pub(crate) fn leave(&self) -> Result<()> {
        debug_assert!(self.pins.is_empty(), "a Pin outlived its heap");
        let mut live = Liveness::new(self.me);
        // Relaxed: process-local.
        let kept = self.deferred.swap(0, Ordering::Relaxed);
        self.end_seats(kept | 1 << self.seat, Heir::Share, false, &mut live)?;
        Ok(())
    }
}

impl<S: AsRef<SegmentView>> Recover for Handles<S> {
    /// Frees what attachments that are gone held: adopts each seat whose
    /// holder no longer runs, drops its pins (so compaction can move those
    /// blocks again), frees its unshared blocks, gives back the entries it
    /// left half allocated, and releases the seat; finishes or undoes a
    /// dead compactor's move; settles and retires frees their freers did
    /// not finish. In a fork child that inherited this handle it is
    /// [`Error::Forked`](shm_layout::Error::Forked).
    fn reclaim_dead(&self) -> Result<ReclaimReport> {
        self.not_forked()?;
        let started = Instant::now();
        self.recover_dead_compactor()?;
        let mut live = Liveness::new(self.me);
        // Relaxed: process-local; seats an earlier reclaim kept.
        let kept_before = self.deferred.swap(0, Ordering::Relaxed);
        let mut seats = kept_before;
        let mut dead = Vec::new();
        for s in (0..SEATS).filter(|&s| s != self.seat && kept_before & (1 << s) == 0) {
            if let Adoption::Adopted(id) = self.seat_slot(s)?.adopt_if_dead(self.me, &mut live) {
                seats |= 1 << s;
                dead.push(id);
            }
        }
        let (blocks, bytes, kept) = self.end_seats(seats, Heir::Me, true, &mut live)?;
        // Relaxed: process-local.
        self.deferred.fetch_or(kept, Ordering::Relaxed);
        finish_reclaim(self.view(), started, &dead, blocks, bytes)
    }

    fn check(&self) -> Result<CheckReport> {
        self.check_all()
    }

    fn share(&self, offset: Offset) -> Result<()> {
        self.share_at(offset)
    }

    fn runs(&self, limit: usize) -> Result<Vec<Run>> {
        self.runs_of(limit)
    }
}
