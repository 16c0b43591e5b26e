//! Handle-heap scenarios: every path a process can die on, its blocks
//! named by handles (they move), so the heap has its own verification
//! (`handles/verify.rs`) rather than the offset allocators' `pool.rs`.
//!
//! The paths: attach and detach; alloc and free; entries taken from the
//! hints, from the never-used ones and from a full table; a handle pinned
//! and unpinned (nested, and another process's); one compaction (killed at
//! each write of each move: the journal finishes or undoes it), with a
//! pinned block left in place, and one run inside an allocation
//! (auto-compaction); share, `publish_handle` and unpublish; a free of
//! another process's blocks; and `reclaim_dead` itself, run over what two
//! dead processes left (pins, a free undecided, a free not retired, a
//! compaction lock and a half-copied move), killed at each of its writes
//! and then run again by the survivor.

mod helpers;
mod verify;

use super::notes::Notes;
use super::{Ended, Note, Outcome, Scenario, World};
use sharena::{Handle, Handles, Named, Recover};

/// Segment size of every scenario: small, so each of the many runs is
/// cheap.
const SIZE: u64 = 1 << 20;

/// A survivor's block: its handle and size (its bytes are
/// [`pattern`]`(handle, size)`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mine {
    pub(crate) h: Handle,
    pub(crate) size: u64,
}

/// The bytes every block of these scenarios holds: derived from its
/// handle and each byte's position (no period: bytes shifted by any
/// distance read back wrong), so any block read back is checked whole.
pub(crate) fn pattern(h: Handle, len: u64) -> Vec<u8> {
    let word = |w: u64| {
        // splitmix64 of (handle, word index)
        let mut z =
            (h.raw() ^ w.wrapping_mul(0xD1B5_4A32_D192_ED03)).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (0..len)
        .map(|i| word(i / 8).to_le_bytes()[(i % 8) as usize])
        .collect()
}

/// What the survivor sets up: its own blocks (written), maybe dead
/// processes' leftovers.
type Setup = fn(&Handles, &str) -> Result<Vec<Mine>, String>;

/// A victim's body: its own handle, the notes, the survivor's blocks.
type Body = fn(&Handles, &mut Notes, &[Mine]) -> Result<(), String>;

/// A handle-heap scenario.
struct Hs {
    name: &'static str,
    /// Handle-table entries.
    handles: u64,
    setup: Setup,
    /// Whether the victim opens its handle before arming (false: attach
    /// and detach themselves are explored).
    open_first: bool,
    body: Body,
}

struct HWorld {
    heap: Handles,
    mine: Vec<Mine>,
    open_first: bool,
    body: Body,
}

impl Scenario for Hs {
    fn kind(&self) -> &'static str {
        "handles"
    }
    fn name(&self) -> &'static str {
        self.name
    }
    fn setup(&self, seg: &str) -> Result<Box<dyn World>, String> {
        let opts = Handles::options_with_handles(SIZE, self.handles).map_err(err)?;
        let heap = Handles::create_with_options(seg, &opts).map_err(err)?;
        let mine = (self.setup)(&heap, seg)?;
        Ok(Box::new(HWorld {
            heap,
            mine,
            open_first: self.open_first,
            body: self.body,
        }))
    }
}

impl World for HWorld {
    fn victim(
        &mut self,
        seg: &str,
        arm: &mut dyn FnMut(),
        notes: &mut Notes,
    ) -> Result<(), String> {
        if !self.open_first {
            arm();
        }
        let h = Handles::open(seg).map_err(err)?;
        if self.open_first {
            arm();
        }
        (self.body)(&h, notes, &self.mine)
    }

    fn verify(&mut self, notes: &[Note], _ended: Ended) -> Outcome {
        verify::verify(&self.heap, &self.mine, notes)
    }
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(err)`
pub(crate) fn err(e: sharena::Error) -> String {
    e.to_string()
}

/// Allocates and writes `size` bytes, noting the handle as the victim's.
fn own(h: &Handles, size: u64, notes: &mut Notes) -> Result<Handle, String> {
    let x = h.alloc(size).map_err(err)?;
    notes.note("own", x.raw());
    h.write(x, &pattern(x, size)).map_err(err)?;
    Ok(x)
}

/// Allocates and writes a survivor's block.
pub(crate) fn mine(heap: &Handles, size: u64) -> Result<Mine, String> {
    let h = heap.alloc(size).map_err(err)?;
    heap.write(h, &pattern(h, size)).map_err(err)?;
    Ok(Mine { h, size })
}

#[allow(clippy::unnecessary_wraps)] // a `Setup`
fn nothing(_: &Handles, _: &str) -> Result<Vec<Mine>, String> {
    Ok(Vec::new())
}

/// Survivor's blocks above holes: a compaction moves all three, one of
/// them in several chunks.
pub(crate) fn holes(heap: &Handles, _: &str) -> Result<Vec<Mine>, String> {
    let hole1 = heap.alloc(200 << 10).map_err(err)?;
    let s1 = mine(heap, 300)?;
    let hole2 = heap.alloc(100 << 10).map_err(err)?;
    let s2 = mine(heap, 200 << 10)?;
    let s3 = mine(heap, 64)?;
    heap.free(hole1).map_err(err)?;
    heap.free(hole2).map_err(err)?;
    Ok(vec![s1, s2, s3])
}

/// A survivor's block moved less than its length (each chunk overwrites
/// source bytes already copied: an interrupted copy can only go forward),
/// and a small one after it.
fn overlap(heap: &Handles, _: &str) -> Result<Vec<Mine>, String> {
    let hole = heap.alloc(16 << 10).map_err(err)?;
    let m = vec![mine(heap, 200 << 10)?, mine(heap, 64)?];
    heap.free(hole).map_err(err)?;
    Ok(m)
}

/// A few survivor's blocks and two freed entries (hinted).
fn some(heap: &Handles, _: &str) -> Result<Vec<Mine>, String> {
    let a = heap.alloc(8).map_err(err)?;
    let m = vec![mine(heap, 40)?, mine(heap, 8)?];
    let b = heap.alloc(8).map_err(err)?;
    heap.free(a).map_err(err)?;
    heap.free(b).map_err(err)?;
    Ok(m)
}

/// A full 160-entry table (three hint words) but for entries 5 and 150:
/// the victim's takes empty two hint words, so their summary bits go, and
/// its free of the entry in the last word sets one again.
fn full_table(heap: &Handles, _: &str) -> Result<Vec<Mine>, String> {
    let mut all = Vec::new();
    while let Ok(m) = mine(heap, 8) {
        all.push(m);
    }
    let mut kept = Vec::new();
    for m in all {
        if matches!(m.h.index(), 5 | 150) {
            heap.free(m.h).map_err(err)?;
        } else {
            kept.push(m);
        }
    }
    Ok(kept)
}

/// The data area filled with 16 KiB blocks, every other one freed: a
/// 64 KiB allocation fits only after a compaction.
fn fragmented(heap: &Handles, _: &str) -> Result<Vec<Mine>, String> {
    let mut all = Vec::new();
    while let Ok(m) = mine(heap, 16 << 10) {
        all.push(m);
    }
    let mut kept = Vec::new();
    for (i, m) in all.into_iter().enumerate() {
        if i % 2 == 0 {
            heap.free(m.h).map_err(err)?;
        } else {
            kept.push(m);
        }
    }
    Ok(kept)
}

#[allow(clippy::unnecessary_wraps)] // a `Body`
fn attach_detach(_: &Handles, _: &mut Notes, _: &[Mine]) -> Result<(), String> {
    Ok(())
}

fn alloc_free(h: &Handles, n: &mut Notes, _: &[Mine]) -> Result<(), String> {
    let a = own(h, 100, n)?;
    own(h, 5000, n)?;
    h.free(a).map_err(err)?;
    own(h, 64, n)?;
    Ok(())
}

/// A 16-entry table: hinted entries, never-used ones, a full table (its
/// whole hint scan), then reuse.
fn entries(h: &Handles, n: &mut Notes, _: &[Mine]) -> Result<(), String> {
    let mut v = Vec::new();
    while let Ok(x) = h.alloc(8) {
        n.note("own", x.raw());
        h.write(x, &pattern(x, 8)).map_err(err)?;
        v.push(x);
    }
    for x in v.iter().step_by(2) {
        h.free(*x).map_err(err)?;
    }
    own(h, 16, n)?;
    own(h, 24, n)?;
    Ok(())
}

/// Takes the two free entries of [`full_table`], finds the table full
/// (clearing the summary bits of the emptied hint words), then frees the
/// one in the last word: a free into a word whose summary bit is clear.
fn summary(heap: &Handles, notes: &mut Notes, _: &[Mine]) -> Result<(), String> {
    own(heap, 8, notes)?;
    let last = own(heap, 8, notes)?;
    if heap.alloc(8).is_ok() {
        return Err("the table should be full".into());
    }
    heap.free(last).map_err(err)?;
    Ok(())
}

fn pin_unpin(heap: &Handles, notes: &mut Notes, theirs: &[Mine]) -> Result<(), String> {
    let x = own(heap, 256, notes)?;
    {
        let outer = heap.pin(x).map_err(err)?;
        outer.write_at(0, &pattern(x, 256)).map_err(err)?;
        let inner = heap.pin(x).map_err(err)?; // nested: one seat bit, two pins
        let held = heap.pin(theirs[0].h).map_err(err)?;
        let mut bytes = vec![0u8; theirs[0].size as usize];
        held.read_at(0, &mut bytes).map_err(err)?;
        if bytes != pattern(theirs[0].h, theirs[0].size) {
            return Err("a survivor's block read back wrong".into());
        }
        drop(inner);
        drop(outer);
        drop(held);
    }
    let _ = heap.read(theirs[1].h, 1).map_err(err)?;
    Ok(())
}

fn compact_step(h: &Handles, _: &mut Notes, theirs: &[Mine]) -> Result<(), String> {
    let r = h.compact().map_err(err)?;
    if r.blocks_moved != theirs.len() as u64 {
        return Err(format!("expected {} moves: {r:?}", theirs.len()));
    }
    Ok(())
}

fn compact_around_pin(h: &Handles, _: &mut Notes, theirs: &[Mine]) -> Result<(), String> {
    {
        let _p = h.pin(theirs[1].h).map_err(err)?;
        let r = h.compact().map_err(err)?;
        if r.pinned != 1 {
            return Err(format!("the pinned block was not left in place: {r:?}"));
        }
    }
    h.compact().map_err(err)?;
    Ok(())
}

fn auto_compact(h: &Handles, n: &mut Notes, _: &[Mine]) -> Result<(), String> {
    h.set_auto_compact(true);
    own(h, 64 << 10, n)?;
    Ok(())
}

fn share_publish(heap: &Handles, notes: &mut Notes, _: &[Mine]) -> Result<(), String> {
    let shared = own(heap, 100, notes)?;
    notes.note("either", shared.raw());
    heap.share_handle(shared).map_err(err)?;
    notes.note("shared", shared.raw());
    let named = own(heap, 3000, notes)?;
    notes.note("either", named.raw());
    heap.publish_handle("victim-y", named).map_err(err)?;
    notes.note("shared", named.raw());
    if heap.lookup_handle("victim-y").map_err(err)? != Some(named) {
        return Err("lookup_handle did not find what was published".into());
    }
    let unnamed = own(heap, 40, notes)?;
    notes.note("either", unnamed.raw());
    heap.publish_handle("victim-z", unnamed).map_err(err)?;
    notes.note("shared", unnamed.raw());
    heap.unpublish("victim-z").map_err(err)?;
    Ok(())
}

fn free_theirs(h: &Handles, n: &mut Notes, theirs: &[Mine]) -> Result<(), String> {
    for m in theirs {
        n.note("theirs", m.h.raw());
        h.free(m.h).map_err(err)?;
        n.note("freed", m.h.raw());
    }
    Ok(())
}

fn reclaim(h: &Handles, _: &mut Notes, _: &[Mine]) -> Result<(), String> {
    let r = h.reclaim_dead().map_err(err)?;
    if r.processes != 2 {
        return Err(format!("expected 2 dead processes: {r:?}"));
    }
    Ok(())
}

static SCENARIOS: &[Hs] = &[
    Hs {
        name: "attach-detach",
        handles: 256,
        setup: some,
        open_first: false,
        body: attach_detach,
    },
    Hs {
        name: "alloc-free",
        handles: 256,
        setup: some,
        open_first: true,
        body: alloc_free,
    },
    Hs {
        name: "entries",
        handles: 16,
        setup: some,
        open_first: true,
        body: entries,
    },
    Hs {
        name: "entries-summary",
        handles: 160,
        setup: full_table,
        open_first: true,
        body: summary,
    },
    Hs {
        name: "pin-unpin",
        handles: 256,
        setup: holes,
        open_first: true,
        body: pin_unpin,
    },
    Hs {
        name: "compact-step",
        handles: 256,
        setup: holes,
        open_first: true,
        body: compact_step,
    },
    Hs {
        name: "compact-overlap",
        handles: 256,
        setup: overlap,
        open_first: true,
        body: compact_step,
    },
    Hs {
        name: "compact-around-pin",
        handles: 256,
        setup: holes,
        open_first: true,
        body: compact_around_pin,
    },
    Hs {
        name: "auto-compact",
        handles: 256,
        setup: fragmented,
        open_first: true,
        body: auto_compact,
    },
    Hs {
        name: "share-publish",
        handles: 256,
        setup: nothing,
        open_first: true,
        body: share_publish,
    },
    Hs {
        name: "free-theirs",
        handles: 256,
        setup: holes,
        open_first: true,
        body: free_theirs,
    },
    Hs {
        name: "reclaim",
        handles: 256,
        setup: helpers::dead_helpers,
        open_first: true,
        body: reclaim,
    },
];

/// The handle-heap scenarios.
pub fn scenarios() -> Vec<&'static dyn Scenario> {
    SCENARIOS.iter().map(|s| s as &dyn Scenario).collect()
}

/// Whether the handle names a live block of this heap (it may be stale).
pub(crate) fn is_live(heap: &Handles, h: Handle) -> bool {
    heap.size_of(h).is_ok()
}

/// Every published name and the handle it names.
pub(crate) fn published(heap: &Handles) -> Result<Vec<(String, Handle)>, String> {
    let mut out = Vec::new();
    for e in heap.directory().map_err(err)? {
        if let Some(h) = heap.lookup_handle(&e.name).map_err(err)? {
            out.push((e.name.clone(), h));
        }
    }
    Ok(out)
}
