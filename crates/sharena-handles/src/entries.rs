//! Taking and giving back handle entries: the free hints.
//!
//! An entry is taken by one CAS of its meta word from FREE to ALLOCATING
//! with the taker's seat: that CAS is both the take and the record of who
//! took it, so a process killed anywhere leaves every entry either FREE or
//! naming a seat. Free entries are found through a bitmap after the seats,
//! one bit per entry, set after an entry becomes FREE, and a summary above
//! it, one bit per hint word, set while the word may have a bit. A take
//! leaves its entry's bit set (a free of the entry soon after finds it
//! set); an allocation that meets the bit of an entry that is not FREE
//! clears it, then looks at the entry again and sets it back if it became
//! FREE meanwhile (the clear and a free's set are RMWs of one word, so
//! whichever comes second sees the other's effect: no free entry loses its
//! bit). Both are only hints (the meta word
//! decides: a set bit of a taken entry only costs a failed CAS), so a
//! reclaim may set the bit of every FREE entry, and the summary bit of
//! every hint word with a bit, that a death left clear, with no race to
//! lose: no entry is ever lost to the table.
//!
//! An allocation first tries the hint word where this attachment last
//! freed or found an entry (so a free and the next allocation meet in one
//! word), then looks through the summary (wrapping), so freed entries are
//! reused before a never-used one is taken, and the table in use (what
//! every scan walks) stays as large as the most entries ever live at once. A free sets its hint bit
//! (an RMW), then its word's summary bit if that reads clear; a summary bit
//! is cleared only when its hint word reads empty, by an RMW of the
//! summary word followed by an RMW read of the hint word. The two RMWs of
//! the hint word (the free's and the clearer's read) are ordered: if the
//! free's comes first, the clearer's read sees its bit (and sets the
//! summary bit back); if the clearer's, the free's acquires the clear, and
//! its look at the summary bit sees it clear (and sets it). No hint is
//! left without its summary bit, and a free whose summary bit is set (the
//! common case) writes only its hint bit.

use crate::heap::Handles;
use crate::layout::{hint_words, hints_off, summary_off, summary_words, OFF_USED};
use crate::word::{Meta, ALLOCATING, FREE};
use shm_layout::sync::{AtomicU64, Ordering};
use shm_layout::{Result, SegmentView};

impl<S: AsRef<SegmentView>> Handles<S> {
    pub(crate) fn hint(&self, word: u64) -> Result<&AtomicU64> {
        self.word(hints_off(self.capacity) + word * 8)
    }

    pub(crate) fn summary(&self, word: u64) -> Result<&AtomicU64> {
        self.word(summary_off(self.capacity) + word * 8)
    }

    /// Whether entry `idx`'s free hint is set.
    pub(crate) fn hinted(&self, idx: u64) -> Result<bool> {
        // Relaxed: a hint (the entry's meta decides).
        Ok(self.hint(idx / 64)?.load(Ordering::Relaxed) & (1 << (idx % 64)) != 0)
    }

    /// Whether hint word `wi`'s summary bit is set.
    pub(crate) fn summarized(&self, wi: u64) -> Result<bool> {
        // Relaxed: a hint.
        Ok(self.summary(wi / 64)?.load(Ordering::Relaxed) & (1 << (wi % 64)) != 0)
    }

    /// Says entry `idx` is free (after its meta word says so): its hint
    /// bit, then its word's summary bit if that reads clear.
    pub(crate) fn set_hint(&self, idx: u64) -> Result<()> {
        let wi = idx / 64;
        // SYNC POINT (hint, AcqRel): the Release pairs with the Acquire of
        // the hint scan (the FREE meta word is seen with the bit; its CAS
        // re-reads anyway) and of a clearer's RMW read; the Acquire takes
        // a clearer's summary clear from its RMW read (module doc).
        self.hint(wi)?.fetch_or(1 << (idx % 64), Ordering::AcqRel);
        // Relaxed: a process-local hint (the next allocation looks here).
        self.cursor.store(wi, Ordering::Relaxed);
        // Acquire: as above.
        if self.summary(wi / 64)?.load(Ordering::Acquire) & (1 << (wi % 64)) == 0 {
            self.set_summary(wi)?;
        }
        Ok(())
    }

    /// Sets hint word `wi`'s summary bit.
    pub(crate) fn set_summary(&self, wi: u64) -> Result<()> {
        // Release: pairs with the Acquire of the summary scan.
        self.summary(wi / 64)?
            .fetch_or(1 << (wi % 64), Ordering::Release);
        Ok(())
    }

    /// Clears hint word `wi`'s summary bit if the word reads empty, and
    /// sets it back if a bit appeared meanwhile (module doc).
    fn settle_summary(&self, wi: u64) -> Result<()> {
        let hint = self.hint(wi)?;
        // Relaxed: a first look; the second one below decides.
        if hint.load(Ordering::Relaxed) != 0 {
            return Ok(());
        }
        // Release: the clear, handed to a free's hint RMW by our RMW read
        // below (module doc).
        self.summary(wi / 64)?
            .fetch_and(!(1 << (wi % 64)), Ordering::Release);
        // AcqRel: the second look, an RMW so that it and a free's hint RMW
        // are ordered (module doc).
        if hint.fetch_or(0, Ordering::AcqRel) != 0 {
            self.set_summary(wi)?;
        }
        Ok(())
    }

    /// Clears the bit of entry `idx`, found set while the entry is not
    /// FREE, and sets it back if the entry is FREE by then (module doc).
    fn unhint(&self, idx: u64) -> Result<()> {
        // AcqRel: if a free's hint RMW came first, this acquires what the
        // free did before it (the FREE meta word), so the look below sees
        // it.
        self.hint(idx / 64)?
            .fetch_and(!(1 << (idx % 64)), Ordering::AcqRel);
        // Acquire: as above.
        if Meta::unpack(self.entry(idx)?.meta.load(Ordering::Acquire)).state == FREE {
            self.set_hint(idx)?;
        }
        Ok(())
    }

    /// Takes entry `idx` for this seat if it is FREE: one CAS of its meta
    /// word to ALLOCATING with this seat, which is both the take and the
    /// record of who took it (no instant at which the entry is nobody's
    /// and off every free list). Its hint bit stays (module doc).
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
            self.unhint(idx)?;
        }
        Ok(None)
    }

    /// Takes an entry: a hinted free one (in the hint word last used, else
    /// through the summary), else a never-used one. `None` when every
    /// entry is taken.
    pub(crate) fn take_entry(&self) -> Result<Option<(u64, Meta)>> {
        let (hints, words) = (hint_words(self.capacity), summary_words(self.capacity));
        // Relaxed: a process-local hint.
        let last = self.cursor.load(Ordering::Relaxed) % hints;
        if let Some(t) = self.take_hinted(last)? {
            return Ok(Some(t));
        }
        let start = last / 64;
        for i in 0..words {
            let si = (start + i) % words;
            // Acquire: pairs with `set_summary`'s Release.
            let mut bits = self.summary(si)?.load(Ordering::Acquire);
            while bits != 0 {
                let wi = si * 64 + u64::from(bits.trailing_zeros());
                bits &= bits - 1;
                if wi >= hints {
                    continue; // a stray bit past the hints
                }
                if let Some(t) = self.take_hinted(wi)? {
                    return Ok(Some(t));
                }
                self.settle_summary(wi)?;
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

    /// A reclaim's repair of the summary: every hint word with a bit has
    /// its summary bit (a free killed between the two left it clear).
    pub(crate) fn repair_summary(&self) -> Result<()> {
        for wi in 0..hint_words(self.capacity) {
            // Relaxed: hints.
            if self.hint(wi)?.load(Ordering::Relaxed) != 0 && !self.summarized(wi)? {
                self.set_summary(wi)?;
            }
        }
        Ok(())
    }
}
