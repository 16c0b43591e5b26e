//! The W2/W3 churn loop (WORKLOADS.md §1) over any pool, and the pool
//! baselines: the system allocator and a Treiber-stack slab in MAP_SHARED
//! memory (`limit-treiber-slab`).

use super::harness::{ChildOut, Ctl};
use super::rng::XorShift;
use sharena::layout::sync::{AtomicU64, Ordering};
use std::alloc::Layout;

/// Working-set size.
pub const SLOTS: usize = 4096;

/// Which sizes the loop asks for.
#[derive(Clone, Copy, Debug)]
pub enum Sizes {
    /// W2: always 64 bytes.
    Fixed(u64),
    /// W3: uniform in [16, 4096], drawn after the slot index.
    #[allow(dead_code)] // W3 and W4 run once the free list lands (issue 4).
    Variable,
}

/// A pool the churn loop can drive.
pub trait Pool {
    /// A block as the pool names it.
    type Handle: Copy;
    /// Allocates `size` bytes (at least 8-aligned).
    fn alloc(&mut self, size: u64) -> Option<Self::Handle>;
    /// Frees a block.
    fn free(&mut self, h: Self::Handle);
    /// The block's first word.
    fn word(&self, h: Self::Handle) -> *mut u64;
}

fn tag(k: usize, n: u64) -> u64 {
    ((k as u64 + 1) << 56) | n.wrapping_add(1)
}

/// Fill, timed ops, teardown: one child of W2 or W3.
pub fn churn<P: Pool>(k: usize, ctl: &Ctl, pool: &mut P, ops: u64, sizes: Sizes) -> ChildOut {
    let mut rng = XorShift::for_process(k);
    let mut slot: Vec<Option<P::Handle>> = vec![None; SLOTS];
    let mut tags = vec![0u64; SLOTS];
    let mut out = ChildOut::default();
    let draw = |rng: &mut XorShift| match sizes {
        Sizes::Fixed(s) => s,
        Sizes::Variable => rng.w3_size(),
    };
    for j in 0..SLOTS {
        let size = draw(&mut rng);
        let Some(h) = pool.alloc(size) else {
            out.oom += 1;
            continue;
        };
        let t = ((k as u64 + 1) << 56) | (u64::MAX - j as u64).wrapping_add(1);
        // SAFETY: a live block of at least 16 bytes, 8-aligned, owned by us.
        unsafe { pool.word(h).write(t) };
        slot[j] = Some(h);
        tags[j] = t;
    }
    ctl.start(k);
    let mut checksum = 0u64;
    for n in 0..ops {
        let i = rng.slot();
        let size = draw(&mut rng);
        if let Some(h) = slot[i] {
            // SAFETY: as above.
            let v = unsafe { pool.word(h).read() };
            if v != tags[i] {
                out.errors += 1;
            }
            checksum = checksum.wrapping_add(v);
            pool.free(h);
        }
        if let Some(h) = pool.alloc(size) {
            let t = tag(k, n);
            // SAFETY: as above.
            unsafe { pool.word(h).write(t) };
            slot[i] = Some(h);
            tags[i] = t;
        } else {
            out.oom += 1;
            slot[i] = None;
        }
        out.ops += 1;
    }
    ctl.end(k);
    std::hint::black_box(checksum);
    for h in slot.into_iter().flatten() {
        pool.free(h);
    }
    out
}

/// `system`: malloc/free on the process's private heap, 16-byte aligned.
#[derive(Debug, Default)]
pub struct System;

impl Pool for System {
    type Handle = (*mut u8, u64);
    fn alloc(&mut self, size: u64) -> Option<Self::Handle> {
        let layout = Layout::from_size_align(size as usize, 16).ok()?;
        // SAFETY: size > 0 in every workload.
        let p = unsafe { std::alloc::alloc(layout) };
        (!p.is_null()).then_some((p, size))
    }
    fn free(&mut self, (p, size): Self::Handle) {
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe { std::alloc::dealloc(p, Layout::from_size_align_unchecked(size as usize, 16)) };
    }
    fn word(&self, h: Self::Handle) -> *mut u64 {
        h.0.cast()
    }
}

/// `limit-treiber-slab`: a Treiber stack of 64-byte nodes in MAP_SHARED
/// memory (WORKLOADS.md, L-treiber): head `tag << 32 | index`, index
/// `u32::MAX` empty, every successful CAS bumps the tag.
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
}
