//! The record a typed object lives in: a 48-byte header, then the value.
//!
//! | bytes | word | meaning |
//! |---|---|---|
//! | 0..8 | state | `CONSTRUCTING`, `READY` or `DESTROYED` (any other value is corrupt) |
//! | 8..16 | builder | the raw `ProcId` of the process constructing it (0: nobody) |
//! | 16..24 | tag | FNV-1a of `sharena-typed:` and the type's name |
//! | 24..32 | size | `size_of::<T>()` |
//! | 32..40 | align | `align_of::<T>()`, at least 8 |
//! | 40..48 | event | the `shm_layout::wait::Event` that `READY` is announced on |
//!
//! The value starts at the header's end rounded up to its alignment. Every
//! word is read through the segment view (bounds- and alignment-checked),
//! and the whole record was checked against the block's usable size once,
//! when it was opened.

use shm_layout::sync::{AtomicU64, Ordering};
use shm_layout::wait::Event;
use shm_layout::{fnv1a64, Error, Offset, ProcId, Result, SegmentView, ShmAllocator};
use std::time::{Duration, Instant};

pub(crate) const CONSTRUCTING: u64 = u64::from_le_bytes(*b"TYPbuild");
pub(crate) const READY: u64 = u64::from_le_bytes(*b"TYPready");
pub(crate) const DESTROYED: u64 = u64::from_le_bytes(*b"TYPdead!");

const HEADER_LEN: u64 = 48;
const OFF_BUILDER: u64 = 8;
const OFF_TAG: u64 = 16;
const OFF_SIZE: u64 = 24;
const OFF_ALIGN: u64 = 32;
const OFF_EVENT: u64 = 40;

/// How long one wait for a live builder lasts before its liveness is read
/// again.
const SLICE: Duration = Duration::from_millis(20);

/// What a type is recorded as: its name's hash, size and alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TypeKey {
    pub(crate) name: &'static str,
    pub(crate) tag: u64,
    pub(crate) size: u64,
    pub(crate) align: u64,
}

impl TypeKey {
    pub(crate) fn of<T>() -> TypeKey {
        let name = std::any::type_name::<T>();
        let mut bytes = b"sharena-typed:".to_vec();
        bytes.extend_from_slice(name.as_bytes());
        TypeKey {
            name,
            tag: fnv1a64(&bytes),
            size: core::mem::size_of::<T>() as u64,
            align: (core::mem::align_of::<T>() as u64).max(8),
        }
    }

    /// Where the value starts in the record.
    pub(crate) fn value_at(&self) -> u64 {
        // `align` is a power of two of at most 2^29 (Rust's limit), so
        // this cannot overflow.
        HEADER_LEN.next_multiple_of(self.align)
    }

    /// The bytes a record of this type takes.
    pub(crate) fn record_len(&self) -> u64 {
        self.value_at() + self.size.max(1)
    }
}

/// An opened record: its block, checked once against its usable size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record<'a> {
    view: &'a SegmentView,
    pub(crate) block: Offset,
    pub(crate) key: TypeKey,
}

/// What a record turned out to be after waiting for its builder.
pub(crate) enum Settled {
    /// Constructed: use it.
    Ready,
    /// Its builder died (or gave up): this process now builds it.
    Mine,
    /// Destroyed since it was looked up.
    Gone,
}

impl<'a> Record<'a> {
    fn word(&self, at: u64) -> Result<&'a AtomicU64> {
        // `block + at` is inside the record, which was checked to lie in
        // the block (so in the segment) when it was opened or made.
        self.view
            .atomic_u64(Offset::new(self.block.get().wrapping_add(at)))
    }

    fn event(&self) -> Result<Event<'a>> {
        self.view
            .event(Offset::new(self.block.get().wrapping_add(OFF_EVENT)))
    }

    /// Checks that the record fits its block.
    fn fits(a: &(impl ShmAllocator + ?Sized), block: Offset, key: &TypeKey) -> Result<()> {
        a.block_ptr(block, 0, key.record_len()).map(|_| ())
    }

    /// Writes a new record's header (state CONSTRUCTING, built by `me`) into
    /// a block nobody else knows yet.
    pub(crate) fn make(
        a: &'a (impl ShmAllocator + ?Sized),
        block: Offset,
        key: TypeKey,
        me: ProcId,
    ) -> Result<Record<'a>> {
        Self::fits(a, block, &key)?;
        let r = Record {
            view: a.view(),
            block,
            key,
        };
        // Relaxed: the block is private until it is published, and
        // publishing is a SeqCst CAS in the directory that orders these
        // stores before the name becomes visible.
        r.word(0)?.store(CONSTRUCTING, Ordering::Relaxed);
        r.word(OFF_BUILDER)?.store(me.raw(), Ordering::Relaxed);
        r.word(OFF_TAG)?.store(key.tag, Ordering::Relaxed);
        r.word(OFF_SIZE)?.store(key.size, Ordering::Relaxed);
        r.word(OFF_ALIGN)?.store(key.align, Ordering::Relaxed);
        r.word(OFF_EVENT)?.store(0, Ordering::Relaxed);
        Ok(r)
    }

    /// Opens the record at `block` (from the directory: untrusted) as a `key`.
    pub(crate) fn open(
        a: &'a (impl ShmAllocator + ?Sized),
        block: Offset,
        key: TypeKey,
        name: &str,
    ) -> Result<Record<'a>> {
        let view = a.view();
        // The header first (the block may be too small for the value of
        // the type asked for, which is a mismatch, not corruption).
        a.block_ptr(block, 0, HEADER_LEN)?;
        let r = Record { view, block, key };
        let (tag, size, align) = (
            r.word(OFF_TAG)?.load(Ordering::SeqCst),
            r.word(OFF_SIZE)?.load(Ordering::SeqCst),
            r.word(OFF_ALIGN)?.load(Ordering::SeqCst),
        );
        if (tag, size, align) != (key.tag, key.size, key.align) {
            return Err(Error::TypeMismatch {
                segment: view.name().to_owned(),
                name: name.to_owned(),
                expected: key.name,
                expected_layout: (key.size, key.align),
                found_layout: (size, align),
            });
        }
        Self::fits(a, block, &key)?;
        Ok(r)
    }

    /// The state word, checked.
    pub(crate) fn state(&self) -> Result<u64> {
        let s = self.word(0)?.load(Ordering::SeqCst);
        match s {
            CONSTRUCTING | READY | DESTROYED => Ok(s),
            _ => Err(Error::Corrupt {
                segment: self.view.name().to_owned(),
                what: format!("typed record state word {s:#x}"),
                at: self.block.get(),
            }),
        }
    }

    /// The value's offset.
    pub(crate) fn value(&self) -> Offset {
        Offset::new(self.block.get().wrapping_add(self.key.value_at()))
    }

    /// Waits until the record is READY, or its builder is dead (then, if
    /// `me` is given, this process takes the build over: exactly one taker
    /// wins the CAS; if not, `Mine` only reports the death), or `deadline`.
    pub(crate) fn settle(
        &self,
        me: Option<ProcId>,
        deadline: Instant,
        name: &str,
    ) -> Result<Settled> {
        let builder = self.word(OFF_BUILDER)?;
        let event = self.event()?;
        let started = Instant::now();
        loop {
            match self.state()? {
                READY => return Ok(Settled::Ready),
                DESTROYED => return Ok(Settled::Gone),
                _ => {}
            }
            let b = builder.load(Ordering::SeqCst);
            let dead = ProcId::from_raw(b).is_none_or(|p| !p.is_alive());
            if dead {
                let Some(me) = me else {
                    return Ok(Settled::Mine);
                };
                if builder
                    .compare_exchange(b, me.raw(), Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    return Ok(Settled::Mine);
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout {
                    segment: self.view.name().to_owned(),
                    what: format!("{name:?} to be constructed"),
                    waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                });
            }
            // Woken by `finish` (READY), or at the slice's end to read the
            // builder's liveness again.
            event.wait_until((now + SLICE).min(deadline), || {
                let state = self.word(0).map(|w| w.load(Ordering::SeqCst));
                state.map_or(true, |s| s != CONSTRUCTING).then_some(())
            });
        }
    }

    /// Writes the value and makes the record READY, waking its waiters.
    pub(crate) fn finish(&self, bytes: &[u8]) -> Result<()> {
        self.view.write_bytes(self.value(), bytes)?;
        // SYNC POINT: READY is stored after the value (SeqCst, with the
        // value's volatile copy before it in program order); its partner is
        // the SeqCst load of the state in `settle` and `Shared::get`,
        // before they read the value.
        self.word(0)?.store(READY, Ordering::SeqCst);
        self.event()?.notify_all();
        Ok(())
    }

    /// Gives a build up (the constructor panicked): any waiter may take it.
    pub(crate) fn abandon(&self, me: ProcId) {
        if let Ok(w) = self.word(OFF_BUILDER) {
            let _ = w.compare_exchange(me.raw(), 0, Ordering::SeqCst, Ordering::SeqCst);
        }
        if let Ok(e) = self.event() {
            e.notify_all();
        }
    }

    /// Marks a READY record DESTROYED (one winner among destroyers).
    pub(crate) fn destroy(&self) -> Result<bool> {
        Ok(self
            .word(0)?
            .compare_exchange(READY, DESTROYED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok())
    }
}
