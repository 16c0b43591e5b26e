//! A caller's buffer as a segment: the allocators work the same, shared by
//! the threads of one process.

use std::alloc::Layout;
use std::ptr::NonNull;

/// The alignment [`AlignedBuffer`] gives, and the alignment a segment's base
/// needs at least (a cache-line pair, see `shm_layout::CACHE_LINE`).
const BASE_ALIGN: usize = 4096;
const MIN_BASE_ALIGN: usize = 128;

/// A zeroed, page-aligned heap buffer to put a segment in.
///
/// Large buffers come from `alloc_zeroed`, which the system satisfies with
/// fresh zero pages, so making one does not touch every byte.
///
/// ```
/// let buf = sharena::AlignedBuffer::new(1 << 20).unwrap();
/// assert_eq!(buf.len(), 1 << 20);
/// ```
#[derive(Debug)]
pub struct AlignedBuffer {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the buffer is uniquely owned heap memory; moving the owner to
// another thread is like moving a `Box<[u8]>`.
unsafe impl Send for AlignedBuffer {}
// SAFETY: `&AlignedBuffer` exposes only its length and base address; all
// access to the bytes goes through a segment view's atomics and checked
// volatile copies.
unsafe impl Sync for AlignedBuffer {}

impl AlignedBuffer {
    /// A zeroed buffer of `len` bytes; `None` if `len` is 0 or the
    /// allocation fails.
    pub fn new(len: usize) -> Option<Self> {
        if len == 0 {
            return None;
        }
        let layout = Layout::from_size_align(len, BASE_ALIGN).ok()?;
        // SAFETY: the layout has a non-zero size (checked above).
        let ptr = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })?;
        Some(AlignedBuffer { ptr, len })
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false` (an empty buffer cannot be made).
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Drop for AlignedBuffer {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc_zeroed` with exactly this layout
        // (`new` checked it), and is freed once, here.
        unsafe {
            std::alloc::dealloc(
                self.ptr.as_ptr(),
                Layout::from_size_align_unchecked(self.len, BASE_ALIGN),
            );
        }
    }
}

/// Memory a caller lends to a segment: an [`AlignedBuffer`] it gives away, or
/// a `'static` slice (a `static mut` array, or a leaked `Box`).
///
/// A slice need not be aligned: the segment starts at its first 128-byte
/// aligned address, and its length is what remains.
#[derive(Debug)]
pub struct CallerBuffer {
    ptr: NonNull<u8>,
    len: usize,
    _owned: Option<AlignedBuffer>,
}

// SAFETY: the buffer is either owned (moved in) or a `&'static mut` the
// caller gave up; either way this value has exclusive use of the bytes, like
// a `Box<[u8]>`.
unsafe impl Send for CallerBuffer {}
// SAFETY: `&CallerBuffer` exposes only the span; the bytes are reached
// through a segment view's atomics and checked volatile copies.
unsafe impl Sync for CallerBuffer {}

impl From<AlignedBuffer> for CallerBuffer {
    fn from(b: AlignedBuffer) -> Self {
        CallerBuffer {
            ptr: b.ptr,
            len: b.len,
            _owned: Some(b),
        }
    }
}

impl From<&'static mut [u8]> for CallerBuffer {
    fn from(b: &'static mut [u8]) -> Self {
        let len = b.len();
        CallerBuffer {
            ptr: NonNull::new(b.as_mut_ptr()).unwrap_or(NonNull::dangling()),
            len,
            _owned: None,
        }
    }
}

impl CallerBuffer {
    /// The bytes a segment can use: the length from the first 128-byte
    /// aligned address on.
    pub fn usable_len(&self) -> u64 {
        self.span().1
    }

    pub(crate) fn span(&self) -> (NonNull<u8>, u64) {
        let p = self.ptr.as_ptr() as usize;
        let skip = p.next_multiple_of(MIN_BASE_ALIGN) - p;
        if skip >= self.len {
            return (NonNull::dangling(), 0);
        }
        // SAFETY: skip < len, so the pointer stays inside the buffer.
        let base = unsafe { self.ptr.add(skip) };
        (base, (self.len - skip) as u64)
    }
}
