//! Offsets: the only way one place in a segment refers to another.
//!
//! A segment is mapped at a different address in every process, so nothing
//! inside it is a pointer. An [`Offset`] counts bytes from the segment base;
//! 0 is null (the header lives there, so no block can start at 0). Turning an
//! offset into a pointer goes through a validated segment view, which checks
//! bounds (and, for [`TypedOffset`], alignment) first.

use bytemuck::{Pod, Zeroable};
use std::fmt;
use std::marker::PhantomData;

/// Bytes from the segment base; 0 is null.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Pod, Zeroable)]
#[repr(transparent)]
pub struct Offset(u64);

impl Offset {
    /// The null offset.
    pub const NULL: Offset = Offset(0);

    /// An offset of `raw` bytes from the base.
    #[inline(always)]
    pub const fn new(raw: u64) -> Self {
        Offset(raw)
    }

    /// The raw byte count.
    #[inline(always)]
    pub const fn get(self) -> u64 {
        self.0
    }

    /// Whether this is the null offset.
    #[inline(always)]
    pub const fn is_null(self) -> bool {
        self.0 == 0
    }

    /// `self + bytes`, or `None` on overflow.
    #[inline]
    pub const fn checked_add(self, bytes: u64) -> Option<Offset> {
        match self.0.checked_add(bytes) {
            Some(v) => Some(Offset(v)),
            None => None,
        }
    }

    /// Whether the offset is a multiple of `align` (a power of two).
    #[inline]
    pub const fn is_aligned(self, align: u64) -> bool {
        self.0 & (align - 1) == 0
    }
}

impl fmt::Debug for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Offset({:#x})", self.0)
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<Offset> for u64 {
    fn from(o: Offset) -> u64 {
        o.0
    }
}

/// An [`Offset`] that refers to a `T`.
///
/// The type is a promise of the code that made it, not of the segment: a
/// view still checks bounds and alignment before handing out a pointer, and
/// `T: Pod` keeps any bit pattern valid.
#[repr(transparent)]
pub struct TypedOffset<T> {
    raw: Offset,
    _type: PhantomData<fn() -> T>,
}

impl<T> TypedOffset<T> {
    /// The null typed offset.
    pub const NULL: Self = TypedOffset::new(Offset::NULL);

    /// Wraps an untyped offset.
    #[inline(always)]
    pub const fn new(raw: Offset) -> Self {
        TypedOffset {
            raw,
            _type: PhantomData,
        }
    }

    /// The untyped offset.
    #[inline(always)]
    pub const fn offset(self) -> Offset {
        self.raw
    }

    /// Whether this is null.
    #[inline(always)]
    pub const fn is_null(self) -> bool {
        self.raw.is_null()
    }

    /// The offset of element `index` of an array of `T` starting here, or
    /// `None` on overflow.
    pub fn index(self, index: u64) -> Option<Self> {
        let bytes = index.checked_mul(core::mem::size_of::<T>() as u64)?;
        Some(TypedOffset::new(self.raw.checked_add(bytes)?))
    }
}

impl<T> Clone for TypedOffset<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for TypedOffset<T> {}
impl<T> PartialEq for TypedOffset<T> {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}
impl<T> Eq for TypedOffset<T> {}
impl<T> std::hash::Hash for TypedOffset<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.raw.hash(state);
    }
}
impl<T> fmt::Debug for TypedOffset<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TypedOffset<{}>({:#x})",
            std::any::type_name::<T>(),
            self.raw.get()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_arithmetic() {
        assert!(Offset::NULL.is_null());
        assert_eq!(Offset::new(8).checked_add(8), Some(Offset::new(16)));
        assert_eq!(Offset::new(u64::MAX).checked_add(1), None);
        assert!(Offset::new(128).is_aligned(64));
        assert!(!Offset::new(130).is_aligned(8));
    }

    #[test]
    fn typed_index_checks_overflow() {
        let t: TypedOffset<u64> = TypedOffset::new(Offset::new(4096));
        assert_eq!(t.index(2).unwrap().offset(), Offset::new(4112));
        assert!(t.index(u64::MAX).is_none());
        assert!(TypedOffset::<u32>::NULL.is_null());
    }
}
