//! The process table: attach, detach, a full table, dead and reused pids.

use shm_layout::{
    AllocatorKind, Error, LayoutSpec, OwnerId, ProcId, ProcTable, SegmentView, DIRECTORY_ENTRY_LEN,
    PARAM_DIRECTORY_SLOTS, PARAM_MAX_PROCESSES, PROCESS_ENTRY_LEN,
};
use std::ptr::NonNull;

const LEN: usize = 8 * 4096;

#[repr(C, align(4096))]
struct Page([u8; 4096]);

/// A segment over heap memory with a table of `cap` entries.
fn segment(cap: u64) -> (Vec<Page>, SegmentView) {
    let mut mem: Vec<Page> = (0..LEN / 4096).map(|_| Page([0; 4096])).collect();
    let base = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap();
    let mut params = [0; 8];
    params[PARAM_MAX_PROCESSES] = cap;
    params[PARAM_DIRECTORY_SLOTS] = 2;
    let spec = LayoutSpec {
        kind: AllocatorKind::Raw,
        total_len: LEN as u64,
        metadata_len: cap * PROCESS_ENTRY_LEN + 2 * DIRECTORY_ENTRY_LEN,
        state_len: 64,
        params,
    };
    // SAFETY: `mem` is 4096-aligned, LEN bytes; the Vec's heap buffer does
    // not move when the Vec is returned, and the caller keeps it alive as
    // long as the view.
    let view =
        unsafe { SegmentView::initialize("/ptable", base, LEN as u64, &spec, true, |_| Ok(())) }
            .unwrap();
    (mem, view)
}

/// The identity of a process that ran and was reaped.
fn dead_proc() -> OwnerId {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    let start = ProcId::of_pid(pid).map_or(1, ProcId::start_ticks);
    child.wait().unwrap();
    OwnerId::new(pid, 0, start).unwrap()
}

#[test]
fn attach_detach_and_a_full_table() {
    let (_mem, view) = segment(3);
    let t = ProcTable::of(&view).unwrap();
    assert_eq!(t.capacity(), 3);
    let me = OwnerId::attach();
    let regs: Vec<_> = (0..3).map(|_| t.register(me).unwrap().unwrap()).collect();
    let slots: Vec<u32> = regs.iter().map(|r| r.slot).collect();
    assert_eq!(slots, [0, 1, 2]);
    match t.register(me) {
        Err(e @ Error::ProcessTableFull { capacity: 3, .. }) => {
            assert!(e.to_string().contains("reclaim"), "{e}");
        }
        other => panic!("a full table must be an error, got {other:?}"),
    }
    let entries = t.entries().unwrap();
    assert_eq!(entries.len(), 3);
    assert!(entries
        .iter()
        .all(|e| e.alive && e.id == me && e.attached_unix_ns > 0));
    t.unregister(regs[1]);
    assert_eq!(t.entries().unwrap().len(), 2);
    assert_eq!(t.register(me).unwrap().unwrap().slot, 1);
    assert!(t.dead().unwrap().is_empty());
}

#[test]
fn no_table_means_no_registration() {
    let (_mem, view) = segment(0);
    let t = ProcTable::of(&view).unwrap();
    assert_eq!(t.register(OwnerId::attach()).unwrap(), None);
    assert!(t.entries().unwrap().is_empty());
}

#[test]
fn dead_and_reused_pids_are_found_and_released_once() {
    let (_mem, view) = segment(4);
    let t = ProcTable::of(&view).unwrap();
    let me = OwnerId::attach();
    let dead = dead_proc();
    // The same pid as ours with another start time: a reused pid.
    let reused = OwnerId::new(me.pid(), 3, me.start_ticks() + 7).unwrap();
    let live = t.register(me).unwrap().unwrap();
    t.register(dead).unwrap().unwrap();
    t.register(dead).unwrap().unwrap();
    t.register(reused).unwrap().unwrap();
    let mut found = t.dead().unwrap();
    found.sort_by_key(|p| p.raw());
    let mut want = vec![dead, reused];
    want.sort_by_key(|p| p.raw());
    assert_eq!(found, want);
    assert_eq!(t.release_all(dead).unwrap(), 2);
    assert_eq!(t.release_all(dead).unwrap(), 0, "idempotent");
    assert_eq!(t.release_all(reused).unwrap(), 1);
    let left = t.entries().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!((left[0].slot, left[0].id), (live.slot, me));
    // A stale unregister (the entry was reclaimed and reused) is a no-op.
    t.unregister(shm_layout::Registration { slot: 1, id: dead });
    assert_eq!(t.entries().unwrap().len(), 1);
}

#[test]
fn a_table_too_big_for_its_region_is_refused() {
    let (mut mem, _) = segment(2);
    // Claim 1000 entries in params[6] while the region holds 2 (and re-seal
    // the checksum so that open gets as far as the table check).
    let bytes =
        // SAFETY: `Page` is a plain byte array; the Vec holds LEN bytes.
        unsafe { std::slice::from_raw_parts_mut(mem.as_mut_ptr().cast::<u8>(), LEN) };
    let mut h: shm_layout::Header = bytemuck::pod_read_unaligned(&bytes[..256]);
    h.params[PARAM_MAX_PROCESSES] = 1000;
    h.seal();
    bytes[..256].copy_from_slice(bytemuck::bytes_of(&h));
    let base = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap();
    // SAFETY: as in `segment`.
    let view = unsafe {
        SegmentView::open(
            "/ptable",
            base,
            LEN as u64,
            None,
            shm_layout::WaitPolicy::default(),
            |_| true,
        )
    }
    .unwrap();
    assert!(matches!(
        ProcTable::of(&view),
        Err(Error::BadField {
            field: "params[6]",
            ..
        })
    ));
}

#[test]
fn a_full_table_adopts_a_dead_entry_and_fails_only_when_all_live() {
    let (_mem, view) = segment(2);
    let t = ProcTable::of(&view).unwrap();
    let me = OwnerId::attach();
    let dead = dead_proc();
    t.register(me).unwrap().unwrap();
    let theirs = t.register(dead).unwrap().unwrap();
    // Full, one holder dead: the attach takes the dead one's entry.
    let adopted = t.register(me).unwrap().unwrap();
    assert_eq!(adopted.slot, theirs.slot);
    assert!(t.entries().unwrap().iter().all(|e| e.alive && e.id == me));
    assert!(t.dead().unwrap().is_empty());
    // Full, every holder alive: the documented error.
    assert!(matches!(
        t.register(me),
        Err(Error::ProcessTableFull { capacity: 2, .. })
    ));
}
