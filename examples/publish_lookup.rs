//! A publisher and a reader process: the first creates a named free-list
//! segment, writes a typed record into it and publishes it under a name;
//! it then spawns a second process (this program again), which opens the
//! segment, looks the name up and prints the record. Both exit 0 and the
//! segment is unlinked, so nothing is left in /dev/shm.
//!
//! ```text
//! cargo run --example publish_lookup
//! ```

use bytemuck::{Pod, Zeroable};
use sharena::{FreeList, Named, Segment, ShmAllocator};
use std::process::Command;

/// Set in the reader's environment to the segment's name.
const READER: &str = "SHARENA_PUBLISH_LOOKUP_READER";
/// The directory name of the record.
const KEY: &str = "orders/latest";

/// The record: plain old data, the same bytes in every process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
struct Order {
    id: u64,
    quantity: u32,
    price_cents: u32,
    item: [u8; 16],
}

fn item(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    let n = name.len().min(16);
    out[..n].copy_from_slice(&name.as_bytes()[..n]);
    out
}

fn reader(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let heap = FreeList::open(name)?;
    let at = heap
        .lookup_typed::<Order>(KEY)?
        .ok_or_else(|| format!("{KEY} is not published in {name}"))?;
    let order = heap.read_value(at)?;
    let item = String::from_utf8_lossy(&order.item);
    println!(
        "reader (pid {}): {KEY} at offset {} is order #{}: {} x {} at {}.{:02}",
        std::process::id(),
        at.offset(),
        order.id,
        order.quantity,
        item.trim_end_matches('\0'),
        order.price_cents / 100,
        order.price_cents % 100
    );
    if order
        != (Order {
            id: 42,
            quantity: 3,
            price_cents: 1999,
            item: self::item("widget"),
        })
    {
        return Err("the reader saw another record than the one published".into());
    }
    Ok(())
}

/// The publisher; the reader when `SHARENA_PUBLISH_LOOKUP_READER` is set.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Ok(name) = std::env::var(READER) {
        return reader(&name);
    }
    let name = format!("/sharena-example-publish-{}", std::process::id());
    let heap = FreeList::create(&name, 4 << 20)?;
    struct Unlink<'a>(&'a str);
    impl Drop for Unlink<'_> {
        fn drop(&mut self) {
            let _ = Segment::unlink(self.0);
        }
    }
    let _unlink = Unlink(&name);

    let order = Order {
        id: 42,
        quantity: 3,
        price_cents: 1999,
        item: item("widget"),
    };
    let at = heap.alloc_value(&order)?;
    heap.publish_typed(KEY, at)?;
    println!(
        "publisher (pid {}): {KEY} -> offset {} in {name}",
        std::process::id(),
        at.offset()
    );

    let status = Command::new(std::env::current_exe()?)
        .env(READER, &name)
        .status()?;
    if !status.success() {
        return Err(format!("the reader failed: {status}").into());
    }
    heap.unpublish(KEY)?;
    heap.free(at.offset())?;
    Ok(())
}
