//! Free-list scenarios: every path a process can die on.
//!
//! Together they take every path of the free list through a victim killed
//! at each of its writes: small blocks and their class caches, spans
//! claimed, parked, given back and stolen by another process, a pool run
//! dry, huge blocks, frees into another arena (held, or held by nobody),
//! share, publish and unpublish, attach and detach (whose `Drop` frees the
//! attachment's blocks), and `reclaim_dead` itself after an earlier victim
//! died holding blocks. Segments are small (4 MiB: 4 KiB chunks, 64 KiB
//! spans, 3 arenas) so that each of the thousands of runs is cheap; with
//! 4 KiB chunks, blocks of up to 4080 bytes are in-span blocks and larger
//! ones huge.

use super::notes::{self, Notes};
use super::{engine, pool, Ended, Note, Outcome, Scenario, World};
use crate::harness::{self, Exit};
use sharena::{FreeList, Named, Offset, Recover, ShmAllocator};
use std::time::Duration;

/// Segment size of every free-list scenario: small, so that each of the
/// thousands of runs is cheap, and a few spans fill it.
const SIZE: u64 = 4 << 20;

/// A victim's body: the victim's own handle, `arm`, the notes, and the
/// survivor's blocks.
type Body = fn(&FreeList, &mut dyn FnMut(), &mut Notes, &[Offset]) -> Result<(), String>;

/// How an earlier victim (forked in setup, not explored) leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leave {
    /// `SIGKILL` with its handle open.
    Kill,
    /// Its handle dropped (the exit rule's normal return).
    Drop,
}

/// What setup runs first in a forked process that then leaves: its notes
/// count as the explored victim's (what it holds, shares, frees).
type Prior = (fn(&FreeList, &mut Notes) -> Result<(), String>, Leave);

/// Block sizes, given the survivor's handle (for its geometry).
type Sizes = fn(&FreeList) -> Vec<u64>;

/// A free-list scenario: what the survivor holds first, and the victim.
struct Fl {
    name: &'static str,
    /// Sizes the survivor allocates before the victim starts.
    survivor: Sizes,
    /// Sizes the survivor allocates and frees again before the victim
    /// starts (to leave it a parked span, say).
    survivor_freed: Sizes,
    /// An earlier process that runs and leaves before the victim.
    prior: Option<Prior>,
    /// Whether the victim opens its handle before `arm` (false: attach
    /// itself is explored).
    open_first: bool,
    body: Body,
}

struct FlWorld {
    heap: FreeList,
    baseline: u64,
    mine: Vec<Offset>,
    prior: Vec<Note>,
    open_first: bool,
    body: Body,
}

impl Scenario for Fl {
    fn kind(&self) -> &'static str {
        "freelist"
    }
    fn name(&self) -> &'static str {
        self.name
    }
    fn setup(&self, seg: &str) -> Result<Box<dyn World>, String> {
        let heap = FreeList::create(seg, SIZE).map_err(err)?;
        let baseline = heap.stats().used;
        let mut mine = Vec::new();
        for s in (self.survivor)(&heap) {
            mine.push(heap.alloc(s).map_err(err)?);
        }
        let freed: Vec<Offset> = (self.survivor_freed)(&heap)
            .into_iter()
            .map(|s| heap.alloc(s).map_err(err))
            .collect::<Result<_, _>>()?;
        for o in freed {
            heap.free(o).map_err(err)?;
        }
        let prior = match self.prior {
            Some(p) => run_prior(seg, p)?,
            None => Vec::new(),
        };
        Ok(Box::new(FlWorld {
            heap,
            baseline,
            mine,
            prior,
            open_first: self.open_first,
            body: self.body,
        }))
    }
}

/// Forks the earlier process of a scenario, lets it run and leave, and
/// returns its notes.
fn run_prior(seg: &str, (body, leave): Prior) -> Result<Vec<Note>, String> {
    let (rd, wr) = nix::unistd::pipe().map_err(|e| e.to_string())?;
    let mut wr = Some(wr);
    let wr_slot = &mut wr;
    // SAFETY: setup runs in the explorer's process, which has one thread
    // (`explore`'s contract).
    let pid = unsafe {
        harness::fork_child(|| {
            let Some(fd) = wr_slot.take() else { return 4 };
            let mut notes = Notes::new(fd);
            let Ok(h) = FreeList::open(seg) else { return 3 };
            if body(&h, &mut notes).is_err() {
                return 3;
            }
            match leave {
                Leave::Drop => {
                    drop(h);
                    0
                }
                Leave::Kill => {
                    // kill(2) on our own pid (inside `fork_child`'s unsafe
                    // block, whose contract covers the child's code).
                    libc::kill(libc::getpid(), libc::SIGKILL);
                    5
                }
            }
        })
    }
    .map_err(|e| e.to_string())?;
    drop(wr);
    let exit = harness::wait_timeout(pid, Duration::from_secs(20));
    let mut text = String::new();
    let got = notes::read_all(rd, &mut text);
    let want = match leave {
        Leave::Drop => Exit::Exited(0),
        Leave::Kill => Exit::Signaled(nix::sys::signal::Signal::SIGKILL),
    };
    if exit != Some(want) {
        if exit.is_none() {
            harness::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = harness::wait(pid);
        }
        return Err(format!(
            "the earlier victim ended {exit:?}: {}",
            text.trim()
        ));
    }
    Ok(got)
}

impl World for FlWorld {
    fn victim(
        &mut self,
        seg: &str,
        arm: &mut dyn FnMut(),
        notes: &mut Notes,
    ) -> Result<(), String> {
        if !self.open_first {
            arm();
        }
        let h = FreeList::open(seg).map_err(err)?;
        if self.open_first {
            arm();
        }
        (self.body)(&h, arm, notes, &self.mine)
    }

    fn verify(&mut self, notes: &[Note], _ended: Ended) -> Outcome {
        let mut all = self.prior.clone();
        all.extend_from_slice(notes);
        engine::guarded(|out| {
            let heap = &*self.heap;
            pool::reclaim_and_check(heap, out);
            pool::settle(heap, &self.mine, &all, self.baseline, out);
            pool::check(heap, out, "after the survivor freed everything");
            pool::progress(heap, &[16, 700, 5000, 70_000], Some(heap.max_alloc()), out);
        })
    }
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(err)`
fn err(e: sharena::Error) -> String {
    e.to_string()
}

/// Allocates `size`, noting it as the victim's own.
fn own(h: &FreeList, size: u64, notes: &mut Notes) -> Result<Offset, String> {
    let o = h.alloc(size).map_err(err)?;
    notes.note("own", o.get());
    Ok(o)
}

/// Shares `o`, noting it in flight, then shared.
fn share_noted(h: &FreeList, o: Offset, notes: &mut Notes) -> Result<(), String> {
    notes.note("either", o.get());
    h.share(o).map_err(err)?;
    notes.note("shared", o.get());
    Ok(())
}

#[allow(clippy::unnecessary_wraps)] // a `Body`
fn attach_detach(
    _: &FreeList,
    _: &mut dyn FnMut(),
    _: &mut Notes,
    _: &[Offset],
) -> Result<(), String> {
    Ok(())
}

fn small(h: &FreeList, _: &mut dyn FnMut(), n: &mut Notes, _: &[Offset]) -> Result<(), String> {
    let a = own(h, 100, n)?;
    h.write(a, b"victim").map_err(err)?;
    h.free(a).map_err(err)?;
    own(h, 200, n)?;
    Ok(())
}

fn cache_refill_flush(
    h: &FreeList,
    _: &mut dyn FnMut(),
    n: &mut Notes,
    _: &[Offset],
) -> Result<(), String> {
    let mut v = Vec::new();
    for _ in 0..12 {
        v.push(own(h, 64, n)?);
    }
    for o in v.drain(..) {
        h.free(o).map_err(err)?;
    }
    own(h, 64, n)?;
    Ok(())
}

/// Sizes: none.
fn none(_: &FreeList) -> Vec<u64> {
    Vec::new()
}

/// Blocks of 3000 bytes: 21 fill a 64 KiB span.
const MID: u64 = 3000;
/// How many `MID` blocks fill one span.
const PER_SPAN: usize = 21;

fn spans(h: &FreeList, _: &mut dyn FnMut(), n: &mut Notes, _: &[Offset]) -> Result<(), String> {
    // Three spans' worth: the arena claims more as each fills.
    let mut v = Vec::new();
    for _ in 0..3 * PER_SPAN {
        v.push(own(h, MID, n)?);
    }
    for o in v.drain(..).step_by(2) {
        h.free(o).map_err(err)?;
    }
    Ok(())
}

/// Spans claimed, then every block freed: four go to the class cache, the
/// first span to empty is parked, the next goes back to the chunk heap,
/// and the handle's `Drop` gives back the rest.
fn give_back(h: &FreeList, _: &mut dyn FnMut(), n: &mut Notes, _: &[Offset]) -> Result<(), String> {
    let v: Vec<Offset> = (0..4 * PER_SPAN)
        .map(|_| own(h, MID, n))
        .collect::<Result<_, _>>()?;
    for o in v {
        h.free(o).map_err(err)?;
    }
    Ok(())
}

/// The survivor's first span, kept.
fn one_span(_: &FreeList) -> Vec<u64> {
    vec![MID; PER_SPAN]
}

/// Two spans the survivor fills and empties: one of them is parked.
fn two_spans(_: &FreeList) -> Vec<u64> {
    vec![MID; 2 * PER_SPAN]
}

/// The survivor left a parked span; a huge block that needs every free
/// chunk and that one makes the victim steal it.
fn steal(h: &FreeList, _: &mut dyn FnMut(), n: &mut Notes, _: &[Offset]) -> Result<(), String> {
    let g = h.geometry();
    let want = (g.chunks - 3 * g.span_chunks) << g.chunk_shift;
    own(h, want, n)?;
    Ok(())
}

/// All of the pool but two spans, in one huge block.
fn most_of_the_pool(h: &FreeList) -> Vec<u64> {
    let g = h.geometry();
    vec![(g.chunks - 2 * g.span_chunks) << g.chunk_shift]
}

/// The pool runs dry (the survivor holds all but two spans): blocks
/// until none is left, then all are freed but one.
fn exhaust(h: &FreeList, _: &mut dyn FnMut(), n: &mut Notes, _: &[Offset]) -> Result<(), String> {
    let mut v = Vec::new();
    loop {
        match h.alloc(MID) {
            Ok(o) => {
                n.note("own", o.get());
                v.push(o);
            }
            Err(sharena::Error::OutOfMemory { .. }) => break,
            Err(e) => return Err(err(e)),
        }
        if v.len() > 4 * PER_SPAN {
            return Err("the pool never ran out".into());
        }
    }
    v.pop();
    for o in v {
        h.free(o).map_err(err)?;
    }
    Ok(())
}

fn huge(h: &FreeList, _: &mut dyn FnMut(), n: &mut Notes, _: &[Offset]) -> Result<(), String> {
    let a = own(h, 1 << 20, n)?;
    h.free(a).map_err(err)?;
    own(h, 600 << 10, n)?;
    let b = h.alloc_aligned(100 << 10, 4096).map_err(err)?;
    n.note("own", b.get());
    share_noted(h, b, n)
}

fn remote_free(
    h: &FreeList,
    _: &mut dyn FnMut(),
    n: &mut Notes,
    theirs: &[Offset],
) -> Result<(), String> {
    for &o in theirs {
        n.note("either", o.get());
        h.free(o).map_err(err)?;
        n.note("freed", o.get());
    }
    Ok(())
}

/// Frees the blocks an earlier process shared before it left (normally:
/// its arena is nobody's now), so the victim takes its own frees in.
fn free_unowned(
    h: &FreeList,
    _: &mut dyn FnMut(),
    n: &mut Notes,
    _: &[Offset],
) -> Result<(), String> {
    // The earlier process noted them `shared` (they come first in the
    // notes); the victim learns them from the directory.
    for name in ["a", "b", "c"] {
        let Some(o) = h.lookup(name).map_err(err)? else {
            return Err(format!("{name} was not published"));
        };
        n.note("either", o.get());
        h.free(o).map_err(err)?;
        n.note("freed", o.get());
    }
    Ok(())
}

fn publish_and_leave(h: &FreeList, n: &mut Notes) -> Result<(), String> {
    for (name, size) in [("a", 80), ("b", 2000), ("c", 300 << 10)] {
        let o = h.alloc(size).map_err(err)?;
        h.publish(name, o).map_err(err)?;
        n.note("shared", o.get());
    }
    // And some it does not share, freed by its `Drop`.
    for size in [64, 5000] {
        let o = h.alloc(size).map_err(err)?;
        n.note("own", o.get());
    }
    Ok(())
}

fn share(h: &FreeList, _: &mut dyn FnMut(), n: &mut Notes, _: &[Offset]) -> Result<(), String> {
    for size in [40, 3000, 200 << 10] {
        let o = own(h, size, n)?;
        share_noted(h, o, n)?;
    }
    Ok(())
}

/// Publishes a block (which shares it), then unpublishes the survivor's.
fn publish(
    h: &FreeList,
    _: &mut dyn FnMut(),
    n: &mut Notes,
    theirs: &[Offset],
) -> Result<(), String> {
    let o = own(h, 500, n)?;
    n.note("either", o.get());
    h.publish("victim", o).map_err(err)?;
    n.note("shared", o.get());
    if let Some(&t) = theirs.first() {
        h.publish("survivor", t).map_err(err)?;
        h.unpublish("survivor").map_err(err)?;
    }
    h.unpublish("victim").map_err(err)?;
    Ok(())
}

/// Allocates blocks of every sort and leaves them to its `Drop` (the exit
/// rule), or to the kill.
fn hold_everything(h: &FreeList, n: &mut Notes) -> Result<(), String> {
    for size in [24, 100, 700, 3000, 20_000, 48 << 10, 200 << 10] {
        own(h, size, n)?;
    }
    // A full class cache.
    let c: Vec<Offset> = (0..5)
        .map(|_| h.alloc(128).map_err(err))
        .collect::<Result<_, _>>()?;
    for o in c {
        h.free(o).map_err(err)?;
    }
    let s = own(h, 900, n)?;
    share_noted(h, s, n)
}

fn detach_holding(
    h: &FreeList,
    _: &mut dyn FnMut(),
    n: &mut Notes,
    _: &[Offset],
) -> Result<(), String> {
    hold_everything(h, n)
}

fn die_holding(h: &FreeList, n: &mut Notes) -> Result<(), String> {
    hold_everything(h, n)
}

/// `reclaim_dead` after an earlier process died holding blocks, explored
/// at each of its writes.
fn reclaim(h: &FreeList, _: &mut dyn FnMut(), _: &mut Notes, _: &[Offset]) -> Result<(), String> {
    let r = h.reclaim_dead().map_err(err)?;
    if r.processes != 1 {
        return Err(format!("reclaimed {} processes, not 1", r.processes));
    }
    Ok(())
}

const fn fl(name: &'static str, body: Body) -> Fl {
    Fl {
        name,
        survivor: none,
        survivor_freed: none,
        prior: None,
        open_first: true,
        body,
    }
}

static SCENARIOS: &[Fl] = &[
    Fl {
        open_first: false,
        ..fl("attach-detach", attach_detach)
    },
    fl("small-alloc-free", small),
    fl("cache-refill-flush", cache_refill_flush),
    fl("span-claim", spans),
    fl("span-give-back", give_back),
    Fl {
        survivor: one_span,
        survivor_freed: two_spans,
        ..fl("steal-parked", steal)
    },
    Fl {
        survivor: most_of_the_pool,
        ..fl("pool-runs-dry", exhaust)
    },
    fl("huge", huge),
    Fl {
        survivor: |_| vec![64, 500, 4000],
        ..fl("remote-free", remote_free)
    },
    Fl {
        prior: Some((publish_and_leave, Leave::Drop)),
        ..fl("free-into-unowned", free_unowned)
    },
    fl("share", share),
    Fl {
        survivor: |_| vec![700],
        ..fl("publish-unpublish", publish)
    },
    fl("detach-holding", detach_holding),
    Fl {
        prior: Some((die_holding, Leave::Kill)),
        ..fl("reclaim-dead", reclaim)
    },
];

/// The free-list scenarios.
pub fn scenarios() -> Vec<&'static dyn Scenario> {
    SCENARIOS.iter().map(|s| s as &dyn Scenario).collect()
}
