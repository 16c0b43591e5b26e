//! wait/notify scenarios: a process killed at every write of its notifies
//! and of its waits on an `Event` (`shm_layout::wait`) in a segment.
//!
//! The survivor allocates one block on a free list for the event's two
//! words and a flag word, shares it and publishes it; the victim opens the
//! segment, looks the name up and notifies or waits. After each state the
//! survivor checks that nobody is wedged, which is all a death may not do
//! to an event:
//! - the waiter count is 0, or 1 when the victim died registered (between
//!   its add and its subtract), never more;
//! - the sequence moved by at most the notifies the victim began, and by
//!   exactly them when it finished;
//! - a thread of the survivor that waits on the event (a minute's
//!   deadline) is woken by the survivor's own notify: the wait returns
//!   with the condition met, not at its deadline;
//! - a wait for a condition nobody makes true ends at its short deadline.

use super::notes::Notes;
use super::{engine, pool, Ended, Note, Outcome, Scenario, World};
use sharena::layout::sync::{AtomicU32, AtomicU64, Ordering};
use sharena::{Error, FreeList, Named, Offset, ShmAllocator};
use std::time::{Duration, Instant};

/// Segment size.
const SIZE: u64 = 1 << 20;
/// The name of the block.
const NAME: &str = "ev";

/// A victim's body: the event, the flag word.
type Body = fn(&sharena::layout::wait::Event<'_>, &AtomicU64, &mut Notes) -> Result<(), String>;

struct Wt {
    name: &'static str,
    /// Notifies the body makes (the sequence moves by this many at most).
    notifies: u32,
    body: Body,
}

struct WtWorld {
    heap: FreeList,
    at: Offset,
    notifies: u32,
    body: Body,
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(err)`
fn err(e: Error) -> String {
    e.to_string()
}

impl Scenario for Wt {
    fn kind(&self) -> &'static str {
        "wait"
    }
    fn name(&self) -> &'static str {
        self.name
    }
    fn setup(&self, seg: &str) -> Result<Box<dyn World>, String> {
        let heap = FreeList::create(seg, SIZE).map_err(err)?;
        let at = heap.alloc(16).map_err(err)?;
        heap.write(at, &[0u8; 16]).map_err(err)?;
        heap.publish(NAME, at).map_err(err)?;
        Ok(Box::new(WtWorld {
            heap,
            at,
            notifies: self.notifies,
            body: self.body,
        }))
    }
}

fn words(h: &FreeList, at: Offset) -> Result<(&AtomicU32, &AtomicU32, &AtomicU64), Error> {
    let v = h.view();
    Ok((
        v.atomic_u32(at)?,
        v.atomic_u32(Offset::new(at.get() + 4))?,
        v.atomic_u64(Offset::new(at.get() + 8))?,
    ))
}

impl World for WtWorld {
    fn victim(
        &mut self,
        seg: &str,
        arm: &mut dyn FnMut(),
        notes: &mut Notes,
    ) -> Result<(), String> {
        let h = FreeList::open(seg).map_err(err)?;
        let at = h
            .lookup(NAME)
            .map_err(err)?
            .ok_or("the event is not published")?;
        let event = h.view().event(at).map_err(err)?;
        let (_, _, flag) = words(&h, at).map_err(err)?;
        arm();
        (self.body)(&event, flag, notes)
    }

    fn verify(&mut self, _notes: &[Note], ended: Ended) -> Outcome {
        engine::guarded(|out| {
            let heap = &self.heap;
            pool::reclaim_and_check(&**heap, out);
            let Ok((seq, waiters, flag)) = words(heap, self.at) else {
                return out.stuck("the event's words are out of reach");
            };
            let w = waiters.load(Ordering::SeqCst);
            let registered_max = u32::from(ended != Ended::Finished);
            if w > registered_max {
                out.problem(format!("{w} waiters left registered"));
            }
            let s = seq.load(Ordering::SeqCst);
            if s > self.notifies || (ended == Ended::Finished && s != self.notifies) {
                out.problem(format!(
                    "the sequence is {s} after {} notifies ({ended:?})",
                    self.notifies
                ));
            }
            not_wedged(heap, self.at, flag, out);
        })
    }
}

/// A waiting thread is woken by a notify; an unmet wait ends at its
/// deadline.
fn not_wedged(heap: &FreeList, at: Offset, flag: &AtomicU64, out: &mut Outcome) {
    let Ok(event) = heap.view().event(at) else {
        return out.stuck("the event is out of reach");
    };
    // Nobody sets bit 1 of the flag: a short wait for it times out.
    let started = Instant::now();
    let r = event.wait_until(started + Duration::from_millis(5), || {
        (flag.load(Ordering::SeqCst) & 2 != 0).then_some(())
    });
    if r.is_some() {
        out.problem("a wait for a condition nobody made true was met");
    }
    let woken = std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            event.wait_until(Instant::now() + Duration::from_secs(60), || {
                (flag.load(Ordering::SeqCst) & 4 != 0).then_some(Instant::now())
            })
        });
        // Let the waiter register, then make the condition true and notify.
        std::thread::sleep(Duration::from_millis(2));
        flag.fetch_or(4, Ordering::SeqCst);
        event.notify_all();
        waiter.join().ok().flatten()
    });
    match woken {
        Some(_) => {}
        None => out.stuck("a waiter was not woken by a notify"),
    }
    flag.fetch_and(!4, Ordering::SeqCst);
    pool::check(&**heap, out, "after the waits");
}

/// Sets the flag's bit 0, notifies every waiter, then one.
#[allow(clippy::unnecessary_wraps)] // every scenario body is a `Body`
fn notify(
    event: &sharena::layout::wait::Event<'_>,
    flag: &AtomicU64,
    _: &mut Notes,
) -> Result<(), String> {
    flag.fetch_or(1, Ordering::SeqCst);
    event.notify_all();
    event.notify_one();
    Ok(())
}

/// Waits 20 ms for a condition nobody makes true (registers, sleeps,
/// deregisters), then notifies once.
fn wait_then_notify(
    event: &sharena::layout::wait::Event<'_>,
    _: &AtomicU64,
    _: &mut Notes,
) -> Result<(), String> {
    if event
        .wait_until(Instant::now() + Duration::from_millis(20), || None::<()>)
        .is_some()
    {
        return Err("an unmet wait was met".into());
    }
    event.notify_all();
    Ok(())
}

static SCENARIOS: &[Wt] = &[
    Wt {
        name: "notify",
        notifies: 2,
        body: notify,
    },
    Wt {
        name: "wait-then-notify",
        notifies: 1,
        body: wait_then_notify,
    },
];

/// The wait/notify scenarios.
pub fn scenarios() -> Vec<&'static dyn Scenario> {
    SCENARIOS.iter().map(|s| s as &dyn Scenario).collect()
}
