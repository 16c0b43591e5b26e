//! A segment in heap memory, for single-process tests: page-aligned bytes,
//! initialised through [`SegmentView::initialize`] exactly as a mapped
//! segment is, so an allocator attaches to it as to a real one.
//!
//! [`HeapSegment`] owns the bytes and the view; [`SharedHeap`] is a cheap
//! clone of one, so that several handles (several "processes") attach to
//! the same bytes; [`HeapSegment::open_again`] gives a second view, as
//! another process's open would. Nothing here names an allocator type: the
//! caller passes the layout and the creator's hook (`Slab::init`, ...), so
//! any crate's tests may use it.

use shm_layout::{LayoutSpec, Result, SegmentView, WaitPolicy};
use std::ptr::NonNull;
use std::sync::Arc;

/// The page size the buffer is aligned to (a segment base must be aligned
/// to at least a cache line; 4096 matches every real mapping).
pub const PAGE: u64 = 4096;

#[derive(Debug)]
#[repr(C, align(4096))]
struct Page([u8; PAGE as usize]);

/// Page-aligned heap bytes and the initialised view over them.
#[derive(Debug)]
pub struct HeapSegment {
    view: SegmentView,
    /// Never read through after `new`: the view's base (taken from it
    /// before the move) is the only way to the bytes. Its heap buffer does
    /// not move when the Vec does, and it is never resized.
    _mem: Vec<Page>,
}

impl AsRef<SegmentView> for HeapSegment {
    fn as_ref(&self) -> &SegmentView {
        &self.view
    }
}

impl HeapSegment {
    /// A segment laid out by `spec` (a mapping of `spec.total_len` bytes,
    /// in a buffer of whole pages), `init` run as the creator's hook before
    /// READY. `name` only labels errors.
    pub fn new(
        name: &str,
        spec: &LayoutSpec,
        init: impl FnOnce(&SegmentView) -> Result<()>,
    ) -> Result<Self> {
        let pages = spec.total_len.div_ceil(PAGE).max(1) as usize;
        let mut mem: Vec<Page> = (0..pages).map(|_| Page([0; PAGE as usize])).collect();
        let base = NonNull::new(mem.as_mut_ptr().cast::<u8>()).expect("a Vec's buffer");
        let len = spec.total_len;
        // SAFETY: `mem` is page-aligned and at least `len` bytes long; its buffer
        // never moves (the Vec is never resized) and lives as long as the
        // view (both are owned by the returned value); nobody else
        // initialises it.
        let view = unsafe { SegmentView::initialize(name, base, len, spec, true, init) }?;
        Ok(HeapSegment { view, _mem: mem })
    }

    /// The view.
    pub fn view(&self) -> &SegmentView {
        &self.view
    }

    /// A raw pointer to byte `at` of the segment, for a test that corrupts
    /// it on purpose (panics past the end). Writes through it race with
    /// every other access to that byte: the caller keeps them apart.
    pub fn byte_ptr(&self, at: u64) -> *mut u8 {
        assert!(at < self.view.len(), "byte {at} lies past the segment");
        // SAFETY: `at` lies in the buffer (asserted), and the base carries
        // the provenance of the whole buffer (taken in `new`).
        unsafe { self.view.base().as_ptr().add(at as usize) }
    }

    /// A second view of the same bytes, as another process's open would
    /// see them.
    ///
    /// # Safety
    /// The result must not outlive `self`.
    pub unsafe fn open_again(&self) -> Result<Opened> {
        // SAFETY: the caller keeps `self`, and so the buffer, alive while
        // the view lives; the base is page-aligned and `len` bytes are
        // there.
        let view = unsafe {
            SegmentView::open(
                "<test>",
                self.view.base(),
                self.view.len(),
                None,
                WaitPolicy::default(),
                |_| true,
            )
        }?;
        Ok(Opened(view))
    }

    /// This segment behind a cheap clone.
    pub fn shared(self) -> SharedHeap {
        SharedHeap(Arc::new(self))
    }
}

/// A second view of a [`HeapSegment`]'s bytes (see
/// [`HeapSegment::open_again`]).
#[derive(Debug)]
pub struct Opened(SegmentView);

impl AsRef<SegmentView> for Opened {
    fn as_ref(&self) -> &SegmentView {
        &self.0
    }
}

/// A [`HeapSegment`] shared by clones: each clone is what one more handle
/// attaches to.
#[derive(Clone, Debug)]
pub struct SharedHeap(pub Arc<HeapSegment>);

impl AsRef<SegmentView> for SharedHeap {
    fn as_ref(&self) -> &SegmentView {
        &self.0.view
    }
}

impl std::ops::Deref for SharedHeap {
    type Target = HeapSegment;
    fn deref(&self) -> &HeapSegment {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shm_layout::{AllocatorKind, Offset, RegionId};

    fn spec(total_len: u64) -> LayoutSpec {
        LayoutSpec {
            kind: AllocatorKind::Raw,
            total_len,
            metadata_len: 0,
            state_len: PAGE,
            params: [0; 8],
        }
    }

    #[test]
    fn a_heap_segment_is_initialised_and_opens_again() {
        let seg = HeapSegment::new("<test>", &spec(4 * PAGE), |_| Ok(())).unwrap();
        assert_eq!(seg.view().len(), 4 * PAGE);
        assert_eq!(seg.view().base().as_ptr() as usize % PAGE as usize, 0);
        let pool = seg.view().region(RegionId::Pool);
        seg.view()
            .write_bytes(Offset::new(pool.offset), b"hello")
            .unwrap();
        // SAFETY: `again` is dropped before `seg`.
        let again = unsafe { seg.open_again() }.unwrap();
        let mut got = [0u8; 5];
        again
            .as_ref()
            .read_bytes(Offset::new(pool.offset), &mut got)
            .unwrap();
        assert_eq!(&got, b"hello");
        // SAFETY: in bounds, and nothing else touches the byte now.
        assert_eq!(unsafe { *seg.byte_ptr(pool.offset) }, b'h');
        let shared = seg.shared();
        let clone = shared.clone();
        assert_eq!(clone.as_ref().base(), shared.as_ref().base());
    }

    #[test]
    fn the_hook_runs_and_its_error_comes_back() {
        let mut ran = false;
        HeapSegment::new("<test>", &spec(4 * PAGE), |_| {
            ran = true;
            Ok(())
        })
        .unwrap();
        assert!(ran);
        let err = HeapSegment::new("<test>", &spec(4 * PAGE), |_| {
            Err(shm_layout::Error::Unsupported {
                op: "init",
                by: "test",
            })
        })
        .unwrap_err();
        assert!(
            matches!(err, shm_layout::Error::Unsupported { .. }),
            "{err}"
        );
    }
}
