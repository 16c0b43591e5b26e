//! Crash recovery and self-checks for [`Handles`] (`shm_layout::Recover`).
//!
//! Every handle entry records the `ProcId` of the process that allocated
//! it. `reclaim_dead` finishes frees that were interrupted after the block
//! was marked DEAD (whoever the freer was), frees the LIVE, unshared,
//! unpinned handles whose owner no longer runs, gives back the entries of
//! allocations a dead process left half made (ALLOCATING), breaks a dead
//! compactor's lock (finishing its move), and frees dead processes' table
//! entries. A block pinned when its owner died stays (pins do not record
//! who holds them; see `docs/HANDLES.md`).
//!
//! There is no live-bytes counter to repair: statistics and `check` count
//! the table itself, so a death between two steps of `alloc` or `free`
//! leaves no counter off.

use crate::compact::Block;
use crate::heap::{round8, Handles};
use crate::layout::{NIL, OFF_FREE_HEAD, OFF_TOP};
use crate::word::{try_kill, KillTry, Loc, Meta, ALLOCATING, FREE, LIVE};
use shm_layout::sync::Ordering;
use shm_layout::{
    finish_reclaim, CheckReport, Error, Offset, ProcId, ReclaimReport, Recover, Result, Run,
    RunKind, SegmentView,
};
use std::collections::HashMap;
use std::time::Instant;

impl<S: AsRef<SegmentView>> Recover for Handles<S> {
    fn reclaim_dead(&self) -> Result<ReclaimReport> {
        let started = Instant::now();
        self.recover_dead_compactor()?;
        let mut alive: HashMap<u64, bool> = HashMap::new();
        let mut dead: Vec<ProcId> = Vec::new();
        let (mut blocks, mut bytes) = (0u64, 0u64);
        for index in 0..self.used()? {
            let e = self.entry(index)?;
            // Acquire: pairs with the alloc's ALLOCATING / LIVE stores.
            let mw = e.meta.load(Ordering::Acquire);
            let m = Meta::unpack(mw);
            if m.state == LIVE {
                // Acquire: pairs with the kill's CAS (and a move's Release).
                let l = Loc::unpack(e.loc.load(Ordering::Acquire));
                if l.dead && l.gen16 == m.gen as u16 {
                    // A free past its `try_kill`: its freer died before
                    // `retire`, or is running it now. Either way the block
                    // is gone; finishing the retire is safe because only
                    // the winner of the meta CAS pushes the entry. Any
                    // owner, shared or not: whoever froze it was entitled.
                    // Relaxed: written before LIVE; read before our CAS,
                    // which fails if the entry was pushed (and relinked).
                    let len = round8(e.size.load(Ordering::Relaxed));
                    if self.retire(index, &e, m)? {
                        blocks += 1;
                        bytes = bytes.saturating_add(len);
                    }
                    continue;
                }
            }
            if m.shared || !(m.state == LIVE || m.state == ALLOCATING) {
                continue;
            }
            // Relaxed: written before the state (Release).
            let raw = e.owner.load(Ordering::Relaxed);
            let Some(owner) = ProcId::from_raw(raw) else {
                continue;
            };
            if *alive.entry(raw).or_insert_with(|| owner.is_alive()) {
                continue;
            }
            if m.state == ALLOCATING {
                let free = Meta { state: FREE, ..m }.pack();
                // Release: pairs with the pop's Acquire via the push.
                if e.meta
                    .compare_exchange(mw, free, Ordering::Release, Ordering::Relaxed)
                    .is_ok()
                {
                    self.push_entry(index)?;
                }
            } else if let KillTry::Killed(_) = try_kill(e.loc, m.gen as u16) {
                // Relaxed: written before LIVE.
                let len = round8(e.size.load(Ordering::Relaxed));
                // `false`: a concurrent reclaim finished it (and counts it).
                if self.retire(index, &e, m)? {
                    bytes = bytes.saturating_add(len);
                    blocks += 1;
                }
            } else {
                continue;
            }
            if !dead.contains(&owner) {
                dead.push(owner);
            }
        }
        finish_reclaim(self.view(), started, &dead, blocks, bytes)
    }

    fn check(&self) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        // Relaxed: a snapshot; run it while nobody works for an exact one.
        let top = self.word(OFF_TOP)?.load(Ordering::Relaxed);
        if top > self.data_len {
            report.problem(
                self.data_off,
                format!("bump cursor {top} past the data area"),
            );
        }
        let used = self.used()?;
        let mut blocks = Vec::new();
        for index in 0..used {
            let e = self.entry(index)?;
            let m = Meta::unpack(e.meta.load(Ordering::Acquire));
            let at = self.data_off;
            match m.state {
                FREE | ALLOCATING => {}
                LIVE => {
                    let w = e.loc.load(Ordering::Acquire);
                    let l = Loc::unpack(w);
                    if l.dead {
                        continue; // being freed
                    }
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
        report.used_bytes = blocks.iter().map(|b| b.len).sum();
        // The free stack: in range, FREE entries, no cycle.
        let mut seen = vec![false; used as usize];
        let mut idx = self.word(OFF_FREE_HEAD)?.load(Ordering::Acquire) & NIL;
        for _ in 0..=used {
            if idx == NIL {
                break;
            }
            if idx >= used || seen[idx as usize] {
                report.problem(
                    self.data_off,
                    format!("free stack reaches entry {idx} (out of range or a cycle)"),
                );
                break;
            }
            seen[idx as usize] = true;
            let e = self.entry(idx)?;
            if Meta::unpack(e.meta.load(Ordering::Acquire)).state != FREE {
                report.problem(
                    self.data_off,
                    format!("entry {idx} is on the free stack but not free"),
                );
            }
            idx = e.size.load(Ordering::Relaxed) & NIL;
        }
        Ok(report)
    }

    fn share(&self, offset: Offset) -> Result<()> {
        for index in 0..self.used()? {
            let e = self.entry(index)?;
            let mw = e.meta.load(Ordering::Acquire);
            let m = Meta::unpack(mw);
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

    fn runs(&self, limit: usize) -> Result<Vec<Run>> {
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
