//! Recovery against a model: random allocations, frees (own and remote)
//! and shares by two handles, then one handle "dies" (its arena's owner is
//! forged to a reaped child's identity), and `reclaim_dead` must leave
//! exactly the survivor's blocks and the dead one's shared blocks.

mod common;

use common::{attach, segment};
use proptest::prelude::*;
use sharena_freelist::FreeList;
use shm_layout::{Offset, ProcId, Recover, ShmAllocator};

#[derive(Clone, Debug)]
enum Op {
    Alloc { by: usize, size: u64 },
    Free { by: usize, pick: usize },
    Share { pick: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize, 1u64..6000).prop_map(|(by, size)| Op::Alloc { by, size }),
        3 => (0..2usize, any::<usize>()).prop_map(|(by, pick)| Op::Free { by, pick }),
        1 => any::<usize>().prop_map(|pick| Op::Share { pick }),
    ]
}

/// The identity of a process that has certainly exited (a reaped child).
fn dead_proc() -> ProcId {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    let id = ProcId::of_pid(pid).unwrap_or(ProcId::new(pid, 1));
    child.wait().unwrap();
    id
}

fn bytes(h: &FreeList<common::Seg>, off: Offset) -> u64 {
    h.usable_size(off).unwrap() + 16
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn reclaim_matches_the_model(ops in proptest::collection::vec(op(), 1..120)) {
        let seg = segment(4 << 20);
        let h = [attach(&seg), attach(&seg)];
        // Live blocks: (offset, allocated by, shared).
        let mut live: Vec<(Offset, usize, bool)> = Vec::new();
        for op in ops {
            match op {
                Op::Alloc { by, size } => {
                    if let Ok(off) = h[by].alloc(size) {
                        live.push((off, by, false));
                    }
                }
                Op::Free { by, pick } if !live.is_empty() => {
                    let (off, _, _) = live.swap_remove(pick % live.len());
                    h[by].free(off).unwrap();
                }
                Op::Share { pick } if !live.is_empty() => {
                    let i = pick % live.len();
                    h[1].share(live[i].0).unwrap();
                    live[i].2 = true;
                }
                _ => {}
            }
        }
        let [survivor, victim] = h;
        // Remote frees the survivor made into its own arena: take them in.
        survivor.collect().unwrap();
        let keep: u64 = live
            .iter()
            .filter(|&&(_, by, shared)| by == 0 || shared)
            .map(|&(off, _, _)| bytes(&survivor, off))
            .sum();
        victim.simulate_death(dead_proc());
        drop(victim);
        let rep = survivor.reclaim_dead().unwrap();
        prop_assert_eq!(rep.processes, 1);
        let check = survivor.check().unwrap();
        prop_assert!(check.ok(), "{:?}", check.problems);
        prop_assert_eq!(survivor.stats().used, keep);
        let again = survivor.reclaim_dead().unwrap();
        prop_assert_eq!((again.processes, again.blocks, again.bytes), (0, 0, 0));
        // Everything the model still holds frees; then the pool is whole.
        for (off, by, shared) in live {
            if by == 0 || shared {
                survivor.free(off).unwrap();
            } else {
                prop_assert!(survivor.free(off).is_err(), "a reclaimed block is free");
            }
        }
        survivor.collect().unwrap();
        survivor.reclaim_dead().unwrap();
        prop_assert_eq!(survivor.stats().used, 0);
        let all = survivor.alloc(survivor.max_alloc()).unwrap();
        survivor.free(all).unwrap();
        let check = survivor.check().unwrap();
        prop_assert!(check.ok(), "{:?}", check.problems);
    }
}
