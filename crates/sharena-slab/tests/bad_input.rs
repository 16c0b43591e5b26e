//! Every bad input gets its own error and leaves the slab as it was: no
//! panic, no block handed out twice, no double free missed.

mod common;

use sharena_slab::Slab;
use shm_layout::{Error, Offset, RegionId, ShmAllocator};

fn slab() -> (Slab<common::Seg>, Offset) {
    let slab = Slab::attach(common::segment(64, 100)).unwrap();
    let live = slab.alloc(64).unwrap();
    (slab, live)
}

/// Runs `f`, checks its error with `expect`, and that nothing changed.
fn unchanged(slab: &Slab<common::Seg>, f: impl FnOnce() -> Error, expect: impl Fn(&Error) -> bool) {
    let before = slab.stats();
    let err = f();
    assert!(expect(&err), "unexpected error: {err:?}");
    assert!(!err.to_string().is_empty());
    assert_eq!(slab.stats(), before);
}

#[test]
fn bad_alignments() {
    let (slab, _) = slab();
    assert_eq!(slab.max_align(), 64);
    for align in [0, 3, 6, 128, 8192, u64::MAX] {
        unchanged(
            &slab,
            || slab.alloc_aligned(8, align).unwrap_err(),
            |e| matches!(e, Error::InvalidAlignment { align: a, max: 64 } if *a == align),
        );
    }
    for align in [1, 2, 8, 64] {
        let at = slab.alloc_aligned(8, align).unwrap();
        assert_eq!(at.get() % align, 0);
        slab.free(at).unwrap();
    }
}

#[test]
fn bad_sizes() {
    let (slab, _) = slab();
    unchanged(
        &slab,
        || slab.alloc(0).unwrap_err(),
        |e| matches!(e, Error::ZeroSize),
    );
    for size in [65, 4096, u64::MAX] {
        unchanged(
            &slab,
            || slab.alloc(size).unwrap_err(),
            |e| matches!(e, Error::SizeTooLarge { size: s, max: 64 } if *s == size),
        );
    }
}

#[test]
fn bad_frees() {
    let (slab, live) = slab();
    let pool = slab.segment().as_ref().region(RegionId::Pool);
    let past = pool.offset + slab.slot_count() * 64;
    for off in [0, 8, 4096, pool.offset - 64, past, past + 64, u64::MAX] {
        unchanged(
            &slab,
            || slab.free(Offset::new(off)).unwrap_err(),
            |e| matches!(e, Error::InvalidOffset { offset, .. } if *offset == off),
        );
    }
    for inside in [1, 8, 63] {
        let off = live.get() + inside;
        unchanged(
            &slab,
            || slab.free(Offset::new(off)).unwrap_err(),
            |e| matches!(e, Error::InvalidOffset { reason, .. } if reason.contains("start")),
        );
    }
    // A never-allocated slot and a freed one are both double frees.
    let never = Offset::new(pool.offset + 64 * 99);
    unchanged(
        &slab,
        || slab.free(never).unwrap_err(),
        |e| matches!(e, Error::DoubleFree { .. }),
    );
    slab.free(live).unwrap();
    unchanged(
        &slab,
        || slab.free(live).unwrap_err(),
        |e| matches!(e, Error::DoubleFree { offset } if *offset == live.get()),
    );
    // A freed slot is not readable through the checked API.
    assert!(matches!(
        slab.usable_size(live),
        Err(Error::InvalidOffset { .. })
    ));
    assert!(slab.read(live, 8).is_err());
}

#[test]
fn out_of_bounds_access() {
    let (slab, live) = slab();
    assert_eq!(slab.usable_size(live).unwrap(), 64);
    assert!(matches!(
        slab.write(live, &[0u8; 65]),
        Err(Error::OutOfBounds {
            len: 65,
            block_len: 64,
            ..
        })
    ));
    assert!(matches!(
        slab.read(live, 65),
        Err(Error::OutOfBounds { .. })
    ));
    slab.write_at(live, 56, &[7u8; 8]).unwrap();
    assert_eq!(slab.read(live, 64).unwrap()[56..], [7u8; 8]);
}

#[test]
fn attach_rejects_a_wrong_kind_and_bad_params() {
    assert!(matches!(
        common::segment_with(64, 10, [5000, 0, 0, 0]),
        Err(Error::BadField {
            field: "params[2]",
            ..
        })
    ));
    assert!(matches!(
        common::segment_with(64, 10, [0, 1, 0, 0]),
        Err(Error::BadField {
            field: "params[3]",
            ..
        })
    ));
    assert!(matches!(
        common::segment_with(64, 10, [0, 0, 0, 9]),
        Err(Error::BadField {
            field: "params[5]",
            ..
        })
    ));
}

#[test]
fn corrupt_state_is_reported_not_trusted() {
    use shm_layout::sync::Ordering;
    let seg = common::segment(64, 16);
    let slab = Slab::attach(seg.clone()).unwrap();
    let state = seg.as_ref().region(RegionId::State);
    let head = seg.as_ref().atomic_u64(Offset::new(state.offset)).unwrap();
    // A head naming a slot past the end.
    head.store(1000, Ordering::Relaxed);
    let other = Slab::attach(seg.clone()).unwrap();
    // Drain `slab`'s empty cache path: the refill pops the corrupt head.
    assert!(matches!(slab.alloc(8), Err(Error::Corrupt { at, .. }) if at == state.offset));
    // A cycle among slot words: slot 0 FREE and linking to itself. The
    // first pop takes it; the second meets it again, now CACHED, while the
    // head has not moved: corruption, reported, not an endless loop.
    let first = state.offset + sharena_slab::Geometry::slots_offset(64, 128);
    let w0 = seg.as_ref().atomic_u64(Offset::new(first)).unwrap();
    w0.store(1, Ordering::Relaxed); // FREE, generation 0, next = slot 0
    head.store(0, Ordering::Relaxed);
    assert!(matches!(other.alloc(8), Err(Error::Corrupt { at, .. }) if at == first));
    std::mem::forget(other);
    // A segment whose init never ran.
    std::mem::forget(slab);
    let fmt = seg
        .as_ref()
        .atomic_u64(Offset::new(state.offset + 256 + 16))
        .unwrap();
    // Format 1 (an older build's: shared cache arrays) is refused by name.
    fmt.store(0x0000_0001_424C_4153, Ordering::Relaxed);
    let old = Slab::attach(seg.clone()).unwrap_err();
    assert!(
        matches!(old, Error::Corrupt { .. }) && old.to_string().contains("format 1"),
        "{old}"
    );
    fmt.store(0, Ordering::Relaxed);
    assert!(matches!(Slab::attach(seg), Err(Error::Corrupt { .. })));
}

/// A cache entry's published count is a hint, never trusted: the cache's
/// indices are in its holder's process, so a count past the capacity
/// changes no allocation, and the `available` it feeds is clamped.
#[test]
fn a_corrupt_published_count_is_not_trusted() {
    use shm_layout::sync::Ordering;
    let seg = common::segment(64, 16);
    let slab = Slab::attach(seg.clone()).unwrap();
    let state = seg.as_ref().region(RegionId::State);
    let entry = state.offset + 512 + u64::from(slab.cache_id()) * 128;
    let count = seg.as_ref().atomic_u64(Offset::new(entry + 8)).unwrap();
    count.store(1 << 40, Ordering::Relaxed);
    let got: Vec<Offset> = std::iter::from_fn(|| slab.alloc(8).ok()).collect();
    assert_eq!(got.len(), 16);
    assert!(matches!(
        slab.alloc(8),
        Err(Error::OutOfMemory { available, .. }) if available <= 16 * 64
    ));
    count.store(1 << 40, Ordering::Relaxed);
    for at in got {
        slab.free(at).unwrap();
    }
    assert_eq!(slab.stats().allocations, 0);
}

#[test]
fn strict_free_flag_still_catches_double_frees() {
    let slab = Slab::attach(common::segment_with(64, 10, [0, 0, 1, 0]).unwrap()).unwrap();
    assert!(slab.geometry().strict_free);
    let a = slab.alloc(8).unwrap();
    slab.free(a).unwrap();
    assert!(matches!(slab.free(a), Err(Error::DoubleFree { .. })));
    assert!(matches!(
        common::segment_with(64, 10, [0, 0, 2, 0]),
        Err(Error::BadField {
            field: "params[4]",
            ..
        })
    ));
}
