//! A rough W1 check (WORKLOADS.md): 64-byte allocations with an 8-byte tag
//! each, against a plain cursor and a shared `fetch_add` over the same
//! prefaulted memory. Ignored by default; run it in release:
//! `cargo test --release -p bump --test w1_smoke -- --ignored --nocapture`.

mod common;

use bump::ShmAllocator;
use shm_layout::sync::{AtomicU64, Ordering};
use std::time::Instant;

const N: u64 = 2_000_000;

#[test]
#[ignore = "timing; run in release"]
fn w1_ratios() {
    let a = common::arena(256 << 20, 0);
    let base = a.view().base().as_ptr();
    let pool = a.pool_offset().get();
    let run_local = || {
        let t = Instant::now();
        let mut cur = pool;
        for i in 0..N {
            assert!(cur + 64 <= pool + (256 << 20));
            // SAFETY: inside the pool (checked above); 8-aligned.
            unsafe { base.add(cur as usize).cast::<u64>().write_volatile(i) };
            cur += 64;
        }
        N as f64 / t.elapsed().as_secs_f64()
    };
    let cursor = AtomicU64::new(pool);
    let run_faa = || {
        cursor.store(pool, Ordering::Relaxed);
        let t = Instant::now();
        for i in 0..N {
            let cur = cursor.fetch_add(64, Ordering::Relaxed);
            assert!(cur + 64 <= pool + (256 << 20));
            // SAFETY: as above.
            unsafe { base.add(cur as usize).cast::<u64>().write_volatile(i) };
        }
        N as f64 / t.elapsed().as_secs_f64()
    };
    let run_bump = || {
        a.reset().unwrap();
        let t = Instant::now();
        for i in 0..N {
            let at = a.alloc(64).unwrap();
            // SAFETY: a fresh 64-byte block inside the pool.
            unsafe { base.add(at.get() as usize).cast::<u64>().write_volatile(i) };
        }
        N as f64 / t.elapsed().as_secs_f64()
    };
    // Prefault once, then interleave.
    run_local();
    run_bump();
    let mut r = Vec::new();
    for _ in 0..3 {
        r.push((run_local(), run_faa(), run_bump()));
    }
    let med = |f: fn(&(f64, f64, f64)) -> f64| {
        let mut v: Vec<f64> = r.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[1]
    };
    let (local, faa, bump) = (med(|x| x.0), med(|x| x.1), med(|x| x.2));
    println!(
        "W1-smoke: local {local:.3e}/s faa {faa:.3e}/s bump {bump:.3e}/s; bump/local {:.2} bump/faa {:.2}",
        bump / local,
        bump / faa
    );
}
