//! A handle heap over the testkit's heap segment, for single-process tests.
#![allow(dead_code)]

use sharena_handles::Handles;
use sharena_testkit::{HeapSegment, SharedHeap};
use shm_layout::{AllocatorKind, LayoutSpec};

/// The bytes a test heap attaches to.
pub type Mem = HeapSegment;

/// The segment of [`heap`], behind a cheap clone: each clone is what one
/// more attachment attaches to.
pub fn shared_segment(pages: usize, handles: u64) -> SharedHeap {
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
    HeapSegment::new("<test>", &spec, sharena_handles::init)
        .unwrap()
        .shared()
}

/// A heap of `pages` pages in all (header, state and data) with `handles`
/// table entries.
pub fn heap(pages: usize, handles: u64) -> Handles<Mem> {
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
    let mem = HeapSegment::new("<test>", &spec, sharena_handles::init).unwrap();
    Handles::attach(mem).unwrap()
}
/// `len` bytes derived from `seed`.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seed.wrapping_mul(0x9E37_79B9).wrapping_add(i as u64 * 7) >> 3) as u8)
        .collect()
}
