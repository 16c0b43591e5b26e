//! Free-list scenarios: every path a process can die on.

use super::notes::Notes;
use super::{engine, pool, Ended, Note, Outcome, Scenario, World};
use sharena::{FreeList, Offset, Recover, ShmAllocator};

/// Segment size of every free-list scenario: small, so that each of the
/// thousands of runs is cheap, and a few spans fill it.
const SIZE: u64 = 4 << 20;

/// A victim's body: the victim's own handle, `arm`, the notes, and the
/// survivor's blocks.
type Body = fn(&FreeList, &mut dyn FnMut(), &mut Notes, &[Offset]) -> Result<(), String>;

/// A free-list scenario: what the survivor holds first, and the victim.
struct Fl {
    name: &'static str,
    /// Sizes the survivor allocates before the victim starts.
    survivor: &'static [u64],
    /// Whether the victim opens its handle before `arm` (false: attach
    /// itself is explored).
    open_first: bool,
    body: Body,
}

struct FlWorld {
    heap: FreeList,
    baseline: u64,
    mine: Vec<Offset>,
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
        let heap = FreeList::create(seg, SIZE).map_err(|e| e.to_string())?;
        let baseline = heap.stats().used;
        let mut mine = Vec::new();
        for &s in self.survivor {
            mine.push(heap.alloc(s).map_err(|e| e.to_string())?);
        }
        Ok(Box::new(FlWorld {
            heap,
            baseline,
            mine,
            open_first: self.open_first,
            body: self.body,
        }))
    }
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
        let h = FreeList::open(seg).map_err(|e| e.to_string())?;
        if self.open_first {
            arm();
        }
        (self.body)(&h, arm, notes, &self.mine)
    }

    fn verify(&mut self, notes: &[Note], _ended: Ended) -> Outcome {
        engine::guarded(|out| {
            let heap = &*self.heap;
            pool::reclaim_and_check(heap, out);
            pool::settle(heap, &self.mine, notes, self.baseline, out);
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

fn spans(h: &FreeList, _: &mut dyn FnMut(), n: &mut Notes, _: &[Offset]) -> Result<(), String> {
    // Blocks of 48 KiB: a few fill a span, so the arena claims more.
    let mut v = Vec::new();
    for _ in 0..30 {
        v.push(own(h, 48 << 10, n)?);
    }
    for o in v.drain(..).step_by(2) {
        h.free(o).map_err(err)?;
    }
    Ok(())
}

fn huge(h: &FreeList, _: &mut dyn FnMut(), n: &mut Notes, _: &[Offset]) -> Result<(), String> {
    let a = own(h, 1 << 20, n)?;
    h.free(a).map_err(err)?;
    own(h, 600 << 10, n)?;
    Ok(())
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

fn share(h: &FreeList, _: &mut dyn FnMut(), n: &mut Notes, _: &[Offset]) -> Result<(), String> {
    for size in [40, 3000, 200 << 10] {
        let o = own(h, size, n)?;
        n.note("either", o.get());
        h.share(o).map_err(err)?;
        n.note("shared", o.get());
    }
    Ok(())
}

static SCENARIOS: &[Fl] = &[
    Fl {
        name: "attach-detach",
        survivor: &[],
        open_first: false,
        body: attach_detach,
    },
    Fl {
        name: "small-alloc-free",
        survivor: &[],
        open_first: true,
        body: small,
    },
    Fl {
        name: "cache-refill-flush",
        survivor: &[],
        open_first: true,
        body: cache_refill_flush,
    },
    Fl {
        name: "span-claim",
        survivor: &[],
        open_first: true,
        body: spans,
    },
    Fl {
        name: "huge",
        survivor: &[],
        open_first: true,
        body: huge,
    },
    Fl {
        name: "remote-free",
        survivor: &[64, 500, 4000],
        open_first: true,
        body: remote_free,
    },
    Fl {
        name: "share",
        survivor: &[],
        open_first: true,
        body: share,
    },
];

/// The free-list scenarios.
pub fn scenarios() -> Vec<&'static dyn Scenario> {
    SCENARIOS.iter().map(|s| s as &dyn Scenario).collect()
}
