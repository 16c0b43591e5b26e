//! Unit tests of `BumpState` on the heap: transitions and corrupt words.

use super::*;

#[test]
fn reserve_reset_mark_rewind() {
    let s = BumpState::new(1024, 7);
    let (snap, new) = s
        .reserve(1024, None, |sn| Ok((sn.cursor + 64, sn.cursor)))
        .unwrap();
    assert_eq!((snap.cursor, new, snap.generation), (0, 64, 0));
    s.flush_allocations(0, 3);
    assert_eq!(s.allocations(0), 3);
    let gb = GiveBack {
        epoch: 0,
        cur: 40,
        end: 64,
    };
    let (_, mark) = s
        .transition(1024, Transition::Mark(Some(gb)), None)
        .unwrap();
    assert_eq!((mark.cursor, mark.epoch), (40, 1));
    s.reserve(1024, None, |sn| Ok((sn.cursor + 100 * GRAIN, sn.cursor)))
        .unwrap();
    let rewind = Transition::Rewind {
        generation: 0,
        cursor: 40,
    };
    let (before, after) = s.transition(1024, rewind, None).unwrap();
    assert_eq!((before.cursor, after.cursor, after.epoch), (840, 40, 2));
    assert_eq!(
        (after.generation, after.floor, after.reset_generation),
        (1, 40, 0)
    );
    assert_eq!(s.snapshot(1024).unwrap(), after);
    assert_eq!(s.allocations(1), 3);
    let (_, reset) = s.transition(1024, Transition::Reset, None).unwrap();
    assert_eq!((reset.cursor, reset.generation, reset.epoch), (0, 2, 3));
    assert_eq!(s.allocations(2), 0);
    assert_eq!(s.snapshot(1024).unwrap(), reset);
    assert_eq!(
        s.transition(1024, rewind, None),
        Err(Fault::WrongGeneration { current: 2 })
    );
    let full = s.reserve(1024, None, |sn| {
        Err(Fault::Exhausted {
            available: 1024 - sn.cursor,
        })
    });
    assert_eq!(full, Err(Fault::Exhausted { available: 1024 }));
}

#[test]
fn corrupt_heads_are_reported() {
    let s = BumpState::new(1024, 0);
    let h = |cursor, epoch_lo, parity| {
        Head {
            cursor,
            epoch_lo,
            tag: 0,
            parity,
            reset: false,
        }
        .pack()
    };
    s.poke_head(h(2048, 0, false));
    assert!(matches!(
        s.snapshot(1024),
        Err(Fault::Corrupt { word: OFF_HEAD, .. })
    ));
    s.poke_head(h(8, 5, false));
    assert!(matches!(s.snapshot(1024), Err(Fault::Corrupt { .. })));
    s.poke_head(h(8, 0, true));
    assert!(matches!(s.snapshot(1024), Err(Fault::Corrupt { .. })));
}
