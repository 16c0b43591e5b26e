//! Bad input: each case asserts its specific error and that nothing was
//! created or changed (issue 2).

mod common;

use common::{shm_exists, unique_name, ShmGuard, TempPath};
use sharena::{AllocatorKind, Error, OpenOptions, Segment, SegmentOptions};
use std::io::Write;
use std::time::Duration;

const MIB: u64 = 1 << 20;

fn opts(kind: AllocatorKind, size: u64) -> SegmentOptions {
    SegmentOptions::new(kind, size)
}

fn quick() -> OpenOptions {
    OpenOptions::new().timeout(Duration::from_millis(50))
}

#[test]
fn open_of_a_missing_name_is_not_found() {
    let name = unique_name("missing");
    let err = Segment::open(&name, &quick()).unwrap_err();
    assert!(
        matches!(err, Error::NotFound { ref segment } if *segment == name),
        "{err}"
    );
    assert!(!shm_exists(&name));
}

#[test]
fn create_of_a_taken_name_is_already_exists_and_changes_nothing() {
    let g = ShmGuard::new("taken");
    let first = Segment::create(g.name(), &opts(AllocatorKind::Bump, MIB)).unwrap();
    let before = *first.view().header();
    let err = Segment::create(g.name(), &opts(AllocatorKind::Slab, 2 * MIB)).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    let again = Segment::open(g.name(), &quick()).unwrap();
    assert_eq!(*again.view().header(), before);
    assert_eq!(again.kind(), AllocatorKind::Bump);
}

#[test]
fn bad_names_are_refused_before_anything_is_made() {
    let long = format!("/{}", "n".repeat(255));
    for name in ["", "no-slash", "/two/slashes", &long, "/nul\0byte", "/"] {
        for r in [
            Segment::create(name, &opts(AllocatorKind::Raw, MIB)).map(drop),
            Segment::open(name, &quick()).map(drop),
            Segment::unlink(name),
        ] {
            let err = r.unwrap_err();
            assert!(matches!(err, Error::InvalidName { .. }), "{name:?}: {err}");
        }
    }
    assert_eq!(long.len(), 256);
}

#[test]
fn impossible_sizes_are_clear_errors_and_leave_nothing() {
    for size in [
        0,
        100,
        4096,
        u64::from(u32::MAX) >> 20,
        usize::MAX as u64,
        1 << 63,
    ] {
        let name = unique_name("size");
        let err = Segment::create(&name, &opts(AllocatorKind::FreeList, size)).unwrap_err();
        assert!(
            matches!(err, Error::InvalidSize { size: s, .. } if s == size),
            "{size}: {err}"
        );
        assert!(!err.to_string().is_empty());
        assert!(!shm_exists(&name), "{name} left behind");
        let err = Segment::anonymous(&opts(AllocatorKind::FreeList, size)).unwrap_err();
        assert!(matches!(err, Error::InvalidSize { .. }), "{err}");
        let path = TempPath::new("size");
        let err = Segment::create_file(&path.0, &opts(AllocatorKind::Bump, size)).unwrap_err();
        assert!(matches!(err, Error::InvalidSize { .. }), "{err}");
        assert!(!path.0.exists());
    }
}

/// Writes a valid segment to a file, lets `corrupt` change its bytes, and
/// opens it again.
fn corrupted(corrupt: impl FnOnce(&mut Vec<u8>)) -> (TempPath, Error) {
    let path = TempPath::new("corrupt");
    drop(Segment::create_file(&path.0, &opts(AllocatorKind::Bump, MIB)).unwrap());
    let mut bytes = std::fs::read(&path.0).unwrap();
    corrupt(&mut bytes);
    std::fs::write(&path.0, &bytes).unwrap();
    let err = Segment::open_file(&path.0, &quick().kind(AllocatorKind::Bump)).unwrap_err();
    let after = std::fs::read(&path.0).unwrap();
    assert_eq!(after, bytes, "opening changed the bytes");
    (path, err)
}

fn header_of(bytes: &[u8]) -> sharena::Header {
    bytemuck::pod_read_unaligned(&bytes[..256])
}

fn reseal(bytes: &mut [u8], edit: impl FnOnce(&mut sharena::Header)) {
    let mut h = header_of(bytes);
    edit(&mut h);
    h.seal();
    bytes[..256].copy_from_slice(bytemuck::bytes_of(&h));
}

#[test]
fn wrong_magic() {
    let (_p, err) = corrupted(|b| b[0] = b'X');
    assert!(matches!(err, Error::BadMagic { .. }), "{err}");
}

#[test]
fn other_layout_version() {
    let (_p, err) = corrupted(|b| reseal(b, |h| h.layout_version = 9));
    assert!(
        matches!(
            err,
            Error::VersionMismatch {
                found: 9,
                expected: 1,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn kind_not_the_one_asked_for() {
    let path = TempPath::new("kind");
    drop(Segment::create_file(&path.0, &opts(AllocatorKind::Slab, MIB)).unwrap());
    let err = Segment::open_file(&path.0, &quick().kind(AllocatorKind::FreeList)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::KindMismatch {
                found: AllocatorKind::Slab,
                expected: AllocatorKind::FreeList,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn unknown_kind() {
    let (_p, err) = corrupted(|b| reseal(b, |h| h.kind = 77));
    assert!(matches!(err, Error::UnknownKind { found: 77, .. }), "{err}");
}

#[test]
fn shorter_than_the_header_says() {
    let (_p, err) = corrupted(|b| b.truncate(b.len() - 4096));
    assert!(matches!(err, Error::LengthMismatch { .. }), "{err}");
}

#[test]
fn region_out_of_bounds() {
    let (_p, err) = corrupted(|b| reseal(b, |h| h.regions[2].len += 4096));
    assert!(
        matches!(err, Error::RegionOutOfBounds { region: "pool", .. }),
        "{err}"
    );
    let (_p, err) = corrupted(|b| reseal(b, |h| h.regions[0].offset = 0));
    assert!(
        matches!(
            err,
            Error::RegionOutOfBounds {
                region: "metadata",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn regions_overlap() {
    let (_p, err) = corrupted(|b| reseal(b, |h| h.regions[2].offset = h.regions[1].offset));
    assert!(matches!(err, Error::RegionsOverlap { .. }), "{err}");
}

#[test]
fn region_misaligned() {
    let (_p, err) = corrupted(|b| reseal(b, |h| h.regions[1].len += 8));
    assert!(
        matches!(
            err,
            Error::RegionMisaligned {
                region: "state",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn checksum_fails() {
    let (_p, err) = corrupted(|b| b[0x68] ^= 0x40);
    assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err}");
}

#[test]
fn zero_length_and_one_byte_files() {
    for len in [0usize, 1] {
        let path = TempPath::new("tiny");
        std::fs::File::create(&path.0)
            .unwrap()
            .write_all(&vec![b'S'; len])
            .unwrap();
        let err = Segment::open_file(&path.0, &quick()).unwrap_err();
        assert!(
            matches!(err, Error::TooSmall { len: l, .. } if l == len as u64),
            "{err}"
        );
        assert_eq!(std::fs::metadata(&path.0).unwrap().len(), len as u64);
    }
}

#[test]
fn a_directory_is_not_a_segment() {
    let err = Segment::open_file(std::env::temp_dir(), &quick()).unwrap_err();
    assert!(!matches!(err, Error::NotFound { .. }), "{err}");
}

#[test]
fn corrupt_named_segment_is_refused() {
    let g = ShmGuard::new("corrupt-named");
    drop(Segment::create(g.name(), &opts(AllocatorKind::Raw, MIB)).unwrap());
    let path = std::path::Path::new("/dev/shm").join(&g.name()[1..]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8] = 42; // layout_version
    std::fs::write(&path, &bytes).unwrap();
    let err = Segment::open(g.name(), &quick()).unwrap_err();
    assert!(
        matches!(err, Error::VersionMismatch { found: 42, .. }),
        "{err}"
    );
    assert!(err.to_string().contains(g.name()));
}

#[test]
fn error_messages_name_the_segment_and_field() {
    let (p, err) = corrupted(|b| reseal(b, |h| h.regions[2].len += 4096));
    let msg = err.to_string();
    assert!(msg.contains(&p.0.display().to_string()), "{msg}");
    assert!(msg.contains("pool"), "{msg}");
}
