//! Queue scenarios: a producer or consumer process killed at every write
//! of its pushes and pops (`sharena::Queue`, on a free list).
//!
//! The survivor creates a queue of [`CAP`] values, publishes it and
//! pushes the scenario's values (after turning the ring a few positions,
//! for the scenarios that cross a lap); the victim opens it by name and
//! pushes and pops. After each state the survivor:
//! - drains the queue with `try_pop` only (a slot the victim died holding
//!   must be released by that operation itself, not by a `recover`);
//! - checks the accounting: no value is popped twice (the victim's noted
//!   pops counted), every value the survivor pushed or the victim noted
//!   pushing is drained or was noted popped, except at most one when the
//!   victim was killed (the pop it had made and not yet noted); at most one
//!   value the victim did not note pushing is drained (the push it had
//!   published and not yet noted); nothing else appears; the drain is in
//!   push order;
//! - fills the queue again to `QueueFull` and drains it, in order, to
//!   `QueueEmpty` (nothing is stuck).
//!
//! Notes: `pushed V` (the victim's push of V returned), `popped V` (its
//! pop returned V).

use super::notes::{self, Notes};
use super::{engine, Ended, Note, Outcome, Scenario, World};
use sharena::{Error, FreeList, Named, Queue};
use std::collections::HashSet;

/// Segment size.
const SIZE: u64 = 1 << 20;
/// Queue capacity.
const CAP: u64 = 4;
/// What the victim pushes, in order.
const VICTIM: [u64; 2] = [100, 101];

/// A victim's body.
type Body = fn(&Queue<'_>, &mut Notes) -> Result<(), String>;

struct Qu {
    name: &'static str,
    /// Positions the survivor pushes and pops before prefilling (so that
    /// the victim's operations cross the end of the ring).
    turn: u64,
    /// The values the survivor leaves in the queue.
    prefill: &'static [u64],
    body: Body,
}

struct QuWorld {
    heap: FreeList,
    prefill: &'static [u64],
    body: Body,
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(err)`
fn err(e: Error) -> String {
    e.to_string()
}

impl Scenario for Qu {
    fn kind(&self) -> &'static str {
        "queue"
    }
    fn name(&self) -> &'static str {
        self.name
    }
    fn setup(&self, seg: &str) -> Result<Box<dyn World>, String> {
        let heap = FreeList::create(seg, SIZE).map_err(err)?;
        {
            let q = Queue::create_in(&*heap, CAP).map_err(err)?;
            heap.publish("q", q.offset()).map_err(err)?;
            for i in 0..self.turn {
                q.try_push(1000 + i).map_err(err)?;
                q.try_pop().map_err(err)?;
            }
            for &v in self.prefill {
                q.try_push(v).map_err(err)?;
            }
        }
        Ok(Box::new(QuWorld {
            heap,
            prefill: self.prefill,
            body: self.body,
        }))
    }
}

impl World for QuWorld {
    fn victim(
        &mut self,
        seg: &str,
        arm: &mut dyn FnMut(),
        notes: &mut Notes,
    ) -> Result<(), String> {
        let h = FreeList::open(seg).map_err(err)?;
        let q = Queue::open_named(&*h, "q").map_err(err)?;
        arm();
        (self.body)(&q, notes)
    }

    fn verify(&mut self, notes: &[Note], ended: Ended) -> Outcome {
        engine::guarded(|out| {
            let q = match Queue::open_named(&*self.heap, "q") {
                Ok(q) => q,
                Err(e) => return out.stuck(format!("open: {e}")),
            };
            let Some(drained) = drain(&q, out) else {
                return;
            };
            let pushed: Vec<u64> = notes::tagged(notes, "pushed").collect();
            let popped: Vec<u64> = notes::tagged(notes, "popped").collect();
            // Push order of every value that may be in the queue.
            let order: Vec<u64> = self.prefill.iter().copied().chain(VICTIM).collect();
            let mut all = HashSet::new();
            for &v in drained.iter().chain(&popped) {
                if !all.insert(v) {
                    out.problem(format!("value {v} popped twice"));
                }
                if !order.contains(&v) {
                    out.problem(format!("value {v} was never pushed"));
                }
            }
            let must: Vec<u64> = self.prefill.iter().chain(&pushed).copied().collect();
            let missing: Vec<u64> = must.iter().copied().filter(|v| !all.contains(v)).collect();
            let allowed = usize::from(ended != Ended::Finished);
            if missing.len() > allowed {
                out.problem(format!("values lost: {missing:?}"));
            }
            let unnoted: Vec<u64> = VICTIM
                .iter()
                .copied()
                .filter(|v| all.contains(v) && !pushed.contains(v))
                .collect();
            if unnoted.len() > allowed {
                out.problem(format!(
                    "values pushed that the victim never finished: {unnoted:?}"
                ));
            }
            let rank = |v: &u64| order.iter().position(|o| o == v);
            if !drained.windows(2).all(|w| rank(&w[0]) < rank(&w[1])) {
                out.problem(format!("drained out of order: {drained:?}"));
            }
            refill(&q, out);
        })
    }
}

/// Pops until empty (at most a few more than the capacity).
fn drain(q: &Queue<'_>, out: &mut Outcome) -> Option<Vec<u64>> {
    let mut got = Vec::new();
    for _ in 0..=CAP + 2 {
        match q.try_pop() {
            Ok(v) => got.push(v),
            Err(Error::QueueEmpty) => return Some(got),
            Err(e) => {
                out.stuck(format!("drain: {e}"));
                return None;
            }
        }
    }
    out.problem(format!("more values than slots: {got:?}"));
    None
}

/// Fills the queue to `QueueFull` and drains it in order.
fn refill(q: &Queue<'_>, out: &mut Outcome) {
    for i in 0..CAP {
        if let Err(e) = q.try_push(500 + i) {
            return out.stuck(format!("refill push {i}: {e}"));
        }
    }
    match q.try_push(999) {
        Err(Error::QueueFull { .. }) => {}
        other => out.problem(format!("a full queue took a push: {other:?}")),
    }
    match drain(q, out) {
        Some(got) if got == (500..500 + CAP).collect::<Vec<_>>() => {}
        Some(got) => out.problem(format!("refill drained {got:?}")),
        None => {}
    }
}

fn push(q: &Queue<'_>, v: u64, n: &mut Notes) -> Result<(), String> {
    q.try_push(v).map_err(err)?;
    n.note("pushed", v);
    Ok(())
}

fn pop(q: &Queue<'_>, n: &mut Notes) -> Result<(), String> {
    let v = q.try_pop().map_err(err)?;
    n.note("popped", v);
    Ok(())
}

fn pushes(q: &Queue<'_>, n: &mut Notes) -> Result<(), String> {
    push(q, VICTIM[0], n)?;
    push(q, VICTIM[1], n)
}

fn pops(q: &Queue<'_>, n: &mut Notes) -> Result<(), String> {
    pop(q, n)?;
    pop(q, n)
}

fn mixed(q: &Queue<'_>, n: &mut Notes) -> Result<(), String> {
    pop(q, n)?;
    push(q, VICTIM[0], n)?;
    pop(q, n)?;
    push(q, VICTIM[1], n)
}

/// Every queue scenario.
pub fn scenarios() -> Vec<&'static dyn Scenario> {
    static ALL: [Qu; 3] = [
        Qu {
            name: "push",
            turn: 0,
            prefill: &[1],
            body: pushes,
        },
        Qu {
            name: "pop",
            turn: 0,
            prefill: &[1, 2],
            body: pops,
        },
        Qu {
            name: "pop-push-across-the-lap",
            turn: 3,
            prefill: &[1, 2],
            body: mixed,
        },
    ];
    ALL.iter().map(|s| s as &dyn Scenario).collect()
}
