//! Tests with real processes: this test binary re-spawns itself, the env var
//! `SHARENA_TEST_CHILD_ROLE` selecting what the child does (forking from the
//! multi-threaded test harness would be unsafe).

mod common;

use common::{recv, role, send, spawn_child, ShmGuard, TempPath};
use sharena::{
    AllocatorKind, Error, Offset, OpenOptions, Opened, RegionId, Segment, SegmentOptions,
};
use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;

/// The entry point of every child role; a no-op in the parent.
#[test]
fn child_entry() {
    let Some(role) = role() else { return };
    let env = |k: &str| std::env::var(k).unwrap();
    match role.as_str() {
        "race" => race_child(&env("SHARENA_BASE")),
        "stall_creator" => {
            let name = env("SHARENA_NAME");
            let _ =
                Segment::create_with(&name, &SegmentOptions::new(AllocatorKind::Raw, MIB), |_| {
                    send("initializing");
                    std::thread::sleep(Duration::from_secs(60));
                    Ok(())
                });
        }
        "file_writer" => {
            let seg = Segment::create_file(
                env("SHARENA_PATH"),
                &SegmentOptions::new(AllocatorKind::FreeList, MIB),
            )
            .unwrap();
            let pool = seg.view().region(RegionId::Pool);
            seg.view()
                .write_bytes(Offset::new(pool.offset), b"written by the child")
                .unwrap();
        }
        other => panic!("unknown role {other}"),
    }
}

fn race_child(base: &str) {
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let round: u32 = line.unwrap().trim().parse().unwrap();
        let name = format!("{base}-{round}");
        let (seg, how) =
            Segment::create_or_open(&name, &SegmentOptions::new(AllocatorKind::Slab, MIB)).unwrap();
        let h = seg.view().header();
        send(&format!(
            "{round} {:?} {} {}",
            how, h.creator_pid, h.created_unix_ns
        ));
    }
}

#[test]
fn two_processes_race_create_or_open_200_rounds() {
    let base = common::unique_name("race");
    let mut child = spawn_child("child_entry", "race", &[("SHARENA_BASE", &base)]);
    let mut to_child = child.0.stdin.take().unwrap();
    let mut from_child = BufReader::new(child.0.stdout.take().unwrap());
    let (mut parent_created, mut child_created) = (0, 0);
    for round in 0..200u32 {
        let guard = ShmGuard(format!("{base}-{round}"));
        writeln!(to_child, "{round}").unwrap();
        to_child.flush().unwrap();
        // Vary who gets there first.
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_micros(u64::from(round % 7) * 15) {}
        let (seg, how) =
            Segment::create_or_open(guard.name(), &SegmentOptions::new(AllocatorKind::Slab, MIB))
                .unwrap();
        let line = recv(&mut from_child);
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(parts[0], round.to_string(), "child out of step: {line}");
        let child_how = parts[1];
        let h = seg.view().header();
        assert_eq!(
            parts[2],
            h.creator_pid.to_string(),
            "round {round}: different segments"
        );
        assert_eq!(
            parts[3],
            h.created_unix_ns.to_string(),
            "round {round}: different segments"
        );
        match (how, child_how) {
            (Opened::Created, "Existing") => parent_created += 1,
            (Opened::Existing, "Created") => child_created += 1,
            other => panic!("round {round}: exactly one must create, got {other:?}"),
        }
    }
    drop(to_child);
    assert_eq!(parent_created + child_created, 200);
    eprintln!("race: parent created {parent_created}, child created {child_created}");
}

#[test]
fn creator_killed_before_ready_is_reported_within_the_timeout() {
    let g = ShmGuard::new("stall");
    let mut child = spawn_child(
        "child_entry",
        "stall_creator",
        &[("SHARENA_NAME", g.name())],
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    assert_eq!(recv(&mut out), "initializing");
    let pid = child.0.id();

    // While the creator lives, an opener times out with NotInitialized.
    let t = Instant::now();
    let err = Segment::open(
        g.name(),
        &OpenOptions::new().timeout(Duration::from_millis(150)),
    )
    .unwrap_err();
    assert!(matches!(err, Error::NotInitialized { .. }), "{err}");
    assert!(t.elapsed() < Duration::from_secs(2));

    // An opener already waiting when the creator is killed gets CreatorDied,
    // long before its 10 s timeout.
    let name = g.name().to_string();
    let waiter = std::thread::spawn(move || {
        let t = Instant::now();
        let r = Segment::open(&name, &OpenOptions::new().timeout(Duration::from_secs(10)));
        (r.map(drop), t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(100));
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let (r, waited) = waiter.join().unwrap();
    let err = r.unwrap_err();
    assert!(
        matches!(err, Error::CreatorDied { pid: p, .. } if p == pid),
        "{err}"
    );
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    assert!(err.to_string().contains("died"), "{err}");

    // And a fresh opener sees it at once.
    let t = Instant::now();
    let err = Segment::open(g.name(), &OpenOptions::new()).unwrap_err();
    assert!(matches!(err, Error::CreatorDied { .. }), "{err}");
    assert!(t.elapsed() < Duration::from_millis(500));
}

#[test]
fn file_segment_written_by_one_process_is_read_by_another_after_it_exits() {
    let path = TempPath::new("persist");
    let mut child = spawn_child(
        "child_entry",
        "file_writer",
        &[("SHARENA_PATH", path.0.to_str().unwrap())],
    );
    assert!(child.wait().unwrap().success());
    let seg =
        Segment::open_file(&path.0, &OpenOptions::new().kind(AllocatorKind::FreeList)).unwrap();
    let pool = seg.view().region(RegionId::Pool);
    let mut buf = [0u8; 20];
    seg.view()
        .read_bytes(Offset::new(pool.offset), &mut buf)
        .unwrap();
    assert_eq!(&buf, b"written by the child");
    assert_ne!(seg.view().header().creator_pid, std::process::id());
}
