//! [`SegmentView`]: validated bytes turned into typed references.
//!
//! A view is made two ways: [`SegmentView::open`] (wait for READY, copy the
//! header, validate the copy) and [`SegmentView::initialize`] (the creator's
//! side of the protocol). Either way it keeps the validated header copy and
//! answers every later question from that copy, never from the shared bytes,
//! so a process that scribbles over the header afterwards cannot move a
//! region under us. Every offset is bounds-checked before it becomes a
//! pointer.
//!
//! # Why shared bytes are never `&[u8]`
//! Other processes may write any byte of the segment at any time, which Rust
//! references cannot express. So a view hands out raw pointers (checked to lie
//! inside the mapping) and `&AtomicU64` (for words the format declares
//! atomic), and copies plain bytes in and out with volatile accesses.

use crate::consts::{HEADER_LEN, INIT_WORD_OFFSET, MAX_SEGMENT_LEN};
use crate::error::{Error, Result};
use crate::header::{Header, LayoutSpec, Region, RegionId};
use crate::init::{InitState, InitWord};
use crate::kind::AllocatorKind;
use crate::offset::{Offset, TypedOffset};
use crate::sync::{AtomicU32, AtomicU64};
use crate::validate::validate_header;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

/// A validated segment: base pointer, length, and a private header copy.
#[derive(Debug)]
pub struct SegmentView {
    base: NonNull<u8>,
    len: u64,
    header: Header,
    kind: AllocatorKind,
    name: String,
    /// Makes writes to this mapping crash points while the view lives.
    #[cfg(all(feature = "crash-hooks", not(shm_loom)))]
    _watch: crate::crash::Unwatch,
}

// SAFETY: a view is a pointer into memory that is shared between processes
// by design; every access through it is atomic or a bounds-checked volatile
// copy, so sharing the view between threads adds nothing new.
unsafe impl Send for SegmentView {}
// SAFETY: as for `Send`; `&SegmentView` only reads the private header copy
// or goes through atomics and volatile copies.
unsafe impl Sync for SegmentView {}

/// How an opener waits for READY.
#[derive(Clone, Copy, Debug)]
pub struct WaitPolicy {
    /// Give up after this long.
    pub timeout: Duration,
}

impl Default for WaitPolicy {
    fn default() -> Self {
        WaitPolicy {
            timeout: Duration::from_secs(2),
        }
    }
}

impl SegmentView {
    /// Waits for READY, copies the header and validates the copy.
    ///
    /// `is_alive(pid)` tells whether the creator still runs, so a creator
    /// that died mid-init is reported as [`Error::CreatorDied`] at once.
    ///
    /// # Safety
    /// 1. `base` is valid for reads and writes of `mapping_len` bytes for as
    ///    long as the view (and anything obtained from it) lives.
    /// 2. `base` is aligned to at least 128 bytes.
    pub unsafe fn open(
        name: &str,
        base: NonNull<u8>,
        mapping_len: u64,
        expected: Option<AllocatorKind>,
        wait: WaitPolicy,
        is_alive: impl Fn(u32) -> bool,
    ) -> Result<Self> {
        if mapping_len < HEADER_LEN {
            return Err(Error::TooSmall {
                segment: name.to_string(),
                len: mapping_len,
                min: HEADER_LEN,
            });
        }
        // SAFETY: the mapping holds at least HEADER_LEN bytes (checked above),
        // so the word at INIT_WORD_OFFSET is in bounds, and the base alignment
        // (contract 2) makes it 8-byte aligned.
        let word = unsafe { init_word_at(base) };
        wait_ready(name, word, wait, is_alive)?;
        // SAFETY: in bounds (mapping_len >= HEADER_LEN > size of Header) and
        // aligned (contract 2); the copy is volatile because other processes
        // may write these bytes.
        let header = unsafe { read_header(base) };
        let kind = validate_header(name, &header, mapping_len, expected)?;
        Ok(SegmentView {
            base,
            len: header.total_len,
            header,
            kind,
            name: name.to_string(),
            #[cfg(all(feature = "crash-hooks", not(shm_loom)))]
            _watch: crate::crash::watch(base.as_ptr() as usize, mapping_len as usize),
        })
    }

    /// The creator's side: claims the init word, writes the header, runs
    /// `init` (the allocator's state set-up) and only then publishes READY.
    ///
    /// `zero_first` zeroes everything before the pool first (needed for a
    /// caller's buffer; fresh shm and new files are already zero, and
    /// skipping it keeps creation O(1) in the pool size).
    ///
    /// # Safety
    /// As [`SegmentView::open`], and no other process may be initialising
    /// the same bytes (the creator made them exclusively).
    pub unsafe fn initialize(
        name: &str,
        base: NonNull<u8>,
        mapping_len: u64,
        spec: &LayoutSpec,
        zero_first: bool,
        init: impl FnOnce(&SegmentView) -> Result<()>,
    ) -> Result<Self> {
        let seg = || name.to_string();
        if spec.total_len > mapping_len || spec.total_len > MAX_SEGMENT_LEN {
            return Err(Error::InvalidSize {
                segment: seg(),
                size: spec.total_len,
                reason: format!("the mapping holds only {mapping_len} bytes"),
            });
        }
        let pid = std::process::id();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let header = spec.build(pid, now).map_err(|reason| Error::InvalidSize {
            segment: seg(),
            size: spec.total_len,
            reason,
        })?;
        if zero_first {
            let upto = header.region(RegionId::Pool).offset;
            // SAFETY: `upto` <= total_len <= mapping_len (the layout was built
            // for total_len), so the range is inside the mapping (contract 1);
            // nobody else uses the bytes yet (exclusive creation).
            unsafe { std::ptr::write_bytes(base.as_ptr(), 0, upto as usize) };
        }
        // SAFETY: mapping_len >= total_len >= HEADER_LEN (the build succeeded),
        // and the base is 128-byte aligned (contract 2).
        let word = unsafe { init_word_at(base) };
        if !word.begin(pid) {
            return Err(Error::Corrupt {
                segment: seg(),
                what: format!(
                    "init word is {:?}, not EMPTY, in a fresh segment",
                    word.state()
                ),
                at: INIT_WORD_OFFSET,
            });
        }
        // SAFETY: in bounds and aligned as above; exclusive creation means no
        // reader looks at these bytes before READY is published below.
        unsafe { base.as_ptr().cast::<Header>().write_volatile(header) };
        let kind = validate_header(name, &header, mapping_len, Some(spec.kind))?;
        let view = SegmentView {
            base,
            len: header.total_len,
            header,
            kind,
            name: name.to_string(),
            #[cfg(all(feature = "crash-hooks", not(shm_loom)))]
            _watch: crate::crash::watch(base.as_ptr() as usize, mapping_len as usize),
        };
        init(&view)?;
        word.publish_ready(pid);
        Ok(view)
    }

    /// The segment's name (POSIX name, path, `<anonymous>` or `<buffer>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The validated header copy.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The allocator kind.
    pub fn kind(&self) -> AllocatorKind {
        self.kind
    }

    /// The segment's length (the header's `total_len`).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Always `false`: a valid segment holds at least a header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The base of the mapping in this process.
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// A region of the validated table.
    pub fn region(&self, id: RegionId) -> Region {
        self.header.region(id)
    }

    /// The init word (READY once the view exists).
    pub fn init_word(&self) -> &InitWord {
        // SAFETY: a view's mapping holds at least HEADER_LEN bytes and its
        // base is 128-byte aligned (constructor contracts).
        unsafe { init_word_at(self.base) }
    }

    /// A pointer to `len` bytes at `offset`, checked to lie inside the
    /// segment and past the null offset.
    #[inline]
    pub fn ptr(&self, offset: Offset, len: u64) -> Result<NonNull<u8>> {
        Self::check_range(offset, len, 0, self.len)?;
        // SAFETY: offset + len <= self.len (checked), and the mapping holds
        // self.len bytes, so the result stays inside one allocation.
        Ok(unsafe { self.base.add(offset.get() as usize) })
    }

    /// As [`SegmentView::ptr`], but the range must lie inside region `id`.
    #[inline]
    pub fn ptr_in(&self, id: RegionId, offset: Offset, len: u64) -> Result<NonNull<u8>> {
        let r = self.region(id);
        // Validated: offset + len of a region never overflows.
        Self::check_range(offset, len, r.offset, r.offset + r.len)?;
        // SAFETY: inside the region, hence inside the mapping.
        Ok(unsafe { self.base.add(offset.get() as usize) })
    }

    /// A pointer to the `T` at `at`, checked for bounds and alignment.
    pub fn typed_ptr<T: bytemuck::Pod>(&self, at: TypedOffset<T>) -> Result<NonNull<T>> {
        let off = at.offset();
        if !off.is_aligned(core::mem::align_of::<T>() as u64) {
            return Err(Error::InvalidOffset {
                offset: off.get(),
                reason: "not aligned for its type",
            });
        }
        Ok(self.ptr(off, core::mem::size_of::<T>() as u64)?.cast())
    }

    /// The `u64` at `offset` as an atomic; `offset` must be 8-aligned and in
    /// bounds. The format decides which words are atomics: only call this
    /// for those.
    #[cfg(not(shm_loom))]
    #[inline]
    pub fn atomic_u64(&self, offset: Offset) -> Result<&AtomicU64> {
        if !offset.is_aligned(8) {
            return Err(Error::InvalidOffset {
                offset: offset.get(),
                reason: "atomic not 8-byte aligned",
            });
        }
        let p = self.ptr(offset, 8)?;
        // SAFETY: in bounds and 8-aligned (checked; the base is 128-aligned);
        // the mapping outlives `&self`; the format makes this word atomic for
        // every process.
        Ok(unsafe { crate::sync::atomic_u64_at(p.as_ptr().cast()) })
    }

    /// The `u32` at `offset` as an atomic (see [`SegmentView::atomic_u64`]).
    #[cfg(not(shm_loom))]
    #[inline]
    pub fn atomic_u32(&self, offset: Offset) -> Result<&AtomicU32> {
        if !offset.is_aligned(4) {
            return Err(Error::InvalidOffset {
                offset: offset.get(),
                reason: "atomic not 4-byte aligned",
            });
        }
        let p = self.ptr(offset, 4)?;
        // SAFETY: as in `atomic_u64`, with 4-byte alignment.
        Ok(unsafe { crate::sync::atomic_u32_at(p.as_ptr().cast()) })
    }

    /// Copies `data` into the segment at `offset` (bounds-checked).
    pub fn write_bytes(&self, offset: Offset, data: &[u8]) -> Result<()> {
        let p = self.ptr(offset, data.len() as u64)?;
        #[cfg(all(feature = "crash-hooks", not(shm_loom)))]
        crate::crash::on_write(p.as_ptr() as usize);
        // SAFETY: `p..p+len` is inside the mapping (checked); `data` is a
        // private buffer, so the ranges cannot overlap.
        unsafe { volatile_copy(data.as_ptr(), p.as_ptr(), data.len()) };
        Ok(())
    }

    /// Copies bytes at `offset` out of the segment into `out`.
    pub fn read_bytes(&self, offset: Offset, out: &mut [u8]) -> Result<()> {
        let p = self.ptr(offset, out.len() as u64)?;
        // SAFETY: as in `write_bytes`, in the other direction.
        unsafe { volatile_copy(p.as_ptr(), out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    fn check_range(offset: Offset, len: u64, lo: u64, hi: u64) -> Result<()> {
        if offset.is_null() {
            return Err(Error::InvalidOffset {
                offset: 0,
                reason: "null offset",
            });
        }
        let end = offset.get().checked_add(len);
        if offset.get() < lo || end.is_none_or(|e| e > hi) {
            return Err(Error::OutOfBounds {
                offset: offset.get(),
                len,
                block_len: hi.saturating_sub(offset.get()),
            });
        }
        Ok(())
    }
}

/// Waits for the init word to say READY, within the policy's timeout.
fn wait_ready(
    name: &str,
    word: &InitWord,
    wait: WaitPolicy,
    is_alive: impl Fn(u32) -> bool,
) -> Result<()> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(20);
    loop {
        let state = word.poll_ready(64);
        let seen = match state {
            InitState::Ready { .. } => return Ok(()),
            InitState::Initializing { pid } if !is_alive(pid) => {
                return Err(Error::CreatorDied {
                    segment: name.to_string(),
                    pid,
                })
            }
            InitState::Initializing { .. } => "its creator is still initialising it",
            InitState::Empty => "no creator has started initialising it",
            InitState::Invalid(w) => {
                return Err(Error::Corrupt {
                    segment: name.to_string(),
                    what: format!("init word holds {w:#x}, which no creator writes"),
                    at: INIT_WORD_OFFSET,
                })
            }
        };
        let waited = start.elapsed();
        if waited >= wait.timeout {
            return Err(Error::NotInitialized {
                segment: name.to_string(),
                waited_ms: waited.as_millis() as u64,
                state: seen,
            });
        }
        std::thread::sleep(pause.min(wait.timeout.saturating_sub(waited)));
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// # Safety
/// `base` is valid for at least HEADER_LEN bytes and 8-byte aligned.
unsafe fn init_word_at<'a>(base: NonNull<u8>) -> &'a InitWord {
    // SAFETY: INIT_WORD_OFFSET + 8 <= HEADER_LEN, in bounds by the caller's
    // contract; `InitWord` is `repr(C)` around one `AtomicU64`, which has the
    // layout of `u64`, and the format makes this word atomic for everyone.
    unsafe {
        &*base
            .as_ptr()
            .add(INIT_WORD_OFFSET as usize)
            .cast::<InitWord>()
    }
}

/// # Safety
/// `base` is valid for `size_of::<Header>()` bytes and 8-byte aligned.
unsafe fn read_header(base: NonNull<u8>) -> Header {
    // SAFETY: the caller guarantees bounds and alignment; `Header` is `Pod`,
    // so any bytes are a valid value; volatile because others may write.
    unsafe { base.as_ptr().cast::<Header>().read_volatile() }
}

/// Copies `len` bytes with volatile accesses, 8 bytes at a time where both
/// sides allow, so the compiler never assumes shared bytes are stable.
///
/// # Safety
/// `src` valid for reads and `dst` for writes of `len` bytes; no overlap.
unsafe fn volatile_copy(src: *const u8, dst: *mut u8, len: usize) {
    // A memcpy would be faster, but it lets the compiler assume the source
    // does not change while it is read; shared bytes can. Bulk paths in the
    // allocators use `copy_nonoverlapping` on blocks they own instead.
    // SAFETY: the caller's contract covers every byte touched.
    unsafe {
        if (src as usize | dst as usize) % 8 == 0 {
            let words = len / 8;
            for i in 0..words {
                let w = src.cast::<u64>().add(i).read_volatile();
                dst.cast::<u64>().add(i).write_volatile(w);
            }
            for i in words * 8..len {
                dst.add(i).write_volatile(src.add(i).read_volatile());
            }
        } else {
            for i in 0..len {
                dst.add(i).write_volatile(src.add(i).read_volatile());
            }
        }
    }
}
