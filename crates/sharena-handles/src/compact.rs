//! Compaction: slide unpinned live blocks down to the start of the data
//! area, in address order, and lower the bump cursor.
//!
//! One compactor at a time holds the lock word (an owner slot with its
//! `OwnerId`; a dead holder's lock is adopted by the next compactor, pin,
//! free or reclaim, which first finishes or undoes the move it left half
//! done, from the journal). Nothing else takes the lock: allocations,
//! frees and pins never wait for it, only (boundedly) for the one block
//! being moved.
//!
//! Why it is safe with concurrent allocations: the compactor reads the
//! cursor `T` (Acquire) before it scans the table, and only moves blocks
//! below `T` into space below `T`. An allocation takes its entry
//! (ALLOCATING, with its seat) before it moves the cursor (Release), so any
//! block below `T` belongs to an entry the scan sees as ALLOCATING or LIVE;
//! the scan waits (boundedly) until no entry of a live seat is ALLOCATING,
//! so it knows every block below `T`. Allocations after the read land at
//! or above `T`. Lowering the cursor is a CAS from `T`: if anyone
//! allocated meanwhile it fails and the space between the new end and `T`
//! waits for the next compaction.
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
use crate::word::{begin_move, finish_move, undo_move, Loc, Meta, NoMove, ALLOCATING, FREE, LIVE};
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

/// How many times the scan waits for in-flight allocations.
const SCAN_TRIES: u32 = 64;
/// Largest chunk of one copy step.
const CHUNK: u64 = 64 << 10;

impl<S: AsRef<SegmentView>> Handles<S> {
    /// Live blocks below `top`, sorted by offset; `None` if allocations
    /// of live processes stayed in flight.
    pub(crate) fn scan(&self, top: u64) -> Result<Option<Vec<Block>>> {
        let used = self.used()?;
        let mut live = Liveness::new(self.me);
        'retry: for _ in 0..SCAN_TRIES {
            let mut blocks = Vec::new();
            for index in 0..used {
                let e = self.entry(index)?;
                // Acquire: pairs with the alloc's LIVE / ALLOCATING stores.
                let m = Meta::unpack(e.meta.load(Ordering::Acquire));
                match m.state {
                    FREE => {}
                    ALLOCATING => {
                        if !self.seat_gone(m.seat, &mut live)? {
                            shm_layout::sync::yield_now();
                            continue 'retry;
                        }
                        // A dead allocator never writes its block: the
                        // space it may have reserved is free.
                    }
                    LIVE => {
                        // Acquire: pairs with a move's Release.
                        let w = e.loc.load(Ordering::Acquire);
                        let l = Loc::unpack(w);
                        if l.dead || l.gen16 != m.gen as u16 {
                            continue; // freed (and maybe reused) meanwhile
                        }
                        // Relaxed: written before LIVE.
                        let len = round8(e.size.load(Ordering::Relaxed));
                        if l.off >= top {
                            continue; // placed after we read the cursor
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
                            loc: w,
                            off: l.off,
                            len,
                            shared: m.shared,
                        });
                    }
                    _ => {
                        return Err(
                            self.corrupt(format!("handle {index} has state 3"), self.data_off)
                        )
                    }
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
            return Ok(Some(blocks));
        }
        Ok(None)
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

    /// Moves one block down to `to`; `Ok(true)` if moved, `Ok(false)` if it
    /// was pinned or freed meanwhile.
    fn move_block(&self, b: &Block, to: u64) -> Result<bool> {
        let e = self.entry(b.index)?;
        let j = |i: u64| self.word(OFF_JOURNAL + 8 * i);
        // Release: see `finish_journal`.
        j(1)?.store(b.off, Ordering::Release);
        j(2)?.store(to, Ordering::Release);
        j(3)?.store(b.len, Ordering::Release);
        j(4)?.store(0, Ordering::Release);
        j(0)?.store(b.index + 1, Ordering::Release);
        let moving = match begin_move(e.loc, e.pins, b.loc) {
            Ok(m) => m,
            Err(NoMove::Pinned | NoMove::Changed(_)) => {
                j(0)?.store(0, Ordering::Release);
                return Ok(false);
            }
        };
        // Release: from here a lock adopter resumes the copy.
        j(0)?.store((b.index + 1) | JOURNAL_COMMITTED, Ordering::Release);
        self.copy_down(b.off, to, b.len, 0)?;
        finish_move(e.loc, moving, to);
        j(0)?.store(0, Ordering::Release);
        Ok(true)
    }

    /// Slides unpinned live blocks together at the start of the data area
    /// (pinned ones stay, and the pass continues past them), updates their
    /// handles, and lowers the bump cursor, so an allocation that failed
    /// only because of fragmentation fits afterwards.
    ///
    /// Lock-free for everyone else; one compactor runs at a time (another
    /// live one makes this call return at once with `complete: false`).
    pub fn compact(&self) -> Result<CompactReport> {
        self.not_forked()?;
        let mut report = CompactReport::default();
        if !self.lock()? {
            return Ok(report);
        }
        let r = self.compact_locked(&mut report);
        self.unlock()?;
        r.map(|()| report)
    }

    fn compact_locked(&self, report: &mut CompactReport) -> Result<()> {
        let top = self.word(OFF_TOP)?;
        // SYNC POINT (compaction scan, Acquire): pairs with the Release of
        // `reserve` (module doc).
        let t = top.load(Ordering::Acquire);
        if t > self.data_len {
            return Err(self.corrupt("bump cursor past the data area", self.data_off));
        }
        let Some(mut blocks) = self.scan(t)? else {
            return Ok(());
        };
        report.largest_free_before = largest_free(&blocks, self.data_len);
        let mut cursor = 0u64;
        let mut kept = Vec::with_capacity(blocks.len());
        for b in &mut blocks {
            if b.off == cursor {
                cursor += b.len;
                kept.push(*b);
            } else if self.move_block(b, cursor)? {
                report.blocks_moved += 1;
                report.bytes_moved += b.len;
                b.off = cursor;
                cursor += b.len;
                kept.push(*b);
            } else {
                // Relaxed: only tells pinned from freed; either way the
                // block is not ours to move.
                let l = Loc::unpack(self.entry(b.index)?.loc.load(Ordering::Relaxed));
                let b0 = Loc::unpack(b.loc);
                if !l.dead && l.gen16 == b0.gen16 {
                    report.pinned += 1;
                    cursor = b.off + b.len;
                    kept.push(*b);
                }
            }
        }
        // Release: publishes nothing new (moves published their own
        // words); AcqRel keeps the release sequence for later scans.
        let _ = top.compare_exchange(t, cursor, Ordering::AcqRel, Ordering::Relaxed);
        report.largest_free_after = largest_free(&kept, self.data_len);
        report.complete = true;
        Ok(())
    }
}
