//! Criterion benches of the window crate over a 64 MiB file. `use_region`: a pass in
//! 64 KiB steps, per window size, under a 16 MiB budget so that windows are unmapped and
//! remapped as a long scan does; `static` (window size 0, whole file) is the no-sliding
//! reference. `switch`: 1,024 random 4 KiB `SlidingBuffer::read_into`s over windows that
//! are all mapped (W5r's `window-64m-fit` in small), so nearly every read moves the
//! cursor to another mapped region: the manager's lookup, not `mmap`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use sharena_testkit::XorShift;
use sharena_window::{Config, Hint, Manager, SlidingBuffer};

const FILE: u64 = 64 << 20;
const STEP: u64 = 64 << 10;

/// The patterned bench file, removed on drop.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn bench_use_region(c: &mut Criterion) {
    let path = std::env::temp_dir().join(format!("window-bench-{}.dat", std::process::id()));
    let bytes: Vec<u8> = (0..FILE).map(|i| ((i % 251 * 7 + 3) % 251) as u8).collect();
    std::fs::write(&path, bytes).expect("write bench file");
    let file = TempFile(path);

    let mut group = c.benchmark_group("use_region");
    group.throughput(Throughput::Elements(FILE / STEP));
    let subjects: [(&str, u64, u64); 4] = [
        ("sliding", 256 << 10, 16 << 20),
        ("sliding", 1 << 20, 16 << 20),
        ("sliding", 4 << 20, 16 << 20),
        ("static", 0, 2 * FILE),
    ];
    for (name, window, budget) in subjects {
        let config = Config::sliding().window_size(window).memory_budget(budget);
        // SAFETY: the bench's own temporary file; nothing truncates or writes it.
        let manager = unsafe { Manager::new(config) };
        let mut cursor = manager.cursor(&file.0).expect("cursor");
        let id = BenchmarkId::new(name, if window == 0 { FILE } else { window });
        group.bench_function(id, |b| {
            b.iter(|| {
                let mut sum = 0u64;
                let mut at = 0;
                while at < FILE {
                    let bytes = cursor.use_region(at, STEP as usize).expect("use_region");
                    sum = sum.wrapping_add(u64::from(bytes[0]));
                    at += STEP;
                }
                black_box(sum)
            });
        });
    }
    group.finish();
}

fn bench_switch(c: &mut Criterion) {
    const READS: u64 = 1024;
    let path = std::env::temp_dir().join(format!("window-switch-{}.dat", std::process::id()));
    let bytes: Vec<u8> = (0..FILE).map(|i| ((i % 251 * 7 + 3) % 251) as u8).collect();
    std::fs::write(&path, bytes).expect("write bench file");
    let file = TempFile(path);

    let mut group = c.benchmark_group("switch");
    group.throughput(Throughput::Elements(READS));
    for window in [8 << 20, 1 << 20] {
        let config = Config::sliding()
            .window_size(window)
            .memory_budget(2 * FILE)
            .hint(Hint::Random);
        // SAFETY: the bench's own temporary file; nothing truncates or writes it.
        let manager = unsafe { Manager::new(config) };
        let cursor = manager.cursor(&file.0).expect("cursor");
        let mut buffer = SlidingBuffer::new(cursor, 0).expect("buffer");
        let mut out = [0u8; 4096];
        // Map every window first: the bench times lookups of mapped regions.
        for at in (0..FILE).step_by(window as usize) {
            buffer.read_into(at, &mut out).expect("read");
        }
        group.bench_function(BenchmarkId::new("read_into", window), |b| {
            let mut rng = XorShift::new(42);
            b.iter(|| {
                let mut sum = 0u64;
                for _ in 0..READS {
                    buffer
                        .read_into(rng.below(FILE - 4096), &mut out)
                        .expect("read_into");
                    sum = sum.wrapping_add(u64::from(out[0]));
                }
                black_box(sum)
            });
        });
    }
    group.finish();
}

mod group {
    //! The criterion group (its generated function lives here, out of the crate's API).
    criterion::criterion_group!(benches, super::bench_use_region, super::bench_switch);
}

criterion_main!(group::benches);
