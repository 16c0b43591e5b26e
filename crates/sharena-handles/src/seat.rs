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
//! count per record says when the last one drops (kept under a spin flag:
//! a pin's first and last steps are a few instructions).

use crate::heap::{round8, Entry, Handle, Handles, MOVE_WAIT};
use crate::layout::{ENTRY_LEN, OFF_TABLE, SEAT_RECORDS};
use crate::word::{settle_kill, try_pin, unpin, Loc, PinTry};
use shm_layout::sync::{AtomicBool, AtomicU64, Ordering};
use shm_layout::{Error, Liveness, Offset, Result, SegmentView};

/// The records this attachment uses, mirrored in process memory: slot `r`
/// is 0 while record `r` is free, else `(entry + 1) << 32 | pins` with
/// the pins of that entry alive in this process (at least 1).
#[derive(Debug)]
pub(crate) struct SeatPins {
    busy: AtomicBool,
    slots: [AtomicU64; SEAT_RECORDS as usize],
}

impl Default for SeatPins {
    fn default() -> Self {
        SeatPins {
            busy: AtomicBool::new(false),
            slots: [const { AtomicU64::new(0) }; SEAT_RECORDS as usize],
        }
    }
}

/// The spin flag, held: the slots are this thread's until it drops.
struct Held<'a>(&'a SeatPins);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // Release: pairs with the Acquire of the next `lock`, so the slot
        // stores made under the flag are seen by its next holder.
        self.0.busy.store(false, Ordering::Release);
    }
}

impl Held<'_> {
    /// The slot of `idx`'s record, if this attachment pins it.
    fn find(&self, idx: u64) -> Option<usize> {
        // Relaxed: the flag orders every slot access.
        (0..self.0.slots.len()).find(|&r| self.0.slots[r].load(Ordering::Relaxed) >> 32 == idx + 1)
    }

    /// A free slot (and record).
    fn free(&self) -> Option<usize> {
        // Relaxed: as above.
        (0..self.0.slots.len()).find(|&r| self.0.slots[r].load(Ordering::Relaxed) == 0)
    }

    fn get(&self, r: usize) -> u64 {
        // Relaxed: as above.
        self.0.slots[r].load(Ordering::Relaxed)
    }

    fn set(&self, r: usize, v: u64) {
        // Relaxed: as above.
        self.0.slots[r].store(v, Ordering::Relaxed);
    }
}

impl SeatPins {
    fn lock(&self) -> Held<'_> {
        let mut turn = 0u32;
        // Acquire: pairs with the Release of the last holder's unlock.
        while self.busy.swap(true, Ordering::Acquire) {
            turn += 1;
            if turn < 64 {
                shm_layout::sync::spin_loop();
            } else {
                shm_layout::sync::yield_now();
            }
        }
        Held(self)
    }

    /// Whether this attachment pins nothing now (for `Drop`).
    pub(crate) fn is_empty(&self) -> bool {
        let held = self.lock();
        (0..held.0.slots.len()).all(|r| held.get(r) == 0)
    }
}

/// A pinned block: it does not move (nor is it freed) while the pin lives.
/// Reads and writes through it are checked against the size the
/// allocation asked for ([`Pin::size`]); the raw pointer of [`Pin::ptr`]
/// may reach to the end of the block ([`Pin::usable_size`]).
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

    /// The size the allocation asked for, in bytes: what `read_at` and
    /// `write_at` may touch.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The block's usable size: [`Pin::size`] rounded up to 8, what
    /// [`Pin::ptr`] may touch.
    pub fn usable_size(&self) -> u64 {
        round8(self.size)
    }

    /// Bytes `at..at + len`, if they end within `limit` bytes of the block;
    /// else [`Error::OutOfBounds`] naming `limit`.
    fn within(&self, at: u64, len: u64, limit: u64) -> Result<Offset> {
        match at.checked_add(len) {
            Some(end) if end <= limit => Ok(Offset::new(self.offset.get() + at)),
            _ => Err(Error::OutOfBounds {
                offset: self.offset.get(),
                len: at.saturating_add(len),
                block_len: limit,
            }),
        }
    }

    /// Bytes `at..at + len` within the size asked for.
    pub(crate) fn check(&self, at: u64, len: u64) -> Result<Offset> {
        self.within(at, len, self.size)
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
    /// the pin lives (shared memory: use volatile or atomic access): the
    /// zero-copy path, which may reach to [`Pin::usable_size`].
    pub fn ptr(&self, at: u64, len: u64) -> Result<std::ptr::NonNull<u8>> {
        let o = self.within(at, len, self.usable_size())?;
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
            let held = self.pins.lock();
            if let Some(r) = held.find(idx) {
                // This seat pins the entry already, so it is settled at
                // the offset it has.
                held.set(r, held.get(r) + 1);
                drop(held);
                // Acquire: the loc word's last writer (its move, or the
                // allocation).
                let l = Loc::unpack(e.loc.load(Ordering::Acquire));
                return self.make_pin(h, &e, l);
            }
            let Some(r) = held.free() else {
                return Err(Error::Unsupported {
                    op: "pinning a 32nd handle at once",
                    by: "one handle-heap attachment (31 pin records)",
                });
            };
            let record = self.seat_word(self.seat, 1 + r as u64)?;
            // Release: a reclaim that adopts this seat reads the record
            // (Acquire) to find the bit set next.
            record.store(idx + 1, Ordering::Release);
            match try_pin(e.loc, e.pins, self.seat, h.generation() as u16) {
                PinTry::Pinned(l) => {
                    held.set(r, ((idx + 1) << 32) | 1);
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
            .checked_add(round8(size))
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
        let held = self.pins.lock();
        let Some(r) = held.find(idx) else {
            return;
        };
        let v = held.get(r) - 1;
        if v & 0xFFFF_FFFF != 0 {
            held.set(r, v);
            return;
        }
        let pins = OFF_TABLE + idx * ENTRY_LEN + 24;
        if let Ok(pins) = self.word(pins) {
            unpin(pins, self.seat);
        }
        if let Ok(record) = self.seat_word(self.seat, 1 + r as u64) {
            // Release: after the bit (see the module doc).
            record.store(0, Ordering::Release);
        }
        held.set(r, 0);
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
