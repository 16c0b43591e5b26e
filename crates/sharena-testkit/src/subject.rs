//! The one adapter over the allocator kinds (bump, slab, freelist,
//! handles), for `sharena stress`, `sharena bench` and the multi-process
//! tests: how a parent creates a segment of the kind (by name, or
//! anonymous for fork), how another process opens or reattaches it and
//! reaches its blocks, which block sizes a worker asks for, how blocks go
//! back, and the stress duplicate table's keys (offsets a granule apart,
//! or handle indices). [`OffsetSubject`] adds the allocator itself, for
//! kinds whose blocks are offsets.
//!
//! Plugging in a kind is one `impl Subject` here (and `OffsetSubject`
//! where its blocks are offsets), then one arm in the stress verb's
//! dispatch.

use crate::blocks::{Blocks, Offsets, Pinned};
use crate::XorShift;
use sharena::{
    AllocStats, Bump, Error, FreeList, Handles, Recover, Result, Segment, ShmAllocator, Slab,
};

/// Slot size of the slab under stress.
pub const SLAB_SLOT: u64 = 64;

/// Block sizes a worker asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sizes {
    /// Always this many bytes.
    Fixed(u64),
    /// Uniform in `lo..=hi` (`1 <= lo <= hi`).
    Uniform {
        /// Smallest size.
        lo: u64,
        /// Largest size.
        hi: u64,
    },
}

impl Sizes {
    /// A size for the next block, from a random draw.
    #[inline]
    pub fn pick(self, draw: u64) -> u64 {
        match self {
            Sizes::Fixed(s) => s,
            Sizes::Uniform { lo, hi } => lo + draw % (hi - lo + 1),
        }
    }

    /// A size drawn from `rng`: a draw only where sizes vary (a fixed size
    /// takes none from the stream).
    #[inline]
    pub fn draw(self, rng: &mut XorShift) -> u64 {
        match self {
            Sizes::Fixed(s) => s,
            Sizes::Uniform { .. } => self.pick(rng.next()),
        }
    }

    /// The mean size (to size each worker's working set).
    pub fn mean(self) -> u64 {
        match self {
            Sizes::Fixed(s) => s,
            Sizes::Uniform { lo, hi } => lo + (hi - lo) / 2,
        }
    }
}

/// How a worker gives blocks back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// Each block is verified and freed on its own (random churn).
    Free,
    /// Blocks cannot be freed: workers fill the arena in phases and the
    /// parent resets it between phases (see `worker::phases`).
    Reset,
}

/// An allocator kind: a handle on a segment of that kind.
pub trait Subject: Sized {
    /// The kind's name, as `--kind` spells it.
    const NAME: &'static str;

    /// Creates the named segment of `size` bytes (the parent).
    fn create(name: &str, size: u64) -> Result<Self>;

    /// Opens the named segment (each worker, after fork).
    fn open(name: &str) -> Result<Self>;

    /// Creates an anonymous segment of `size` bytes, shared with the
    /// children forked after this call.
    fn anonymous(size: u64) -> Result<Self>;

    /// A fresh handle of this process on the same segment (a forked
    /// child's own attachment: its own registry entry, caches, arenas).
    fn reattach(&self) -> Result<Self>;

    /// The blocks, as a worker uses them.
    fn blocks(&self) -> impl Blocks + '_;

    /// The allocator's statistics (`used` measures lost bytes).
    fn stats(&self) -> AllocStats;

    /// The recovery surface (`reclaim_dead`, `check`).
    fn recover(&self) -> &dyn Recover;

    /// The segment.
    fn segment(&self) -> &Segment;

    /// The smallest distance between two live block starts: every live
    /// block owns the duplicate-table entry `key / granule` alone.
    fn granule(&self) -> u64;

    /// One past the largest duplicate-table key ([`Blocks::key`]).
    fn key_span(&self) -> u64 {
        self.segment().len()
    }

    /// The sizes workers ask for.
    fn sizes(&self) -> Sizes;

    /// How blocks go back.
    fn release(&self) -> Release {
        Release::Free
    }

    /// Releases every block at once ([`Release::Reset`] kinds; called by the
    /// parent only while no worker allocates).
    fn reset(&self) -> Result<()> {
        Err(Error::Unsupported {
            op: "reset",
            by: Self::NAME,
        })
    }

    /// Gives this handle's cached free blocks back, so that `stats().used`
    /// counts only blocks in use.
    fn settle(&self) {}
}

/// A kind whose blocks are offsets: the allocator itself, for loops that
/// call it directly (the bench's hot paths, the chaos test's workers).
pub trait OffsetSubject: Subject {
    /// The allocator behind the handle.
    type A: ShmAllocator + Recover;

    /// The allocator.
    fn allocator(&self) -> &Self::A;
}

impl OffsetSubject for Slab {
    type A = <Slab as std::ops::Deref>::Target;
    #[inline(always)]
    fn allocator(&self) -> &Self::A {
        self
    }
}

impl OffsetSubject for Bump {
    type A = <Bump as std::ops::Deref>::Target;
    #[inline(always)]
    fn allocator(&self) -> &Self::A {
        self
    }
}

impl OffsetSubject for FreeList {
    type A = <FreeList as std::ops::Deref>::Target;
    #[inline(always)]
    fn allocator(&self) -> &Self::A {
        self
    }
}

impl Subject for Slab {
    const NAME: &'static str = "slab";

    fn create(name: &str, size: u64) -> Result<Self> {
        Slab::create(name, size, SLAB_SLOT)
    }

    fn open(name: &str) -> Result<Self> {
        Slab::open(name)
    }

    fn anonymous(size: u64) -> Result<Self> {
        Slab::anonymous(size, SLAB_SLOT)
    }

    fn reattach(&self) -> Result<Self> {
        Slab::reattach(self)
    }

    fn blocks(&self) -> impl Blocks + '_ {
        Offsets(&**self)
    }

    fn stats(&self) -> AllocStats {
        sharena::ShmAllocator::stats(&**self)
    }

    fn recover(&self) -> &dyn Recover {
        &**self
    }

    fn segment(&self) -> &Segment {
        Slab::segment(self)
    }

    fn granule(&self) -> u64 {
        self.slot_size()
    }

    fn sizes(&self) -> Sizes {
        // The whole slot, so every byte of it is stamped and verified.
        Sizes::Fixed(self.slot_size())
    }
}

impl Subject for Bump {
    const NAME: &'static str = "bump";

    fn create(name: &str, size: u64) -> Result<Self> {
        Bump::create(name, size)
    }

    fn open(name: &str) -> Result<Self> {
        Bump::open(name)
    }

    fn anonymous(size: u64) -> Result<Self> {
        Bump::anonymous(size)
    }

    fn reattach(&self) -> Result<Self> {
        Bump::reattach(self)
    }

    fn blocks(&self) -> impl Blocks + '_ {
        Offsets(&**self)
    }

    fn stats(&self) -> AllocStats {
        sharena::ShmAllocator::stats(&**self)
    }

    fn recover(&self) -> &dyn Recover {
        &**self
    }

    fn segment(&self) -> &Segment {
        Bump::segment(self)
    }

    fn granule(&self) -> u64 {
        // Block starts are 8-aligned and each block has an 8-byte header
        // before it, so two starts are at least 16 bytes apart.
        16
    }

    fn sizes(&self) -> Sizes {
        Sizes::Uniform { lo: 1, hi: 512 }
    }

    fn release(&self) -> Release {
        Release::Reset
    }

    fn reset(&self) -> Result<()> {
        (**self).reset().map(|_| ())
    }
}

impl Subject for FreeList {
    const NAME: &'static str = "freelist";

    fn create(name: &str, size: u64) -> Result<Self> {
        FreeList::create(name, size)
    }

    fn open(name: &str) -> Result<Self> {
        FreeList::open(name)
    }

    fn anonymous(size: u64) -> Result<Self> {
        FreeList::anonymous(size)
    }

    fn reattach(&self) -> Result<Self> {
        FreeList::reattach(self)
    }

    fn blocks(&self) -> impl Blocks + '_ {
        Offsets(&**self)
    }

    fn stats(&self) -> AllocStats {
        sharena::ShmAllocator::stats(&**self)
    }

    fn recover(&self) -> &dyn Recover {
        &**self
    }

    fn segment(&self) -> &Segment {
        FreeList::segment(self)
    }

    fn granule(&self) -> u64 {
        // The smallest block is 32 bytes (a 16-byte header and two link
        // words), and blocks tile their spans.
        32
    }

    fn sizes(&self) -> Sizes {
        // Random sizes in [1, 64 KiB], as the README's main job says.
        Sizes::Uniform {
            lo: 1,
            hi: 64 << 10,
        }
    }

    fn settle(&self) {
        let _ = self.collect();
    }
}

impl Subject for Handles {
    const NAME: &'static str = "handles";

    fn create(name: &str, size: u64) -> Result<Self> {
        Handles::create(name, size)
    }

    fn open(name: &str) -> Result<Self> {
        let heap = Handles::open(name)?;
        // An allocation that finds the heap full compacts once and retries
        // (it still fails when another process is compacting, or when
        // allocations in flight keep the compaction from running: the
        // worker counts that as out of memory).
        heap.set_auto_compact(true);
        Ok(heap)
    }

    fn anonymous(size: u64) -> Result<Self> {
        Handles::anonymous(size)
    }

    fn reattach(&self) -> Result<Self> {
        let heap = Handles::reattach(self)?;
        // A worker's handle, as `open` makes it.
        heap.set_auto_compact(true);
        Ok(heap)
    }

    fn blocks(&self) -> impl Blocks + '_ {
        Pinned(self)
    }

    fn stats(&self) -> AllocStats {
        (**self).stats()
    }

    fn recover(&self) -> &dyn Recover {
        &**self
    }

    fn segment(&self) -> &Segment {
        Handles::segment(self)
    }

    fn granule(&self) -> u64 {
        // Keys are handle indices (see `Pinned`): one entry each.
        1
    }

    fn key_span(&self) -> u64 {
        self.handle_capacity()
    }

    fn sizes(&self) -> Sizes {
        Sizes::Uniform { lo: 1, hi: 4096 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_stay_in_range() {
        let s = Sizes::Uniform { lo: 1, hi: 512 };
        for d in [0, 1, 511, 512, u64::MAX] {
            assert!((1..=512).contains(&s.pick(d)));
        }
        assert_eq!(Sizes::Fixed(64).pick(7), 64);
        assert_eq!(s.mean(), 256);
        let mut rng = XorShift::new(42);
        assert_eq!(Sizes::Fixed(64).draw(&mut rng), 64);
        assert_eq!(rng, XorShift::new(42), "a fixed size draws nothing");
        assert_eq!(s.draw(&mut rng), 1 + 45_454_805_674 % 512);
    }

    #[test]
    fn every_kind_creates_reattaches_and_allocates() {
        fn go<S: Subject>() {
            let s = S::anonymous(4 << 20).unwrap();
            let again = s.reattach().unwrap();
            let blocks = again.blocks();
            let b = blocks.alloc(48).unwrap();
            assert!(again.stats().used > 0, "{}", S::NAME);
            blocks
                .free(b)
                .unwrap_or_else(|e| panic!("{}: {e}", S::NAME));
            drop(blocks);
            again.settle();
            assert!(s.recover().check().unwrap().ok(), "{}", S::NAME);
        }
        go::<Slab>();
        go::<FreeList>();
        go::<Handles>();
        let arena = Bump::anonymous(1 << 20).unwrap();
        let at = arena.allocator().alloc(32).unwrap();
        arena.allocator().write(at, b"bump").unwrap();
        assert!(Subject::reset(&arena).is_ok());
    }
}
