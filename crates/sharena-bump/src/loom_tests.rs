//! Loom models of `BumpState`. Run with `ci/loom.sh` (or
//! `RUSTFLAGS="--cfg shm_loom" cargo test --release -p sharena-bump --lib -- loom_tests`).
//!
//! A reservation is live at the end of a model iff it was made in the final
//! epoch; no two live reservations may overlap, and every one lies below
//! the final cursor.

use crate::state::{BumpState, Fault, Snapshot, Transition};
use loom::sync::Arc;
use loom::thread;

const CAP: u64 = 64;

/// One chunk of `len` bytes, or `None` if the pool is full.
fn take(s: &BumpState, len: u64) -> Option<(Snapshot, u64)> {
    match s.reserve(CAP, None, |snap| {
        let end = snap.cursor + len;
        if end > CAP {
            Err(Fault::Exhausted {
                available: CAP - snap.cursor,
            })
        } else {
            Ok((end, snap.cursor))
        }
    }) {
        Ok(r) => Some(r),
        Err(Fault::Exhausted { .. }) => None,
        Err(f) => panic!("unexpected fault {f:?}"),
    }
}

fn assert_disjoint(live: &mut [(u64, u64)], cursor: u64) {
    live.sort_unstable();
    for w in live.windows(2) {
        assert!(w[0].1 <= w[1].0, "overlap: {live:?}");
    }
    for &(_, end) in live.iter() {
        assert!(end <= cursor, "{live:?} past cursor {cursor}");
    }
}

/// Three threads race for chunks: all distinct, the pool exactly used.
#[test]
fn racing_reservations_are_disjoint() {
    loom::model(|| {
        let s = Arc::new(BumpState::new(CAP, 1));
        let handles: Vec<_> = [16u64, 24, 32]
            .into_iter()
            .map(|len| {
                let s = s.clone();
                thread::spawn(move || take(&s, len).map(|(snap, end)| (snap.cursor, end)))
            })
            .collect();
        let mut live: Vec<_> = handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect();
        let snap = s.snapshot(CAP).unwrap();
        let total: u64 = live.iter().map(|(a, b)| b - a).sum();
        assert_eq!(total, snap.cursor);
        // 16 + 24 + 32 > 64: at least one lost, at least two won.
        assert!(live.len() >= 2);
        assert_disjoint(&mut live, snap.cursor);
    });
}

/// A reset races two reservations: the ones made in the final epoch do not
/// overlap, and the generation moved exactly once.
#[test]
fn reset_racing_reservations() {
    loom::model(|| {
        let s = Arc::new(BumpState::new(CAP, 1));
        let s1 = s.clone();
        let allocator = thread::spawn(move || {
            let a = take(&s1, 24);
            let b = take(&s1, 24);
            [a, b]
        });
        let s2 = s.clone();
        let resetter = thread::spawn(move || s2.transition(CAP, Transition::Reset, None).unwrap());
        let mine = take(&s, 16);
        let got = allocator.join().unwrap();
        let (before, after) = resetter.join().unwrap();
        assert_eq!(after.generation, before.generation + 1);
        assert_eq!(after.epoch, before.epoch + 1);
        let end = s.snapshot(CAP).unwrap();
        assert_eq!((end.epoch, end.generation), (1, 1));
        let mut live: Vec<_> = got
            .into_iter()
            .chain([mine])
            .flatten()
            .filter(|(snap, _)| snap.epoch == end.epoch)
            .map(|(snap, e)| (snap.cursor, e))
            .collect();
        assert_disjoint(&mut live, end.cursor);
    });
}

/// A rewind races a reservation: a reservation of the final epoch starts
/// at the mark, and the rewind started a generation with its floor there.
#[test]
fn rewind_racing_a_reservation() {
    loom::model(|| {
        let s = Arc::new(BumpState::new(CAP, 1));
        let (_, first) = take(&s, 16).unwrap();
        let (_, mark) = s.transition(CAP, Transition::Mark(None), None).unwrap();
        assert_eq!(mark.cursor, first);
        take(&s, 16).unwrap();
        let s1 = s.clone();
        let allocator = thread::spawn(move || take(&s1, 16));
        let rewind = Transition::Rewind {
            generation: 0,
            cursor: mark.cursor,
        };
        let (_, after) = s.transition(CAP, rewind, None).unwrap();
        assert_eq!(after.cursor, 16);
        let got = allocator.join().unwrap();
        let end = s.snapshot(CAP).unwrap();
        assert_eq!(
            (end.generation, end.floor, end.reset_generation),
            (1, 16, 0)
        );
        if let Some((snap, e)) = got {
            if snap.epoch == end.epoch {
                assert_eq!((snap.cursor, e), (16, 32));
            }
        }
    });
}

/// Two resets race: both complete, and the mirror words agree with the
/// head after either finishes (helping).
#[test]
fn racing_resets_complete_each_other() {
    loom::model(|| {
        let s = Arc::new(BumpState::new(CAP, 1));
        take(&s, 8).unwrap();
        s.flush_allocations(0, 1);
        let s1 = s.clone();
        let t = thread::spawn(move || s1.transition(CAP, Transition::Reset, None).unwrap().1);
        let mine = s.transition(CAP, Transition::Reset, None).unwrap().1;
        let theirs = t.join().unwrap();
        assert_ne!(mine.generation, theirs.generation);
        let end = s.snapshot(CAP).unwrap();
        assert_eq!((end.generation, end.epoch, end.cursor), (2, 2, 0));
        assert_eq!((end.reset_generation, end.floor), (2, 0));
        assert_eq!(s.allocations(2), 0);
    });
}

// Reservation records: a lane's intent is published before the head CAS
// and confirmed after it (by the lane, or by whoever moves the head on), so
// a reclaim that finds the lane's owner stopped at any point resolves the
// lane to exactly what the owner got. A death is modelled by
// `reserve_with(.., 1, false)`: one attempt, no confirmation of its own.

use crate::state::{lane_tag, Region, LANE_CHUNK, LANE_LARGE};

/// The region lane `(0, l)` resolves to now.
fn resolved(s: &BumpState, l: usize) -> Option<Region> {
    let lane = s.record(0).unwrap().lane(l);
    lane.resolve(s.head_raw(), CAP).unwrap()
}

/// A reservation of `len` bytes through lane `(0, l)`, dying after its one
/// attempt when `dies`; returns what it got and its generation.
fn take_gen(s: &BumpState, l: usize, len: u64, dies: bool) -> Option<(u64, u64, u64)> {
    let lane = Some((lane_tag(0, l), s.record(0).unwrap().lane(l)));
    let plan = |snap: &Snapshot| {
        let end = snap.cursor + len;
        if end > CAP {
            Err(Fault::Exhausted { available: 0 })
        } else {
            Ok((end, snap.cursor))
        }
    };
    let (attempts, confirm) = if dies {
        (1, false)
    } else {
        (crate::state::MAX_RETRIES, true)
    };
    s.reserve_with(CAP, lane, plan, attempts, confirm)
        .ok()
        .map(|(snap, end)| (snap.cursor, end, snap.generation))
}

/// `take_gen` without the generation.
fn take_via(s: &BumpState, l: usize, len: u64, dies: bool) -> Option<(u64, u64)> {
    take_gen(s, l, len, dies).map(|(a, b, _)| (a, b))
}

/// A reserver dies right after its one CAS attempt (won or lost) while
/// another reserves (and then resets): its lane resolves to exactly the
/// bytes its CAS took, or to nothing.
#[test]
fn a_dead_reservers_intent_resolves_exactly() {
    for then_reset in [false, true] {
        loom::model(move || {
            let s = Arc::new(BumpState::new(CAP, 1));
            let s1 = s.clone();
            let victim = thread::spawn(move || take_gen(&s1, LANE_CHUNK, 16, true));
            let s2 = s.clone();
            let other = thread::spawn(move || {
                let got = take_via(&s2, LANE_LARGE, 24, false);
                if then_reset {
                    s2.transition(CAP, Transition::Reset, None).unwrap();
                }
                got
            });
            let got = victim.join().unwrap();
            let theirs = other.join().unwrap();
            let r = resolved(&s, LANE_CHUNK).expect("the intent was published");
            match got {
                Some((start, end, generation)) => {
                    assert_eq!(
                        (r.start, r.end),
                        (start, end),
                        "the CAS took {start}..{end}"
                    );
                    assert_eq!(r.gen_lo, generation);
                }
                None => assert_eq!(r.start, r.end, "a failed intent holds nothing: {r:?}"),
            }
            // The survivor's lane holds its reservation, confirmed.
            let o = resolved(&s, LANE_LARGE).unwrap();
            assert_eq!(Some((o.start, o.end)), theirs);
        });
    }
}

/// A thread holding `0..16`, carved up to 8, dies extending it (one
/// attempt) while another reserves: the lane resolves to the rest of the
/// extended chunk if the CAS won, else to the rest of the chunk it held.
#[test]
fn a_dead_extension_falls_back_to_the_old_end() {
    loom::model(|| {
        let s = Arc::new(BumpState::new(CAP, 1));
        assert_eq!(take_via(&s, LANE_CHUNK, 16, false), Some((0, 16)));
        let s1 = s.clone();
        let victim = thread::spawn(move || {
            let lane = Some((
                lane_tag(0, LANE_CHUNK),
                s1.record(0).unwrap().lane(LANE_CHUNK),
            ));
            s1.reserve_with(
                CAP,
                lane,
                |snap| {
                    if snap.cursor == 16 {
                        // Carved up to 8: the lane's start moves there.
                        Ok((32, 8))
                    } else {
                        Err(Fault::Contended)
                    }
                },
                1,
                false,
            )
            .is_ok()
        });
        let s2 = s.clone();
        let other = thread::spawn(move || take(&s2, 8));
        let extended = victim.join().unwrap();
        other.join().unwrap();
        let r = resolved(&s, LANE_CHUNK).unwrap();
        // The start is 8 once the victim published (the bytes below are
        // its blocks), 0 if it never got as far: the same tail either way.
        assert_eq!(r.end, if extended { 32 } else { 16 });
        assert!(r.start == 8 || (r.start == 0 && !extended), "{r:?}");
    });
}

/// A mark gives back the tail of the marking thread's chunk `0..24` (used
/// to 8) while another thread reserves: the lane resolves to the shorter
/// chunk exactly when the give-back happened.
#[test]
fn a_marks_give_back_is_recorded() {
    loom::model(|| {
        let s = Arc::new(BumpState::new(CAP, 1));
        assert_eq!(take_via(&s, LANE_CHUNK, 24, false), Some((0, 24)));
        let s1 = s.clone();
        let marker = thread::spawn(move || {
            let lane = Some((
                lane_tag(0, LANE_CHUNK),
                s1.record(0).unwrap().lane(LANE_CHUNK),
            ));
            let gb = crate::state::GiveBack {
                epoch: 0,
                cur: 8,
                end: 24,
            };
            s1.transition(CAP, Transition::Mark(Some(gb)), lane)
                .unwrap()
                .1
        });
        let s2 = s.clone();
        let other = thread::spawn(move || take(&s2, 16));
        let after = marker.join().unwrap();
        other.join().unwrap();
        let r = resolved(&s, LANE_CHUNK).unwrap();
        let gave_back = after.cursor == 8;
        assert_eq!(r.end, if gave_back { 8 } else { 24 });
        assert!(r.start == 8 || (r.start == 0 && !gave_back), "{r:?}");
    });
}
