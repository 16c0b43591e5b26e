//! Runs every example of the README's table briefly, so none rots: each example's
//! source is compiled into this test as a module (`#[path]`), and each runs
//! in a child process (this binary re-spawned in the example's role, with
//! small arguments), because some fork and every one must exit 0
//! and leave nothing in /dev/shm. `harness = false`: `main` is
//! single-threaded, so the forking examples may fork in the child.
#![allow(missing_docs, dead_code)]

#[path = "../../../examples/caller_buffer.rs"]
mod caller_buffer;
#[path = "../../../examples/fork_workers.rs"]
mod fork_workers;
#[path = "../../../examples/pipeline.rs"]
mod pipeline;
#[path = "../../../examples/publish_lookup.rs"]
mod publish_lookup;
#[path = "../../../examples/request_arena.rs"]
mod request_arena;
#[path = "../../../examples/slab_pool.rs"]
mod slab_pool;
#[path = "../../../examples/window_scan.rs"]
mod window_scan;

use sharena_testkit::harness::{role, Spawn};
use std::io::Write;

type Main = fn() -> Result<(), Box<dyn std::error::Error>>;

/// Each example: its name, its `main`, and small arguments.
fn examples(file: &str) -> Vec<(&'static str, Main, Vec<String>)> {
    vec![
        (
            "fork_workers",
            fork_workers::main as Main,
            vec!["3".into(), "2000".into()],
        ),
        // It re-spawns this binary as its reader; the reader inherits
        // its role, so it runs publish_lookup's main again.
        ("publish_lookup", publish_lookup::main, vec![]),
        // Its producer and consumers re-spawn this binary too.
        ("pipeline", pipeline::main, vec!["20000".into()]),
        ("request_arena", request_arena::main, vec!["2000".into()]),
        (
            "slab_pool",
            slab_pool::main,
            vec!["3".into(), "5000".into()],
        ),
        (
            "caller_buffer",
            caller_buffer::main,
            vec!["3".into(), "5000".into()],
        ),
        (
            "window_scan",
            window_scan::main,
            vec![file.into(), "1".into()],
        ),
    ]
}

/// A small patterned file for the window scan, removed on drop.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn shm_entries_of(pid: u32) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/dev/shm") else {
        return Vec::new();
    };
    let tag = pid.to_string();
    dir.filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(&tag))
        .collect()
}

fn main() {
    if let Some(which) = role() {
        // The child: run one example with the arguments it was given.
        let (_, run, _) = examples("")
            .into_iter()
            .find(|(n, _, _)| *n == which)
            .expect("a known example");
        let code = match run() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("example {which}: {e}");
                1
            }
        };
        std::process::exit(code);
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let path = std::env::temp_dir().join(format!("sharena-examples-{}.dat", std::process::id()));
    let file = TempFile(path);
    let pattern: Vec<u8> = (0..(3u32 << 20) + 123).map(|i| (i % 251) as u8).collect();
    std::fs::File::create(&file.0)
        .and_then(|mut f| f.write_all(&pattern))
        .expect("write the scan file");
    let mut failed = Vec::new();
    for (name, _, args) in examples(&file.0.to_string_lossy()) {
        let proc = Spawn::main(name)
            .args(args.clone())
            .into_command()
            .spawn()
            .expect("spawn the example");
        // The examples name their segments after their own pid: the child's.
        let pid = proc.id();
        let out = proc.wait_with_output().expect("wait for the example");
        let child = out.status.code();
        let left = shm_entries_of(pid);
        let ok = child == Some(0) && left.is_empty();
        println!(
            "example {name} {args:?}: {}",
            if ok { "ok" } else { "FAILED" }
        );
        if !ok {
            eprintln!(
                "example {name}: exit {child:?}, left in /dev/shm {left:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            failed.push(name);
        }
    }
    drop(file);
    if !failed.is_empty() {
        eprintln!("failed examples: {failed:?}");
        std::process::exit(1);
    }
    println!("test result: ok. every example ran and left nothing in /dev/shm");
}
