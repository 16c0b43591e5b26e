//! Heap-backed free-list segments for the tests: a 4096-aligned buffer
//! initialised like a real segment, shared cheaply so that several
//! `FreeList`s (several "processes") can attach to it.
#![allow(dead_code)]

use sharena_freelist::FreeList;
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

/// A cheap-to-clone handle: `FreeList<Seg>` is what the tests attach.
#[derive(Clone, Debug)]
pub struct Seg(pub Arc<HeapSegment>);

impl AsRef<SegmentView> for Seg {
    fn as_ref(&self) -> &SegmentView {
        &self.0.view
    }
}

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
    let pages = (len / 4096) as usize;
    let mut mem: Vec<Page> = (0..pages).map(|_| Page([0; 4096])).collect();
    let base = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap();
    let spec = LayoutSpec {
        kind: AllocatorKind::FreeList,
        total_len: len,
        metadata_len: 0,
        state_len,
        params,
    };
    // SAFETY: `mem` is 4096-aligned, `len` bytes long, owned by the
    // returned segment (so it outlives the view), and nobody else
    // initialises it.
    let view = unsafe {
        SegmentView::initialize("/freelist-test", base, len, &spec, true, |v| {
            FreeList::<Seg>::init(v)
        })
    }?;
    Ok(Seg(Arc::new(HeapSegment { view, _mem: mem })))
}

/// A free list segment of `len` bytes with the defaults.
pub fn segment(len: u64) -> Seg {
    segment_with(len, 0, 0, 0)
}

/// Attaches a handle.
pub fn attach(seg: &Seg) -> FreeList<Seg> {
    FreeList::attach(seg.clone()).unwrap()
}