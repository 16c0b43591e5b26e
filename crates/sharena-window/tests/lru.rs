//! Eviction is least recently *used*: not first mapped, not least often used.

mod common;

use common::{manager, page, TempFile};
use sharena_window::{Config, Manager};

fn windows(m: &Manager) -> Vec<u64> {
    let mut v: Vec<u64> = m.regions().iter().map(|r| r.window.start).collect();
    v.sort_unstable();
    v
}

#[test]
fn the_least_recently_used_region_is_the_one_unmapped() {
    let pg = page();
    let file = TempFile::patterned("lru", 16 * pg);
    // Room for exactly three one-page windows.
    let m = manager(Config::sliding().window_size(pg).memory_budget(3 * pg));
    let mut c = m.cursor(file.path()).unwrap();
    for page_no in [0, 2, 4] {
        c.use_region(page_no * pg, 1).unwrap();
    }
    c.unuse_region();
    assert_eq!(windows(&m), [0, 2 * pg, 4 * pg]);
    // Use the first-mapped region again: it is now the most recent.
    c.use_region(0, 1).unwrap();
    c.unuse_region();
    c.use_region(6 * pg, 1).unwrap();
    // First-in-first-out would have dropped page 0; LRU drops page 2.
    assert_eq!(windows(&m), [0, 4 * pg, 6 * pg]);
    c.unuse_region();

    // Many early uses do not protect a region that has not been used since: a
    // least-often-used policy would drop page 4 or 6 (one use each) instead of page 0.
    for _ in 0..5 {
        c.use_region(0, 1).unwrap();
        c.use_region(4 * pg, 1).unwrap();
    }
    c.use_region(6 * pg, 1).unwrap();
    c.use_region(4 * pg, 1).unwrap();
    c.unuse_region();
    c.use_region(8 * pg, 1).unwrap();
    assert_eq!(windows(&m), [4 * pg, 6 * pg, 8 * pg]);
    assert!(m.stats().mapped_page_bytes <= 3 * pg);
}

#[test]
fn a_region_in_use_is_never_evicted_and_its_last_use_is_its_release() {
    let pg = page();
    let file = TempFile::patterned("lru-hold", 16 * pg);
    let m = manager(Config::sliding().window_size(pg).memory_budget(3 * pg));
    let mut held = m.cursor(file.path()).unwrap();
    let mut c = m.cursor(file.path()).unwrap();
    held.use_region(0, 1).unwrap(); // mapped first, held throughout
    c.use_region(2 * pg, 1).unwrap();
    c.use_region(4 * pg, 1).unwrap();
    c.use_region(6 * pg, 1).unwrap(); // evicts page 2, never page 0 (in use)
    assert_eq!(windows(&m), [0, 4 * pg, 6 * pg]);
    // Released after pages 4 and 6 were last used: page 0 is now the most recent.
    held.unuse_region();
    c.use_region(8 * pg, 1).unwrap(); // evicts page 4
    assert_eq!(windows(&m), [0, 6 * pg, 8 * pg]);
    // Page 6 stayed in use by `c` until it moved to page 8, after `held` let go of 0.
    let order: Vec<u64> = m.regions().iter().map(|r| r.window.start).collect();
    assert_eq!(order, [0, 6 * pg, 8 * pg], "least recently used first");
}

#[test]
fn collect_unmaps_every_unused_region_and_counts_them() {
    let pg = page();
    let a = TempFile::patterned("collect-a", 8 * pg);
    let b = TempFile::patterned("collect-b", 8 * pg);
    let m = manager(Config::sliding().window_size(pg));
    let mut ca = m.cursor(a.path()).unwrap();
    let mut cb = m.cursor(b.path()).unwrap();
    for i in 0..4 {
        ca.use_region(i * pg, 1).unwrap();
        cb.use_region(i * pg, 1).unwrap();
    }
    let s = m.stats();
    assert_eq!(
        (s.open_files, s.handles, s.handles_in_use, s.mapped_bytes),
        (2, 8, 2, 8 * pg)
    );
    assert_eq!(m.collect(), 6);
    drop(cb);
    assert_eq!(m.collect(), 1);
    let s = m.stats();
    assert_eq!((s.open_files, s.handles, s.mapped_bytes), (1, 1, pg));
    drop(ca);
    assert_eq!(m.collect(), 1);
    assert_eq!(m.stats().open_files, 0);
}

#[test]
fn a_cursor_moving_on_makes_room_with_the_region_it_leaves() {
    // A budget of one window: the cursor's own previous region is the one to unmap.
    let pg = page();
    let file = TempFile::patterned("lru-move", 16 * pg);
    let m = manager(Config::sliding().window_size(4 * pg).memory_budget(4 * pg));
    let mut c = m.cursor(file.path()).unwrap();
    c.use_region(0, 1).unwrap();
    c.use_region(8 * pg, 1).unwrap();
    assert_eq!(c.window(), Some(5 * pg..9 * pg));
    assert_eq!(windows(&m), [5 * pg]);
}
