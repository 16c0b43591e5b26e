//! Handles against a model: random alloc, free, write, compact and read
//! sequences; every live handle reads what was last written to it, stale
//! handles are errors, and check() passes throughout.

mod support;

use proptest::prelude::*;
use sharena_handles::Handle;
use shm_layout::Recover;
use support::{heap, pattern};

#[derive(Clone, Debug)]
enum Op {
    Alloc(u64),
    Free(usize),
    Write(usize, u64),
    Compact,
    Pin(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u64..3000).prop_map(Op::Alloc),
        3 => any::<usize>().prop_map(Op::Free),
        2 => (any::<usize>(), any::<u64>()).prop_map(|(i, s)| Op::Write(i, s)),
        1 => Just(Op::Compact),
        1 => any::<usize>().prop_map(Op::Pin),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn handles_match_a_model(ops in proptest::collection::vec(op(), 1..200)) {
        let h = heap(24, 64);
        let mut live: Vec<(Handle, u64, u64)> = Vec::new(); // handle, size, seed
        let mut dead: Vec<Handle> = Vec::new();
        let mut model_bytes = 0u64;
        for op in ops {
            match op {
                Op::Alloc(size) => {
                    if let Ok(x) = h.alloc(size) {
                        h.write(x, &pattern(x.raw(), size as usize)).unwrap();
                        live.push((x, size, x.raw()));
                        model_bytes += size.next_multiple_of(8);
                    } else {
                        // Only when it does not fit (or no handle is left).
                        let s = h.stats();
                        prop_assert!(s.capacity - s.high_water < size.next_multiple_of(8)
                            || live.len() as u64 == h.handle_capacity());
                    }
                }
                Op::Free(i) if !live.is_empty() => {
                    let (x, size, _) = live.swap_remove(i % live.len());
                    h.free(x).unwrap();
                    dead.push(x);
                    model_bytes -= size.next_multiple_of(8);
                }
                Op::Write(i, seed) if !live.is_empty() => {
                    let k = i % live.len();
                    let (x, size, _) = live[k];
                    h.write(x, &pattern(seed, size as usize)).unwrap();
                    live[k].2 = seed;
                }
                Op::Compact => {
                    let r = h.compact().unwrap();
                    prop_assert!(r.complete);
                    prop_assert!(h.stats().high_water == model_bytes);
                }
                Op::Pin(i) if !live.is_empty() => {
                    let (x, size, _) = live[i % live.len()];
                    let p = h.pin(x).unwrap();
                    let at = p.offset();
                    prop_assert!(h.compact().unwrap().complete);
                    prop_assert_eq!(p.offset(), at);
                    prop_assert_eq!(p.size(), size);
                }
                _ => {}
            }
            prop_assert_eq!(h.stats().used, model_bytes);
        }
        for &(x, size, seed) in &live {
            prop_assert_eq!(h.read(x, size).unwrap(), pattern(seed, size as usize));
        }
        for &x in &dead {
            prop_assert!(h.read(x, 1).is_err());
        }
        let c = h.check().unwrap();
        prop_assert!(c.ok(), "{:?}", c.problems);
        prop_assert_eq!(c.used_bytes, model_bytes);
    }
}
