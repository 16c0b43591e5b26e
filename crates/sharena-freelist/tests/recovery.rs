//! Crash recovery across real processes (issue 6): a child (this test
//! binary re-spawned, `FL_RECOVERY_CHILD` selects the role) attaches to a
//! file-backed segment, allocates blocks (some shared, two huge), fills a
//! class cache, and dies at a named crash point (`sharena_freelist::crash`) or by
//! `SIGKILL`; the parent checks the segment, reclaims, and accounts for
//! every byte.

use memmap2::MmapMut;
use sharena_freelist::crash::Point;
use sharena_freelist::FreeList;
use shm_layout::sync::{AtomicU64, Ordering};
use shm_layout::{
    AllocatorKind, Error, LayoutSpec, Offset, ProcId, ProcTable, Recover, SegmentView,
    ShmAllocator, WaitPolicy,
};
use std::fs::{self, File, OpenOptions};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

const LEN: u64 = 8 << 20;
const PROCS: u64 = 8;
const DIRS: u64 = 4;
const ENV: &str = "FL_RECOVERY_CHILD";

/// A file-backed mapping and the view over it.
#[derive(Debug)]
struct FileSeg {
    view: SegmentView,
    _map: MmapMut,
}

#[derive(Clone, Debug)]
struct Seg(Arc<FileSeg>);

impl AsRef<SegmentView> for Seg {
    fn as_ref(&self) -> &SegmentView {
        &self.0.view
    }
}

/// Deletes the file (and the go/result files) even when a test fails.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for ext in ["", ".out", ".go"] {
            let _ = fs::remove_file(format!("{}{ext}", self.0.display()));
        }
    }
}

fn unique_path() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "sharena-fl-recovery-{}-{}",
        std::process::id(),
        // Relaxed: the RMW alone makes names unique.
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fn map(path: &Path) -> MmapMut {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    // SAFETY: the file is this test's own; every process maps it shared and
    // goes through the allocator's atomics.
    unsafe { MmapMut::map_mut(&f).unwrap() }
}

fn create(path: &Path, procs: u64) -> Seg {
    let f = File::create(path).unwrap();
    f.set_len(LEN).unwrap();
    let mut m = map(path);
    let meta = procs * 64 + DIRS * 128;
    let (p, state_len) = sharena_freelist::for_segment(LEN, meta, 8).unwrap();
    let spec = LayoutSpec {
        kind: AllocatorKind::FreeList,
        total_len: LEN,
        metadata_len: meta,
        state_len,
        params: [p[0], p[1], p[2], 0, 0, 0, procs, DIRS],
    };
    let base = NonNull::new(m.as_mut_ptr()).unwrap();
    // SAFETY: the mapping is page-aligned, LEN bytes, moves into `FileSeg`
    // with the view (the mapping itself stays put), and the file is new.
    let view = unsafe {
        SegmentView::initialize(
            "/fl-recovery",
            base,
            LEN,
            &spec,
            false,
            FreeList::<Seg>::init,
        )
    }
    .unwrap();
    Seg(Arc::new(FileSeg { view, _map: m }))
}

fn open(path: &Path) -> Seg {
    let mut m = map(path);
    let base = NonNull::new(m.as_mut_ptr()).unwrap();
    // SAFETY: as in `create`; the creator published READY already.
    let view = unsafe {
        SegmentView::open(
            "/fl-recovery",
            base,
            LEN,
            Some(AllocatorKind::FreeList),
            WaitPolicy::default(),
            |pid| ProcId::of_pid(pid).is_some(),
        )
    }
    .unwrap();
    Seg(Arc::new(FileSeg { view, _map: m }))
}

/// Bytes a block spans (header and rounding included).
fn bytes_of(h: &FreeList<Seg>, off: Offset) -> u64 {
    h.usable_size(off).unwrap() + 16
}

/// What the child reports: its shared blocks and bytes, the blocks the
/// parent frees remotely, and the child's live bytes.
#[derive(Debug, Default)]
struct ChildOut {
    shared: Vec<u64>,
    shared_bytes: u64,
    for_parent: Vec<u64>,
    live_bytes: u64,
}

fn parse(s: &str) -> ChildOut {
    let mut o = ChildOut::default();
    for line in s.lines() {
        let (k, v) = line.split_once(' ').unwrap();
        let nums: Vec<u64> = v.split_whitespace().map(|x| x.parse().unwrap()).collect();
        match k {
            "shared" => o.shared = nums,
            "shared_bytes" => o.shared_bytes = nums[0],
            "for_parent" => o.for_parent = nums,
            "live_bytes" => o.live_bytes = nums[0],
            _ => panic!("bad line {line}"),
        }
    }
    o
}

/// The child's role: `path mode [parent_block]`.
#[test]
fn child_entry() {
    let Ok(arg) = std::env::var(ENV) else {
        return;
    };
    let args: Vec<&str> = arg.split(' ').collect();
    let path = PathBuf::from(args[0]);
    let mode = args[1];
    let seg = open(&path);
    let h = FreeList::attach(seg).unwrap();
    let chunk = 1u64 << h.geometry().chunk_shift;
    let mut live = Vec::new();
    let mut shared = Vec::new();
    for i in 0..40u64 {
        let size = 16 + (i * 977) % 3000;
        let off = h.alloc(size).unwrap();
        h.write(off, &i.to_le_bytes()).unwrap();
        if i % 4 == 0 {
            h.share(off).unwrap();
            h.share(off).unwrap(); // idempotent
            shared.push(off);
        } else {
            live.push(off);
        }
    }
    // Two huge blocks, one shared.
    let huge = h.alloc(2 * chunk).unwrap();
    live.push(huge);
    let huge_shared = h.alloc(2 * chunk + 100).unwrap();
    h.share(huge_shared).unwrap();
    shared.push(huge_shared);
    // Fill the class cache of 100-byte blocks (4 deep) and a few others.
    let cached: Vec<Offset> = (0..6).map(|_| h.alloc(100).unwrap()).collect();
    for off in cached {
        h.free(off).unwrap();
    }
    // Blocks the parent frees into this arena's remote list.
    let for_parent: Vec<Offset> = (0..3).map(|_| h.alloc(200).unwrap()).collect();
    // Blocks of one class: four fill its cache, the fifth (`coalesce`)
    // then coalesces.
    let same: Vec<Offset> = (0..5).map(|_| h.alloc(700).unwrap()).collect();
    for &off in &same[..4] {
        h.free(off).unwrap();
    }
    let big = same[4];
    let live_bytes = h.stats().used;
    let out = format!(
        "shared {}\nshared_bytes {}\nfor_parent {}\nlive_bytes {live_bytes}\n",
        shared
            .iter()
            .map(|o| o.get().to_string())
            .collect::<Vec<_>>()
            .join(" "),
        shared.iter().map(|&o| bytes_of(&h, o)).sum::<u64>(),
        for_parent
            .iter()
            .map(|o| o.get().to_string())
            .collect::<Vec<_>>()
            .join(" "),
    );
    let tmp = format!("{}.out.tmp", path.display());
    fs::write(&tmp, out).unwrap();
    fs::rename(&tmp, format!("{}.out", path.display())).unwrap();
    // Wait for the parent's go (bounded), then die where told.
    let go = format!("{}.go", path.display());
    let t = Instant::now();
    while !Path::new(&go).exists() && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(2));
    }
    match mode {
        "kill" => {
            std::thread::sleep(Duration::from_secs(30));
        }
        name => {
            let point = Point::parse(name).unwrap();
            shm_layout::crash::arm(point.into(), 1);
            match point {
                Point::Carve | Point::Drain => drop(h.alloc(3000)),
                Point::CachePush => drop(h.free(live[1])),
                Point::Coalesce => drop(h.free(big)),
                Point::RemotePush => {
                    drop(h.free(Offset::new(args[2].parse().unwrap())));
                }
            }
        }
    }
    panic!("the child should have died at {mode}");
}

fn spawn(path: &Path, mode: &str, extra: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(ENV, format!("{} {mode} {extra}", path.display()))
        .spawn()
        .unwrap()
}

fn wait_out(path: &Path, child: &mut Child) -> ChildOut {
    let out = format!("{}.out", path.display());
    let t = Instant::now();
    loop {
        if let Ok(s) = fs::read_to_string(&out) {
            return parse(&s);
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("child exited early: {st}");
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "child never reported"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn assert_ok(h: &FreeList<Seg>, when: &str) {
    let r = h.check().unwrap();
    assert!(r.ok(), "{when}: {:?}", r.problems);
}

/// One crash scenario, start to end.
fn scenario(mode: &str) {
    let path = unique_path();
    let _clean = Cleanup(path.clone());
    let seg = create(&path, PROCS);
    let parent = FreeList::attach(seg.clone()).unwrap();
    // The parent's own holdings: a few blocks, one for the child to free.
    let mine: Vec<Offset> = (0..5)
        .map(|i| parent.alloc(64 + i * 300).unwrap())
        .collect();
    let victim = parent.alloc(128).unwrap();
    let victim_bytes = bytes_of(&parent, victim);
    let mut child = spawn(&path, mode, victim.get());
    let out = wait_out(&path, &mut child);
    // Remote frees into the child's arena (the `drain` point takes them in).
    for &o in &out.for_parent {
        parent.free(Offset::new(o)).unwrap();
    }
    fs::write(format!("{}.go", path.display()), b"go").unwrap();
    if mode == "kill" {
        child.kill().unwrap();
    }
    let st = child.wait().unwrap();
    let want = if mode == "kill" { 9 } else { 6 }; // SIGKILL, SIGABRT
    assert_eq!(
        st.signal(),
        Some(want),
        "{mode}: the child must die there, got {st}"
    );

    assert_ok(&parent, &format!("{mode}: before reclaim"));
    let table = ProcTable::of(seg.as_ref()).unwrap();
    assert_eq!(
        table.dead().unwrap().len(),
        1,
        "{mode}: the dead child holds its entry"
    );
    let rep = parent.reclaim_dead().unwrap();
    assert_eq!(rep.processes, 1, "{mode}: {rep:?}");
    assert!(rep.blocks > 0 && rep.bytes > 0, "{mode}: {rep:?}");
    assert_ok(&parent, &format!("{mode}: after reclaim"));
    assert!(
        table.dead().unwrap().is_empty(),
        "{mode}: its entry is freed"
    );

    // Exactly the live processes' holdings and the shared blocks remain.
    // The victim is the parent's, live; or freed by a pusher killed between
    // its tag CAS and its push: the reclaim of the pusher's arena orphans
    // it and the parent's arena takes it in (no leak).
    let victim_live = mode != "remote-push";
    let mine_bytes: u64 = mine.iter().map(|&o| bytes_of(&parent, o)).sum::<u64>()
        + if victim_live { victim_bytes } else { 0 };
    let used = parent.stats().used;
    assert_eq!(
        used,
        mine_bytes + out.shared_bytes,
        "{mode}: used after reclaim"
    );
    assert!(out.live_bytes > out.shared_bytes);
    // Idempotent.
    let again = parent.reclaim_dead().unwrap();
    assert_eq!(
        (again.processes, again.blocks, again.bytes),
        (0, 0, 0),
        "{mode}"
    );

    // Shared blocks are still readable and freeable by anyone.
    for &o in &out.shared {
        parent.free(Offset::new(o)).unwrap();
    }
    for o in mine {
        parent.free(o).unwrap();
    }
    if victim_live {
        parent.free(victim).unwrap();
    } else {
        assert!(matches!(parent.free(victim), Err(Error::DoubleFree { .. })));
    }
    parent.collect().unwrap();
    // The shared blocks went to the reclaimed arena, which nobody holds:
    // their freer took them in.
    assert_eq!(parent.stats().used, 0, "{mode}: nothing lost");
    let all = parent.alloc(parent.max_alloc()).unwrap();
    parent.free(all).unwrap();
    assert_ok(&parent, &format!("{mode}: at the end"));
}

#[test]
fn a_child_killed_by_sigkill_is_reclaimed() {
    scenario("kill");
}

#[test]
fn a_child_dead_mid_carve_is_reclaimed() {
    scenario("carve");
}

#[test]
fn a_child_dead_mid_cache_push_is_reclaimed() {
    scenario("cache-push");
}

#[test]
fn a_child_dead_mid_coalesce_is_reclaimed() {
    scenario("coalesce");
}

#[test]
fn a_child_dead_mid_drain_is_reclaimed() {
    scenario("drain");
}

#[test]
fn a_pusher_dead_before_its_push_loses_nothing() {
    scenario("remote-push");
}

#[test]
fn a_reused_pid_is_a_dead_owner() {
    let path = unique_path();
    let _clean = Cleanup(path.clone());
    let seg = create(&path, PROCS);
    let keeper = FreeList::attach(seg.clone()).unwrap();
    let dead = FreeList::attach(seg.clone()).unwrap();
    let a = dead.alloc(1000).unwrap();
    let b = dead.alloc(3000).unwrap();
    dead.share(b).unwrap();
    let b_bytes = bytes_of(&dead, b);
    let _ = a;
    // Same pid, another start time: the pid was reused.
    let me = ProcId::current();
    dead.simulate_death(ProcId::new(me.pid(), me.start_ticks() + 1));
    drop(dead);
    let rep = keeper.reclaim_dead().unwrap();
    assert_eq!(rep.processes, 1);
    assert_eq!(keeper.stats().used, b_bytes);
    assert_ok(&keeper, "after a reused pid's reclaim");
    // Our own arenas (same pid, our start time) are never taken.
    let x = keeper.alloc(10).unwrap();
    assert_eq!(keeper.reclaim_dead().unwrap().blocks, 0);
    keeper.free(x).unwrap();
    keeper.free(b).unwrap();
}

#[test]
fn a_full_process_table_refuses_attach() {
    let path = unique_path();
    let _clean = Cleanup(path.clone());
    let seg = create(&path, 2);
    let a = FreeList::attach(seg.clone()).unwrap();
    let b = FreeList::attach(seg.clone()).unwrap();
    assert!(matches!(
        FreeList::attach(seg.clone()),
        Err(Error::ProcessTableFull { capacity: 2, .. })
    ));
    drop(b);
    let c = FreeList::attach(seg.clone()).unwrap();
    assert_eq!(
        ProcTable::of(seg.as_ref())
            .unwrap()
            .entries()
            .unwrap()
            .len(),
        2
    );
    drop((a, c));
    assert!(ProcTable::of(seg.as_ref())
        .unwrap()
        .entries()
        .unwrap()
        .is_empty());
}

#[test]
fn share_errors_and_runs() {
    let path = unique_path();
    let _clean = Cleanup(path.clone());
    let seg = create(&path, PROCS);
    let h = FreeList::attach(seg).unwrap();
    let a = h.alloc(100).unwrap();
    let b = h.alloc(5000).unwrap();
    assert!(matches!(
        h.share(Offset::new(a.get() + 8)),
        Err(Error::InvalidOffset { .. })
    ));
    assert!(matches!(
        h.share(Offset::new(1)),
        Err(Error::InvalidOffset { .. })
    ));
    h.share(b).unwrap();
    h.free(a).unwrap(); // cached
    assert!(matches!(h.share(a), Err(Error::InvalidOffset { .. })));
    let runs = h.runs(1000).unwrap();
    let kinds: Vec<_> = runs.iter().map(|r| r.kind.name()).collect();
    assert!(kinds.contains(&"shared") && kinds.contains(&"cached") && kinds.contains(&"free"));
    // Runs tile the pool in order.
    for w in runs.windows(2) {
        assert_eq!(w[0].offset + w[0].len, w[1].offset);
    }
    assert_eq!(h.runs(2).unwrap().len(), 2);
    // A shared block frees normally.
    h.free(b).unwrap();
    assert!(matches!(h.free(b), Err(Error::DoubleFree { .. })));
}
