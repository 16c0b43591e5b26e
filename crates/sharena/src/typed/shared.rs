//! [`Shared`]: a typed object in a segment, and [`Field`]: one of its
//! atomic words, named by field instead of by offset.

use super::record::{Record, READY};
use shm_layout::sync::{AtomicU32, AtomicU64};
use shm_layout::{Error, Offset, Result, ShmAllocator};
use std::marker::PhantomData;

/// A typed object found or built by [`Objects`](super::Objects), checked
/// against its block once, when it was found.
///
/// [`get`](Shared::get) copies the value out and [`set`](Shared::set)
/// overwrites it; fields that processes update at once are reached as
/// atomics through [`atomic_u64`](Shared::atomic_u64) and
/// [`atomic_u32`](Shared::atomic_u32) with a [`field!`](crate::field), never
/// by offset arithmetic in the caller's code.
///
/// # Across a process's death
/// The object is shared (published), so no process's death frees it, and a
/// `Shared` may be held while other processes come and go. What dies with a
/// process is only its own copies: a `get` that was in progress, a `set`
/// that had written part of the value (`set` is a byte copy, not atomic:
/// update fields that others read concurrently through the atomic
/// accessors). After [`Objects::destroy`](super::Objects::destroy), `get`
/// and `set` fail with [`Error::NameNotFound`]; the atomics handed out
/// before stay in bounds of the segment but no longer belong to the object.
pub struct Shared<'a, T, A: ?Sized> {
    alloc: &'a A,
    record: Record<'a>,
    name: String,
    _t: PhantomData<fn() -> T>,
}

impl<T, A: ?Sized> std::fmt::Debug for Shared<'_, T, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.name)
            .field("type", &self.record.key.name)
            .field("block", &self.record.block)
            .finish()
    }
}

impl<'a, T: bytemuck::Pod, A: ShmAllocator + ?Sized> Shared<'a, T, A> {
    pub(crate) fn new(alloc: &'a A, record: Record<'a>, name: &str) -> Self {
        Shared {
            alloc,
            record,
            name: name.to_owned(),
            _t: PhantomData,
        }
    }

    /// The name it is published under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the value starts in the segment.
    pub fn offset(&self) -> Offset {
        self.record.value()
    }

    fn live(&self) -> Result<()> {
        if self.record.state()? == READY {
            Ok(())
        } else {
            Err(Error::NameNotFound {
                segment: self.alloc.view().name().to_owned(),
                name: self.name.clone(),
            })
        }
    }

    /// A copy of the value.
    pub fn get(&self) -> Result<T> {
        self.live()?;
        let mut v = T::zeroed();
        self.alloc
            .view()
            .read_bytes(self.record.value(), bytemuck::bytes_of_mut(&mut v))?;
        Ok(v)
    }

    /// Overwrites the value (a byte copy: see the type's docs).
    pub fn set(&self, value: &T) -> Result<()> {
        self.live()?;
        self.alloc
            .view()
            .write_bytes(self.record.value(), bytemuck::bytes_of(value))
    }

    fn field_at(&self, offset: usize, len: usize) -> Result<Offset> {
        let size = core::mem::size_of::<T>();
        if offset.checked_add(len).is_none_or(|end| end > size) {
            return Err(Error::OutOfBounds {
                offset: self.record.value().get(),
                len: offset as u64 + len as u64,
                block_len: size as u64,
            });
        }
        // Inside the record, which was checked to lie in its block.
        Ok(Offset::new(
            self.record.value().get().wrapping_add(offset as u64),
        ))
    }

    /// The `u64` field `f` as an atomic shared with every process.
    pub fn atomic_u64(&self, f: Field<T, u64>) -> Result<&'a AtomicU64> {
        let at = self.field_at(f.offset, 8)?;
        self.alloc.view().atomic_u64(at)
    }

    /// The `u32` field `f` as an atomic shared with every process.
    pub fn atomic_u32(&self, f: Field<T, u32>) -> Result<&'a AtomicU32> {
        let at = self.field_at(f.offset, 4)?;
        self.alloc.view().atomic_u32(at)
    }
}

/// A field of type `F` in a record of type `T`: made by [`field!`](crate::field),
/// which checks at compile time that the field exists and has type `F`.
pub struct Field<T, F> {
    offset: usize,
    _t: PhantomData<fn(&T) -> &F>,
}

impl<T, F> Clone for Field<T, F> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T, F> Copy for Field<T, F> {}

impl<T, F> std::fmt::Debug for Field<T, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Field({} at {})",
            std::any::type_name::<T>(),
            self.offset
        )
    }
}

impl<T, F> Field<T, F> {
    /// Used by [`field!`](crate::field): `offset` is `offset_of!` of the
    /// field and `witness` a function that names it, so the compiler checks
    /// its type. Nothing unsafe follows from a wrong `offset`: accessors
    /// check it against `T`'s size and the atomic's alignment.
    #[doc(hidden)]
    pub fn new(offset: usize, witness: fn(&T) -> &F) -> Self {
        let _ = witness;
        Field {
            offset,
            _t: PhantomData,
        }
    }

    /// Its byte offset in `T`.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

/// Names a field of a record type for [`Shared::atomic_u64`] and
/// [`Shared::atomic_u32`]: `field!(Config, counter)`.
#[macro_export]
macro_rules! field {
    ($t:ty, $f:ident) => {
        $crate::Field::<$t, _>::new(::core::mem::offset_of!($t, $f), |t: &$t| &t.$f)
    };
}
