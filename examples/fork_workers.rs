//! Forked workers sharing one allocator: a parent creates a named free-list
//! segment and forks worker processes. Each opens the segment by name (so
//! it maps it at an address of its own), allocates records of random sizes,
//! stamps every byte, and checks every byte of a record before it frees
//! it. At the end each worker hands its last record to the parent by
//! publishing it under a name. The parent checks and frees those, runs
//! `reclaim_dead` (which takes in frees made into the arenas of processes
//! that are gone), then checks that nothing is left in use and that the
//! allocator's own `check()` passes. No flags needed.
//!
//! ```text
//! cargo run --release --example fork_workers [-- WORKERS RECORDS]
//! ```
//! Defaults: 4 workers, 20,000 records each, of 16 bytes to 4 KiB, at most
//! 64 live per worker. The segment is unlinked at the end, also when a
//! worker fails. `sharena stress` runs the same kind of load for longer,
//! with a side table that catches a block handed out twice, and SIGKILLs
//! workers on request.

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use sharena::{FreeList, Named, Offset, Recover, ShmAllocator};
use std::collections::VecDeque;
use std::time::Instant;

/// Record sizes, in bytes: uniform in `MIN_RECORD..=MAX_RECORD`.
const MIN_RECORD: u64 = 16;
const MAX_RECORD: u64 = 4096;
/// The most records a worker holds at once.
const LIVE: usize = 64;

/// xorshift64: each worker's own stream of sizes.
fn next(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

/// The bytes of record `seq` of process `pid`, `len` long: the pid, the
/// length and the sequence number in the first 16 bytes, then a pattern of
/// all three, so a changed, shifted or foreign byte anywhere shows.
fn stamp(pid: u32, seq: u64, len: u64) -> Vec<u8> {
    let mut rec = vec![0u8; len as usize];
    rec[..4].copy_from_slice(&pid.to_le_bytes());
    rec[4..8].copy_from_slice(&(len as u32).to_le_bytes());
    rec[8..16].copy_from_slice(&seq.to_le_bytes());
    let key = u64::from(pid) ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ len;
    for (i, b) in rec[16..].iter_mut().enumerate() {
        *b = (key.rotate_left(i as u32 % 64) ^ i as u64) as u8;
    }
    rec
}

/// Reads the record at `at` back and compares every byte with its stamp.
fn verify(heap: &FreeList, at: Offset, pid: u32, seq: u64, len: u64) -> sharena::Result<bool> {
    Ok(heap.read(at, len)? == stamp(pid, seq, len))
}

/// The name worker `k` publishes its last record under.
fn handover(k: u64) -> String {
    format!("last-record-{k}")
}

/// One worker: `records` allocations, each stamped, checked and freed,
/// the last one published for the parent.
fn worker(name: &str, k: u64, records: u64) -> Result<(), Box<dyn std::error::Error>> {
    let heap = FreeList::open(name)?;
    let pid = std::process::id();
    let mut rng = 42 + k;
    let mut live: VecDeque<(Offset, u64, u64)> = VecDeque::with_capacity(LIVE + 1);
    let check_and_free = |(at, seq, len): (Offset, u64, u64)| -> sharena::Result<bool> {
        let ok = verify(&heap, at, pid, seq, len)?;
        heap.free(at)?;
        Ok(ok)
    };
    for seq in 0..records {
        let len = MIN_RECORD + next(&mut rng) % (MAX_RECORD - MIN_RECORD + 1);
        let at = heap.alloc(len)?;
        heap.write(at, &stamp(pid, seq, len))?;
        live.push_back((at, seq, len));
        if live.len() > LIVE {
            if let Some(old) = live.pop_front() {
                if !check_and_free(old)? {
                    return Err(format!("record {} changed while it was live", old.1).into());
                }
            }
        }
    }
    let last = live.pop_back();
    while let Some(rec) = live.pop_front() {
        if !check_and_free(rec)? {
            return Err(format!("record {} changed while it was live", rec.1).into());
        }
    }
    // Publishing shares the block: it is the parent's to free now.
    if let Some((at, _, _)) = last {
        heap.publish(handover(k), at)?;
    }
    Ok(())
}

/// Forks WORKERS (default 4) processes that churn RECORDS (default
/// 20,000) records each through one free list, then checks the segment.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let workers: u64 = args.next().map_or(Ok(4), |a| a.parse())?;
    let records: u64 = args.next().map_or(Ok(20_000), |a| a.parse())?;
    let name = format!("/sharena-example-{}", std::process::id());
    let heap = FreeList::create(&name, 16 << 20)?;
    struct Unlink<'a>(&'a str);
    impl Drop for Unlink<'_> {
        fn drop(&mut self) {
            let _ = sharena::Segment::unlink(self.0);
        }
    }
    let _unlink = Unlink(&name);
    let used_before = heap.stats().used;
    println!(
        "free list {name}: {} bytes of pool; forking {workers} workers x {records} records",
        heap.capacity()
    );

    let start = Instant::now();
    let mut pids = Vec::new();
    for k in 0..workers {
        // SAFETY: `main` is single-threaded, so the child may run any code.
        match unsafe { fork() }? {
            ForkResult::Child => {
                // The child leaves the inherited `heap` alone: it opens its
                // own handle by name, which is dropped (its arenas given
                // back) before the exit.
                let code = match worker(&name, k, records) {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("worker {k} ({}): {e}", std::process::id());
                        1
                    }
                };
                std::process::exit(code);
            }
            ForkResult::Parent { child } => pids.push(child),
        }
    }
    let mut failed = 0;
    for pid in &pids {
        if !matches!(waitpid(*pid, None)?, WaitStatus::Exited(_, 0)) {
            failed += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();

    // Take over each worker's last record: check its header names that
    // worker, check every byte, free it.
    let mut handed = 0;
    let mut wrong = 0;
    for (k, pid) in pids.iter().enumerate() {
        let Some(at) = heap.lookup(handover(k as u64))? else {
            continue;
        };
        heap.unpublish(handover(k as u64))?;
        let head = heap.read(at, 16)?;
        let owner = u32::from_le_bytes(head[..4].try_into()?);
        let len = u64::from(u32::from_le_bytes(head[4..8].try_into()?));
        let seq = u64::from_le_bytes(head[8..16].try_into()?);
        let mine = i64::from(owner) == i64::from(pid.as_raw());
        if !mine || seq + 1 != records || !verify(&heap, at, owner, seq, len)? {
            wrong += 1;
        }
        heap.free(at)?;
        handed += 1;
    }
    // The handed-over records lie in the workers' arenas, which nobody owns
    // now that the workers are gone: the frees above wait on those arenas'
    // remote lists, still counted as used, until someone takes them in.
    // `reclaim_dead` does, and frees whatever a dead process still held
    // (nothing here: every worker freed its records before it exited).
    let reclaimed = heap.reclaim_dead()?;
    let used_after = heap.stats().used;
    let report = heap.check()?;
    println!(
        "{} records allocated, stamped, verified and freed by {workers} processes in \
         {secs:.3} s ({:.0} records/s); {handed} handed to the parent ({wrong} wrong); \
         failed workers: {failed}; reclaimed from dead workers: {} blocks; \
         bytes in use before {used_before}, after {used_after}; check: {}",
        workers * records,
        (workers * records) as f64 / secs,
        reclaimed.blocks,
        if report.ok() { "ok" } else { "FAILED" }
    );
    let expect_handed = if records > 0 { workers } else { 0 };
    if failed > 0
        || wrong > 0
        || handed != expect_handed
        || reclaimed.blocks != 0
        || used_after != used_before
        || !report.ok()
    {
        return Err("verification failed".into());
    }
    println!("ok: every byte verified, nothing left in use, segment unlinked");
    Ok(())
}
