//! Layout scenarios: the named directory and the process table, which
//! every allocator kind shares, killed at every write.
//!
//! They run on a small slab (the kind whose survivor checks most simply:
//! every slot can be counted), with a directory of 3 entries and a
//! process table of 4, so that a full directory (recycling the
//! entry of a dead publisher) and a full table (an attach adopting a dead
//! attachment's entry, or refused when every holder lives) are reached in
//! a few operations. After each state the survivor runs the slab's
//! verification (reclaim, check, accounting, every slot) and then the
//! layout's own:
//! - every process-table entry names a live attachment, exactly the
//!   survivor's own handles;
//! - every published name is one the scenario uses and names a block
//!   that is live (the survivor's, or one the victim shared), and a name
//!   the victim published before it finished is still there;
//! - the survivor can publish a name into every entry of the directory
//!   (entries a dead publisher left half-claimed are recycled), then gets
//!   `DirectoryFull`;
//! - the survivor can attach until the table holds 4 live
//!   attachments (a dead one's entry adopted), then gets
//!   `ProcessTableFull`.

use super::notes::Notes;
use super::{engine, pool, Ended, Note, Outcome, Scenario, World};
use crate::harness::{self, Exit};
use sharena::{Error, Named, Offset, ProcTable, Recover, RunKind, ShmAllocator, Slab};
use std::collections::BTreeMap;

/// Slot size.
const SLOT: u64 = 64;
/// Slots of the slab.
const SLOTS: u64 = 64;
/// Cache entries (more than [`PROCS`]: the table, not the slab, is full).
const CACHES: u64 = 8;
/// Slots per cache.
const CAP: u64 = 4;
/// Process-table entries.
const PROCS: u32 = 4;
/// Directory entries.
const DIR: u32 = 3;
/// Segment size.
const SIZE: u64 = 1 << 20;
/// The name the victim publishes.
const NAME: &str = "explored";
/// A second name of the victim.
const NAME2: &str = "explored-2";
/// The name the survivor publishes in setup.
const MINE: &str = "survivor";

/// A victim's body: the victim's own handle and the notes.
type Body = fn(&Slab, &mut Notes) -> Result<(), String>;

/// What the survivor does before the victim starts.
#[derive(Clone, Copy)]
struct Setup {
    /// The survivor publishes [`MINE`] (and, if `taken`, [`NAME`]) with
    /// shared blocks of its own.
    publish_mine: bool,
    taken: bool,
    /// A rival dies holding [`NAME`]'s entry PENDING.
    rival: bool,
    /// A first process attaches, allocates (sharing some) and dies with
    /// its handle open: its table entry, cache entry and slots are left.
    dead_holder: bool,
    /// Handles that take every table entry left free.
    fill_table: bool,
}

const PLAIN: Setup = Setup {
    publish_mine: false,
    taken: false,
    rival: false,
    dead_holder: false,
    fill_table: false,
};

/// A layout scenario.
struct Ly {
    name: &'static str,
    setup: Setup,
    /// Whether the victim opens its handle before `arm` (false: the attach
    /// is explored).
    open_first: bool,
    body: Body,
}

struct LyWorld {
    slab: Slab,
    fillers: Vec<Slab>,
    baseline: u64,
    /// The survivor's blocks (published ones included).
    mine: Vec<Offset>,
    /// What the dead holder left.
    first: Vec<Note>,
    /// The names the survivor published, with their blocks.
    published: Vec<(&'static str, Offset)>,
    setup: Setup,
    open_first: bool,
    body: Body,
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(err)`
fn err(e: Error) -> String {
    e.to_string()
}

impl Scenario for Ly {
    fn kind(&self) -> &'static str {
        "layout"
    }
    fn name(&self) -> &'static str {
        self.name
    }
    fn setup(&self, seg: &str) -> Result<Box<dyn World>, String> {
        let s = self.setup;
        let opts = Slab::options(SIZE, SLOT)
            .map_err(err)?
            .param(1, SLOTS)
            .param(2, CACHES)
            .param(3, CAP)
            .max_processes(PROCS)
            .directory_slots(DIR);
        let slab = Slab::create_with_options(seg, &opts).map_err(err)?;
        let baseline = slab.stats().used;
        let mut mine = Vec::new();
        let mut published = Vec::new();
        let names: &[&'static str] = match (s.publish_mine, s.taken) {
            (true, true) => &[MINE, NAME],
            (true, false) => &[MINE],
            (false, true) => &[NAME],
            (false, false) => &[],
        };
        for &n in names {
            let o = slab.alloc(SLOT).map_err(err)?;
            slab.publish(n, o).map_err(err)?;
            mine.push(o);
            published.push((n, o));
        }
        if s.rival {
            dead_rival(&slab)?;
        }
        let first = if s.dead_holder {
            dead_holder(&slab, seg)?
        } else {
            Vec::new()
        };
        let mut fillers = Vec::new();
        if s.fill_table {
            let free = PROCS as usize - 1 - usize::from(s.dead_holder);
            for _ in 0..free {
                fillers.push(Slab::open(seg).map_err(err)?);
            }
        }
        Ok(Box::new(LyWorld {
            slab,
            fillers,
            baseline,
            mine,
            first,
            published,
            setup: s,
            open_first: self.open_first,
            body: self.body,
        }))
    }
}

/// Forks a process that publishes [`NAME`] straight into the directory
/// and dies just before the write that would make it PUBLISHED (its 14th:
/// the claim, the owner, value and key words, 8 name words, PENDING).
fn dead_rival(slab: &Slab) -> Result<(), String> {
    let view = slab.directory_view();
    // SAFETY: the explorer's process has one thread (`explore`'s contract,
    // under which `setup` runs).
    let pid = unsafe {
        harness::fork_child(|| {
            let Ok(dir) = sharena::layout::Directory::of(view) else {
                return 2;
            };
            shm_layout::crash::arm_writes(14);
            let _ = dir.publish(NAME.as_bytes(), 8);
            shm_layout::crash::disarm_writes();
            3
        })
    }
    .map_err(|e| format!("fork: {e}"))?;
    match harness::wait(pid) {
        Exit::Signaled(nix::sys::signal::Signal::SIGKILL) => Ok(()),
        other => Err(format!("the rival publisher {other}")),
    }
}

/// Forks a process that attaches, allocates, shares some and dies with
/// its handle open; returns what it left (read from the slab's runs).
fn dead_holder(slab: &Slab, seg: &str) -> Result<Vec<Note>, String> {
    let before = runs(slab)?;
    let seg = seg.to_string();
    // SAFETY: as in `dead_rival`.
    let pid = unsafe {
        harness::fork_child(|| {
            let Ok(h) = Slab::open(&seg) else { return 2 };
            for k in 0..6 {
                let Ok(o) = h.alloc(SLOT) else { return 3 };
                if k % 3 == 0 && h.share(o).is_err() {
                    return 4;
                }
            }
            std::mem::forget(h);
            0
        })
    }
    .map_err(|e| format!("fork: {e}"))?;
    match harness::wait(pid) {
        Exit::Exited(0) => {}
        other => return Err(format!("the dead holder {other}")),
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

impl World for LyWorld {
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
            // Every entry held by a live attachment: refused, and nothing
            // left behind (the survivor checks).
            Err(Error::ProcessTableFull { .. })
                if self.setup.fill_table && !self.setup.dead_holder =>
            {
                notes.note("refused", 0);
                return Ok(());
            }
            Err(e) => return Err(e.to_string()),
        };
        if self.setup.fill_table && !self.setup.dead_holder {
            return Err("attach succeeded with every table entry held by a live process".into());
        }
        if self.open_first {
            arm();
        }
        (self.body)(&h, notes)
    }

    fn verify(&mut self, notes: &[Note], ended: Ended) -> Outcome {
        engine::guarded(|out| {
            let slab = &*self.slab;
            pool::reclaim_and_check(slab, out);
            self.table(out);
            let mut all: Vec<Note> = self.first.clone();
            all.extend(notes.iter().cloned());
            self.names(notes, ended, out);
            pool::settle(slab, &self.mine, &all, self.baseline, out);
            pool::check(slab, out, "after the survivor freed everything");
            every_slot(&self.slab, out);
            fill_directory(&self.slab, out);
            self.fill_table(out);
            pool::progress(slab, &[8, 64, 1, 64], None, out);
            self.fillers.clear();
            pool::check(slab, out, "after the fillers detached");
            self.table(out);
        })
    }
}

impl LyWorld {
    /// Every table entry is a live attachment of the survivor's.
    fn table(&self, out: &mut Outcome) {
        let entries = match ProcTable::of(self.slab.segment().view()).and_then(|t| t.entries()) {
            Ok(e) => e,
            Err(e) => return out.problem(format!("process table: {e}")),
        };
        let me = std::process::id();
        for e in &entries {
            if !e.alive || e.id.pid() != me {
                out.problem(format!(
                    "table entry {} still names {} (alive: {}) after reclaim",
                    e.slot, e.id, e.alive
                ));
            }
        }
        let want = 1 + self.fillers.len();
        if entries.len() != want {
            out.problem(format!(
                "{} table entries taken, the survivor holds {want}",
                entries.len()
            ));
        }
    }

    /// The published names: the survivor's as it published them, the
    /// victim's known and naming blocks it shared; a finished victim's
    /// publishes are there. Unpublishes every name (the blocks are then
    /// settled as the notes say).
    fn names(&self, notes: &[Note], ended: Ended, out: &mut Outcome) {
        // The last of `named`/`unnamed` for each block.
        let mut named: BTreeMap<u64, bool> = BTreeMap::new();
        for n in notes {
            match n.tag.as_str() {
                "named" => {
                    named.insert(n.value, true);
                }
                "unnamed" => {
                    named.insert(n.value, false);
                }
                _ => {}
            }
        }
        let fates = pool::fates(notes);
        let entries = match self.slab.directory() {
            Ok(e) => e,
            Err(e) => return out.problem(format!("directory: {e}")),
        };
        for e in &entries {
            if let Some(&(_, o)) = self.published.iter().find(|p| p.0 == e.name) {
                if o.get() != e.value {
                    out.problem(format!(
                        "{} names {}, the survivor published {}",
                        e.name,
                        e.value,
                        o.get()
                    ));
                }
            } else {
                if e.name != NAME && e.name != NAME2 {
                    out.problem(format!("an unknown name {:?} is published", e.name));
                }
                match fates.get(&e.value).copied() {
                    Some("shared" | "either") => {}
                    other => out.problem(format!(
                        "{} names {}, which the victim never shared ({other:?})",
                        e.name, e.value
                    )),
                }
            }
            if let Err(x) = self.slab.unpublish(e.name.as_str()) {
                out.problem(format!("unpublish {}: {x}", e.name));
            }
        }
        for (name, _) in &self.published {
            if !entries.iter().any(|e| e.name == *name) {
                out.problem(format!("the survivor's name {name} is gone"));
            }
        }
        if ended == Ended::Finished {
            for (&v, &is) in &named {
                if is && !entries.iter().any(|e| e.value == v) {
                    out.problem(format!("the finished victim's name for {v} is gone"));
                }
            }
        }
    }

    /// The survivor attaches until the table holds `PROCS` live
    /// attachments, then is refused.
    fn fill_table(&self, out: &mut Outcome) {
        let seg = self.slab.segment().name().to_string();
        let free = PROCS as usize - 1 - self.fillers.len();
        let mut got = Vec::new();
        for _ in 0..free {
            match Slab::open(&seg) {
                Ok(h) => got.push(h),
                Err(e) => {
                    out.stuck(format!(
                        "attach {} of {free} after the crash: {e}",
                        got.len() + 1
                    ));
                    return;
                }
            }
        }
        match Slab::open(&seg) {
            Err(Error::ProcessTableFull { .. }) => {}
            Ok(_) => out.problem("an attach beyond a full table of live holders succeeded"),
            Err(e) => out.problem(format!("an attach to a full table: {e}")),
        }
    }
}

/// Publishes a name into every directory entry (every one must be
/// usable), expects `DirectoryFull` after, and cleans up. The survivor's
/// own names still take their entries.
fn fill_directory(slab: &Slab, out: &mut Outcome) {
    let taken = match slab.directory() {
        Ok(e) => e.len(),
        Err(e) => return out.problem(format!("directory: {e}")),
    };
    let mut got: Vec<(String, Offset)> = Vec::new();
    for i in 0..=u64::from(DIR) {
        let name = format!("fill-{i}");
        let o = match slab.alloc(SLOT) {
            Ok(o) => o,
            Err(e) => {
                out.stuck(format!("alloc for a publish: {e}"));
                break;
            }
        };
        let full = taken + got.len() >= DIR as usize;
        match (slab.publish(name.as_str(), o), full) {
            (Ok(()), false) => got.push((name, o)),
            (Err(Error::DirectoryFull { .. }), true) => {
                let _ = slab.free(o);
                break;
            }
            (r, _) => {
                let _ = slab.free(o);
                out.stuck(format!(
                    "publish into a directory with {} of {DIR} entries taken: {r:?}",
                    taken + got.len()
                ));
                break;
            }
        }
    }
    for (name, o) in got {
        match slab.lookup(name.as_str()) {
            Ok(Some(at)) if at == o => {}
            other => out.problem(format!("lookup {name} after publish: {other:?}")),
        }
        if let Err(e) = slab.unpublish(name.as_str()) {
            out.problem(format!("unpublish {name}: {e}"));
        }
        if let Err(e) = slab.free(o) {
            out.problem(format!("free of a published block: {e}"));
        }
    }
}

/// Allocates until the slab is out of slots: every slot must come back,
/// once; then frees them all.
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

/// Allocates a slot, noting it as the victim's own.
fn own(h: &Slab, notes: &mut Notes) -> Result<Offset, String> {
    let o = h.alloc(SLOT).map_err(err)?;
    notes.note("own", o.get());
    Ok(o)
}

/// Publishes `o` under `name` (which shares it), noting each step.
fn publish(h: &Slab, notes: &mut Notes, name: &str, o: Offset) -> Result<(), String> {
    notes.note("either", o.get());
    h.publish(name, o).map_err(err)?;
    notes.note("shared", o.get());
    notes.note("named", o.get());
    Ok(())
}

/// Frees one of the victim's shared blocks, noting each step.
fn free_shared(h: &Slab, notes: &mut Notes, o: Offset) -> Result<(), String> {
    notes.note("either", o.get());
    h.free(o).map_err(err)?;
    notes.note("freed", o.get());
    Ok(())
}

fn publish_cycle(h: &Slab, n: &mut Notes) -> Result<(), String> {
    let a = own(h, n)?;
    publish(h, n, NAME, a)?;
    match h.lookup(NAME).map_err(err)? {
        Some(at) if at == a => {}
        other => return Err(format!("lookup after publish: {other:?}")),
    }
    if h.unpublish(NAME).map_err(err)? != a {
        return Err("unpublish returned another block".into());
    }
    n.note("unnamed", a.get());
    free_shared(h, n, a)?;
    let b = own(h, n)?;
    publish(h, n, NAME2, b)?;
    own(h, n)?;
    Ok(())
}

fn publish_taken(h: &Slab, n: &mut Notes) -> Result<(), String> {
    let a = own(h, n)?;
    n.note("either", a.get());
    match h.publish(NAME, a) {
        Err(Error::NameTaken { .. }) => {}
        other => return Err(format!("publish of a taken name: {other:?}")),
    }
    // Shared although the name was taken.
    n.note("shared", a.get());
    free_shared(h, n, a)?;
    own(h, n)?;
    Ok(())
}

fn publish_over_rival(h: &Slab, n: &mut Notes) -> Result<(), String> {
    let a = own(h, n)?;
    publish(h, n, NAME, a)?;
    match h.lookup(NAME).map_err(err)? {
        Some(at) if at == a => Ok(()),
        other => Err(format!("lookup after winning over a dead rival: {other:?}")),
    }
}

fn publish_two(h: &Slab, n: &mut Notes) -> Result<(), String> {
    let a = own(h, n)?;
    publish(h, n, NAME2, a)?;
    publish_over_rival(h, n)
}

fn alloc_free(h: &Slab, n: &mut Notes) -> Result<(), String> {
    let a = own(h, n)?;
    h.free(a).map_err(err)?;
    own(h, n)?;
    Ok(())
}

fn reclaim(h: &Slab, _: &mut Notes) -> Result<(), String> {
    h.reclaim_dead().map_err(err)?;
    Ok(())
}

static SCENARIOS: &[Ly] = &[
    Ly {
        name: "publish-lookup-unpublish",
        setup: Setup {
            publish_mine: true,
            ..PLAIN
        },
        open_first: true,
        body: publish_cycle,
    },
    Ly {
        name: "publish-a-taken-name",
        setup: Setup {
            taken: true,
            ..PLAIN
        },
        open_first: true,
        body: publish_taken,
    },
    Ly {
        name: "publish-over-a-dead-rival",
        setup: Setup {
            rival: true,
            ..PLAIN
        },
        open_first: true,
        body: publish_over_rival,
    },
    Ly {
        // The survivor's name and the rival's PENDING entry leave one
        // EMPTY entry, which the victim's first publish takes; its second
        // (the rival's name) finds none and recycles the dead rival's.
        name: "directory-full-recycles",
        setup: Setup {
            publish_mine: true,
            rival: true,
            ..PLAIN
        },
        open_first: true,
        body: publish_two,
    },
    Ly {
        name: "attach-detach",
        setup: PLAIN,
        open_first: false,
        body: alloc_free,
    },
    Ly {
        name: "full-table-adopts-a-dead-entry",
        setup: Setup {
            dead_holder: true,
            fill_table: true,
            ..PLAIN
        },
        open_first: false,
        body: alloc_free,
    },
    Ly {
        name: "full-table-of-live-holders",
        setup: Setup {
            fill_table: true,
            ..PLAIN
        },
        open_first: false,
        body: alloc_free,
    },
    Ly {
        name: "reclaim-dead",
        setup: Setup {
            dead_holder: true,
            rival: true,
            publish_mine: true,
            ..PLAIN
        },
        open_first: true,
        body: reclaim,
    },
];

/// The layout scenarios.
pub fn scenarios() -> Vec<&'static dyn Scenario> {
    SCENARIOS.iter().map(|s| s as &dyn Scenario).collect()
}
