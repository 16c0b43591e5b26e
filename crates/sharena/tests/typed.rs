//! Typed objects by name: processes racing on one name get one object
//! built once; a builder killed mid-build or panicking wedges nobody; a
//! wrong type, a long name, a missing name and hostile records are errors.

mod common;

use bytemuck::{Pod, Zeroable};
use common::{recv, role, send, ShmGuard};
use sharena::layout::sync::Ordering;
use sharena::{field, Bump, Error, FreeList, Named, Objects, Recover, ShmAllocator, Slab};
use sharena_testkit::harness::{Exit, Spawn};
use std::io::BufReader;
use std::time::Duration;

const NAME_VAR: &str = "SHARENA_NAME";
const LONG: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
struct Config {
    builder: u32,
    version: u32,
    hits: u64,
}

/// Roles: "racer" finds or builds "config", bumps its hits, and says which
/// process built it and whether this one ran the constructor; "stuck"
/// starts building and never finishes.
#[test]
fn child_entry() {
    let Some(role) = role() else { return };
    let name = std::env::var(NAME_VAR).unwrap();
    let heap = FreeList::open(&name).unwrap();
    match role.as_str() {
        "racer" => {
            let mut ran = false;
            let cfg = heap
                .find_or_construct("config", || {
                    ran = true;
                    Config {
                        builder: std::process::id(),
                        version: 7,
                        hits: 0,
                    }
                })
                .unwrap();
            cfg.atomic_u64(field!(Config, hits))
                .unwrap()
                .fetch_add(1, Ordering::SeqCst);
            let v = cfg.get().unwrap();
            send(&format!("{} {} {}", v.builder, ran, cfg.offset().get()));
        }
        "late" => {
            std::thread::sleep(Duration::from_millis(100));
            heap.find_or_construct("late", || Config {
                builder: std::process::id(),
                version: 9,
                hits: 0,
            })
            .unwrap();
        }
        "stuck" => {
            let _ = heap.find_or_construct("config", || {
                send("building");
                std::thread::sleep(LONG);
                Config::zeroed()
            });
        }
        other => panic!("unknown role {other}"),
    }
}

fn spawn(
    role: &str,
    name: &str,
) -> (
    sharena_testkit::harness::ChildGuard,
    BufReader<std::process::ChildStdout>,
) {
    let mut child = Spawn::test("child_entry", role)
        .env(NAME_VAR, name)
        .spawn()
        .unwrap();
    let out = BufReader::new(child.0.stdout.take().unwrap());
    (child, out)
}

/// Four processes race on one name: one object, built by one of them,
/// whose constructor ran exactly there; every process's add is counted.
#[test]
fn racing_processes_get_one_object_built_once() {
    let g = ShmGuard::new("typed-race");
    let heap = FreeList::create(g.name(), 16 << 20).unwrap();
    let mut kids: Vec<_> = (0..4).map(|_| spawn("racer", g.name())).collect();
    let mut lines = Vec::new();
    for (child, out) in &mut kids {
        lines.push(recv(out));
        assert_eq!(child.wait_timeout(LONG).unwrap(), Some(Exit::Exited(0)));
    }
    let pids: Vec<u32> = kids.iter().map(|(c, _)| c.id()).collect();
    let parsed: Vec<(u32, bool, u64)> = lines
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0].parse().unwrap(), f[1] == "true", f[2].parse().unwrap())
        })
        .collect();
    let builder = parsed[0].0;
    assert!(
        parsed.iter().all(|p| p.0 == builder && p.2 == parsed[0].2),
        "{lines:?}"
    );
    let ran: Vec<u32> = parsed
        .iter()
        .zip(&pids)
        .filter(|(p, _)| p.1)
        .map(|(_, pid)| *pid)
        .collect();
    assert_eq!(ran, vec![builder], "{lines:?}");
    let cfg = heap.find::<Config>("config").unwrap().unwrap();
    assert_eq!(cfg.get().unwrap().hits, 4);
    assert_eq!(cfg.get().unwrap().version, 7);
}

/// A builder killed before its object is ready: a waiter takes the build
/// over and runs its own constructor.
#[test]
fn a_builder_killed_mid_build_is_taken_over() {
    let g = ShmGuard::new("typed-kill");
    let heap = FreeList::create(g.name(), 16 << 20).unwrap();
    let (mut stuck, mut out) = spawn("stuck", g.name());
    assert_eq!(recv(&mut out), "building");
    // `find` waits for a live builder; its death ends the wait.
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        stuck.kill();
        stuck.wait_timeout(LONG).unwrap()
    });
    let cfg = heap
        .find_or_construct("config", || Config {
            builder: std::process::id(),
            version: 1,
            hits: 0,
        })
        .unwrap();
    assert!(killer
        .join()
        .unwrap()
        .unwrap()
        .killed_by(nix::sys::signal::Signal::SIGKILL));
    assert_eq!(cfg.get().unwrap().builder, std::process::id());
    assert!(heap.find::<Config>("config").unwrap().is_some());
}

/// A constructor that panics gives the build up to the next caller.
#[test]
fn a_panicking_constructor_wedges_nobody() {
    let g = ShmGuard::new("typed-panic");
    let heap = FreeList::create(g.name(), 16 << 20).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        heap.find_or_construct::<Config>("config", || panic!("no config today"))
    }));
    assert!(r.is_err());
    // `find` sees an object nobody is building.
    assert!(heap.find::<Config>("config").unwrap().is_none());
    let cfg = heap
        .find_or_construct_within("config", Duration::from_secs(5), || Config {
            builder: 1,
            version: 2,
            hits: 3,
        })
        .unwrap();
    assert_eq!(
        cfg.get().unwrap(),
        Config {
            builder: 1,
            version: 2,
            hits: 3
        }
    );
}

#[test]
fn wrong_types_missing_and_long_names_are_errors() {
    let g = ShmGuard::new("typed-bad");
    let heap = FreeList::create(g.name(), 16 << 20).unwrap();
    heap.find_or_construct("config", Config::zeroed).unwrap();
    match heap.find::<[u64; 2]>("config").unwrap_err() {
        Error::TypeMismatch {
            name,
            expected_layout,
            found_layout,
            ..
        } => {
            assert_eq!(name, "config");
            assert_eq!(expected_layout, (16, 8));
            assert_eq!(found_layout, (16, 8));
        }
        e => panic!("expected TypeMismatch, got {e}"),
    }
    assert!(matches!(
        heap.find_or_construct("config", || 0u32),
        Err(Error::TypeMismatch { .. })
    ));
    assert!(matches!(
        heap.destroy::<u64>("config"),
        Err(Error::TypeMismatch { .. })
    ));
    assert!(heap.find::<Config>("nothing").unwrap().is_none());
    assert!(matches!(
        heap.destroy::<Config>("nothing"),
        Err(Error::NameNotFound { .. })
    ));
    let long = "n".repeat(sharena::MAX_DIRECTORY_NAME + 1);
    assert!(heap.find_or_construct(&long, Config::zeroed).is_err());
    assert!(heap.find_or_construct("", Config::zeroed).is_err());
    // Nothing was left allocated by the failed calls but the one object.
    let used = heap.stats().used;
    assert!(heap.find_or_construct(&long, Config::zeroed).is_err());
    assert_eq!(heap.stats().used, used);
}

#[test]
fn destroy_frees_and_stale_handles_fail() {
    let g = ShmGuard::new("typed-destroy");
    let heap = FreeList::create(g.name(), 16 << 20).unwrap();
    let before = heap.stats().used;
    let cfg = heap.find_or_construct("config", Config::zeroed).unwrap();
    heap.destroy::<Config>("config").unwrap();
    assert!(matches!(cfg.get(), Err(Error::NameNotFound { .. })));
    assert!(matches!(
        cfg.set(&Config::zeroed()),
        Err(Error::NameNotFound { .. })
    ));
    assert!(heap.find::<Config>("config").unwrap().is_none());
    assert_eq!(heap.stats().used, before);
    // And the name can be built again.
    heap.find_or_construct("config", Config::zeroed).unwrap();
}

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Names that point at blocks of random bytes, and at real records with
/// one header word overwritten: errors (or a rebuild, for a builder word
/// that names no live process), never a panic, a hang or a
/// reinterpretation.
#[test]
fn hostile_records_are_errors() {
    let g = ShmGuard::new("typed-hostile");
    let heap = FreeList::create(g.name(), 16 << 20).unwrap();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for i in 0..100u64 {
        let len = 8 + (i % 12) * 8;
        let block = heap.alloc(len).unwrap();
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        heap.write(block, &bytes).unwrap();
        heap.publish("h", block).unwrap();
        assert!(heap.find::<Config>("h").is_err());
        assert!(heap.find_or_construct("h", Config::zeroed).is_err());
        assert!(heap.destroy::<Config>("h").is_err());
        heap.unpublish("h").unwrap();
    }
    // A real record's header, one word at a time replaced by noise.
    let real = heap.find_or_construct("real", Config::zeroed).unwrap();
    let header_at = sharena::Offset::new(real.offset().get() - 48);
    let header = heap.read(header_at, 48).unwrap();
    for i in 0..600u64 {
        let block = heap.alloc(48 + 16).unwrap();
        let mut bytes = header.clone();
        let word = (i % 6) as usize * 8;
        let noise = match i % 3 {
            0 => rng.next(),
            1 => u64::MAX,
            _ => 0,
        };
        bytes[word..word + 8].copy_from_slice(&noise.to_le_bytes());
        heap.write(block, &bytes).unwrap();
        heap.publish("h", block).unwrap();
        let _ = heap.find::<Config>("h");
        let _ = heap.find_or_construct_within("h", Duration::from_millis(50), Config::zeroed);
        let _ = heap.destroy::<Config>("h");
        let _ = heap.unpublish("h");
    }
    // A name that points outside the pool.
    if heap
        .publish("far", sharena::Offset::new(u64::MAX - 7))
        .is_ok()
    {
        assert!(heap.find::<Config>("far").is_err());
    }
    assert!(heap.check().unwrap().problems.is_empty());
}

#[test]
fn bump_and_slab_have_typed_objects_too() {
    let g = ShmGuard::new("typed-bump");
    let bump = Bump::create(g.name(), 1 << 20).unwrap();
    let a = bump
        .find_or_construct("c", || Config {
            builder: 1,
            version: 1,
            hits: 1,
        })
        .unwrap();
    assert_eq!(
        bump.find::<Config>("c").unwrap().unwrap().get().unwrap(),
        a.get().unwrap()
    );
    bump.destroy::<Config>("c").unwrap();
    assert!(bump.find::<Config>("c").unwrap().is_none());
    drop(bump);

    let g2 = ShmGuard::new("typed-slab");
    let slab = Slab::create(g2.name(), 1 << 20, 128).unwrap();
    let s = slab
        .find_or_construct("c", || Config {
            builder: 2,
            version: 2,
            hits: 2,
        })
        .unwrap();
    s.atomic_u32(field!(Config, version))
        .unwrap()
        .fetch_add(1, Ordering::SeqCst);
    assert_eq!(
        slab.find::<Config>("c")
            .unwrap()
            .unwrap()
            .get()
            .unwrap()
            .version,
        3
    );
    // A record larger than a slot does not fit.
    assert!(slab.find_or_construct("big", || [0u64; 32]).is_err());
}

/// A process waits by name for an object another process builds later;
/// a name nobody builds is a timeout.
#[test]
fn wait_for_sleeps_until_another_process_builds() {
    let g = ShmGuard::new("typed-wait");
    let heap = FreeList::create(g.name(), 16 << 20).unwrap();
    let (mut late, _out) = spawn("late", g.name());
    let cfg = heap.wait_for::<Config>("late", LONG).unwrap();
    assert_eq!(cfg.get().unwrap().builder, late.id());
    assert_eq!(late.wait_timeout(LONG).unwrap(), Some(Exit::Exited(0)));
    match heap.wait_for::<Config>("never", Duration::from_millis(30)) {
        Err(Error::Timeout { what, .. }) => assert!(what.contains("never"), "{what}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(matches!(
        heap.wait_for::<u8>("late", Duration::from_millis(30)),
        Err(Error::TypeMismatch { .. })
    ));
}
