//! The queue between processes: producer and consumer processes move
//! values through one queue, every value seen exactly once; a producer or
//! a consumer SIGKILLed mid-stream wedges nobody and loses at most what
//! the queue's docs say; bad input gets specific errors.

mod common;

use common::{recv, role, send, ShmGuard, TempPath};
use sharena::layout::sync::Ordering;
use sharena::{Error, FreeList, Named, Offset, Queue, ShmAllocator};
use sharena_testkit::harness::{ChildGuard, Exit, Spawn};
use sharena_testkit::XorShift;
use std::collections::HashSet;
use std::io::{BufReader, Write};
use std::time::Duration;

const NAME_VAR: &str = "SHARENA_QUEUE_NAME";
const LONG: Duration = Duration::from_secs(120);
/// What a consumer stops at (no producer pushes it).
const STOP: u64 = u64::MAX;
/// Producer `p` pushes `p * STRIDE + i`.
const STRIDE: u64 = 1 << 32;

/// The roles. "producer P N": pushes `P * STRIDE + i` for `i < N`, saying
/// "pushing" first. "consumer PATH": pops until STOP, appending each value
/// (8 bytes, one write each, so a kill loses at most the value in hand)
/// to the file at PATH, saying "popping" first.
#[test]
fn child_entry() {
    let Some(role) = role() else { return };
    let name = std::env::var(NAME_VAR).unwrap();
    let args = sharena_testkit::harness::child_args();
    let heap = FreeList::open(&name).unwrap();
    let q = Queue::open_named(&*heap, "q").unwrap();
    match role.as_str() {
        "producer" => {
            let p: u64 = args[0].parse().unwrap();
            let n: u64 = args[1].parse().unwrap();
            send("pushing");
            for i in 0..n {
                q.push(p * STRIDE + i, LONG).unwrap();
            }
        }
        "consumer" => {
            let mut out = std::fs::OpenOptions::new()
                .append(true)
                .open(&args[0])
                .unwrap();
            send("popping");
            loop {
                let v = q.pop(LONG).unwrap();
                if v == STOP {
                    break;
                }
                out.write_all(&v.to_le_bytes()).unwrap();
            }
        }
        other => panic!("unknown role {other}"),
    }
}

type Kid = (ChildGuard, BufReader<std::process::ChildStdout>);

fn spawn(role: &str, name: &str, args: &[String]) -> Kid {
    let mut child = Spawn::test("child_entry", role)
        .env(NAME_VAR, name)
        .args(args)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let hello = recv(&mut out);
    assert!(hello == "pushing" || hello == "popping", "{hello}");
    (child, out)
}

/// A segment with a queue of `capacity` published as "q".
fn setup(g: &ShmGuard, capacity: u64) -> FreeList {
    let heap = FreeList::create(g.name(), 4 << 20).unwrap();
    {
        let q = Queue::create_in(&*heap, capacity).unwrap();
        heap.publish("q", q.offset()).unwrap();
    }
    heap
}

fn values_in(path: &TempPath) -> Vec<u64> {
    let bytes = std::fs::read(path.path()).unwrap();
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

struct Run {
    g: ShmGuard,
    heap: FreeList,
    producers: Vec<Kid>,
    consumers: Vec<(Kid, TempPath)>,
}

fn start(tag: &str, capacity: u64, producers: u64, per: u64, consumers: usize) -> Run {
    let g = ShmGuard::new(tag);
    let heap = setup(&g, capacity);
    let consumers = (0..consumers)
        .map(|k| {
            let path = TempPath::new(&format!("{tag}-c{k}"));
            std::fs::write(path.path(), b"").unwrap();
            let kid = spawn(
                "consumer",
                g.name(),
                &[path.path().to_str().unwrap().to_string()],
            );
            (kid, path)
        })
        .collect();
    let producers = (0..producers)
        .map(|p| spawn("producer", g.name(), &[p.to_string(), per.to_string()]))
        .collect();
    Run {
        g,
        heap,
        producers,
        consumers,
    }
}

/// Waits for the live producers, stops the live consumers, and returns
/// every consumer's values (`None` for a killed one's slot: its values are
/// returned too, in the second list).
fn finish(run: &mut Run, killed_consumer: Option<usize>) -> (Vec<u64>, Vec<u64>) {
    for (child, _) in &mut run.producers {
        let exit = child.wait_timeout(LONG).unwrap().expect("producer wedged");
        assert!(
            exit == Exit::Exited(0) || exit.killed_by(nix::sys::signal::Signal::SIGKILL),
            "{exit}"
        );
    }
    let q = Queue::open_named(&*run.heap, "q").unwrap();
    let live = run.consumers.len() - usize::from(killed_consumer.is_some());
    for _ in 0..live {
        q.push(STOP, LONG).unwrap();
    }
    let (mut survivors, mut victim) = (Vec::new(), Vec::new());
    for (k, ((child, _), path)) in run.consumers.iter_mut().enumerate() {
        let exit = child.wait_timeout(LONG).unwrap().expect("consumer wedged");
        if Some(k) == killed_consumer {
            assert!(exit.killed_by(nix::sys::signal::Signal::SIGKILL), "{exit}");
            victim.extend(values_in(path));
        } else {
            assert_eq!(exit, Exit::Exited(0));
            survivors.extend(values_in(path));
        }
    }
    assert_eq!(q.try_pop().unwrap_err().to_string(), "the queue is empty");
    let _ = &run.g;
    (survivors, victim)
}

/// The set of values; panics on a duplicate.
fn once(values: impl IntoIterator<Item = u64>) -> HashSet<u64> {
    let mut seen = HashSet::new();
    for v in values {
        assert!(seen.insert(v), "value {v:#x} popped twice");
    }
    seen
}

/// Four producer and three consumer processes move 100,000 values through
/// a queue of 64: every value is popped exactly once.
#[test]
fn processes_move_every_value_exactly_once() {
    const PER: u64 = 25_000;
    let mut run = start("queue-procs", 64, 4, PER, 3);
    let (got, _) = finish(&mut run, None);
    let seen = once(got);
    assert_eq!(seen.len() as u64, 4 * PER);
    for p in 0..4 {
        for i in 0..PER {
            assert!(seen.contains(&(p * STRIDE + i)), "lost {p}/{i}");
        }
    }
}

fn seed() -> u64 {
    let s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    eprintln!("kill seed {s}");
    u64::from(s)
}

/// A producer SIGKILLed at a random point of its stream: the others and
/// every consumer finish; of the victim's values, exactly a prefix was
/// popped (everything it pushed before the kill, and perhaps the push in
/// flight), each once; the others' values are all popped once.
#[test]
fn a_producer_killed_mid_stream_wedges_nobody() {
    const PER: u64 = 20_000;
    let mut rng = XorShift::new(seed());
    let mut run = start("queue-kill-p", 16, 3, PER, 2);
    std::thread::sleep(Duration::from_micros(rng.below(20_000)));
    run.producers[0].0.kill();
    let (got, _) = finish(&mut run, None);
    let seen = once(got);
    let victim: Vec<u64> = (0..PER).filter(|i| seen.contains(i)).collect();
    let k = victim.len() as u64;
    assert_eq!(
        victim,
        (0..k).collect::<Vec<_>>(),
        "a pushed value was lost"
    );
    for p in 1..3 {
        for i in 0..PER {
            assert!(seen.contains(&(p * STRIDE + i)), "lost {p}/{i}");
        }
    }
    assert_eq!(seen.len() as u64, 2 * PER + k);
    eprintln!("the victim pushed {k} of {PER}");
}

/// A consumer SIGKILLed at a random point: the others finish; nothing is
/// popped twice (the victim's record counted too), and at most one value
/// (the one the victim had popped and not yet recorded) is missing.
#[test]
fn a_consumer_killed_mid_stream_wedges_nobody() {
    const PER: u64 = 20_000;
    let mut rng = XorShift::new(seed());
    let mut run = start("queue-kill-c", 16, 2, PER, 3);
    std::thread::sleep(Duration::from_micros(rng.below(20_000)));
    run.consumers[0].0 .0.kill();
    let (survivors, victim) = finish(&mut run, Some(0));
    let seen = once(survivors.iter().chain(&victim).copied());
    let missing: Vec<u64> = (0..2)
        .flat_map(|p| (0..PER).map(move |i| p * STRIDE + i))
        .filter(|v| !seen.contains(v))
        .collect();
    assert!(missing.len() <= 1, "lost {missing:x?}");
    assert_eq!(seen.len() as u64 + missing.len() as u64, 2 * PER);
    eprintln!(
        "the victim popped {} values; {} lost with it",
        victim.len(),
        missing.len()
    );
}

// ---- bad input ----

fn heap(tag: &str) -> (ShmGuard, FreeList) {
    let g = ShmGuard::new(tag);
    let h = FreeList::create(g.name(), 4 << 20).unwrap();
    (g, h)
}

#[test]
fn bad_capacities_are_refused() {
    let (_g, h) = heap("queue-cap");
    for cap in [0, 1, 3, 100, (1 << 24) + 1, 1 << 25, u64::MAX] {
        match Queue::create_in(&*h, cap) {
            Err(Error::InvalidCapacity { capacity, .. }) => assert_eq!(capacity, cap),
            other => panic!("capacity {cap}: {other:?}"),
        }
    }
    // A valid capacity too big for the pool is the allocator's error.
    assert!(matches!(
        Queue::create_in(&*h, 1 << 20),
        Err(Error::OutOfMemory { .. } | Error::SizeTooLarge { .. })
    ));
}

#[test]
fn full_empty_and_timeouts_are_specific_errors() {
    let (_g, h) = heap("queue-full");
    let q = Queue::create_in(&*h, 2).unwrap();
    assert!(matches!(q.try_pop(), Err(Error::QueueEmpty)));
    q.try_push(1).unwrap();
    q.try_push(2).unwrap();
    assert!(matches!(
        q.try_push(3),
        Err(Error::QueueFull { capacity: 2 })
    ));
    assert!(matches!(
        q.push(3, Duration::from_millis(5)),
        Err(Error::Timeout { ref what, .. }) if what.contains("(push)")
    ));
    assert_eq!(q.pop(Duration::ZERO).unwrap(), 1);
    assert_eq!(q.pop(Duration::from_secs(1)).unwrap(), 2);
    assert!(matches!(
        q.pop(Duration::from_millis(5)),
        Err(Error::Timeout { ref what, .. }) if what.contains("(pop)")
    ));
    assert_eq!(q.len_hint(), 0);
}

#[test]
fn corrupt_headers_and_offsets_are_refused() {
    let (_g, h) = heap("queue-corrupt");
    let q = Queue::create_in(&*h, 4).unwrap();
    let at = q.offset();
    let word = |off: u64| h.view().atomic_u64(Offset::new(at.get() + off)).unwrap();
    // Not a queue's offset at all.
    assert!(Queue::open(&*h, Offset::new(at.get() + 8)).is_err());
    assert!(Queue::open(&*h, Offset::new(3)).is_err());
    assert!(matches!(
        Queue::open_named(&*h, "nothing"),
        Err(Error::NameNotFound { .. })
    ));
    // A hostile capacity: invalid, or valid but larger than the block.
    for bad in [0, 3, 1 << 40, u64::MAX, 1 << 20] {
        word(8).store(bad, Ordering::SeqCst);
        match Queue::open(&*h, at) {
            Err(Error::Corrupt { at: where_, .. }) => assert_eq!(where_, at.get() + 8),
            other => panic!("capacity {bad}: {other:?}"),
        }
    }
    word(8).store(4, Ordering::SeqCst);
    assert!(Queue::open(&*h, at).is_ok());
    // A hostile sequence word.
    word(512).store(12345, Ordering::SeqCst);
    assert!(matches!(q.try_push(1), Err(Error::Corrupt { .. })));
    assert!(matches!(q.try_pop(), Err(Error::Corrupt { .. })));
    // A wrong magic.
    word(0).store(0xBAD, Ordering::SeqCst);
    assert!(matches!(Queue::open(&*h, at), Err(Error::Corrupt { .. })));
}

/// A claim left by a dead process is released by `recover` and by the
/// next operation that needs the slot.
#[test]
fn a_dead_processes_claim_is_released() {
    let (_g, h) = heap("queue-dead");
    let q = Queue::create_in(&*h, 2).unwrap();
    // An identity no running process has: pid 1 with a start time it
    // does not have.
    let dead = sharena::layout::OwnerId::new(1, 0, 0xFFFF_FFFE).unwrap();
    let owner = |i: u64| {
        h.view()
            .atomic_u64(Offset::new(q.offset().get() + 512 + i * 32 + 8))
            .unwrap()
    };
    owner(0).store(dead.raw(), Ordering::SeqCst);
    owner(1).store(dead.raw(), Ordering::SeqCst);
    let r = q.recover();
    assert_eq!(r.released, 2);
    owner(0).store(dead.raw(), Ordering::SeqCst);
    q.try_push(7).unwrap();
    assert_eq!(q.try_pop().unwrap(), 7);
    assert_eq!(owner(0).load(Ordering::SeqCst), 0);
}

/// A slot held by a live process (here pid 1, with its real start time):
/// a try operation gives up with `QueueContended`, a blocking one at its
/// deadline, and neither releases the claim.
#[test]
fn a_live_processes_claim_is_contended_not_taken() {
    let (_g, h) = heap("queue-live");
    let q = Queue::create_in(&*h, 2).unwrap();
    let start = sharena::layout::procid::start_of(1).expect("pid 1 runs");
    let live = sharena::layout::OwnerId::new(1, 0, start).unwrap();
    let owner = h
        .view()
        .atomic_u64(Offset::new(q.offset().get() + 512 + 8))
        .unwrap();
    owner.store(live.raw(), Ordering::SeqCst);
    assert!(matches!(
        q.try_push(1),
        Err(Error::QueueContended { op: "try_push" })
    ));
    assert!(matches!(
        q.push(1, Duration::from_millis(10)),
        Err(Error::Timeout { ref what, .. }) if what.contains("(push)")
    ));
    assert_eq!(q.recover().held_by_live, 1);
    assert_eq!(owner.load(Ordering::SeqCst), live.raw());
    owner.store(0, Ordering::SeqCst);
    q.try_push(1).unwrap();
}
