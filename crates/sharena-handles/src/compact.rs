//! Compaction: slide unpinned live blocks down to the start of the data
//! area, in address order, and lower the bump cursor.
//!
//! One compactor at a time holds the lock word (its `ProcId`; a dead
//! holder's lock is broken by the next compactor, pin or reclaim, which
//! first finishes the move it left half done, from the journal). Nothing
//! else takes the lock: allocations, frees and pins never wait for it,
//! only (boundedly) for the one block being moved.
//!
//! Why it is safe with concurrent allocations: the compactor reads the
//! cursor `T` (Acquire) before it scans the table, and only moves blocks
//! below `T` into space below `T`. An allocation marks its entry
//! ALLOCATING before it moves the cursor (Release), so any block below `T`
//! belongs to an entry the scan sees as ALLOCATING or LIVE; the scan waits
//! (boundedly) until no entry is ALLOCATING, so it knows every block below
//! `T`. Allocations after the read land at or above `T`. Lowering the
//! cursor is a CAS from `T`: if anyone allocated meanwhile it fails and the
//! space between the new end and `T` waits for the next compaction.
//!
//! A move is crash-safe: the journal records entry, source, target and
//! length before MOVING is set; the copy goes in chunks no longer than the
//! distance moved (so a chunk never overwrites source bytes not yet
//! copied) and records its progress after each; whoever breaks a dead
//! compactor's lock resumes the copy from the recorded progress.

use crate::heap::{round8, Handles};
use crate::layout::{OFF_JOURNAL, OFF_LOCK, OFF_TOP};
use crate::word::{begin_move, finish_move, Loc, Meta, ALLOCATING, FREE, LIVE};
use shm_layout::sync::Ordering;
use shm_layout::{Offset, ProcId, Result, SegmentView};

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
        'retry: for _ in 0..SCAN_TRIES {
            let mut blocks = Vec::new();
            for index in 0..used {
                let e = self.entry(index)?;
                // Acquire: pairs with the alloc's LIVE / ALLOCATING stores.
                let m = Meta::unpack(e.meta.load(Ordering::Acquire));
                match m.state {
                    FREE => {}
                    ALLOCATING => {
                        // Relaxed: written before ALLOCATING (Release).
                        let owner = e.owner.load(Ordering::Relaxed);
                        if ProcId::from_raw(owner).is_some_and(ProcId::is_alive) {
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

    /// Takes the compaction lock (breaking a dead holder's, after finishing
    /// its move); `false` if a live process holds it.
    fn lock(&self) -> Result<bool> {
        let lock = self.word(OFF_LOCK)?;
        // SYNC POINT (compaction lock, Acquire): pairs with the Release of
        // the previous holder's unlock, so its moves are visible.
        match lock.compare_exchange(0, self.me.raw(), Ordering::Acquire, Ordering::Acquire) {
            Ok(_) => Ok(true),
            Err(holder) => {
                if ProcId::from_raw(holder).is_some_and(ProcId::is_alive) {
                    return Ok(false);
                }
                // Acquire: as above (a dead holder released nothing; its
                // writes are complete since it no longer runs).
                if lock
                    .compare_exchange(holder, self.me.raw(), Ordering::Acquire, Ordering::Relaxed)
                    .is_err()
                {
                    return Ok(false);
                }
                self.finish_journal()?;
                Ok(true)
            }
        }
    }

    fn unlock(&self) -> Result<()> {
        // SYNC POINT (compaction unlock, Release): pairs with `lock`.
        let _ = self.word(OFF_LOCK)?.compare_exchange(
            self.me.raw(),
            0,
            Ordering::Release,
            Ordering::Relaxed,
        );
        Ok(())
    }

    /// Breaks the lock of a compactor that died and finishes its move.
    pub(crate) fn recover_dead_compactor(&self) -> Result<()> {
        // Relaxed: a hint; `lock` decides.
        let holder = self.word(OFF_LOCK)?.load(Ordering::Relaxed);
        if holder == 0 || ProcId::from_raw(holder).is_some_and(ProcId::is_alive) {
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

    /// Finishes the move the journal records, if its block is still MOVING.
    fn finish_journal(&self) -> Result<()> {
        let j = |i: u64| self.word(OFF_JOURNAL + 8 * i);
        // Acquire: pairs with the journal's Release stores.
        let idx1 = j(0)?.load(Ordering::Acquire);
        if idx1 == 0 {
            return Ok(());
        }
        let (from, to, len, done) = (
            j(1)?.load(Ordering::Acquire),
            j(2)?.load(Ordering::Acquire),
            j(3)?.load(Ordering::Acquire),
            j(4)?.load(Ordering::Acquire),
        );
        let valid = idx1 <= self.capacity
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
            self.copy_down(from, to, len, done)?;
            finish_move(e.loc, w, to);
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
        let Ok(moving) = begin_move(e.loc, b.loc) else {
            j(0)?.store(0, Ordering::Release);
            return Ok(false);
        };
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
