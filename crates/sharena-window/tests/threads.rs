//! Many threads over one manager, with budgets small enough to force eviction.

mod common;

use std::sync::Barrier;

use common::{manager, page, pattern_bytes, TempFile};
use sharena_testkit::XorShift;
use sharena_window::{Config, SlidingBuffer};

#[test]
fn many_threads_share_one_manager() {
    let pg = page();
    let files: Vec<_> = (0..2)
        .map(|i| TempFile::patterned("threads", (1 << 20) + 1000 * i + 1))
        .collect();
    // 16 cursors hold at most 8 pages each (128 pages), so every request can be met;
    // the two files (512 pages) do not fit, so regions are evicted all the time.
    let budget = 160 * pg;
    let m = manager(Config::sliding().window_size(8 * pg).memory_budget(budget));
    let threads = 8;
    let barrier = Barrier::new(threads);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (m, files, barrier) = (m.clone(), &files, &barrier);
            scope.spawn(move || {
                let file = &files[t % 2];
                let size = std::fs::metadata(file.path()).unwrap().len();
                let mut cursor = m.cursor(file.path()).unwrap();
                let mut buffer = SlidingBuffer::new(m.cursor(file.path()).unwrap(), 0).unwrap();
                let mut rng = XorShift::for_process(t);
                barrier.wait();
                for _ in 0..400 {
                    let at = rng.next() % size;
                    let got = cursor.use_region(at, 300).unwrap();
                    assert_eq!(got, &pattern_bytes(at, got.len() as u64)[..]);
                    let end = (at + 200).min(size);
                    assert_eq!(
                        &buffer.slice(at..end).unwrap()[..],
                        &pattern_bytes(at, end - at)[..]
                    );
                    assert!(m.stats().mapped_page_bytes <= budget);
                }
            });
        }
    });
    let st = m.stats();
    // A file stays open while it has mapped regions (no cursor is left).
    assert_eq!(st.handles_in_use, 0, "{st:?}");
    assert!((1..=2).contains(&st.open_files), "{st:?}");
    assert_eq!(m.collect(), st.handles);
    let st = m.stats();
    assert_eq!((st.open_files, st.handles, st.mapped_bytes), (0, 0, 0));
}
