//! A small bump pool is shared fairly, by real processes: on a 64 KiB pool
//! four forked children each allocate one 8-byte block in turn (the first
//! child's chunk must not have taken the pool), then all allocate 8-byte
//! blocks at once until `OutOfMemory`. Each allocation that fails must be
//! one for which no byte is left: fewer than one block and its header
//! (16 bytes) in the pool and in the failing child's own chunk. At the end
//! the blocks (fillers included) hold all but those last bytes.
//!
//! `harness = false`: `main` is single-threaded, so `fork` is safe here.

mod common;

use sharena::{Bump, Error, Recover, ShmAllocator};
use sharena_testkit::harness::{fork_child, wait, Exit};
use std::fs::File;
use std::io::{Read, Write};

/// Children.
const PROCS: usize = 4;
/// Bytes of every block, and what one costs with its header.
const BLOCK: u64 = 8;
const COST: u64 = 16;

/// A child: one block, tell the parent, wait for "go", then blocks until
/// the pool is full; reports "first count available".
fn child(name: &str, mut to_parent: File, mut from_parent: File) -> i32 {
    let Ok(h) = Bump::open(name) else { return 2 };
    let first = h.alloc(BLOCK).is_ok();
    if to_parent.write_all(&[u8::from(first)]).is_err() {
        return 3;
    }
    let mut go = [0u8; 1];
    if from_parent.read_exact(&mut go).is_err() {
        return 4;
    }
    let mut count = u64::from(first);
    // Bounded: the pool holds at most 64 KiB / 16 blocks.
    let available = loop {
        match h.alloc(BLOCK) {
            Ok(_) => count += 1,
            Err(Error::OutOfMemory { available, .. }) => break available,
            Err(_) => return 5,
        }
        if count > 1 << 20 {
            return 6;
        }
    };
    let line = format!("{} {count} {available}\n", u8::from(first));
    if to_parent.write_all(line.as_bytes()).is_err() {
        return 7;
    }
    drop(h);
    0
}

fn pipe() -> (File, File) {
    let (r, w) = nix::unistd::pipe().expect("pipe");
    (File::from(r), File::from(w))
}

fn main() {
    let guard = common::ShmGuard::new("bump-fair");
    // 100 KiB of segment: the header, process table, directory and state
    // take the first 36 KiB, the pool the rest.
    let opts = Bump::options(100 << 10).expect("options");
    let arena = Bump::create_with_options(guard.name(), &opts).expect("create");
    let capacity = arena.stats().capacity;
    assert!(
        (56 << 10..=72 << 10).contains(&capacity),
        "a pool of about 64 KiB: {capacity}"
    );
    assert!(
        arena.chunk_size() <= capacity / 32,
        "a chunk is a small share of the pool: {} of {capacity}",
        arena.chunk_size()
    );
    let name = guard.name().to_string();
    let mut kids = Vec::new();
    for k in 0..PROCS {
        let (from_child, to_parent) = pipe();
        let (from_parent, to_child) = pipe();
        let mut to_parent = Some(to_parent);
        let mut from_parent = Some(from_parent);
        let (tp, fp) = (&mut to_parent, &mut from_parent);
        // SAFETY: this test's `main` is single-threaded (harness = false).
        let pid = unsafe {
            fork_child(|| match (tp.take(), fp.take()) {
                (Some(t), Some(f)) => child(&name, t, f),
                _ => 1,
            })
        }
        .expect("fork");
        drop(to_parent);
        drop(from_parent);
        let mut from_child = from_child;
        let mut first = [0u8; 1];
        from_child
            .read_exact(&mut first)
            .expect("the child's first block");
        assert_eq!(first[0], 1, "child {k} got no block: the pool was taken");
        kids.push((pid, from_child, to_child));
    }
    for (_, _, to_child) in &mut kids {
        to_child.write_all(b"g").expect("go");
    }
    let mut total = 0;
    for (k, (pid, mut from_child, _)) in kids.into_iter().enumerate() {
        let mut line = String::new();
        from_child.read_to_string(&mut line).expect("result");
        assert_eq!(wait(pid), Exit::Exited(0), "child {k}");
        let v: Vec<u64> = line
            .split_whitespace()
            .map(|w| w.parse().expect("number"))
            .collect();
        let [_, count, available] = v[..] else {
            panic!("child {k} reported {line:?}")
        };
        assert!(count > 1, "child {k} got only {count} blocks");
        assert!(
            available < COST,
            "child {k} failed with {available} bytes left, enough for a block"
        );
        total += count;
    }
    // Every byte but the last few is in a block; `Drop` turned each
    // child's unused chunk bytes (under 16) into fillers.
    let report = arena.check().expect("check");
    assert!(report.ok(), "{:?}", report.problems);
    let stats = arena.stats();
    assert_eq!(stats.used, report.used_bytes, "no tail left");
    assert!(
        stats.available < COST,
        "{} bytes left in the pool",
        stats.available
    );
    assert!(
        total * COST + (PROCS as u64 + 1) * COST >= capacity,
        "{total} blocks of {COST} bytes in a pool of {capacity}"
    );
    println!(
        "bump fair: {PROCS} processes, {total} blocks, a chunk of {} bytes",
        arena.chunk_size()
    );
}
