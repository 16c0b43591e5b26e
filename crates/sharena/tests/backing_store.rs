//! Running out of backing store: a named or file-backed segment the file
//! system cannot hold fails at create with `Error::NoSpace` and leaves
//! nothing behind; one that is created has every byte reserved; and
//! `reserve(false)` is the lazy create, whose writes can die of SIGBUS.
//!
//! The small-file-system case mounts an 8 MiB tmpfs (root only, with the
//! mount system call; otherwise it prints why and skips).

mod common;

use common::{role, shm_exists, ShmGuard};
use sharena::SegmentOptions;
use sharena::{AllocatorKind, Error, FreeList, Offset, OpenOptions, RegionId, Segment};
use sharena_testkit::harness::{Exit, Spawn};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const MIB: u64 = 1 << 20;
const PATH_VAR: &str = "SHARENA_PATH";

fn raw(size: u64) -> SegmentOptions {
    SegmentOptions::new(AllocatorKind::Raw, size)
}

/// Bytes the object's blocks take on its file system.
fn allocated(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().blocks() * 512
}

fn dev_shm(name: &str) -> PathBuf {
    Path::new("/dev/shm").join(&name[1..])
}

#[test]
fn a_segment_larger_than_dev_shm_fails_at_create_and_leaves_no_name() {
    let st = nix::sys::statvfs::statvfs("/dev/shm").unwrap();
    let total = st.blocks() * st.fragment_size();
    let size = total + (1 << 30);
    assert!(
        size < sharena::layout::MAX_SEGMENT_LEN,
        "/dev/shm is {total} bytes"
    );
    let g = ShmGuard::new("huge");
    let check = |e: Error| match e {
        Error::NoSpace {
            segment,
            size: asked,
            available,
        } => {
            assert_eq!((segment.as_str(), asked), (g.name(), size));
            assert!(available <= total, "{available} > {total}");
        }
        e => panic!("expected NoSpace, got {e}"),
    };
    check(Segment::create(g.name(), &raw(size)).unwrap_err());
    assert!(!shm_exists(g.name()));
    check(Segment::create_or_open(g.name(), &raw(size)).unwrap_err());
    assert!(!shm_exists(g.name()));
    let e = FreeList::create(g.name(), size).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::NoSpace { .. }), "{e}");
    assert!(
        msg.contains(&size.to_string()) && msg.contains("free"),
        "{msg}"
    );
    assert!(!shm_exists(g.name()));
}

#[test]
fn a_created_segment_has_every_byte_reserved() {
    let size = 8 * MIB;
    let g = ShmGuard::new("reserved");
    let _seg = Segment::create(g.name(), &raw(size)).unwrap();
    assert!(allocated(&dev_shm(g.name())) >= size);
    let t = common::TempPath::new("reserved.shm");
    let _file = Segment::create_file(t.path(), &raw(size)).unwrap();
    assert!(allocated(t.path()) >= size);
}

#[test]
fn reserve_false_creates_lazily() {
    let size = 8 * MIB;
    let g = ShmGuard::new("lazy");
    let _seg = Segment::create(g.name(), &raw(size).reserve(false)).unwrap();
    let taken = allocated(&dev_shm(g.name()));
    assert!(taken < size / 2, "{taken} of {size} bytes allocated");
}

/// A tmpfs of `size`, mounted for one test and unmounted when dropped.
struct SmallFs(PathBuf);

impl SmallFs {
    fn mount(test: &str, size: &str) -> Option<SmallFs> {
        use nix::mount::{mount, MsFlags};
        if !nix::unistd::geteuid().is_root() {
            eprintln!("{test}: skipped: mounting a small tmpfs needs root");
            return None;
        }
        let dir = sharena_testkit::unique_path("tmpfs");
        std::fs::create_dir(&dir).unwrap();
        let data = format!("size={size},mode=0700");
        match mount(
            Some("tmpfs"),
            &dir,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(data.as_str()),
        ) {
            Ok(()) => Some(SmallFs(dir)),
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                eprintln!("{test}: skipped: cannot mount a tmpfs: {e}");
                None
            }
        }
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        // Lazily: a child still holding a mapping must not keep it mounted.
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// The role: open the file-backed segment and write every byte of its pool.
#[test]
fn pool_writer() {
    let Some(_) = role() else { return };
    let seg = Segment::open_file(std::env::var(PATH_VAR).unwrap(), &OpenOptions::new()).unwrap();
    let pool = seg.view().region(RegionId::Pool);
    let page = [0x5au8; 4096];
    let mut at = pool.offset;
    while at + 4096 <= pool.offset + pool.len {
        seg.view().write_bytes(Offset::new(at), &page).unwrap();
        at += 4096;
    }
}

fn write_pool(path: &Path) -> Exit {
    let mut child = Spawn::test("pool_writer", "write")
        .env(PATH_VAR, path)
        .spawn()
        .unwrap();
    child
        .wait_timeout(Duration::from_secs(60))
        .unwrap()
        .unwrap()
}

#[test]
fn a_file_segment_on_a_full_tmpfs_fails_at_create_not_at_a_write() {
    let Some(fs) = SmallFs::mount("a_file_segment_on_a_full_tmpfs", "8m") else {
        return;
    };
    std::fs::write(fs.0.join("filler"), vec![1u8; 5 << 20]).unwrap();
    let path = fs.0.join("heap.shm");
    match Segment::create_file(&path, &raw(4 * MIB)).unwrap_err() {
        Error::NoSpace {
            size, available, ..
        } => {
            assert_eq!(size, 4 * MIB);
            assert!(available < 4 * MIB && available > 2 * MIB, "{available}");
        }
        e => panic!("expected NoSpace, got {e}"),
    }
    assert!(!path.exists(), "a failed create removes its file");
    let e = FreeList::create_file(&path, 4 * MIB).unwrap_err();
    assert!(matches!(e, Error::NoSpace { .. }), "{e}");
    assert!(!path.exists());
    // What fits is created, reserved, and can be written all through.
    let seg = Segment::create_file(&path, &raw(2 * MIB)).unwrap();
    assert!(allocated(&path) >= 2 * MIB);
    assert_eq!(write_pool(&path), Exit::Exited(0));
    drop(seg);
    std::fs::remove_file(&path).unwrap();
    // Unreserved, the same 4 MiB is created, and a write past the space
    // the file system has is SIGBUS: what reserving prevents.
    let seg = Segment::create_file(&path, &raw(4 * MIB).reserve(false)).unwrap();
    assert_eq!(
        write_pool(&path),
        Exit::Signaled(nix::sys::signal::Signal::SIGBUS)
    );
    drop(seg);
}
