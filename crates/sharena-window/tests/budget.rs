//! The budgets beside smmap's: our counters in whole pages and held descriptors, the
//! hard memory budget (the default) and smmap's soft one.

mod common;

use common::{manager, page, pattern_bytes, TempFile};
use sharena_window::{Config, Error};

#[test]
fn our_counters_beside_smmaps() {
    let pg = page();
    let size = 10 * pg + 123;
    let file = TempFile::patterned("budget-count", size);
    let m = manager(Config::sliding());
    let mut c = m.cursor(file.path()).unwrap();
    let s = m.stats();
    assert_eq!(
        (s.open_files, s.descriptors, s.mapped_page_bytes),
        (0, 1, 0)
    );
    c.use_region(0, 1).unwrap();
    let s = m.stats();
    assert_eq!(
        (s.mapped_bytes, s.mapped_page_bytes),
        (size, 11 * pg),
        "{s:?}"
    );
    assert_eq!((s.open_files, s.descriptors), (1, 1));
    drop(c);
    let s = m.stats();
    assert_eq!((s.open_files, s.descriptors, s.handles_in_use), (1, 1, 0));
    m.collect();
    let s = m.stats();
    assert_eq!((s.open_files, s.descriptors, s.mapped_bytes), (0, 0, 0));
}

#[test]
fn the_default_budget_is_hard() {
    assert!(!Config::sliding().is_soft_memory_budget());
    assert!(!Config::static_files().is_soft_memory_budget());
    assert!(Config::sliding()
        .soft_memory_budget(true)
        .is_soft_memory_budget());
}

#[test]
fn a_soft_budget_is_passed_only_while_regions_are_in_use() {
    let pg = page();
    let file = TempFile::patterned("budget-soft", 32 * pg);
    let config = Config::sliding().window_size(4 * pg).memory_budget(6 * pg);
    let soft = manager(config.clone().soft_memory_budget(true));
    let hard = manager(config);
    for m in [&soft, &hard] {
        let mut held = m.cursor(file.path()).unwrap();
        let mut mover = m.cursor(file.path()).unwrap();
        held.use_region(0, 1).unwrap();
        let got = mover.use_region(16 * pg, 4 * pg as usize).unwrap().to_vec();
        assert_eq!(got[..], pattern_bytes(16 * pg, got.len() as u64)[..]);
        let st = m.stats();
        if m.config().is_soft_memory_budget() {
            // The whole window, past the budget: both regions are in use.
            assert_eq!(mover.window(), Some(16 * pg..20 * pg));
            assert_eq!(st.mapped_page_bytes, 8 * pg, "{st:?}");
        } else {
            // The window shrinks to the room left.
            assert_eq!(mover.window(), Some(16 * pg..18 * pg));
            assert_eq!(st.mapped_page_bytes, 6 * pg, "{st:?}");
        }
        // A region given back is unmapped to make room; the one in use stays. With
        // only regions in use left, the soft budget maps the whole window past it.
        mover.unuse_region();
        let mut third = m.cursor(file.path()).unwrap();
        third.use_region(24 * pg, 1).unwrap();
        let mut w: Vec<_> = m.regions().into_iter().map(|r| r.window).collect();
        w.sort_by_key(|r| r.start);
        let st = m.stats();
        if m.config().is_soft_memory_budget() {
            assert_eq!(w, [0..4 * pg, 21 * pg..25 * pg]);
            assert_eq!(st.mapped_page_bytes, 8 * pg, "{st:?}");
        } else {
            assert_eq!(w, [0..4 * pg, 24 * pg..25 * pg]);
            assert_eq!(st.mapped_page_bytes, 5 * pg, "{st:?}");
        }
        // Once they are given back, a new window brings the soft budget back within
        // bounds: least recently used first.
        held.unuse_region();
        third.unuse_region();
        let mut fourth = m.cursor(file.path()).unwrap();
        fourth.use_region(8 * pg, 1).unwrap();
        let st = m.stats();
        assert!(st.mapped_page_bytes <= 6 * pg, "{st:?}");
        assert!(
            m.regions().iter().all(|r| r.window.start != 0),
            "page 0 went first"
        );
    }
    // Even a soft budget never unmaps a region in use; with every region in use and
    // none fitting, it maps anyway, where the hard one refuses.
    let tiny = Config::sliding().window_size(pg).memory_budget(pg);
    let soft = manager(tiny.clone().soft_memory_budget(true));
    let hard = manager(tiny);
    let (mut s1, mut s2) = (
        soft.cursor(file.path()).unwrap(),
        soft.cursor(file.path()).unwrap(),
    );
    s1.use_region(0, 1).unwrap();
    s2.use_region(5 * pg, 1).unwrap();
    assert_eq!(soft.stats().mapped_page_bytes, 2 * pg);
    let (mut h1, mut h2) = (
        hard.cursor(file.path()).unwrap(),
        hard.cursor(file.path()).unwrap(),
    );
    h1.use_region(0, 1).unwrap();
    assert!(matches!(
        h2.use_region(5 * pg, 1),
        Err(Error::BudgetExhausted { .. })
    ));
}
