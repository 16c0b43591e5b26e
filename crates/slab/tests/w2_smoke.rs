//! A quick, in-process W2 (WORKLOADS.md) against the two baselines the
//! bars name, for a rough local ratio: `cargo test --release -p slab --test
//! w2_smoke -- --ignored --nocapture`. Not the real bench (that is
//! `sharena bench`, forked, on a 256 MiB segment); ignored by default.

mod common;

use shm_layout::sync::{AtomicU64, Ordering};
use shm_layout::{Offset, ShmAllocator};
use slab::Slab;
use std::time::Instant;

const OPS: u64 = 3_000_000;

fn next(s: &mut u64) -> u64 {
    let mut x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    x
}

fn slab_rate() -> f64 {
    let seg = common::segment(64, 16_384);
    let slab = Slab::attach(seg.clone()).unwrap();
    let base = seg.as_ref().base().as_ptr();
    let mut slot = vec![Offset::NULL; 4096];
    let mut tag = vec![0u64; 4096];
    for j in 0..4096 {
        slot[j] = slab.alloc(64).unwrap();
        tag[j] = j as u64 + 1;
        // SAFETY: a live 64-byte block of the segment, 8-aligned.
        unsafe { base.add(slot[j].get() as usize).cast::<u64>().write(tag[j]) };
    }
    let mut s = 42;
    let t = Instant::now();
    let mut sum = 0u64;
    for n in 0..OPS {
        let i = (next(&mut s) % 4096) as usize;
        // SAFETY: as above.
        let v = unsafe { base.add(slot[i].get() as usize).cast::<u64>().read() };
        assert_eq!(v, tag[i]);
        sum = sum.wrapping_add(v);
        slab.free(slot[i]).unwrap();
        slot[i] = slab.alloc(64).unwrap();
        tag[i] = n + 1;
        // SAFETY: as above.
        unsafe { base.add(slot[i].get() as usize).cast::<u64>().write(n + 1) };
    }
    let r = OPS as f64 / t.elapsed().as_secs_f64();
    std::hint::black_box(sum);
    r
}

fn treiber_rate() -> f64 {
    // 16,384 nodes of 64 B; next index at offset 0 of the node.
    let nodes: Vec<AtomicU64> = (0..16_384 * 8).map(|_| AtomicU64::new(0)).collect();
    let head = AtomicU64::new(u64::from(u32::MAX));
    let pop = || loop {
        let h = head.load(Ordering::Acquire);
        let i = h as u32;
        assert_ne!(i, u32::MAX);
        let nx = nodes[i as usize * 8].load(Ordering::Relaxed) as u32;
        let nh = ((h >> 32).wrapping_add(1) << 32) | u64::from(nx);
        if head
            .compare_exchange(h, nh, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            return i;
        }
    };
    let push = |i: u32| loop {
        let h = head.load(Ordering::Relaxed);
        nodes[i as usize * 8].store(h & 0xFFFF_FFFF, Ordering::Relaxed);
        let nh = ((h >> 32).wrapping_add(1) << 32) | u64::from(i);
        if head
            .compare_exchange(h, nh, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
    };
    for i in (0..16_384).rev() {
        push(i);
    }
    let mut slot = vec![0u32; 4096];
    let mut tag = vec![0u64; 4096];
    for j in 0..4096 {
        slot[j] = pop();
        tag[j] = j as u64 + 1;
        nodes[slot[j] as usize * 8 + 1].store(tag[j], Ordering::Relaxed);
    }
    let mut s = 42;
    let t = Instant::now();
    for n in 0..OPS {
        let i = (next(&mut s) % 4096) as usize;
        assert_eq!(
            nodes[slot[i] as usize * 8 + 1].load(Ordering::Relaxed),
            tag[i]
        );
        push(slot[i]);
        slot[i] = pop();
        tag[i] = n + 1;
        nodes[slot[i] as usize * 8 + 1].store(n + 1, Ordering::Relaxed);
    }
    OPS as f64 / t.elapsed().as_secs_f64()
}

fn system_rate() -> f64 {
    let mut slot: Vec<Box<[u64; 8]>> = (0..4096).map(|j| Box::new([j as u64 + 1; 8])).collect();
    let mut tag: Vec<u64> = (0..4096).map(|j| j as u64 + 1).collect();
    let mut s = 42;
    let t = Instant::now();
    for n in 0..OPS {
        let i = (next(&mut s) % 4096) as usize;
        assert_eq!(slot[i][0], tag[i]);
        drop(std::mem::replace(&mut slot[i], Box::new([0; 8])));
        let b = std::hint::black_box(&mut slot[i]);
        b[0] = n + 1;
        tag[i] = n + 1;
    }
    OPS as f64 / t.elapsed().as_secs_f64()
}

#[test]
#[ignore = "a timing run; use --release --ignored --nocapture"]
fn w2_ratios() {
    for _ in 0..3 {
        let (sl, tr, sy) = (slab_rate(), treiber_rate(), system_rate());
        println!(
            "slab {:.1} M/s  treiber {:.1} M/s  system {:.1} M/s  slab/treiber {:.2}  slab/system {:.2}",
            sl / 1e6,
            tr / 1e6,
            sy / 1e6,
            sl / tr,
            sl / sy
        );
    }
}
