//! Process-local thread bookkeeping: never-reused thread ids, and each
//! thread's arenas per [`FreeList`](crate::FreeList) handle.

use shm_layout::sync::{AtomicU64, Ordering};
use std::cell::{Cell, RefCell};

thread_local! {
    static THREAD_ID: Cell<u64> = const { Cell::new(0) };
    /// `(handle uid, arena id)` for each handle this thread allocated
    /// through without owning its primary arena.
    pub static THREAD_ARENAS: RefCell<Vec<(u64, u32)>> = const { RefCell::new(Vec::new()) };
}

static NEXT_THREAD_ID: AtomicU64 = AtomicU64::new(1);
static NEXT_UID: AtomicU64 = AtomicU64::new(1);

/// A process-unique, never-reused id of the calling thread.
#[inline(always)]
pub fn id() -> u64 {
    THREAD_ID.with(|c| {
        let id = c.get();
        if id != 0 {
            return id;
        }
        // Relaxed: the RMW alone makes ids unique.
        let id = NEXT_THREAD_ID.fetch_add(1, Ordering::Relaxed);
        c.set(id);
        id
    })
}

/// A process-unique, never-reused handle id.
pub fn next_uid() -> u64 {
    // Relaxed: the RMW alone makes ids unique.
    NEXT_UID.fetch_add(1, Ordering::Relaxed)
}
