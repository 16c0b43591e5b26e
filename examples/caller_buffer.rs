//! An allocator over a caller's buffer: no shared memory object at all,
//! just memory this process owns (`AlignedBuffer`, or a `&'static mut
//! [u8]`), shared by its threads. The same free list that serves many
//! processes serves many threads here; each thread that allocates gets an
//! arena of its own in the buffer.
//!
//! ```text
//! cargo run --release --example caller_buffer [-- THREADS OPS]
//! ```
//! Nothing is created in /dev/shm; the buffer is freed when the heap drops.

use sharena::{AlignedBuffer, FreeList, ShmAllocator};

/// What a thread returns: its checked bytes, or what went wrong.
type Checked = Result<u64, Box<dyn std::error::Error + Send + Sync>>;

/// One thread's work: allocate blocks of varying size, fill each with a
/// pattern, check it, free it; keep a few alive to make the heap busy.
fn churn(heap: &FreeList, thread: u64, ops: u64) -> Checked {
    let mut live = Vec::new();
    let mut checked = 0;
    for i in 0..ops {
        let len = 1 + (i * 37 + thread * 101) % 2000;
        let fill = (thread * 31 + i) as u8;
        let at = heap.alloc(len)?;
        heap.write(at, &vec![fill; len as usize])?;
        live.push((at, len, fill));
        if live.len() > 64 {
            let (at, len, fill) = live.swap_remove((i % 64) as usize);
            if heap.read(at, len)?.iter().any(|b| *b != fill) {
                return Err(format!("thread {thread}: a block changed under it").into());
            }
            checked += len;
            heap.free(at)?;
        }
    }
    for (at, len, _) in live {
        checked += len;
        heap.free(at)?;
    }
    Ok(checked)
}

/// THREADS threads (default 4) each run OPS allocations (default 100,000)
/// on one free list over a 16 MiB buffer.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let threads: u64 = args.next().map_or(Ok(4), |a| a.parse())?;
    let ops: u64 = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let buf = AlignedBuffer::new(16 << 20).ok_or("cannot allocate the buffer")?;
    let heap = FreeList::in_buffer(buf)?;
    println!(
        "free list over a 16 MiB buffer: {} bytes available",
        heap.available()
    );
    let checked = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let heap = &heap;
                s.spawn(move || churn(heap, t, ops))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a thread panicked"))
            .sum::<Checked>()
    })
    .map_err(|e| e.to_string())?;
    let stats = heap.stats();
    println!(
        "{threads} threads x {ops} allocations: {checked} bytes checked; in use now: {} bytes in {} blocks",
        stats.used, stats.allocations
    );
    if stats.used != 0 {
        return Err(format!(
            "{} bytes still in use after every block was freed",
            stats.used
        )
        .into());
    }
    println!("{} bytes available again", heap.available());
    Ok(())
}
