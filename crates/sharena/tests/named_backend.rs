//! The named backend's promises that the other tests do not reach: a failed
//! create leaves no name, descriptors are close-on-exec, and an object that
//! stays smaller than a header is refused with its real size.

mod common;

use common::{shm_exists, ShmGuard};
use sharena::{AllocatorKind, Error, OpenOptions, Segment, SegmentOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

const MIB: u64 = 1 << 20;
/// `O_CLOEXEC` as `/proc/self/fdinfo` prints it (octal `flags:`).
const O_CLOEXEC: u32 = 0o2_000_000;

fn dev_shm(name: &str) -> PathBuf {
    Path::new("/dev/shm").join(&name[1..])
}

#[test]
fn a_failed_init_unlinks_the_name() {
    let g = ShmGuard::new("init-fails");
    let err = Segment::create_with(
        g.name(),
        &SegmentOptions::new(AllocatorKind::Raw, MIB),
        |_| {
            assert!(shm_exists(g.name()), "the object exists while init runs");
            Err(Error::Unsupported {
                op: "this init",
                by: "the test",
            })
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    assert!(!shm_exists(g.name()));
    // The name is free again.
    Segment::create(g.name(), &SegmentOptions::new(AllocatorKind::Raw, MIB)).unwrap();
}

/// The `flags:` of every descriptor of this process open on `path`.
fn fd_flags_on(path: &Path) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let entry = entry.unwrap();
        if std::fs::read_link(entry.path()).ok().as_deref() != Some(path) {
            continue;
        }
        let info = std::fs::read_to_string(Path::new("/proc/self/fdinfo").join(entry.file_name()))
            .unwrap();
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .expect("fdinfo has flags");
        out.push(u32::from_str_radix(flags.trim(), 8).unwrap());
    }
    out
}

#[test]
fn descriptors_are_close_on_exec() {
    let g = ShmGuard::new("cloexec");
    let created =
        Segment::create(g.name(), &SegmentOptions::new(AllocatorKind::Bump, MIB)).unwrap();
    let opened = Segment::open(g.name(), &OpenOptions::new()).unwrap();
    let flags = fd_flags_on(&dev_shm(g.name()));
    assert_eq!(flags.len(), 2, "one descriptor per segment: {flags:?}");
    assert!(flags.iter().all(|f| f & O_CLOEXEC != 0), "{flags:?}");
    drop((created, opened));
    assert!(fd_flags_on(&dev_shm(g.name())).is_empty());
}

#[test]
fn an_object_smaller_than_a_header_is_too_small() {
    let g = ShmGuard::new("tiny");
    std::fs::write(dev_shm(g.name()), [0u8; 100]).unwrap();
    let err = Segment::open(
        g.name(),
        &OpenOptions::new().timeout(Duration::from_millis(20)),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::TooSmall { ref segment, len: 100, .. } if segment == g.name()),
        "{err}"
    );
}
