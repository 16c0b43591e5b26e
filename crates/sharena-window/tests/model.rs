//! Random cursor operations against a simple model: what each cursor should see, and the
//! invariants of the region table after every step.

mod common;

use common::{manager, page, pattern_bytes, TempFile};
use proptest::prelude::*;
use sharena_window::{Config, Error};

#[derive(Clone, Debug)]
enum Op {
    Use { c: usize, offset: u64, size: usize },
    Unuse { c: usize },
    Collect,
}

fn op(max_offset: u64, max_size: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..2usize, 0..max_offset, 0..max_size).prop_map(|(c, offset, size)| Op::Use { c, offset, size }),
        1 => (0..2usize, 1..4usize).prop_map(|(c, k)| Op::Use { c, offset: u64::MAX - k as u64, size: 8 }),
        2 => (0..2usize).prop_map(|c| Op::Unuse { c }),
        1 => Just(Op::Collect),
    ]
}

proptest! {
    #[test]
    fn cursors_agree_with_the_model(
        pages in 1u64..6,
        extra in 0u64..3,
        window_pages in 0u64..4,
        ops in proptest::collection::vec(op(8 * 4096, 3 * 4096), 1..40),
    ) {
        let pg = page();
        // Sizes just below, at and above page multiples.
        let size = (pages * pg + extra).saturating_sub(1).max(1);
        let file = TempFile::patterned("model", size);
        let budget = 16 * pg;
        let m = manager(Config::sliding().window_size(window_pages * pg).memory_budget(budget).handle_budget(3));
        let mut cursors = [m.cursor(file.path()).unwrap(), m.cursor(file.path()).unwrap()];
        // The model: each cursor's view, as (begin, size).
        let mut views: [Option<(u64, usize)>; 2] = [None, None];
        for op in ops {
            match op {
                Op::Use { c, offset, size: want } => {
                    let got = cursors[c].use_region(offset, want).map(<[u8]>::to_vec);
                    if want != 0 && offset.checked_add(want as u64).is_none() {
                        prop_assert!(matches!(got, Err(Error::Overflow { .. })), "{got:?}");
                        views[c] = None;
                    } else if offset >= size {
                        prop_assert!(matches!(got, Err(Error::OffsetPastEnd { .. })), "{got:?}");
                        views[c] = None;
                    } else {
                        let got = got.unwrap();
                        let n = got.len() as u64;
                        prop_assert!(n >= 1 && offset + n <= size);
                        prop_assert_eq!(&got, &pattern_bytes(offset, n));
                        if want == 0 {
                            // As much as the window allows: to the end of the region.
                            prop_assert_eq!(offset + n, cursors[c].window().unwrap().end);
                        } else {
                            prop_assert!(n <= want as u64);
                        }
                        if window_pages > 0 && want > 0 && n < want as u64 && offset + (want as u64) <= size {
                            // A short view ends at a window edge, never mid-page.
                            prop_assert!((offset + n) % pg == 0 || offset + n == size);
                        }
                        views[c] = Some((offset, got.len()));
                    }
                }
                Op::Unuse { c } => {
                    cursors[c].unuse_region();
                    views[c] = None;
                }
                Op::Collect => {
                    let idle = m.regions().iter().filter(|r| !r.in_use).count();
                    prop_assert_eq!(m.collect(), idle);
                    prop_assert!(m.regions().iter().all(|r| r.in_use));
                }
            }
            for (c, view) in cursors.iter().zip(&views) {
                prop_assert_eq!(c.has_region(), view.is_some());
                if let Some((begin, n)) = *view {
                    prop_assert_eq!((c.begin(), c.size(), c.end()), (begin, n, begin + n as u64));
                    prop_assert!(c.includes(begin) && !c.includes(begin + n as u64));
                    let w = c.window().unwrap();
                    prop_assert!(w.start % pg == 0 && w.start <= begin && begin + n as u64 <= w.end && w.end <= size);
                    prop_assert_eq!(c.bytes(), &pattern_bytes(begin, n as u64)[..]);
                } else {
                    prop_assert!(c.window().is_none() && c.bytes().is_empty());
                }
            }
            let mut regions: Vec<_> = m.regions().into_iter().map(|r| r.window).collect();
            regions.sort_by_key(|r| r.start);
            prop_assert!(regions.windows(2).all(|w| w[0].end <= w[1].start), "overlap: {:?}", regions);
            let stats = m.stats();
            let spans: u64 = regions.iter().map(|r| r.end.div_ceil(pg) * pg - r.start).sum();
            let lens: u64 = regions.iter().map(|r| r.end - r.start).sum();
            prop_assert_eq!(
                (stats.handles, stats.mapped_page_bytes, stats.mapped_bytes),
                (regions.len(), spans, lens)
            );
            prop_assert_eq!(stats.open_files, usize::from(!regions.is_empty()));
            prop_assert!(stats.handles <= 3 && stats.mapped_page_bytes <= budget);
        }
    }
}
