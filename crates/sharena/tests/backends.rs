//! Every backend: create, write, reopen (where it has a name), read back.

mod common;

use common::{ShmGuard, TempPath};
use sharena::layout::sync::Ordering;
use sharena::{
    AlignedBuffer, AllocatorKind, BackendKind, Error, Offset, OpenOptions, Opened, RegionId,
    Segment, SegmentOptions,
};

const MIB: u64 = 1 << 20;

fn pool_start(seg: &Segment) -> Offset {
    Offset::new(seg.view().region(RegionId::Pool).offset)
}

fn round_trip(seg: &Segment) {
    let at = pool_start(seg);
    seg.view().write_bytes(at, b"sharena").unwrap();
    let mut out = [0u8; 7];
    seg.view().read_bytes(at, &mut out).unwrap();
    assert_eq!(&out, b"sharena");
    let end = Offset::new(seg.len() - 4);
    assert!(matches!(
        seg.view().write_bytes(end, b"12345678"),
        Err(Error::OutOfBounds { .. })
    ));
    assert!(matches!(
        seg.view().read_bytes(Offset::NULL, &mut out),
        Err(Error::InvalidOffset { .. })
    ));
}

#[test]
fn named_create_open_unlink() {
    let g = ShmGuard::new("named");
    let seg =
        Segment::create(g.name(), &SegmentOptions::new(AllocatorKind::Bump, 2 * MIB)).unwrap();
    assert_eq!(seg.backend(), BackendKind::Named);
    assert_eq!(seg.len(), 2 * MIB);
    round_trip(&seg);
    let other = Segment::open(g.name(), &OpenOptions::new().kind(AllocatorKind::Bump)).unwrap();
    let mut out = [0u8; 7];
    other
        .view()
        .read_bytes(pool_start(&other), &mut out)
        .unwrap();
    assert_eq!(&out, b"sharena");
    let meta = std::fs::metadata(std::path::Path::new("/dev/shm").join(&g.name()[1..])).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    Segment::unlink(g.name()).unwrap();
    assert!(!common::shm_exists(g.name()));
    // The mappings stay usable after unlink.
    other
        .view()
        .read_bytes(pool_start(&other), &mut out)
        .unwrap();
    assert!(matches!(
        Segment::unlink(g.name()),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn named_mode_is_honoured() {
    let g = ShmGuard::new("mode");
    let _seg = Segment::create(
        g.name(),
        &SegmentOptions::new(AllocatorKind::Raw, MIB).mode(0o640),
    )
    .unwrap();
    let meta = std::fs::metadata(std::path::Path::new("/dev/shm").join(&g.name()[1..])).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
}

#[test]
fn create_or_open_reports_which() {
    let g = ShmGuard::new("coo");
    let opts = SegmentOptions::new(AllocatorKind::FreeList, MIB);
    let (a, how_a) = Segment::create_or_open(g.name(), &opts).unwrap();
    let (b, how_b) = Segment::create_or_open(g.name(), &opts).unwrap();
    assert_eq!((how_a, how_b), (Opened::Created, Opened::Existing));
    assert_eq!(a.view().header(), b.view().header());
    let err = Segment::create_or_open(g.name(), &SegmentOptions::new(AllocatorKind::Slab, MIB))
        .unwrap_err();
    assert!(matches!(err, Error::KindMismatch { .. }), "{err}");
}

#[test]
fn anonymous_segment() {
    let seg = Segment::anonymous(&SegmentOptions::new(AllocatorKind::Slab, 4 * MIB)).unwrap();
    assert_eq!(seg.backend(), BackendKind::Anonymous);
    assert_eq!(seg.name(), "<anonymous>");
    round_trip(&seg);
}

#[test]
fn file_segment_persists() {
    let path = TempPath::new("file");
    {
        let seg = Segment::create_file(&path.0, &SegmentOptions::new(AllocatorKind::FreeList, MIB))
            .unwrap();
        assert_eq!(seg.backend(), BackendKind::File);
        round_trip(&seg);
    }
    let seg = Segment::open_file(&path.0, &OpenOptions::new()).unwrap();
    let mut out = [0u8; 7];
    seg.view().read_bytes(pool_start(&seg), &mut out).unwrap();
    assert_eq!(&out, b"sharena");
    let err = Segment::create_file(&path.0, &SegmentOptions::new(AllocatorKind::FreeList, MIB))
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    let missing = TempPath::new("missing");
    assert!(matches!(
        Segment::open_file(&missing.0, &OpenOptions::new()),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn buffer_segments_owned_and_static() {
    let seg = Segment::in_buffer(
        AlignedBuffer::new(MIB as usize).unwrap(),
        &SegmentOptions::new(AllocatorKind::Bump, 0),
    )
    .unwrap();
    assert_eq!(seg.backend(), BackendKind::Buffer);
    assert_eq!(seg.len(), MIB);
    round_trip(&seg);
    // A leaked, unaligned slice: the segment starts at its first 128-byte boundary.
    let leaked: &'static mut [u8] = Box::leak(vec![0xAAu8; MIB as usize + 200].into_boxed_slice());
    let seg = Segment::in_buffer(
        &mut leaked[3..],
        &SegmentOptions::new(AllocatorKind::Raw, 0),
    )
    .unwrap();
    assert!(seg.len() <= MIB + 197 && seg.len() > MIB);
    round_trip(&seg);
    let tiny: &'static mut [u8] = Box::leak(vec![0u8; 300].into_boxed_slice());
    assert!(matches!(
        Segment::in_buffer(tiny, &SegmentOptions::new(AllocatorKind::Raw, 0)),
        Err(Error::InvalidSize { .. })
    ));
}

#[test]
fn buffer_segment_is_shared_by_threads() {
    let seg = Segment::in_buffer(
        AlignedBuffer::new(MIB as usize).unwrap(),
        &SegmentOptions::new(AllocatorKind::Raw, 0),
    )
    .unwrap();
    let counter = pool_start(&seg);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let c = seg.view().atomic_u64(counter).unwrap();
                for _ in 0..10_000 {
                    c.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(
        seg.view()
            .atomic_u64(counter)
            .unwrap()
            .load(Ordering::Relaxed),
        40_000
    );
}

#[test]
fn list_finds_sharena_segments_by_magic() {
    let g = ShmGuard::new("listed");
    let _seg =
        Segment::create(g.name(), &SegmentOptions::new(AllocatorKind::Handles, MIB)).unwrap();
    // A non-sharena object with a sharena-looking name is not listed.
    let impostor = ShmGuard::new("impostor");
    std::fs::write(
        std::path::Path::new("/dev/shm").join(&impostor.name()[1..]),
        vec![0u8; 8192],
    )
    .unwrap();
    let all = sharena::list().unwrap();
    let mine = all.iter().find(|i| i.name == g.name()).expect("listed");
    assert_eq!(mine.kind, Some(AllocatorKind::Handles));
    assert_eq!(mine.size, MIB);
    assert!(mine.ready);
    assert_eq!(mine.creator_pid, std::process::id());
    assert!(all.iter().all(|i| i.name != impostor.name()));
}

#[test]
fn allocator_handles_create_or_open() {
    let g = ShmGuard::new("handles-coo");
    let (a, how_a) = sharena::Slab::create_or_open(g.name(), MIB, 64).unwrap();
    let (b, how_b) = sharena::Slab::create_or_open(g.name(), MIB, 64).unwrap();
    assert_eq!((how_a, how_b), (Opened::Created, Opened::Existing));
    assert_eq!(a.slot_count(), b.slot_count());
    let err = sharena::Bump::create_or_open(g.name(), MIB).unwrap_err();
    assert!(matches!(err, Error::KindMismatch { .. }), "{err}");
}
