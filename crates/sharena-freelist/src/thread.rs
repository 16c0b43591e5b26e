//! Process-local bookkeeping: each thread's arenas per
//! [`FreeList`](crate::FreeList) handle, and handle ids.

use shm_layout::sync::{AtomicU64, Ordering};
use std::cell::RefCell;

thread_local! {
    /// `(handle uid, arena id)` for each handle this thread allocated
    /// through without owning its primary arena.
    pub static THREAD_ARENAS: RefCell<Vec<(u64, u32)>> = const { RefCell::new(Vec::new()) };
}

static NEXT_UID: AtomicU64 = AtomicU64::new(1);

/// A process-unique, never-reused handle id.
pub fn next_uid() -> u64 {
    // Relaxed: the RMW alone makes ids unique.
    NEXT_UID.fetch_add(1, Ordering::Relaxed)
}
