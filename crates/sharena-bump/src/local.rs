//! Process-local chunk state: one [`Slot`] per (allocator handle, thread).
//!
//! A slot holds the chunk its thread reserved from the shared cursor and
//! the allocations it has carved since its last flush. Only its thread
//! writes it (plain load + store, no RMW); `stats()` and `mark()` of other
//! threads read it. A one-entry thread-local cache maps the handle's id to
//! the slot, so the fast path finds it without a lock.

use shm_layout::sync::{AtomicU64, Ordering};
use std::cell::Cell;
use std::sync::{Mutex, PoisonError};
use std::thread::ThreadId;

/// The epoch no chunk has: slots start empty.
const NO_EPOCH: u64 = u64::MAX;

/// Ids of allocator handles in this process; never reused.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One thread's chunk. Offsets are segment-relative.
#[derive(Debug)]
pub(crate) struct Slot {
    owner: ThreadId,
    /// The epoch the chunk was reserved in (`NO_EPOCH`: none).
    pub epoch: AtomicU64,
    /// The generation of `count` (and of the chunk).
    pub generation: AtomicU64,
    /// The next free byte of the chunk.
    pub cur: AtomicU64,
    /// The chunk's end.
    pub end: AtomicU64,
    /// Allocations carved in `generation` since the last flush.
    pub count: AtomicU64,
    /// The segment's reservation record this thread claimed, plus one (0:
    /// none yet, or none was free).
    pub record: AtomicU64,
}

// Every access below is Relaxed: a slot is written by its own thread only
// (program order covers it), and the other readers (`stats`, `mark`) only
// take a statistic; nothing is published through a slot.
impl Slot {
    fn new(owner: ThreadId) -> Self {
        Slot {
            owner,
            epoch: AtomicU64::new(NO_EPOCH),
            generation: AtomicU64::new(0),
            cur: AtomicU64::new(0),
            end: AtomicU64::new(0),
            count: AtomicU64::new(0),
            record: AtomicU64::new(0),
        }
    }

    #[inline(always)]
    pub(crate) fn get(word: &AtomicU64) -> u64 {
        // Relaxed: see the impl comment.
        word.load(Ordering::Relaxed)
    }

    #[inline(always)]
    pub(crate) fn set(word: &AtomicU64, v: u64) {
        // Relaxed: see the impl comment (single writer).
        word.store(v, Ordering::Relaxed);
    }

    /// The chunk (cur, end) if it belongs to `epoch`.
    pub(crate) fn chunk_in(&self, epoch: u64) -> Option<(u64, u64)> {
        (Self::get(&self.epoch) == epoch).then(|| (Self::get(&self.cur), Self::get(&self.end)))
    }
}

thread_local! {
    /// (handle id, slot): the last handle this thread allocated from.
    static CACHE: (Cell<u64>, Cell<*const Slot>) =
        const { (Cell::new(0), Cell::new(std::ptr::null())) };
}

/// The slots of one allocator handle.
#[derive(Debug)]
pub(crate) struct Registry {
    id: u64,
    /// Boxed so that a slot's address survives the vector's growth.
    #[allow(clippy::vec_box)]
    slots: Mutex<Vec<Box<Slot>>>,
}

impl Registry {
    pub(crate) fn new() -> Self {
        // Relaxed: only uniqueness matters, which the RMW gives.
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Registry {
            id,
            slots: Mutex::new(Vec::new()),
        }
    }

    /// This thread's slot, from the thread-local cache if it is there.
    /// `None` only while this thread's thread-locals are being destroyed.
    #[inline(always)]
    pub(crate) fn current(&self) -> Option<&Slot> {
        let hit = CACHE
            .try_with(|(id, slot)| (id.get() == self.id).then(|| slot.get()))
            .ok()
            .flatten();
        match hit {
            // SAFETY: the cache holds `self.id` only with a pointer to a
            // slot boxed in `self.slots` (set in `register`); slots are
            // never removed while `self` lives and ids are never reused, so
            // the box is alive for the lifetime of `&self`; `Slot` is all
            // atomics (and an immutable id), so shared access is sound.
            Some(p) => Some(unsafe { &*p }),
            None => self.register(),
        }
    }

    #[cold]
    #[inline(never)]
    fn register(&self) -> Option<&Slot> {
        let me = std::thread::current().id();
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let p: *const Slot = if let Some(s) = slots.iter().find(|s| s.owner == me) {
            &raw const **s
        } else {
            slots.push(Box::new(Slot::new(me)));
            &raw const **slots.last()?
        };
        drop(slots);
        CACHE
            .try_with(|(id, slot)| {
                id.set(self.id);
                slot.set(p);
            })
            .ok()?;
        // SAFETY: `p` points into a box owned by `self.slots`, never removed
        // while `self` lives (see `current`).
        Some(unsafe { &*p })
    }

    /// Calls `f` on every slot of this handle.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Slot)) {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        for s in slots.iter() {
            f(s);
        }
    }

    /// (unused chunk bytes held in `epoch`, unflushed allocations of
    /// `generation`) over every slot of this handle.
    pub(crate) fn totals(&self, epoch: u64, generation: u64) -> (u64, u64) {
        let (mut spare, mut count) = (0u64, 0u64);
        self.for_each(|s| {
            if let Some((cur, end)) = s.chunk_in(epoch) {
                spare += end.saturating_sub(cur);
            }
            if Slot::get(&s.generation) == generation {
                count += Slot::get(&s.count);
            }
        });
        (spare, count)
    }
}
