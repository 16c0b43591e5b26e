//! Loom models of the free list's lock-free parts (run with `.ci/loom.sh`):
//! the remote-free list (pushes racing the owner's take), two frees of one
//! block racing (owner and non-owner), chunk-run claims racing across a
//! bitmap word boundary, a claim racing the reclaim of a dead claimer's
//! half-done claim, two releases of one huge run, a parked span taken back
//! by its owner while another process steals it, the hand-over of an arena
//! nobody holds (a push racing a release), and an orphan's mark racing its
//! owner. Tiny on purpose: loom explores every interleaving, so 2 or 3
//! threads and a few chunks.

use crate::block::{cas_state, State, Tag, ORPHAN};
use crate::chunks::{ChunkMap, Entry, Kind};
use crate::remote;
use loom::sync::Arc;
use loom::thread;
use shm_layout::sync::{fence, AtomicU64, Ordering};

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
        let pending = Arc::new(AtomicU64::new(0));
        let remote = {
            let (tag, head, link, pending) = (
                Arc::clone(&tag),
                Arc::clone(&head),
                Arc::clone(&link),
                Arc::clone(&pending),
            );
            thread::spawn(move || remote::free_block(&tag, t, &link, &head, 64, 2, &pending))
        };
        let local = cas_state(&tag, t, State::Free);
        let remote = remote.join().unwrap();
        assert!(local ^ remote, "exactly one free wins");
        let on_list = remote::take_all(&head) == 64;
        assert_eq!(on_list, remote);
        assert_eq!(pending.load(Ordering::Relaxed), 0, "the record is cleared");
        let end = Tag::unpack(tag.load(Ordering::Relaxed)).unwrap();
        if remote {
            assert_eq!(
                (end.state(), end.owner()),
                (State::Remote, 2),
                "it names its freer"
            );
        } else {
            assert_eq!(end.state(), State::Free);
        }
    });
}

/// A map of `chunks` chunks whose `taken` chunks are one-chunk spans of
/// arena 9 (table word and bit).
fn map_words(chunks: usize, taken: &[usize]) -> (Vec<AtomicU64>, Vec<AtomicU64>) {
    let bitmap: Vec<AtomicU64> = (0..chunks.div_ceil(64))
        .map(|_| AtomicU64::new(0))
        .collect();
    let table: Vec<AtomicU64> = (0..chunks).map(|_| AtomicU64::new(0)).collect();
    for &c in taken {
        let w = &bitmap[c / 64];
        w.store(w.load(Ordering::Relaxed) | 1 << (c % 64), Ordering::Relaxed);
        table[c].store(Entry::new(Kind::SpanHead, 9, 1).pack(), Ordering::Relaxed);
    }
    (bitmap, table)
}

/// Every chunk's bit is set exactly when its table word is taken.
fn consistent(m: &ChunkMap<'_>) {
    for c in 0..m.chunks() {
        let taken = m.entry(c).unwrap() != Entry::new(Kind::Free, 0, 0);
        assert_eq!(m.bit(c), taken, "chunk {c}");
    }
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
            thread::spawn(move || ChunkMap::new(&m.0, &m.1).claim(2, 2, Kind::SpanBody))
        };
        let map = ChunkMap::new(&m.0, &m.1);
        let mine = map.claim(2, 1, Kind::SpanBody);
        let theirs = other.join().unwrap();
        assert!(mine.is_some() ^ theirs.is_some(), "{mine:?} {theirs:?}");
        let first = mine.or(theirs).unwrap();
        assert!(first == 63 || first == 64);
        let owner = if mine.is_some() { 1 } else { 2 };
        assert_eq!(map.entry(first), Ok(Entry::new(Kind::Claiming, owner, 2)));
        assert_eq!(
            map.entry(first + 1),
            Ok(Entry::new(Kind::SpanBody, owner, 1))
        );
        consistent(&map);
        assert!(map.claim(1, 3, Kind::SpanBody).is_some());
    });
}

#[test]
fn a_claim_races_the_rollback_of_a_dead_claimers_run() {
    loom::model(|| {
        // Arena 1 died claiming chunks 0 and 1 (both words taken, no bits
        // yet); its reclaim rolls the claim back while arena 2 claims two
        // chunks of the three.
        let (bitmap, table) = map_words(3, &[]);
        table[0].store(Entry::new(Kind::Claiming, 1, 2).pack(), Ordering::Relaxed);
        table[1].store(Entry::new(Kind::SpanBody, 1, 1).pack(), Ordering::Relaxed);
        let m = Arc::new((bitmap, table));
        let reclaim = {
            let m = Arc::clone(&m);
            thread::spawn(move || {
                let map = ChunkMap::new(&m.0, &m.1);
                map.resume(0, map.entry(0).unwrap())
            })
        };
        let map = ChunkMap::new(&m.0, &m.1);
        let got = map.claim(2, 2, Kind::SpanBody);
        assert_eq!(reclaim.join().unwrap(), 2, "the dead claim's two chunks");
        if let Some(first) = got {
            assert_eq!(map.entry(first), Ok(Entry::new(Kind::Claiming, 2, 2)));
            map.publish(first, Entry::new(Kind::SpanHead, 2, 2));
        }
        // Nothing of the dead claim is left, and nothing is taken that no
        // word names.
        for c in 0..3 {
            assert_ne!(map.entry(c).unwrap().owner(), 1, "chunk {c}");
        }
        consistent(&map);
    });
}

#[test]
fn two_releases_of_one_huge_run_give_it_back_once() {
    loom::model(|| {
        // A huge block's freer (arena 2) and the reclaim of its owner
        // (arena 1) both hold the run for freeing.
        let (bitmap, table) = map_words(3, &[]);
        let m = Arc::new((bitmap, table));
        let map = ChunkMap::new(&m.0, &m.1);
        let first = map.claim(2, 1, Kind::HugeBody).unwrap();
        let head = Entry::new(Kind::HugeHead, 1, 2);
        map.publish(first, head);
        let freer = {
            let m = Arc::clone(&m);
            thread::spawn(move || ChunkMap::new(&m.0, &m.1).take_run(first, head, 2))
        };
        let reclaim = map.take_run(first, head, 1);
        let freed = freer.join().unwrap();
        assert!(reclaim ^ freed, "exactly one gives the run back");
        consistent(&map);
        assert_eq!(
            map.claim(3, 3, Kind::HugeBody),
            Some(0),
            "all of it is free"
        );
    });
}

#[test]
fn a_parked_span_goes_to_its_owner_or_a_thief() {
    loom::model(|| {
        let (bitmap, table) = map_words(4, &[]);
        let m = Arc::new((bitmap, table));
        let map = ChunkMap::new(&m.0, &m.1);
        assert_eq!(map.claim(2, 1, Kind::SpanBody), Some(0));
        map.publish(0, Entry::new(Kind::SpanHead, 1, 2));
        map.park(0, 1, 2);
        let thief = {
            let m = Arc::clone(&m);
            thread::spawn(move || ChunkMap::new(&m.0, &m.1).steal_parked(2))
        };
        let owner = map.unpark(0, 1, 2);
        let stolen = thief.join().unwrap();
        assert!(owner ^ (stolen == 2), "owner {owner}, stolen {stolen}");
        let bits = m.0[0].load(Ordering::Relaxed) & 3;
        assert_eq!(bits, if owner { 3 } else { 0 });
        consistent(&map);
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
fn a_push_and_a_release_never_both_miss() {
    // The hand-over of `owner.rs`: a freer pushes into an arena, fences and
    // looks at its owner word; the holder releases the arena, fences and
    // looks at its remote list. At least one of them sees the other, so the
    // push is taken in (by the holder again, or by the freer).
    const HOLDER: u64 = 7;
    loom::model(|| {
        let words = Arc::new((AtomicU64::new(HOLDER), AtomicU64::new(0)));
        let link = Arc::new(AtomicU64::new(0));
        let freer = {
            let (w, link) = (Arc::clone(&words), Arc::clone(&link));
            thread::spawn(move || {
                remote::push(&w.1, 64, &link);
                fence(Ordering::SeqCst);
                w.0.load(Ordering::Relaxed) == 0
            })
        };
        let released = words
            .0
            .compare_exchange(HOLDER, 0, Ordering::Release, Ordering::Relaxed)
            .is_ok();
        fence(Ordering::SeqCst);
        let holder_sees = words.1.load(Ordering::Relaxed) != 0;
        let freer_sees = freer.join().unwrap();
        assert!(released);
        assert!(holder_sees || freer_sees, "a push nobody takes in");
    });
}

#[test]
fn an_orphans_mark_is_seen_by_its_owners_walk() {
    // A freer (arena 2) died between its tag CAS and its push: the block is
    // REMOTE by 2 and on no list. A reclaim marks it orphaned and bumps the
    // count; the owner, taking in, finds the count and then the mark.
    loom::model(|| {
        let t = Tag::used(1, 4).remote_by(2);
        let words = Arc::new((AtomicU64::new(t.pack()), AtomicU64::new(0)));
        let reclaim = {
            let w = Arc::clone(&words);
            thread::spawn(move || {
                let marked =
                    w.0.compare_exchange(
                        t.pack(),
                        t.remote_by(ORPHAN).pack(),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    )
                    .is_ok();
                w.1.fetch_add(1, Ordering::Release);
                marked
            })
        };
        // The owner's `take_orphans`: count first (Acquire), then the walk.
        let reported = words.1.load(Ordering::Acquire);
        if reported > 0 {
            let now = Tag::unpack(words.0.load(Ordering::Relaxed)).unwrap();
            assert_eq!(now.owner(), ORPHAN, "the count came before its mark");
        }
        assert!(reclaim.join().unwrap());
    });
}
