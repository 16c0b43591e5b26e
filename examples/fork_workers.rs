//! The README's main job: a parent creates a named segment, forks worker
//! processes that each open it by name (mapping it at their own address),
//! and every byte they write is verified by the parent. No flags needed.
//!
//! ```text
//! cargo run --release --example fork_workers [-- WORKERS RECORDS]
//! ```
//! Defaults: 4 workers, 20,000 records of 64 bytes each. The segment is
//! unlinked at the end, also when a worker fails.
//!
//! This example shows the bare mechanism on a raw segment: each worker
//! claims records from a shared cursor with one `fetch_add` (a bump
//! allocation by hand) and stamps them with its pid and a sequence number.
//! `sharena stress` does the same with the allocators, freeing as well.

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use sharena::layout::sync::Ordering;
use sharena::{AllocatorKind, Offset, OpenOptions, RegionId, Segment, SegmentOptions};
use std::time::Instant;

const RECORD: u64 = 64;

fn stamp(pid: u32, seq: u64) -> [u8; 64] {
    let mut rec = [0u8; 64];
    rec[..4].copy_from_slice(&pid.to_le_bytes());
    rec[8..16].copy_from_slice(&seq.to_le_bytes());
    for (i, b) in rec[16..].iter_mut().enumerate() {
        *b = (u64::from(pid) ^ seq.wrapping_mul(31) ^ i as u64) as u8;
    }
    rec
}

fn worker(name: &str, records: u64) -> sharena::Result<()> {
    let seg = Segment::open(name, &OpenOptions::new().kind(AllocatorKind::Raw))?;
    let pool = seg.view().region(RegionId::Pool);
    let cursor = seg.view().atomic_u64(Offset::new(pool.offset))?;
    let pid = std::process::id();
    for seq in 0..records {
        // Relaxed: the cursor only hands out disjoint indices; the parent
        // reads the records after waitpid, which orders everything.
        let index = cursor.fetch_add(1, Ordering::Relaxed);
        let at = Offset::new(pool.offset + RECORD * (index + 1));
        seg.view().write_bytes(at, &stamp(pid, seq))?;
    }
    Ok(())
}

/// Forks WORKERS (default 4) processes that write RECORDS (default 20,000)
/// stamped records each, then verifies every byte.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let workers: u64 = args.next().map_or(Ok(4), |a| a.parse())?;
    let records: u64 = args.next().map_or(Ok(20_000), |a| a.parse())?;
    let name = format!("/sharena-example-{}", std::process::id());
    let size = 4096 * 16 + RECORD * (workers * records + 1);
    let seg = Segment::create(&name, &SegmentOptions::new(AllocatorKind::Raw, size))?;
    struct Unlink<'a>(&'a str);
    impl Drop for Unlink<'_> {
        fn drop(&mut self) {
            let _ = Segment::unlink(self.0);
        }
    }
    let _unlink = Unlink(&name);
    println!("segment {name}: {size} bytes; forking {workers} workers x {records} records");

    let start = Instant::now();
    let mut pids = Vec::new();
    for _ in 0..workers {
        // SAFETY: `main` is single-threaded, so the child may run any code.
        match unsafe { fork() }? {
            ForkResult::Child => {
                let code = match worker(&name, records) {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("worker {}: {e}", std::process::id());
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

    // Verify every record: each (pid, seq) exactly once, every byte right.
    let pool = seg.view().region(RegionId::Pool);
    let total = seg
        .view()
        .atomic_u64(Offset::new(pool.offset))?
        .load(Ordering::Relaxed);
    let mut seen = std::collections::HashSet::new();
    let mut corrupt = 0;
    for index in 0..total {
        let mut rec = [0u8; 64];
        seg.view()
            .read_bytes(Offset::new(pool.offset + RECORD * (index + 1)), &mut rec)?;
        let pid = u32::from_le_bytes(rec[..4].try_into()?);
        let seq = u64::from_le_bytes(rec[8..16].try_into()?);
        if rec != stamp(pid, seq) || !seen.insert((pid, seq)) {
            corrupt += 1;
        }
    }
    println!(
        "{total} records written by {workers} processes in {secs:.3} s ({:.0} records/s); verified {} bytes; corrupt or duplicate: {corrupt}; failed workers: {failed}",
        total as f64 / secs,
        total * RECORD
    );
    if corrupt > 0 || failed > 0 || total != workers * records {
        return Err("verification failed".into());
    }
    println!("ok: every byte verified, segment unlinked");
    Ok(())
}
