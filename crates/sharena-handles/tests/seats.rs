//! Seats: each attachment takes one of 64, its `Drop` frees its unshared
//! blocks (and only those; one another attachment pins is shared instead)
//! and gives the seat back; pins are counted per attachment across threads
//! and recorded in at most 31 records.

mod support;

use sharena_handles::Handles;
use shm_layout::{Error, Recover};
use support::{pattern, shared_segment};

#[test]
fn sixty_four_attachments_and_no_more() {
    let seg = shared_segment(16, 64);
    let mut all: Vec<_> = (0..64)
        .map(|_| Handles::attach(seg.clone()).unwrap())
        .collect();
    assert!(matches!(
        Handles::attach(seg.clone()),
        Err(Error::ProcessTableFull { capacity: 64, .. })
    ));
    drop(all.pop());
    let again = Handles::attach(seg.clone()).unwrap();
    let h = again.alloc(8).unwrap();
    drop(all);
    assert_eq!(again.stats().allocations, 1);
    again.free(h).unwrap();
}

#[test]
fn drop_frees_the_unshared_blocks_of_its_attachment_only() {
    let seg = shared_segment(16, 64);
    let keeper = Handles::attach(seg.clone()).unwrap();
    let kept = keeper.alloc(100).unwrap();
    let leaver = Handles::attach(seg.clone()).unwrap();
    let gone: Vec<_> = (0..5).map(|i| leaver.alloc(10 + i).unwrap()).collect();
    let shared = leaver.alloc(64).unwrap();
    leaver.write(shared, &pattern(7, 64)).unwrap();
    leaver.share_handle(shared).unwrap();
    // The keeper pins one of the leaver's unshared blocks: it cannot be
    // freed under the pin, so the leaving Drop shares it instead.
    let pinned = leaver.alloc(32).unwrap();
    let pin = keeper.pin(pinned).unwrap();
    assert_eq!(keeper.stats().allocations, 8);
    drop(leaver);
    assert_eq!(keeper.stats().allocations, 3, "kept, shared, pinned");
    for h in gone {
        assert!(keeper.size_of(h).is_err(), "{h:?} was the leaver's");
    }
    assert_eq!(keeper.read(shared, 64).unwrap(), pattern(7, 64));
    drop(pin);
    keeper.free(pinned).unwrap();
    keeper.free(shared).unwrap();
    keeper.free(kept).unwrap();
    let c = keeper.check().unwrap();
    assert!(c.ok(), "{:?}", c.problems);
    assert_eq!(keeper.reclaim_dead().unwrap().blocks, 0);
}

#[test]
fn pins_of_one_attachment_across_threads_share_its_seat() {
    let heap = support::heap(16, 64);
    let h = heap.alloc(4096).unwrap();
    heap.write(h, &pattern(1, 4096)).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..2000 {
                    let p = heap.pin(h).unwrap();
                    let mut b = [0u8; 16];
                    p.read_at(0, &mut b).unwrap();
                    assert_eq!(&b[..], &pattern(1, 16)[..]);
                }
            });
        }
    });
    let p = heap.pin(h).unwrap();
    assert!(matches!(heap.free(h), Err(Error::InvalidOffset { .. })));
    drop(p);
    heap.free(h).unwrap();
    assert!(heap.check().unwrap().ok());
}

#[test]
fn one_attachment_pins_at_most_31_handles_at_once() {
    let heap = support::heap(16, 64);
    let hs: Vec<_> = (0..32).map(|_| heap.alloc(8).unwrap()).collect();
    let pins: Vec<_> = hs[..31].iter().map(|&h| heap.pin(h).unwrap()).collect();
    assert!(matches!(heap.pin(hs[31]), Err(Error::Unsupported { .. })));
    let again = heap.pin(hs[0]).unwrap(); // a second pin of a pinned handle
    drop(again);
    drop(pins);
    let last = heap.pin(hs[31]).unwrap();
    drop(last);
    for h in hs {
        heap.free(h).unwrap();
    }
    assert!(heap.check().unwrap().ok());
}
