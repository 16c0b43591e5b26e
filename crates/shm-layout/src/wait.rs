//! Waiting on a 32-bit word of a segment, across processes.
//!
//! [`wait`] sleeps while a word holds an expected value; [`notify_one`] and
//! [`notify_all`] wake sleepers. On Linux they are the `futex(2)` calls
//! `FUTEX_WAIT` and `FUTEX_WAKE` *without* `FUTEX_PRIVATE_FLAG`: the kernel
//! keys a shared futex by the page's backing object and offset, so two
//! processes that map one segment at different addresses wait on the same
//! word.
//!
//! # Nobody is wedged by a death
//! - Every wait has a timeout (there is no untimed [`wait`]), so a notifier
//!   that dies before notifying delays a waiter by at most that timeout, and
//!   a caller that re-checks its condition after each wake (as it must:
//!   wakes may be spurious) also re-checks whether the process it waits for
//!   is alive.
//! - A waiter that dies holds nothing: the kernel drops its futex wait with
//!   the process. An [`Event`]'s waiter count then stays one too high, which
//!   only makes each later notify pay for one `FUTEX_WAKE` call that wakes
//!   nobody; it never stops a wake-up.
//!
//! # Cheap when nobody waits
//! A bare [`notify_all`] is a system call. An [`Event`] (a sequence word and
//! a waiter count side by side) skips it when no waiter is registered, so a
//! notify with no waiter is one atomic add and one load.
//!
//! Under `cfg(shm_loom)` the futex calls become a model yield (a wait is a
//! spurious wake-up, a notify does nothing), which is a legal behaviour of
//! the real calls: every caller must loop on its condition anyway.
//!
//! # Example
//! ```
//! use shm_layout::sync::AtomicU32;
//! use shm_layout::wait::{Event, Woken};
//! use std::time::{Duration, Instant};
//!
//! let (seq, waiters) = (AtomicU32::new(0), AtomicU32::new(0));
//! let event = Event::new(&seq, &waiters);
//! // Nothing changes the condition, so the wait ends at its deadline.
//! let deadline = Instant::now() + Duration::from_millis(5);
//! assert_eq!(event.wait_until(deadline, || None::<()>), None);
//! // A word that no longer holds the expected value does not sleep at all.
//! let word = AtomicU32::new(7);
//! assert_eq!(shm_layout::wait::wait(&word, 6, Duration::from_secs(1)), Woken::Changed);
//! ```

use crate::sync::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Why a [`wait`] returned. Whatever it says, the caller re-checks its
/// condition: the word may have changed back, and wakes may be spurious.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The word did not hold the expected value when the wait began.
    Changed,
    /// A notify woke this wait, or a signal or the kernel ended it early.
    Notified,
    /// The timeout passed.
    TimedOut,
}

/// Sleeps while `word` holds `expected`, for at most `timeout`.
///
/// The comparison and the sleep are one step in the kernel, so a notify
/// that follows a change of the word is never missed. A zero timeout only
/// compares.
pub fn wait(word: &AtomicU32, expected: u32, timeout: Duration) -> Woken {
    if word.load(Ordering::SeqCst) != expected {
        return Woken::Changed;
    }
    if timeout.is_zero() {
        return Woken::TimedOut;
    }
    sys::wait(word, expected, timeout)
}

/// Wakes at most one process or thread sleeping in [`wait`] on `word`;
/// returns how many were woken (0 or 1).
pub fn notify_one(word: &AtomicU32) -> u32 {
    sys::wake(word, 1)
}

/// Wakes every process and thread sleeping in [`wait`] on `word`; returns
/// how many were woken.
pub fn notify_all(word: &AtomicU32) -> u32 {
    sys::wake(word, i32::MAX)
}

/// A condition that processes wait for and announce, over two 32-bit words
/// of a segment: a sequence number that every notify advances and a count of
/// registered waiters.
///
/// Both words may hold anything (a corrupt or hostile segment): every update
/// wraps, so the worst a wrong value does is cost a notify one system call
/// or a waiter one extra wake-up.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    seq: &'a AtomicU32,
    waiters: &'a AtomicU32,
}

impl<'a> Event<'a> {
    /// The event made of a sequence word and a waiter-count word (zero for
    /// a new event; each process finds them at the same place in its
    /// segment).
    pub fn new(seq: &'a AtomicU32, waiters: &'a AtomicU32) -> Self {
        Event { seq, waiters }
    }

    /// Announces a change of the condition to every waiter. Call it after
    /// the writes that make the condition true: a waiter that reads the
    /// sequence before this call and the condition after it sees those
    /// writes (every access here is SeqCst).
    pub fn notify_all(&self) -> u32 {
        // SYNC POINT (notify side): this add is ordered before the load of
        // `waiters` below; its partner is the waiter's add to `waiters`,
        // ordered before the kernel's comparison of `seq` in `wait`. Of the
        // two adds, the later one sees the earlier: either this load sees
        // the waiter (and wakes it), or the kernel sees the new sequence
        // (and does not sleep).
        self.seq.fetch_add(1, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) == 0 {
            return 0;
        }
        notify_all(self.seq)
    }

    /// Announces a change that one waiter can act on (one item pushed, one
    /// slot freed): as [`notify_all`](Event::notify_all), but the kernel
    /// wakes at most one sleeper, so waiters do not stampede for one item.
    /// A waiter woken for nothing (another took the item) waits again.
    pub fn notify_one(&self) -> u32 {
        // SYNC POINT: as in `notify_all`.
        self.seq.fetch_add(1, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) == 0 {
            return 0;
        }
        notify_one(self.seq)
    }

    /// Waits until `ready` returns `Some`, or until `deadline`; returns what
    /// `ready` returned, or `None` at the deadline.
    ///
    /// `ready` runs first, then after every wake-up; it should also return
    /// (an error, for instance) when the process it waits for has died, so
    /// that a death costs no more than one wake-up.
    pub fn wait_until<T>(
        &self,
        deadline: Instant,
        mut ready: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        loop {
            // SYNC POINT (wait side): the sequence is read before the
            // condition, so a notify after a missed change moves it on.
            let seq = self.seq.load(Ordering::SeqCst);
            if let Some(v) = ready() {
                return Some(v);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if left.is_zero() {
                return None;
            }
            // Paired with the notifier's load of `waiters` (see notify_all).
            self.waiters.fetch_add(1, Ordering::SeqCst);
            wait(self.seq, seq, left);
            self.waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(not(shm_loom))]
impl crate::SegmentView {
    /// [`wait`] on the 32-bit word at `offset` (bounds- and
    /// alignment-checked like [`SegmentView::atomic_u32`](crate::SegmentView::atomic_u32)).
    pub fn wait_u32(
        &self,
        offset: crate::Offset,
        expected: u32,
        timeout: Duration,
    ) -> crate::Result<Woken> {
        Ok(wait(self.atomic_u32(offset)?, expected, timeout))
    }

    /// [`notify_one`] on the 32-bit word at `offset`.
    pub fn notify_one(&self, offset: crate::Offset) -> crate::Result<u32> {
        Ok(notify_one(self.atomic_u32(offset)?))
    }

    /// [`notify_all`] on the 32-bit word at `offset`.
    pub fn notify_all(&self, offset: crate::Offset) -> crate::Result<u32> {
        Ok(notify_all(self.atomic_u32(offset)?))
    }

    /// The [`Event`] over the 8 bytes at `offset` (8-aligned): its sequence
    /// word, then its waiter count.
    pub fn event(&self, offset: crate::Offset) -> crate::Result<Event<'_>> {
        if !offset.is_aligned(8) {
            return Err(crate::Error::InvalidOffset {
                offset: offset.get(),
                reason: "event not 8-byte aligned",
            });
        }
        // Both words checked: `offset + 4` cannot wrap once `offset` passed.
        let seq = self.atomic_u32(offset)?;
        let waiters = self.atomic_u32(crate::Offset::new(offset.get().wrapping_add(4)))?;
        Ok(Event::new(seq, waiters))
    }
}

#[cfg(all(target_os = "linux", not(shm_loom)))]
mod sys {
    use super::{AtomicU32, Duration, Woken};

    /// `FUTEX_WAIT` on the word, shared (no private flag).
    pub(super) fn wait(word: &AtomicU32, expected: u32, timeout: Duration) -> Woken {
        let ts = libc::timespec {
            tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: timeout.subsec_nanos().into(),
        };
        // SAFETY: the address is that of a live, 4-aligned `u32` (the shim
        // atomic is `repr(transparent)` over one) that outlives the call;
        // `ts` is a valid timespec on the stack; FUTEX_WAIT reads both and
        // writes neither.
        let r = unsafe {
            libc::syscall(
                libc::SYS_futex,
                core::ptr::from_ref(word).cast::<u32>(),
                libc::FUTEX_WAIT,
                expected,
                &raw const ts,
                core::ptr::null::<u32>(),
                0u32,
            )
        };
        if r == 0 {
            return Woken::Notified;
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EAGAIN) => Woken::Changed,
            Some(libc::ETIMEDOUT) => Woken::TimedOut,
            // EINTR (a signal) and anything else: a spurious wake-up.
            _ => Woken::Notified,
        }
    }

    /// `FUTEX_WAKE` of at most `n` sleepers on the word.
    pub(super) fn wake(word: &AtomicU32, n: i32) -> u32 {
        // SAFETY: as in `wait`; FUTEX_WAKE only uses the address as a key.
        let r = unsafe {
            libc::syscall(
                libc::SYS_futex,
                core::ptr::from_ref(word).cast::<u32>(),
                libc::FUTEX_WAKE,
                n,
                core::ptr::null::<libc::timespec>(),
                core::ptr::null::<u32>(),
                0u32,
            )
        };
        u32::try_from(r).unwrap_or(0)
    }
}

#[cfg(any(not(target_os = "linux"), shm_loom))]
mod sys {
    use super::{AtomicU32, Duration, Woken};

    /// Without futexes (and under loom): a short sleep or a model yield,
    /// reported as a wake-up; callers re-check their condition.
    pub(super) fn wait(_word: &AtomicU32, _expected: u32, timeout: Duration) -> Woken {
        #[cfg(shm_loom)]
        {
            let _ = timeout;
            loom::thread::yield_now();
        }
        #[cfg(not(shm_loom))]
        std::thread::sleep(timeout.min(Duration::from_millis(1)));
        Woken::Notified
    }

    pub(super) fn wake(_word: &AtomicU32, _n: i32) -> u32 {
        0
    }
}

#[cfg(all(test, not(shm_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_changed_word_does_not_sleep() {
        let w = AtomicU32::new(1);
        assert_eq!(wait(&w, 0, Duration::from_secs(10)), Woken::Changed);
    }

    #[test]
    fn a_zero_timeout_only_compares() {
        let w = AtomicU32::new(0);
        assert_eq!(wait(&w, 0, Duration::ZERO), Woken::TimedOut);
    }

    #[test]
    fn an_unnotified_wait_times_out() {
        let w = AtomicU32::new(0);
        let r = wait(&w, 0, Duration::from_millis(2));
        assert!(matches!(r, Woken::TimedOut | Woken::Notified), "{r:?}");
    }

    #[test]
    fn a_notify_with_no_waiter_wakes_nobody() {
        let (seq, waiters) = (AtomicU32::new(0), AtomicU32::new(0));
        let e = Event::new(&seq, &waiters);
        assert_eq!(e.notify_all(), 0);
        assert_eq!(seq.load(Ordering::SeqCst), 1);
        assert_eq!(notify_one(&seq), 0);
    }

    #[test]
    fn hostile_words_wrap_and_do_not_wedge() {
        let (seq, waiters) = (AtomicU32::new(u32::MAX), AtomicU32::new(u32::MAX));
        let e = Event::new(&seq, &waiters);
        e.notify_all();
        assert_eq!(seq.load(Ordering::SeqCst), 0);
        let deadline = Instant::now() + Duration::from_millis(2);
        assert_eq!(e.wait_until(deadline, || None::<()>), None);
        assert_eq!(waiters.load(Ordering::SeqCst), u32::MAX);
    }

    /// Each of 4 threads waits for its own round of a counter that the main
    /// thread advances, notifying after each step: no wake-up is lost (every
    /// waiter sees its round well before its 10 s deadline).
    #[test]
    fn no_wake_up_is_lost_between_threads() {
        struct Shared {
            seq: AtomicU32,
            waiters: AtomicU32,
            round: AtomicU32,
        }
        let s = Arc::new(Shared {
            seq: AtomicU32::new(0),
            waiters: AtomicU32::new(0),
            round: AtomicU32::new(0),
        });
        let threads: Vec<_> = (1..=4u32)
            .map(|me| {
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    let e = Event::new(&s.seq, &s.waiters);
                    let deadline = Instant::now() + Duration::from_secs(10);
                    for r in (me..=400).step_by(4) {
                        let got = e.wait_until(deadline, || {
                            (s.round.load(Ordering::SeqCst) >= r).then_some(())
                        });
                        assert_eq!(got, Some(()), "thread {me} missed round {r}");
                    }
                })
            })
            .collect();
        let e = Event::new(&s.seq, &s.waiters);
        for _ in 0..400 {
            s.round.fetch_add(1, Ordering::SeqCst);
            e.notify_all();
            std::thread::yield_now();
        }
        for t in threads {
            t.join().expect("waiter panicked");
        }
    }
}
