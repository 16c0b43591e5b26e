//! `limit-treiber-slab` (W2 and W2P2 baseline, docs/WORKLOADS.md): a Treiber
//! stack of 16,384 blocks of 64 B in MAP_SHARED memory used as a free list,
//! driven through the full W2 loop.

use super::harness::{prefault, shared_region, RunOut};
use super::pool::{run_pool, Pass, Pool, Sharing, Sizes};
use sharena::layout::sync::{AtomicU64, Ordering};

/// `limit-treiber-slab` in W2 / W2P2: the stack over the first megabyte of
/// a fresh shared region of `segment` bytes, inherited by the children.
pub fn treiber_run(p: usize, ops: u64, segment: u64, pass: Pass) -> std::io::Result<RunOut> {
    let (_seg, base, pool_len) = shared_region(segment)?;
    // SAFETY: the pool region is 4096-aligned, holds 65 * 16384 bytes, and is
    // used only by this stack (in this process and its forked children).
    let stack = unsafe { Treiber::init(base.as_ptr(), 16_384) };
    let sharing = Sharing::Shared { used0: None };
    run_pool(p, ops, Sizes::Fixed(64), pass, sharing, |_| {
        prefault(base.as_ptr(), pool_len as usize);
        stack.attach()
    })
}

/// `limit-treiber-slab`: a Treiber stack of 64-byte nodes in MAP_SHARED
/// memory (docs/WORKLOADS.md): head `tag << 32 | index`, index
/// `u32::MAX` empty, every successful CAS bumps the tag.
#[derive(Debug)]
pub struct Treiber {
    head: *const AtomicU64,
    nodes: *mut u8,
    count: u32,
    /// CAS failures.
    pub retries: u64,
}

const EMPTY: u32 = u32::MAX;

impl Treiber {
    /// Lays a stack of `count` 64-byte nodes over `mem` (at least
    /// `64 * (count + 1)` bytes, 64-aligned): the head in the first line,
    /// nodes after it, all pushed.
    ///
    /// # Safety
    /// `mem` is valid, 64-aligned, shared by every process that uses the
    /// stack, and only used through stacks built over it.
    pub unsafe fn init(mem: *mut u8, count: u32) -> Self {
        let t = Treiber {
            head: mem.cast::<AtomicU64>(),
            // SAFETY: the caller provides 64 * (count + 1) bytes.
            nodes: unsafe { mem.add(64) },
            count,
            retries: 0,
        };
        // Link every node into one chain, head first.
        for i in 0..count {
            let next = if i + 1 < count { i + 1 } else { EMPTY };
            // SAFETY: node i is inside the region.
            unsafe { t.next_ptr(i).write(next) };
        }
        t.head().store(0, Ordering::Release);
        t
    }

    /// The same stack, seen by another process through the inherited
    /// mapping.
    pub fn attach(&self) -> Self {
        Treiber {
            head: self.head,
            nodes: self.nodes,
            count: self.count,
            retries: 0,
        }
    }

    fn head(&self) -> &AtomicU64 {
        // SAFETY: `init`'s contract: the head word lives as long as the stack.
        unsafe { &*self.head }
    }

    fn next_ptr(&self, i: u32) -> *mut u32 {
        // SAFETY: callers pass i < count.
        unsafe { self.nodes.add(i as usize * 64).cast() }
    }
}

impl Pool for Treiber {
    type Handle = u32;
    fn alloc(&mut self, _size: u64) -> Option<u32> {
        // Acquire pairs with the Release CAS of `free` (the pushed node's
        // next is visible).
        let mut old = self.head().load(Ordering::Acquire);
        loop {
            let index = old as u32;
            if index == EMPTY || index >= self.count {
                return None;
            }
            // SAFETY: index < count. Relaxed (per the workload's spec): the
            // head's Acquire covers it.
            let next = unsafe { self.next_ptr(index).read_volatile() };
            let new = (((old >> 32) + 1) << 32) | u64::from(next);
            // AcqRel: acquires the pusher's writes, releases ours.
            match self
                .head()
                .compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(index),
                Err(cur) => {
                    self.retries += 1;
                    old = cur;
                }
            }
        }
    }
    fn free(&mut self, index: u32) {
        let mut old = self.head().load(Ordering::Relaxed);
        loop {
            // SAFETY: index < count (it came from alloc).
            unsafe { self.next_ptr(index).write_volatile(old as u32) };
            let new = (((old >> 32) + 1) << 32) | u64::from(index);
            // Release pairs with alloc's Acquire: our `next` write is visible.
            match self
                .head()
                .compare_exchange_weak(old, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(cur) => {
                    self.retries += 1;
                    old = cur;
                }
            }
        }
    }
    fn word(&self, index: u32) -> *mut u64 {
        // SAFETY: index < count.
        unsafe { self.nodes.add(index as usize * 64).cast() }
    }
    fn retries(&self) -> u64 {
        self.retries
    }
}
