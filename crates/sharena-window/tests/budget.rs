//! The budgets beside smmap's: our counters in whole pages and held descriptors.

mod common;

use common::{manager, page, TempFile};
use sharena_window::Config;

#[test]
fn our_counters_beside_smmaps() {
    let pg = page();
    let size = 10 * pg + 123;
    let file = TempFile::patterned("budget-count", size);
    let m = manager(Config::sliding());
    let mut c = m.cursor(file.path()).unwrap();
    let s = m.stats();
    assert_eq!((s.open_files, s.descriptors, s.mapped_page_bytes), (0, 1, 0));
    c.use_region(0, 1).unwrap();
    let s = m.stats();
    assert_eq!((s.mapped_bytes, s.mapped_page_bytes), (size, 11 * pg), "{s:?}");
    assert_eq!((s.open_files, s.descriptors), (1, 1));
    drop(c);
    let s = m.stats();
    assert_eq!((s.open_files, s.descriptors, s.handles_in_use), (1, 1, 0));
    m.collect();
    let s = m.stats();
    assert_eq!((s.open_files, s.descriptors, s.mapped_bytes), (0, 0, 0));
}
