//! wait/notify between processes: each child maps the segment itself (at
//! its own address), so only a shared (non-private) futex can wake it; a
//! waiter killed while it sleeps and a notifier that dies before notifying
//! wedge nobody.

mod common;

use common::{recv, role, send, ShmGuard};
use sharena::{AllocatorKind, OpenOptions, RegionId, Segment, SegmentOptions};
use sharena_testkit::harness::{Exit, Spawn};
use std::io::BufReader;
use std::time::{Duration, Instant};

const NAME_VAR: &str = "SHARENA_NAME";
const LONG: Duration = Duration::from_secs(60);

/// The event sits at the pool's start, the flag word 8 bytes after it.
fn places(seg: &Segment) -> (sharena::Offset, sharena::Offset) {
    let pool = seg.view().region(RegionId::Pool).offset;
    (sharena::Offset::new(pool), sharena::Offset::new(pool + 8))
}

fn flag_is(seg: &Segment, at: sharena::Offset, want: u32) -> bool {
    let flag = seg.view().atomic_u32(at).unwrap();
    flag.load(sharena::layout::sync::Ordering::SeqCst) == want
}

/// The roles: "waiter" waits (up to a minute) for the flag and says
/// "woke"; "notifier_dies" says "ready" and is killed without notifying.
#[test]
fn child_entry() {
    let Some(role) = role() else { return };
    let name = std::env::var(NAME_VAR).unwrap();
    let seg = Segment::open(&name, &OpenOptions::default()).unwrap();
    let (ev_at, flag_at) = places(&seg);
    match role.as_str() {
        "waiter" => {
            let ev = seg.view().event(ev_at).unwrap();
            send("waiting");
            let got = ev.wait_until(Instant::now() + LONG, || {
                flag_is(&seg, flag_at, 1).then_some(())
            });
            assert_eq!(got, Some(()));
            send("woke");
        }
        "sleeper" => {
            let ev = seg.view().event(ev_at).unwrap();
            send("waiting");
            ev.wait_until(Instant::now() + LONG, || None::<()>);
        }
        "notifier_dies" => {
            send("ready");
            std::thread::sleep(LONG);
        }
        other => panic!("unknown role {other}"),
    }
}

fn segment(g: &ShmGuard) -> Segment {
    Segment::create(g.name(), &SegmentOptions::new(AllocatorKind::Raw, 1 << 20)).unwrap()
}

fn spawn(
    role: &str,
    name: &str,
) -> (
    sharena_testkit::harness::ChildGuard,
    BufReader<std::process::ChildStdout>,
) {
    let mut child = Spawn::test("child_entry", role)
        .env(NAME_VAR, name)
        .spawn()
        .unwrap();
    let out = BufReader::new(child.0.stdout.take().unwrap());
    (child, out)
}

/// Three processes wait; one notify after the flag is set wakes them all.
#[test]
fn a_notify_wakes_waiters_in_other_processes() {
    let g = ShmGuard::new("wait");
    let seg = segment(&g);
    let (ev_at, flag_at) = places(&seg);
    let mut kids: Vec<_> = (0..3).map(|_| spawn("waiter", g.name())).collect();
    for (_, out) in &mut kids {
        assert_eq!(recv(out), "waiting");
    }
    let flag = seg.view().atomic_u32(flag_at).unwrap();
    flag.store(1, sharena::layout::sync::Ordering::SeqCst);
    seg.view().event(ev_at).unwrap().notify_all();
    for (child, out) in &mut kids {
        assert_eq!(recv(out), "woke");
        assert_eq!(child.wait_timeout(LONG).unwrap(), Some(Exit::Exited(0)));
    }
}

/// A waiter killed in its sleep leaves its registration behind: notifies
/// still work (they cost one wake call more) and a new waiter is woken.
#[test]
fn a_waiter_killed_asleep_wedges_nobody() {
    let g = ShmGuard::new("wait-kill");
    let seg = segment(&g);
    let (ev_at, flag_at) = places(&seg);
    let (mut sleeper, mut out) = spawn("sleeper", g.name());
    assert_eq!(recv(&mut out), "waiting");
    let waiters = seg
        .view()
        .atomic_u32(sharena::Offset::new(ev_at.get() + 4))
        .unwrap();
    // The sleeper registers right after saying so; give it a bounded while.
    let deadline = Instant::now() + LONG;
    while waiters.load(sharena::layout::sync::Ordering::SeqCst) == 0 && Instant::now() < deadline {
        std::thread::yield_now();
    }
    sleeper.kill();
    assert!(sleeper
        .wait_timeout(LONG)
        .unwrap()
        .unwrap()
        .killed_by(nix::sys::signal::Signal::SIGKILL));
    assert_eq!(waiters.load(sharena::layout::sync::Ordering::SeqCst), 1);

    let (mut waiter, mut out) = spawn("waiter", g.name());
    assert_eq!(recv(&mut out), "waiting");
    seg.view()
        .atomic_u32(flag_at)
        .unwrap()
        .store(1, sharena::layout::sync::Ordering::SeqCst);
    seg.view().event(ev_at).unwrap().notify_all();
    assert_eq!(recv(&mut out), "woke");
    assert_eq!(waiter.wait_timeout(LONG).unwrap(), Some(Exit::Exited(0)));
}

/// A process waits for a notifier that dies without notifying: its
/// condition checks the notifier's liveness, so the wait ends with the
/// death (well before the minute's deadline), not at the deadline.
#[test]
fn a_notifier_that_dies_first_costs_at_most_the_timeout() {
    let g = ShmGuard::new("wait-dead");
    let seg = segment(&g);
    let (ev_at, flag_at) = places(&seg);
    let (mut notifier, mut out) = spawn("notifier_dies", g.name());
    assert_eq!(recv(&mut out), "ready");
    let pid = notifier.id();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        notifier.kill();
        notifier.wait_timeout(LONG).unwrap()
    });
    let ev = seg.view().event(ev_at).unwrap();
    // Sliced waits: each wake-up (or slice end) re-checks the flag and
    // whether the notifier still lives.
    let started = Instant::now();
    let mut outcome = None;
    while started.elapsed() < LONG && outcome.is_none() {
        outcome = ev.wait_until(Instant::now() + Duration::from_millis(20), || {
            if flag_is(&seg, flag_at, 1) {
                Some("notified")
            } else if !sharena::is_alive(pid) {
                Some("notifier died")
            } else {
                None
            }
        });
    }
    assert_eq!(outcome, Some("notifier died"));
    assert!(killer
        .join()
        .unwrap()
        .unwrap()
        .killed_by(nix::sys::signal::Signal::SIGKILL));
}

#[test]
fn bad_places_are_errors() {
    let g = ShmGuard::new("wait-bad");
    let seg = segment(&g);
    let v = seg.view();
    assert!(v.event(sharena::Offset::new(4)).is_err());
    assert!(v.event(sharena::Offset::new(seg.len() - 4)).is_err());
    assert!(v.event(sharena::Offset::new(u64::MAX - 7)).is_err());
    assert!(v
        .wait_u32(sharena::Offset::new(seg.len()), 0, Duration::ZERO)
        .is_err());
    assert!(v.notify_all(sharena::Offset::new(3)).is_err());
}
