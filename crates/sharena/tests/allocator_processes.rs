//! Issues 3 and 4: 4 processes x 1,000,000 operations on one named slab
//! segment, one named bump arena and one named free list (random sizes),
//! every block stamped and verified: zero duplicates, zero corruptions,
//! nothing lost. (The anonymous-for-fork variants are in `fork.rs`.)

mod common;

use common::{recv, role, send, spawn_child, ChildGuard, ShmGuard};
use sharena::{Bump, FreeList, ShmAllocator, Slab};
use sharena_testkit::churn::{churn, churn_sized, fill_then_verify};
use sharena_testkit::Tally;
use std::io::BufReader;

const OPS: u64 = 1_000_000;
/// Free-list block sizes are uniform in `[1, MAX_SIZE]`.
const MAX_SIZE: u64 = 4096;

#[test]
fn child_entry() {
    let Some(role) = role() else { return };
    let name = std::env::var("SHARENA_NAME").unwrap();
    let worker: u64 = std::env::var("SHARENA_WORKER").unwrap().parse().unwrap();
    let t = match role.as_str() {
        "slab_worker" => churn(&*Slab::open(&name).unwrap(), worker, OPS),
        "bump_worker" => fill_then_verify(&*Bump::open(&name).unwrap(), worker, OPS),
        "freelist_worker" => churn_sized(&*FreeList::open(&name).unwrap(), worker, OPS, MAX_SIZE),
        other => panic!("unknown role {other}"),
    };
    send(&t.encode());
}

/// Starts 4 workers of `role` on `name` and adds up what they report.
fn four_workers(role: &str, name: &str) -> Tally {
    let mut children: Vec<ChildGuard> = (0..4)
        .map(|w| {
            spawn_child(
                "child_entry",
                role,
                &[("SHARENA_NAME", name), ("SHARENA_WORKER", &w.to_string())],
            )
        })
        .collect();
    let mut total = Tally::default();
    for c in &mut children {
        let mut out = BufReader::new(c.0.stdout.take().unwrap());
        let line = recv(&mut out);
        assert!(!line.is_empty(), "a worker died");
        total.add(&Tally::decode(&line).expect("a tally line"));
        assert!(c.0.wait().unwrap().success());
    }
    assert_eq!(total.ops, 4 * OPS);
    assert_eq!(total.duplicates, 0, "{total:?}");
    assert_eq!(total.corruptions, 0, "{total:?}");
    assert_eq!(total.oom, 0, "{total:?}");
    total
}

#[test]
fn four_processes_share_a_named_bump_arena() {
    let g = ShmGuard::new("bump4");
    let arena = Bump::create(g.name(), 200 << 20).unwrap();
    let total = four_workers("bump_worker", g.name());
    assert_eq!(total.verified, 4 * OPS * 32);
    assert_eq!(arena.stats().allocations, 4 * OPS);
}

#[test]
fn four_processes_share_a_named_slab() {
    let g = ShmGuard::new("slab4");
    let slab = Slab::create(g.name(), 8 << 20, 64).unwrap();
    let total = four_workers("slab_worker", g.name());
    assert!(total.verified >= 4 * OPS * 64 / 2, "{total:?}");
    // Every worker freed what it held and dropped its cache.
    assert_eq!(slab.stats().allocations, 0);
}

#[test]
fn four_processes_share_a_named_free_list() {
    let g = ShmGuard::new("freelist4");
    let heap = FreeList::create(g.name(), 64 << 20).unwrap();
    let total = four_workers("freelist_worker", g.name());
    assert!(total.verified > 4 * OPS * MAX_SIZE / 3, "{total:?}");
    // Every worker freed what it held: nothing lost, and it all coalesces.
    let s = heap.stats();
    assert_eq!((s.used, s.allocations), (0, 0), "{s:?}");
    let all = heap.alloc(heap.max_alloc()).unwrap();
    heap.free(all).unwrap();
}
