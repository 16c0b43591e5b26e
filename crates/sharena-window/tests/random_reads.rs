//! 5,000 random reads through cursors and a buffer, checked against the file'seed pattern,
//! with both budgets checked after every step.

mod common;

use common::{manager, page, pattern_bytes, TempFile};
use sharena_testkit::XorShift;
use sharena_window::{Config, SlidingBuffer};

#[test]
fn five_thousand_random_reads_within_budgets() {
    let pg = page();
    let size = 3 * (1 << 20) + 1234;
    let file = TempFile::patterned("random", size);
    let (mem_budget, handle_budget) = (128 * pg, 8);
    let m = manager(
        Config::sliding()
            .window_size(16 * pg)
            .memory_budget(mem_budget)
            .handle_budget(handle_budget),
    );
    let mut cursors: Vec<_> = (0..3).map(|_| m.cursor(file.path()).unwrap()).collect();
    let mut buffer = SlidingBuffer::new(m.cursor(file.path()).unwrap(), 777).unwrap();
    let mut rng = XorShift::new(42);
    for step in 0..5000 {
        let offset = rng.next() % size;
        let want = 1 + (rng.next() % (8 * pg)) as usize;
        let which = (rng.next() % 4) as usize;
        if let Some(c) = cursors.get_mut(which) {
            let got = c.use_region(offset, want).unwrap();
            let n = got.len() as u64;
            assert!(
                n >= 1 && n <= want as u64 && offset + n <= size,
                "step {step}"
            );
            assert_eq!(got, &pattern_bytes(offset, n)[..], "step {step}");
            assert!(c.includes(offset) && c.window().unwrap().start % pg == 0);
        } else {
            let start = offset.min(buffer.len());
            let end = (start + want as u64).min(buffer.len());
            let got = buffer.slice(start..end).unwrap();
            assert_eq!(
                &got[..],
                &pattern_bytes(777 + start, end - start)[..],
                "step {step}"
            );
        }
        let stats = m.stats();
        assert!(
            stats.mapped_page_bytes <= mem_budget,
            "step {step}: {stats:?}"
        );
        assert!(stats.handles <= handle_budget, "step {step}: {stats:?}");
        if step % 500 == 0 {
            let mut w: Vec<_> = m.regions().into_iter().map(|r| r.window).collect();
            w.sort_by_key(|r| r.start);
            assert!(
                w.windows(2).all(|a| a[0].end <= a[1].start),
                "overlap: {w:?}"
            );
        }
    }
}
