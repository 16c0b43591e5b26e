//! Issue 7, the named directory: two processes publish the same name at
//! once, 1,000 rounds, and exactly one wins each time; bad names; every
//! segment kind has a directory.

mod common;

use common::{recv, role, send, spawn_child, ShmGuard};
use sharena::layout::sync::Ordering;
use sharena::{
    AllocatorKind, Bump, Error, FreeList, Handles, Named, Offset, OpenOptions, RegionId, Segment,
    SegmentOptions, ShmAllocator, Slab,
};
use std::io::BufReader;
use std::time::{Duration, Instant};

const ROUNDS: u64 = 1000;

/// Waits (yielding) until the word at `at` reaches `want`; a hang guard,
/// not a timed assertion.
fn wait_for(seg: &Segment, at: u64, want: u64) {
    let w = seg.view().atomic_u64(Offset::new(at)).unwrap();
    let start = Instant::now();
    // Acquire: pairs with the other process's Release store.
    while w.load(Ordering::Acquire) < want {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the other process stalled"
        );
        std::thread::yield_now();
    }
}

/// Publishes round `i`'s name with `value`: Ok(true) won, Ok(false) lost.
fn race(seg: &Segment, i: u64, value: u64) -> bool {
    match seg.publish(format!("round-{i}"), Offset::new(value)) {
        Ok(()) => true,
        Err(Error::NameTaken { .. }) => false,
        Err(e) => panic!("round {i}: {e}"),
    }
}

#[test]
fn child_entry() {
    let Some(role) = role() else { return };
    assert_eq!(role, "racer");
    let name = std::env::var("SHARENA_NAME").unwrap();
    let seg = Segment::open(&name, &OpenOptions::new()).unwrap();
    let pool = seg.view().region(RegionId::Pool).offset;
    let mut wins = String::new();
    for i in 0..ROUNDS {
        wait_for(&seg, pool, i + 1);
        wins.push(if race(&seg, i, 2) { '1' } else { '0' });
        // Release: pairs with the parent's Acquire in `wait_for`.
        seg.view()
            .atomic_u64(Offset::new(pool + 128))
            .unwrap()
            .store(i + 1, Ordering::Release);
    }
    send(&wins);
}

#[test]
fn two_processes_publish_one_name_exactly_one_wins() {
    let g = ShmGuard::new("dirrace");
    let seg = Segment::create(g.name(), &SegmentOptions::new(AllocatorKind::Raw, 1 << 20)).unwrap();
    let pool = seg.view().region(RegionId::Pool).offset;
    let mut child = spawn_child("child_entry", "racer", &[("SHARENA_NAME", g.name())]);
    let round = seg.view().atomic_u64(Offset::new(pool)).unwrap();
    let mut mine = Vec::new();
    for i in 0..ROUNDS {
        // Release: pairs with the child's Acquire in `wait_for`.
        round.store(i + 1, Ordering::Release);
        mine.push(race(&seg, i, 1));
        wait_for(&seg, pool + 128, i + 1);
        // Exactly one value is published: the winner's.
        let found = seg.lookup(format!("round-{i}")).unwrap().unwrap().get();
        assert_eq!(found, if mine[i as usize] { 1 } else { 2 }, "round {i}");
        assert_eq!(seg.unpublish(format!("round-{i}")).unwrap().get(), found);
    }
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let theirs = recv(&mut out);
    assert!(child.0.wait().unwrap().success());
    assert_eq!(theirs.len() as u64, ROUNDS, "the child died");
    let mut child_wins = 0;
    for (i, c) in theirs.chars().enumerate() {
        let (p, c) = (mine[i], c == '1');
        assert!(p ^ c, "round {i}: parent won {p}, child won {c}");
        child_wins += u64::from(c);
    }
    eprintln!("the child won {child_wins} of {ROUNDS} rounds");
    assert!(seg.directory().unwrap().is_empty());
}

#[test]
fn bad_names() {
    let seg = Segment::anonymous(&SegmentOptions::new(AllocatorKind::Raw, 1 << 20)).unwrap();
    let at = Offset::new(4096);
    assert!(matches!(
        seg.publish("", at),
        Err(Error::InvalidName { .. })
    ));
    assert!(matches!(
        seg.publish("x".repeat(65), at),
        Err(Error::InvalidName { .. })
    ));
    assert!(matches!(
        seg.publish([0xC3u8, 0x28], at),
        Err(Error::InvalidName { .. })
    ));
    assert!(matches!(
        seg.lookup([0xFFu8]),
        Err(Error::InvalidName { .. })
    ));
    assert!(matches!(seg.unpublish(""), Err(Error::InvalidName { .. })));
    seg.publish("é".repeat(32), at).unwrap(); // 64 bytes of UTF-8
    assert!(matches!(
        seg.publish("é".repeat(32), at),
        Err(Error::NameTaken { .. })
    ));
    assert!(matches!(
        seg.unpublish("missing"),
        Err(Error::NameNotFound { .. })
    ));
    assert_eq!(seg.lookup("missing").unwrap(), None);
    let list = seg.directory().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "é".repeat(32));
    assert_eq!(
        list[0].owner.map(sharena::ProcId::pid),
        Some(std::process::id())
    );
}

#[test]
fn a_full_directory_is_an_error() {
    let opts = SegmentOptions::new(AllocatorKind::Raw, 1 << 20).directory_slots(4);
    let seg = Segment::anonymous(&opts).unwrap();
    for i in 0..4 {
        seg.publish(format!("n{i}"), Offset::new(4096)).unwrap();
    }
    assert!(matches!(
        seg.publish("n4", Offset::new(4096)),
        Err(Error::DirectoryFull { capacity: 4, .. })
    ));
    seg.unpublish("n2").unwrap();
    seg.publish("n4", Offset::new(4096)).unwrap();
    let none = SegmentOptions::new(AllocatorKind::Raw, 1 << 20).directory_slots(0);
    assert!(Segment::anonymous(&none)
        .unwrap()
        .publish("a", Offset::new(1))
        .is_err());
}

#[test]
fn every_allocator_has_a_directory() {
    let heap = FreeList::anonymous(8 << 20).unwrap();
    let at = heap.alloc(100).unwrap();
    heap.publish("fl", at).unwrap();
    assert_eq!(heap.lookup("fl").unwrap(), Some(at));
    let slab = Slab::anonymous(1 << 20, 64).unwrap();
    let s = slab.alloc(10).unwrap();
    slab.publish("slab", s).unwrap();
    assert_eq!(slab.lookup("slab").unwrap(), Some(s));
    let bump = Bump::anonymous(1 << 20).unwrap();
    let b = bump.alloc(10).unwrap();
    bump.publish("bump", b).unwrap();
    assert_eq!(bump.segment().lookup("bump").unwrap(), Some(b));
    let h = Handles::anonymous(1 << 20).unwrap();
    let x = h.alloc(32).unwrap();
    h.publish_handle("h", x).unwrap();
    assert_eq!(h.lookup_handle("h").unwrap(), Some(x));
    assert!(h.publish_handle("h", x).is_err());
}
