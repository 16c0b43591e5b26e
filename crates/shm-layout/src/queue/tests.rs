//! Single-process tests of the queue over heap-built words.

use super::*;
use proptest::prelude::*;
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

/// A queue's words on the heap.
struct Heap {
    hdr: QueueHeader,
    slots: Vec<Slot>,
}

impl Heap {
    fn new(capacity: usize) -> Heap {
        let h = Heap {
            hdr: QueueHeader::new(),
            slots: (0..capacity).map(|_| Slot::new()).collect(),
        };
        Queue::init(&h.hdr, &h.slots).unwrap();
        h
    }
    fn q(&self) -> Queue<'_> {
        Queue::attach(&self.hdr, &self.slots).unwrap()
    }
}

fn id(pid: u32) -> OwnerId {
    OwnerId::new(pid, 0, 1).unwrap()
}

fn caller(pid: u32) -> impl FnMut(&mut dyn FnMut(&mut Caller<'_>)) {
    move |f| {
        let mut alive = |_: OwnerId| true;
        let mut c = Caller {
            me: id(pid),
            is_alive: &mut alive,
        };
        f(&mut c);
    }
}

#[derive(Clone, Debug)]
enum Op {
    Push(u64),
    Pop,
}

proptest! {
    /// Any sequence of try operations matches a bounded VecDeque: the same
    /// values in the same order, Full exactly when it holds `capacity`,
    /// Empty exactly when it holds none.
    #[test]
    fn matches_a_bounded_deque(
        log2 in 1u32..5,
        ops in proptest::collection::vec(
            prop_oneof![any::<u64>().prop_map(Op::Push), Just(Op::Pop)], 0..200),
    ) {
        let cap = 1usize << log2;
        let heap = Heap::new(cap);
        let q = heap.q();
        let mut model = VecDeque::new();
        let mut with = caller(7);
        for op in ops {
            with(&mut |c| match op {
                Op::Push(v) => {
                    let r = q.try_push(v, c);
                    if model.len() == cap {
                        assert_eq!(r, Err(QueueError::Full));
                    } else {
                        assert_eq!(r, Ok(()));
                        model.push_back(v);
                    }
                }
                Op::Pop => {
                    let r = q.try_pop(c);
                    match model.pop_front() {
                        Some(v) => assert_eq!(r, Ok(v)),
                        None => assert_eq!(r, Err(QueueError::Empty)),
                    }
                }
            });
            prop_assert_eq!(q.len_hint(), model.len() as u64);
        }
    }

    /// Hostile words never panic or hang: every operation on a queue whose
    /// positions and sequence words are arbitrary ends in a value or an
    /// error.
    #[test]
    fn hostile_words_end_in_a_result(
        enq in any::<u64>(), deq in any::<u64>(),
        seqs in proptest::collection::vec(any::<u64>(), 4),
        owners in proptest::collection::vec(prop_oneof![Just(0u64), any::<u64>()], 4),
    ) {
        let heap = Heap::new(4);
        heap.hdr.enqueue.store(enq, Ordering::SeqCst);
        heap.hdr.dequeue.store(deq, Ordering::SeqCst);
        for (s, (&w, &o)) in heap.slots.iter().zip(seqs.iter().zip(&owners)) {
            s.seq.store(w, Ordering::SeqCst);
            s.owner.clear_for_init();
            if let Some(h) = OwnerId::from_raw(o) {
                assert!(s.owner.claim(h));
            }
        }
        let q = heap.q();
        let mut dead = |_: OwnerId| false;
        let mut c = Caller { me: id(9), is_alive: &mut dead };
        for v in 0..6 {
            let _ = q.try_push(v, &mut c);
            let _ = q.try_pop(&mut c);
        }
        let _ = q.recover(&mut c);
    }
}

#[test]
fn capacities_are_checked() {
    for bad in [
        0,
        1,
        3,
        6,
        1000,
        MAX_CAPACITY + 1,
        MAX_CAPACITY * 2,
        u64::MAX,
    ] {
        assert!(check_capacity(bad).is_err(), "{bad}");
        assert_eq!(bytes_for(bad), None, "{bad}");
    }
    for good in [2, 4, 1024, MAX_CAPACITY] {
        assert!(check_capacity(good).is_ok(), "{good}");
    }
    assert_eq!(bytes_for(2), Some(HEADER_LEN + 2 * SLOT_LEN));
    let hdr = QueueHeader::new();
    let slots: Vec<Slot> = (0..3).map(|_| Slot::new()).collect();
    assert!(Queue::init(&hdr, &slots).is_err());
}

#[test]
fn a_corrupt_header_is_refused() {
    let heap = Heap::new(4);
    heap.hdr.capacity.store(8, Ordering::SeqCst);
    assert!(matches!(
        Queue::attach(&heap.hdr, &heap.slots),
        Err(QueueError::Corrupt { at: 8, .. })
    ));
    heap.hdr.capacity.store(3, Ordering::SeqCst);
    assert!(Queue::attach(&heap.hdr, &heap.slots).is_err());
    heap.hdr.capacity.store(4, Ordering::SeqCst);
    heap.hdr.magic.store(0xBAD, Ordering::SeqCst);
    assert!(matches!(
        Queue::attach(&heap.hdr, &heap.slots),
        Err(QueueError::Corrupt { at: 0, .. })
    ));
}

#[test]
fn an_impossible_sequence_word_is_corruption() {
    let heap = Heap::new(4);
    let q = heap.q();
    heap.slots[0].seq.store(77, Ordering::SeqCst);
    let mut with = caller(3);
    with(&mut |c| {
        assert_eq!(
            q.try_push(1, c),
            Err(QueueError::Corrupt {
                what: "sequence word impossible for the enqueue position",
                at: HEADER_LEN
            })
        );
        assert!(matches!(q.try_pop(c), Err(QueueError::Corrupt { .. })));
    });
}

#[test]
fn blocking_operations_time_out() {
    let heap = Heap::new(2);
    let q = heap.q();
    let mut with = caller(3);
    with(&mut |c| {
        let soon = Instant::now() + Duration::from_millis(5);
        assert_eq!(q.pop(c, soon), Err(QueueError::TimedOut));
        q.try_push(1, c).unwrap();
        q.try_push(2, c).unwrap();
        let soon = Instant::now() + Duration::from_millis(5);
        assert_eq!(q.push(3, c, soon), Err(QueueError::TimedOut));
        // A deadline already past still makes one attempt.
        assert_eq!(q.pop(c, Instant::now()), Ok(1));
    });
}

/// A dead producer's claim (value stored, sequence not) and a dead
/// consumer's claim (a full slot) are released by the next operation that
/// needs the slot; the dead producer's value is not a push, the full
/// slot's value is popped once.
#[test]
fn dead_claims_are_released_by_the_next_operation() {
    let heap = Heap::new(4);
    let q = heap.q();
    let dead = id(66);
    let mut alive = |h: OwnerId| h != dead;
    let mut c = Caller {
        me: id(5),
        is_alive: &mut alive,
    };
    q.try_push(10, &mut c).unwrap();
    // A consumer died holding slot 0 (full) before its pop's store.
    assert!(heap.slots[0].owner.claim(dead));
    // A producer died holding slot 1 after storing its value.
    assert!(heap.slots[1].owner.claim(dead));
    heap.slots[1].value.store(999, Ordering::SeqCst);
    q.try_push(11, &mut c).unwrap();
    assert_eq!(q.try_pop(&mut c), Ok(10));
    assert_eq!(q.try_pop(&mut c), Ok(11));
    assert_eq!(q.try_pop(&mut c), Err(QueueError::Empty));
    assert_eq!(heap.slots[0].owner.raw(), 0);
    assert_eq!(heap.slots[1].owner.raw(), 0);
}

#[test]
fn recover_releases_dead_claims_only() {
    let heap = Heap::new(4);
    let q = heap.q();
    let dead = id(66);
    assert!(heap.slots[2].owner.claim(dead));
    assert!(heap.slots[3].owner.claim(id(67)));
    let mut alive = |h: OwnerId| h != dead;
    let mut c = Caller {
        me: id(5),
        is_alive: &mut alive,
    };
    assert_eq!(
        q.recover(&mut c),
        Recovered {
            released: 1,
            held_by_live: 1
        }
    );
    assert_eq!(heap.slots[2].owner.raw(), 0);
    assert_eq!(heap.slots[3].owner.raw(), id(67).raw());
}

/// A slot a live process keeps is waited for, and reported as Contended
/// after the round bound (never a hang).
#[test]
fn a_slot_held_by_a_live_process_is_contended() {
    let heap = Heap::new(2);
    let q = heap.q();
    assert!(heap.slots[0].owner.claim(id(67)));
    let mut with = caller(3);
    with(&mut |c| {
        assert_eq!(q.try_push(1, c), Err(QueueError::Contended));
        assert_eq!(q.try_pop(c), Err(QueueError::Empty));
    });
}

/// Four producer and four consumer threads move 40,000 values through a
/// queue of 8: every value is popped exactly once.
#[test]
fn threads_move_every_value_once() {
    const PER: u64 = 5_000;
    let heap = Arc::new(Heap::new(8));
    let mut threads = Vec::new();
    for p in 0..4u64 {
        let h = Arc::clone(&heap);
        threads.push(std::thread::spawn(move || {
            let q = h.q();
            let mut alive = |_: OwnerId| true;
            let mut c = Caller {
                me: id(100 + p as u32),
                is_alive: &mut alive,
            };
            for i in 0..PER {
                let far = Instant::now() + Duration::from_secs(60);
                q.push(p * PER + i, &mut c, far).unwrap();
            }
            Vec::new()
        }));
    }
    for k in 0..4u32 {
        let h = Arc::clone(&heap);
        threads.push(std::thread::spawn(move || {
            let q = h.q();
            let mut alive = |_: OwnerId| true;
            let mut c = Caller {
                me: id(200 + k),
                is_alive: &mut alive,
            };
            (0..PER)
                .map(|_| {
                    let far = Instant::now() + Duration::from_secs(60);
                    q.pop(&mut c, far).unwrap()
                })
                .collect::<Vec<u64>>()
        }));
    }
    let mut seen = HashSet::new();
    for t in threads {
        for v in t.join().unwrap() {
            assert!(seen.insert(v), "{v} popped twice");
        }
    }
    assert_eq!(seen.len() as u64, 4 * PER);
}

/// An owner word no process writes (pid bits 0) is corruption, not a slot
/// to wait for.
#[test]
fn a_garbage_owner_word_is_corruption() {
    let heap = Heap::new(2);
    let q = heap.q();
    // Bypasses `claim` (which takes identities only) as a stray write would.
    let raw = (&raw const heap.slots[0].owner).cast::<AtomicU64>();
    // SAFETY: `OwnerSlot` is `repr(transparent)` over `AtomicU64`.
    unsafe { &*raw }.store(5 << crate::owner::OWNER_PID_BITS, Ordering::SeqCst);
    let mut with = caller(3);
    with(&mut |c| {
        assert_eq!(
            q.try_push(1, c),
            Err(QueueError::Corrupt {
                what: "slot owner word is not a process identity",
                at: HEADER_LEN + 8
            })
        );
    });
}
