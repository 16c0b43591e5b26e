//! Typed objects by name: the [`Objects`] trait (its docs say what it
//! does and what a death leaves), [`Shared`] and [`Field`].

mod record;
mod shared;

pub use shared::{Field, Shared};

use crate::{Bump, FreeList, Named, Slab};
use bytemuck::Pod;
use record::{Record, Settled, TypeKey, CONSTRUCTING, DESTROYED, READY};
use shm_layout::{Error, ProcId, Result, ShmAllocator};
use std::time::{Duration, Instant};

/// The longest wait for a live builder in [`Objects::find_or_construct`]
/// and [`Objects::find`].
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// Bound on the rounds of one call (a name published and destroyed under
/// it again and again, or hostile bytes, make an error, not a hang).
const MAX_ROUNDS: u32 = 1 << 16;

/// Typed objects by name: [`Objects::find_or_construct`], [`Objects::find`],
/// [`Objects::wait_for`] and [`Objects::destroy`] on the [`Bump`],
/// [`FreeList`] and [`Slab`] handles.
///
/// An object is a `Pod` value in a block of the allocator, after a small
/// header that records its type (name, size and alignment) and whether it
/// is built, and published under a name in the segment's directory (so it
/// is shared: no process's death frees it). Of several processes racing on
/// one name, one publishes first and runs the constructor; the others wait
/// for it on a futex ([`shm_layout::wait`]) and get the same object. A
/// lookup with another type is [`Error::TypeMismatch`], never a
/// reinterpretation.
///
/// # Deaths
/// - A builder that dies before its object is READY (or whose constructor
///   panics) wedges nobody: a waiter sees it dead (its pid and start time
///   are in the record), takes the build over with one CAS and runs its own
///   constructor. So the constructor runs in exactly one process per
///   object *that is completed*; a constructor cut short by a death may
///   have run too.
/// - A process that dies between allocating the block and publishing it
///   leaves a block that `reclaim_dead` frees (it was never shared), or,
///   dying between sharing and publishing, a shared block nobody names
///   (kept until freed, as with [`Named::publish`]).
/// - Waits are bounded: [`Objects::find_or_construct_within`] takes the
///   longest wait for a live builder (10 s for the plain call), after which
///   it is [`Error::Timeout`].
///
/// The first [`Objects::wait_for`] on a segment builds one more typed
/// object, named `.sharena/built` (an [`Event`](shm_layout::wait::Event)
/// that every completed construction notifies); it shows in the directory
/// like any other name.
///
/// The handle heap ([`Handles`](crate::Handles)) has no typed objects: its
/// blocks move when it compacts.
///
/// # Example
/// ```
/// use bytemuck::{Pod, Zeroable};
/// use sharena::{field, FreeList, Objects};
/// use sharena::layout::sync::Ordering;
///
/// #[derive(Clone, Copy, Pod, Zeroable)]
/// #[repr(C)]
/// struct Config { version: u64, hits: u64 }
///
/// let name = format!("/sharena-doc-typed-{}", std::process::id());
/// let heap = FreeList::create(&name, 16 << 20)?;
/// let cfg = heap.find_or_construct("config", || Config { version: 3, hits: 0 })?;
/// cfg.atomic_u64(field!(Config, hits))?.fetch_add(1, Ordering::SeqCst);
/// // Another process (or this one, again) finds the same object.
/// let again = heap.find::<Config>("config")?.unwrap();
/// assert_eq!(again.get()?.hits, 1);
/// assert!(heap.find::<u32>("config").is_err()); // another type
/// heap.destroy::<Config>("config")?;
/// assert!(heap.find::<Config>("config")?.is_none());
/// sharena::Segment::unlink(&name)?;
/// # Ok::<(), sharena::Error>(())
/// ```
pub trait Objects: Named {
    /// The allocator whose blocks hold the objects.
    type Alloc: ShmAllocator + ?Sized;

    /// That allocator.
    fn objects_alloc(&self) -> &Self::Alloc;

    /// The object named `name`, built by `init` if there is none yet (at
    /// most [`DEFAULT_WAIT`] spent waiting for another process building it).
    fn find_or_construct<T: Pod>(
        &self,
        name: &str,
        init: impl FnOnce() -> T,
    ) -> Result<Shared<'_, T, Self::Alloc>> {
        self.find_or_construct_within(name, DEFAULT_WAIT, init)
    }

    /// [`find_or_construct`](Objects::find_or_construct), waiting at most
    /// `wait` for a live builder.
    fn find_or_construct_within<T: Pod>(
        &self,
        name: &str,
        wait: Duration,
        init: impl FnOnce() -> T,
    ) -> Result<Shared<'_, T, Self::Alloc>> {
        construct(self, name, wait, init, true)
    }

    /// Waits until an object named `name` is built (by any process's
    /// `find_or_construct`), at most `timeout`; [`Error::Timeout`] then.
    ///
    /// The wait is on a futex that every completed construction notifies
    /// (an [`Event`](shm_layout::wait::Event) kept in a typed object named
    /// `.sharena/built`, made by the first waiter), so it sleeps until a
    /// name is built, not in a poll loop.
    fn wait_for<T: Pod>(
        &self,
        name: &str,
        timeout: Duration,
    ) -> Result<Shared<'_, T, Self::Alloc>> {
        let a = self.objects_alloc();
        let deadline = deadline_after(timeout);
        let events = construct(self, BUILT, timeout, || [0u32; 2], false)?;
        let event = a.view().event(events.offset())?;
        event
            .wait_until(deadline, || match find_built::<T, _>(self, name) {
                Ok(Some(s)) => Some(Ok(s)),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            })
            .unwrap_or_else(|| Err(timeout_error(a, name, timeout)))
    }

    /// The object named `name`, if one is built (waiting at most
    /// [`DEFAULT_WAIT`] for a live builder; `None` if its builder died).
    fn find<T: Pod>(&self, name: &str) -> Result<Option<Shared<'_, T, Self::Alloc>>> {
        let a = self.objects_alloc();
        let Some(block) = self.lookup(name)? else {
            return Ok(None);
        };
        let record = Record::open(a, block, TypeKey::of::<T>(), name)?;
        Ok(
            match record.settle(None, deadline_after(DEFAULT_WAIT), name)? {
                Settled::Ready => Some(Shared::new(a, record, name)),
                Settled::Mine | Settled::Gone => None,
            },
        )
    }

    /// Unpublishes the object named `name` and frees its block. Only a
    /// built object is destroyed (one being built is
    /// [`Error::Unsupported`]); other processes' [`Shared`] handles to it
    /// fail from then on. A bump arena frees the bytes with its next reset.
    fn destroy<T: Pod>(&self, name: &str) -> Result<()> {
        let a = self.objects_alloc();
        let block = self.lookup(name)?.ok_or_else(|| Error::NameNotFound {
            segment: a.view().name().to_owned(),
            name: name.to_owned(),
        })?;
        let record = Record::open(a, block, TypeKey::of::<T>(), name)?;
        match record.state()? {
            READY => {
                if !record.destroy()? {
                    return Err(Error::NameNotFound {
                        segment: a.view().name().to_owned(),
                        name: name.to_owned(),
                    });
                }
            }
            CONSTRUCTING => {
                return Err(Error::Unsupported {
                    op: "destroy",
                    by: "an object that is still being constructed",
                })
            }
            // DESTROYED: a destroyer died before unpublishing; finish.
            _ => debug_assert_eq!(record.state()?, DESTROYED),
        }
        let removed = self.unpublish(name)?;
        if removed != block {
            // The name was destroyed and built again meanwhile: that one
            // is not ours to remove.
            self.publish(name, removed)?;
            return Ok(());
        }
        match a.free(block) {
            Ok(()) | Err(Error::Unsupported { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The typed object whose event every completed construction notifies.
const BUILT: &str = ".sharena/built";

/// `find_or_construct_within`; `announce`: notify [`BUILT`]'s waiters
/// after building (off for [`BUILT`] itself).
fn construct<'s, O: Objects + ?Sized, T: Pod>(
    o: &'s O,
    name: &str,
    wait: Duration,
    init: impl FnOnce() -> T,
    announce: bool,
) -> Result<Shared<'s, T, O::Alloc>> {
    let a = o.objects_alloc();
    let key = TypeKey::of::<T>();
    let me = ProcId::current();
    let deadline = deadline_after(wait);
    let mut init = Some(init);
    for _ in 0..MAX_ROUNDS {
        let Some(block) = o.lookup(name)? else {
            let block = a.alloc_aligned(key.record_len(), key.align)?;
            let made =
                Record::make(a, block, key, me).and_then(|r| o.publish(name, block).map(|()| r));
            match made {
                Ok(record) => return build(o, record, me, name, &mut init, announce),
                Err(e) => {
                    // Ours alone: give it back (a bump arena frees nothing
                    // individually; its bytes return with reset).
                    let _ = a.free(block);
                    if matches!(e, Error::NameTaken { .. }) {
                        continue;
                    }
                    return Err(e);
                }
            }
        };
        let record = Record::open(a, block, key, name)?;
        match record.settle(Some(me), deadline, name)? {
            Settled::Ready => return Ok(Shared::new(a, record, name)),
            Settled::Mine => return build(o, record, me, name, &mut init, announce),
            // Being destroyed: its destroyer unpublishes it next.
            Settled::Gone => past(deadline, a, name)?,
        }
    }
    Err(timeout_error(a, name, wait))
}

/// The object named `name` if it is built now (no waiting).
fn find_built<'s, T: Pod, O: Objects + ?Sized>(
    o: &'s O,
    name: &str,
) -> Result<Option<Shared<'s, T, O::Alloc>>> {
    let a = o.objects_alloc();
    let Some(block) = o.lookup(name)? else {
        return Ok(None);
    };
    let record = Record::open(a, block, TypeKey::of::<T>(), name)?;
    Ok((record.state()? == READY).then(|| Shared::new(a, record, name)))
}

fn deadline_after(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365))
}

fn timeout_error(a: &(impl ShmAllocator + ?Sized), name: &str, wait: Duration) -> Error {
    Error::Timeout {
        segment: a.view().name().to_owned(),
        what: format!("typed object {name:?}"),
        waited_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
    }
}

/// A short pause before looking a name up again, or the timeout.
fn past(deadline: Instant, a: &(impl ShmAllocator + ?Sized), name: &str) -> Result<()> {
    if Instant::now() >= deadline {
        return Err(timeout_error(a, name, Duration::ZERO));
    }
    std::thread::sleep(Duration::from_millis(1));
    Ok(())
}

/// Runs the constructor in this process (the builder) and makes the
/// record READY; a panic in it gives the build up to the next waiter.
fn build<'s, O: Objects + ?Sized, T: Pod>(
    o: &'s O,
    record: Record<'s>,
    me: ProcId,
    name: &str,
    init: &mut Option<impl FnOnce() -> T>,
    announce: bool,
) -> Result<Shared<'s, T, O::Alloc>> {
    struct Abandon<'r>(Option<(&'r Record<'r>, ProcId)>);
    impl Drop for Abandon<'_> {
        fn drop(&mut self) {
            if let Some((r, me)) = self.0.take() {
                r.abandon(me);
            }
        }
    }
    let f = init.take().ok_or(Error::Unsupported {
        op: "find_or_construct",
        by: "a second build in one call",
    })?;
    let mut guard = Abandon(Some((&record, me)));
    let value = f();
    guard.0 = None;
    record.finish(bytemuck::bytes_of(&value))?;
    if announce {
        // Only if some process waits by name (it made BUILT).
        if let Ok(Some(events)) = find_built::<[u32; 2], _>(o, BUILT) {
            if let Ok(e) = o.objects_alloc().view().event(events.offset()) {
                e.notify_all();
            }
        }
    }
    Ok(Shared::new(o.objects_alloc(), record, name))
}

macro_rules! objects_on {
    ($($ty:ty),*) => {$(
        impl Objects for $ty {
            type Alloc = <$ty as std::ops::Deref>::Target;
            fn objects_alloc(&self) -> &Self::Alloc {
                self
            }
        }
    )*};
}

objects_on!(Bump, FreeList, Slab);
