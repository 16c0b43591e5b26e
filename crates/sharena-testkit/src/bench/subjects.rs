//! The sharena subjects of the workloads: each opened by name in every
//! child, so each child maps the segment at its own address (the real use).

use super::harness::{prefault, run_forked, ChildOut, RunOut};
use super::pool::{run_pool, Pass, Pool, Sharing, Sizes};
use crate::subject::OffsetSubject;
use crate::{unique_name_with, ShmGuard};
use sharena::{Bump, Offset, ShmAllocator, Slab};

/// A unique segment name for one bench run.
fn bench_name(tag: &str) -> String {
    unique_name_with("sharena-bench", tag)
}

/// `freelist` in W3/W4: variable sizes in a 256 MiB named segment.
pub fn freelist_run(p: usize, ops: u64, segment: u64, pass: Pass) -> std::io::Result<RunOut> {
    shm_run::<sharena::FreeList>(p, ops, segment, Sizes::Variable, pass)
}

/// A sharena allocator as a churn pool: offsets in, the zero-copy pointer
/// for the tag, its own `stats().used`.
struct ShmPool<H> {
    h: H,
    base: *mut u8,
    errors: u64,
}

impl<H: OffsetSubject> Pool for ShmPool<H> {
    type Handle = Offset;
    #[inline(always)]
    fn alloc(&mut self, size: u64) -> Option<Offset> {
        self.h.allocator().alloc(size).ok()
    }
    #[inline(always)]
    fn free(&mut self, h: Offset) {
        if self.h.allocator().free(h).is_err() {
            self.errors += 1;
        }
    }
    #[inline(always)]
    fn word(&self, h: Offset) -> *mut u64 {
        // The offset came from `alloc` of this allocator, so it lies in the
        // mapping.
        self.base.wrapping_add(h.get() as usize).cast()
    }
    /// The offset: each process maps the segment at its own address.
    fn addr(&self, h: Offset) -> u64 {
        h.get()
    }
    fn used(&self) -> Option<u64> {
        Some(self.h.allocator().stats().used)
    }
    fn errors(&self) -> u64 {
        self.errors
    }
}

/// One run of a sharena allocator subject: the parent creates the named
/// segment of `segment` bytes and unlinks it after the run; each child
/// opens it by name, so each maps it at its own address, and prefaults it.
pub fn shm_run<H: OffsetSubject>(
    p: usize,
    ops: u64,
    segment: u64,
    sizes: Sizes,
    pass: Pass,
) -> std::io::Result<RunOut> {
    let name = bench_name(H::NAME);
    let parent = H::create(&name, segment).map_err(std::io::Error::other)?;
    let _unlink = ShmGuard(name.clone());
    let sharing = Sharing::Shared {
        used0: Some(parent.allocator().stats().used),
    };
    let r = run_pool(p, ops, sizes, pass, sharing, |_| {
        let h = H::open(&name).expect("open the bench segment");
        let view = h.allocator().view();
        let base = view.base().as_ptr();
        prefault(base, view.len() as usize);
        ShmPool { h, base, errors: 0 }
    });
    drop(parent);
    r
}

/// `slab` in W2 / W2P2: 64-byte slots in a named segment of `segment`
/// bytes.
pub fn slab_run(p: usize, ops: u64, segment: u64, pass: Pass) -> std::io::Result<RunOut> {
    // The testkit's slab subject has 64-byte slots.
    shm_run::<Slab>(p, ops, segment, Sizes::Fixed(64), pass)
}

/// `bump` in W1: 64-byte allocations from a named segment holding a 1 GiB
/// pool (plus room for the 8-byte block headers), each writing its tag.
pub fn bump_run(ops: u64, region: u64) -> std::io::Result<RunOut> {
    let name = bench_name("bump");
    let parent =
        Bump::create(&name, region + region / 8 + (1 << 20)).map_err(std::io::Error::other)?;
    let _unlink = ShmGuard(name.clone());
    let r = run_forked(1, |k, ctl| {
        let arena = Bump::open(&name).expect("open the bench arena");
        let view = arena.segment().view();
        let base = view.base().as_ptr();
        prefault(base, view.len() as usize);
        let mut out = ChildOut::default();
        ctl.start(k);
        for n in 0..ops {
            let Ok(off) = arena.alloc(64) else {
                out.oom += 1;
                break;
            };
            let tag = ((k as u64 + 1) << 56) | (n + 1);
            // SAFETY: `off` is a fresh 64-byte block of this arena, inside
            // the mapping, 8-aligned.
            unsafe { base.add(off.get() as usize).cast::<u64>().write(tag) };
            out.ops += 1;
        }
        ctl.end(k);
        out
    });
    drop(parent);
    r
}
