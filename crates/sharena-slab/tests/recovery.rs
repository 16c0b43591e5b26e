//! Crash recovery across real processes: the test binary re-spawns itself
//! as a child (env `SLAB_RECOVERY_CHILD` selects the role) on a file-backed
//! segment with a process table. The child allocates (sharing some), fills
//! its cache, and dies: SIGKILL from the parent, or an abort at each named
//! crash point (`sharena_slab::crash`, which the child arms from
//! `SLAB_CRASH_AT=<point>[:<n>]`). The parent checks
//! that `check()` passes before and after, that `reclaim_dead()` frees
//! exactly the child's unshared slots, that a second reclaim frees nothing,
//! and that every other slot can be allocated again, each once.

use memmap2::MmapMut;
use sharena_slab::Slab;
use shm_layout::sync::{AtomicU64, Ordering};
use shm_layout::{
    AllocatorKind, LayoutSpec, Offset, OwnerId, ProcTable, Recover, RegionId, SegmentView,
    ShmAllocator, WaitPolicy,
};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::ptr::NonNull;

const SLOT: u64 = 64;
const SLOTS: u64 = 2048;
const CACHES: u64 = 8;
const CACHE_CAP: u64 = 16;
const PROCS: u64 = 8;
/// Slots the parent frees to the stack before the child starts.
const ON_STACK: usize = 20;
/// Slots the parent keeps.
const HELD: usize = 20;
const CHILD_ALLOCS: usize = 30;
const CHILD_SHARES: usize = 5;

/// A file mapped shared, with the view over it.
struct FileSeg {
    view: SegmentView,
    _map: MmapMut,
}

impl AsRef<SegmentView> for FileSeg {
    fn as_ref(&self) -> &SegmentView {
        &self.view
    }
}

fn spec() -> LayoutSpec {
    let mut params = [0u64; 8];
    params[0] = SLOT;
    params[1] = SLOTS;
    params[2] = CACHES;
    params[3] = CACHE_CAP;
    params[6] = PROCS;
    let geo = sharena_slab::Geometry {
        slot_count: SLOTS,
        ..sharena_slab::Geometry::from_params(&params).unwrap()
    };
    let state_len = geo.state_len().unwrap();
    let metadata_len = PROCS * 64;
    let total_len = 4096
        + metadata_len.next_multiple_of(4096)
        + state_len.next_multiple_of(4096)
        + SLOTS * SLOT;
    LayoutSpec {
        kind: AllocatorKind::Slab,
        total_len,
        metadata_len,
        state_len,
        params,
    }
}

fn map(path: &Path, len: u64) -> MmapMut {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap();
    f.set_len(len).unwrap();
    // SAFETY: the file is this test's own (unique name); other processes
    // map it shared on purpose and access it through atomics.
    unsafe { MmapMut::map_mut(&f).unwrap() }
}

fn create(path: &Path) -> FileSeg {
    let spec = spec();
    let mut map = map(path, spec.total_len);
    let base = NonNull::new(map.as_mut_ptr()).unwrap();
    // SAFETY: a fresh, zeroed, page-aligned shared mapping of `total_len`
    // bytes, kept alive by the returned value; nobody else initialises it.
    let view = unsafe {
        SegmentView::initialize(
            "/slab-recovery",
            base,
            spec.total_len,
            &spec,
            false,
            sharena_slab::init,
        )
    }
    .unwrap();
    FileSeg { view, _map: map }
}

fn open(path: &Path) -> FileSeg {
    let len = spec().total_len;
    let mut map = map(path, len);
    let base = NonNull::new(map.as_mut_ptr()).unwrap();
    // SAFETY: as in `create`; the creator finished before the child runs.
    let view = unsafe {
        SegmentView::open(
            "/slab-recovery",
            base,
            len,
            Some(AllocatorKind::Slab),
            WaitPolicy::default(),
            |_| true,
        )
    }
    .unwrap();
    FileSeg { view, _map: map }
}

/// Removes the file even when the test fails.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn temp_file() -> TempFile {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    TempFile(std::env::temp_dir().join(format!("slab-recovery-{}-{n}", std::process::id())))
}

/// The child: allocate, share the first few (reporting each on stdout),
/// free some into the cache, then report `ready` and wait to be killed.
/// With a crash point set it dies on the way, wherever the point is.
fn child(path: &str) {
    let slab = Slab::attach(open(Path::new(path))).unwrap();
    let mut out = std::io::stdout().lock();
    let mut held = Vec::new();
    for k in 0..CHILD_ALLOCS {
        let at = slab.alloc(SLOT).unwrap();
        slab.write(at, &[0xC5; SLOT as usize]).unwrap();
        if k < CHILD_SHARES {
            slab.share(at).unwrap();
            writeln!(out, "shared {}", at.get()).unwrap();
            out.flush().unwrap();
        } else {
            held.push(at);
        }
    }
    // Fill the cache: free most of the rest (a full cache flushes half).
    for at in held.drain(5..) {
        slab.free(at).unwrap();
    }
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(600));
}

/// The child's crash point, `<point>[:<n>]`: die at the `n`-th (default
/// the first) hit of `point`.
const CRASH_AT: &str = "SLAB_CRASH_AT";

#[test]
fn child_role() {
    if let Ok(path) = std::env::var("SLAB_RECOVERY_CHILD") {
        if let Ok(at) = std::env::var(CRASH_AT) {
            let (name, n) = at.split_once(':').unwrap_or((&at, "1"));
            let point = sharena_slab::crash::Point::parse(name).unwrap();
            shm_layout::crash::arm(point.into(), n.parse().unwrap());
        }
        child(&path);
    }
}

/// Runs one scenario: `crash` is the hook setting (None: SIGKILL once the
/// child is ready).
fn scenario(crash: Option<&str>) {
    let file = temp_file();
    let parent = Slab::attach(create(&file.0)).unwrap();
    // Parent: some slots on the stack, some held.
    let mut mine: Vec<Offset> = (0..ON_STACK + HELD)
        .map(|_| parent.alloc(8).unwrap())
        .collect();
    for at in mine.drain(HELD..) {
        parent.free(at).unwrap();
    }
    let mut parent = parent;
    parent.flush().unwrap();

    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
        .env("SLAB_RECOVERY_CHILD", &file.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    match crash {
        Some(at) => cmd.env(CRASH_AT, at),
        None => cmd.env_remove(CRASH_AT),
    };
    let mut proc = cmd.spawn().unwrap();
    let mut shared = Vec::new();
    for line in BufReader::new(proc.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        // The harness prints `test child_role ... ` before the child's
        // first line, without a newline.
        if let Some((_, off)) = line.split_once("shared ") {
            shared.push(Offset::new(off.trim().parse().unwrap()));
        } else if line.ends_with("ready") {
            assert!(crash.is_none(), "the child passed crash point {crash:?}");
            proc.kill().unwrap();
        }
    }
    let status = proc.wait().unwrap();
    assert!(!status.success(), "the child must die ({crash:?})");

    let ctx = format!("scenario {crash:?}");
    let report = parent.check().unwrap();
    assert!(
        report.ok(),
        "{ctx}: check before reclaim: {:?}",
        report.problems
    );
    let r = parent.reclaim_dead().unwrap();
    assert_eq!(r.processes, 1, "{ctx}: {r:?}");
    let report = parent.check().unwrap();
    assert!(
        report.ok(),
        "{ctx}: check after reclaim: {:?}",
        report.problems
    );
    let live = (HELD + shared.len()) as u64;
    assert_eq!(parent.stats().used, live * SLOT, "{ctx}");
    assert_eq!(report.used_bytes, live * SLOT, "{ctx}");
    let again = parent.reclaim_dead().unwrap();
    assert_eq!(
        (again.processes, again.blocks),
        (0, 0),
        "{ctx}: second reclaim"
    );
    assert!(ProcTable::of(parent.view())
        .unwrap()
        .dead()
        .unwrap()
        .is_empty());
    for &at in &shared {
        assert_eq!(
            parent.read(at, SLOT).unwrap(),
            vec![0xC5; SLOT as usize],
            "{ctx}"
        );
    }
    // Every other slot can be allocated, each once.
    let mut seen: HashSet<u64> = mine.iter().chain(&shared).map(|o| o.get()).collect();
    let mut got = 0;
    while let Ok(at) = parent.alloc(8) {
        assert!(
            seen.insert(at.get()),
            "{ctx}: {} handed out twice",
            at.get()
        );
        got += 1;
    }
    assert_eq!(got, SLOTS - live, "{ctx}: slots lost");
    assert!(parent.check().unwrap().ok(), "{ctx}");
}

#[test]
fn sigkill_with_a_full_cache() {
    scenario(None);
}

#[test]
fn killed_between_pop_and_stamp() {
    // Refills pop 8 slots each; the 12th pop is in the second refill,
    // after the first shares.
    scenario(Some("popped:12"));
}

#[test]
fn killed_between_counter_take_and_stamp() {
    // 20 slots on the stack: the third refill takes from the counter.
    scenario(Some("taken"));
}

#[test]
fn killed_between_link_and_push() {
    scenario(Some("linked"));
}

#[test]
fn killed_right_after_a_refill() {
    scenario(Some("refilled:2"));
}

/// A reused pid (same pid, another start time) counts as dead: a second
/// `Slab` of this process whose owner word's start time is forged.
#[test]
fn a_reused_pid_counts_as_dead() {
    let file = temp_file();
    let seg = create(&file.0);
    let parent = Slab::attach(open(&file.0)).unwrap();
    let kept = parent.alloc(8).unwrap();
    let other = Slab::attach(seg).unwrap();
    let theirs: Vec<Offset> = (0..10).map(|_| other.alloc(8).unwrap()).collect();
    other.share(theirs[0]).unwrap();
    let id = other.cache_id();
    let view = parent.view();
    let owner_at = view.region(RegionId::State).offset
        + sharena_slab::Geometry::REGISTRY_OFFSET
        + u64::from(id) * sharena_slab::Geometry::entry_len(CACHE_CAP);
    let word = view.atomic_u64(Offset::new(owner_at)).unwrap();
    let me = other.owner_id();
    assert_eq!(word.load(Ordering::Relaxed), me.raw());
    let dead = OwnerId::new(me.pid(), me.epoch(), me.start_ticks() + 1).unwrap();
    word.store(dead.raw(), Ordering::Relaxed);
    // The "dead" process's handle goes away without a trace.
    std::mem::forget(other);
    let r = parent.reclaim_dead().unwrap();
    assert_eq!(r.processes, 1);
    assert!(r.blocks >= 9, "{r:?}");
    assert!(parent.check().unwrap().ok());
    assert_eq!(parent.stats().used, 2 * SLOT);
    assert_eq!(parent.reclaim_dead().unwrap().blocks, 0);
    parent.free(kept).unwrap();
    parent.free(theirs[0]).unwrap();
    assert_eq!(parent.stats().used, 0);
}
