#![allow(missing_docs)] // criterion_group!/criterion_main! generate undocumented items
//! Segment open and create (the bars, in docs/BENCHMARKS.md: opening under
//! 1 ms; creating any size O(1)). Creating reserves the backing store by
//! default (`posix_fallocate`, O(size) on tmpfs); `lazy` is
//! `SegmentOptions::reserve(false)`, the O(1) create.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use sharena::{AllocatorKind, OpenOptions, Segment, SegmentOptions};

fn open_named(c: &mut Criterion) {
    let name = format!("/sharena-bench-{}", std::process::id());
    let _ = Segment::unlink(&name);
    let seg = Segment::create(&name, &SegmentOptions::new(AllocatorKind::Raw, 64 << 20)).unwrap();
    c.bench_function("open_named_64MiB", |b| {
        b.iter(|| Segment::open(&name, &OpenOptions::new()).unwrap());
    });
    drop(seg);
    Segment::unlink(&name).unwrap();
}

fn create_named(c: &mut Criterion) {
    let mut g = c.benchmark_group("create_named_and_unlink");
    for (label, reserve) in [("sharena", true), ("lazy", false)] {
        for mib in [1u64, 64, 1024] {
            g.bench_with_input(
                BenchmarkId::new(label, format!("{mib}MiB")),
                &mib,
                |b, &mib| {
                    let name = format!("/sharena-bench-{}-c", std::process::id());
                    let opts = SegmentOptions::new(AllocatorKind::Raw, mib << 20).reserve(reserve);
                    b.iter(|| {
                        let s = Segment::create(&name, &opts).unwrap();
                        Segment::unlink(&name).unwrap();
                        s
                    });
                },
            );
        }
    }
    g.finish();
}

criterion_group!(benches, open_named, create_named);
criterion_main!(benches);
