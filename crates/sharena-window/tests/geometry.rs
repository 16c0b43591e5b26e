//! Exact window bounds on files whose sizes sit just below, at and above page multiples.

mod common;

use common::{manager, page, pattern_bytes, TempFile};
use sharena_window::{Config, Flavour};

#[test]
fn bounds_around_page_multiples() {
    let pg = page();
    for pages in [1, 2, 3] {
        for size in [pages * pg - 1, pages * pg, pages * pg + 1] {
            let file = TempFile::patterned("bounds", size);
            // One-page windows: the window is the page holding the offset, clipped at
            // the end of the file.
            let m = manager(Config::sliding().window_size(pg));
            for offset in [0, pg - 1, pg, size - 1, size / 2] {
                if offset >= size {
                    continue;
                }
                let mut c = m.cursor(file.path()).unwrap();
                let bytes = c.use_region(offset, 1).unwrap().to_vec();
                let begin = offset / pg * pg;
                let end = (begin + pg).min(size);
                assert_eq!(c.window(), Some(begin..end), "size {size} offset {offset}");
                assert_eq!((c.begin(), c.end(), c.size()), (offset, offset + 1, 1));
                assert_eq!(bytes, pattern_bytes(offset, 1));
                drop(c);
                m.collect();
            }
            // Window size 0 maps the whole file, wherever the request falls.
            let whole = manager(Config::static_files());
            assert_eq!(whole.flavour(), Flavour::Static);
            let mut c = whole.cursor(file.path()).unwrap();
            let got = c.use_region(size - 1, 100).unwrap().to_vec();
            assert_eq!(c.window(), Some(0..size), "static, size {size}");
            assert_eq!(got, pattern_bytes(size - 1, 1));
            let s = whole.stats();
            assert_eq!(
                (s.mapped_bytes, s.mapped_page_bytes),
                (size, size.div_ceil(pg) * pg)
            );
        }
    }
}

#[test]
fn request_is_clipped_at_end_of_file() {
    let pg = page();
    let size = 3 * pg + 10;
    let file = TempFile::patterned("clip", size);
    let m = manager(Config::sliding().window_size(16 * pg));
    let mut c = m.cursor(file.path()).unwrap();
    let bytes = c.use_region(2 * pg, 1 << 20).unwrap();
    assert_eq!(bytes, &pattern_bytes(2 * pg, pg + 10)[..]);
    assert_eq!(
        c.window(),
        Some(0..size),
        "grew left to the start, clipped at the end"
    );
    assert_eq!(c.end(), size);
}

#[test]
fn windows_grow_left_then_right_and_never_overlap() {
    let pg = page();
    let file = TempFile::patterned("grow", 64 * pg);
    let m = manager(Config::sliding().window_size(4 * pg));
    let mut first = m.cursor(file.path()).unwrap();
    first.use_region(20 * pg + 5, 10).unwrap();
    // Left first: [17p, 21p) holds the request's page and three pages before it.
    assert_eq!(first.window(), Some(17 * pg..21 * pg));
    let mut second = m.cursor(file.path()).unwrap();
    second.use_region(22 * pg, 10).unwrap();
    // One page of room on the left (up to a's end), the rest to the right.
    assert_eq!(second.window(), Some(21 * pg..25 * pg));
    let mut third = m.cursor(file.path()).unwrap();
    third.use_region(16 * pg, pg as usize).unwrap();
    // Squeezed between nothing on the left and first on the right.
    assert_eq!(third.window(), Some(13 * pg..17 * pg));
    // A request inside an existing region shares it.
    let mut inside = m.cursor(file.path()).unwrap();
    inside.use_region(18 * pg, 1).unwrap();
    assert_eq!(inside.window(), first.window());
    // A request larger than the window is covered in one region where the gap allows.
    let mut large = m.cursor(file.path()).unwrap();
    large.use_region(30 * pg, 10 * pg as usize).unwrap();
    assert_eq!(large.window(), Some(30 * pg..40 * pg));
    assert_eq!(large.size() as u64, 10 * pg);
    let stats = m.stats();
    assert_eq!(stats.handles, 4);
    assert_eq!(stats.mapped_bytes, 22 * pg);
}

#[test]
fn a_request_crossing_into_the_next_region_stops_at_it() {
    let pg = page();
    let file = TempFile::patterned("cross", 32 * pg);
    let m = manager(Config::sliding().window_size(4 * pg));
    let mut a = m.cursor(file.path()).unwrap();
    a.use_region(8 * pg, 1).unwrap();
    assert_eq!(a.window(), Some(5 * pg..9 * pg));
    let mut b = m.cursor(file.path()).unwrap();
    let n = b.use_region(4 * pg, 3 * pg as usize).unwrap().len() as u64;
    assert_eq!(b.window(), Some(pg..5 * pg));
    assert_eq!(n, pg, "the view ends where the next region begins");
}

#[test]
fn a_file_that_grew_is_seen_at_its_new_size() {
    use std::io::Write;
    let pg = page();
    let file = TempFile::patterned("grew", pg + 100);
    let m = manager(Config::sliding().window_size(8 * pg));
    let mut c = m.cursor(file.path()).unwrap();
    c.use_region(0, 10).unwrap();
    assert_eq!(c.window(), Some(0..pg + 100));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(file.path())
        .unwrap();
    f.write_all(&pattern_bytes(pg + 100, 3 * pg)).unwrap();
    drop(f);
    assert_eq!(c.file_size().unwrap(), 4 * pg + 100);
    // Past the old end: a new window, starting where the old region (still mapped)
    // ends, since that end is not page aligned.
    let got = c.use_region(pg + 200, 10).unwrap().to_vec();
    assert_eq!(got, pattern_bytes(pg + 200, 10));
    assert_eq!(c.window(), Some(pg + 100..4 * pg + 100));
    c.unuse_region();
    m.collect();
    // With nothing mapped, the window is page aligned again.
    c.use_region(pg + 200, 10).unwrap();
    assert_eq!(c.window(), Some(0..4 * pg + 100));
}
