//! Recovery on a bump segment: `check` walks the blocks, `runs` splits the
//! pool at the cursor, `share` accepts live blocks only, `reclaim_dead`
//! frees the process-table entries of dead processes and frees no block,
//! and hostile words in a dead attachment's reservation record panic
//! nothing.

mod common;

use sharena_bump::Bump;
use shm_layout::{AllocatorKind, ProcTable, Recover, RunKind, ShmAllocator};
use std::process::{Command, Stdio};

#[test]
fn check_runs_and_share_on_a_live_arena() {
    let arena = common::arena(1 << 20, 4096);
    let empty = arena.check().unwrap();
    assert!(empty.ok() && empty.blocks == 0);
    let blocks: Vec<_> = (1..200u64)
        .map(|i| arena.alloc_aligned(i * 3, 1 << (i % 7)).unwrap())
        .collect();
    let r = arena.check().unwrap();
    assert!(r.ok(), "{:?}", r.problems);
    assert_eq!(r.blocks, 199);
    for &b in &blocks {
        arena.share(b).unwrap();
    }
    assert!(arena
        .share(shm_layout::Offset::new(blocks[0].get() + 8))
        .is_err());
    let runs = arena.runs(10).unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!((runs[0].kind, runs[1].kind), (RunKind::Used, RunKind::Free));
    assert_eq!(runs[0].len + runs[1].len, 1 << 20);
    assert_eq!(arena.runs(1).unwrap().len(), 1);
    arena.reset().unwrap();
    let r = arena.check().unwrap();
    assert!(r.ok() && r.blocks == 0, "{r:?}");
    assert_eq!(arena.reclaim_dead().unwrap().blocks, 0);
}

/// A segment with a process table: a dead process's entry (a real child's
/// identity, registered as its attach would, then the child exits) is
/// freed by the parent's reclaim, once; a full table refuses an attach.
#[test]
fn reclaim_frees_a_dead_attachments_table_entry() {
    let mut params = [0u64; 8];
    params[6] = 4;
    let seg = common::HeapSegment::with_metadata(
        AllocatorKind::Bump,
        1 << 16,
        Bump::<common::HeapSegment>::state_len(),
        params,
        4 * 64,
    )
    .unwrap();
    let arena = Bump::attach(seg).unwrap();
    let table = ProcTable::of(arena.view()).unwrap();
    assert_eq!(table.entries().unwrap().len(), 1);
    // A dead process's entry, as an attach in a process that then died
    // leaves it: register a real child's identity and let it exit.
    let mut child = Command::new("true").stdout(Stdio::null()).spawn().unwrap();
    let id = shm_layout::ProcId::of_pid(child.id());
    child.wait().unwrap();
    let Some(id) = id.map(shm_layout::OwnerId::from) else {
        return;
    }; // exited before we saw it
    table.register(id).unwrap();
    assert_eq!(table.dead().unwrap(), vec![id]);
    let r = arena.reclaim_dead().unwrap();
    assert_eq!((r.processes, r.blocks, r.bytes), (1, 0, 0));
    assert_eq!(arena.reclaim_dead().unwrap().processes, 0);
    assert_eq!(table.entries().unwrap().len(), 1);
    // A full table refuses the attach.
    for _ in 0..3 {
        table.register(shm_layout::OwnerId::attach()).unwrap();
    }
    // SAFETY: `seg2` is dropped (by the failed attach) before `arena`.
    let seg2 = unsafe { arena.segment().open_again() };
    assert!(matches!(
        Bump::attach(seg2),
        Err(shm_layout::Error::ProcessTableFull { .. })
    ));
    drop(arena);
}

/// Hostile words in a dead attachment's reservation record (each word of
/// record 0 but its owner, set to each hostile value): `reclaim_dead`,
/// `check`, allocation, reset and drop never panic (the test profile
/// checks overflow), whatever they answer.
#[test]
fn hostile_record_words_never_panic() {
    use shm_layout::{OwnerId, RegionId};
    let hostile = [
        u64::MAX,
        0,
        1,
        1 << 63,
        u64::from(u32::MAX),
        7,
        0x1_0000_0008,
        (1 << 44) - 1,
        (1 << 52) - 8,
    ];
    // A pid no process has (Linux caps pids below 2^22).
    let dead = OwnerId::new(4_000_000, 0, 1).unwrap();
    for word in 1..7usize {
        for &v in &hostile {
            let mut seg = common::HeapSegment::new(1 << 16, 0).unwrap();
            let rec = seg.as_ref().region(RegionId::State).offset + 0x280;
            let p = seg.byte_ptr(rec).cast::<u64>();
            let a = Bump::attach(seg).unwrap();
            a.alloc(24).unwrap();
            // SAFETY: `p` points at record 0 inside the buffer `a` owns,
            // alive and 8-aligned; words 0..8 are the record's.
            unsafe {
                p.write_volatile(dead.raw());
                p.add(word).write_volatile(v);
            }
            let _ = a.reclaim_dead();
            let _ = a.check();
            let _ = a.alloc(16);
            let _ = a.runs(8);
            let _ = a.reset();
            let _ = a.alloc(1 << 14);
            drop(a);
        }
    }
}
