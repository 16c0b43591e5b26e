//! `mutex-shm` (docs/WORKLOADS.md): a well-known general-purpose allocator
//! over the shared segment, guarded by a process-shared lock: what a user
//! hand-rolls today.
//!
//! The allocator is `rlsf`'s TLSF (two-level segregated fit: O(1)
//! allocate and free, immediate coalescing, a 16-byte header per block), the
//! standard real-time allocator crate. Its control block (`Tlsf`: bitmaps
//! and free-list heads) is written into the segment itself, right after the
//! lock, and initialised once by the parent before fork; the rest of the
//! segment is its pool. The children inherit the mapping at the same
//! address (as every baseline may), so the absolute pointers
//! TLSF keeps mean the same blocks in every process: one heap for all.
//!
//! The lock is a `pthread_mutex_t` with `PTHREAD_PROCESS_SHARED`, living in
//! the segment: the lock a C or Rust user reaches for, with an uncontended
//! cost of one atomic each way (as a spin lock), and a futex wait instead
//! of burning the time slice when the holder is descheduled (two processes
//! on two shared vCPUs); it also needs no atomics of our own.

use super::harness::{prefault, shared_region, RunOut};
use super::pool::{run_pool, Pass, Pool, Sharing, Sizes};
use std::alloc::Layout;
use std::mem::{size_of, MaybeUninit};
use std::ptr::{addr_of_mut, NonNull};

/// The TLSF instance: 24 first-level classes (blocks up to 512 MiB, so a
/// 256 MiB pool is one free block), 16 second-level classes each.
type Heap = rlsf::Tlsf<'static, u32, u32, 24, 16>;

/// The alignment every block is asked for: TLSF's native payload alignment
/// (32-byte granules after a 16-byte header).
pub const ALIGN: usize = 16;

/// The segment's head: the lock, then the heap's control block.
#[repr(C)]
struct Shared {
    lock: libc::pthread_mutex_t,
    heap: Heap,
}

/// One process's handle on the shared heap (a copy of the parent's, made
/// after fork: the pointers are the same in every process).
#[derive(Debug)]
pub struct MutexShm {
    shared: *mut Shared,
    /// The pool as inserted into the heap (for `iter_blocks`).
    pool: NonNull<[u8]>,
}

/// Holds the lock; unlocks on drop.
struct Locked<'a>(&'a MutexShm);

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // SAFETY: the mutex is initialised and held by this thread.
        let r = unsafe { libc::pthread_mutex_unlock(addr_of_mut!((*self.0.shared).lock)) };
        debug_assert_eq!(r, 0);
    }
}

impl Locked<'_> {
    fn heap(&mut self) -> &mut Heap {
        // SAFETY: the heap was initialised by `init`; the lock is held, so
        // no other process or thread touches it, and `&mut self` keeps this
        // the only reference in this process.
        unsafe { &mut *addr_of_mut!((*self.0.shared).heap) }
    }
}

impl MutexShm {
    /// Lays the lock and a TLSF heap over `len` bytes at `mem`: the control
    /// block at the start, the pool from the next 4 KiB page on.
    ///
    /// # Safety
    /// `mem` is valid for `len` bytes, 4096-aligned, mapped `MAP_SHARED`,
    /// used only through handles made from this one (by [`Self::attach`]
    /// here or in forked children), and outlives them all.
    pub unsafe fn init(mem: *mut u8, len: usize) -> std::io::Result<Self> {
        let head = size_of::<Shared>().next_multiple_of(4096);
        if len <= head {
            return Err(std::io::Error::other("mutex-shm: segment too small"));
        }
        let shared = mem.cast::<Shared>();
        let mut attr = MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        // SAFETY: `attr` is initialised by pthread_mutexattr_init before
        // use; `shared` is in bounds and aligned (the caller's contract and
        // `head <= len`), and nothing else uses the mutex yet.
        let r = unsafe {
            let mut r = libc::pthread_mutexattr_init(attr.as_mut_ptr());
            if r == 0 {
                r = libc::pthread_mutexattr_setpshared(
                    attr.as_mut_ptr(),
                    libc::PTHREAD_PROCESS_SHARED,
                );
            }
            if r == 0 {
                r = libc::pthread_mutex_init(addr_of_mut!((*shared).lock), attr.as_ptr());
            }
            libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
            r
        };
        if r != 0 {
            return Err(std::io::Error::from_raw_os_error(r));
        }
        // SAFETY: as above; the heap's bytes are ours to overwrite.
        unsafe { addr_of_mut!((*shared).heap).write(Heap::new()) };
        // SAFETY: `head < len`, so the pool start is inside the region.
        let start = NonNull::new(unsafe { mem.add(head) })
            .ok_or_else(|| std::io::Error::other("mutex-shm: null segment"))?;
        let block = NonNull::slice_from_raw_parts(start, len - head);
        let mut me = MutexShm {
            shared,
            pool: block,
        };
        let inserted = {
            let mut locked = me.lock();
            // SAFETY: the pool bytes are valid, unused by anything else, and
            // outlive the heap (the caller's contract).
            unsafe { locked.heap().insert_free_block_ptr(block) }
        };
        let inserted =
            inserted.ok_or_else(|| std::io::Error::other("mutex-shm: pool too small"))?;
        me.pool = NonNull::slice_from_raw_parts(start, inserted.get());
        Ok(me)
    }

    /// The same heap, for another process (after fork) or handle.
    pub fn attach(&self) -> Self {
        MutexShm {
            shared: self.shared,
            pool: self.pool,
        }
    }

    fn lock(&self) -> Locked<'_> {
        // SAFETY: `init` made the mutex (process-shared) and it lives as
        // long as the segment, which outlives this handle.
        let r = unsafe { libc::pthread_mutex_lock(addr_of_mut!((*self.shared).lock)) };
        assert_eq!(r, 0, "pthread_mutex_lock: {r}");
        Locked(self)
    }
}

impl Pool for MutexShm {
    type Handle = NonNull<u8>;
    #[inline]
    fn alloc(&mut self, size: u64) -> Option<NonNull<u8>> {
        let layout = Layout::from_size_align(size as usize, ALIGN).ok()?;
        self.lock().heap().allocate(layout)
    }
    #[inline]
    fn free(&mut self, h: NonNull<u8>) {
        // SAFETY: `h` came from `alloc` of this heap with `ALIGN`.
        unsafe { self.lock().heap().deallocate(h, ALIGN) };
    }
    #[inline]
    fn word(&self, h: NonNull<u8>) -> *mut u64 {
        h.as_ptr().cast()
    }
    /// The bytes of the occupied blocks, headers and rounding included (a
    /// walk over every block of the pool, under the lock).
    fn used(&self) -> Option<u64> {
        let mut locked = self.lock();
        let pool = self.pool;
        // SAFETY: `pool` is exactly the block inserted by `init` (start and
        // returned length), and the lock keeps the heap still.
        let blocks = unsafe { locked.heap().iter_blocks(pool) };
        Some(
            blocks
                .filter(rlsf::BlockInfo::is_occupied)
                .map(|b| b.size() as u64)
                .sum(),
        )
    }
}

/// `mutex-shm` in W2/W3/W4: one heap over a fresh shared region of
/// `segment` bytes, set up by the parent and inherited by the children.
pub fn mutex_shm_run(
    p: usize,
    ops: u64,
    sizes: Sizes,
    segment: u64,
    pass: Pass,
) -> std::io::Result<RunOut> {
    let (_seg, base, len) = shared_region(segment)?;
    // SAFETY: the region is a fresh MAP_SHARED pool of `len` bytes
    // (4096-aligned), used only by this heap here and in the children, and
    // `_seg` keeps it mapped until every child has been reaped.
    let heap = unsafe { MutexShm::init(base.as_ptr(), len as usize) }?;
    let sharing = Sharing::Shared { used0: heap.used() };
    run_pool(p, ops, sizes, pass, sharing, |_| {
        prefault(base.as_ptr(), len as usize);
        heap.attach()
    })
}

#[cfg(test)]
mod tests {
    use super::super::frag::FragTrack;
    use super::super::harness::Ctl;
    use super::super::pool::churn;
    use super::*;

    #[test]
    fn allocates_frees_and_counts_used() {
        let (_seg, base, len) = shared_region(4 << 20).unwrap();
        // SAFETY: a fresh region, used only by this heap.
        let mut heap = unsafe { MutexShm::init(base.as_ptr(), len as usize) }.unwrap();
        let used0 = heap.used().unwrap();
        let a = heap.alloc(100).unwrap();
        let b = heap.alloc(4096).unwrap();
        let (a0, b0) = (a.as_ptr() as usize, b.as_ptr() as usize);
        assert_eq!(a0 % ALIGN, 0);
        assert_eq!(b0 % ALIGN, 0);
        assert!(b0 >= a0 + 100 || b0 + 4096 <= a0, "blocks overlap");
        // 100 + 16-byte header rounded to 32, 4096 + 16 rounded to 32.
        assert_eq!(heap.used().unwrap() - used0, 128 + 4128);
        heap.free(a);
        heap.free(b);
        assert_eq!(heap.used().unwrap(), used0);
    }

    /// The W3 loop in this process (no fork): the fill is the 4096 sizes of
    /// the test vectors, so the live peak is at least their sum.
    #[test]
    fn w3_churn_with_bookkeeping() {
        let (_seg, base, len) = shared_region(32 << 20).unwrap();
        // SAFETY: a fresh region, used only by this heap.
        let mut heap = unsafe { MutexShm::init(base.as_ptr(), len as usize) }.unwrap();
        let used0 = heap.used();
        let mut track = FragTrack::new(used0);
        let ctl = Ctl::solo();
        let out = churn(0, &ctl, &mut heap, 20_000, Sizes::Variable, &mut track);
        assert_eq!((out.ops, out.errors, out.oom), (20_000, 0, 0));
        let [live, used, lo, hi] = track.words();
        assert!(live >= 8_463_948, "live peak {live}");
        assert!(used >= live && used < live + live / 4, "used {used}");
        assert!(hi - lo >= live && hi - lo < 2 * live, "span {}", hi - lo);
        assert_eq!(heap.used(), used0, "teardown frees every block");
    }
}
