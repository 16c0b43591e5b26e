//! Loom models of the open protocol. Run with `.ci/loom.sh`.

use crate::init::{InitState, InitWord};
use crate::sync::{AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;

/// The creator writes a header field, then publishes READY; an opener that
/// sees READY must see the field (the Release/Acquire pair of `InitWord`).
#[test]
fn ready_publishes_the_header() {
    loom::model(|| {
        let word = Arc::new(InitWord::new());
        // Stands in for a plain header field: Relaxed, so only the init
        // word's Release/Acquire can make it visible.
        let field = Arc::new(AtomicU64::new(0));
        let (w2, f2) = (word.clone(), field.clone());
        let creator = thread::spawn(move || {
            assert!(w2.begin(7));
            f2.store(0xC0FFEE, Ordering::Relaxed);
            w2.publish_ready(7);
        });
        match word.poll_ready(2) {
            InitState::Ready { pid } => {
                assert_eq!(pid, 7);
                assert_eq!(field.load(Ordering::Relaxed), 0xC0FFEE);
            }
            InitState::Empty | InitState::Initializing { pid: 7 } => {}
            other => panic!("unexpected state {other:?}"),
        }
        creator.join().unwrap();
        assert_eq!(word.state(), InitState::Ready { pid: 7 });
    });
}

/// Two would-be creators race to claim one word: exactly one wins.
#[test]
fn exactly_one_creator_claims() {
    loom::model(|| {
        let word = Arc::new(InitWord::new());
        let handles: Vec<_> = (1..=2u32)
            .map(|pid| {
                let w = word.clone();
                thread::spawn(move || w.begin(pid))
            })
            .collect();
        let wins = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|won| *won)
            .count();
        assert_eq!(wins, 1);
    });
}

/// Two processes publish the same name into a two-entry directory at once
/// (each claims its own entry): exactly one wins, the other is told the
/// name is taken, and a lookup afterwards finds the winner's value.
#[test]
fn two_publishers_one_name() {
    use crate::directory::Directory;
    use crate::error::Error;
    use crate::procid::ProcId;
    loom::model(|| {
        let words: Arc<Vec<AtomicU64>> = Arc::new((0..32).map(|_| AtomicU64::new(0)).collect());
        let handles: Vec<_> = (1..=2u64)
            .map(|v| {
                let w = words.clone();
                thread::spawn(move || {
                    let d = Directory::over(&w, "<loom>", |_| true);
                    d.publish_as(b"n", v, ProcId::new(v as u32, 0))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let wins: Vec<u64> = results
            .iter()
            .zip(1..)
            .filter(|(r, _)| r.is_ok())
            .map(|(_, v)| v)
            .collect();
        assert_eq!(wins.len(), 1, "{results:?}");
        for r in &results {
            assert!(matches!(r, Ok(()) | Err(Error::NameTaken { .. })), "{r:?}");
        }
        let d = Directory::over(&words, "<loom>", |_| true);
        assert_eq!(d.lookup(b"n").unwrap(), Some(wins[0]));
    });
}

/// A publisher claims the one entry of a directory whose owner word still
/// holds a previous claim's identity: the same pid, another start time, a
/// process that died. A second publisher, out of entries, judges the
/// entry's claimer: once the entry is PENDING it must read the live
/// claimer's owner word (the Acquire of the state pairs with the PENDING
/// store), never the stale one, so it never recycles a live claim.
#[test]
fn a_recycler_never_takes_a_live_pending_claim() {
    use crate::directory::Directory;
    use crate::error::Error;
    use crate::procid::ProcId;
    fn alive(p: ProcId) -> bool {
        // Pid 1 runs with start time 5 (4 was its dead predecessor);
        // pid 2 runs.
        (p.pid() == 1 && matches!(p.start_ticks(), 0 | 5)) || p.pid() == 2
    }
    loom::model(|| {
        let words: Arc<Vec<AtomicU64>> = Arc::new((0..16).map(|_| AtomicU64::new(0)).collect());
        // Entry 0, EMPTY after a claim by the dead pid 1.
        words[0].store(1 << 25, Ordering::Relaxed);
        words[1].store(ProcId::new(1, 4).raw(), Ordering::Relaxed);
        let w = words.clone();
        let live = thread::spawn(move || {
            let d = Directory::over(&w, "<loom>", alive);
            d.publish_as(b"a", 1, ProcId::new(1, 5))
        });
        let d = Directory::over(&words, "<loom>", alive);
        let other = d.publish_as(b"b", 2, ProcId::new(2, 7));
        let first = live.join().unwrap();
        // One entry: exactly one publish takes it, the other finds the
        // directory full; neither is told its name is taken.
        match (&first, &other) {
            (Ok(()), Err(Error::DirectoryFull { .. }))
            | (Err(Error::DirectoryFull { .. }), Ok(())) => {}
            _ => panic!("{first:?} {other:?}"),
        }
    });
}

/// A dead holder's slot, two reclaimers: exactly one adopts it, and the
/// entry word the dead holder wrote before its last Release is visible to
/// the winner.
#[test]
fn two_reclaimers_adopt_a_dead_slot_once() {
    use crate::owner::{Adoption, OwnerId, OwnerSlot};
    loom::model(|| {
        let dead = OwnerId::new(5, 0, 50).unwrap();
        let slot = Arc::new(OwnerSlot::new());
        let entry = Arc::new(AtomicU64::new(0));
        assert!(slot.claim(dead));
        entry.store(0xDEAD, Ordering::Relaxed);
        let handles: Vec<_> = (1..=2u32)
            .map(|pid| {
                let (s, e) = (slot.clone(), entry.clone());
                thread::spawn(move || {
                    let me = OwnerId::new(pid, 0, 10).unwrap();
                    match s.adopt_if(me, |h| h == dead) {
                        Adoption::Adopted(from) => {
                            assert_eq!(from, dead);
                            assert_eq!(e.load(Ordering::Relaxed), 0xDEAD);
                            assert!(s.release(me));
                            1
                        }
                        Adoption::Lost | Adoption::Free | Adoption::Alive(_) => 0,
                    }
                })
            })
            .collect();
        let wins: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(wins, 1);
        assert_eq!(slot.holder(), None);
    });
}

/// A holder releases while a reclaimer that judged it dead adopts, and a
/// new claimer takes the freed slot: the adopter never takes the slot
/// from the new holder, and the slot ends with exactly one holder or none.
#[test]
fn adoption_never_takes_a_reclaimed_slot_from_its_new_holder() {
    use crate::owner::{Adoption, OwnerId, OwnerSlot};
    loom::model(|| {
        let old = OwnerId::new(5, 0, 50).unwrap();
        let newer = OwnerId::new(6, 0, 60).unwrap();
        let adopter = OwnerId::new(7, 0, 70).unwrap();
        let slot = Arc::new(OwnerSlot::new());
        assert!(slot.claim(old));
        let s = slot.clone();
        let holder = thread::spawn(move || s.release(old) && s.claim(newer));
        // The adopter's judgement: only `old` is dead.
        let got = slot.adopt_if(adopter, |h| h == old);
        let claimed = holder.join().unwrap();
        match got {
            Adoption::Adopted(from) => {
                // Our CAS beat the release: the holder's release failed.
                assert_eq!(from, old);
                assert!(!claimed);
                assert_eq!(slot.holder(), Some(adopter));
            }
            Adoption::Alive(h) => {
                assert_eq!(h, newer);
                assert!(claimed);
            }
            Adoption::Free | Adoption::Lost => {
                assert!(claimed);
                assert_eq!(slot.holder(), Some(newer));
            }
        }
    });
}
