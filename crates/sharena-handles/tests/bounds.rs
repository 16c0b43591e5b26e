//! Checked reads and writes stop at the size the allocation asked for,
//! not at the block rounded up to 8: against a model of requested sizes,
//! through reuse of entries and compaction (blocks move, bounds stay).

mod support;

use proptest::prelude::*;
use sharena_handles::Handle;
use shm_layout::{Error, Recover};
use support::{heap, pattern};

#[test]
fn a_write_past_the_size_asked_for_is_refused() {
    let hp = heap(16, 64);
    let a = hp.alloc(100).unwrap();
    assert_eq!(hp.size_of(a).unwrap(), 100);
    assert_eq!(hp.usable_size(a).unwrap(), 104);
    hp.write(a, &[7; 100]).unwrap();
    let at = hp.pin(a).unwrap().offset().get();
    let refused = hp.write(a, &[7; 101]);
    assert!(
        matches!(refused, Err(Error::OutOfBounds { offset, len: 101, block_len: 100 }) if offset == at),
        "{refused:?}"
    );
    assert!(matches!(
        hp.read(a, 101),
        Err(Error::OutOfBounds {
            len: 101,
            block_len: 100,
            ..
        })
    ));
    {
        let pin = hp.pin(a).unwrap();
        assert_eq!(pin.size(), 100);
        assert_eq!(pin.usable_size(), 104);
        assert!(matches!(
            pin.write_at(99, &[1, 2]),
            Err(Error::OutOfBounds {
                len: 101,
                block_len: 100,
                ..
            })
        ));
        let mut out = [0; 2];
        assert!(pin.read_at(99, &mut out).is_err());
        pin.write_at(99, &[9]).unwrap();
        // The zero-copy path reaches the rounded end, and no further.
        assert!(pin.ptr(0, 104).is_ok());
        assert!(pin.ptr(100, 4).is_ok());
        assert!(matches!(
            pin.ptr(0, 105),
            Err(Error::OutOfBounds { block_len: 104, .. })
        ));
    }
    let mut want = vec![7; 100];
    want[99] = 9;
    assert_eq!(hp.read(a, 100).unwrap(), want);
    // Moved by compaction: the bounds move with it.
    let b = hp.alloc(13).unwrap();
    hp.free(a).unwrap();
    assert_eq!(hp.compact().unwrap().blocks_moved, 1);
    assert!(hp.write(b, &[1; 14]).is_err());
    hp.write(b, &[1; 13]).unwrap();
    assert_eq!(hp.usable_size(b).unwrap(), 16);
    // The entry reused for another size.
    hp.free(b).unwrap();
    let c = hp.alloc(3).unwrap();
    assert!(matches!(
        hp.write(c, &[0; 4]),
        Err(Error::OutOfBounds { block_len: 3, .. })
    ));
    assert_eq!(hp.usable_size(c).unwrap(), 8);
    assert!(hp.usable_size(a).is_err(), "a stale handle has no size");
}

#[derive(Clone, Debug)]
enum Op {
    Alloc(u64),
    Free(usize),
    Compact,
    Probe(usize, u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u64..300).prop_map(Op::Alloc),
        2 => any::<usize>().prop_map(Op::Free),
        1 => Just(Op::Compact),
        4 => (any::<usize>(), 0u64..16).prop_map(|(i, d)| Op::Probe(i, d)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// Every live handle accepts exactly the bytes its allocation asked
    /// for: `write_at(at, n)` succeeds iff `at + n <= size`, and a refusal
    /// names that size; `usable_size` is the size rounded up to 8.
    #[test]
    fn bounds_match_the_requested_sizes(ops in proptest::collection::vec(op(), 1..150)) {
        let hp = heap(16, 64);
        hp.set_auto_compact(true);
        let mut live: Vec<(Handle, u64)> = Vec::new();
        for op in ops {
            match op {
                Op::Alloc(size) => {
                    if let Ok(x) = hp.alloc(size) {
                        hp.write(x, &pattern(x.raw(), size as usize)).unwrap();
                        live.push((x, size));
                    }
                }
                Op::Free(i) if !live.is_empty() => {
                    let (x, _) = live.swap_remove(i % live.len());
                    hp.free(x).unwrap();
                }
                Op::Compact => {
                    prop_assert!(hp.compact().unwrap().complete);
                }
                Op::Probe(i, d) if !live.is_empty() => {
                    let (x, size) = live[i % live.len()];
                    prop_assert_eq!(hp.size_of(x).unwrap(), size);
                    prop_assert_eq!(hp.usable_size(x).unwrap(), size.next_multiple_of(8));
                    let at = size.saturating_sub(d);
                    let fits = (size - at) as usize;
                    let pin = hp.pin(x).unwrap();
                    prop_assert!(pin.write_at(at, &vec![0xA5; fits]).is_ok());
                    let over = pin.write_at(at, &vec![0x5A; fits + 1]);
                    prop_assert!(
                        matches!(over, Err(Error::OutOfBounds { offset, len, block_len })
                            if offset == pin.offset().get() && len == size + 1 && block_len == size),
                        "{:?}", over
                    );
                    let mut back = vec![0; fits];
                    pin.read_at(at, &mut back).unwrap();
                    prop_assert_eq!(back, vec![0xA5; fits]);
                    drop(pin);
                    prop_assert!(hp.read(x, size + 1).is_err());
                    prop_assert_eq!(hp.read(x, size).unwrap().len() as u64, size);
                }
                _ => {}
            }
        }
        prop_assert!(hp.check().unwrap().ok());
    }
}
