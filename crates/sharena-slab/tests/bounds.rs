//! Checked reads and writes stop at the size the allocation asked for, not
//! at the slot: against a model of requested sizes, through every way a
//! slot is handed out (a cache hit, a refill from the stack or the
//! never-used counter, a thread that does not own the cache) and after
//! frees by another attachment (the slot reused for another size).

mod common;

use proptest::prelude::*;
use sharena_slab::Slab;
use shm_layout::{Error, Offset, ShmAllocator, TypedOffset};
use std::collections::BTreeMap;

#[test]
fn a_write_past_the_size_asked_for_is_refused() {
    let slab = Slab::attach(common::segment(64, 100)).unwrap();
    let at = slab.alloc(40).unwrap();
    assert_eq!(slab.usable_size(at).unwrap(), 64);
    assert_eq!(slab.requested_size(at).unwrap(), 40);
    slab.write(at, &[7; 40]).unwrap();
    let refused = slab.write(at, &[7; 41]);
    assert!(
        matches!(
            refused,
            Err(Error::OutOfBounds { offset, len: 41, block_len: 40 }) if offset == at.get()
        ),
        "{refused:?}"
    );
    assert!(matches!(
        slab.write_at(at, 39, &[1, 2]),
        Err(Error::OutOfBounds {
            len: 41,
            block_len: 40,
            ..
        })
    ));
    assert!(matches!(
        slab.write_at(at, u64::MAX, &[1]),
        Err(Error::OutOfBounds {
            len: u64::MAX,
            block_len: 40,
            ..
        })
    ));
    assert!(matches!(
        slab.read(at, 41),
        Err(Error::OutOfBounds { block_len: 40, .. })
    ));
    let mut buf = [0u8; 41];
    assert!(matches!(
        slab.read_into(at, &mut buf),
        Err(Error::OutOfBounds { block_len: 40, .. })
    ));
    let words: shm_layout::Result<Vec<u64>> = slab.read_slice(TypedOffset::<u64>::new(at), 6);
    assert!(matches!(
        words,
        Err(Error::OutOfBounds {
            len: 48,
            block_len: 40,
            ..
        })
    ));
    assert_eq!(slab.read(at, 40).unwrap(), vec![7; 40]);
    // Nothing was written past the size asked for.
    let mut raw = [0u8; 64];
    let p = slab.block_ptr(at, 0, 64).unwrap();
    // SAFETY: `block_ptr` checked the 64 bytes lie in this live slot.
    unsafe { std::ptr::copy_nonoverlapping(p.as_ptr(), raw.as_mut_ptr(), 64) };
    assert_eq!(raw[..40], [7; 40]);
    assert_eq!(raw[40..], [0; 24]);
    // The zero-copy path still reaches the end of the slot.
    assert!(slab.block_ptr(at, 0, 64).is_ok());
    assert!(slab.block_ptr(at, 0, 65).is_err());
    // Freed into the cache and handed out again for another size.
    slab.free(at).unwrap();
    assert!(matches!(
        slab.requested_size(at),
        Err(Error::InvalidOffset { .. })
    ));
    let again = slab.alloc(9).unwrap();
    assert_eq!(again, at, "the cached slot comes back");
    assert_eq!(slab.requested_size(again).unwrap(), 9);
    assert!(slab.write(again, &[0; 9]).is_ok());
    assert!(slab.write(again, &[0; 10]).is_err());
    let full = slab.alloc(64).unwrap();
    assert_eq!(slab.requested_size(full).unwrap(), 64);
    slab.write(full, &[1; 64]).unwrap();
    slab.free(full).unwrap();
    slab.free(again).unwrap();
}

/// A slot size the caller gave as 3 is rounded to 8 (slots are multiples
/// of 8, as `sharena::Slab::options` rounds them): an allocation of 3
/// bytes still refuses the fourth.
#[test]
fn a_rounded_slot_keeps_the_size_asked_for() {
    let slab = Slab::attach(common::segment(8, 16)).unwrap();
    let at = slab.alloc(3).unwrap();
    assert_eq!(slab.usable_size(at).unwrap(), 8);
    slab.write(at, &[1, 2, 3]).unwrap();
    assert!(matches!(
        slab.write(at, &[1, 2, 3, 4]),
        Err(Error::OutOfBounds {
            len: 4,
            block_len: 3,
            ..
        })
    ));
    assert_eq!(slab.read(at, 3).unwrap(), [1, 2, 3]);
    slab.free(at).unwrap();
}

/// Typed values are allocated at their size: a `u32` in an 8-byte slot
/// reads and writes as a `u32` and refuses a `u64`.
#[test]
fn typed_values_are_bounded_by_their_type() {
    let slab = Slab::attach(common::segment(8, 16)).unwrap();
    let v = slab.alloc_value(&0xDEAD_BEEFu32).unwrap();
    assert_eq!(slab.read_value(v).unwrap(), 0xDEAD_BEEF);
    assert_eq!(slab.requested_size(v.offset()).unwrap(), 4);
    let wide = TypedOffset::<u64>::new(v.offset());
    assert!(matches!(
        slab.read_value(wide),
        Err(Error::OutOfBounds { block_len: 4, .. })
    ));
    assert!(matches!(
        slab.write_value(wide, &1),
        Err(Error::OutOfBounds { block_len: 4, .. })
    ));
    let s = slab.alloc_slice(&[1u16, 2, 3]).unwrap();
    assert_eq!(slab.read_slice(s, 3).unwrap(), [1, 2, 3]);
    assert!(slab.read_slice(s, 4).is_err());
}

/// A slack that leaves no byte (a corrupt word) is reported, not trusted.
#[test]
fn a_corrupt_slack_is_reported() {
    use shm_layout::sync::Ordering;
    use shm_layout::RegionId;
    let seg = common::segment(64, 4);
    let slab = Slab::attach(seg.clone()).unwrap();
    let at = slab.alloc(64).unwrap();
    let state = seg.as_ref().region(RegionId::State);
    let first = state.offset + sharena_slab::Geometry::slots_offset(64, 128);
    let pool = seg.as_ref().region(RegionId::Pool);
    let index = (at.get() - pool.offset) / 64;
    let word = seg
        .as_ref()
        .atomic_u64(Offset::new(first + 8 * index))
        .unwrap();
    let raw = word.load(Ordering::Relaxed);
    word.store(raw | (64 << 32), Ordering::Relaxed);
    assert!(matches!(
        slab.requested_size(at),
        Err(Error::Corrupt { at: w, .. }) if w == first + 8 * index
    ));
    assert!(matches!(slab.write(at, &[0]), Err(Error::Corrupt { .. })));
    word.store(raw | (u64::from(u32::MAX) << 32), Ordering::Relaxed);
    assert!(matches!(slab.read(at, 1), Err(Error::Corrupt { .. })));
    word.store(raw | (63 << 32), Ordering::Relaxed);
    assert_eq!(slab.requested_size(at).unwrap(), 1);
    word.store(raw, Ordering::Relaxed);
    slab.free(at).unwrap();
}

#[derive(Clone, Debug)]
enum Op {
    /// Handle `who` (2: the second thread of handle 0, which does not own
    /// its cache) allocates `size` (taken modulo the slot size, plus one).
    Alloc {
        who: usize,
        size: u64,
    },
    Free {
        who: usize,
        pick: usize,
    },
    Write {
        pick: usize,
        at: u64,
        len: u64,
    },
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => (0..3usize, any::<u64>()).prop_map(|(who, size)| Op::Alloc { who, size }),
            2 => (0..3usize, any::<usize>()).prop_map(|(who, pick)| Op::Free { who, pick }),
            3 => (any::<usize>(), 0u64..=100, 0u64..=80)
                .prop_map(|(pick, at, len)| Op::Write { pick, at, len }),
        ],
        1..200,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn checked_access_stops_at_the_requested_size(
        ops in ops(),
        slot in prop::sample::select(vec![8u64, 24, 40, 64]),
    ) {
        // Small caches so that refills and flushes happen often.
        let seg = common::segment_with(slot, 40, [0, 4, 0, 0]).unwrap();
        let slabs = [Slab::attach(seg.clone()).unwrap(), Slab::attach(seg).unwrap()];
        // The first use claims each cache for this thread.
        for s in &slabs {
            s.free(s.alloc(1).unwrap()).unwrap();
        }
        // start -> requested size
        let mut live: BTreeMap<u64, u64> = BTreeMap::new();
        let mut order: Vec<u64> = Vec::new();
        type Call<'a> = &'a (dyn Fn(&Slab<common::Seg>) -> shm_layout::Result<Offset> + Sync);
        let run = |who: usize, f: Call<'_>| {
            if who == 2 {
                // Another thread of handle 0: it bypasses the cache.
                std::thread::scope(|scope| scope.spawn(|| f(&slabs[0])).join().unwrap())
            } else {
                f(&slabs[who])
            }
        };
        {
            for op in ops {
                match op {
                    Op::Alloc { who, size } => {
                        let size = size % slot + 1;
                        match run(who, &|s| s.alloc(size)) {
                            Ok(at) => {
                                assert_eq!(slabs[0].requested_size(at).unwrap(), size);
                                assert_eq!(slabs[1].usable_size(at).unwrap(), slot);
                                assert!(live.insert(at.get(), size).is_none(), "handed out twice");
                                order.push(at.get());
                            }
                            Err(Error::OutOfMemory { .. }) => {}
                            Err(e) => panic!("alloc({size}): {e}"),
                        }
                    }
                    Op::Free { .. } | Op::Write { .. } if order.is_empty() => {}
                    Op::Free { who, pick } => {
                        let a = order.swap_remove(pick % order.len());
                        live.remove(&a);
                        run(who, &|s| s.free(Offset::new(a)).map(|()| Offset::new(a))).unwrap();
                        assert!(matches!(
                            slabs[who % 2].write(Offset::new(a), &[0]),
                            Err(Error::InvalidOffset { .. })
                        ));
                    }
                    Op::Write { pick, at, len } => {
                        let a = order[pick % order.len()];
                        let size = live[&a];
                        let at = at % (size + 20);
                        let data = vec![0xA5u8; len as usize];
                        let r = slabs[pick % 2].write_at(Offset::new(a), at, &data);
                        if at + len <= size {
                            assert!(r.is_ok(), "{r:?}");
                            assert_eq!(slabs[0].read(Offset::new(a), size).unwrap().len(), size as usize);
                        } else {
                            let refused = matches!(r, Err(Error::OutOfBounds { offset, len: l, block_len })
                                if offset == a && l == at + len && block_len == size);
                            assert!(refused, "{r:?}");
                            let r = slabs[1].read(Offset::new(a), size + 1);
                            let refused = matches!(r, Err(Error::OutOfBounds { block_len, .. }) if block_len == size);
                            assert!(refused, "{r:?}");
                        }
                    }
                }
            }
        }
        for a in order {
            prop_assert_eq!(slabs[1].requested_size(Offset::new(a)).unwrap(), live[&a]);
            slabs[(a / 8 % 2) as usize].free(Offset::new(a)).unwrap();
        }
        prop_assert_eq!(slabs[0].stats().allocations, 0);
    }
}
