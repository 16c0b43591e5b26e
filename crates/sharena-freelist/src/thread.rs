//! Process-local bookkeeping: each thread's arenas per
//! [`FreeList`](crate::FreeList) handle, handle ids, and the arenas of
//! threads that have exited.
//!
//! **Exited threads.** A thread's arena is owner-only: while the thread
//! lives, nobody else flushes its class caches, takes in its remote frees
//! or gives back its idle span. When the thread exits, its thread-local
//! list is dropped, and the drop hands each arena to its handle's
//! [`Exited`] list. It touches only that process-local list (reached
//! through a `Weak`, so a handle already dropped is skipped), never the
//! segment, which may be unmapped by then. The handle then owns those
//! arenas on behalf of the thread: it gives back what they hold spare
//! under the list's lock (`FreeList::tidy_exited`: on `stats`, `collect`,
//! and before an allocation fails), and hands them to the next thread that
//! needs an arena. The lock's release and acquire order the exited
//! thread's last owner-only writes before whoever uses the arena next.

use shm_layout::sync::{AtomicU64, Ordering};
use std::cell::RefCell;
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// A handle's arenas whose thread has exited (process-local).
#[derive(Debug, Default)]
pub struct Exited {
    /// The arena ids, each still held by the handle.
    pub ids: Mutex<Vec<u32>>,
    /// `ids.len()`, readable without the lock: 0 lets the handle skip it.
    pub count: AtomicU64,
}

impl Exited {
    /// Records that the thread owning arena `id` exited.
    fn push(&self, id: u32) {
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        ids.push(id);
        // Relaxed: a hint; the lock orders the arena's words.
        self.count.store(ids.len() as u64, Ordering::Relaxed);
    }

    /// Takes one arena for the calling thread, if any.
    pub fn take(&self) -> Option<u32> {
        // Relaxed: a hint; the lock decides.
        if self.count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        let id = ids.pop();
        // Relaxed: as in `push`.
        self.count.store(ids.len() as u64, Ordering::Relaxed);
        id
    }
}

/// One thread's arena of one handle.
#[derive(Debug)]
struct Entry {
    uid: u64,
    id: u32,
    exited: Weak<Exited>,
}

/// The calling thread's arenas; dropped when the thread exits.
#[derive(Debug, Default)]
pub struct ThreadArenas(Vec<Entry>);

impl Drop for ThreadArenas {
    fn drop(&mut self) {
        for e in self.0.drain(..) {
            if let Some(x) = e.exited.upgrade() {
                x.push(e.id);
            }
        }
    }
}

thread_local! {
    /// `(handle uid, arena id)` for each handle this thread allocated
    /// through, primary arenas included.
    static THREAD_ARENAS: RefCell<ThreadArenas> = RefCell::new(ThreadArenas::default());
}

/// The calling thread's arena of handle `uid`, if it has one (`None` also
/// once the thread's list is gone, in a late thread-local destructor).
#[inline]
pub fn find(uid: u64) -> Option<u32> {
    THREAD_ARENAS
        .try_with(|v| v.borrow().0.iter().find(|e| e.uid == uid).map(|e| e.id))
        .ok()
        .flatten()
}

/// Records that the calling thread owns arena `id` of handle `uid`;
/// `false` once the thread's list is gone (the thread is exiting: it
/// must not take an arena nobody would hand back).
pub fn record(uid: u64, id: u32, exited: &Arc<Exited>) -> bool {
    THREAD_ARENAS
        .try_with(|v| {
            v.borrow_mut().0.push(Entry {
                uid,
                id,
                exited: Arc::downgrade(exited),
            });
        })
        .is_ok()
}

/// Whether the calling thread can still record an arena.
pub fn can_record() -> bool {
    THREAD_ARENAS.try_with(|_| ()).is_ok()
}

static NEXT_UID: AtomicU64 = AtomicU64::new(1);

/// A process-unique, never-reused handle id.
pub fn next_uid() -> u64 {
    // Relaxed: the RMW alone makes ids unique.
    NEXT_UID.fetch_add(1, Ordering::Relaxed)
}
