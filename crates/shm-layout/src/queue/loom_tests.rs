//! Loom models of the queue (capacity 2, 2 or 3 threads). Run with
//! `.ci/loom.sh`. A "death" is a thread that makes the first writes of a
//! push or pop, exactly as `try_push`/`try_pop` make them, and stops: it
//! then counts as dead for the survivors' liveness checks.

use super::*;
use loom::sync::atomic::AtomicBool;
use loom::sync::Arc;
use loom::thread;

struct Heap {
    hdr: QueueHeader,
    slots: Vec<Slot>,
    /// Set by a dying thread after its last write.
    dead: AtomicBool,
}

const DEAD: u32 = 66;

fn id(pid: u32) -> OwnerId {
    OwnerId::new(pid, 0, 1).unwrap()
}

impl Heap {
    fn new() -> Arc<Heap> {
        let h = Heap {
            hdr: QueueHeader::new(),
            slots: (0..2).map(|_| Slot::new()).collect(),
            dead: AtomicBool::new(false),
        };
        Queue::init(&h.hdr, &h.slots).unwrap();
        Arc::new(h)
    }
    fn q(&self) -> Queue<'_> {
        Queue::attach(&self.hdr, &self.slots).unwrap()
    }
    /// Runs `f` as process `pid`; the dying process counts as alive until
    /// it has stopped.
    fn with<T>(&self, pid: u32, f: impl FnOnce(&Queue<'_>, &mut Caller<'_>) -> T) -> T {
        let mut alive = |h: OwnerId| h != id(DEAD) || !self.dead.load(Ordering::SeqCst);
        let mut c = Caller {
            me: id(pid),
            is_alive: &mut alive,
        };
        f(&self.q(), &mut c)
    }
    fn try_push(&self, pid: u32, v: u64) -> Result<(), QueueError> {
        self.with(pid, |q, c| q.try_push(v, c))
    }
    fn try_pop(&self, pid: u32) -> Result<u64, QueueError> {
        self.with(pid, |q, c| q.try_pop(c))
    }
    fn far() -> Instant {
        Instant::now() + Duration::from_secs(3600)
    }
    fn pop(&self, pid: u32) -> u64 {
        self.with(pid, |q, c| q.pop(c, Self::far())).unwrap()
    }
    fn push(&self, pid: u32, v: u64) {
        self.with(pid, |q, c| q.push(v, c, Self::far())).unwrap();
    }
    /// Pops until empty.
    fn drain(&self) -> Vec<u64> {
        let mut out = Vec::new();
        for _ in 0..4 {
            match self.try_pop(9) {
                Ok(v) => out.push(v),
                Err(QueueError::Empty) => return out,
                Err(e) => panic!("drain: {e:?}"),
            }
        }
        panic!("more values than slots");
    }
}

/// A push races a pop on an empty queue: the pop gets the value or Empty,
/// and whatever it did not get is still there afterwards.
#[test]
fn push_races_pop() {
    loom::model(|| {
        let h = Heap::new();
        let h2 = Arc::clone(&h);
        let t = thread::spawn(move || h2.try_push(1, 1));
        let got = h.try_pop(2);
        t.join().unwrap().unwrap();
        match got {
            Ok(v) => {
                assert_eq!(v, 1);
                assert_eq!(h.drain(), Vec::<u64>::new());
            }
            Err(QueueError::Empty) => assert_eq!(h.drain(), vec![1]),
            Err(e) => panic!("{e:?}"),
        }
    });
}

/// Two producers race for the same slot: both pushes land, in some order,
/// each once.
#[test]
fn two_producers_on_one_slot() {
    loom::model(|| {
        let h = Heap::new();
        let h2 = Arc::clone(&h);
        let t = thread::spawn(move || h2.try_push(1, 10));
        let mine = h.try_push(2, 20);
        let theirs = t.join().unwrap();
        assert_eq!((mine, theirs), (Ok(()), Ok(())));
        let mut got = h.drain();
        got.sort_unstable();
        assert_eq!(got, vec![10, 20]);
    });
}

/// A full queue: a push races a pop. The push is refused (Full) only if it
/// came before the pop; no value is lost or duplicated.
#[test]
fn a_full_queue() {
    loom::model(|| {
        let h = Heap::new();
        h.try_push(1, 1).unwrap();
        h.try_push(1, 2).unwrap();
        assert_eq!(h.try_push(1, 9), Err(QueueError::Full));
        let h2 = Arc::clone(&h);
        let t = thread::spawn(move || h2.try_push(2, 3));
        let popped = h.try_pop(3).unwrap();
        assert_eq!(popped, 1);
        let pushed = t.join().unwrap();
        let rest = h.drain();
        match pushed {
            Ok(()) => assert_eq!(rest, vec![2, 3]),
            Err(QueueError::Full) => assert_eq!(rest, vec![2]),
            Err(e) => panic!("{e:?}"),
        }
    });
}

/// try_push's first writes at position 0 by the dying process, as
/// `try_push` makes them: the claim (after seeing the slot empty), then,
/// if the re-check under the claim passes, the value; then it stops.
fn die_pushing(h: &Heap) {
    let slot = &h.slots[0];
    // The orderings are try_push's (commented there): Acquire loads of the
    // sequence pair with its Release stores.
    if slot.seq.load(Ordering::Acquire) == 0
        && slot.owner.claim(id(DEAD))
        && slot.seq.load(Ordering::Acquire) == 0
    {
        slot.value.store(666, Ordering::Relaxed);
    }
    h.dead.store(true, Ordering::SeqCst);
}

/// A producer claims slot 0, stores its value and dies before publishing,
/// racing a live producer's blocking push: the live producer recovers the
/// claim (or got there first), and only its value is in the queue.
#[test]
fn a_dead_producers_claim_is_recovered_by_a_live_producer() {
    loom::model(|| {
        let h = Heap::new();
        let hd = Arc::clone(&h);
        let dying = thread::spawn(move || die_pushing(&hd));
        h.push(1, 5);
        dying.join().unwrap();
        assert_eq!(h.drain(), vec![5]);
    });
}

/// A consumer waits in `pop` while a producer claims slot 0 and dies, and
/// then a live producer (here the same thread, after the death) pushes:
/// the live producer recovers the claim and the consumer gets its value,
/// never the dead producer's. (Three threads, two of them spinning on a
/// third, would outrun loom's unfair scheduler.)
#[test]
fn a_dead_producers_claim_is_recovered_while_a_consumer_waits() {
    loom::model(|| {
        let h = Heap::new();
        let hp = Arc::clone(&h);
        let producers = thread::spawn(move || {
            die_pushing(&hp);
            hp.push(1, 5);
        });
        assert_eq!(h.pop(2), 5);
        producers.join().unwrap();
        assert_eq!(h.drain(), Vec::<u64>::new());
    });
}

/// A producer dies after publishing (before releasing its claim): its
/// value was pushed, and the waiting consumer gets it.
#[test]
fn a_producer_dead_after_publishing_has_pushed() {
    loom::model(|| {
        let h = Heap::new();
        let hd = Arc::clone(&h);
        let dying = thread::spawn(move || {
            let slot = &hd.slots[0];
            assert!(slot.owner.claim(id(DEAD)));
            // try_push's writes and orderings: the Relaxed value is
            // published by the Release sequence store (paired with the
            // consumer's Acquire load).
            slot.value.store(7, Ordering::Relaxed);
            slot.seq.store(1, Ordering::Release);
            hd.dead.store(true, Ordering::SeqCst);
        });
        assert_eq!(h.pop(2), 7);
        dying.join().unwrap();
        // The slot is usable again: two more pushes fit.
        h.try_push(2, 8).unwrap();
        h.try_push(2, 9).unwrap();
        assert_eq!(h.drain(), vec![8, 9]);
    });
}

/// A consumer claims the full slot and dies before its pop's store, while
/// another consumer pops: the value is popped exactly once, by the
/// survivor.
#[test]
fn a_dead_consumers_claim_is_recovered() {
    loom::model(|| {
        let h = Heap::new();
        h.try_push(1, 42).unwrap();
        let hd = Arc::clone(&h);
        let dying = thread::spawn(move || {
            // try_pop's first write: the claim, after seeing the slot full.
            let slot = &hd.slots[0];
            // Acquire: as try_pop's load of the sequence.
            if slot.seq.load(Ordering::Acquire) == 1 {
                let _ = slot.owner.claim(id(DEAD));
            }
            hd.dead.store(true, Ordering::SeqCst);
        });
        assert_eq!(h.pop(2), 42);
        dying.join().unwrap();
        assert_eq!(h.drain(), Vec::<u64>::new());
    });
}

/// Two producers and a consumer on a queue of 2: every value pushed is
/// popped by the consumer or left in the queue, each exactly once.
#[test]
fn two_producers_and_a_consumer() {
    loom::model(|| {
        let h = Heap::new();
        let ts: Vec<_> = [(1u32, 10u64), (2, 20)]
            .into_iter()
            .map(|(pid, v)| {
                let h = Arc::clone(&h);
                thread::spawn(move || h.try_push(pid, v).map(|()| v))
            })
            .collect();
        let popped = h.try_pop(3);
        let mut pushed: Vec<u64> = ts.into_iter().map(|t| t.join().unwrap().unwrap()).collect();
        let mut seen = h.drain();
        match popped {
            Ok(v) => seen.push(v),
            Err(QueueError::Empty) => {}
            Err(e) => panic!("{e:?}"),
        }
        seen.sort_unstable();
        pushed.sort_unstable();
        assert_eq!(seen, pushed);
    });
}
