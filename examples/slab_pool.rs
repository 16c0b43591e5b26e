//! A slab as an object pool shared by processes: fixed-size `Order`
//! records (plain old data, read and written through the typed helpers),
//! allocated and freed in O(1) without locks by forked workers. Each worker
//! keeps its last orders and leaves their offsets in a table (one block
//! the parent allocated before forking); the parent then reads every kept
//! order back by its offset and frees it.
//!
//! ```text
//! cargo run --release --example slab_pool [-- WORKERS ORDERS]
//! ```
//! The segment is named (any process could open it) and unlinked at the end.

use bytemuck::{Pod, Zeroable};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use sharena::{Offset, ShmAllocator, Slab, TypedOffset};

/// One pooled object: 32 bytes, no pointers, no padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
struct Order {
    id: u64,
    worker: u64,
    quantity: u64,
    price_cents: u64,
}

/// The most orders one worker keeps (the rest it frees again).
const KEEP: u64 = 100;

/// A worker: allocates `orders` orders, checks each, frees all but the
/// last `KEEP`, and leaves their offsets in its row of the table.
fn worker(slab: &Slab, me: u64, orders: u64, table: Offset) -> sharena::Result<()> {
    let mut kept = Vec::new();
    for id in 0..orders {
        let order = Order {
            id,
            worker: me,
            quantity: id % 7 + 1,
            price_cents: 250 * (id % 13 + 1),
        };
        let at: TypedOffset<Order> = slab.alloc_value(&order)?;
        assert_eq!(slab.read_value(at)?, order);
        kept.push(at);
        if kept.len() as u64 > KEEP {
            slab.free(kept.remove(0).offset())?;
        }
    }
    // The worker's row of the table: KEEP offsets, 8 bytes each.
    for (i, at) in kept.iter().enumerate() {
        let at_in_table = 8 * (me * KEEP + i as u64);
        slab.write_at(table, at_in_table, &at.offset().get().to_le_bytes())?;
    }
    Ok(())
}

/// Forks WORKERS (default 3) processes that each churn ORDERS orders
/// (default 50,000) through one slab, then checks what they kept.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let workers: u64 = args.next().map_or(Ok(3), |a| a.parse())?;
    let orders: u64 = args.next().map_or(Ok(50_000), |a| a.parse())?;
    let name = format!("/sharena-slab-pool-{}", std::process::id());
    // Slots big enough for the table (8 bytes per kept order per worker).
    let slot = (8 * workers * KEEP).max(std::mem::size_of::<Order>() as u64);
    let slab = Slab::create(&name, 16 << 20, slot)?;
    struct Unlink(String);
    impl Drop for Unlink {
        fn drop(&mut self) {
            let _ = sharena::Segment::unlink(&self.0);
        }
    }
    let _unlink = Unlink(name.clone());
    let table = slab.alloc(slot)?;
    println!("slab {name}: {} slots of {slot} bytes", slab.slot_count());

    let mut pids = Vec::new();
    for me in 0..workers {
        // SAFETY: `main` is single-threaded, so the child may run any code.
        match unsafe { fork() }? {
            ForkResult::Child => {
                // A forked child opens its own handle (its own cache).
                let code = match Slab::open(&name).and_then(|s| worker(&s, me, orders, table)) {
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
    // Every worker kept its last KEEP orders: read them back and free them.
    let rows = slab.read(table, 8 * workers * KEEP)?;
    let mut checked = 0;
    for me in 0..workers {
        for i in 0..KEEP.min(orders) {
            let word = 8 * (me * KEEP + i) as usize;
            let raw: [u8; 8] = rows[word..word + 8].try_into()?;
            let at = TypedOffset::<Order>::new(Offset::new(u64::from_le_bytes(raw)));
            let order = slab.read_value(at)?;
            if order.worker != me || order.id != orders - KEEP.min(orders) + i {
                return Err(format!("worker {me} row {i}: unexpected {order:?}").into());
            }
            slab.free(at.offset())?;
            checked += 1;
        }
    }
    slab.free(table)?;
    println!(
        "{workers} workers churned {} orders; {checked} kept orders checked and freed; slots in use now: {}",
        workers * orders,
        slab.stats().allocations
    );
    Ok(())
}
