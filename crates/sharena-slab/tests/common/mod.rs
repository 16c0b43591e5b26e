//! Slab segments in heap memory for the tests (the testkit's
//! [`HeapSegment`], shared cheaply so that several `Slab`s, several
//! "processes", attach to it), sized for a slot count.
#![allow(dead_code)]

use sharena_slab::Slab;
use sharena_testkit::{HeapSegment, SharedHeap};
use shm_layout::{AllocatorKind, LayoutSpec};

/// A cheap-to-clone handle: `Slab<Seg>` is what the tests attach.
pub type Seg = SharedHeap;

/// A slab segment of exactly `slots` slots of `slot_size` bytes; `extra`
/// are params words 2..6 (cache entries, cache capacity, reserved).
pub fn segment_with(slot_size: u64, slots: u64, extra: [u64; 4]) -> shm_layout::Result<Seg> {
    let mut params = [0u64; 8];
    params[0] = slot_size;
    params[1] = slots;
    params[2..6].copy_from_slice(&extra);
    // Invalid params still make a segment (sized for the defaults), so
    // that `init` can refuse them.
    let state_len = match sharena_slab::Geometry::from_params(&params) {
        Ok(geo) => sharena_slab::Geometry {
            slot_count: slots,
            ..geo
        }
        .state_len()
        .unwrap(),
        Err(_) => sharena_slab::state_len(slot_size, slots).unwrap(),
    };
    let len = 4096 + state_len.next_multiple_of(4096) + (slots * slot_size).next_multiple_of(4096);
    let spec = LayoutSpec {
        kind: AllocatorKind::Slab,
        total_len: len,
        metadata_len: 0,
        state_len,
        params,
    };
    Ok(HeapSegment::new("/slab-test", &spec, Slab::<Seg>::init)?.shared())
}

/// A slab segment with the default cache registry.
pub fn segment(slot_size: u64, slots: u64) -> Seg {
    segment_with(slot_size, slots, [0; 4]).unwrap()
}
