//! The W1 loop for instruction counts: `OPS` allocations of 64 bytes, each
//! stamped with an 8-byte tag (a plain store, as in `sharena bench`), from one thread of one process, resetting
//! when the pool is full. `scripts/callgrind_bump.sh` runs it twice (OPS
//! and 2*OPS) under callgrind; the difference over OPS is one allocation.
//!
//!     cargo run --release -p sharena-bump --example w1_loop -- 1000000

use sharena_bump::Bump;
use shm_layout::{AllocatorKind, Error, LayoutSpec, SegmentView, ShmAllocator};
use std::ptr::NonNull;

#[repr(C, align(4096))]
struct Page([u8; 4096]);

/// The buffer (kept alive, never read) and the view over it.
struct Heap(#[allow(dead_code)] Vec<Page>, SegmentView);

impl AsRef<SegmentView> for Heap {
    fn as_ref(&self) -> &SegmentView {
        &self.1
    }
}

fn main() -> Result<(), Error> {
    let ops: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let pages = 4096; // 16 MiB
    let mut mem: Vec<Page> = (0..pages).map(|_| Page([0; 4096])).collect();
    let base = NonNull::new(mem.as_mut_ptr().cast::<u8>()).expect("a Vec is never null");
    let len = pages as u64 * 4096;
    let spec = LayoutSpec {
        kind: AllocatorKind::Bump,
        total_len: len,
        metadata_len: 0,
        state_len: Bump::<Heap>::state_len(),
        params: [0; 8],
    };
    // SAFETY: `mem` is page-aligned, `len` bytes, never moved (its buffer
    // moves into `Heap` with it), and lives as long as the view; nobody
    // else initialises it.
    let view =
        unsafe { SegmentView::initialize("<w1>", base, len, &spec, true, Bump::<Heap>::init) }?;
    let arena = Bump::attach(Heap(mem, view))?;
    let base = arena.segment().1.base().as_ptr();
    let mut sum = 0u64;
    for i in 0..ops {
        let at = match arena.alloc(64) {
            Ok(at) => at,
            Err(Error::OutOfMemory { .. }) => {
                arena.reset()?;
                arena.alloc(64)?
            }
            Err(e) => return Err(e),
        };
        // SAFETY: `at` is a fresh 64-byte block of this arena, inside the
        // mapping, 8-aligned (as `sharena bench`'s W1 loop stores its tag).
        unsafe { base.add(at.get() as usize).cast::<u64>().write(i) };
        sum = sum.wrapping_add(at.get());
    }
    println!("{sum}");
    Ok(())
}
