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
    match s.reserve(CAP, |snap| {
        let end = snap.cursor + len;
        if end > CAP {
            Err(Fault::Exhausted {
                available: CAP - snap.cursor,
            })
        } else {
            Ok(end)
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
        let resetter = thread::spawn(move || s2.transition(CAP, Transition::Reset).unwrap());
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
        let (_, mark) = s.transition(CAP, Transition::Mark(None)).unwrap();
        assert_eq!(mark.cursor, first);
        take(&s, 16).unwrap();
        let s1 = s.clone();
        let allocator = thread::spawn(move || take(&s1, 16));
        let rewind = Transition::Rewind {
            generation: 0,
            cursor: mark.cursor,
        };
        let (_, after) = s.transition(CAP, rewind).unwrap();
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
        let t = thread::spawn(move || s1.transition(CAP, Transition::Reset).unwrap().1);
        let mine = s.transition(CAP, Transition::Reset).unwrap().1;
        let theirs = t.join().unwrap();
        assert_ne!(mine.generation, theirs.generation);
        let end = s.snapshot(CAP).unwrap();
        assert_eq!((end.generation, end.epoch, end.cursor), (2, 2, 0));
        assert_eq!((end.reset_generation, end.floor), (2, 0));
        assert_eq!(s.allocations(2), 0);
    });
}
