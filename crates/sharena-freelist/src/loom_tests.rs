//! Loom models of the free list's lock-free parts (run with `.ci/loom.sh`):
//! the remote-free list (pushes racing the owner's take), two frees of one
//! block racing (owner and non-owner), chunk-run claims racing across a
//! bitmap word boundary, and a parked span taken back by its owner while
//! another process steals it. Tiny on purpose: loom explores
//! every interleaving, so 2 or 3 threads and a few chunks.

use crate::block::{cas_state, State, Tag};
use crate::chunks::{ChunkMap, Entry, Kind};
use crate::remote;
use loom::sync::Arc;
use loom::thread;
use shm_layout::sync::{AtomicU64, Ordering};

/// Follows a taken list through `links` (block `b`'s link is `links[b]`).
fn collect(first: u64, links: &[AtomicU64], out: &mut Vec<u64>) {
    let mut b = first;
    while b != 0 {
        out.push(b);
        b = links[b as usize].load(Ordering::Relaxed);
    }
}

#[test]
fn remote_pushes_race_the_owners_take() {
    loom::model(|| {
        let head = Arc::new(AtomicU64::new(0));
        let links: Arc<Vec<AtomicU64>> = Arc::new((0..4).map(|_| AtomicU64::new(0)).collect());
        let pushers: Vec<_> = [1u64, 2]
            .into_iter()
            .map(|b| {
                let (head, links) = (Arc::clone(&head), Arc::clone(&links));
                thread::spawn(move || remote::push(&head, b, &links[b as usize]))
            })
            .collect();
        let mut seen = Vec::new();
        collect(remote::take_all(&head), &links, &mut seen);
        for p in pushers {
            p.join().unwrap();
        }
        collect(remote::take_all(&head), &links, &mut seen);
        seen.sort_unstable();
        assert_eq!(seen, vec![1, 2], "every pushed block is taken exactly once");
    });
}

#[test]
fn an_owner_free_and_a_remote_free_of_one_block_race() {
    loom::model(|| {
        let t = Tag::used(1, 4);
        let tag = Arc::new(AtomicU64::new(t.pack()));
        let head = Arc::new(AtomicU64::new(0));
        let link = Arc::new(AtomicU64::new(0));
        let remote = {
            let (tag, head, link) = (Arc::clone(&tag), Arc::clone(&head), Arc::clone(&link));
            thread::spawn(move || remote::free_block(&tag, t, &link, &head, 64))
        };
        let local = cas_state(&tag, t, State::Free);
        let remote = remote.join().unwrap();
        assert!(local ^ remote, "exactly one free wins");
        let on_list = remote::take_all(&head) == 64;
        assert_eq!(on_list, remote);
        let end = Tag::unpack(tag.load(Ordering::Relaxed)).unwrap().state();
        assert_eq!(end, if remote { State::Remote } else { State::Free });
    });
}

fn map_words(chunks: usize, taken: &[usize]) -> (Vec<AtomicU64>, Vec<AtomicU64>) {
    let bitmap: Vec<AtomicU64> = (0..chunks.div_ceil(64))
        .map(|_| AtomicU64::new(0))
        .collect();
    for &c in taken {
        let w = &bitmap[c / 64];
        w.store(w.load(Ordering::Relaxed) | 1 << (c % 64), Ordering::Relaxed);
    }
    let table = (0..chunks).map(|_| AtomicU64::new(0)).collect();
    (bitmap, table)
}

#[test]
fn claims_across_a_word_boundary_never_overlap() {
    loom::model(|| {
        // 66 chunks, all taken but 63, 64 and 65: two runs of 2 overlap, so
        // exactly one claim of 2 wins; a claim of 1 always fits beside it.
        let taken: Vec<usize> = (0..63).collect();
        let (bitmap, table) = map_words(66, &taken);
        let m = Arc::new((bitmap, table));
        let other = {
            let m = Arc::clone(&m);
            thread::spawn(move || ChunkMap::new(&m.0, &m.1).claim(2))
        };
        let map = ChunkMap::new(&m.0, &m.1);
        let mine = map.claim(2);
        let theirs = other.join().unwrap();
        assert!(mine.is_some() ^ theirs.is_some(), "{mine:?} {theirs:?}");
        let first = mine.or(theirs).unwrap();
        assert!(first == 63 || first == 64);
        let bits = (m.0[0].load(Ordering::Relaxed) >> 63)
            + (m.0[1].load(Ordering::Relaxed) & 3).count_ones() as u64;
        assert_eq!(bits, 2, "the loser gave back every bit it took");
        assert!(map.claim(1).is_some());
    });
}

#[test]
fn a_parked_span_goes_to_its_owner_or_a_thief() {
    loom::model(|| {
        let (bitmap, table) = map_words(4, &[0, 1]);
        let m = Arc::new((bitmap, table));
        let map = ChunkMap::new(&m.0, &m.1);
        map.set_run(0, 2, Entry::new(Kind::SpanHead, 1, 2), Kind::SpanBody);
        map.park(0, 1, 2);
        let thief = {
            let m = Arc::clone(&m);
            thread::spawn(move || ChunkMap::new(&m.0, &m.1).steal_parked())
        };
        let owner = map.unpark(0, 1, 2);
        let stolen = thief.join().unwrap();
        assert!(owner ^ (stolen == 2), "owner {owner}, stolen {stolen}");
        let bits = m.0[0].load(Ordering::Relaxed) & 3;
        assert_eq!(bits, if owner { 3 } else { 0 });
    });
}

#[test]
fn a_take_into_never_loses_a_push() {
    loom::model(|| {
        let head = Arc::new(AtomicU64::new(0));
        let draining = AtomicU64::new(0);
        let links: Arc<Vec<AtomicU64>> = Arc::new((0..4).map(|_| AtomicU64::new(0)).collect());
        let pushers: Vec<_> = [1u64, 2]
            .into_iter()
            .map(|b| {
                let (head, links) = (Arc::clone(&head), Arc::clone(&links));
                thread::spawn(move || remote::push(&head, b, &links[b as usize]))
            })
            .collect();
        let taken = remote::take_into(&head, &draining);
        // What an adopter would find if the taker died right here: the
        // recorded list is exactly what was taken.
        if taken != 0 {
            assert_eq!(draining.load(Ordering::Relaxed), taken);
        }
        let mut seen = Vec::new();
        collect(taken, &links, &mut seen);
        for p in pushers {
            p.join().unwrap();
        }
        collect(remote::take_all(&head), &links, &mut seen);
        seen.sort_unstable();
        assert_eq!(seen, vec![1, 2], "every pushed block is taken exactly once");
    });
}

#[test]
fn two_reclaimers_adopt_a_dead_arena_once() {
    use crate::owner::{adopt, release};
    const DEAD: u64 = 7;
    const DEAD_START: u64 = 70;
    loom::model(|| {
        let words = Arc::new((AtomicU64::new(DEAD), AtomicU64::new(DEAD_START)));
        let other = {
            let w = Arc::clone(&words);
            thread::spawn(move || {
                let won = adopt(&w.0, &w.1, DEAD, 2, 20);
                if won {
                    // A winner's rebuild, then its release.
                    release(&w.0, &w.1);
                }
                won
            })
        };
        let mine = adopt(&words.0, &words.1, DEAD, 1, 10);
        // While we own it, anyone reading our word sees our start or 0,
        // never the dead owner's: a reader would take us for dead.
        if mine {
            let w = words.0.load(Ordering::Acquire);
            let s = words.1.load(Ordering::Relaxed);
            assert_eq!(w, 1);
            assert!(s == 0 || s == 10, "start {s} under our owner word");
        }
        let theirs = other.join().unwrap();
        assert!(!(mine && theirs), "two reclaimers adopted one arena");
        // One of them adopted it unless the other released it first and the
        // second CAS then saw 0 (a released arena is no longer the dead's).
        assert!(mine || theirs);
    });
}
