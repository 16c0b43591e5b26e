//! Statistics, self-checks, sharing by offset and the map of the data
//! area (the last three behind [`Handles`]' `Recover` impl).
//!
//! `check` verifies, read-only and bounded: the cursor; every entry's
//! state, generations and bounds below the cursor; no two blocks overlap;
//! every free entry is hinted, and every hint word with a bit summarized
//! (else no allocation finds it: lost); every
//! ALLOCATING or unshared LIVE entry names a taken seat (else nobody frees
//! it: lost); every pin bit names a taken seat whose record names the
//! entry (else the block is pinned for ever); no free is left undecided
//! and no move unjournalled; a taken seat's records name entries in range,
//! a free seat has none; and the compaction lock's holder lives.

use crate::compact::Block;
use crate::heap::{round8, Handles};
use crate::layout::{JOURNAL_COMMITTED, OFF_JOURNAL, OFF_LOCK, OFF_TOP, SEATS, SEAT_RECORDS};
use crate::word::{Loc, Meta, ALLOCATING, FREE, LIVE};
use shm_layout::sync::Ordering;
use shm_layout::{
    AllocStats, CheckReport, Error, Liveness, Offset, OwnerId, OwnerSlot, Result, Run, RunKind,
    SegmentView,
};

impl<S: AsRef<SegmentView>> Handles<S> {
    /// Live bytes (each block rounded to 8) and live handles, read off
    /// the table: LIVE entries whose block is not DEAD. A snapshot
    /// (exact while nobody allocates or frees); O(entries used).
    pub(crate) fn live_totals(&self) -> Result<(u64, u64)> {
        let (mut bytes, mut count) = (0u64, 0u64);
        for index in 0..self.used()? {
            let e = self.entry(index)?;
            // Acquire: pairs with the alloc's LIVE store (size and loc
            // were written before it).
            let m = Meta::unpack(e.meta.load(Ordering::Acquire));
            if m.state != LIVE {
                continue;
            }
            // Acquire: the loc word's last writer (a move or a kill).
            let l = Loc::unpack(e.loc.load(Ordering::Acquire));
            if l.dead || l.gen16 != m.gen as u16 {
                continue; // freed, or being freed
            }
            // Relaxed: written before LIVE; a corrupt size only saturates.
            let len = e.size.load(Ordering::Relaxed);
            bytes = bytes.saturating_add(round8(len));
            count += 1;
        }
        Ok((bytes, count))
    }

    /// Statistics: `used` is live bytes (rounded to 8), `allocations` live
    /// handles, `high_water` the bump cursor (bytes of the data area handed
    /// out since the last compaction), `available` the free bytes in all
    /// (fragmentation may need a compaction to use them).
    ///
    /// `used` and `allocations` are counted from the handle table, not
    /// kept in counters, so a process killed inside `alloc` or `free`
    /// cannot leave them wrong: O(handle entries used) per call. A snapshot
    /// while others allocate and free; a corrupt table reads as zero.
    pub fn stats(&self) -> AllocStats {
        let (bytes, allocations) = self.live_totals().unwrap_or((0, 0));
        let used = bytes.min(self.data_len);
        AllocStats {
            capacity: self.data_len,
            used,
            available: self.data_len - used,
            // Relaxed: statistics.
            high_water: self.word(OFF_TOP).map_or(0, |w| w.load(Ordering::Relaxed)),
            allocations,
        }
    }

    /// Each seat's holder, and the entries its records name.
    fn seat_table(&self, report: &mut CheckReport) -> Result<Vec<(Option<OwnerId>, Vec<u64>)>> {
        let mut seats = Vec::with_capacity(SEATS as usize);
        for s in 0..SEATS {
            let holder = self.seat_slot(s)?.holder();
            let mut named = Vec::new();
            for r in 1..=SEAT_RECORDS {
                // Acquire: pairs with the pinner's Release.
                let v = self.seat_word(s, r)?.load(Ordering::Acquire);
                if v == 0 {
                    continue;
                }
                if holder.is_none() {
                    report.problem(self.state_off, format!("free seat {s} has a pin record"));
                } else if v > self.capacity {
                    report.problem(
                        self.state_off,
                        format!("seat {s} records a pin of entry {} past the table", v - 1),
                    );
                }
                named.push(v - 1);
            }
            seats.push((holder, named));
        }
        Ok(seats)
    }

    /// The compaction lock and journal: held only by a live attachment;
    /// a journal only under the lock.
    fn check_lock(&self, report: &mut CheckReport) -> Result<u64> {
        let holder = OwnerSlot::from_atomic(self.word(OFF_LOCK)?).holder();
        // Acquire: pairs with the journal's Release stores.
        let head = self.word(OFF_JOURNAL)?.load(Ordering::Acquire);
        match holder {
            Some(id) if !Liveness::new(self.me).is_alive(id) => report.problem(
                self.state_off + OFF_LOCK,
                format!("the compaction lock is held by {id}, which is gone"),
            ),
            None if head != 0 => report.problem(
                self.state_off + OFF_JOURNAL,
                "a move is journalled but nobody holds the compaction lock",
            ),
            _ => {}
        }
        Ok(head & !JOURNAL_COMMITTED)
    }

    pub(crate) fn check_all(&self) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        // Relaxed: a snapshot; run it while nobody works for an exact one.
        let top = self.word(OFF_TOP)?.load(Ordering::Relaxed);
        if top > self.data_len {
            report.problem(
                self.data_off,
                format!("bump cursor {top} past the data area"),
            );
        }
        let seats = self.seat_table(&mut report)?;
        let journalled = self.check_lock(&mut report)?;
        let used = self.used()?;
        let at = self.data_off;
        let mut blocks = Vec::new();
        for index in 0..used {
            let e = self.entry(index)?;
            let m = Meta::unpack(e.meta.load(Ordering::Acquire));
            // Acquire: pairs with the pinner's AcqRel RMW.
            let pins = e.pins.load(Ordering::Acquire);
            for s in (0..SEATS).filter(|s| pins & (1 << s) != 0) {
                let (holder, named) = &seats[s as usize];
                if holder.is_none() || !named.contains(&index) {
                    report.problem(
                        at,
                        format!("handle {index} is pinned by seat {s}, which holds no such pin"),
                    );
                }
            }
            let seat_free = seats[m.seat as usize].0.is_none();
            match m.state {
                FREE => {
                    if !self.hinted(index)? {
                        report.problem(
                            at,
                            format!("handle entry {index} is free but not hinted (lost)"),
                        );
                    }
                }
                ALLOCATING => {
                    if seat_free {
                        report.problem(
                            at,
                            format!("handle entry {index} is taken by free seat {}", m.seat),
                        );
                    }
                }
                LIVE => {
                    let w = e.loc.load(Ordering::Acquire);
                    let l = Loc::unpack(w);
                    if l.gen16 != m.gen as u16 {
                        report.problem(
                            at,
                            format!(
                                "handle {index}: loc generation {} but entry generation {}",
                                l.gen16, m.gen
                            ),
                        );
                        continue;
                    }
                    if let Some(k) = l.killing {
                        report.problem(
                            at,
                            format!("handle {index}: a free by seat {k} is undecided"),
                        );
                    }
                    if l.moving && journalled != index + 1 {
                        report.problem(at, format!("handle {index} is moving, unjournalled"));
                    }
                    if l.dead {
                        continue; // being freed
                    }
                    if seat_free && !m.shared {
                        report.problem(
                            at,
                            format!(
                                "handle {index} is unshared and owned by free seat {} (lost)",
                                m.seat
                            ),
                        );
                    }
                    let len = round8(e.size.load(Ordering::Relaxed));
                    if len == 0
                        || l.off
                            .checked_add(len)
                            .is_none_or(|end| end > top.min(self.data_len))
                    {
                        report.problem(
                            at + l.off,
                            format!(
                                "handle {index}: {len} bytes at {} past the cursor {top}",
                                l.off
                            ),
                        );
                        continue;
                    }
                    blocks.push(Block {
                        index,
                        loc: w,
                        off: l.off,
                        len,
                        shared: m.shared,
                    });
                }
                s => report.problem(at, format!("handle {index} has state {s}")),
            }
        }
        for wi in 0..crate::layout::hint_words(self.capacity) {
            // Relaxed: hints (a snapshot).
            if self.hint(wi)?.load(Ordering::Relaxed) != 0 && !self.summarized(wi)? {
                report.problem(
                    self.state_off,
                    format!(
                        "free hints of entries {}.. have no summary bit (lost)",
                        wi * 64
                    ),
                );
            }
        }
        blocks.sort_unstable_by_key(|b| b.off);
        for w in blocks.windows(2) {
            if w[0].off + w[0].len > w[1].off {
                report.problem(
                    self.data_off + w[1].off,
                    format!("handles {} and {} overlap", w[0].index, w[1].index),
                );
            }
        }
        report.blocks = blocks.len() as u64;
        // Saturating: each length is at most the data area, but entries a
        // corrupt table makes overlap can add up past u64 in a large heap.
        report.used_bytes = blocks.iter().fold(0, |t, b| t.saturating_add(b.len));
        Ok(report)
    }

    pub(crate) fn share_at(&self, offset: Offset) -> Result<()> {
        for index in 0..self.used()? {
            let e = self.entry(index)?;
            let m = Meta::unpack(e.meta.load(Ordering::Acquire));
            let l = Loc::unpack(e.loc.load(Ordering::Acquire));
            if m.state == LIVE && !l.dead && self.data_off + l.off == offset.get() {
                return self.share_handle(crate::Handle::new(index as u32, m.gen));
            }
        }
        Err(Error::InvalidOffset {
            offset: offset.get(),
            reason: "no live handle's block starts there",
        })
    }

    pub(crate) fn runs_of(&self, limit: usize) -> Result<Vec<Run>> {
        let top = self
            .word(OFF_TOP)?
            .load(Ordering::Acquire)
            .min(self.data_len);
        let blocks = self.scan(top)?.unwrap_or_default();
        let mut out: Vec<Run> = Vec::new();
        let push = |out: &mut Vec<Run>, offset: u64, len: u64, kind: RunKind| {
            if len == 0 {
                return;
            }
            if let Some(last) = out.last_mut() {
                if last.kind == kind && last.offset + last.len == offset {
                    last.len += len;
                    return;
                }
            }
            out.push(Run {
                offset,
                len,
                kind,
                owner: 0,
            });
        };
        let mut end = 0;
        for b in &blocks {
            if out.len() >= limit {
                break;
            }
            push(
                &mut out,
                self.data_off + end,
                b.off.saturating_sub(end),
                RunKind::Free,
            );
            let kind = if b.shared {
                RunKind::Shared
            } else {
                RunKind::Used
            };
            push(&mut out, self.data_off + b.off, b.len, kind);
            end = b.off + b.len;
        }
        push(
            &mut out,
            self.data_off + end,
            self.data_len.saturating_sub(end),
            RunKind::Free,
        );
        out.truncate(limit);
        Ok(out)
    }
}
