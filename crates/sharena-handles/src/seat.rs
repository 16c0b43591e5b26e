//! Pins, recorded by seat: [`Pin`], [`Handles::pin`], and the waits of a
//! pin or free for a block being moved or freed.
//!
//! A seat is one attachment's entry in the heap (64 of them, after the
//! handle table): an owner slot with the attachment's `OwnerId`, and 31
//! pin records. Before a seat's first pin of an entry it writes the
//! entry's index into a free record, then sets its bit in the entry's pin
//! word (`word::try_pin`); after its last unpin it clears the bit, then the
//! record. So a bit is only ever set while its seat's record names the
//! entry, and a reclaim of a dead seat clears exactly the bits its records
//! name: every pin the dead attachment held, and no other. Pins of one
//! attachment by several threads share the seat's bit; a process-local
//! count (under a mutex) says when the last one drops.

use crate::heap::{Entry, Handle, Handles, MOVE_WAIT};
use crate::layout::{ENTRY_LEN, OFF_TABLE, SEAT_RECORDS};
use crate::word::{settle_kill, try_pin, unpin, Loc, PinTry};
use shm_layout::sync::Ordering;
use shm_layout::{Error, Liveness, Offset, Result, SegmentView};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// One entry this attachment pins.
#[derive(Clone, Copy, Debug)]
struct Held {
    /// The entry.
    idx: u64,
    /// Pins of it alive in this process.
    count: u64,
    /// The seat record naming it.
    rec: u64,
}

/// The entries this attachment pins (process-local).
#[derive(Debug, Default)]
pub(crate) struct SeatPins(Mutex<Vec<Held>>);

impl SeatPins {
    fn lock(&self) -> MutexGuard<'_, Vec<Held>> {
        // A panic under the lock leaves the list consistent (every update
        // is one push, one field or one swap_remove).
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Entries pinned now (for `Drop` and tests).
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// A free record: one no held entry uses.
fn free_record(held: &[Held]) -> Option<u64> {
    (0..SEAT_RECORDS).find(|r| held.iter().all(|h| h.rec != *r))
}

/// A pinned block: it does not move (nor is it freed) while the pin lives.
/// Reads and writes through it are checked against the allocation's size.
#[derive(Debug)]
pub struct Pin<'h, S: AsRef<SegmentView>> {
    heap: &'h Handles<S>,
    index: u64,
    offset: Offset,
    size: u64,
}

impl<S: AsRef<SegmentView>> Pin<'_, S> {
    /// The block's segment offset while pinned.
    pub fn offset(&self) -> Offset {
        self.offset
    }

    /// The allocation's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub(crate) fn check(&self, at: u64, len: u64) -> Result<Offset> {
        match at.checked_add(len) {
            Some(end) if end <= self.size => Ok(Offset::new(self.offset.get() + at)),
            _ => Err(Error::OutOfBounds {
                offset: self.offset.get(),
                len: at.saturating_add(len),
                block_len: self.size,
            }),
        }
    }

    /// Copies `out.len()` bytes from `at` bytes into the block.
    pub fn read_at(&self, at: u64, out: &mut [u8]) -> Result<()> {
        let o = self.check(at, out.len() as u64)?;
        self.heap.view().read_bytes(o, out)
    }

    /// Copies `data` into the block, `at` bytes in.
    pub fn write_at(&self, at: u64, data: &[u8]) -> Result<()> {
        let o = self.check(at, data.len() as u64)?;
        self.heap.view().write_bytes(o, data)
    }

    /// A raw pointer to `len` bytes `at` bytes into the block, valid while
    /// the pin lives (shared memory: use volatile or atomic access).
    pub fn ptr(&self, at: u64, len: u64) -> Result<std::ptr::NonNull<u8>> {
        let o = self.check(at, len)?;
        self.heap.view().ptr(o, len)
    }
}

impl<S: AsRef<SegmentView>> Drop for Pin<'_, S> {
    fn drop(&mut self) {
        self.heap.unpin_index(self.index);
    }
}

impl<S: AsRef<SegmentView>> Handles<S> {
    /// Pins `h`'s block: it will not move (nor be freed) until the
    /// [`Pin`] drops. One attachment pins at most 31 distinct handles at
    /// once (any number of pins of each).
    pub fn pin(&self, h: Handle) -> Result<Pin<'_, S>> {
        self.not_forked()?;
        let idx = u64::from(h.index());
        for turn in 0.. {
            let (e, _) = self.live(h)?;
            let mut held = self.pins.lock();
            if let Some(k) = held.iter().position(|x| x.idx == idx) {
                // This seat pins the entry already, so it is settled at
                // the offset it has.
                held[k].count += 1;
                drop(held);
                // Acquire: the loc word's last writer (its move, or the
                // allocation).
                let l = Loc::unpack(e.loc.load(Ordering::Acquire));
                return self.make_pin(h, &e, l);
            }
            let Some(rec) = free_record(&held) else {
                return Err(Error::Unsupported {
                    op: "pinning a 32nd handle at once",
                    by: "one handle-heap attachment (31 pin records)",
                });
            };
            let record = self.seat_word(self.seat, 1 + rec)?;
            // Release: a reclaim that adopts this seat reads the record
            // (Acquire) to find the bit set next.
            record.store(idx + 1, Ordering::Release);
            match try_pin(e.loc, e.pins, self.seat, h.generation() as u16) {
                PinTry::Pinned(l) => {
                    held.push(Held { idx, count: 1, rec });
                    drop(held);
                    return self.make_pin(h, &e, l);
                }
                PinTry::Gone => {
                    // Release: after the bit was taken back.
                    record.store(0, Ordering::Release);
                    return Err(Self::stale(h));
                }
                PinTry::Busy(l) => {
                    // Release: as above.
                    record.store(0, Ordering::Release);
                    drop(held);
                    self.wait_busy(turn, &e, l)?;
                }
            }
        }
        unreachable!("the loop returns")
    }

    /// The guard of a pin just taken, checked against the data area (a
    /// corrupt entry unpins again and is an error).
    fn make_pin(&self, h: Handle, e: &Entry<'_>, l: Loc) -> Result<Pin<'_, S>> {
        // Relaxed: written before LIVE, which `live` Acquired.
        let size = e.size.load(Ordering::Relaxed);
        let pin = Pin {
            heap: self,
            index: u64::from(h.index()),
            offset: Offset::new(self.data_off + l.off),
            size,
        };
        if l.off
            .checked_add(size)
            .is_none_or(|end| end > self.data_len)
        {
            return Err(self.corrupt(
                format!(
                    "handle {h:?} places {size} bytes at {} past the data area",
                    l.off
                ),
                self.state_off + OFF_TABLE + u64::from(h.index()) * ENTRY_LEN,
            ));
        }
        Ok(pin)
    }

    /// Drops one pin of entry `idx` (the last one clears the seat's bit,
    /// then its record). Nothing in a fork child: the pin is the parent's.
    fn unpin_index(&self, idx: u64) {
        if self.not_forked().is_err() {
            return;
        }
        let mut held = self.pins.lock();
        let Some(k) = held.iter().position(|x| x.idx == idx) else {
            return;
        };
        held[k].count -= 1;
        if held[k].count > 0 {
            return;
        }
        let rec = held.swap_remove(k).rec;
        if let Ok(e) = self.entry(idx) {
            unpin(e.pins, self.seat);
        }
        if let Ok(r) = self.seat_word(self.seat, 1 + rec) {
            // Release: after the bit (see the module doc).
            r.store(0, Ordering::Release);
        }
    }

    /// Whether seat `s`'s holder is gone (free, or its process dead).
    pub(crate) fn seat_gone(&self, s: u64, live: &mut Liveness) -> Result<bool> {
        Ok(match self.seat_slot(s)?.holder() {
            None => true,
            Some(id) => !live.is_alive(id),
        })
    }

    /// Waits one turn for a block being moved or freed (`l`, as seen);
    /// now and then finishes the move of a dead compactor, or decides the
    /// free of a dead seat, itself. After [`MOVE_WAIT`] turns it gives up.
    pub(crate) fn wait_busy(&self, turn: u32, e: &Entry<'_>, l: Loc) -> Result<()> {
        if turn % 256 == 255 {
            if l.moving {
                self.recover_dead_compactor()?;
            }
            if let Some(k) = l.killing {
                if k != self.seat && self.seat_gone(k, &mut Liveness::new(self.me))? {
                    settle_kill(e.loc, e.pins, l.pack());
                }
            }
        }
        if turn >= MOVE_WAIT {
            return Err(Error::Unsupported {
                op: "access to a block being moved or freed",
                by: "a compaction or free that did not finish in time",
            });
        }
        shm_layout::sync::yield_now();
        Ok(())
    }
}
