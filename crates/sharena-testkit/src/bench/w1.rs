//! W1: 10,000,000 bump allocations of 64 bytes from a 1 GiB region, each
//! writing its 8-byte tag (docs/WORKLOADS.md), for the limit baselines.

use super::harness::{prefault, run_forked, ChildOut, RunOut};
use sharena::layout::sync::{AtomicU64, Ordering};
use sharena::{Offset, RegionId};

/// The region every W1 subject allocates from.
pub const REGION: u64 = 1 << 30;

/// Which limit loop to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// `limit-bump-local`: a private, non-atomic cursor (prefaulted).
    Local,
    /// `limit-bump-faa`: one shared `fetch_add(64, Relaxed)` (prefaulted).
    Faa,
    /// `limit-bump-faa-cold`: the same without prefaulting.
    FaaCold,
}

fn tag(k: usize, n: u64) -> u64 {
    ((k as u64 + 1) << 56) | (n + 1)
}

/// Runs one W1 limit loop on a fresh region.
pub fn run_limit(which: Limit, ops: u64) -> std::io::Result<RunOut> {
    let (seg, base, pool_len) = super::harness::shared_region(REGION + (1 << 20))?;
    let pool_offset = seg.view().region(RegionId::Pool).offset;
    run_forked(1, |k, ctl| {
        // The cursor takes the first cache line; blocks start at 128.
        let cursor = seg
            .view()
            .atomic_u64(Offset::new(pool_offset))
            .expect("cursor");
        let base = base.as_ptr();
        let len = REGION.min(pool_len);
        if which != Limit::FaaCold {
            prefault(base, len as usize);
        }
        let mut out = ChildOut::default();
        ctl.start(k);
        match which {
            Limit::Local => {
                let mut cur = 128u64;
                for n in 0..ops {
                    if cur + 64 > len {
                        out.oom += 1;
                        break;
                    }
                    // SAFETY: cur + 64 <= len, inside the mapping; 8-aligned.
                    unsafe { base.add(cur as usize).cast::<u64>().write(tag(k, n)) };
                    cur += 64;
                    out.ops += 1;
                }
            }
            Limit::Faa | Limit::FaaCold => {
                for n in 0..ops {
                    let at = 128 + faa(cursor);
                    if at + 64 > len {
                        out.oom += 1;
                        break;
                    }
                    // SAFETY: at + 64 <= len, inside the mapping; 8-aligned.
                    unsafe { base.add(at as usize).cast::<u64>().write(tag(k, n)) };
                    out.ops += 1;
                }
            }
        }
        ctl.end(k);
        out
    })
}

#[inline(always)]
fn faa(cursor: &AtomicU64) -> u64 {
    // Relaxed: the cursor only hands out disjoint ranges (the workload's
    // definition of the baseline).
    cursor.fetch_add(64, Ordering::Relaxed)
}
