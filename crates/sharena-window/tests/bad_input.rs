//! Bad input: each gets its own error, with a message a person understands, and nothing
//! stays mapped.

mod common;

use std::os::fd::AsRawFd;

use common::{manager, page, TempFile};
use sharena_window::{Config, Error, Target};

fn nothing_mapped(m: &sharena_window::Manager) {
    let s = m.stats();
    assert_eq!(
        (s.handles, s.mapped_bytes, s.mapped_page_bytes),
        (0, 0, 0),
        "{s:?}"
    );
}

#[test]
fn missing_path() {
    let m = manager(Config::sliding());
    let missing = TempFile::path_only("missing");
    let e = m.cursor(missing.path()).unwrap_err();
    assert!(
        matches!(&e, Error::NotFound { path } if path == missing.path()),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("no such file: "), "{e}");
    assert_eq!(m.stats().open_files, 0);
}

#[test]
fn a_directory() {
    let dir = TempFile::path_only("dir");
    std::fs::create_dir(dir.path()).unwrap();
    let m = manager(Config::sliding());
    let e = m.cursor(dir.path()).unwrap_err();
    assert!(matches!(e, Error::IsADirectory { .. }), "{e:?}");
    assert!(e.to_string().contains("is a directory"), "{e}");
    let rw = manager(Config::sliding().read_write(true));
    assert!(matches!(
        rw.cursor(dir.path()),
        Err(Error::IsADirectory { .. })
    ));
    let fd = std::fs::File::open(dir.path()).unwrap();
    let e = m.cursor_fd(&fd).unwrap_err();
    assert!(
        matches!(&e, Error::IsADirectory { target: Target::Fd(n) } if *n == fd.as_raw_fd()),
        "{e:?}"
    );
    assert_eq!(m.stats().open_files, 0);
}

#[test]
fn not_a_regular_file() {
    let m = manager(Config::sliding());
    let e = m.cursor("/dev/null").unwrap_err();
    assert!(matches!(e, Error::NotARegularFile { .. }), "{e:?}");
}

#[test]
fn an_unreadable_file() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let file = TempFile::patterned("unreadable", 100);
    let (m, path) = if root {
        // Root reads any file; a sysfs attribute refuses to open for writing even to root.
        let path = std::path::PathBuf::from("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size");
        if !path.exists() {
            return;
        }
        (manager(Config::sliding().read_write(true)), path)
    } else {
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o000)).unwrap();
        (manager(Config::sliding()), file.path().to_path_buf())
    };
    let e = m.cursor(&path).unwrap_err();
    assert!(
        matches!(&e, Error::PermissionDenied { path: pg } if *pg == path),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("permission denied"), "{e}");
}

#[test]
fn bad_offsets_and_sizes() {
    let pg = page();
    let file = TempFile::patterned("badreq", 2 * pg);
    let m = manager(Config::sliding().window_size(pg));
    let mut c = m.cursor(file.path()).unwrap();
    let size = 2 * pg;
    let e = c.use_region(size, 1).unwrap_err();
    assert!(
        matches!(e, Error::OffsetPastEnd { offset, file_size } if offset == size && file_size == size),
        "{e:?}"
    );
    assert!(matches!(
        c.use_region(size + 1, 1),
        Err(Error::OffsetPastEnd { .. })
    ));
    assert!(matches!(
        c.use_region(u64::MAX, 1),
        Err(Error::Overflow { .. })
    ));
    assert!(matches!(
        c.use_region(0, usize::MAX),
        Err(Error::SizeTooLarge { size: usize::MAX })
    ));
    let e = c.use_region(u64::MAX - 10, 11).unwrap_err();
    assert!(
        matches!(e, Error::Overflow { offset, size: 11 } if offset == u64::MAX - 10),
        "{e:?}"
    );
    assert!(e.to_string().contains("overflows"), "{e}");
    assert!(!c.has_region());
    assert_eq!(
        (c.begin(), c.end(), c.size(), c.bytes().len()),
        (0, 0, 0, 0)
    );
    nothing_mapped(&m);
    // A failed request also gives back the region the cursor held.
    c.use_region(0, 1).unwrap();
    assert!(c.use_region(size, 1).is_err());
    assert!(!c.has_region());
    m.collect();
    nothing_mapped(&m);
}

#[test]
fn empty_file() {
    let file = TempFile::patterned("empty", 0);
    let m = manager(Config::sliding());
    let mut c = m.cursor(file.path()).unwrap();
    assert!(matches!(
        c.use_region(0, 1),
        Err(Error::OffsetPastEnd {
            offset: 0,
            file_size: 0
        })
    ));
    nothing_mapped(&m);
}

#[test]
fn wrong_handle_kind() {
    let file = TempFile::patterned("kind", 10);
    let m = manager(Config::sliding());
    let by_path = m.cursor(file.path()).unwrap();
    assert_eq!(by_path.path().unwrap(), file.path());
    let e = by_path.fd().unwrap_err();
    assert!(
        matches!(
            e,
            Error::WrongHandleKind {
                asked: "file descriptor",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("but the cursor was made from file "),
        "{e}"
    );
    let f = std::fs::File::open(file.path()).unwrap();
    let by_fd = m.cursor_fd(&f).unwrap();
    assert_eq!(by_fd.fd().unwrap(), f.as_raw_fd());
    assert!(matches!(
        by_fd.path(),
        Err(Error::WrongHandleKind { asked: "path", .. })
    ));
    let s = m.stats();
    assert_eq!(s.descriptors, 1, "one file, whichever way it was opened");
    assert_eq!(s.open_files, 0, "nothing mapped yet: open as smmap counts");
}

#[test]
fn budgets_that_cannot_be_met() {
    let pg = page();
    let file = TempFile::patterned("budget", 8 * pg);
    let m = manager(Config::sliding().window_size(4 * pg).memory_budget(2 * pg));
    let mut a = m.cursor(file.path()).unwrap();
    // The window shrinks to fit the budget, around the offset.
    a.use_region(0, 1).unwrap();
    assert_eq!(a.window(), Some(0..2 * pg));
    let mut b = m.cursor(file.path()).unwrap();
    let err = b.use_region(5 * pg, 1).unwrap_err();
    assert!(
        matches!(err, Error::BudgetExhausted { needed, mapped, budget } if needed == pg && mapped == 2 * pg && budget == 2 * pg),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with("memory budget exhausted"),
        "{err}"
    );
    assert_eq!(m.stats().handles, 1, "the failed request mapped nothing");
    // A budget smaller than a page fits nothing at all.
    let tiny = manager(Config::sliding().memory_budget(pg - 1));
    let mut c = tiny.cursor(file.path()).unwrap();
    assert!(matches!(
        c.use_region(0, 1),
        Err(Error::BudgetExhausted { .. })
    ));
    nothing_mapped(&tiny);

    let one = manager(Config::sliding().window_size(pg).handle_budget(1));
    let mut a = one.cursor(file.path()).unwrap();
    let mut b = one.cursor(file.path()).unwrap();
    a.use_region(0, 1).unwrap();
    let err = b.use_region(3 * pg, 1).unwrap_err();
    assert!(
        matches!(
            err,
            Error::FileBudgetExhausted {
                handles: 1,
                budget: 1
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with("handle budget exhausted"),
        "{err}"
    );
    // Once a gives its region back, it is evicted to make room.
    a.unuse_region();
    b.use_region(3 * pg, 1).unwrap();
    assert_eq!(one.stats().handles, 1);
}

#[test]
fn write_requests_on_a_read_only_manager() {
    let file = TempFile::patterned("ro", 100);
    let m = manager(Config::sliding());
    let mut c = m.cursor(file.path()).unwrap();
    c.use_region(0, 10).unwrap();
    assert!(matches!(c.bytes_mut(), Err(Error::ReadOnly)));
    assert!(matches!(c.flush(), Err(Error::ReadOnly)));
}
