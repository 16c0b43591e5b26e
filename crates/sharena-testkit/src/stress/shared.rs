//! The memory the parent shares with its workers besides the segment under
//! test, both anonymous sharena segments made before any fork:
//!
//! - [`Control`]: a stop word, the phase word of reset kinds, and one
//!   128-byte line per worker slot with its serial, the last phase it
//!   finished, its running counters (only that worker writes them), and
//!   whether it has attached (the parent unlinks the segment's name once
//!   every first worker has).
//! - [`Claims`]: the duplicate table, one `u32` per granule of the segment
//!   under test. A worker CASes the entry of a block's start from 0 to its
//!   serial after `alloc` and back to 0 before it gives the block back; a
//!   failed claim means the allocator handed out a live block twice.

pub(crate) use crate::tally::{Tally, TALLY_WORDS};
use sharena::layout::sync::{AtomicU32, AtomicU64, Ordering};
use sharena::{AllocatorKind, Offset, RegionId, Result, Segment, SegmentOptions};

/// Words per worker line.
const LINE_WORDS: u64 = 16;

/// Worker line word: the worker's serial (set by the parent before fork).
const SERIAL: u64 = 0;
/// Worker line word: the last phase the worker finished ([`NO_PHASE`]
/// before its first).
const DONE_PHASE: u64 = 1;
/// Worker line word: 1 once the worker finished cleanly.
const FINISHED: u64 = 2;
/// Worker line words: the counters of [`Tally`], in field order.
const COUNTERS: u64 = 3;
/// Worker line word: 1 once the worker has attached to the segment.
const ATTACHED: u64 = LINE_WORDS - 1;
const _: () = assert!(COUNTERS + TALLY_WORDS as u64 <= ATTACHED);
/// `DONE_PHASE` of a worker that has finished no phase yet.
pub const NO_PHASE: u64 = u64::MAX;

/// The control block.
#[derive(Debug)]
pub struct Control {
    seg: Segment,
    base: u64,
}

impl Control {
    /// A control block for `slots` worker slots.
    pub fn new(slots: usize) -> Result<Self> {
        let len = 8 * LINE_WORDS * (slots as u64 + 1);
        let seg = Segment::anonymous(&SegmentOptions::new(AllocatorKind::Raw, len + (64 << 10)))?;
        let base = seg.view().region(RegionId::Pool).offset;
        Ok(Control { seg, base })
    }

    fn word(&self, i: u64) -> &AtomicU64 {
        self.seg
            .view()
            .atomic_u64(Offset::new(self.base + 8 * i))
            .expect("control words lie in the pool (sized in `new`)")
    }

    fn slot(&self, k: usize, i: u64) -> &AtomicU64 {
        self.word(LINE_WORDS * (k as u64 + 1) + i)
    }

    /// Tells every worker to finish.
    pub fn stop(&self) {
        self.word(0).store(1, Ordering::SeqCst);
    }

    /// Whether the parent said stop.
    #[inline]
    pub fn stopped(&self) -> bool {
        // Relaxed: a hint polled in a loop; nothing is published with it.
        self.word(0).load(Ordering::Relaxed) != 0
    }

    /// The current phase (reset kinds).
    pub fn phase(&self) -> u64 {
        // Acquire pairs with the Release store in `set_phase`: the reset
        // and the dead workers' withdrawn claims before it are visible.
        self.word(1).load(Ordering::Acquire)
    }

    /// Starts phase `p` (the parent, after a reset).
    pub fn set_phase(&self, p: u64) {
        // Release pairs with the Acquire load in `phase`.
        self.word(1).store(p, Ordering::Release);
    }

    /// Readies slot `k` for a worker with `serial` (the parent, before
    /// fork): clears its line.
    pub fn prepare(&self, k: usize, serial: u32) {
        for i in 0..LINE_WORDS {
            // Relaxed: fork orders these stores before the child runs.
            self.slot(k, i).store(0, Ordering::Relaxed);
        }
        // Relaxed: as above.
        self.slot(k, DONE_PHASE).store(NO_PHASE, Ordering::Relaxed);
        self.slot(k, SERIAL)
            .store(u64::from(serial), Ordering::Relaxed);
    }

    /// The serial of slot `k`'s worker.
    pub fn serial(&self, k: usize) -> u32 {
        // Relaxed: written before fork (see `prepare`).
        self.slot(k, SERIAL).load(Ordering::Relaxed) as u32
    }

    /// Publishes slot `k`'s running counters (its worker only).
    pub fn publish(&self, k: usize, t: &Tally) {
        for (i, w) in t.words().iter().enumerate() {
            // Relaxed: the parent reads them after reaping the worker
            // (`tally`), when the worker's stores are complete.
            self.slot(k, COUNTERS + i as u64)
                .store(*w, Ordering::Relaxed);
        }
    }

    /// Marks slot `k`'s worker finished cleanly, with its final counters.
    pub fn finish(&self, k: usize, t: &Tally) {
        self.publish(k, t);
        // Relaxed: read after waitpid, like the counters.
        self.slot(k, FINISHED).store(1, Ordering::Relaxed);
    }

    /// Slot `k`'s counters and whether it finished cleanly (the parent,
    /// after reaping its worker).
    pub fn tally(&self, k: usize) -> (Tally, bool) {
        // Relaxed: the worker is reaped; waitpid ordered its stores first.
        let t = Tally::from_words(std::array::from_fn(|i| {
            self.slot(k, COUNTERS + i as u64).load(Ordering::Relaxed)
        }));
        // Relaxed: as above.
        (t, self.slot(k, FINISHED).load(Ordering::Relaxed) == 1)
    }

    /// Slot `k`'s worker has attached to the segment under test.
    pub fn attached(&self, k: usize) {
        // Release: pairs with the parent's Acquire in `is_attached` (its
        // attachment is complete before the parent unlinks the name).
        self.slot(k, ATTACHED).store(1, Ordering::Release);
    }

    /// Whether slot `k`'s worker has attached.
    pub fn is_attached(&self, k: usize) -> bool {
        // Acquire: pairs with the Release store in `attached`.
        self.slot(k, ATTACHED).load(Ordering::Acquire) == 1
    }

    /// Says slot `k`'s worker finished phase `p` and released its claims.
    pub fn done_phase(&self, k: usize, p: u64) {
        // Release pairs with the parent's Acquire in `finished_phase`: the
        // worker's claim releases come before the parent's reset.
        self.slot(k, DONE_PHASE).store(p, Ordering::Release);
    }

    /// The last phase slot `k`'s worker finished.
    pub fn finished_phase(&self, k: usize) -> u64 {
        // Acquire pairs with the Release store in `done_phase`.
        self.slot(k, DONE_PHASE).load(Ordering::Acquire)
    }
}

/// The duplicate table.
#[derive(Debug)]
pub struct Claims {
    seg: Segment,
    base: u64,
    entries: u64,
    shift: u32,
}

impl Claims {
    /// A table for keys below `seg_len` (a segment's offsets, or handle
    /// indices) that live blocks hold at least `granule` apart (rounded
    /// down to a power of two).
    pub fn new(seg_len: u64, granule: u64) -> Result<Self> {
        let shift = granule.max(1).ilog2();
        let entries = (seg_len >> shift) + 1;
        let seg = Segment::anonymous(&SegmentOptions::new(
            AllocatorKind::Raw,
            4 * entries + (64 << 10),
        ))?;
        let base = seg.view().region(RegionId::Pool).offset;
        Ok(Claims {
            seg,
            base,
            entries,
            shift,
        })
    }

    fn entry(&self, at: Offset) -> Option<&AtomicU32> {
        let i = at.get() >> self.shift;
        if i >= self.entries {
            return None;
        }
        self.seg
            .view()
            .atomic_u32(Offset::new(self.base + 4 * i))
            .ok()
    }

    /// Claims the block at `at` for `serial`; false if another worker holds
    /// it (or `at` lies past the segment).
    #[inline]
    pub fn claim(&self, at: Offset, serial: u32) -> bool {
        // Relaxed: a CAS reads the latest value of the entry, so two
        // holders at once cannot both win; nothing else is published
        // through it (the allocator orders free before the next alloc).
        self.entry(at).is_some_and(|e| {
            e.compare_exchange(0, serial, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        })
    }

    /// Releases `serial`'s claim on the block at `at`; false if it was not
    /// held by `serial`.
    #[inline]
    pub fn release(&self, at: Offset, serial: u32) -> bool {
        // Relaxed: as in `claim`.
        self.entry(at).is_some_and(|e| {
            e.compare_exchange(serial, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        })
    }

    /// Withdraws every claim `serial` holds (the parent, after reaping a
    /// killed or crashed worker: its blocks are lost until recovery, or
    /// for reset kinds handed out again after the next reset).
    pub fn forget(&self, serial: u32) {
        // Only the dead worker ever set these entries to `serial` (serials
        // are never reused), so a plain scan finds them all and no live
        // worker's claim can match.
        let mut buf = vec![0u8; 64 << 10];
        let len = 4 * self.entries;
        let mut at = 0;
        while at < len {
            let n = (len - at).min(buf.len() as u64) as usize;
            if self
                .seg
                .view()
                .read_bytes(Offset::new(self.base + at), &mut buf[..n])
                .is_err()
            {
                return;
            }
            for (j, e) in buf[..n].chunks_exact(4).enumerate() {
                if u32::from_le_bytes([e[0], e[1], e[2], e[3]]) == serial {
                    let i = (at / 4) + j as u64;
                    let word = self.seg.view().atomic_u32(Offset::new(self.base + 4 * i));
                    // Relaxed: as in `claim`.
                    if let Ok(w) = word {
                        let _ = w.compare_exchange(serial, 0, Ordering::Relaxed, Ordering::Relaxed);
                    }
                }
            }
            at += n as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_catch_a_second_holder() {
        let c = Claims::new(1 << 20, 64).unwrap();
        let at = Offset::new(4096);
        assert!(c.claim(at, 1));
        assert!(!c.claim(at, 2), "a duplicate");
        assert!(!c.release(at, 2), "not 2's claim");
        assert!(c.release(at, 1));
        assert!(c.claim(at, 2));
        assert!(c.claim(Offset::new(4096 + 64), 3));
        assert!(!c.claim(Offset::new(2 << 20), 1), "past the segment");
        c.forget(2);
        assert!(c.claim(at, 1));
        assert!(!c.claim(Offset::new(4096 + 64), 1), "3's claim stays");
    }

    #[test]
    fn control_round_trip() {
        let ctl = Control::new(2).unwrap();
        ctl.prepare(1, 9);
        assert_eq!(ctl.serial(1), 9);
        assert_eq!(ctl.finished_phase(1), NO_PHASE);
        let t = Tally {
            ops: 5,
            verified: 320,
            errors: 1,
            ..Tally::default()
        };
        ctl.finish(1, &t);
        assert_eq!(ctl.tally(1), (t, true));
        assert!(!ctl.tally(0).1);
        assert!(!ctl.stopped());
        ctl.stop();
        assert!(ctl.stopped());
    }
}
