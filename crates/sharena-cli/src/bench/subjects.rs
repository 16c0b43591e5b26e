//! The sharena subjects of the workloads: each opened by name in every
//! child, so each child maps the segment at its own address (the real use).

use super::harness::ChildOut;
use super::harness::{prefault, run_forked, RunOut};
use super::pool::{churn, Pool, Sizes};
use sharena::{Bump, Offset, ShmAllocator, Slab};

/// A unique segment name for one bench run.
pub fn bench_name(tag: &str) -> String {
    use sharena::layout::sync::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("/sharena-bench-{}-{n}-{tag}", std::process::id())
}

/// Unlinks a named segment on drop.
struct Unlink(String);

impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = sharena::Segment::unlink(&self.0);
    }
}

/// A slab as a churn pool: offsets in, the zero-copy pointer for the tag.
struct SlabPool {
    slab: Slab,
    base: *mut u8,
    errors: u64,
}

impl Pool for SlabPool {
    type Handle = Offset;
    #[inline(always)]
    fn alloc(&mut self, size: u64) -> Option<Offset> {
        self.slab.alloc(size).ok()
    }
    #[inline(always)]
    fn free(&mut self, h: Offset) {
        if self.slab.free(h).is_err() {
            self.errors += 1;
        }
    }
    #[inline(always)]
    fn word(&self, h: Offset) -> *mut u64 {
        // The offset came from `alloc` of this slab, so it lies in the pool.
        self.base.wrapping_add(h.get() as usize).cast()
    }
}

/// `slab` in W2 / W2P2: 64-byte slots in a 256 MiB named segment.
pub fn slab_run(p: usize, ops: u64, segment: u64) -> std::io::Result<RunOut> {
    let name = bench_name("slab");
    let parent = Slab::create(&name, segment, 64).map_err(std::io::Error::other)?;
    let _unlink = Unlink(name.clone());
    let r = run_forked(p, |k, ctl| {
        let slab = Slab::open(&name).expect("open the bench slab");
        let view = slab.segment().view();
        let base = view.base().as_ptr();
        prefault(base, view.len() as usize);
        let mut pool = SlabPool {
            slab,
            base,
            errors: 0,
        };
        let mut out = churn(k, ctl, &mut pool, ops, Sizes::Fixed(64));
        out.errors += pool.errors;
        out
    });
    drop(parent);
    r
}

/// `bump` in W1: 64-byte allocations from a named segment holding a 1 GiB
/// pool (plus room for the 8-byte block headers), each writing its tag.
pub fn bump_run(ops: u64, region: u64) -> std::io::Result<RunOut> {
    let name = bench_name("bump");
    let parent =
        Bump::create(&name, region + region / 8 + (1 << 20)).map_err(std::io::Error::other)?;
    let _unlink = Unlink(name.clone());
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
