//! Typed objects between processes: a parent builds a config record under
//! a name; three child processes (this program again) find it, each bumps
//! a counter in it, builds a record of its own, and waits for the other
//! two's. Then the parent checks the counter and every record, destroys
//! them, and unlinks the segment, so nothing is left in /dev/shm.
//!
//! No offsets, no `offset_of!`, no sleep loop: `find_or_construct`,
//! `wait_for` and `field!` (docs of `sharena::Objects`).
//!
//! ```text
//! cargo run --example publish_lookup
//! ```

use bytemuck::{Pod, Zeroable};
use sharena::layout::sync::Ordering;
use sharena::{field, FreeList, Objects, Segment};
use std::process::Command;
use std::time::Duration;

/// Set in a child's environment: the segment's name and the child's number.
const CHILD: &str = "SHARENA_PUBLISH_LOOKUP_CHILD";
const CHILDREN: u32 = 3;
const WAIT: Duration = Duration::from_secs(30);

/// The shared config: plain old data, the same bytes in every process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
struct Config {
    version: u64,
    /// Bumped by every child, at once: an atomic through `field!`.
    hits: u64,
}

/// What each child publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
struct Worker {
    pid: u32,
    number: u32,
}

fn worker_name(n: u32) -> String {
    format!("worker/{n}")
}

fn child(name: &str, me: u32) -> Result<(), Box<dyn std::error::Error>> {
    let heap = FreeList::open(name)?;
    let config = heap.wait_for::<Config>("config", WAIT)?;
    config
        .atomic_u64(field!(Config, hits))?
        .fetch_add(1, Ordering::SeqCst);
    heap.find_or_construct(&worker_name(me), || Worker {
        pid: std::process::id(),
        number: me,
    })?;
    for other in (0..CHILDREN).filter(|&n| n != me) {
        let w = heap.wait_for::<Worker>(&worker_name(other), WAIT)?.get()?;
        if w.number != other {
            return Err(format!("{} holds worker {}", worker_name(other), w.number).into());
        }
    }
    println!(
        "child {me} (pid {}): config v{} found, all {CHILDREN} workers published",
        std::process::id(),
        config.get()?.version
    );
    Ok(())
}

/// The parent; a child when `SHARENA_PUBLISH_LOOKUP_CHILD` is set.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Ok(arg) = std::env::var(CHILD) {
        let (name, me) = arg.rsplit_once(' ').ok_or("bad child argument")?;
        return child(name, me.parse()?);
    }
    let name = format!("/sharena-example-publish-{}", std::process::id());
    // 16 MiB: one arena per MiB of pool, so each of the four processes
    // gets one.
    let heap = FreeList::create(&name, 16 << 20)?;
    struct Unlink<'a>(&'a str);
    impl Drop for Unlink<'_> {
        fn drop(&mut self) {
            let _ = Segment::unlink(self.0);
        }
    }
    let _unlink = Unlink(&name);

    heap.find_or_construct("config", || Config {
        version: 3,
        hits: 0,
    })?;
    let children = (0..CHILDREN)
        .map(|n| {
            Command::new(std::env::current_exe()?)
                .env(CHILD, format!("{name} {n}"))
                .spawn()
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    for mut c in children {
        let status = c.wait()?;
        if !status.success() {
            return Err(format!("a child failed: {status}").into());
        }
    }
    let hits = heap
        .find::<Config>("config")?
        .ok_or("config vanished")?
        .get()?
        .hits;
    if hits != u64::from(CHILDREN) {
        return Err(format!("config.hits is {hits}, not {CHILDREN}").into());
    }
    for n in 0..CHILDREN {
        heap.destroy::<Worker>(&worker_name(n))?;
    }
    heap.destroy::<Config>("config")?;
    println!(
        "parent (pid {}): {hits} hits, every record destroyed",
        std::process::id()
    );
    Ok(())
}
