//! A slab as an object pool shared by processes: the slot size is the
//! record size (32-byte `Order`s, plain old data read and written through
//! the typed helpers), and forked workers allocate and free them in O(1)
//! without locks. Each worker keeps its last orders, links them into a list
//! by offset (each order names the one kept before it: offsets, never
//! pointers, because every process maps the segment at its own address),
//! shares them so they outlive the worker, and publishes the list's head
//! under a name. The parent looks each list up, reads every kept order back,
//! frees it, and checks that no slot is left in use.
//!
//! ```text
//! cargo run --release --example slab_pool [-- WORKERS ORDERS]
//! ```
//! The segment is named (any process could open it) and unlinked at the end.

use bytemuck::{Pod, Zeroable};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use sharena::{Named, Offset, Recover, ShmAllocator, Slab, TypedOffset};
use std::collections::VecDeque;

/// One pooled object: 32 bytes, no pointers, no padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
struct Order {
    id: u64,
    worker: u32,
    quantity: u32,
    price_cents: u64,
    /// The offset of the order kept before this one (0: none; offset 0 is
    /// the segment header, never a block).
    next: u64,
}

/// The most orders one worker keeps (the rest it frees again).
const KEEP: u64 = 100;

/// The name a worker publishes its kept orders under.
fn list_name(worker: u32) -> String {
    format!("kept-orders-{worker}")
}

/// A worker: allocates `orders` orders, checks each, frees all but the
/// last `KEEP`, then links, shares and publishes those.
fn worker(slab: &Slab, me: u32, orders: u64) -> Result<(), Box<dyn std::error::Error>> {
    let mut kept: VecDeque<TypedOffset<Order>> = VecDeque::new();
    for id in 0..orders {
        let order = Order {
            id,
            worker: me,
            quantity: (id % 7 + 1) as u32,
            price_cents: 250 * (id % 13 + 1),
            next: 0,
        };
        let at = slab.alloc_value(&order)?;
        if slab.read_value(at)? != order {
            return Err(format!("order {id} read back wrong").into());
        }
        kept.push_back(at);
        if kept.len() as u64 > KEEP {
            if let Some(old) = kept.pop_front() {
                slab.free(old.offset())?;
            }
        }
    }
    // Link the kept orders, newest first. `share` hands each one over: a
    // shared block is never freed on its allocator's behalf when that
    // process is gone (`reclaim_dead`), only by an explicit `free`.
    let mut head = 0;
    for at in &kept {
        let mut order = slab.read_value(*at)?;
        order.next = head;
        slab.write_value(*at, &order)?;
        slab.share(at.offset())?;
        head = at.offset().get();
    }
    if head != 0 {
        slab.publish(list_name(me), Offset::new(head))?;
    }
    Ok(())
}

/// Forks WORKERS (default 3) processes that each churn ORDERS orders
/// (default 50,000) through one slab, then checks what they kept.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let workers: u32 = args.next().map_or(Ok(3), |a| a.parse())?;
    let orders: u64 = args.next().map_or(Ok(50_000), |a| a.parse())?;
    let name = format!("/sharena-example-slab-pool-{}", std::process::id());
    // One slot per record: the slot size is the record's size.
    let slot = std::mem::size_of::<Order>() as u64;
    let slab = Slab::create(&name, 16 << 20, slot)?;
    struct Unlink(String);
    impl Drop for Unlink {
        fn drop(&mut self) {
            let _ = sharena::Segment::unlink(&self.0);
        }
    }
    let _unlink = Unlink(name.clone());
    println!(
        "slab {name}: {} slots of {slot} bytes, one `Order` each",
        slab.slot_count()
    );

    let mut pids = Vec::new();
    for me in 0..workers {
        // SAFETY: `main` is single-threaded, so the child may run any code.
        match unsafe { fork() }? {
            ForkResult::Child => {
                // A forked child opens its own handle (its own cache); the
                // handle drops before the exit, giving the cache back.
                let done = Slab::open(&name)
                    .map_err(Into::into)
                    .and_then(|s| worker(&s, me, orders));
                let code = match done {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("worker {me}: {e}");
                        1
                    }
                };
                std::process::exit(code);
            }
            ForkResult::Parent { child } => pids.push(child),
        }
    }
    for pid in pids {
        if !matches!(waitpid(pid, None)?, WaitStatus::Exited(_, 0)) {
            return Err("a worker failed".into());
        }
    }
    // Every worker kept its last KEEP orders: walk each list (at most KEEP
    // steps, so a bad link cannot loop), check every order and free it.
    let expect = KEEP.min(orders);
    let mut checked = 0;
    for me in 0..workers {
        let mut at = match slab.lookup(list_name(me))? {
            Some(head) => head.get(),
            None => 0,
        };
        if at != 0 {
            slab.unpublish(list_name(me))?;
        }
        for i in 0..expect {
            if at == 0 {
                return Err(format!("worker {me}: only {i} of {expect} orders kept").into());
            }
            let here = TypedOffset::<Order>::new(Offset::new(at));
            let order = slab.read_value(here)?;
            if order.worker != me || order.id != orders - 1 - i {
                return Err(format!("worker {me} order {i}: unexpected {order:?}").into());
            }
            slab.free(here.offset())?;
            at = order.next;
            checked += 1;
        }
        if at != 0 {
            return Err(format!("worker {me}: more than {expect} orders kept").into());
        }
    }
    let in_use = slab.stats().allocations;
    let report = slab.check()?;
    println!(
        "{workers} workers churned {} orders; {checked} kept orders checked and freed; \
         slots in use now: {in_use}; check: {}",
        u64::from(workers) * orders,
        if report.ok() { "ok" } else { "FAILED" }
    );
    if in_use != 0 || !report.ok() {
        return Err("slots left in use or a failed check".into());
    }
    Ok(())
}
