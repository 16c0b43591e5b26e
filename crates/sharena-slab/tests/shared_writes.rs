//! The writes to segment memory each path makes, counted by the crash
//! hooks' write counter (every store, CAS and RMW of a shim atomic inside a
//! mapped view counts; process-local memory does not): a cache hit writes
//! the slot word and nothing else, so a free and an allocation write two
//! shared words, fewer than a Treiber stack's pop and push (two head CASes
//! and a link store).

mod common;

use sharena_slab::Slab;
use shm_layout::crash::{count_writes, disarm_writes, writes};
use shm_layout::ShmAllocator;

#[test]
fn a_cache_hit_writes_one_shared_word_per_call() {
    let slab = Slab::attach(common::segment(64, 1000)).unwrap();
    // Warm the cache: a refill, then frees into it.
    let held: Vec<_> = (0..8).map(|_| slab.alloc(64).unwrap()).collect();
    for &at in &held[4..] {
        slab.free(at).unwrap();
    }
    count_writes();
    let a = slab.alloc(48).unwrap();
    assert_eq!(writes(), 1, "alloc from the cache");
    slab.free(a).unwrap();
    assert_eq!(writes(), 2, "free into the cache");
    for _ in 0..100 {
        let b = slab.alloc(64).unwrap();
        slab.free(b).unwrap();
    }
    assert_eq!(writes(), 202, "two per pair");
    disarm_writes();
    for at in &held[..4] {
        slab.free(*at).unwrap();
    }
}

#[test]
fn a_refill_and_a_flush_write_what_the_docs_say() {
    // Cache of 8: refills and flushes move 4 slots.
    let slab = Slab::attach(common::segment_with(64, 100, [0, 8, 0, 0]).unwrap()).unwrap();
    count_writes();
    // An empty cache refills 4 from the never-used counter: the counter
    // CAS, 4 stamps, the published count; then the hit's slot word.
    let first = slab.alloc(64).unwrap();
    assert_eq!(writes(), 1 + 4 + 1 + 1);
    let mut held = vec![first];
    held.extend((0..3).map(|_| slab.alloc(64).unwrap()));
    count_writes();
    // Five more: the cache is empty at the first and the fifth, so two
    // refills from the counter (6 writes each) and five hits.
    held.extend((0..5).map(|_| slab.alloc(64).unwrap()));
    assert_eq!(count_writes(), 2 * 6 + 5);
    // The cache holds 3: five frees fill it (one word each), the sixth
    // flushes 4 after its own word: the push flag set and cleared, 4 FREE
    // links, the head CAS, the published count.
    assert_eq!(held.len(), 9);
    for at in held.drain(..5) {
        slab.free(at).unwrap();
    }
    assert_eq!(writes(), 5);
    slab.free(held.pop().unwrap()).unwrap();
    assert_eq!(writes(), 5 + 1 + 2 + 4 + 1 + 1);
    // Drain the cache (5 hits), then refill 4 from the stack: 5 writes a
    // slot (record index and word, head CAS, stamp CAS, record voided) and
    // the published count; then the hit.
    for _ in 0..5 {
        held.push(slab.alloc(64).unwrap());
    }
    count_writes();
    held.push(slab.alloc(64).unwrap());
    assert_eq!(writes(), 4 * 5 + 1 + 1);
    disarm_writes();
    for at in held {
        slab.free(at).unwrap();
    }
}
