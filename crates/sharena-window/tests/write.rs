//! Read-write windows, flush, exclusivity of writable regions, and hints.

mod common;

use common::{manager, page, pattern_bytes, TempFile};
use sharena_window::{Config, Error, Hint, SlidingBuffer};

#[test]
fn writes_reach_the_file() {
    let pg = page();
    let file = TempFile::patterned("rw", 4 * pg);
    let m = manager(Config::sliding().window_size(2 * pg).read_write(true));
    let mut c = m.cursor(file.path()).unwrap();
    c.use_region(pg + 10, 5).unwrap();
    c.bytes_mut().unwrap().copy_from_slice(b"hello");
    c.flush().unwrap();
    c.use_region(3 * pg, 2).unwrap();
    c.bytes_mut().unwrap().copy_from_slice(b"!!");
    drop(c);
    let mut expected = pattern_bytes(0, 4 * pg);
    expected[(pg + 10) as usize..(pg + 15) as usize].copy_from_slice(b"hello");
    expected[3 * pg as usize..3 * pg as usize + 2].copy_from_slice(b"!!");
    assert_eq!(std::fs::read(file.path()).unwrap(), expected);
}

#[test]
fn writable_regions_are_never_shared() {
    let pg = page();
    let file = TempFile::patterned("rw-excl", 4 * pg);
    let m = manager(Config::sliding().window_size(2 * pg).read_write(true));
    let mut a = m.cursor(file.path()).unwrap();
    let mut b = m.cursor(file.path()).unwrap();
    a.use_region(0, 1).unwrap();
    let e = b.use_region(pg, 1).unwrap_err();
    assert!(matches!(e, Error::RegionInUse { begin: 0, .. }), "{e:?}");
    assert!(e.to_string().contains("held by another cursor"), "{e}");
    b.use_region(2 * pg, 1).unwrap(); // a different window is fine
    a.unuse_region();
    b.use_region(pg, 1).unwrap(); // and the first once a lets go
                                  // A chunk shares its region, so the cursor may not write while it lives.
    drop((a, b));
    let mut buf = SlidingBuffer::new(m.cursor(file.path()).unwrap(), 0).unwrap();
    let chunk = buf.chunks(0, 10).next().unwrap().unwrap();
    let mut cursor = buf.into_cursor();
    assert!(matches!(cursor.bytes_mut(), Err(Error::RegionInUse { .. })));
    drop(chunk);
    assert_eq!(cursor.bytes_mut().unwrap().len(), 10);
}

#[test]
fn hints_apply() {
    let pg = page();
    let file = TempFile::patterned("hints", 4 * pg);
    for hint in [Hint::Normal, Hint::Sequential, Hint::Random, Hint::WillNeed] {
        let m = manager(Config::sliding().hint(hint));
        assert_eq!(m.config().get_hint(), hint);
        let mut c = m.cursor(file.path()).unwrap();
        c.use_region(pg, 100).unwrap();
        for h in [Hint::Normal, Hint::Sequential, Hint::Random, Hint::WillNeed] {
            c.advise(h).unwrap();
        }
        assert_eq!(c.bytes(), &pattern_bytes(pg, 100)[..]);
    }
}
