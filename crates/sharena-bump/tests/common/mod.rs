//! A bump segment in a heap buffer, for tests.
#![allow(dead_code)]

use sharena_bump::Bump;
use shm_layout::{AllocatorKind, LayoutSpec, SegmentView, HEADER_LEN};
use std::ptr::NonNull;

#[repr(C, align(4096))]
struct Page([u8; 4096]);

/// Owns a page-aligned buffer and the view over it.
pub struct HeapSegment {
    view: SegmentView,
    mem: Vec<Page>,
}

impl AsRef<SegmentView> for HeapSegment {
    fn as_ref(&self) -> &SegmentView {
        &self.view
    }
}

impl HeapSegment {
    /// A bump segment whose pool holds `pool_len` bytes (a multiple of 64),
    /// with chunk parameter `chunk` (0: the default).
    pub fn new(pool_len: u64, chunk: u64) -> shm_layout::Result<Self> {
        let mut params = [0; 8];
        params[0] = chunk;
        Self::with(
            AllocatorKind::Bump,
            pool_len,
            Bump::<HeapSegment>::state_len(),
            params,
            true,
        )
    }

    /// Any layout; `run_init` runs `Bump::init` as the creator's hook.
    pub fn with(
        kind: AllocatorKind,
        pool_len: u64,
        state_len: u64,
        params: [u64; 8],
        run_init: bool,
    ) -> shm_layout::Result<Self> {
        Self::build(kind, pool_len, state_len, params, run_init, 0)
    }

    /// A bump segment with a metadata region (process table) of
    /// `metadata_len` bytes.
    pub fn with_metadata(
        kind: AllocatorKind,
        pool_len: u64,
        state_len: u64,
        params: [u64; 8],
        metadata_len: u64,
    ) -> shm_layout::Result<Self> {
        Self::build(kind, pool_len, state_len, params, true, metadata_len)
    }

    fn build(
        kind: AllocatorKind,
        pool_len: u64,
        state_len: u64,
        params: [u64; 8],
        run_init: bool,
        metadata_len: u64,
    ) -> shm_layout::Result<Self> {
        let total = HEADER_LEN
            + metadata_len.next_multiple_of(4096)
            + state_len.next_multiple_of(4096)
            + pool_len;
        let pages = total.div_ceil(4096) as usize;
        let mut mem: Vec<Page> = (0..pages).map(|_| Page([0; 4096])).collect();
        let base = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap();
        let spec = LayoutSpec {
            kind,
            total_len: total,
            metadata_len,
            state_len,
            params,
        };
        // SAFETY: `mem` is page-aligned, at least `total` bytes, its buffer
        // never moves (the Vec is never resized) and lives as long as the
        // view (both are owned by the returned value); nobody else
        // initialises it.
        let view = unsafe {
            SegmentView::initialize("<test>", base, total, &spec, true, |v| {
                if run_init {
                    Bump::<HeapSegment>::init(v)
                } else {
                    Ok(())
                }
            })
        }?;
        Ok(HeapSegment { view, mem })
    }

    /// A raw pointer to byte `at` of the segment (for corrupting it).
    pub fn byte_ptr(&mut self, at: u64) -> *mut u8 {
        assert!(at < (self.mem.len() * 4096) as u64);
        // SAFETY: in bounds (asserted).
        unsafe { self.mem.as_mut_ptr().cast::<u8>().add(at as usize) }
    }
}

/// A second view of the same bytes, as another process would open it.
pub struct Opened(SegmentView);

impl AsRef<SegmentView> for Opened {
    fn as_ref(&self) -> &SegmentView {
        &self.0
    }
}

impl HeapSegment {
    /// Opens the same bytes again.
    ///
    /// # Safety
    /// The result must not outlive `self`.
    pub unsafe fn open_again(&self) -> Opened {
        let wait = shm_layout::WaitPolicy::default();
        // SAFETY: the caller keeps `self` (and so the buffer) alive; the
        // base is page-aligned and `len` bytes are mapped.
        let view = unsafe {
            SegmentView::open(
                "<test>",
                self.view.base(),
                self.view.len(),
                None,
                wait,
                |_| true,
            )
        };
        Opened(view.unwrap())
    }
}

/// A fresh allocator over a heap segment.
pub fn arena(pool_len: u64, chunk: u64) -> Bump<HeapSegment> {
    Bump::attach(HeapSegment::new(pool_len, chunk).unwrap()).unwrap()
}
