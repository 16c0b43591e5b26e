//! `reclaim_dead` against a model, with simulated deaths: a handle is
//! forgotten (no flush, no release) and its cache entry's start time is
//! forged, so its owner is this pid with another start time, which counts
//! as dead. After every reclaim: `check` passes and the live count is what
//! the model says (the live handles' slots plus every shared slot); at the
//! end every other slot can be allocated, once.

mod common;

use proptest::prelude::*;
use sharena_slab::Slab;
use shm_layout::sync::Ordering;
use shm_layout::{Offset, ProcId, Recover, RegionId, ShmAllocator};
use std::collections::HashSet;

const SLOTS: u64 = 64;
const CAP: u64 = 4;
const HANDLES: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    Alloc(usize),
    Free(usize, usize),
    Share(usize, usize),
    Die(usize),
    Reclaim,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..HANDLES).prop_map(Op::Alloc),
        3 => (0..HANDLES, any::<usize>()).prop_map(|(h, k)| Op::Free(h, k)),
        1 => (0..HANDLES, any::<usize>()).prop_map(|(h, k)| Op::Share(h, k)),
        1 => (0..HANDLES).prop_map(Op::Die),
        1 => Just(Op::Reclaim),
    ]
}

/// A live slot in the model.
#[derive(Clone, Copy, Debug)]
struct Live {
    at: Offset,
    /// The handle that allocated it (None once shared or orphaned by a
    /// clean detach).
    by: Option<usize>,
    /// Its handle died; the next reclaim frees it.
    doomed: bool,
}

fn forge_dead(seg: &common::Seg, s: &Slab<common::Seg>) -> bool {
    let Some(id) = s.cache_id() else {
        return false;
    };
    let view = seg.as_ref();
    let at = view.region(RegionId::State).offset
        + sharena_slab::Geometry::REGISTRY_OFFSET
        + u64::from(id) * sharena_slab::Geometry::entry_len(CAP)
        + 0x20;
    let me = ProcId::current();
    view.atomic_u64(Offset::new(at))
        .unwrap()
        .store(me.start_ticks() + 1, Ordering::Relaxed);
    true
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn reclaim_matches_the_model(ops in proptest::collection::vec(op(), 1..120)) {
        let seg = common::segment_with(64, SLOTS, [4, CAP, 0, 0]).unwrap();
        let mut handles: Vec<Option<Slab<common::Seg>>> =
            (0..HANDLES).map(|_| Some(Slab::attach(seg.clone()).unwrap())).collect();
        let mut live: Vec<Live> = Vec::new();
        for op in ops {
            match op {
                Op::Alloc(h) => {
                    let s = handles[h].get_or_insert_with(|| Slab::attach(seg.clone()).unwrap());
                    if let Ok(at) = s.alloc(8) {
                        live.push(Live { at, by: Some(h), doomed: false });
                    }
                }
                Op::Free(h, k) => {
                    let Some(s) = &handles[h] else { continue };
                    // Only slots nobody dead owns (freeing a dead process's
                    // unshared slot while it is reclaimed is a double free).
                    let ok: Vec<usize> = (0..live.len()).filter(|&i| !live[i].doomed).collect();
                    if ok.is_empty() { continue }
                    let i = ok[k % ok.len()];
                    s.free(live[i].at).unwrap();
                    live.swap_remove(i);
                }
                Op::Share(h, k) => {
                    let Some(s) = &handles[h] else { continue };
                    let ok: Vec<usize> = (0..live.len()).filter(|&i| !live[i].doomed).collect();
                    if ok.is_empty() { continue }
                    let i = ok[k % ok.len()];
                    s.share(live[i].at).unwrap();
                    live[i].by = None;
                }
                Op::Die(h) => {
                    let Some(s) = handles[h].take() else { continue };
                    if !forge_dead(&seg, &s) {
                        // No cache entry: a clean detach instead.
                        drop(s);
                        for l in live.iter_mut().filter(|l| l.by == Some(h)) {
                            l.by = None;
                        }
                        continue;
                    }
                    std::mem::forget(s);
                    for l in live.iter_mut().filter(|l| l.by == Some(h)) {
                        l.doomed = true;
                    }
                }
                Op::Reclaim => {
                    let any = handles.iter().flatten().next();
                    let fresh;
                    let s = if let Some(s) = any { s } else {
                        fresh = Slab::attach(seg.clone()).unwrap();
                        &fresh
                    };
                    let doomed = live.iter().filter(|l| l.doomed).count() as u64;
                    let r = s.reclaim_dead().unwrap();
                    prop_assert!(r.blocks >= doomed, "{:?} < {}", r, doomed);
                    live.retain(|l| !l.doomed);
                    let c = s.check().unwrap();
                    prop_assert!(c.ok(), "{:?}", c.problems);
                    prop_assert_eq!(s.stats().allocations, live.len() as u64);
                    prop_assert_eq!(s.reclaim_dead().unwrap().blocks, 0);
                }
            }
        }
        let s = Slab::attach(seg.clone()).unwrap();
        s.reclaim_dead().unwrap();
        live.retain(|l| !l.doomed);
        drop(handles);
        let c = s.check().unwrap();
        prop_assert!(c.ok(), "{:?}", c.problems);
        prop_assert_eq!(s.stats().allocations, live.len() as u64);
        let mut seen: HashSet<u64> = live.iter().map(|l| l.at.get()).collect();
        let mut got = 0;
        while let Ok(at) = s.alloc(8) {
            prop_assert!(seen.insert(at.get()), "{} twice", at.get());
            got += 1;
        }
        prop_assert_eq!(got, SLOTS - live.len() as u64);
    }
}
