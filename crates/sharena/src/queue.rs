//! [`Queue`]: a bounded, lock-free, crash-safe queue of offsets between
//! processes, in the memory of any allocator.

use shm_layout::queue::{self as core_queue, Caller, QueueError, QueueHeader, Slot};
use shm_layout::{Error, Offset, OwnerId, Result, SegmentView, ShmAllocator};
use std::time::{Duration, Instant};

pub use shm_layout::queue::Recovered;

/// A bounded multi-producer multi-consumer queue of `u64` values (block
/// offsets, typically) in a segment, shared by every process that maps it.
///
/// Its storage is one block of any allocator (`create_in`); other
/// processes open it from that block's offset, which a name publishes
/// ([`Named`](crate::Named)). Non-blocking [`try_push`](Self::try_push) /
/// [`try_pop`](Self::try_pop) and blocking [`push`](Self::push) /
/// [`pop`](Self::pop) with a timeout (never without one).
///
/// **Deaths.** A producer or consumer killed at any instruction wedges
/// nobody: a slot it held is released by the next operation that needs it
/// once its process is gone, or by [`recover`](Self::recover). A push is
/// done when it returns `Ok` or its process died after its publishing
/// store; a value popped by a process that then died is lost with it;
/// nothing else is lost, and no value is popped twice
/// (`shm_layout::queue` has the details, docs/RECOVERY.md the summary).
///
/// **Values are offsets, not ownership.** The queue moves numbers. A block
/// whose offset is in flight must outlive its allocating process if that
/// process may die first: share it ([`Recover::share`](crate::Recover::share))
/// before pushing, and free it after popping.
///
/// ```
/// use sharena::{FreeList, Named, Queue};
/// use std::time::Duration;
/// let name = format!("/sharena-doc-queue-{}", std::process::id());
/// let heap = FreeList::create(&name, 1 << 20)?;
/// let q = Queue::create_in(&*heap, 64)?;
/// heap.publish("jobs", q.offset())?;
///
/// // Another process: open it by name.
/// let jobs = Queue::open_named(&*heap, "jobs")?;
/// jobs.try_push(4096)?;
/// assert_eq!(q.pop(Duration::from_secs(1))?, 4096);
/// assert!(matches!(q.try_pop(), Err(sharena::Error::QueueEmpty)));
/// sharena::Segment::unlink(&name)?;
/// # Ok::<(), sharena::Error>(())
/// ```
#[derive(Debug)]
pub struct Queue<'a> {
    view: &'a SegmentView,
    at: Offset,
    core: core_queue::Queue<'a>,
    me: OwnerId,
    fork_generation: u64,
}

impl<'a> Queue<'a> {
    /// Allocates and initialises a queue of `capacity` values (a power of
    /// two from 2 to 2^24) in a block of `alloc`. The block is `alloc`'s
    /// like any other: share it ([`Named::publish`](crate::Named::publish)
    /// does) if it must outlive this process's handle. Not in a handle
    /// heap ([`Handles`](crate::Handles)) unless the block stays pinned:
    /// its blocks move when it compacts.
    pub fn create_in<A: ShmAllocator + ?Sized>(alloc: &'a A, capacity: u64) -> Result<Self> {
        core_queue::check_capacity(capacity)
            .map_err(|reason| Error::InvalidCapacity { capacity, reason })?;
        let bytes = core_queue::bytes_for(capacity).ok_or(Error::InvalidCapacity {
            capacity,
            reason: "too large",
        })?;
        let at = alloc.alloc_aligned(bytes, 64)?;
        let view = alloc.view();
        let (hdr, slots) = match words(view, at, capacity) {
            Ok(w) => w,
            Err(e) => {
                let _ = alloc.free(at);
                return Err(e);
            }
        };
        let core = core_queue::Queue::init(hdr, slots)
            .map_err(|reason| Error::InvalidCapacity { capacity, reason })?;
        Ok(Self::with(view, at, core))
    }

    /// The queue whose block is at `at` in `alloc`'s segment: checks that
    /// `at` is a live block of `alloc` long enough for the queue its header
    /// describes, and the header itself (magic, capacity).
    pub fn open<A: ShmAllocator + ?Sized>(alloc: &'a A, at: Offset) -> Result<Self> {
        let block = alloc.usable_size(at)?;
        let view = alloc.view();
        let capacity = stored_capacity(view, at)?;
        let need = core_queue::bytes_for(capacity).unwrap_or(u64::MAX);
        if block < need {
            return Err(corrupt(
                view,
                at,
                "capacity word describes a queue longer than its block",
                8,
            ));
        }
        Self::open_in(view, at)
    }

    /// The queue published under `name` in the directory of `alloc`'s
    /// segment ([`Error::NameNotFound`] if nothing is).
    pub fn open_named<A: ShmAllocator + ?Sized>(alloc: &'a A, name: &str) -> Result<Self> {
        let view = alloc.view();
        let at = shm_layout::Directory::of(view)?
            .lookup(name.as_bytes())?
            .ok_or_else(|| Error::NameNotFound {
                segment: view.name().to_string(),
                name: name.to_string(),
            })?;
        Self::open(alloc, Offset::new(at))
    }

    /// The queue at `at` of `view`, checked against the segment's bounds
    /// only (not against an allocator's blocks).
    pub fn open_in(view: &'a SegmentView, at: Offset) -> Result<Self> {
        let capacity = stored_capacity(view, at)?;
        let (hdr, slots) = words(view, at, capacity)?;
        let core = core_queue::Queue::attach(hdr, slots)
            .map_err(|e| e.into_error(view.name(), at.get(), capacity, "open", Duration::ZERO))?;
        Ok(Self::with(view, at, core))
    }

    fn with(view: &'a SegmentView, at: Offset, core: core_queue::Queue<'a>) -> Self {
        Queue {
            view,
            at,
            core,
            me: OwnerId::attach(),
            fork_generation: shm_layout::fork_generation(),
        }
    }

    /// The offset of the queue's block: what another process opens.
    pub fn offset(&self) -> Offset {
        self.at
    }

    /// How many values the queue holds at most.
    pub fn capacity(&self) -> u64 {
        self.core.capacity()
    }

    /// How many values it holds, about (other processes change it).
    pub fn len_hint(&self) -> u64 {
        self.core.len_hint()
    }

    /// Runs `f` as this handle's identity (a fresh one in a `fork` child
    /// that inherited the handle, so that its claims are its own).
    fn as_me<T>(&self, f: impl FnOnce(&mut Caller<'_>) -> T) -> T {
        let me = if shm_layout::fork_generation() == self.fork_generation {
            self.me
        } else {
            OwnerId::attach()
        };
        let mut is_alive = |h: OwnerId| h.same_process(me) || h.is_alive();
        let mut caller = Caller {
            me,
            is_alive: &mut is_alive,
        };
        f(&mut caller)
    }

    fn err(&self, e: QueueError, op: &'static str, waited: Duration) -> Error {
        e.into_error(self.view.name(), self.at.get(), self.capacity(), op, waited)
    }

    /// Pushes `value` if there is room: [`Error::QueueFull`] if not,
    /// [`Error::QueueContended`] if live processes kept the slot it needed.
    pub fn try_push(&self, value: u64) -> Result<()> {
        self.as_me(|c| self.core.try_push(value, c))
            .map_err(|e| self.err(e, "try_push", Duration::ZERO))
    }

    /// Pops the oldest value: [`Error::QueueEmpty`] if there is none.
    pub fn try_pop(&self) -> Result<u64> {
        self.as_me(|c| self.core.try_pop(c))
            .map_err(|e| self.err(e, "try_pop", Duration::ZERO))
    }

    /// Pushes `value`, waiting up to `timeout` for room:
    /// [`Error::Timeout`] then.
    pub fn push(&self, value: u64, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let deadline = deadline(start, timeout);
        self.as_me(|c| self.core.push(value, c, deadline))
            .map_err(|e| self.err(e, "push", start.elapsed()))
    }

    /// Pops a value, waiting up to `timeout` for one: [`Error::Timeout`]
    /// then.
    pub fn pop(&self, timeout: Duration) -> Result<u64> {
        let start = Instant::now();
        let deadline = deadline(start, timeout);
        self.as_me(|c| self.core.pop(c, deadline))
            .map_err(|e| self.err(e, "pop", start.elapsed()))
    }

    /// Releases every slot claim a dead process left (operations do this
    /// by themselves for the slot they need; this is for a supervisor that
    /// saw a process die). One pass over the slots.
    pub fn recover(&self) -> Recovered {
        self.as_me(|c| self.core.recover(c))
    }
}

fn corrupt(view: &SegmentView, at: Offset, what: &str, off: u64) -> Error {
    Error::Corrupt {
        segment: view.name().to_string(),
        what: format!("queue: {what}"),
        at: at.get().saturating_add(off),
    }
}

/// The capacity of the queue whose header is at `at`, once its magic and
/// capacity words are checked.
fn stored_capacity(view: &SegmentView, at: Offset) -> Result<u64> {
    let hdr = header(view, at)?;
    if hdr.stored_magic() != core_queue::QUEUE_MAGIC {
        return Err(corrupt(
            view,
            at,
            "the block does not start with the queue magic",
            0,
        ));
    }
    let capacity = hdr.stored_capacity();
    if core_queue::check_capacity(capacity).is_err() {
        return Err(corrupt(
            view,
            at,
            "capacity word is not a valid capacity",
            8,
        ));
    }
    Ok(capacity)
}

fn deadline(start: Instant, timeout: Duration) -> Instant {
    // A timeout past what `Instant` can hold is a day: never unbounded.
    start
        .checked_add(timeout)
        .unwrap_or_else(|| start + Duration::from_secs(86_400))
}

/// The header at `at`, bounds- and alignment-checked.
fn header(view: &SegmentView, at: Offset) -> Result<&QueueHeader> {
    if !at.is_aligned(8) {
        return Err(Error::InvalidOffset {
            offset: at.get(),
            reason: "a queue block is 8-byte aligned",
        });
    }
    let p = view.ptr(at, core_queue::HEADER_LEN)?;
    // SAFETY: `p` covers HEADER_LEN = size_of::<QueueHeader>() bytes inside
    // the mapping (checked by `ptr`) and is 8-aligned (checked above, the
    // base being 128-aligned); `QueueHeader` is `repr(C)` and made of
    // shim atomics only, whose layout is that of their primitives, so any
    // bytes are a valid value and other processes' writes are atomic
    // accesses (the queue format makes every word an atomic); the
    // reference lives no longer than `view`.
    Ok(unsafe { &*p.as_ptr().cast::<QueueHeader>() })
}

/// The header and `capacity` slots at `at`, bounds-checked.
fn words(view: &SegmentView, at: Offset, capacity: u64) -> Result<(&QueueHeader, &[Slot])> {
    let hdr = header(view, at)?;
    let slots_at = at
        .checked_add(core_queue::HEADER_LEN)
        .ok_or(Error::InvalidOffset {
            offset: at.get(),
            reason: "offset overflows",
        })?;
    let len = capacity
        .checked_mul(core_queue::SLOT_LEN)
        .ok_or(Error::InvalidCapacity {
            capacity,
            reason: "too large",
        })?;
    let n = usize::try_from(capacity).map_err(|_| Error::InvalidCapacity {
        capacity,
        reason: "too large",
    })?;
    let p = view.ptr(slots_at, len)?;
    // SAFETY: `p` covers `capacity * SLOT_LEN` bytes inside the mapping
    // (checked by `ptr`), 8-aligned (the header is, and HEADER_LEN is a
    // multiple of 8); `Slot` is `repr(C)`, SLOT_LEN bytes of shim atomics,
    // so `n` of them fit exactly and any bytes are valid values; the slice
    // lives no longer than `view`.
    let slots = unsafe { std::slice::from_raw_parts(p.as_ptr().cast::<Slot>(), n) };
    Ok((hdr, slots))
}
