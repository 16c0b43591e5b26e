//! A bump segment in heap memory (the testkit's heap segment), for tests.
#![allow(dead_code)]

use sharena_bump::Bump;
use sharena_testkit::heap;
use shm_layout::{AllocatorKind, LayoutSpec, SegmentView, HEADER_LEN};

pub use sharena_testkit::heap::Opened;

/// The testkit's heap segment, laid out for a bump arena.
pub struct HeapSegment(heap::HeapSegment);

impl AsRef<SegmentView> for HeapSegment {
    fn as_ref(&self) -> &SegmentView {
        self.0.view()
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
        let spec = LayoutSpec {
            kind,
            total_len: total,
            metadata_len,
            state_len,
            params,
        };
        let seg = heap::HeapSegment::new("<test>", &spec, |v| {
            if run_init {
                Bump::<HeapSegment>::init(v)
            } else {
                Ok(())
            }
        })?;
        Ok(HeapSegment(seg))
    }

    /// A raw pointer to byte `at` of the segment (for corrupting it).
    pub fn byte_ptr(&mut self, at: u64) -> *mut u8 {
        self.0.byte_ptr(at)
    }

    /// Opens the same bytes again.
    ///
    /// # Safety
    /// The result must not outlive `self`.
    pub unsafe fn open_again(&self) -> Opened {
        // SAFETY: the caller's contract.
        unsafe { self.0.open_again() }.unwrap()
    }
}

/// A fresh allocator over a heap segment.
pub fn arena(pool_len: u64, chunk: u64) -> Bump<HeapSegment> {
    Bump::attach(HeapSegment::new(pool_len, chunk).unwrap()).unwrap()
}
