//! Issue 7 across processes: a block pinned by another process is not
//! moved by compaction; the unshared handles of a process that died are
//! reclaimed and its published one is kept.

mod common;

use common::{recv, role, send, spawn_child, ShmGuard};
use sharena::{Handle, Handles, Recover};
use std::io::{BufRead, BufReader, Write};

#[test]
fn child_entry() {
    let Some(role) = role() else { return };
    let name = std::env::var("SHARENA_NAME").unwrap();
    let heap = Handles::open(&name).unwrap();
    match role.as_str() {
        "pinner" => {
            let h = Handle::from_raw(std::env::var("SHARENA_HANDLE").unwrap().parse().unwrap());
            let pin = heap.pin(h).unwrap();
            send(&pin.offset().get().to_string());
            // Hold the pin until the parent says so.
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).unwrap();
            let mut bytes = [0u8; 8];
            pin.read_at(0, &mut bytes).unwrap();
            send(&format!(
                "{} {}",
                pin.offset().get(),
                String::from_utf8_lossy(&bytes)
            ));
        }
        "leaker" => {
            for i in 0..10u8 {
                let h = heap.alloc(100).unwrap();
                heap.write(h, &[i; 100]).unwrap();
            }
            let kept = heap.alloc(64).unwrap();
            heap.write(kept, b"published").unwrap();
            heap.publish_handle("kept", kept).unwrap();
            send("done");
            // Die without freeing anything or detaching.
            std::process::exit(0);
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn a_block_pinned_by_another_process_is_not_moved() {
    let g = ShmGuard::new("hpin");
    let heap = Handles::create(g.name(), 1 << 20).unwrap();
    let a = heap.alloc(4096).unwrap();
    let b = heap.alloc(64).unwrap();
    heap.write(b, b"pinned!!").unwrap();
    heap.free(a).unwrap();
    let mut child = spawn_child(
        "child_entry",
        "pinner",
        &[
            ("SHARENA_NAME", g.name()),
            ("SHARENA_HANDLE", &b.raw().to_string()),
        ],
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let at: u64 = recv(&mut out).parse().unwrap();
    let r = heap.compact().unwrap();
    assert_eq!((r.blocks_moved, r.pinned), (0, 1), "{r:?}");
    writeln!(child.0.stdin.take().unwrap(), "go").unwrap();
    assert_eq!(recv(&mut out), format!("{at} pinned!!"));
    assert!(child.0.wait().unwrap().success());
    // Unpinned now: it moves into the hole and keeps its bytes.
    let r = heap.compact().unwrap();
    assert_eq!(r.blocks_moved, 1, "{r:?}");
    assert!(heap.pin(b).unwrap().offset().get() < at);
    assert_eq!(heap.read(b, 8).unwrap(), b"pinned!!");
    assert!(heap.check().unwrap().ok());
}

#[test]
fn a_dead_processes_handles_are_reclaimed_but_not_its_published_one() {
    let g = ShmGuard::new("hreclaim");
    let heap = Handles::create(g.name(), 1 << 20).unwrap();
    let mine = heap.alloc(10).unwrap();
    let mut child = spawn_child("child_entry", "leaker", &[("SHARENA_NAME", g.name())]);
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    assert_eq!(recv(&mut out), "done");
    assert!(child.0.wait().unwrap().success());
    assert_eq!(heap.stats().allocations, 12);
    let r = heap.reclaim_dead().unwrap();
    assert_eq!((r.processes, r.blocks, r.bytes), (1, 10, 10 * 104), "{r:?}");
    assert_eq!(heap.stats().allocations, 2);
    let kept = heap.lookup_handle("kept").unwrap().unwrap();
    assert_eq!(heap.read(kept, 9).unwrap(), b"published");
    assert_eq!(heap.reclaim_dead().unwrap().blocks, 0);
    heap.free(mine).unwrap();
    assert!(heap.check().unwrap().ok());
}
