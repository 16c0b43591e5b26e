//! The class caches against a model: a request takes the newest cached
//! block of its own class, else of the next class up (every block there is
//! larger, by at most one class), else a block carved from the bins; the
//! block it gets is checked at the size asked for either way.

mod common;

use shm_layout::{Error, Offset, Recover, ShmAllocator};

/// Requests of 100 and 120 bytes make blocks of 8 and 9 granules (header
/// included): two neighbouring exact classes; 136 bytes makes 10.
const CLASS_8: u64 = 100;
const CLASS_9: u64 = 120;
const CLASS_10: u64 = 136;

fn quiet(h: &sharena_freelist::FreeList<common::Seg>) {
    let r = h.check().unwrap();
    assert!(r.ok(), "{:?}", r.problems);
}

#[test]
fn a_request_takes_its_own_class_first_then_the_next() {
    let seg = common::segment(4 << 20);
    let h = common::attach(&seg);
    // Spacers keep the blocks apart, so nothing here could coalesce.
    let mut live: Vec<Offset> = Vec::new();
    let mut block = |n| {
        let at = h.alloc(n).unwrap();
        live.push(h.alloc(64).unwrap());
        at
    };
    let (a8, a9, a10) = (block(CLASS_8), block(CLASS_9), block(CLASS_10));
    assert_eq!(h.usable_size(a9).unwrap(), 9 * 16 - 16);
    h.free(a9).unwrap();
    h.free(a8).unwrap();
    // Its own class first.
    assert_eq!(h.alloc(CLASS_8).unwrap(), a8);
    // Its own class is empty now: the next class's block.
    let got = h.alloc(CLASS_8).unwrap();
    assert_eq!(got, a9);
    assert_eq!(h.usable_size(got).unwrap(), 9 * 16 - 16);
    // Checked at the size asked for, not the block's.
    h.write(got, &[7; CLASS_8 as usize]).unwrap();
    let r = h.write_at(got, CLASS_8, &[1]);
    assert!(matches!(r, Err(Error::OutOfBounds { .. })), "{r:?}");
    // Two classes up is not taken: a fresh block instead.
    h.free(a10).unwrap();
    let fresh = h.alloc(CLASS_8).unwrap();
    assert!(fresh != a10 && fresh != a8 && fresh != a9);
    assert_eq!(h.usable_size(fresh).unwrap(), 8 * 16 - 16);
    // A larger request never takes a smaller class's block: class 9 is
    // empty, so it takes class 10's.
    h.free(fresh).unwrap();
    let up = h.alloc(CLASS_9).unwrap();
    assert_eq!(up, a10);
    quiet(&h);
    for at in [a8, got, up].into_iter().chain(live) {
        h.free(at).unwrap();
    }
    quiet(&h);
    assert_eq!(h.stats().used, 0);
}
