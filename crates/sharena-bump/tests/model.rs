//! Random alloc / alloc_aligned / reset / mark / rewind sequences against a
//! model (live ranges in a `BTreeMap`). One thread, so placement is exact:
//! each block goes at the first aligned offset past the previous one and
//! its header, and the pool fills to the last byte.

mod common;

use proptest::prelude::*;
use sharena_bump::{Mark, ShmAllocator};
use shm_layout::Error;
use std::collections::BTreeMap;

const POOL: u64 = 16 * 1024;
const CHUNK: u64 = 256;

#[derive(Clone, Debug)]
enum Op {
    Alloc { size: u64, align_shift: u32 },
    Big { size: u64 },
    Fill,
    Reset,
    Mark,
    Rewind(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (1u64..200, 0u32..8).prop_map(|(size, align_shift)| Op::Alloc { size, align_shift }),
        1 => (1u64..200, 8u32..13).prop_map(|(size, align_shift)| Op::Alloc { size, align_shift }),
        2 => (129u64..3000).prop_map(|size| Op::Big { size }),
        1 => Just(Op::Fill),
        1 => Just(Op::Reset),
        2 => Just(Op::Mark),
        2 => (0usize..8).prop_map(Op::Rewind),
    ]
}

#[derive(Default)]
struct Model {
    /// start -> (usable length, generation), of live blocks.
    live: BTreeMap<u64, (u64, u64)>,
    /// Pool-relative bytes in use.
    used: u64,
    /// Resets and rewinds so far.
    generation: u64,
    /// The generation of the last reset.
    reset_generation: u64,
    /// The pool-relative cursor of the last reset or rewind.
    floor: u64,
    /// (mark, live blocks at the mark).
    marks: Vec<(Mark, usize)>,
    /// Released offsets, the generation they were allocated in, and
    /// whether their header word has been written over since.
    old: Vec<(u64, u64, bool)>,
    stale_marks: Vec<Mark>,
    peak: u64,
}

impl Model {}

fn alloc_and_check(
    a: &sharena_bump::Bump<common::HeapSegment>,
    m: &mut Model,
    pool: u64,
    size: u64,
    align: u64,
) -> Result<(), TestCaseError> {
    let size8 = size.next_multiple_of(8);
    let start = (pool + m.used + 8).next_multiple_of(align.max(8));
    let end = start + size8 - pool;
    let got = a.alloc_aligned(size, align);
    if end <= POOL {
        let at = got.map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(at.get(), start);
        let stamp = size.min(8);
        a.write(at, &at.get().to_le_bytes()[..stamp as usize])
            .unwrap();
        // A new block at a released offset is what the offset means now.
        m.old.retain(|&(o, _, _)| o != start);
        // The header and the stamp overwrite released headers.
        for (o, _, clobbered) in &mut m.old {
            if *o - 8 < start + stamp && *o > start - 8 {
                *clobbered = true;
            }
        }
        m.live.insert(start, (size8, m.generation));
        m.used = end;
        m.peak = m.peak.max(m.used);
    } else {
        match got {
            Err(Error::OutOfMemory {
                requested,
                available,
            }) => {
                prop_assert_eq!(requested, size);
                prop_assert_eq!(available, POOL - m.used);
            }
            other => prop_assert!(false, "expected OOM, got {:?}", other),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn bump_matches_the_model(ops in prop::collection::vec(op(), 1..80)) {
        let a = common::arena(POOL, CHUNK);
        let pool = a.pool_offset().get();
        let mut m = Model::default();
        for op in ops {
            match op {
                Op::Alloc { size, align_shift } => {
                    alloc_and_check(&a, &mut m, pool, size, 1 << align_shift)?;
                }
                Op::Big { size } => alloc_and_check(&a, &mut m, pool, size, 8)?,
                Op::Fill => {
                    // Whatever is left, in one block: the pool fills exactly.
                    let left = POOL - m.used;
                    if left >= 16 {
                        alloc_and_check(&a, &mut m, pool, left - 8, 8)?;
                        prop_assert_eq!(a.stats().available, 0);
                        let full = matches!(a.alloc(1), Err(Error::OutOfMemory { available: 0, .. }));
                        prop_assert!(full);
                    }
                }
                Op::Reset => {
                    let g = a.reset().unwrap();
                    m.generation += 1;
                    prop_assert_eq!(g, m.generation);
                    m.reset_generation = m.generation;
                    m.floor = 0;
                    m.old.extend(m.live.iter().map(|(&s, &(_, g))| (s, g, false)));
                    m.live.clear();
                    m.used = 0;
                    m.peak = 0;
                    m.stale_marks.extend(m.marks.drain(..).map(|(mk, _)| mk));
                }
                Op::Mark => {
                    let mk = a.mark().unwrap();
                    prop_assert_eq!(mk.cursor(), m.used);
                    prop_assert_eq!(mk.generation(), m.generation);
                    m.marks.push((mk, m.live.len()));
                }
                Op::Rewind(i) => {
                    if !m.marks.is_empty() {
                        let j = i % m.marks.len();
                        let (mk, n) = m.marks[j];
                        a.rewind(mk).unwrap();
                        m.marks.truncate(j + 1);
                        let gone = m.live.split_off(&(pool + mk.cursor()));
                        prop_assert_eq!(m.live.len(), n);
                        m.old.extend(gone.iter().map(|(&s, &(_, g))| (s, g, false)));
                        m.used = mk.cursor();
                        m.generation += 1;
                        m.floor = mk.cursor();
                        prop_assert_eq!(a.generation().unwrap(), m.generation);
                    } else if let Some(&mk) = m.stale_marks.last() {
                        let stale = matches!(a.rewind(mk), Err(Error::Stale { .. }));
                        prop_assert!(stale);
                    }
                }
            }
            // The accounting.
            let st = a.stats();
            prop_assert_eq!(st.capacity, POOL);
            prop_assert_eq!(st.used, m.used);
            prop_assert_eq!(st.available, POOL - m.used);
            prop_assert_eq!(st.allocations, m.live.len() as u64);
            prop_assert!(st.high_water >= m.peak);
            // Live blocks: in bounds, disjoint (headers included), valid.
            let mut prev_end = pool;
            for (&s, &(len, _)) in &m.live {
                prop_assert!(s - 8 >= prev_end);
                prop_assert!(s + len <= pool + POOL);
                prev_end = s + len;
                prop_assert_eq!(a.usable_size(shm_layout::Offset::new(s)).ok(), Some(len));
            }
            // Released offsets.
            // Exact for everything a reset released and for everything the
            // latest rewind released; best effort for older rewinds.
            for &(o, g, clobbered) in &m.old {
                if m.live.contains_key(&o) {
                    continue;
                }
                let r = a.usable_size(shm_layout::Offset::new(o));
                if g < m.reset_generation || o - 8 >= pool + m.floor {
                    if clobbered {
                        prop_assert!(r.is_err(), "{o}: {r:?}");
                    } else {
                        prop_assert!(matches!(r, Err(Error::Stale { .. })), "{o}: {r:?}");
                    }
                }
            }
        }
    }
}
