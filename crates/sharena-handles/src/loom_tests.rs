//! Loom model of pin versus compaction (run with `.ci/loom.sh`): one
//! thread pins a handle and reads its block, another tries to move the
//! block and then reuses the old place. A pinned block never moves, and a
//! pin taken after a move sees the new offset and the copied bytes.

use crate::word::{begin_move, finish_move, try_pin, unpin, Loc, PinTry};
use loom::sync::Arc;
use loom::thread;
use shm_layout::sync::{AtomicU64, Ordering};

struct Heap {
    loc: AtomicU64,
    /// The data area: two 8-byte places, the block starts in place 1.
    data: [AtomicU64; 2],
}

#[test]
fn a_pinned_block_never_moves() {
    loom::model(|| {
        let heap = Arc::new(Heap {
            loc: AtomicU64::new(Loc::new(8, 3).pack()),
            data: [AtomicU64::new(0), AtomicU64::new(42)],
        });
        let h = heap.clone();
        let mover = thread::spawn(move || {
            let w = h.loc.load(Ordering::Relaxed);
            if let Ok(moving) = begin_move(&h.loc, w) {
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
        });
        let mut pinned = false;
        for _ in 0..3 {
            match try_pin(&heap.loc, 3) {
                PinTry::Pinned(l) => {
                    let v = heap.data[(l.off / 8) as usize].load(Ordering::Relaxed);
                    assert_eq!(v, 42, "pinned at {} and read someone else's bytes", l.off);
                    // Still at the same place while pinned.
                    assert_eq!(Loc::unpack(heap.loc.load(Ordering::Relaxed)).off, l.off);
                    unpin(&heap.loc);
                    pinned = true;
                    break;
                }
                PinTry::Moving => loom::thread::yield_now(),
                other => panic!("unexpected {other:?}"),
            }
        }
        let moved = mover.join().unwrap();
        let l = Loc::unpack(heap.loc.load(Ordering::Relaxed));
        assert_eq!(l.pins, 0);
        assert!(!l.moving);
        assert_eq!(l.off, if moved { 0 } else { 8 });
        let _ = pinned;
    });
}
