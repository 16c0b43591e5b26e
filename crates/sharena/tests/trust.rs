//! What opening a segment trusts: its owner must be this process's
//! effective uid and no one else may write it, unless the caller says so;
//! a link, FIFO or directory in a file's place is refused; segments are
//! made with exactly the mode asked for.
//!
//! The foreign creator is a real second user (`sharena_testkit::users`):
//! this test binary re-spawned in a role under that uid. Not root: those
//! tests print why and skip.

mod common;

use common::{recv, role, send, ShmGuard, TempPath};
use sharena::{AllocatorKind, Error, FreeList, OpenOptions, Opened, Segment, SegmentOptions};
use sharena_testkit::harness::{Exit, Spawn};
use sharena_testkit::users::{as_user, other_user_or_skip, OtherUser};
use std::io::BufReader;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

const MIB: u64 = 1 << 20;
const NAME_VAR: &str = "SHARENA_NAME";
const MODE_VAR: &str = "SHARENA_MODE";

fn raw(mode: u32) -> SegmentOptions {
    SegmentOptions::new(AllocatorKind::Raw, MIB).mode(mode)
}

/// The role a foreign creator plays: make a named free-list segment, or a
/// raw file-backed one, with the mode asked for, say so, exit.
#[test]
fn foreign_creator() {
    let Some(role) = role() else { return };
    let name = std::env::var(NAME_VAR).unwrap();
    let mode = u32::from_str_radix(&std::env::var(MODE_VAR).unwrap(), 8).unwrap();
    match role.as_str() {
        "named" => {
            let opts = FreeList::options(MIB).unwrap().mode(mode);
            drop(FreeList::create_with_options(&name, &opts).unwrap());
        }
        "file" => drop(Segment::create_file(&name, &raw(mode)).unwrap()),
        other => panic!("unknown role {other}"),
    }
    send("created");
}

/// Has `user` create `name` (`role` "named" or "file") with `mode`.
fn created_by(user: OtherUser, role: &str, name: &str, mode: u32) {
    let mut spawn = Spawn::test("foreign_creator", role)
        .env(NAME_VAR, name)
        .env(MODE_VAR, format!("{mode:o}"));
    as_user(spawn.command(), user);
    let mut child = spawn.spawn().expect("spawn the foreign creator");
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    assert_eq!(recv(&mut out), "created");
    let exit = child.wait_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(exit, Some(Exit::Exited(0)));
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

#[test]
fn a_segment_another_user_made_is_refused() {
    let Some(other) = other_user_or_skip("a_segment_another_user_made_is_refused") else {
        return;
    };
    let g = ShmGuard::new("foreign");
    created_by(other, "named", g.name(), 0o644);
    let meta = std::fs::metadata(Path::new("/dev/shm").join(&g.name()[1..])).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (other.uid, 0o644));
    match Segment::open(g.name(), &OpenOptions::new()).unwrap_err() {
        Error::ForeignOwner {
            segment,
            owner_uid,
            euid: me,
            mode,
        } => {
            assert_eq!(segment, g.name());
            assert_eq!((owner_uid, me, mode), (other.uid, euid(), 0o644));
        }
        e => panic!("expected ForeignOwner, got {e}"),
    }
    let e = FreeList::open(g.name()).unwrap_err();
    assert!(matches!(e, Error::ForeignOwner { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("uid {}", other.uid)) && msg.contains("0644"),
        "{msg}"
    );
    // Asked for, it opens.
    let open = OpenOptions::new().allow_foreign_owner(true);
    Segment::open(g.name(), &open).unwrap();
    FreeList::open_with_options(g.name(), &open).unwrap();
}

#[test]
fn create_or_open_never_adopts_a_segment_another_user_made() {
    let Some(other) = other_user_or_skip("create_or_open_never_adopts") else {
        return;
    };
    let g = ShmGuard::new("squat");
    // The other user squats on the name a service is about to use, with a
    // mode that would let the service write it.
    created_by(other, "named", g.name(), 0o666);
    let e = FreeList::create_or_open(g.name(), MIB).unwrap_err();
    assert!(
        matches!(e, Error::ForeignOwner { owner_uid, .. } if owner_uid == other.uid),
        "{e}"
    );
    let e = Segment::create_or_open(g.name(), &raw(0o666)).unwrap_err();
    assert!(matches!(e, Error::ForeignOwner { .. }), "{e}");
    // Accepting the owner is not accepting that everyone may write it.
    let e = FreeList::create_or_open_with_options(
        g.name(),
        &FreeList::options(MIB).unwrap().allow_foreign_owner(true),
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::WritableByOthers { mode: 0o666, .. }),
        "{e}"
    );
    let opts = FreeList::options(MIB)
        .unwrap()
        .allow_foreign_owner(true)
        .allow_shared_write(true);
    let (_, how) = FreeList::create_or_open_with_options(g.name(), &opts).unwrap();
    assert_eq!(how, Opened::Existing);
}

#[test]
fn a_file_another_user_made_is_refused() {
    let Some(other) = other_user_or_skip("a_file_another_user_made_is_refused") else {
        return;
    };
    let t = TempPath::new("foreign.shm");
    created_by(other, "file", t.path().to_str().unwrap(), 0o600);
    let e = Segment::open_file(t.path(), &OpenOptions::new()).unwrap_err();
    assert!(
        matches!(e, Error::ForeignOwner { owner_uid, mode: 0o600, .. } if owner_uid == other.uid),
        "{e}"
    );
    let e = FreeList::open_file(t.path()).unwrap_err();
    assert!(matches!(e, Error::ForeignOwner { .. }), "{e}");
    Segment::open_file(t.path(), &OpenOptions::new().allow_foreign_owner(true)).unwrap();
}

#[test]
fn a_segment_others_may_write_is_refused_unless_asked() {
    let g = ShmGuard::new("groupw");
    let _made = Segment::create(g.name(), &raw(0o660)).unwrap();
    for how in [
        Segment::open(g.name(), &OpenOptions::new()).map(drop),
        Segment::create_or_open(g.name(), &raw(0o600)).map(drop),
    ] {
        match how.unwrap_err() {
            Error::WritableByOthers {
                segment,
                owner_uid,
                mode,
            } => assert_eq!(
                (segment.as_str(), owner_uid, mode),
                (g.name(), euid(), 0o660)
            ),
            e => panic!("expected WritableByOthers, got {e}"),
        }
    }
    Segment::open(g.name(), &OpenOptions::new().allow_shared_write(true)).unwrap();
    // create_or_open accepts the write bits of the mode it asks for, and
    // no others.
    let (_, how) = Segment::create_or_open(g.name(), &raw(0o660)).unwrap();
    assert_eq!(how, Opened::Existing);
    let e = Segment::create_or_open(g.name(), &raw(0o602)).unwrap_err();
    assert!(matches!(e, Error::WritableByOthers { .. }), "{e}");
    let (_, how) = Segment::create_or_open(g.name(), &raw(0o600).allow_shared_write(true)).unwrap();
    assert_eq!(how, Opened::Existing);
}

#[test]
fn open_file_refuses_what_is_not_a_regular_file() {
    let target = TempPath::new("target.shm");
    let _made = Segment::create_file(target.path(), &raw(0o600)).unwrap();
    let link = TempPath::new("link.shm");
    std::os::unix::fs::symlink(target.path(), link.path()).unwrap();
    let fifo = TempPath::new("fifo.shm");
    nix::unistd::mkfifo(fifo.path(), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let dir = std::env::temp_dir();
    for (path, what) in [
        (link.path(), "a symbolic link"),
        (fifo.path(), "a FIFO"),
        (dir.as_path(), "a directory"),
    ] {
        // A FIFO must not block the open (O_NONBLOCK): this returns.
        match Segment::open_file(path, &OpenOptions::new()).unwrap_err() {
            Error::NotRegularFile { segment, found } => {
                assert_eq!((segment.as_str(), found), (path.to_str().unwrap(), what));
            }
            e => panic!("{}: expected NotRegularFile, got {e}", path.display()),
        }
    }
    // A link is refused at create too, and the target is left alone.
    let e = Segment::create_file(link.path(), &raw(0o600)).unwrap_err();
    assert!(matches!(e, Error::AlreadyExists { .. }), "{e}");
    Segment::open_file(target.path(), &OpenOptions::new()).unwrap();
}

#[test]
fn a_link_or_fifo_under_a_segment_name_is_refused() {
    let target = ShmGuard::new("target");
    let _made = Segment::create(target.name(), &raw(0o600)).unwrap();
    let link = ShmGuard::new("link");
    let shm = |n: &str| Path::new("/dev/shm").join(&n[1..]);
    std::os::unix::fs::symlink(shm(target.name()), shm(link.name())).unwrap();
    let fifo = ShmGuard::new("fifo");
    nix::unistd::mkfifo(
        &shm(fifo.name()),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    for (name, what) in [(link.name(), "a symbolic link"), (fifo.name(), "a FIFO")] {
        let open = OpenOptions::new().timeout(Duration::from_millis(50));
        match Segment::open(name, &open).unwrap_err() {
            Error::NotRegularFile { found, .. } => assert_eq!(found, what, "{name}"),
            e => panic!("{name}: expected NotRegularFile, got {e}"),
        }
    }
    let names: Vec<String> = sharena::list()
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert!(names.iter().any(|n| n == target.name()));
    assert!(
        !names.iter().any(|n| n == link.name() || n == fifo.name()),
        "{names:?}"
    );
}

/// The umask of this process while `f` runs (this binary's other tests
/// make segments with explicit modes, which the umask must not touch).
fn with_umask<T>(mask: u32, f: impl FnOnce() -> T) -> T {
    use nix::sys::stat::{umask, Mode};
    let old = umask(Mode::from_bits_truncate(mask));
    let out = f();
    umask(old);
    out
}

#[test]
fn segments_have_exactly_the_mode_asked_for() {
    with_umask(0o077, || {
        for mode in [0o600, 0o640, 0o644, 0o660, 0o666, 0o604, 0o400] {
            let g = ShmGuard::new("mode");
            let seg = Segment::create(g.name(), &raw(mode)).unwrap();
            let meta = std::fs::metadata(Path::new("/dev/shm").join(&g.name()[1..])).unwrap();
            assert_eq!(meta.permissions().mode() & 0o7777, mode, "named {mode:o}");
            drop(seg);
            let t = TempPath::new("mode.shm");
            let seg = Segment::create_file(t.path(), &raw(mode)).unwrap();
            let meta = std::fs::metadata(t.path()).unwrap();
            assert_eq!(meta.permissions().mode() & 0o7777, mode, "file {mode:o}");
            let found = sharena::list().unwrap();
            let info = found.iter().find(|s| s.name == g.name()).unwrap();
            assert_eq!((info.mode, info.owner_uid), (mode, euid()));
            drop(seg);
        }
    });
}

#[test]
fn file_descriptors_are_close_on_exec() {
    const O_CLOEXEC: u32 = 0o2_000_000;
    let t = TempPath::new("cloexec.shm");
    let made = Segment::create_file(t.path(), &raw(0o600)).unwrap();
    let opened = Segment::open_file(t.path(), &OpenOptions::new()).unwrap();
    let mut flags = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let entry = entry.unwrap();
        if std::fs::read_link(entry.path()).ok().as_deref() != Some(t.path()) {
            continue;
        }
        let info = std::fs::read_to_string(Path::new("/proc/self/fdinfo").join(entry.file_name()))
            .unwrap();
        let f = info.lines().find_map(|l| l.strip_prefix("flags:")).unwrap();
        flags.push(u32::from_str_radix(f.trim(), 8).unwrap());
    }
    assert_eq!(flags.len(), 2, "{flags:?}");
    assert!(flags.iter().all(|f| f & O_CLOEXEC != 0), "{flags:?}");
    drop((made, opened));
}
