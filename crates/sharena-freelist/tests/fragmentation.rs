//! The fragmentation scenario of issue 4: fill with alternating small and
//! large blocks, free every other one, then something larger than any hole
//! fails with out-of-memory; free the neighbours and it succeeds.

mod common;

use shm_layout::{Error, ShmAllocator};

#[test]
fn coalescing_heals_fragmentation() {
    // 64 KiB chunks: a 10 KB request is still an arena (in-span) block.
    let seg = common::segment_with(16 << 20, 16, 0, 0);
    let h = common::attach(&seg);
    let (small, large, big) = (1000u64, 3000u64, 10_000u64);
    let mut blocks = Vec::new();
    while let Ok(s) = h.alloc(small) {
        blocks.push(s);
        let Ok(l) = h.alloc(large) else { break };
        blocks.push(l);
    }
    assert!(blocks.len() > 1000, "filled with {} blocks", blocks.len());
    // Free every large block: holes of ~3 KiB between small ones.
    for at in blocks.iter().skip(1).step_by(2) {
        h.free(*at).unwrap();
    }
    let used = h.stats().used;
    assert!(h.stats().available > 10 * big, "plenty is free in all");
    let r = h.alloc(big);
    assert!(
        matches!(r, Err(Error::OutOfMemory { requested, .. }) if requested == big),
        "{r:?}"
    );
    assert_eq!(h.stats().used, used, "a failed allocation changes nothing");
    // Free the small neighbours of three consecutive holes in the middle:
    // 3000 + 1000 + 3000 + 1000 + 3000 (plus headers) merge into one free
    // run of about 11 KB.
    let mid = (blocks.len() / 2) & !1;
    h.free(blocks[mid + 2]).unwrap();
    h.free(blocks[mid + 4]).unwrap();
    let at = h.alloc(big).unwrap();
    assert!(at.get() > blocks[mid].get() && at.get() < blocks[mid + 6].get());
    h.free(at).unwrap();
    // Free the rest: the whole pool is one allocation again.
    for (i, at) in blocks.iter().enumerate() {
        if i % 2 == 0 && i != mid + 2 && i != mid + 4 {
            h.free(*at).unwrap();
        }
    }
    assert_eq!(h.stats().used, 0);
    let all = h.alloc(h.max_alloc()).unwrap();
    h.free(all).unwrap();
}

#[test]
fn a_large_block_fits_once_its_neighbours_go() {
    // Huge blocks (whole chunks) coalesce through the chunk bitmap.
    let seg = common::segment(16 << 20);
    let h = common::attach(&seg);
    let chunk = 1u64 << h.geometry().chunk_shift;
    let blocks: Vec<_> = std::iter::from_fn(|| h.alloc(chunk).ok()).collect();
    let n = blocks.len();
    assert!(n >= 100);
    for at in blocks.iter().step_by(2) {
        h.free(*at).unwrap();
    }
    // Every other run of chunks is free, none two in a row.
    assert!(matches!(h.alloc(3 * chunk), Err(Error::OutOfMemory { .. })));
    // Two live (odd-index) blocks with a free one between them.
    let mid = (n / 2) | 1;
    h.free(blocks[mid]).unwrap();
    h.free(blocks[mid + 2]).unwrap();
    let big = h.alloc(3 * chunk).unwrap();
    h.free(big).unwrap();
}
