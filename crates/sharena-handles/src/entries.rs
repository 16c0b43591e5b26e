//! Taking and giving back handle entries: the free hints.
//!
//! An entry is taken by one CAS of its meta word from FREE to ALLOCATING
//! with the taker's seat: that CAS is both the take and the record of who
//! took it, so a process killed anywhere leaves every entry either FREE or
//! naming a seat. Free entries are found through a bitmap after the seats,
//! one bit per entry, set after an entry becomes FREE and cleared by its
//! taker after the take. The bitmap is only a hint (the meta word
//! decides: a set bit of a taken entry only costs a failed CAS), so a
//! reclaim may set the bit of every FREE entry whose bit a death left
//! clear, with no race to lose: no entry is ever lost to the table.

use crate::heap::Handles;
use crate::layout::{hint_words, hints_off, OFF_USED};
use crate::word::{Meta, ALLOCATING, FREE};
use shm_layout::sync::{AtomicU64, Ordering};
use shm_layout::{Result, SegmentView};

/// Hint words an allocation looks at before it takes a never-used entry.
const FIRST_HINT_WORDS: u64 = 4;

impl<S: AsRef<SegmentView>> Handles<S> {
    pub(crate) fn hint(&self, word: u64) -> Result<&AtomicU64> {
        self.word(hints_off(self.capacity) + word * 8)
    }

    /// Whether entry `idx`'s free hint is set.
    pub(crate) fn hinted(&self, idx: u64) -> Result<bool> {
        // Relaxed: a hint (the entry's meta decides).
        Ok(self.hint(idx / 64)?.load(Ordering::Relaxed) & (1 << (idx % 64)) != 0)
    }

    /// Says entry `idx` is free (after its meta word says so).
    pub(crate) fn set_hint(&self, idx: u64) -> Result<()> {
        // Release: pairs with the Acquire of the hint scan, so the FREE
        // meta word is seen with the bit (its CAS re-reads anyway).
        self.hint(idx / 64)?
            .fetch_or(1 << (idx % 64), Ordering::Release);
        Ok(())
    }

    pub(crate) fn clear_hint(&self, idx: u64) -> Result<()> {
        // Relaxed: a hint; only the taker of the entry clears it.
        self.hint(idx / 64)?
            .fetch_and(!(1 << (idx % 64)), Ordering::Relaxed);
        Ok(())
    }

    /// Takes entry `idx` for this seat if it is FREE: one CAS of its meta
    /// word to ALLOCATING with this seat, which is both the take and the
    /// record of who took it (no instant at which the entry is nobody's
    /// and off every free list). Then clears its hint.
    fn claim(&self, idx: u64) -> Result<Option<Meta>> {
        let e = self.entry(idx)?;
        // Relaxed: the CAS re-reads.
        let w = e.meta.load(Ordering::Relaxed);
        let m = Meta::unpack(w);
        if m.state != FREE {
            return Ok(None);
        }
        let taken = Meta {
            gen: m.gen,
            state: ALLOCATING,
            shared: false,
            seat: self.seat,
        };
        // AcqRel: the Acquire pairs with the Release of the free (retire)
        // that made the entry FREE; the Release orders our take before the
        // cursor move (`reserve`) that the compactor Acquires.
        if e.meta
            .compare_exchange(w, taken.pack(), Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return Ok(None);
        }
        self.clear_hint(idx)?;
        Ok(Some(taken))
    }

    /// A FREE entry from hint word `wi`, taken.
    fn take_hinted(&self, wi: u64) -> Result<Option<(u64, Meta)>> {
        // Acquire: see `set_hint`.
        let mut bits = self.hint(wi)?.load(Ordering::Acquire);
        while bits != 0 {
            let idx = wi * 64 + u64::from(bits.trailing_zeros());
            bits &= bits - 1;
            if idx >= self.capacity {
                continue; // a stray bit past the table: not an entry
            }
            if let Some(m) = self.claim(idx)? {
                // Relaxed: a process-local hint.
                self.cursor.store(wi, Ordering::Relaxed);
                return Ok(Some((idx, m)));
            }
        }
        Ok(None)
    }

    /// Takes an entry: a hinted free one near the last, else a never-used
    /// one, else any hinted one. `None` when every entry is taken.
    pub(crate) fn take_entry(&self) -> Result<Option<(u64, Meta)>> {
        let words = hint_words(self.capacity);
        // Relaxed: a process-local hint.
        let start = self.cursor.load(Ordering::Relaxed) % words;
        for i in 0..words.min(FIRST_HINT_WORDS) {
            if let Some(t) = self.take_hinted((start + i) % words)? {
                return Ok(Some(t));
            }
        }
        let used = self.word(OFF_USED)?;
        // Relaxed: the CAS decides.
        let mut u = used.load(Ordering::Relaxed);
        while u < self.capacity {
            // AcqRel: see `used`.
            match used.compare_exchange_weak(u, u + 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => {
                    // A never-used entry is FREE; a reclaim may have
                    // hinted it meanwhile and someone taken it: try again.
                    if let Some(m) = self.claim(u)? {
                        return Ok(Some((u, m)));
                    }
                    // Relaxed: as above.
                    u = used.load(Ordering::Relaxed);
                }
                Err(now) => u = now,
            }
            shm_layout::sync::spin_loop();
        }
        for wi in 0..words {
            if let Some(t) = self.take_hinted(wi)? {
                return Ok(Some(t));
            }
        }
        Ok(None)
    }

    /// Gives back an entry this seat took but did not make LIVE.
    pub(crate) fn put_back(&self, idx: u64, gen: u32) -> Result<()> {
        // Release: the FREE state before its hint.
        self.entry(idx)?
            .meta
            .store(Meta::free(gen).pack(), Ordering::Release);
        self.set_hint(idx)
    }
}
