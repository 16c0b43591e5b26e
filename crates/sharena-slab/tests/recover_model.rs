//! `reclaim_dead` and the exit rule against a model, with simulated
//! deaths: a handle is forgotten (no flush, no release) and the start time
//! in its cache entry's owner word is forged, so its owner is this pid with
//! another start time, which counts as dead. A clean detach (`Drop`) frees
//! the handle's unshared slots at once. After every reclaim: `check`
//! passes and the live count is what the model says (the live handles'
//! slots plus every shared slot); at the end every other slot can be
//! allocated, once.

mod common;

use proptest::prelude::*;
use sharena_slab::Slab;
use shm_layout::sync::Ordering;
use shm_layout::{Error, Offset, OwnerId, Recover, RegionId, ShmAllocator};
use std::collections::HashSet;

const SLOTS: u64 = 64;
const CAP: u64 = 4;
const HANDLES: usize = 3;
/// Cache entries: the handles, the keeper and one more, so that dead
/// entries soon fill the registry and attach adopts them.
const ENTRIES: u64 = 5;

#[derive(Clone, Debug)]
enum Op {
    Alloc(usize),
    Free(usize, usize),
    Share(usize, usize),
    Die(usize),
    Detach(usize),
    Reclaim,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..HANDLES).prop_map(Op::Alloc),
        3 => (0..HANDLES, any::<usize>()).prop_map(|(h, k)| Op::Free(h, k)),
        1 => (0..HANDLES, any::<usize>()).prop_map(|(h, k)| Op::Share(h, k)),
        1 => (0..HANDLES).prop_map(Op::Die),
        1 => (0..HANDLES).prop_map(Op::Detach),
        1 => Just(Op::Reclaim),
    ]
}

/// A live slot in the model.
#[derive(Clone, Copy, Debug)]
struct Live {
    at: Offset,
    /// The live handle that allocated it (None once shared, or once that
    /// handle died).
    by: Option<usize>,
    /// Its handle died holding this cache entry: the next reclaim, or an
    /// attach that adopts the entry, frees it.
    doomed: Option<u32>,
}

/// Makes `s`'s cache entry name this pid with another start time: a
/// process that is gone.
fn forge_dead(seg: &common::Seg, s: &Slab<common::Seg>) {
    let view = seg.as_ref();
    let at = view.region(RegionId::State).offset
        + sharena_slab::Geometry::REGISTRY_OFFSET
        + u64::from(s.cache_id()) * sharena_slab::Geometry::entry_len(CAP);
    let me = s.owner_id();
    let dead = OwnerId::new(me.pid(), me.epoch(), me.start_ticks() + 1).unwrap();
    let word = view.atomic_u64(Offset::new(at)).unwrap();
    assert_eq!(word.load(Ordering::Relaxed), me.raw());
    word.store(dead.raw(), Ordering::Relaxed);
}

/// A new handle. If every entry is taken, attach adopts a dead one and
/// frees what it held (`live` loses those slots); if every holder lives,
/// a reclaim by `keeper` first (`live` loses every doomed slot).
fn attach(
    seg: &common::Seg,
    keeper: &Slab<common::Seg>,
    live: &mut Vec<Live>,
) -> Slab<common::Seg> {
    let s = match Slab::attach(seg.clone()) {
        Ok(s) => s,
        Err(Error::ProcessTableFull { .. }) => {
            keeper.reclaim_dead().unwrap();
            live.retain(|l| l.doomed.is_none());
            Slab::attach(seg.clone()).unwrap()
        }
        Err(e) => panic!("attach: {e}"),
    };
    let id = s.cache_id();
    live.retain(|l| l.doomed != Some(id));
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn reclaim_matches_the_model(ops in proptest::collection::vec(op(), 1..120)) {
        let seg = common::segment_with(64, SLOTS, [ENTRIES, CAP, 0, 0]).unwrap();
        // Never dies, never allocates: there is always a handle to reclaim with.
        let keeper = Slab::attach(seg.clone()).unwrap();
        let mut handles: Vec<Option<Slab<common::Seg>>> =
            (0..HANDLES).map(|_| Some(Slab::attach(seg.clone()).unwrap())).collect();
        let mut live: Vec<Live> = Vec::new();
        for op in ops {
            match op {
                Op::Alloc(h) => {
                    if handles[h].is_none() {
                        handles[h] = Some(attach(&seg, &keeper, &mut live));
                    }
                    let Some(s) = &handles[h] else { continue };
                    if let Ok(at) = s.alloc(8) {
                        live.push(Live { at, by: Some(h), doomed: None });
                    }
                }
                Op::Free(h, k) => {
                    let Some(s) = &handles[h] else { continue };
                    // Only slots nobody dead owns (freeing a dead process's
                    // unshared slot while it is reclaimed is a double free).
                    let ok: Vec<usize> = (0..live.len()).filter(|&i| live[i].doomed.is_none()).collect();
                    if ok.is_empty() { continue }
                    let i = ok[k % ok.len()];
                    s.free(live[i].at).unwrap();
                    live.swap_remove(i);
                }
                Op::Share(h, k) => {
                    let Some(s) = &handles[h] else { continue };
                    let ok: Vec<usize> = (0..live.len()).filter(|&i| live[i].doomed.is_none()).collect();
                    if ok.is_empty() { continue }
                    let i = ok[k % ok.len()];
                    s.share(live[i].at).unwrap();
                    live[i].by = None;
                }
                Op::Die(h) => {
                    let Some(s) = handles[h].take() else { continue };
                    forge_dead(&seg, &s);
                    let entry = s.cache_id();
                    std::mem::forget(s);
                    for l in live.iter_mut().filter(|l| l.by == Some(h)) {
                        l.doomed = Some(entry);
                        l.by = None;
                    }
                }
                Op::Detach(h) => {
                    // The exit rule: a dropped handle's unshared slots are freed.
                    let Some(s) = handles[h].take() else { continue };
                    drop(s);
                    live.retain(|l| l.by != Some(h));
                    // Doomed slots stay live until the next reclaim.
                    prop_assert_eq!(keeper.stats().allocations, live.len() as u64);
                }
                Op::Reclaim => {
                    let s = handles.iter().flatten().next().unwrap_or(&keeper);
                    let doomed = live.iter().filter(|l| l.doomed.is_some()).count() as u64;
                    let r = s.reclaim_dead().unwrap();
                    prop_assert!(r.blocks >= doomed, "{:?} < {}", r, doomed);
                    live.retain(|l| l.doomed.is_none());
                    let c = s.check().unwrap();
                    prop_assert!(c.ok(), "{:?}", c.problems);
                    prop_assert_eq!(s.stats().allocations, live.len() as u64);
                    prop_assert_eq!(s.reclaim_dead().unwrap().blocks, 0);
                }
            }
        }
        let s = attach(&seg, &keeper, &mut live);
        s.reclaim_dead().unwrap();
        live.retain(|l| l.doomed.is_none());
        for (h, handle) in handles.iter_mut().enumerate() {
            if handle.take().is_some() {
                live.retain(|l| l.by != Some(h));
            }
        }
        drop(keeper);
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
