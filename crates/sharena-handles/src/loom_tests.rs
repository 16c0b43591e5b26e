//! Loom models (run with `.ci/loom.sh`) of the three races an entry
//! decides: pin versus move, pin versus free, and a reclaim dropping a
//! dead seat's pins while others pin and move; each side's read of the
//! pin word is an RMW, as `word.rs` argues, and weakening either to a load
//! makes these models fail. A pinned block never moves and is never
//! freed, a pin taken after a move sees the new offset and the copied
//! bytes, and a dead seat's pins go without taking anyone else's. And of
//! the compactor's scan against an allocation, by `word::scan_look`'s
//! rule: the scan knows every block below the cursor it read.

use crate::word::{
    begin_move, drop_seat_pins, finish_move, scan_look, settle_kill, try_kill, try_pin, unpin,
    KillTry, Loc, Meta, PinTry, Seen, ALLOCATING, LIVE,
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

/// The words the compactor's scan and an allocation share: the bump
/// cursor, and two entries' meta and loc words (the loc word holds the
/// block's offset alone here).
struct Table {
    top: AtomicU64,
    meta: [AtomicU64; 2],
    loc: [AtomicU64; 2],
}

/// Data-area bytes in the scan model.
const AREA: u64 = 16;

/// An allocation of `len` bytes into entry `i` as `Handles::alloc` makes
/// it: take the entry (ALLOCATING, AcqRel CAS), move the cursor (AcqRel
/// CAS), place the block, store LIVE (Release); no room gives the entry
/// back FREE (Release). Whether it fit.
fn alloc_into(t: &Table, i: usize, len: u64) -> bool {
    let free = Meta::free(0).pack();
    let taken = Meta {
        state: ALLOCATING,
        seat: 1,
        ..Meta::free(0)
    }
    .pack();
    t.meta[i]
        .compare_exchange(free, taken, Ordering::AcqRel, Ordering::Relaxed)
        .unwrap();
    let mut at = t.top.load(Ordering::Relaxed);
    loop {
        if AREA - at < len {
            t.meta[i].store(free, Ordering::Release);
            return false;
        }
        match t
            .top
            .compare_exchange(at, at + len, Ordering::AcqRel, Ordering::Relaxed)
        {
            Ok(_) => break,
            Err(now) => at = now,
        }
        loom::thread::yield_now();
    }
    t.loc[i].store(at, Ordering::Relaxed);
    let live = Meta {
        state: LIVE,
        ..Meta::unpack(taken)
    }
    .pack();
    t.meta[i].store(live, Ordering::Release);
    true
}

#[test]
fn the_scan_knows_every_block_below_the_cursor() {
    loom::model(|| {
        // The allocator places 8 bytes in entry 0, fails to place 16 in
        // entry 1 (giving it back: the same ALLOCATING word comes again
        // next), then places 8 there. The scan reads the cursor and looks
        // at both entries by `scan_look`'s rule, waiting while it says
        // Taking; every block that ends LIVE below the cursor it read must
        // be one it saw LIVE, at that offset.
        let t = Arc::new(Table {
            top: AtomicU64::new(0),
            meta: [AtomicU64::new(0), AtomicU64::new(0)],
            loc: [AtomicU64::new(0), AtomicU64::new(0)],
        });
        let a = t.clone();
        let allocator = thread::spawn(move || {
            assert!(alloc_into(&a, 0, 8));
            assert!(!alloc_into(&a, 1, 16));
            assert!(alloc_into(&a, 1, 8));
        });
        // Without this yield loom never schedules the allocator before the
        // scan's first load (every run read the cursor as 0); with it, runs
        // read 0, 8 and 16. Making the scan skip a Taking entry, or its
        // cursor load Relaxed, fails the model.
        loom::thread::yield_now();
        // Acquire: pairs with the allocation's cursor CAS.
        let top = t.top.load(Ordering::Acquire);
        let mut seen = [None; 2];
        for (i, slot) in seen.iter_mut().enumerate() {
            let mut waited = None;
            loop {
                let w = t.meta[i].load(Ordering::Acquire);
                match scan_look(w, waited) {
                    Seen::Skip => break,
                    Seen::Taking(_) => {
                        waited = Some(w);
                        loom::thread::yield_now();
                    }
                    Seen::Live(_) => {
                        let off = t.loc[i].load(Ordering::Acquire);
                        if off < top {
                            *slot = Some(off);
                        }
                        break;
                    }
                    Seen::Corrupt => unreachable!("no entry has state 3"),
                }
            }
        }
        eprintln!("scan done top {top} seen {seen:?}");
        allocator.join().unwrap();
        for (i, slot) in seen.iter().enumerate() {
            let off = t.loc[i].load(Ordering::Relaxed);
            let m = Meta::unpack(t.meta[i].load(Ordering::Relaxed));
            assert_eq!(m.state, LIVE);
            if off < top {
                assert_eq!(
                    *slot,
                    Some(off),
                    "entry {i}'s block at {off} below {top} was missed"
                );
            }
        }
    });
}
