//! A crash point at every write to segment memory.
//!
//! Every store, swap, CAS and other read-modify-write through the sync
//! shim, and every byte copy into a segment through [`SegmentView`]
//! (`write_bytes`), calls [`on_write`] with the address written. A write
//! counts when that address lies in a *watched* range: every
//! [`SegmentView`] watches its mapping while it lives, so process-local
//! atomics (counters, thread ids) never count. A test arms the counter with
//! [`arm_writes`]`(k)`: the process SIGKILLs itself just before its `k`-th
//! counted write from then on, leaving the segment exactly as a kill at
//! any instruction between write `k - 1` and write `k` would (what dies
//! with the process is private). [`count_writes`] counts without killing,
//! so a test can learn how many writes a scenario makes.
//!
//! A failed CAS writes nothing but counts (the hook runs before the
//! operation): dying there is the same state as dying after the write
//! before it, explored twice, never missed.
//!
//! [`SegmentView`]: crate::SegmentView
#![allow(clippy::disallowed_types)]

// The std atomics, not the shim's: the shim calls into this module, and
// these words are process-local test state, never segment memory.
use core::sync::atomic::{AtomicUsize, Ordering};
use std::cell::Cell;

/// Ranges watched at once (views alive in one process).
const RANGES: usize = 32;

/// `(base, end)` of each watched range; `(0, 0)` is an empty entry.
static BASES: [AtomicUsize; RANGES] = [const { AtomicUsize::new(0) }; RANGES];
static ENDS: [AtomicUsize; RANGES] = [const { AtomicUsize::new(0) }; RANGES];
/// The calling thread's counter. Thread-local: a scenario runs on one
/// thread, and other threads (a test harness's) never shift its count.
#[derive(Clone, Copy)]
struct Counter {
    /// Whether writes are being counted (armed or counting).
    on: bool,
    /// Counted writes since the last `arm_writes`/`count_writes`.
    count: u64,
    /// The write to die before (0: none, just count).
    die_at: u64,
}

thread_local! {
    static COUNTER: Cell<Counter> = const {
        Cell::new(Counter { on: false, count: 0, die_at: 0 })
    };
}

/// Stops watching a range when dropped (held by the view that watches it).
#[derive(Debug)]
pub struct Unwatch(usize);

impl Drop for Unwatch {
    fn drop(&mut self) {
        if self.0 < RANGES {
            // Relaxed: process-local test state (see `arm_writes`).
            ENDS[self.0].store(0, Ordering::Relaxed);
            BASES[self.0].store(0, Ordering::Relaxed);
        }
    }
}

/// Watches `base..base + len`: writes there count. A full table (more
/// than 32 live views in one process) watches nothing more; the index
/// returned is then out of range and dropping it is a no-op.
pub fn watch(base: usize, len: usize) -> Unwatch {
    for (i, b) in BASES.iter().enumerate() {
        // Relaxed: process-local test state; a range is complete (its end
        // stored) before the view that watches it hands out any pointer.
        if b.compare_exchange(0, base, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            ENDS[i].store(base.saturating_add(len), Ordering::Relaxed);
            return Unwatch(i);
        }
    }
    Unwatch(RANGES)
}

/// Counts this thread's writes from now on without killing; returns the
/// count so far (and resets it).
pub fn count_writes() -> u64 {
    COUNTER.with(|c| {
        let n = c.get().count;
        c.set(Counter {
            on: true,
            count: 0,
            die_at: 0,
        });
        n
    })
}

/// Arms: this process SIGKILLs itself just before this thread's `k`-th
/// counted write from now (counting from 1). `k = 0` only counts.
pub fn arm_writes(k: u64) {
    COUNTER.with(|c| {
        c.set(Counter {
            on: true,
            count: 0,
            die_at: k,
        });
    });
}

/// Stops counting and killing on this thread; returns the writes counted.
pub fn disarm_writes() -> u64 {
    COUNTER.with(|c| {
        let n = c.get().count;
        c.set(Counter {
            on: false,
            count: n,
            die_at: 0,
        });
        n
    })
}

/// This thread's writes counted since the last arming (or `count_writes`).
pub fn writes() -> u64 {
    COUNTER.with(|c| c.get().count)
}

/// The hook: a write to `addr` is about to happen.
#[inline]
pub fn on_write(addr: usize) {
    // `try_with`: a write from a thread-local destructor after the counter
    // is gone counts nothing.
    let _ = COUNTER.try_with(|c| {
        let now = c.get();
        if now.on && watched(addr) {
            let count = now.count + 1;
            c.set(Counter { count, ..now });
            if count == now.die_at {
                die();
            }
        }
    });
}

fn watched(addr: usize) -> bool {
    (0..RANGES).any(|i| {
        // Relaxed: see `watch`.
        let base = BASES[i].load(Ordering::Relaxed);
        base != 0 && addr >= base && addr < ENDS[i].load(Ordering::Relaxed)
    })
}

#[cold]
#[inline(never)]
fn die() -> ! {
    // SAFETY: `kill` and `getpid` are async-signal-safe syscalls with no
    // memory arguments.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    // SIGKILL to oneself is delivered before `kill` returns; never go on
    // to make the write.
    std::process::abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_watched_writes_count() {
        let mut mem = [0u64; 4];
        let base = mem.as_mut_ptr() as usize;
        let guard = watch(base, 16);
        count_writes();
        on_write(base);
        on_write(base + 8);
        on_write(base + 16); // past the range
        on_write(1); // elsewhere
        assert_eq!(writes(), 2);
        drop(guard);
        on_write(base);
        assert_eq!(disarm_writes(), 2);
    }
}
