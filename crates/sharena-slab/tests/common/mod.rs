//! Heap-backed slab segments for the tests: a 4096-aligned buffer
//! initialised like a real segment, shared cheaply so that several `Slab`s
//! (several "processes") can attach to it.
#![allow(dead_code)]

use sharena_slab::Slab;
use shm_layout::{AllocatorKind, LayoutSpec, SegmentView};
use std::ptr::NonNull;
use std::sync::Arc;

#[derive(Debug)]
#[repr(C, align(4096))]
struct Page([u8; 4096]);

/// Owns the buffer and the view over it.
#[derive(Debug)]
pub struct HeapSegment {
    view: SegmentView,
    _mem: Vec<Page>,
}

/// A cheap-to-clone handle: `Slab<Seg>` is what the tests attach.
#[derive(Clone, Debug)]
pub struct Seg(pub Arc<HeapSegment>);

impl AsRef<SegmentView> for Seg {
    fn as_ref(&self) -> &SegmentView {
        &self.0.view
    }
}

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
    let pages = (len / 4096) as usize;
    let mut mem: Vec<Page> = (0..pages).map(|_| Page([0; 4096])).collect();
    let base = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap();
    let spec = LayoutSpec {
        kind: AllocatorKind::Slab,
        total_len: len,
        metadata_len: 0,
        state_len,
        params,
    };
    // SAFETY: `mem` is 4096-aligned, `len` bytes long, owned by the
    // returned segment (so it outlives the view), and nobody else
    // initialises it.
    let view = unsafe {
        SegmentView::initialize("/slab-test", base, len, &spec, true, |v| {
            Slab::<Seg>::init(v)
        })
    }?;
    Ok(Seg(Arc::new(HeapSegment { view, _mem: mem })))
}

/// A slab segment with the default cache registry.
pub fn segment(slot_size: u64, slots: u64) -> Seg {
    segment_with(slot_size, slots, [0; 4]).unwrap()
}
