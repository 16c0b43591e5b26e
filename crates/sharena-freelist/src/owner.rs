//! The hand-over of an arena entry's owner words (`ArenaHead::owner` and
//! `owner_start`), shared by claim, release and adoption (`recover.rs` has
//! the argument) so the loom model checks the code that runs.

use shm_layout::sync::{AtomicU64, Ordering};

/// Adopts an entry whose owner word is `dead` (a process found dead):
/// zeroes the start, CASes the owner to `mine`, then stores `my_start`.
/// `true` if this call won the entry.
pub fn adopt(owner: &AtomicU64, start: &AtomicU64, dead: u64, mine: u64, my_start: u64) -> bool {
    // Relaxed: 0 is conservative ("any start"); the CAS publishes it.
    start.store(0, Ordering::Relaxed);
    // SYNC POINT (adopt, AcqRel): the Acquire pairs with the dead owner's
    // last hand-over (its writes are all done: the process is gone); the
    // Release publishes the zero start to whoever reads our word.
    if owner
        .compare_exchange(dead, mine, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return false;
    }
    // Relaxed: a reader that sees our owner word (Acquire) sees the zero
    // above or this; both name us or nobody in particular.
    start.store(my_start, Ordering::Relaxed);
    true
}

/// Gives an entry back: `owner_start` to 0 first, then `owner` to 0
/// (Release), so that whoever claims the entry next starts from a zero
/// start time.
pub fn release(owner: &AtomicU64, start: &AtomicU64) {
    // Relaxed: ordered before the Release store below, which publishes it.
    start.store(0, Ordering::Relaxed);
    // SYNC POINT (arena release, Release): pairs with the Acquire CAS of a
    // claim and the AcqRel CAS of `adopt`.
    owner.store(0, Ordering::Release);
}
