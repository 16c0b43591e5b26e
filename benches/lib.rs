//! Helpers shared by the criterion benches beside this file (run them with
//! `cargo bench` from the repository root).

use criterion::Criterion;
use sharena::{Offset, RegionId, SegmentView};
use std::ptr::NonNull;
use std::time::Duration;

/// Touches every page of `len` bytes at `ptr` so that page faults stay out
/// of the timed loops (docs/WORKLOADS.md, "Segment").
///
/// The caller passes a mapped range that no allocator has handed out yet.
pub fn prefault(ptr: NonNull<u8>, len: u64) {
    for at in (0..len).step_by(4096) {
        // SAFETY: `at < len` inside the caller's mapped range, which is
        // fresh zeroed memory nobody uses yet; writing a zero leaves it as
        // it was.
        unsafe { ptr.as_ptr().add(at as usize).write_volatile(0) };
    }
}

/// The pool of `view` as a checked pointer and a length.
pub fn pool_of(view: &SegmentView) -> (NonNull<u8>, u64) {
    let pool = view.region(RegionId::Pool);
    let ptr = view
        .ptr_in(RegionId::Pool, Offset::new(pool.offset), pool.len)
        .expect("the pool is mapped");
    (ptr, pool.len)
}

/// The criterion settings of the allocator benches: short warm-up and
/// measurement, 20 samples (the medians in docs/BENCHMARKS.md use these).
pub fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}
