//! Free-list segments in heap memory for the tests (the testkit's
//! [`HeapSegment`], shared cheaply so that several `FreeList`s, several
//! "processes", attach to it), with the free list's own parameters.
#![allow(dead_code)]

use sharena_freelist::FreeList;
use sharena_testkit::{HeapSegment, SharedHeap};
use shm_layout::{AllocatorKind, LayoutSpec};

/// A cheap-to-clone handle: `FreeList<Seg>` is what the tests attach.
pub type Seg = SharedHeap;

/// A free list segment of `len` bytes; `chunk_shift`, `span_chunks` and
/// `arenas` override the defaults where nonzero.
pub fn segment_with(len: u64, chunk_shift: u64, span_chunks: u64, arenas: u64) -> Seg {
    try_segment_with(len, chunk_shift, span_chunks, arenas).unwrap()
}

/// [`segment_with`], returning what `init` said.
pub fn try_segment_with(
    len: u64,
    chunk_shift: u64,
    span_chunks: u64,
    arenas: u64,
) -> shm_layout::Result<Seg> {
    let (mut p, _) = sharena_freelist::for_segment(len, 0, arenas.min(64)).unwrap();
    if arenas != 0 {
        p[2] = arenas;
    }
    if chunk_shift != 0 {
        p[0] = chunk_shift;
    }
    if span_chunks != 0 {
        p[1] = span_chunks;
    }
    let params = [p[0], p[1], p[2], 0, 0, 0, 0, 0];
    // Size the state for the chunk count the pool could hold at this shift.
    let geo = sharena_freelist::Geometry {
        chunk_shift: (p[0] as u32).clamp(12, 24),
        span_chunks: p[1].min(4096),
        arenas: p[2].min(64),
        chunks: len >> p[0],
    };
    let state_len = geo.state_len().unwrap();
    let spec = LayoutSpec {
        kind: AllocatorKind::FreeList,
        total_len: len,
        metadata_len: 0,
        state_len,
        params,
    };
    Ok(HeapSegment::new("/freelist-test", &spec, FreeList::<Seg>::init)?.shared())
}

/// A free list segment of `len` bytes with the defaults.
pub fn segment(len: u64) -> Seg {
    segment_with(len, 0, 0, 0)
}

/// Attaches a handle.
pub fn attach(seg: &Seg) -> FreeList<Seg> {
    FreeList::attach(seg.clone()).unwrap()
}
