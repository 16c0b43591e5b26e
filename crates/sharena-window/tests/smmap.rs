//! smmap's window semantics, where this crate follows them: a size of 0 asks for as
//! much as the window allows, a buffer needs a byte to start at, and the counters count
//! what smmap's count. Only what the crate had before these were adopted is used here,
//! so each test also runs against the code that did otherwise.

mod common;

use common::{manager, page, pattern_bytes, TempFile};
use sharena_window::{Config, Error, SlidingBuffer};

#[test]
fn size_zero_maps_as_much_as_the_window_allows() {
    let pg = page();
    let size = 40 * pg + 123;
    let file = TempFile::patterned("smmap-zero", size);
    let m = manager(Config::sliding().window_size(8 * pg));
    let mut c = m.cursor(file.path()).unwrap();
    // A new window starts at the offset's page and is one window long; the view runs
    // from the offset to its end.
    let at = 10 * pg + 100;
    let got = c.use_region(at, 0).unwrap().to_vec();
    assert_eq!(c.window(), Some(10 * pg..18 * pg));
    assert_eq!((c.begin(), c.end()), (at, 18 * pg));
    assert_eq!(got, pattern_bytes(at, 18 * pg - at));
    // Inside the region in use: to the region's end.
    assert_eq!(c.use_region(12 * pg, 0).unwrap().len() as u64, 6 * pg);
    // Clipped at the end of the file, or at the next region, a window grows left into
    // the room that leaves (as any window does); the view still ends where it does.
    assert_eq!(
        c.use_region(size - 5, 0).unwrap(),
        &pattern_bytes(size - 5, 5)[..]
    );
    assert_eq!(c.window(), Some(33 * pg..size));
    let mut d = m.cursor(file.path()).unwrap();
    assert_eq!(d.use_region(5 * pg, 0).unwrap().len() as u64, 5 * pg);
    assert_eq!(d.window(), Some(2 * pg..10 * pg));

    // The static manager maps the whole file, and the view runs to its end.
    let whole = manager(Config::static_files());
    let mut c = whole.cursor(file.path()).unwrap();
    let got = c.use_region(3 * pg + 1, 0).unwrap().to_vec();
    assert_eq!(c.window(), Some(0..size));
    assert_eq!(got, pattern_bytes(3 * pg + 1, size - 3 * pg - 1));
    assert!(matches!(
        c.use_region(size, 0),
        Err(Error::OffsetPastEnd { .. })
    ));
}

#[test]
fn a_buffer_over_an_empty_file_or_from_its_end_is_refused() {
    let m = manager(Config::sliding());
    let empty = TempFile::patterned("smmap-empty", 0);
    let e = SlidingBuffer::new(m.cursor(empty.path()).unwrap(), 0).unwrap_err();
    assert!(
        matches!(
            e,
            Error::OffsetPastEnd {
                offset: 0,
                file_size: 0
            }
        ),
        "{e:?}"
    );
    let file = TempFile::patterned("smmap-end", 5000);
    let e = SlidingBuffer::new(m.cursor(file.path()).unwrap(), 5000).unwrap_err();
    assert!(
        matches!(
            e,
            Error::OffsetPastEnd {
                offset: 5000,
                file_size: 5000
            }
        ),
        "{e:?}"
    );
    let last = SlidingBuffer::new(m.cursor(file.path()).unwrap(), 4999).unwrap();
    assert_eq!(last.len(), 1);
}

#[test]
fn counters_count_what_smmaps_count() {
    // smmap counts a region by the bytes it maps of the file (41,083 here), not by the
    // whole pages under it (45,056 with 4 KiB pages), and counts a file as open only
    // once a region of it is mapped.
    let size = 41_083;
    let file = TempFile::patterned("smmap-count", size);
    let m = manager(Config::sliding());
    let mut c = m.cursor(file.path()).unwrap();
    let s = m.stats();
    assert_eq!(
        (s.open_files, s.handles, s.mapped_bytes),
        (0, 0, 0),
        "{s:?}"
    );
    c.use_region(100, 10).unwrap();
    let s = m.stats();
    assert_eq!(
        (s.open_files, s.handles, s.mapped_bytes),
        (1, 1, size),
        "{s:?}"
    );
    // A second region of the same file: still one open file.
    let pg = page();
    let small = manager(Config::sliding().window_size(pg));
    let mut first = small.cursor(file.path()).unwrap();
    let mut second = small.cursor(file.path()).unwrap();
    first.use_region(0, 1).unwrap();
    second.use_region(size - 1, 1).unwrap();
    let s = small.stats();
    let last = size - size / pg * pg;
    assert_eq!(
        (s.open_files, s.handles, s.mapped_bytes),
        (1, 2, pg + last),
        "{s:?}"
    );
    // The file stays open while a region is mapped, with no cursor left.
    drop((first, second));
    assert_eq!(small.stats().open_files, 1);
    small.collect();
    assert_eq!(small.stats().open_files, 0);
}
