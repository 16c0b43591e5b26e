//! The trait every sharena allocator implements, and its statistics.
//!
//! Implementors provide the five primitives (`alloc_aligned`, `free`,
//! `usable_size`, `stats`, `view`); the checked byte access and the typed
//! helpers are written once, here, on top of `usable_size`, which validates
//! the offset (in the pool, a live block start, not stale) before anything
//! is touched.

use crate::error::{Error, Result};
use crate::offset::{Offset, TypedOffset};
use crate::view::SegmentView;
use bytemuck::Pod;
use std::ptr::NonNull;

/// What an allocator reports about itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocStats {
    /// Bytes the pool holds in all.
    pub capacity: u64,
    /// Bytes in use, headers and rounding included.
    pub used: u64,
    /// Bytes still available for allocation (a bound: fragmentation may
    /// prevent one allocation of this size).
    pub available: u64,
    /// The most bytes ever in use at once (since creation or reset).
    pub high_water: u64,
    /// Live allocations.
    pub allocations: u64,
}

/// The common surface of sharena's allocators.
///
/// Offsets returned by `alloc*` count from the segment base, so they mean
/// the same block in every process that maps the segment.
pub trait ShmAllocator {
    /// The segment the allocator lives in.
    fn view(&self) -> &SegmentView;

    /// Allocates `size` bytes aligned to `align` (a power of two; each
    /// allocator documents its maximum). Zero size is [`Error::ZeroSize`].
    fn alloc_aligned(&self, size: u64, align: u64) -> Result<Offset>;

    /// Frees a block (allocators that cannot free say
    /// [`Error::Unsupported`]).
    fn free(&self, offset: Offset) -> Result<()>;

    /// The usable length of the live block at `offset`; errors if `offset`
    /// is not a live block start (invalid, freed, or stale).
    fn usable_size(&self, offset: Offset) -> Result<u64>;

    /// Statistics.
    fn stats(&self) -> AllocStats;

    /// The size the allocation of the live block at `offset` asked for:
    /// what the checked reads and writes below may touch. Allocators that
    /// record it return it; the default is [`usable_size`](Self::usable_size).
    fn requested_size(&self, offset: Offset) -> Result<u64> {
        self.usable_size(offset)
    }

    /// `Ok` if bytes `at..at + len` of the block at `offset` lie within its
    /// [`requested_size`](Self::requested_size), else
    /// [`Error::OutOfBounds`] naming that size.
    fn check_requested(&self, offset: Offset, at: u64, len: u64) -> Result<()> {
        let asked = self.requested_size(offset)?;
        match at.checked_add(len) {
            Some(end) if end <= asked => Ok(()),
            _ => Err(Error::OutOfBounds {
                offset: offset.get(),
                len: at.saturating_add(len),
                block_len: asked,
            }),
        }
    }

    /// Allocates `size` bytes at the allocator's natural alignment (8).
    fn alloc(&self, size: u64) -> Result<Offset> {
        self.alloc_aligned(size, 8)
    }

    /// Bytes the pool holds.
    fn capacity(&self) -> u64 {
        self.stats().capacity
    }

    /// Bytes still available (see [`AllocStats::available`]).
    fn available(&self) -> u64 {
        self.stats().available
    }

    /// A raw pointer to bytes `at..at + len` of the block at `offset`: the
    /// zero-copy path. Checked against the block's length; the pointer is
    /// valid while the block is live and the segment mapped. Other
    /// processes may write the same bytes, so treat it as shared memory
    /// (atomics or volatile access), never as `&[u8]`.
    fn block_ptr(&self, offset: Offset, at: u64, len: u64) -> Result<NonNull<u8>> {
        let block = self.usable_size(offset)?;
        match at.checked_add(len) {
            Some(end) if end <= block => {}
            _ => {
                return Err(Error::OutOfBounds {
                    offset: offset.get(),
                    len: at.saturating_add(len),
                    block_len: block,
                })
            }
        }
        let start = offset.checked_add(at).ok_or(Error::InvalidOffset {
            offset: offset.get(),
            reason: "offset overflows",
        })?;
        self.view().ptr(start, len)
    }

    /// Copies `data` into the block at `offset`, from its start; a write
    /// past the size the allocation asked for is [`Error::OutOfBounds`] and
    /// writes nothing.
    fn write(&self, offset: Offset, data: &[u8]) -> Result<()> {
        self.write_at(offset, 0, data)
    }

    /// Copies `data` into the block at `offset`, starting `at` bytes in,
    /// within its [`requested_size`](Self::requested_size).
    fn write_at(&self, offset: Offset, at: u64, data: &[u8]) -> Result<()> {
        self.check_requested(offset, at, data.len() as u64)?;
        // `check_requested` bounded `at + len` by a live block; the view
        // checks the bytes against the segment once more (so a wrong
        // `requested_size` is an error, never a wrap or a stray write).
        self.view()
            .write_bytes(Offset::new(offset.get().wrapping_add(at)), data)
    }

    /// Reads `len` bytes from the start of the block at `offset`, within its
    /// requested size.
    fn read(&self, offset: Offset, len: u64) -> Result<Vec<u8>> {
        self.check_requested(offset, 0, len)?;
        let mut out = vec![0u8; len as usize];
        self.view().read_bytes(offset, &mut out)?;
        Ok(out)
    }

    /// Fills `out` from the start of the block at `offset`, within its
    /// requested size.
    fn read_into(&self, offset: Offset, out: &mut [u8]) -> Result<()> {
        self.check_requested(offset, 0, out.len() as u64)?;
        self.view().read_bytes(offset, out)
    }

    /// Allocates room for a `T` (at `T`'s alignment, at least 8) and writes
    /// `value` there.
    fn alloc_value<T: Pod>(&self, value: &T) -> Result<TypedOffset<T>> {
        let align = (core::mem::align_of::<T>() as u64).max(8);
        let size = (core::mem::size_of::<T>() as u64).max(1);
        let at = self.alloc_aligned(size, align)?;
        self.write(at, bytemuck::bytes_of(value))?;
        Ok(TypedOffset::new(at))
    }

    /// Reads the `T` at `at` (which must be aligned for `T`).
    fn read_value<T: Pod>(&self, at: TypedOffset<T>) -> Result<T> {
        check_aligned(at)?;
        let mut v = T::zeroed();
        self.read_into(at.offset(), bytemuck::bytes_of_mut(&mut v))?;
        Ok(v)
    }

    /// Overwrites the `T` at `at` (which must be aligned for `T`).
    fn write_value<T: Pod>(&self, at: TypedOffset<T>, value: &T) -> Result<()> {
        check_aligned(at)?;
        self.write(at.offset(), bytemuck::bytes_of(value))
    }

    /// Allocates a slice of `T` and copies `values` into it.
    fn alloc_slice<T: Pod>(&self, values: &[T]) -> Result<TypedOffset<T>> {
        let align = (core::mem::align_of::<T>() as u64).max(8);
        let bytes = bytemuck::cast_slice::<T, u8>(values);
        let at = self.alloc_aligned((bytes.len() as u64).max(1), align)?;
        self.write(at, bytes)?;
        Ok(TypedOffset::new(at))
    }

    /// Reads `n` elements of `T` starting at `at` (checked against the
    /// block's requested size: `n` too large is [`Error::OutOfBounds`]).
    fn read_slice<T: Pod>(&self, at: TypedOffset<T>, n: usize) -> Result<Vec<T>> {
        check_aligned(at)?;
        let bytes = (n as u64).checked_mul(core::mem::size_of::<T>() as u64);
        self.check_requested(at.offset(), 0, bytes.unwrap_or(u64::MAX))?;
        let mut out = vec![T::zeroed(); n];
        self.read_into(at.offset(), bytemuck::cast_slice_mut(&mut out))?;
        Ok(out)
    }

    /// Overwrites elements of the slice at `at` with `values`, from its
    /// start; more values than the block holds is [`Error::OutOfBounds`]
    /// and writes nothing.
    fn write_slice<T: Pod>(&self, at: TypedOffset<T>, values: &[T]) -> Result<()> {
        check_aligned(at)?;
        self.write(at.offset(), bytemuck::cast_slice::<T, u8>(values))
    }
}

/// A typed offset must be aligned for its type.
fn check_aligned<T>(at: TypedOffset<T>) -> Result<()> {
    if at.offset().is_aligned(core::mem::align_of::<T>() as u64) {
        Ok(())
    } else {
        Err(Error::InvalidOffset {
            offset: at.offset().get(),
            reason: "not aligned for its type",
        })
    }
}
