//! Issue 4: 4 processes x 1,000,000 operations with random sizes on one
//! named free list segment, every block stamped and verified whole: zero
//! duplicates, zero corruptions, nothing lost. (The anonymous-for-fork
//! variant is in `fork.rs`.)

mod common;

use common::stamp::{churn_sized, Tally};
use common::{recv, role, send, spawn_child, ChildGuard, ShmGuard};
use sharena::{FreeList, ShmAllocator};
use std::io::BufReader;

const OPS: u64 = 1_000_000;
/// Sizes are uniform in `[1, MAX_SIZE]`.
const MAX_SIZE: u64 = 4096;

#[test]
fn child_entry() {
    let Some(role) = role() else { return };
    let name = std::env::var("SHARENA_NAME").unwrap();
    let worker: u64 = std::env::var("SHARENA_WORKER").unwrap().parse().unwrap();
    let t = match role.as_str() {
        "freelist_worker" => churn_sized(&*FreeList::open(&name).unwrap(), worker, OPS, MAX_SIZE),
        other => panic!("unknown role {other}"),
    };
    send(&t.encode());
}

#[test]
fn four_processes_share_a_named_free_list() {
    let g = ShmGuard::new("freelist4");
    let heap = FreeList::create(g.name(), 64 << 20).unwrap();
    let mut children: Vec<ChildGuard> = (0..4)
        .map(|w| {
            ChildGuard(spawn_child(
                "child_entry",
                "freelist_worker",
                &[
                    ("SHARENA_NAME", g.name()),
                    ("SHARENA_WORKER", &w.to_string()),
                ],
            ))
        })
        .collect();
    let mut total = Tally::default();
    for c in &mut children {
        let mut out = BufReader::new(c.0.stdout.take().unwrap());
        let line = recv(&mut out);
        assert!(!line.is_empty(), "a worker died");
        total.add(&Tally::decode(&line));
        assert!(c.0.wait().unwrap().success());
    }
    assert_eq!(total.ops, 4 * OPS);
    assert_eq!(total.duplicates, 0, "{total:?}");
    assert_eq!(total.corruptions, 0, "{total:?}");
    assert_eq!(total.oom, 0, "{total:?}");
    assert!(total.verified > 4 * OPS * MAX_SIZE / 3, "{total:?}");
    // Every worker freed what it held: nothing lost, and it all coalesces.
    let s = heap.stats();
    assert_eq!((s.used, s.allocations), (0, 0), "{s:?}");
    let all = heap.alloc(heap.max_alloc()).unwrap();
    heap.free(all).unwrap();
}
