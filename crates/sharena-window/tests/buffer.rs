//! The sliding buffer: indices relative to its start, ranges across windows, chunks,
//! empty ranges, growth, and `pread` for random misses.

mod common;

use std::borrow::Cow;
use std::io::Write;

use common::{manager, page, pattern, pattern_bytes, TempFile};
use sharena_window::{Config, Error, Hint, SlidingBuffer};

#[test]
fn indices_are_relative_to_the_start() {
    let pg = page();
    let file = TempFile::patterned("buf-start", 10 * pg + 3);
    let m = manager(Config::sliding().window_size(2 * pg));
    let mut b = SlidingBuffer::new(m.cursor(file.path()).unwrap(), 1000).unwrap();
    assert_eq!((b.start(), b.len()), (1000, 10 * pg + 3 - 1000));
    for i in [0, 1, pg, 3 * pg + 7, b.len() - 1] {
        assert_eq!(b.get(i).unwrap(), pattern(1000 + i), "index {i}");
    }
    let len = b.len();
    assert!(matches!(b.get(len), Err(Error::OutOfRange { .. })));
    assert!(matches!(b.get(u64::MAX), Err(Error::OutOfRange { .. })));
}

#[test]
fn ranges_within_and_across_windows() {
    let pg = page();
    let file = TempFile::patterned("buf-range", 10 * pg);
    let m = manager(Config::sliding().window_size(2 * pg));
    let mut b = SlidingBuffer::new(m.cursor(file.path()).unwrap(), 10).unwrap();
    let got = b.slice(5..105).unwrap();
    assert!(
        matches!(got, Cow::Borrowed(_)),
        "inside one window: no copy"
    );
    assert_eq!(&got[..], &pattern_bytes(15, 100)[..]);
    // Pin a region in the middle so a long range must cross it.
    let mut pin = m.cursor(file.path()).unwrap();
    pin.use_region(5 * pg, 1).unwrap();
    let got = b.slice(pg..8 * pg).unwrap();
    assert!(matches!(got, Cow::Owned(_)), "across windows: copied");
    assert_eq!(&got[..], &pattern_bytes(pg + 10, 7 * pg)[..]);
    let mut out = vec![0; 3 * pg as usize];
    b.read_into(4 * pg, &mut out).unwrap();
    assert_eq!(out, pattern_bytes(4 * pg + 10, 3 * pg));
}

#[test]
fn empty_and_bad_ranges() {
    let file = TempFile::patterned("buf-empty", 5000);
    let m = manager(Config::sliding());
    let mut b = SlidingBuffer::new(m.cursor(file.path()).unwrap(), 100).unwrap();
    let len = b.len();
    assert!(b.slice(7..7).unwrap().is_empty(), "an empty range is empty");
    assert!(b.slice(len..len).unwrap().is_empty());
    assert!(b.slice(0..0).unwrap().is_empty());
    assert!(matches!(b.slice(0..len + 1), Err(Error::OutOfRange { .. })));
    #[allow(clippy::reversed_empty_ranges)]
    let reversed = b.slice(10..5);
    assert!(matches!(
        reversed,
        Err(Error::OutOfRange {
            start: 10,
            end: 5,
            ..
        })
    ));
    assert_eq!(b.slice(0..len).unwrap().len() as u64, len);
    let mut nothing = [0u8; 0];
    b.read_into(len, &mut nothing).unwrap();
    // A buffer may not start at the end of the file (tests/smmap.rs), nor past it.
    assert!(matches!(
        SlidingBuffer::new(m.cursor(file.path()).unwrap(), 5001),
        Err(Error::OffsetPastEnd { .. })
    ));
}

#[test]
fn chunks_cover_the_file_once() {
    let pg = page();
    let size = 9 * pg + 17;
    let file = TempFile::patterned("buf-chunks", size);
    let m = manager(Config::sliding().window_size(2 * pg));
    let mut b = SlidingBuffer::new(m.cursor(file.path()).unwrap(), 3).unwrap();
    let mut next = 0;
    let mut kept = Vec::new();
    for chunk in b.chunks(0, 3 * pg as usize / 2) {
        let chunk = chunk.unwrap();
        assert_eq!(chunk.index(), next);
        assert!(!chunk.is_empty() && chunk.len() <= 3 * pg as usize / 2);
        assert_eq!(&chunk[..], &pattern_bytes(3 + next, chunk.len() as u64)[..]);
        next += chunk.len() as u64;
        kept.push(chunk);
    }
    assert_eq!(next, size - 3);
    // Chunks keep their regions mapped: every region is in use while they live.
    assert!(m.regions().iter().all(|r| r.in_use));
    drop(kept);
    assert_eq!(b.chunks(0, 0).count(), 0);
    assert_eq!(b.chunks(size, 10).count(), 0);
}

#[test]
fn growth_is_seen_when_an_index_passes_the_old_end() {
    let file = TempFile::patterned("buf-grow", 100);
    let m = manager(Config::sliding());
    let mut b = SlidingBuffer::new(m.cursor(file.path()).unwrap(), 0).unwrap();
    assert_eq!(b.len(), 100);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(file.path())
        .unwrap();
    f.write_all(&pattern_bytes(100, 50)).unwrap();
    assert_eq!(b.get(120).unwrap(), pattern(120));
    assert_eq!(b.len(), 150);
}

#[test]
fn random_hint_reads_misses_without_evicting() {
    let pg = page();
    let file = TempFile::patterned("buf-random", 64 * pg);
    let config = Config::sliding()
        .window_size(4 * pg)
        .memory_budget(8 * pg)
        .hint(Hint::Random);
    let m = manager(config);
    let mut b = SlidingBuffer::new(m.cursor(file.path()).unwrap(), 0).unwrap();
    let mut out = [0u8; 100];
    b.read_into(0, &mut out).unwrap();
    b.read_into(20 * pg, &mut out).unwrap();
    let before: Vec<_> = m.regions().into_iter().map(|r| r.window).collect();
    assert_eq!(before.len(), 2, "windows are mapped while there is room");
    for at in [40 * pg, 50 * pg + 3, 10 * pg - 50] {
        b.read_into(at, &mut out).unwrap();
        assert_eq!(out[..], pattern_bytes(at, 100)[..]);
    }
    let mut after: Vec<_> = m.regions().into_iter().map(|r| r.window).collect();
    after.sort_by_key(|r| r.start);
    assert_eq!(after, before, "misses were read, not mapped");
    assert!(m.stats().mapped_page_bytes <= 8 * pg);
}

#[test]
fn random_misses_past_an_old_end_read_the_new_bytes() {
    // A full budget answers "no room" from the size last read; a miss past that size
    // must still see the bytes a file gained since.
    let pg = page();
    let file = TempFile::patterned("buf-random-grow", 16 * pg);
    let config = Config::sliding()
        .window_size(4 * pg)
        .memory_budget(4 * pg)
        .hint(Hint::Random);
    let m = manager(config);
    let mut b = SlidingBuffer::new(m.cursor(file.path()).unwrap(), 0).unwrap();
    let mut out = [0u8; 100];
    b.read_into(0, &mut out).unwrap();
    b.read_into(8 * pg, &mut out).unwrap();
    assert_eq!(out[..], pattern_bytes(8 * pg, 100)[..], "a miss, read");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(file.path())
        .unwrap();
    f.write_all(&pattern_bytes(16 * pg, 8 * pg)).unwrap();
    for at in [20 * pg + 7, 9 * pg, 16 * pg - 50] {
        b.read_into(at, &mut out).unwrap();
        assert_eq!(out[..], pattern_bytes(at, 100)[..], "at {at}");
    }
    assert_eq!(b.len(), 24 * pg);
    assert_eq!(m.stats().handles, 1, "nothing more was mapped");
}
