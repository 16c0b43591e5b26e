//! A handle heap over a heap buffer, for single-process tests.
#![allow(dead_code)]

use sharena_handles::Handles;
use shm_layout::{AllocatorKind, LayoutSpec, SegmentView};
use std::ptr::NonNull;

#[repr(C, align(4096))]
pub struct Page([u8; 4096]);

pub struct Mem {
    view: SegmentView,
    _pages: Vec<Page>,
}

impl AsRef<SegmentView> for Mem {
    fn as_ref(&self) -> &SegmentView {
        &self.view
    }
}

/// A heap of `pages` pages in all (header, state and data) with `handles`
/// table entries.
pub fn heap(pages: usize, handles: u64) -> Handles<Mem> {
    let mut mem: Vec<Page> = (0..pages).map(|_| Page([0; 4096])).collect();
    let base = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap();
    let len = (pages * 4096) as u64;
    let mut params = [0; 8];
    params[0] = handles;
    let spec = LayoutSpec {
        kind: AllocatorKind::Handles,
        total_len: len,
        metadata_len: 0,
        state_len: sharena_handles::state_len(handles),
        params,
    };
    // SAFETY: `mem` is page-aligned and `len` bytes; its heap buffer does
    // not move when the Vec moves into `Mem`, which keeps it alive as long
    // as the view; nobody else initialises it.
    let view =
        unsafe { SegmentView::initialize("<test>", base, len, &spec, true, sharena_handles::init) }
            .unwrap();
    Handles::attach(Mem { view, _pages: mem }).unwrap()
}

/// `len` bytes derived from `seed`.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seed.wrapping_mul(0x9E37_79B9).wrapping_add(i as u64 * 7) >> 3) as u8)
        .collect()
}
