//! Slab scenarios: every path a slab process can die on.
//!
//! Every scenario runs on a slab of [`SLOTS`] 64-byte slots with
//! [`CACHES`] cache entries of [`CAP`] slots (refills and flushes move 4),
//! so that each of the thousands of runs is cheap and every path (refill
//! from the stack and from the never-used counter, flush, running out,
//! a full registry) is
//! reached in a few operations. The survivor verifies each state with
//! [`verify`](World::verify): reclaim and check, the shared accounting of
//! `pool.rs`, then it allocates every slot of the slab once (a slot lost
//! to the stack, a cache or the counter would be missing) and frees them.

use super::notes::Notes;
use super::{engine, pool, Ended, Note, Outcome, Scenario, World};
use crate::harness::{self, Exit};
use sharena::{Error, Named, Offset, Recover, RunKind, ShmAllocator, Slab};

/// Slot size.
const SLOT: u64 = 64;
/// Slots in every scenario's slab (but `deep-stack`'s).
const SLOTS: u64 = 256;
/// Cache entries.
const CACHES: u64 = 8;
/// Slots per cache (refills and flushes move half).
const CAP: u64 = 8;
/// Segment size (the slots, the state and the tables fit in it).
const SIZE: u64 = 1 << 20;
/// The name `share-publish` publishes under.
const NAME: &str = "explored";

/// A victim's body: the victim's own handle, `arm`, the notes, and the
/// survivor's blocks.
type Body = fn(&Slab, &mut dyn FnMut(), &mut Notes, &[Offset]) -> Result<(), String>;

/// What the survivor does before the victim starts.
#[derive(Clone, Copy)]
struct Setup {
    /// Slots the survivor allocates and keeps (the victim may free them).
    keep: usize,
    /// Slots the survivor allocates, frees and flushes: they are on the
    /// shared stack when the victim starts, so its refills pop.
    stock: usize,
    /// Slots of the slab.
    slots: u64,
    /// Every cache entry left free taken by the survivor's handles.
    fill_registry: bool,
    /// A first victim that dies holding slots (its cache, unshared and
    /// shared ones) before the victim starts.
    first_victim: bool,
    /// The slab CASes every free (`params[4]` bit 0).
    strict: bool,
}

const PLAIN: Setup = Setup {
    keep: 0,
    stock: 0,
    slots: SLOTS,
    fill_registry: false,
    first_victim: false,
    strict: false,
};

/// A slab scenario.
struct Sl {
    name: &'static str,
    setup: Setup,
    /// Whether the victim opens its handle before `arm` (false: attach
    /// itself is explored).
    open_first: bool,
    body: Body,
}

struct SlWorld {
    slab: Slab,
    /// Handles that hold the rest of the registry (`fill_registry`).
    fillers: Vec<Slab>,
    baseline: u64,
    mine: Vec<Offset>,
    /// What the first victim left: `own` and `shared` notes.
    first: Vec<Note>,
    open_first: bool,
    body: Body,
}

impl Scenario for Sl {
    fn kind(&self) -> &'static str {
        "slab"
    }
    fn name(&self) -> &'static str {
        self.name
    }
    fn setup(&self, seg: &str) -> Result<Box<dyn World>, String> {
        let s = self.setup;
        let opts = Slab::options(SIZE, SLOT)
            .map_err(err)?
            .param(1, s.slots)
            .param(2, CACHES)
            .param(3, CAP)
            .param(4, u64::from(s.strict));
        let mut slab = Slab::create_with_options(seg, &opts).map_err(err)?;
        let baseline = slab.stats().used;
        let mut stock = Vec::new();
        for _ in 0..s.stock {
            stock.push(slab.alloc(SLOT).map_err(err)?);
        }
        let mut mine = Vec::new();
        for _ in 0..s.keep {
            mine.push(slab.alloc(SLOT).map_err(err)?);
        }
        for o in stock {
            slab.free(o).map_err(err)?;
        }
        slab.flush().map_err(err)?;
        let first = if s.first_victim {
            first_victim(&slab, seg)?
        } else {
            Vec::new()
        };
        // The entries left free: ours and the first victim's are taken.
        let free = CACHES as usize - 1 - usize::from(s.first_victim);
        let mut fillers = Vec::new();
        if s.fill_registry {
            for _ in 0..free {
                fillers.push(Slab::open(seg).map_err(err)?);
            }
        }
        Ok(Box::new(SlWorld {
            slab,
            fillers,
            baseline,
            mine,
            first,
            open_first: self.open_first,
            body: self.body,
        }))
    }
}

/// Forks a process that opens the slab, allocates, shares some, fills its
/// cache and ends without dropping its handle (as `std::process::exit`
/// would); returns what it left, read from the slab's runs.
fn first_victim(slab: &Slab, seg: &str) -> Result<Vec<Note>, String> {
    let before: Vec<(u64, u64, RunKind)> = runs(slab)?;
    let seg = seg.to_string();
    // SAFETY: the explorer's process has one thread (`explore`'s contract,
    // under which `setup` runs).
    let pid = unsafe {
        harness::fork_child(|| {
            let Ok(h) = Slab::open(&seg) else { return 2 };
            let mut held = Vec::new();
            for k in 0..14 {
                let Ok(o) = h.alloc(SLOT) else { return 3 };
                if k % 5 == 0 && h.share(o).is_err() {
                    return 4;
                }
                held.push(o);
            }
            for &o in held.iter().skip(8) {
                if h.free(o).is_err() {
                    return 5;
                }
            }
            std::mem::forget(h);
            0
        })
    }
    .map_err(|e| format!("fork: {e}"))?;
    match harness::wait(pid) {
        Exit::Exited(0) => {}
        other => return Err(format!("the first victim {other}")),
    }
    let mut left = Vec::new();
    for (offset, len, kind) in runs(slab)? {
        let tag = match kind {
            RunKind::Used => "own",
            RunKind::Shared => "shared",
            _ => continue,
        };
        let mut at = offset;
        while at < offset + len {
            if !before
                .iter()
                .any(|b| b.0 <= at && at < b.0 + b.1 && b.2 == kind)
            {
                left.push(Note {
                    tag: tag.to_string(),
                    value: at,
                });
            }
            at += SLOT;
        }
    }
    Ok(left)
}

fn runs(slab: &Slab) -> Result<Vec<(u64, u64, RunKind)>, String> {
    Ok(slab
        .runs(usize::MAX)
        .map_err(err)?
        .iter()
        .map(|r| (r.offset, r.len, r.kind))
        .collect())
}

impl World for SlWorld {
    fn victim(
        &mut self,
        seg: &str,
        arm: &mut dyn FnMut(),
        notes: &mut Notes,
    ) -> Result<(), String> {
        if !self.open_first {
            arm();
        }
        let h = match Slab::open(seg) {
            Ok(h) => h,
            // Every entry taken by a live handle: refused, with nothing
            // left behind.
            Err(Error::ProcessTableFull { .. })
                if !self.fillers.is_empty() && self.first.is_empty() =>
            {
                return Ok(())
            }
            Err(e) => return Err(e.to_string()),
        };
        if self.open_first {
            arm();
        }
        (self.body)(&h, arm, notes, &self.mine)
    }

    fn verify(&mut self, notes: &[Note], _ended: Ended) -> Outcome {
        engine::guarded(|out| {
            let slab = &*self.slab;
            pool::reclaim_and_check(slab, out);
            if let Ok(Some(at)) = self.slab.lookup(NAME) {
                if !notes
                    .iter()
                    .any(|n| n.tag == "shared" && n.value == at.get())
                {
                    // Published by a victim that died before noting it: it
                    // must be a block it allocated, and shared.
                    if !notes.iter().any(|n| n.value == at.get()) {
                        out.problem(format!("{NAME} names {}, no block of the victim", at.get()));
                    }
                }
                let _ = self.slab.unpublish(NAME);
            }
            let mut all: Vec<Note> = self.first.clone();
            all.extend(notes.iter().cloned());
            pool::settle(slab, &self.mine, &all, self.baseline, out);
            pool::check(slab, out, "after the survivor freed everything");
            every_slot(&self.slab, out);
            pool::progress(slab, &[8, 64, 1, 64], None, out);
            self.fillers.clear();
            pool::check(slab, out, "after the fillers detached");
        })
    }
}

/// Allocates until the slab is out of slots: every slot must come back,
/// once (nothing is live any more); then frees them all.
fn every_slot(slab: &Slab, out: &mut Outcome) {
    let mut got = Vec::new();
    let n = slab.slot_count();
    for _ in 0..=n {
        match slab.alloc(SLOT) {
            Ok(o) => got.push(o),
            Err(Error::OutOfMemory { .. }) => break,
            Err(e) => {
                out.stuck(format!("alloc of slot {} after the crash: {e}", got.len()));
                break;
            }
        }
    }
    let mut sorted: Vec<u64> = got.iter().map(|o| o.get()).collect();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != got.len() {
        out.problem(format!(
            "{} slots were handed out twice",
            got.len() - sorted.len()
        ));
    }
    if (got.len() as u64) < n {
        out.lost_bytes += (n - got.len() as u64) * SLOT;
        out.problem(format!(
            "only {} of {n} slots could be allocated once everything was freed",
            got.len()
        ));
    }
    for o in got {
        if let Err(e) = slab.free(o) {
            out.problem(format!("free after the crash: {e}"));
        }
    }
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(err)`
fn err(e: sharena::Error) -> String {
    e.to_string()
}

/// Allocates a slot, noting it as the victim's own.
fn own(h: &Slab, notes: &mut Notes) -> Result<Offset, String> {
    let o = h.alloc(SLOT).map_err(err)?;
    notes.note("own", o.get());
    Ok(o)
}

#[allow(clippy::unnecessary_wraps)] // a `Body`
fn nothing(_: &Slab, _: &mut dyn FnMut(), _: &mut Notes, _: &[Offset]) -> Result<(), String> {
    Ok(())
}

fn small(h: &Slab, _: &mut dyn FnMut(), n: &mut Notes, _: &[Offset]) -> Result<(), String> {
    let a = own(h, n)?;
    h.write(a, b"victim").map_err(err)?;
    h.free(a).map_err(err)?;
    own(h, n)?;
    Ok(())
}

fn adopted(h: &Slab, arm: &mut dyn FnMut(), n: &mut Notes, o: &[Offset]) -> Result<(), String> {
    // The attach found every entry taken and adopted the first victim's:
    // what that one held unshared must be free already, not inherited.
    let used = runs(h)?.iter().filter(|r| r.2 == RunKind::Used).count();
    if used != 0 {
        return Err(format!(
            "{used} runs of the dead entry still live after attach"
        ));
    }
    small(h, arm, n, o)
}

fn refill_flush(h: &Slab, _: &mut dyn FnMut(), n: &mut Notes, _: &[Offset]) -> Result<(), String> {
    // Refills pop the stocked slots, then take from the counter; the
    // frees fill the cache and flush half of it, twice.
    let mut v = Vec::new();
    for _ in 0..14 {
        v.push(own(h, n)?);
    }
    for o in v.drain(..) {
        h.free(o).map_err(err)?;
    }
    own(h, n)?;
    Ok(())
}

fn run_out(h: &Slab, _: &mut dyn FnMut(), n: &mut Notes, _: &[Offset]) -> Result<(), String> {
    // The stock on the stack, then the counter, then nothing.
    let mut v = Vec::new();
    loop {
        match h.alloc(SLOT) {
            Ok(o) => {
                n.note("own", o.get());
                v.push(o);
            }
            Err(Error::OutOfMemory { .. }) => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    for o in v.drain(..5) {
        h.free(o).map_err(err)?;
    }
    own(h, n)?;
    own(h, n)?;
    Ok(())
}

fn remote_free(
    h: &Slab,
    _: &mut dyn FnMut(),
    n: &mut Notes,
    theirs: &[Offset],
) -> Result<(), String> {
    // Own slots first (an allocation after the frees would hand the
    // survivor's slots back to the victim, as its own).
    let mine: Vec<Offset> = (0..6).map(|_| own(h, n)).collect::<Result<_, _>>()?;
    for &o in theirs {
        n.note("either", o.get());
        h.free(o).map_err(err)?;
        n.note("freed", o.get());
    }
    // A full cache flushes half: the survivor's slots go with the rest.
    for o in mine {
        h.free(o).map_err(err)?;
    }
    Ok(())
}

fn share_publish(h: &Slab, _: &mut dyn FnMut(), n: &mut Notes, _: &[Offset]) -> Result<(), String> {
    let a = own(h, n)?;
    n.note("either", a.get());
    h.share(a).map_err(err)?;
    n.note("shared", a.get());
    let b = own(h, n)?;
    n.note("either", b.get());
    h.publish(NAME, b).map_err(err)?;
    n.note("shared", b.get());
    own(h, n)?;
    Ok(())
}

fn other_threads(h: &Slab, _: &mut dyn FnMut(), n: &mut Notes, _: &[Offset]) -> Result<(), String> {
    // Another thread takes the cache first (its writes are not counted:
    // the counter is per thread), so every operation below goes the way of
    // threads that do not own it: pops recorded in the entry's `others`
    // record, counter takes, frees pushed one by one.
    std::thread::scope(|s| {
        s.spawn(|| {
            if let Ok(o) = h.alloc(SLOT) {
                let _ = h.free(o);
            }
        })
        .join()
    })
    .map_err(|_| "the cache owner thread panicked".to_string())?;
    let mut v = Vec::new();
    for _ in 0..6 {
        v.push(own(h, n)?);
    }
    for o in v.drain(..3) {
        h.free(o).map_err(err)?;
    }
    own(h, n)?;
    Ok(())
}

fn reclaim(h: &Slab, _: &mut dyn FnMut(), _: &mut Notes, _: &[Offset]) -> Result<(), String> {
    h.reclaim_dead().map_err(err)?;
    Ok(())
}

static SCENARIOS: &[Sl] = &[
    Sl {
        name: "attach-detach",
        setup: PLAIN,
        open_first: false,
        body: nothing,
    },
    Sl {
        name: "small-alloc-free",
        setup: PLAIN,
        open_first: true,
        body: small,
    },
    Sl {
        name: "cache-refill-flush",
        setup: Setup { stock: 6, ..PLAIN },
        open_first: true,
        body: refill_flush,
    },
    Sl {
        // A stack deeper than one push can reach: a reclaim after a death
        // mid-flush walks only as deep as the flag's tag allows.
        name: "deep-stack",
        setup: Setup {
            stock: 1500,
            slots: 2048,
            ..PLAIN
        },
        open_first: true,
        body: refill_flush,
    },
    Sl {
        name: "stack-and-counter-run-out",
        setup: Setup {
            stock: 5,
            slots: 24,
            ..PLAIN
        },
        open_first: true,
        body: run_out,
    },
    Sl {
        name: "no-cache-entry",
        setup: Setup {
            fill_registry: true,
            ..PLAIN
        },
        open_first: false,
        body: small,
    },
    Sl {
        name: "attach-adopts-a-dead-entry",
        setup: Setup {
            stock: 6,
            fill_registry: true,
            first_victim: true,
            ..PLAIN
        },
        open_first: false,
        body: adopted,
    },
    Sl {
        name: "other-threads",
        setup: Setup { stock: 9, ..PLAIN },
        open_first: true,
        body: other_threads,
    },
    Sl {
        name: "remote-free",
        setup: Setup { keep: 3, ..PLAIN },
        open_first: true,
        body: remote_free,
    },
    Sl {
        name: "share-publish",
        setup: PLAIN,
        open_first: true,
        body: share_publish,
    },
    Sl {
        name: "strict-free",
        setup: Setup {
            stock: 6,
            strict: true,
            ..PLAIN
        },
        open_first: true,
        body: refill_flush,
    },
    Sl {
        name: "reclaim-after-a-death",
        setup: Setup {
            stock: 6,
            first_victim: true,
            ..PLAIN
        },
        open_first: true,
        body: reclaim,
    },
];

/// The slab scenarios.
pub fn scenarios() -> Vec<&'static dyn Scenario> {
    SCENARIOS.iter().map(|s| s as &dyn Scenario).collect()
}
