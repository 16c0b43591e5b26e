//! Random alloc/free sequences against a model of live ranges: no overlap,
//! in bounds, aligned, nothing lost, and coalescing: after freeing
//! everything, one allocation of the whole pool succeeds. Two handles share
//! the segment, so frees cross arenas (the remote-free path) as well.

mod common;

use proptest::prelude::*;
use shm_layout::{Error, Offset, RegionId, ShmAllocator};
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
enum Op {
    Alloc { who: usize, size: u64, align: u64 },
    Free { who: usize, pick: usize },
}

fn size() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 1u64..=256,
        3 => 257u64..=8192,
        1 => 8193u64..=70_000,
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => (0..2usize, size(), prop::sample::select(vec![8u64, 16, 64, 512, 4096]))
                .prop_map(|(who, size, align)| Op::Alloc { who, size, align }),
            2 => (0..2usize, any::<usize>()).prop_map(|(who, pick)| Op::Free { who, pick }),
        ],
        1..300,
    )
}

fn pattern(at: u64, len: u64) -> Vec<u8> {
    (0..len).map(|i| (at.wrapping_mul(31) ^ i) as u8).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn matches_the_model(ops in ops(), small_chunks: bool) {
        // 4 KiB chunks and 2-chunk spans make spans fill, park and go back
        // often; the default geometry exercises the big-span path.
        let seg = if small_chunks {
            common::segment_with(1 << 20, 12, 2, 4)
        } else {
            common::segment(2 << 20)
        };
        let heaps = [common::attach(&seg), common::attach(&seg)];
        let pool = seg.as_ref().region(RegionId::Pool);
        let cap = heaps[0].stats().capacity;
        // start -> (usable length, requested length)
        let mut live: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        let mut order: Vec<u64> = Vec::new();
        for op in ops {
            match op {
                Op::Alloc { who, size, align } => match heaps[who].alloc_aligned(size, align) {
                    Ok(at) => {
                        let a = at.get();
                        let usable = heaps[who].usable_size(at).unwrap();
                        prop_assert!(usable >= size);
                        prop_assert_eq!(a % align, 0);
                        prop_assert!(a >= pool.offset && a + usable <= pool.offset + pool.len);
                        if let Some((&s, &(len, _))) = live.range(..=a).next_back() {
                            prop_assert!(s + len <= a, "overlaps the block at {}", s);
                        }
                        if let Some((&s, _)) = live.range(a..).next() {
                            prop_assert!(a + usable <= s, "overlaps the block at {}", s);
                        }
                        heaps[who].write(at, &pattern(a, size)).unwrap();
                        live.insert(a, (usable, size));
                        order.push(a);
                    }
                    Err(Error::OutOfMemory { .. }) => {
                        let held: u64 = live.values().map(|v| v.0).sum();
                        // Out of memory is only allowed once a real share of
                        // the pool is held (fragmentation, spans, chunks).
                        prop_assert!(held + size > cap / 8, "OOM with {} of {} held", held, cap);
                    }
                    Err(e) => panic!("alloc({size}, {align}) failed: {e}"),
                },
                Op::Free { .. } if order.is_empty() => {}
                Op::Free { who, pick } => {
                    let a = order.swap_remove(pick % order.len());
                    let (_, size) = live.remove(&a).unwrap();
                    let at = Offset::new(a);
                    prop_assert_eq!(heaps[who].read(at, size).unwrap(), pattern(a, size));
                    heaps[who].free(at).unwrap();
                    let again = heaps[1 - who].free(at);
                    prop_assert!(matches!(again, Err(Error::DoubleFree { .. } | Error::InvalidOffset { .. })), "{:?}", again);
                }
            }
        }
        // Every live block still holds its bytes.
        for (&a, &(_, size)) in &live {
            prop_assert_eq!(heaps[0].read(Offset::new(a), size).unwrap(), pattern(a, size));
        }
        for a in order {
            heaps[(a / 16 % 2) as usize].free(Offset::new(a)).unwrap();
        }
        drop(heaps);
        // Nothing lost, and everything coalesced.
        let h = common::attach(&seg);
        let s = h.stats();
        prop_assert_eq!(s.used, 0);
        prop_assert_eq!(s.allocations, 0);
        let all = h.alloc(h.max_alloc()).unwrap();
        prop_assert_eq!(h.usable_size(all).unwrap(), h.max_alloc());
        h.free(all).unwrap();
    }
}

#[test]
fn capacity_is_reached_by_small_blocks() {
    // One handle, 4 KiB chunks: blocks of 48 bytes (64 with the header)
    // fill every chunk completely.
    let seg = common::segment_with(1 << 20, 12, 1, 2);
    let h = common::attach(&seg);
    let cap = h.stats().capacity;
    let mut n = 0u64;
    let mut blocks = Vec::new();
    while let Ok(at) = h.alloc(48) {
        blocks.push(at);
        n += 1;
    }
    assert_eq!(n * 64, cap, "every byte of the pool was handed out");
    assert_eq!(h.stats().used, cap);
    for at in blocks {
        h.free(at).unwrap();
    }
    assert_eq!(h.stats().used, 0);
    let all = h.alloc(h.max_alloc()).unwrap();
    h.free(all).unwrap();
}
