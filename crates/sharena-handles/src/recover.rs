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

/// Turns a reclaim waits at most for one block being moved or freed by
/// someone else before it hands the block over instead of freeing it.
const BUSY_TURNS: u32 = 1 << 12;

/// Tries a reclaim makes to free a block whose pin word shows a bit (a
/// pin attempt racing it takes its bit back at once).
const PINNED_TRIES: u32 = 4;

/// What becomes of an ending seat's unshared block that cannot be freed
/// (another seat pins it).
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
    /// seats. With `repair` (a reclaim), also settles the frees of gone
    /// seats, retires decided frees and hints unhinted free entries, over
    /// the whole table. Returns the blocks and bytes freed.
    pub(crate) fn end_seats(
        &self,
        seats: u64,
        heir: Heir,
        repair: bool,
        live: &mut Liveness,
    ) -> Result<(u64, u64)> {
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
                        if let Some(len) = self.free_owned(idx, &e, m, heir, live)? {
                            blocks += 1;
                            bytes = bytes.saturating_add(len);
                        }
                    }
                }
                _ => {}
            }
        }
        if repair {
            self.repair_summary()?;
        }
        for s in (0..SEATS).filter(|s| seats & (1 << s) != 0) {
            // The release's orderings: `OwnerSlot::release`.
            self.seat_slot(s)?.release(self.me);
        }
        Ok((blocks, bytes))
    }

    /// Frees an ending seat's unshared block (of meta `m`); one that stays
    /// pinned, or busy past [`BUSY_TURNS`], goes to `heir`. The bytes
    /// freed, if this call freed it.
    fn free_owned(
        &self,
        idx: u64,
        e: &Entry<'_>,
        m: Meta,
        heir: Heir,
        live: &mut Liveness,
    ) -> Result<Option<u64>> {
        let mut pinned = 0;
        for turn in 0..BUSY_TURNS {
            match try_kill(e.loc, e.pins, self.seat, m.gen as u16) {
                KillTry::Killed(_) => {
                    // Relaxed: written before LIVE.
                    let len = round8(e.size.load(Ordering::Relaxed));
                    return Ok(self.retire(idx, e, m)?.then_some(len));
                }
                KillTry::Gone => return Ok(None),
                KillTry::Pinned => {
                    pinned += 1;
                    if pinned >= PINNED_TRIES {
                        break;
                    }
                    shm_layout::sync::spin_loop();
                }
                KillTry::Busy(l) => {
                    if l.moving && turn % 256 == 255 {
                        self.recover_dead_compactor()?;
                    }
                    if let Some(k) = l.killing {
                        if k != self.seat && self.seat_gone(k, live)? {
                            settle_kill(e.loc, e.pins, l.pack());
                        }
                    }
                    shm_layout::sync::yield_now();
                }
            }
        }
        self.hand_over(e, m, heir);
        Ok(None)
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
    pub(crate) fn leave(&self) -> Result<()> {
        debug_assert!(self.pins.is_empty(), "a Pin outlived its heap");
        let mut live = Liveness::new(self.me);
        self.end_seats(1 << self.seat, Heir::Share, false, &mut live)?;
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
        let (mut seats, mut dead) = (0u64, Vec::new());
        for s in (0..SEATS).filter(|&s| s != self.seat) {
            if let Adoption::Adopted(id) = self.seat_slot(s)?.adopt_if_dead(self.me, &mut live) {
                seats |= 1 << s;
                dead.push(id);
            }
        }
        let (blocks, bytes) = self.end_seats(seats, Heir::Me, true, &mut live)?;
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
