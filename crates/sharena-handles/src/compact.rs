//! Compaction: slide unpinned live blocks down to the start of the data
//! area, in address order, and lower the bump cursor.
//!
//! One compactor at a time holds the lock word (an owner slot with its
//! `OwnerId`; a dead holder's lock is adopted by the next compactor, pin,
//! free or reclaim, which first finishes or undoes the move it left half
//! done, from the journal). Nothing else takes the lock: frees, pins and
//! allocations that fit never wait for it, only (boundedly) for the one
//! block being moved; an auto-compacting allocation that did not fit takes
//! it to compact, or waits (boundedly) for a live holder to finish.
//!
//! Why it is safe with concurrent allocations: the compactor reads the
//! cursor `T` (Acquire) before it scans the table, and only moves blocks
//! below `T` into space below `T`. An allocation takes its entry
//! (ALLOCATING, with its seat) before it moves the cursor (Release), so any
//! block below `T` belongs to an entry the scan sees as ALLOCATING or LIVE;
//! the scan waits (boundedly) at each entry of a live seat it finds
//! ALLOCATING until that take ends (LIVE, or given back), so it knows every
//! block below `T`: a take it did not see begin came after the read of
//! `T` and lands at or above `T`. It waits the same way at a block whose
//! free is deciding, so a racing free does not leave its block in the way.
//! Lowering the cursor is a CAS from `T`: if anyone allocated meanwhile it
//! fails, and another pass (up to 8) scans again up to the new cursor and
//! slides the blocks placed since down as well.
//!
//! Asked to make room for an allocation (`make_room`), a pass first
//! forecasts where the cursor would end, blocks pinned now left in place,
//! and moves nothing if the room after it would be too small.
//!
//! A move is crash-safe: the journal records entry, source, target and
//! length before MOVING is set; MOVING is set and the pin word checked
//! (`word::begin_move`), and only then is the journal marked committed; the
//! copy goes in chunks no longer than the distance moved (so a chunk never
//! overwrites source bytes not yet copied) and records its progress after
//! each. Whoever adopts a dead compactor's lock finds the journal: an
//! uncommitted move copied nothing and is undone (MOVING cleared), a
//! committed one is resumed from the recorded progress and finished.

use crate::heap::{round8, Handles};
use crate::layout::{JOURNAL_COMMITTED, OFF_JOURNAL, OFF_LOCK, OFF_TOP};
use crate::word::{begin_move, finish_move, scan_look, settle_kill, undo_move, Loc, NoMove, Seen};
use shm_layout::sync::Ordering;
use shm_layout::{Adoption, Liveness, Offset, OwnerSlot, Result, SegmentView};

/// What one [`Handles::compact`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Blocks moved.
    pub blocks_moved: u64,
    /// Bytes moved.
    pub bytes_moved: u64,
    /// Pinned blocks left where they were.
    pub pinned: u64,
    /// Largest contiguous run of free bytes before (holes between blocks,
    /// and the run from the last block to the end of the data area).
    pub largest_free_before: u64,
    /// The same, after.
    pub largest_free_after: u64,
    /// False if the pass did not run: another live process was
    /// compacting, or allocations stayed in flight.
    pub complete: bool,
}

/// A live block as the scan saw it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Block {
    pub(crate) index: u64,
    pub(crate) loc: u64,
    pub(crate) off: u64,
    pub(crate) len: u64,
    pub(crate) shared: bool,
}

/// Largest free run among sorted blocks in a data area of `len` bytes.
pub(crate) fn largest_free(blocks: &[Block], len: u64) -> u64 {
    let (mut end, mut best) = (0u64, 0u64);
    for b in blocks {
        best = best.max(b.off.saturating_sub(end));
        end = end.max(b.off + b.len);
    }
    best.max(len.saturating_sub(end))
}

/// How many turns (spinning, then yielding) one scan waits in all for
/// allocations and frees in flight before it gives up.
const SCAN_WAIT: u32 = 1 << 16;
/// How many turns a move waits for a free deciding on its block.
const KILL_WAIT: u32 = 1 << 12;
/// How many passes one compaction makes when allocations move the cursor
/// while it runs (each lost cursor CAS is someone else's allocation).
const PASSES: u32 = 8;

/// One turn of a bounded wait: spin at first, then yield.
pub(crate) fn backoff(turn: u32) {
    if turn < 16 {
        shm_layout::sync::spin_loop();
    } else {
        shm_layout::sync::yield_now();
    }
}

/// What a compaction asked to make room found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Room {
    /// It ran: the room may be there (a concurrent allocation can still
    /// take it).
    Made,
    /// Compaction cannot make `need` bytes of room (pins counted as
    /// immovable): nothing was moved. The bytes it could make.
    Never(u64),
    /// Another live attachment holds the compaction lock, or allocations
    /// stayed in flight: nothing was moved.
    Busy,
}

/// How a block's move ended.
enum Moved {
    Yes,
    /// Pinned (or a free of it stayed undecided): it stays.
    Stays,
    /// Freed meanwhile.
    Gone,
}
/// Largest chunk of one copy step.
const CHUNK: u64 = 64 << 10;

impl<S: AsRef<SegmentView>> Handles<S> {
    /// Live blocks below `top`, sorted by offset; `None` if an
    /// allocation of a live process, or a free a live process is deciding,
    /// stayed in flight for [`SCAN_WAIT`] turns in all.
    ///
    /// An entry ALLOCATING by a live seat when the scan meets it was taken
    /// before the caller read `top` or after: in the first case its block
    /// may lie below `top`, so the scan waits for that entry alone (its
    /// taker is a few instructions from LIVE, or from giving the entry
    /// back) and looks at it again; any later take places its block at or
    /// above `top`. A LIVE block whose free is deciding (KILLING) is
    /// waited for in the same way, so a free racing the scan does not pin
    /// its block in place.
    pub(crate) fn scan(&self, top: u64) -> Result<Option<Vec<Block>>> {
        let used = self.used()?;
        let mut live = Liveness::new(self.me);
        let mut turns = 0u32;
        let mut blocks = Vec::new();
        for index in 0..used {
            let e = self.entry(index)?;
            let mut waited: Option<u64> = None;
            loop {
                // Acquire: pairs with the alloc's LIVE / ALLOCATING stores.
                let mw = e.meta.load(Ordering::Acquire);
                match scan_look(mw, waited) {
                    Seen::Skip => break,
                    Seen::Taking(m) => {
                        // A dead allocator never writes its block: the
                        // space it may have reserved is free.
                        if self.seat_gone(m.seat, &mut live)? {
                            break;
                        }
                        waited = Some(mw);
                    }
                    Seen::Live(m) => {
                        // Acquire: pairs with a move's Release.
                        let lw = e.loc.load(Ordering::Acquire);
                        let l = Loc::unpack(lw);
                        if l.dead || l.gen16 != m.gen as u16 {
                            break; // freed (and maybe reused) meanwhile
                        }
                        let deciding = match l.killing {
                            Some(k) => !self.seat_gone(k, &mut live)?,
                            None => false,
                        };
                        if deciding {
                            // A live freer is deciding: wait for it (a
                            // dead one's block is settled by the move).
                            waited = Some(mw);
                        } else {
                            // Relaxed: written before LIVE.
                            let len = round8(e.size.load(Ordering::Relaxed));
                            if l.off >= top {
                                break; // placed after we read the cursor
                            }
                            if l.off.checked_add(len).is_none_or(|end| end > top) {
                                return Err(self.corrupt(
                                    format!(
                                        "handle {index} places {len} bytes at {} past the cursor {top}",
                                        l.off
                                    ),
                                    self.data_off + l.off,
                                ));
                            }
                            blocks.push(Block {
                                index,
                                loc: lw,
                                off: l.off,
                                len,
                                shared: m.shared,
                            });
                            break;
                        }
                    }
                    Seen::Corrupt => {
                        return Err(
                            self.corrupt(format!("handle {index} has state 3"), self.data_off)
                        )
                    }
                }
                turns += 1;
                if turns >= SCAN_WAIT {
                    return Ok(None);
                }
                backoff(turns);
            }
        }
        blocks.sort_unstable_by_key(|b| b.off);
        for w in blocks.windows(2) {
            if w[0].off + w[0].len > w[1].off {
                return Err(self.corrupt(
                    format!("handles {} and {} overlap", w[0].index, w[1].index),
                    self.data_off + w[1].off,
                ));
            }
        }
        Ok(Some(blocks))
    }

    /// Where the cursor would end if the scanned `blocks` were compacted
    /// now: a block a seat pins stays where it is, every other one slides
    /// down. A forecast (a pin may come or go meanwhile).
    fn planned_top(&self, blocks: &[Block]) -> Result<u64> {
        let mut end = 0u64;
        for b in blocks {
            // Acquire: pairs with the Release of a pinner's `fetch_or`;
            // only a forecast (`begin_move` decides).
            if self.entry(b.index)?.pins.load(Ordering::Acquire) != 0 {
                end = b.off + b.len;
            } else {
                end += b.len;
            }
        }
        Ok(end)
    }

    fn lock_slot(&self) -> Result<&OwnerSlot> {
        Ok(OwnerSlot::from_atomic(self.word(OFF_LOCK)?))
    }

    /// Takes the compaction lock (adopting a dead holder's, after finishing
    /// or undoing its move); `false` if a live attachment holds it.
    fn lock(&self) -> Result<bool> {
        let slot = self.lock_slot()?;
        // The claim's and adoption's orderings: `OwnerSlot` (the Acquire
        // pairs with the previous holder's release, or with a dead
        // holder's last writes).
        if slot.claim(self.me) {
            return Ok(true);
        }
        match slot.adopt_if_dead(self.me, &mut Liveness::new(self.me)) {
            Adoption::Adopted(_) => {
                self.finish_journal()?;
                Ok(true)
            }
            Adoption::Free => Ok(slot.claim(self.me)),
            Adoption::Alive(_) | Adoption::Lost => Ok(false),
        }
    }

    fn unlock(&self) -> Result<()> {
        // SYNC POINT (compaction unlock, Release): `OwnerSlot::release`
        // pairs with the next holder's claim or adoption.
        self.lock_slot()?.release(self.me);
        Ok(())
    }

    /// Adopts the lock of a compactor that died and finishes its move.
    pub(crate) fn recover_dead_compactor(&self) -> Result<()> {
        let Some(holder) = self.lock_slot()?.holder() else {
            return Ok(());
        };
        if Liveness::new(self.me).is_alive(holder) {
            return Ok(());
        }
        if self.lock()? {
            self.unlock()?;
        }
        Ok(())
    }

    /// Copies `len` bytes from `from` down to `to` (data-area offsets,
    /// `to < from`) starting at `done`, recording progress in the journal.
    fn copy_down(&self, from: u64, to: u64, len: u64, mut done: u64) -> Result<()> {
        let chunk = (from - to).min(CHUNK);
        let mut buf = vec![0u8; chunk as usize];
        let progress = self.word(OFF_JOURNAL + 32)?;
        while done < len {
            let c = chunk.min(len - done);
            let b = &mut buf[..c as usize];
            self.view()
                .read_bytes(Offset::new(self.data_off + from + done), b)?;
            self.view()
                .write_bytes(Offset::new(self.data_off + to + done), b)?;
            done += c;
            // Release: a lock breaker resumes from here.
            progress.store(done, Ordering::Release);
        }
        Ok(())
    }

    /// Finishes the move the journal records if it was committed, undoes
    /// it if not (nothing was copied), if its block is still MOVING.
    fn finish_journal(&self) -> Result<()> {
        let j = |i: u64| self.word(OFF_JOURNAL + 8 * i);
        // Acquire: pairs with the journal's Release stores.
        let head = j(0)?.load(Ordering::Acquire);
        if head == 0 {
            return Ok(());
        }
        let (committed, idx1) = (head & JOURNAL_COMMITTED != 0, head & !JOURNAL_COMMITTED);
        let (from, to, len, done) = (
            j(1)?.load(Ordering::Acquire),
            j(2)?.load(Ordering::Acquire),
            j(3)?.load(Ordering::Acquire),
            j(4)?.load(Ordering::Acquire),
        );
        let valid = (1..=self.capacity).contains(&idx1)
            && to < from
            && done <= len
            && from.checked_add(len).is_some_and(|e| e <= self.data_len);
        if !valid {
            return Err(self.corrupt("the compaction journal is out of range", self.data_off));
        }
        let e = self.entry(idx1 - 1)?;
        // Acquire: the loc word's last writer.
        let w = e.loc.load(Ordering::Acquire);
        let l = Loc::unpack(w);
        if l.moving && l.off == from {
            if committed {
                self.copy_down(from, to, len, done)?;
                finish_move(e.loc, w, to);
            } else {
                undo_move(e.loc, w);
            }
        }
        // Release: the next journal user starts after this.
        j(0)?.store(0, Ordering::Release);
        Ok(())
    }

    /// Moves one block down to `to`. A free deciding on it is waited for
    /// (boundedly; a dead freer's decision is made here), so a racing free
    /// does not leave its block in the way.
    fn move_block(&self, b: &mut Block, to: u64) -> Result<Moved> {
        let e = self.entry(b.index)?;
        let gen16 = Loc::unpack(b.loc).gen16;
        let mut turn = 0u32;
        loop {
            turn += 1;
            match self.try_move(b, &e, to)? {
                Ok(()) => return Ok(Moved::Yes),
                Err(NoMove::Pinned) => return Ok(Moved::Stays),
                Err(NoMove::Changed(now)) => {
                    let l = Loc::unpack(now);
                    if l.dead || l.gen16 != gen16 {
                        return Ok(Moved::Gone);
                    }
                    if turn >= KILL_WAIT || l.moving {
                        return Ok(Moved::Stays);
                    }
                    if l.settled() {
                        b.loc = now; // a free undecided itself: pinned then
                        continue;
                    }
                    if let Some(k) = l.killing {
                        if turn % 256 == 1 && self.seat_gone(k, &mut Liveness::new(self.me))? {
                            settle_kill(e.loc, e.pins, now);
                        }
                    }
                    backoff(turn);
                    // Relaxed: the next `begin_move` CAS decides.
                    b.loc = e.loc.load(Ordering::Relaxed);
                }
            }
        }
    }

    /// One try of a move: journal, `begin_move`, commit, copy, finish.
    fn try_move(
        &self,
        b: &Block,
        e: &crate::heap::Entry<'_>,
        to: u64,
    ) -> Result<std::result::Result<(), NoMove>> {
        let j = |i: u64| self.word(OFF_JOURNAL + 8 * i);
        // Release: see `finish_journal`.
        j(1)?.store(b.off, Ordering::Release);
        j(2)?.store(to, Ordering::Release);
        j(3)?.store(b.len, Ordering::Release);
        j(4)?.store(0, Ordering::Release);
        j(0)?.store(b.index + 1, Ordering::Release);
        let moving = match begin_move(e.loc, e.pins, b.loc) {
            Ok(m) => m,
            Err(no) => {
                j(0)?.store(0, Ordering::Release);
                return Ok(Err(no));
            }
        };
        // Release: from here a lock adopter resumes the copy.
        j(0)?.store((b.index + 1) | JOURNAL_COMMITTED, Ordering::Release);
        self.copy_down(b.off, to, b.len, 0)?;
        finish_move(e.loc, moving, to);
        j(0)?.store(0, Ordering::Release);
        Ok(Ok(()))
    }

    /// Slides unpinned live blocks together at the start of the data area
    /// (pinned ones stay, and the pass continues past them), updates their
    /// handles, and lowers the bump cursor, so an allocation that failed
    /// only because of fragmentation fits afterwards. If allocations move
    /// the cursor while it runs (so it cannot lower it), it makes another
    /// pass over what they placed, up to 8 in all.
    ///
    /// Lock-free for everyone else; one compactor runs at a time (another
    /// live one makes this call return at once with `complete: false`).
    pub fn compact(&self) -> Result<CompactReport> {
        self.not_forked()?;
        let mut report = CompactReport::default();
        if !self.lock()? {
            return Ok(report);
        }
        let r = self.compact_locked(&mut report, None);
        self.unlock()?;
        r.map(|_| report)
    }

    /// For an allocation of `need` bytes that did not fit: compacts only
    /// if that can make `need` bytes of room at the end of the data area,
    /// counting pinned blocks as immovable; else moves nothing.
    pub(crate) fn make_room(&self, need: u64) -> Result<Room> {
        if !self.lock()? {
            return Ok(Room::Busy);
        }
        let mut report = CompactReport::default();
        let r = self.compact_locked(&mut report, Some(need));
        self.unlock()?;
        r
    }

    /// Passes of compaction under the lock. With `need`, each pass first
    /// forecasts where the cursor would end and stops, moving nothing, if
    /// that leaves less than `need` bytes after it.
    fn compact_locked(&self, report: &mut CompactReport, need: Option<u64>) -> Result<Room> {
        let top = self.word(OFF_TOP)?;
        for pass in 0..PASSES {
            // SYNC POINT (compaction scan, Acquire): pairs with the Release
            // of `reserve` (module doc).
            let t = top.load(Ordering::Acquire);
            if t > self.data_len {
                return Err(self.corrupt("bump cursor past the data area", self.data_off));
            }
            let Some(mut blocks) = self.scan(t)? else {
                return Ok(Room::Busy);
            };
            if pass == 0 {
                report.largest_free_before = largest_free(&blocks, self.data_len);
            }
            if let Some(need) = need {
                let room = self.data_len - self.planned_top(&blocks)?;
                if room < need {
                    return Ok(Room::Never(room));
                }
            }
            let mut cursor = 0u64;
            let mut kept = Vec::with_capacity(blocks.len());
            // The last pass's count: a block pinned in two passes is one.
            report.pinned = 0;
            for b in &mut blocks {
                if b.off == cursor {
                    cursor += b.len;
                    kept.push(*b);
                    continue;
                }
                match self.move_block(b, cursor)? {
                    Moved::Yes => {
                        report.blocks_moved += 1;
                        report.bytes_moved += b.len;
                        b.off = cursor;
                        cursor += b.len;
                        kept.push(*b);
                    }
                    Moved::Stays => {
                        report.pinned += 1;
                        cursor = b.off + b.len;
                        kept.push(*b);
                    }
                    Moved::Gone => {}
                }
            }
            report.largest_free_after = largest_free(&kept, self.data_len);
            report.complete = true;
            // AcqRel: publishes nothing new (moves published their own
            // words); keeps the release sequence for later scans. Acquire
            // on failure: pairs with the Release of `reserve`, like the
            // load at the top of the pass.
            match top.compare_exchange(t, cursor, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(Room::Made),
                // Someone allocated meanwhile, at or above `t`: done if the
                // room asked for is there anyway, else another pass slides
                // their blocks down too.
                Err(now) => {
                    if need.is_some_and(|n| self.data_len.saturating_sub(now) >= n) {
                        return Ok(Room::Made);
                    }
                }
            }
        }
        Ok(Room::Made)
    }
}
