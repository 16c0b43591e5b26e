//! The one place that names atomics (`clippy.toml` forbids them elsewhere).
//!
//! Under `cfg(shm_loom)` every type here is loom's, so the lock-free
//! structures built from them can be model-checked; otherwise they are
//! `core`'s. Nothing else in the workspace names `core::sync::atomic` (a
//! `clippy.toml` rule enforces that).
//!
//! Loom's atomics wrap a runtime object and cannot be laid over mapped bytes,
//! so [`atomic_u64_at`] and [`atomic_u32_at`] exist only without loom: loom
//! tests build the same `#[repr(C)]` structs on the heap instead.
#![allow(clippy::disallowed_types)]

#[cfg(not(shm_loom))]
use core::sync::atomic as imp;
#[cfg(shm_loom)]
use loom::sync::atomic as imp;

pub use core::sync::atomic::Ordering;

/// A memory fence (loom's under `cfg(shm_loom)`).
#[inline(always)]
pub fn fence(order: Ordering) {
    imp::fence(order);
}

macro_rules! shim_atomic {
    ($(#[$doc:meta])* $name:ident, $prim:ty) => {
        $(#[$doc])*
        ///
        /// A `repr(transparent)` wrapper: without loom it has the layout of
        /// the primitive, so it may be laid over mapped bytes.
        #[derive(Debug, Default)]
        #[repr(transparent)]
        pub struct $name(imp::$name);

        impl $name {
            /// The crash explorer's hook (`crate::crash`, feature
            /// `crash-hooks`): a write to this word is about to happen.
            /// Without the feature it is nothing.
            #[inline(always)]
            fn write_hook(&self) {
                #[cfg(all(feature = "crash-hooks", not(shm_loom)))]
                crate::crash::on_write(core::ptr::from_ref(self) as usize);
            }

            /// A new atomic holding `v`.
            #[cfg(not(shm_loom))]
            #[inline(always)]
            pub const fn new(v: $prim) -> Self {
                $name(imp::$name::new(v))
            }
            /// A new atomic holding `v`.
            #[cfg(shm_loom)]
            pub fn new(v: $prim) -> Self {
                $name(imp::$name::new(v))
            }
            /// See `core::sync::atomic`.
            #[inline(always)]
            pub fn load(&self, order: Ordering) -> $prim {
                self.0.load(order)
            }
            /// See `core::sync::atomic`.
            #[inline(always)]
            pub fn store(&self, v: $prim, order: Ordering) {
                self.write_hook();
                self.0.store(v, order);
            }
            /// See `core::sync::atomic`.
            #[inline(always)]
            pub fn swap(&self, v: $prim, order: Ordering) -> $prim {
                self.write_hook();
                self.0.swap(v, order)
            }
            /// See `core::sync::atomic`.
            #[inline(always)]
            pub fn compare_exchange(
                &self,
                current: $prim,
                new: $prim,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$prim, $prim> {
                self.write_hook();
                self.0.compare_exchange(current, new, success, failure)
            }
            /// See `core::sync::atomic`.
            #[inline(always)]
            pub fn compare_exchange_weak(
                &self,
                current: $prim,
                new: $prim,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$prim, $prim> {
                self.write_hook();
                self.0.compare_exchange_weak(current, new, success, failure)
            }
        }
    };
    ($(#[$doc:meta])* $name:ident, $prim:ty, int) => {
        shim_atomic!($(#[$doc])* $name, $prim);
        impl $name {
            /// See `core::sync::atomic`.
            #[inline(always)]
            pub fn fetch_add(&self, v: $prim, order: Ordering) -> $prim {
                self.write_hook();
                self.0.fetch_add(v, order)
            }
            /// See `core::sync::atomic`.
            #[inline(always)]
            pub fn fetch_sub(&self, v: $prim, order: Ordering) -> $prim {
                self.write_hook();
                self.0.fetch_sub(v, order)
            }
            /// See `core::sync::atomic`.
            #[inline(always)]
            pub fn fetch_or(&self, v: $prim, order: Ordering) -> $prim {
                self.write_hook();
                self.0.fetch_or(v, order)
            }
            /// See `core::sync::atomic`.
            #[inline(always)]
            pub fn fetch_and(&self, v: $prim, order: Ordering) -> $prim {
                self.write_hook();
                self.0.fetch_and(v, order)
            }
            /// See `core::sync::atomic`.
            #[inline(always)]
            pub fn fetch_max(&self, v: $prim, order: Ordering) -> $prim {
                self.write_hook();
                self.0.fetch_max(v, order)
            }
        }
    };
}

shim_atomic!(
    /// A 64-bit atomic (the unit of every shared word in a segment).
    AtomicU64, u64, int
);
shim_atomic!(
    /// A 32-bit atomic.
    AtomicU32, u32, int
);
shim_atomic!(
    /// A pointer-sized atomic (process-local use only; never in a segment).
    AtomicUsize, usize, int
);
shim_atomic!(
    /// A boolean atomic.
    AtomicBool, bool
);

/// Busy-wait hint for one turn of a retry loop.
///
/// Under loom this yields to the model scheduler, which is not fair: every
/// retry or spin loop must call it (docs/ARCHITECTURE.md, invariants).
#[inline]
pub fn spin_loop() {
    #[cfg(not(shm_loom))]
    core::hint::spin_loop();
    #[cfg(shm_loom)]
    loom::thread::yield_now();
}

/// Gives the rest of this time slice away (loom: a model yield).
#[inline]
pub fn yield_now() {
    #[cfg(not(shm_loom))]
    std::thread::yield_now();
    #[cfg(shm_loom)]
    loom::thread::yield_now();
}

/// A process-unique, never-reused id of the calling thread (nonzero):
/// how allocator handles tell the thread that owns their cache or arena
/// from the others. Process-local; never stored in a segment.
#[cfg(not(shm_loom))]
#[inline(always)]
pub fn thread_id() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static THREAD_ID: Cell<u64> = const { Cell::new(0) };
    }
    static NEXT_THREAD_ID: AtomicU64 = AtomicU64::new(1);
    THREAD_ID.with(|c| {
        let id = c.get();
        if id != 0 {
            return id;
        }
        // Relaxed: the RMW alone makes ids unique.
        let id = NEXT_THREAD_ID.fetch_add(1, Ordering::Relaxed);
        c.set(id);
        id
    })
}

/// Views a `u64` in mapped memory as an atomic.
///
/// # Safety
/// 1. `ptr` is 8-byte aligned and valid for reads and writes for `'a`.
/// 2. Every access to those bytes, by any process, for `'a` is atomic (the
///    segment format says which words are atomics; nothing touches them
///    non-atomically after initialisation).
#[cfg(not(shm_loom))]
#[inline(always)]
pub unsafe fn atomic_u64_at<'a>(ptr: *mut u64) -> &'a AtomicU64 {
    debug_assert!(ptr.is_aligned());
    // SAFETY: alignment and validity are the caller's contract (1), and all
    // concurrent accesses are atomic (2), as `AtomicU64::from_ptr` requires;
    // the wrapper is `repr(transparent)`, so the cast keeps the layout.
    unsafe { &*core::ptr::from_ref(imp::AtomicU64::from_ptr(ptr)).cast::<AtomicU64>() }
}

/// Views a `u32` in mapped memory as an atomic.
///
/// # Safety
/// As [`atomic_u64_at`], with 4-byte alignment.
#[cfg(not(shm_loom))]
#[inline(always)]
pub unsafe fn atomic_u32_at<'a>(ptr: *mut u32) -> &'a AtomicU32 {
    debug_assert!(ptr.is_aligned());
    // SAFETY: alignment and validity are the caller's contract, and all
    // concurrent accesses are atomic, as `AtomicU32::from_ptr` requires;
    // the wrapper is `repr(transparent)`, so the cast keeps the layout.
    unsafe { &*core::ptr::from_ref(imp::AtomicU32::from_ptr(ptr)).cast::<AtomicU32>() }
}
