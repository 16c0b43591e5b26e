//! Checked reads and writes stop at the size the allocation asked for,
//! not at the rounded block: against a model of requested sizes, through
//! every way a block is handed out (carved from a bin, popped from a class
//! cache, aligned, huge) and after frees by the other handle (remote frees
//! taken in, blocks reused).

mod common;

use proptest::prelude::*;
use shm_layout::{Error, Offset, ShmAllocator, TypedOffset};
use std::collections::BTreeMap;

#[test]
fn a_write_past_the_size_asked_for_is_refused() {
    let seg = common::segment(2 << 20);
    let h = common::attach(&seg);
    let at = h.alloc(100).unwrap();
    assert_eq!(h.usable_size(at).unwrap(), 112);
    assert_eq!(h.requested_size(at).unwrap(), 100);
    h.write(at, &[7; 100]).unwrap();
    let refused = h.write(at, &[7; 101]);
    assert!(
        matches!(
            refused,
            Err(Error::OutOfBounds { offset, len: 101, block_len: 100 }) if offset == at.get()
        ),
        "{refused:?}"
    );
    assert!(matches!(
        h.write_at(at, 99, &[1, 2]),
        Err(Error::OutOfBounds { block_len: 100, .. })
    ));
    assert!(matches!(
        h.read(at, 101),
        Err(Error::OutOfBounds { block_len: 100, .. })
    ));
    let words: shm_layout::Result<Vec<u64>> = h.read_slice(TypedOffset::<u64>::new(at), 13);
    assert!(matches!(
        words,
        Err(Error::OutOfBounds {
            len: 104,
            block_len: 100,
            ..
        })
    ));
    assert_eq!(h.read(at, 100).unwrap(), vec![7; 100]);
    // The zero-copy path still reaches the rounded end.
    assert!(h.block_ptr(at, 0, 112).is_ok());
    assert!(h.block_ptr(at, 0, 113).is_err());
    // Freed into the class cache and handed out again for another size.
    h.free(at).unwrap();
    let again = h.alloc(97).unwrap();
    assert_eq!(again, at, "the cached block comes back");
    assert_eq!(h.requested_size(again).unwrap(), 97);
    assert!(h.write(again, &[0; 98]).is_err());
    // A huge block: the request, not the run.
    let big = h.alloc(200_001).unwrap();
    assert_eq!(h.requested_size(big).unwrap(), 200_001);
    assert!(h.usable_size(big).unwrap() > 200_001);
    assert!(h.write_at(big, 200_000, &[1]).is_ok());
    assert!(matches!(
        h.write_at(big, 200_000, &[1, 2]),
        Err(Error::OutOfBounds {
            block_len: 200_001,
            ..
        })
    ));
    h.free(big).unwrap();
    h.free(again).unwrap();
}

#[derive(Clone, Debug)]
enum Op {
    Alloc { who: usize, size: u64, align: u64 },
    Free { who: usize, pick: usize },
    Write { pick: usize, at: u64, len: u64 },
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let size = prop_oneof![6 => 1u64..=300, 3 => 301u64..=5000, 1 => 5001u64..=80_000];
    prop::collection::vec(
        prop_oneof![
            3 => (0..2usize, size, prop::sample::select(vec![8u64, 16, 64, 4096]))
                .prop_map(|(who, size, align)| Op::Alloc { who, size, align }),
            2 => (0..2usize, any::<usize>()).prop_map(|(who, pick)| Op::Free { who, pick }),
            3 => (any::<usize>(), 0u64..=80_100, 0u64..=300)
                .prop_map(|(pick, at, len)| Op::Write { pick, at, len }),
        ],
        1..200,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn checked_access_stops_at_the_requested_size(ops in ops()) {
        let seg = common::segment_with(2 << 20, 12, 2, 4);
        let heaps = [common::attach(&seg), common::attach(&seg)];
        // start -> requested size
        let mut live: BTreeMap<u64, u64> = BTreeMap::new();
        let mut order: Vec<u64> = Vec::new();
        for op in ops {
            match op {
                Op::Alloc { who, size, align } => match heaps[who].alloc_aligned(size, align) {
                    Ok(at) => {
                        prop_assert_eq!(heaps[who].requested_size(at).unwrap(), size);
                        prop_assert!(heaps[who].usable_size(at).unwrap() >= size);
                        live.insert(at.get(), size);
                        order.push(at.get());
                    }
                    Err(Error::OutOfMemory { .. }) => {}
                    Err(e) => panic!("alloc({size}, {align}): {e}"),
                },
                Op::Free { .. } | Op::Write { .. } if order.is_empty() => {}
                Op::Free { who, pick } => {
                    let a = order.swap_remove(pick % order.len());
                    live.remove(&a);
                    heaps[who].free(Offset::new(a)).unwrap();
                }
                Op::Write { pick, at, len } => {
                    let a = order[pick % order.len()];
                    let size = live[&a];
                    let at = at % (size + 20);
                    let data = vec![0xA5u8; len as usize];
                    let r = heaps[pick % 2].write_at(Offset::new(a), at, &data);
                    if at + len <= size {
                        prop_assert!(r.is_ok(), "{:?}", r);
                        prop_assert_eq!(heaps[0].read(Offset::new(a), size).unwrap().len(), size as usize);
                    } else {
                        let refused = matches!(r, Err(Error::OutOfBounds { offset, len: l, block_len })
                            if offset == a && l == at + len && block_len == size);
                        prop_assert!(refused, "{:?}", r);
                        let r = heaps[1].read(Offset::new(a), size + 1);
                        let refused = matches!(r, Err(Error::OutOfBounds { block_len, .. }) if block_len == size);
                        prop_assert!(refused, "{:?}", r);
                    }
                }
            }
        }
        for a in order {
            prop_assert_eq!(heaps[1].requested_size(Offset::new(a)).unwrap(), live[&a]);
            heaps[(a / 16 % 2) as usize].free(Offset::new(a)).unwrap();
        }
    }
}
