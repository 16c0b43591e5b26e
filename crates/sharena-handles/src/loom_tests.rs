//! Loom models of the three races an entry decides (run with
//! `.ci/loom.sh`): pin versus move, pin versus free, and a reclaim
//! dropping a dead seat's pins while others pin and move; each side's read
//! of the pin word is an RMW, as `word.rs` argues, and weakening either to
//! a load makes these models fail. A pinned block
//! never moves and is never freed, a pin taken after a move sees the new
//! offset and the copied bytes, and a dead seat's pins go without taking
//! anyone else's.

use crate::word::{
    begin_move, drop_seat_pins, finish_move, settle_kill, try_kill, try_pin, unpin, KillTry, Loc,
    PinTry,
};
use loom::sync::Arc;
use loom::thread;
use shm_layout::sync::{AtomicU64, Ordering};

struct Heap {
    loc: AtomicU64,
    pins: AtomicU64,
    /// The data area: two 8-byte places, the block starts in place 1.
    data: [AtomicU64; 2],
}

fn heap(loc: u64, pins: u64) -> Arc<Heap> {
    Arc::new(Heap {
        loc: AtomicU64::new(loc),
        pins: AtomicU64::new(pins),
        data: [AtomicU64::new(0), AtomicU64::new(42)],
    })
}

/// The mover: one try to move the block from place 1 to place 0, then
/// reuse the old place.
fn mover(h: &Heap) -> bool {
    let w = h.loc.load(Ordering::Relaxed);
    if let Ok(moving) = begin_move(&h.loc, &h.pins, w) {
        // Relaxed copy: published by finish_move's Release.
        let v = h.data[1].load(Ordering::Relaxed);
        h.data[0].store(v, Ordering::Relaxed);
        finish_move(&h.loc, moving, 0);
        // The old place is free now: reuse it.
        h.data[1].store(666, Ordering::Relaxed);
        true
    } else {
        false
    }
}

/// A pin by `seat` that, once pinned, reads the bytes and checks the block
/// stays put and alive; retried while busy. Whether it pinned.
fn pinner(h: &Heap, seat: u64) -> bool {
    for _ in 0..3 {
        match try_pin(&h.loc, &h.pins, seat, 3) {
            PinTry::Pinned(l) => {
                let v = h.data[(l.off / 8) as usize].load(Ordering::Relaxed);
                assert_eq!(v, 42, "pinned at {} and read someone else's bytes", l.off);
                let now = Loc::unpack(h.loc.load(Ordering::Relaxed));
                assert_eq!(now.off, l.off, "moved while pinned");
                assert!(!now.dead, "freed while pinned");
                unpin(&h.pins, seat);
                return true;
            }
            PinTry::Busy(_) => loom::thread::yield_now(),
            PinTry::Gone => return false,
        }
    }
    false
}

#[test]
fn a_pinned_block_never_moves() {
    loom::model(|| {
        let h = heap(Loc::new(8, 3).pack(), 0);
        let m = h.clone();
        let moved = thread::spawn(move || mover(&m));
        pinner(&h, 0);
        let moved = moved.join().unwrap();
        let l = Loc::unpack(h.loc.load(Ordering::Relaxed));
        assert_eq!(h.pins.load(Ordering::Relaxed), 0);
        assert!(l.settled());
        assert_eq!(l.off, if moved { 0 } else { 8 });
    });
}

#[test]
fn a_pinned_block_is_never_freed() {
    loom::model(|| {
        let h = heap(Loc::new(8, 3).pack(), 0);
        let k = h.clone();
        let killed = thread::spawn(move || loop {
            match try_kill(&k.loc, &k.pins, 1, 3) {
                KillTry::Busy(_) => loom::thread::yield_now(),
                r => return r,
            }
        });
        // Its own checks run while it holds the pin.
        pinner(&h, 0);
        let killed = killed.join().unwrap();
        let l = Loc::unpack(h.loc.load(Ordering::Relaxed));
        assert_eq!(h.pins.load(Ordering::Relaxed), 0);
        assert!(l.killing.is_none(), "a live killer decides its own free");
        match killed {
            KillTry::Killed(_) => assert!(l.dead),
            // Refused: the pin won, or was racing it (a free that meets a
            // pin attempt may be refused; the caller may free again).
            KillTry::Pinned => assert!(!l.dead),
            other => panic!("unexpected {other:?}"),
        }
    });
}

#[test]
fn a_dead_seats_pins_go_and_no_one_elses() {
    loom::model(|| {
        // Seat 2 died holding a pin; a reclaim drops it while seat 0 pins
        // and a compactor tries to move the block.
        let h = heap(Loc::new(8, 3).pack(), 1 << 2);
        let r = h.clone();
        let reclaim = thread::spawn(move || drop_seat_pins(&r.pins, 2));
        let m = h.clone();
        let moved = thread::spawn(move || mover(&m));
        let pinned = pinner(&h, 0);
        reclaim.join().unwrap();
        let moved = moved.join().unwrap();
        assert_eq!(h.pins.load(Ordering::Relaxed), 0);
        let l = Loc::unpack(h.loc.load(Ordering::Relaxed));
        assert!(l.settled());
        assert_eq!(l.off, if moved { 0 } else { 8 });
        let _ = pinned; // either way: its own checks ran while it held the pin
                        // With the dead pin gone and nobody pinning, the block moves.
        if !moved {
            assert!(mover(&h));
        }
    });
}

#[test]
fn a_dead_killers_free_is_decided_once() {
    loom::model(|| {
        // Seat 3 died after setting KILLING: a reclaim settles it while
        // seat 0 tries to pin and another reclaim settles it too.
        let killing = Loc {
            killing: Some(3),
            ..Loc::new(8, 3)
        }
        .pack();
        let h = heap(killing, 0);
        let a = h.clone();
        let first = thread::spawn(move || settle_kill(&a.loc, &a.pins, killing));
        let b = h.clone();
        let second = thread::spawn(move || settle_kill(&b.loc, &b.pins, killing));
        let pinned = pinner(&h, 0);
        let (x, y) = (first.join().unwrap(), second.join().unwrap());
        assert_eq!(x, y, "both settlers read one decision");
        let l = Loc::unpack(h.loc.load(Ordering::Relaxed));
        assert!(l.killing.is_none());
        assert_eq!(l.dead, x);
        // A pin succeeds only on a block left alive (the pinner checks it
        // stays alive while pinned).
        assert!(!(pinned && l.dead && h.pins.load(Ordering::Relaxed) != 0));
    });
}
