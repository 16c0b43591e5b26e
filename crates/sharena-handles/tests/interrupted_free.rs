//! A process killed inside `free`, after its block is marked DEAD and
//! before the entry is retired (found by `sharena stress --kind handles
//! --kill-every 100`): statistics never count the dead block, `check`
//! passes throughout, and `reclaim_dead` finishes the free, so the entry is
//! handed out again and no byte is lost.

mod support;

use shm_layout::{Error, Recover};
use support::{heap, pattern};

#[test]
fn reclaim_finishes_a_free_interrupted_after_the_kill() {
    let h = heap(8, 16);
    let keep = h.alloc(100).unwrap();
    h.write(keep, &pattern(1, 100)).unwrap();
    let victim = h.alloc(500).unwrap();
    assert_eq!(h.stats().used, 104 + 504);

    // The "dying" freer stops right after `try_kill`.
    h.free_interrupted_for_tests(victim).unwrap();
    assert_eq!(h.stats().used, 104, "a DEAD block is not live");
    assert_eq!(h.stats().allocations, 1);
    let check = h.check().unwrap();
    assert!(check.ok(), "{:?}", check.problems);
    assert_eq!(check.used_bytes, 104);
    assert!(matches!(h.read(victim, 1), Err(Error::Stale { .. })));
    assert!(matches!(h.free(victim), Err(Error::Stale { .. })));

    let report = h.reclaim_dead().unwrap();
    assert_eq!((report.blocks, report.bytes), (1, 504));
    assert!(matches!(h.free(victim), Err(Error::DoubleFree { .. })));
    let again = h.reclaim_dead().unwrap();
    assert_eq!((again.blocks, again.bytes), (0, 0));

    // The entry is free and hinted again: the next allocation reuses it
    // with the next generation.
    let next = h.alloc(8).unwrap();
    assert_eq!(next.index(), victim.index());
    assert_eq!(next.generation(), victim.generation().wrapping_add(1));
    h.free(next).unwrap();

    // The hole compacts away and the whole data area is usable again.
    h.compact().unwrap();
    assert_eq!(h.read(keep, 100).unwrap(), pattern(1, 100));
    h.free(keep).unwrap();
    let check = h.check().unwrap();
    assert!(check.ok(), "{:?}", check.problems);
    assert_eq!((h.stats().used, h.stats().allocations), (0, 0));
    h.compact().unwrap();
    let all = h.alloc(h.stats().capacity).unwrap();
    h.free(all).unwrap();
}

#[test]
fn every_entry_survives_a_death_in_each_free() {
    // All entries freed through the interrupted path, then reclaimed: none
    // is lost, and the table fills completely again.
    let h = heap(8, 16);
    let hs: Vec<_> = (0..16).map(|i| h.alloc(64 + i).unwrap()).collect();
    assert!(h.alloc(8).is_err(), "the table is full");
    for &x in &hs {
        h.free_interrupted_for_tests(x).unwrap();
    }
    assert_eq!(h.stats().used, 0);
    assert_eq!(h.reclaim_dead().unwrap().blocks, 16);
    let check = h.check().unwrap();
    assert!(check.ok(), "{:?}", check.problems);
    h.compact().unwrap();
    let again: Vec<_> = (0..16).map(|_| h.alloc(8).unwrap()).collect();
    for x in again {
        h.free(x).unwrap();
    }
    assert_eq!(h.stats().used, 0);
}
