//! A pipeline between processes with nothing copied: a producer process
//! allocates 64-byte records in a shared free list, stamps them, shares
//! them and pushes their offsets on a `sharena::Queue`; three consumer
//! processes pop the offsets, verify each record in place and free it.
//! Each consumer adds what it verified to a typed counter; the parent
//! checks that every record arrived once and that the pool is empty again,
//! then unlinks the segment, so nothing is left in /dev/shm.
//!
//! ```text
//! cargo run --release --example pipeline [RECORDS]    # default 200000
//! ```

use bytemuck::{Pod, Zeroable};
use sharena::layout::sync::Ordering;
use sharena::{field, FreeList, Named, Objects, Offset, Queue, Recover, Segment, ShmAllocator};
use std::process::Command;
use std::time::{Duration, Instant};

/// Set in a child's environment: "producer NAME RECORDS" or "consumer NAME".
const ROLE: &str = "SHARENA_PIPELINE_ROLE";
const CONSUMERS: usize = 3;
const RECORD: usize = 64;
/// No record has this number: one per consumer ends the stream.
const END: u64 = u64::MAX;
const PATIENCE: Duration = Duration::from_secs(30);

/// What the consumers tally together.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
struct Tally {
    verified: u64,
    /// The sum of the record numbers seen (0 + 1 + ... + N-1 if all came).
    sum: u64,
    bad: u64,
}

/// Record `n`: its number, then 7 words derived from it.
fn stamp(n: u64) -> [u8; RECORD] {
    let mut out = [0u8; RECORD];
    for (i, w) in out.chunks_exact_mut(8).enumerate() {
        let v = if i == 0 {
            n
        } else {
            n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i as u64
        };
        w.copy_from_slice(&v.to_le_bytes());
    }
    out
}

fn producer(name: &str, records: u64) -> Result<(), Box<dyn std::error::Error>> {
    let heap = FreeList::open(name)?;
    let queue = Queue::open_named(&*heap, "records")?;
    for n in 0..records {
        let at = loop {
            match heap.alloc(RECORD as u64) {
                Ok(at) => break at,
                // The consumers free as they go.
                Err(sharena::Error::OutOfMemory { .. }) => std::thread::yield_now(),
                Err(e) => return Err(e.into()),
            }
        };
        heap.write(at, &stamp(n))?;
        // Shared: no death of this process frees a record in flight.
        heap.share(at)?;
        queue.push(at.get(), PATIENCE)?;
    }
    for _ in 0..CONSUMERS {
        queue.push(END, PATIENCE)?;
    }
    Ok(())
}

fn consumer(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let heap = FreeList::open(name)?;
    let queue = Queue::open_named(&*heap, "records")?;
    let tally = heap.wait_for::<Tally>("tally", PATIENCE)?;
    let (mut verified, mut sum, mut bad) = (0u64, 0u64, 0u64);
    let mut buf = [0u8; RECORD];
    loop {
        let v = queue.pop(PATIENCE)?;
        if v == END {
            break;
        }
        let at = Offset::new(v);
        heap.read_into(at, &mut buf)?;
        let n = u64::from_le_bytes(buf[..8].try_into()?);
        if buf == stamp(n) {
            verified += 1;
            sum = sum.wrapping_add(n);
        } else {
            bad += 1;
        }
        heap.free(at)?;
    }
    tally
        .atomic_u64(field!(Tally, verified))?
        .fetch_add(verified, Ordering::SeqCst);
    tally
        .atomic_u64(field!(Tally, sum))?
        .fetch_add(sum, Ordering::SeqCst);
    tally
        .atomic_u64(field!(Tally, bad))?
        .fetch_add(bad, Ordering::SeqCst);
    println!(
        "consumer (pid {}): {verified} records verified",
        std::process::id()
    );
    Ok(())
}

/// The parent; a producer or consumer when `SHARENA_PIPELINE_ROLE` is set.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Ok(role) = std::env::var(ROLE) {
        let args: Vec<&str> = role.split(' ').collect();
        return match args.as_slice() {
            ["producer", name, n] => producer(name, n.parse()?),
            ["consumer", name] => consumer(name),
            _ => Err(format!("bad role {role:?}").into()),
        };
    }
    let records: u64 = std::env::args().nth(1).map_or(Ok(200_000), |a| a.parse())?;
    let name = format!("/sharena-example-pipeline-{}", std::process::id());
    let heap = FreeList::create(&name, 64 << 20)?;
    struct Unlink<'a>(&'a str);
    impl Drop for Unlink<'_> {
        fn drop(&mut self) {
            let _ = Segment::unlink(self.0);
        }
    }
    let _unlink = Unlink(&name);
    let queue = Queue::create_in(&*heap, 1024)?;
    heap.publish("records", queue.offset())?;
    heap.find_or_construct("tally", Tally::zeroed)?;
    // The first `wait_for` of a segment makes its one event object (see
    // `sharena::Objects::wait_for`): made here, so that what the pool holds
    // now is what it must hold again at the end.
    heap.wait_for::<Tally>("tally", PATIENCE)?;
    let used_before = heap.stats().used;

    let started = Instant::now();
    let spawn = |role: String| {
        Command::new(std::env::current_exe()?)
            .env(ROLE, role)
            .spawn()
    };
    let mut children = vec![spawn(format!("producer {name} {records}"))?];
    for _ in 0..CONSUMERS {
        children.push(spawn(format!("consumer {name}"))?);
    }
    for mut c in children {
        let status = c.wait()?;
        if !status.success() {
            return Err(format!("a child failed: {status}").into());
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let t = heap
        .find::<Tally>("tally")?
        .ok_or("the tally vanished")?
        .get()?;
    let want_sum = (u128::from(records) * u128::from(records.saturating_sub(1)) / 2) as u64;
    if t.verified != records || t.sum != want_sum || t.bad != 0 {
        return Err(format!(
            "{} of {records} records verified, {} bad, sum {} (want {want_sum})",
            t.verified, t.bad, t.sum
        )
        .into());
    }
    let used = heap.stats().used;
    if used != used_before {
        return Err(format!("{} bytes of records left allocated", used - used_before).into());
    }
    println!(
        "parent: {records} records through the queue, every one verified once, \
         in {secs:.2} s with process start-up ({:.0} records/s)",
        records as f64 / secs
    );
    Ok(())
}
