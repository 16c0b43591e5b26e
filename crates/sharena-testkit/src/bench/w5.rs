//! W5 (window scan) and W5r (random reads), as docs/WORKLOADS.md describes them.
//!
//! W5: a patterned file (`byte[i] = (i*7+3) mod 251`), page cache warm, read start to end
//! in 1 MiB chunks, each copied into a buffer and folded into a checksum, through
//! `window-4m` (4 MiB windows), `window-default` (the default 1 GiB window), and the
//! baselines `mmap-whole` (one memmap2 mapping of the whole file) and `read` (plain
//! `read()` into the buffer). W5r: 100,000 reads of 4 KiB at `next() % (size - 4096)`,
//! xorshift64 seeded 42, asking two questions: `window-64m-fit` (64 MiB windows, random
//! hint, a 1 GiB budget that holds the whole file) against `mmap-whole` is the cost of
//! windowing when everything fits; `window-64m` (the same with a 256 MiB budget, so
//! about half of the reads miss every window) against `pread` (one 4 KiB `pread` per
//! read) is the cost of reading a file larger than the budget. Subjects run interleaved
//! (A B C, B C A, C A B, ...), [`REPS_PER_REP`] times the repetitions asked; each figure
//! is the median; every timed run includes opening and mapping, and ends after unmapping.
//! `errors` counts runs whose checksum differs from `mmap-whole`'s.

use std::fs::{self, File};
use std::hint::black_box;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::XorShift;
use sharena_window::{Config, Hint, Manager, SlidingBuffer};

const MIB: u64 = 1 << 20;
const CHUNK: usize = 1 << 20;
const READ: usize = 4096;
const RANDOM_READS: u64 = 100_000;
/// W5r's memory budget for `window-64m`: half of the reference file.
const HALF_BUDGET: u64 = 256 * MIB;
/// W5r's memory budget for `window-64m-fit`: at least the reference file.
const FIT_BUDGET: u64 = 1024 * MIB;

/// Repetitions run for each one asked. A W5 or W5r run takes a tenth of a second or
/// less, so on a shared machine one preempted run moves a median of three; a median of
/// nine or more costs a second or two and holds.
pub const REPS_PER_REP: usize = 3;

/// One measured figure of W5 or W5r.
#[derive(Clone, Debug)]
pub struct W5Result {
    /// Subject name, as docs/WORKLOADS.md spells it.
    pub subject: &'static str,
    /// `"W5"` or `"W5r"`.
    pub wl: &'static str,
    /// Chunks (W5) or reads (W5r) per run.
    pub ops: u64,
    /// Bytes read per run.
    pub bytes: u64,
    /// Median wall time of one run, in seconds.
    pub secs: f64,
    /// Median CPU time of one run (user and system, of the measuring thread), in
    /// seconds: what the run cost, without the time other processes held the core.
    /// Not a figure of the workload definition; for reading the wall times' noise.
    pub cpu_secs: f64,
    /// `bytes` per median run, in MiB/s.
    pub mib_per_s: f64,
    /// Runs whose checksum differed from the `mmap-whole` baseline's.
    pub errors: u64,
    /// Checksum of the median run.
    pub checksum: u64,
}

/// Runs W5 (subjects window-4m, window-default, mmap-whole, read) and W5r
/// (window-64m-fit, mmap-whole, window-64m, pread), interleaved A B A B, median of
/// `reps` times [`REPS_PER_REP`] repetitions, on a patterned file it creates in `dir`
/// (512 MiB, or 64 MiB when `quick`, which both budgets of W5r then hold) and removes
/// afterwards. errors counts checksum mismatches against the mmap-whole baseline.
pub fn run(dir: &Path, quick: bool, reps: usize) -> io::Result<Vec<W5Result>> {
    run_sized(dir, if quick { 64 * MIB } else { 512 * MIB }, reps)
}

/// [`run`] on a file of `size_bytes` bytes (at least 8 KiB).
pub fn run_sized(dir: &Path, size_bytes: u64, reps: usize) -> io::Result<Vec<W5Result>> {
    if size_bytes < 2 * READ as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "W5 needs a file of at least 8 KiB",
        ));
    }
    let file = TempFile::create(dir, size_bytes)?;
    let path = file.0.as_path();
    let scan: [(&'static str, Subject); 4] = [
        ("window-4m", Subject::Window(4 * MIB)),
        (
            "window-default",
            Subject::Window(sharena_window::DEFAULT_WINDOW_SIZE),
        ),
        ("mmap-whole", Subject::MmapWhole),
        ("read", Subject::Read),
    ];
    let random: [(&'static str, Subject); 4] = [
        ("window-64m-fit", Subject::RandomWindow(FIT_BUDGET)),
        ("mmap-whole", Subject::MmapWhole),
        ("window-64m", Subject::RandomWindow(HALF_BUDGET)),
        ("pread", Subject::Pread),
    ];
    let reps = reps.max(1) * REPS_PER_REP;
    let chunks = size_bytes.div_ceil(CHUNK as u64);
    let mut out = measure("W5", &scan, reps, chunks, size_bytes, |s| {
        scan_once(path, s)
    })?;
    out.extend(measure(
        "W5r",
        &random,
        reps,
        RANDOM_READS,
        RANDOM_READS * READ as u64,
        |s| random_once(path, size_bytes, s),
    )?);
    Ok(out)
}

/// How one subject reads the file.
#[derive(Clone, Copy, Debug)]
enum Subject {
    /// W5: a sliding-window manager with windows of this many bytes.
    Window(u64),
    /// W5r: a sliding buffer over 64 MiB windows, random hint, this memory budget.
    RandomWindow(u64),
    /// One memmap2 mapping of the whole file.
    MmapWhole,
    /// W5: `read()` into the buffer.
    Read,
    /// W5r: one `pread` of 4 KiB per read.
    Pread,
}

/// Runs every subject `reps` times, interleaved (each round rotated by one), and reports
/// medians.
fn measure(
    wl: &'static str,
    subjects: &[(&'static str, Subject)],
    reps: usize,
    ops: u64,
    bytes: u64,
    mut once: impl FnMut(Subject) -> io::Result<u64>,
) -> io::Result<Vec<W5Result>> {
    let reps = reps.max(1);
    let mut runs: Vec<Vec<(f64, u64)>> = vec![Vec::with_capacity(reps); subjects.len()];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::with_capacity(reps); subjects.len()];
    for rep in 0..reps {
        // Each round starts one subject later, so that no subject always follows the
        // same one (what a run leaves behind, in caches and page tables, is shared).
        for k in 0..subjects.len() {
            let i = (rep + k) % subjects.len();
            let subject = subjects[i].1;
            let c0 = thread_cpu_secs();
            let t0 = Instant::now();
            let sum = black_box(once(subject)?);
            runs[i].push((t0.elapsed().as_secs_f64(), sum));
            cpu[i].push(thread_cpu_secs() - c0);
        }
    }
    let baseline = subjects
        .iter()
        .position(|(name, _)| *name == "mmap-whole")
        .map(|i| runs[i][0].1);
    Ok(subjects
        .iter()
        .zip(runs)
        .zip(cpu)
        .map(|((&(subject, _), mut runs), mut cpu)| {
            let errors = runs
                .iter()
                .filter(|(_, sum)| baseline.is_some_and(|b| b != *sum))
                .count() as u64;
            runs.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (secs, checksum) = runs[runs.len() / 2];
            W5Result {
                subject,
                wl,
                ops,
                bytes,
                secs,
                cpu_secs: super::harness::median(&mut cpu),
                mib_per_s: bytes as f64 / MIB as f64 / secs,
                errors,
                checksum,
            }
        })
        .collect())
}

/// CPU time the calling thread has used, in seconds (0 if the clock cannot be read).
fn thread_cpu_secs() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec; the call writes it and nothing else.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut t) } != 0 {
        return 0.0;
    }
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// One W5 run: the whole file in 1 MiB chunks, copied and folded.
fn scan_once(path: &Path, subject: Subject) -> io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut sum = 0;
    match subject {
        Subject::Window(window_size) => {
            let config = Config::sliding()
                .window_size(window_size)
                .hint(Hint::Sequential);
            // SAFETY: the benchmark's own temporary file; nothing truncates or writes it.
            let manager = unsafe { Manager::new(config) };
            let mut cursor = manager.cursor(path).map_err(io::Error::other)?;
            let size = cursor.file_size().map_err(io::Error::other)?;
            let mut at = 0;
            while at < size {
                let n = (size - at).min(CHUNK as u64) as usize;
                let mut done = 0;
                while done < n {
                    let bytes = cursor
                        .use_region(at + done as u64, n - done)
                        .map_err(io::Error::other)?;
                    buf[done..done + bytes.len()].copy_from_slice(bytes);
                    done += bytes.len();
                }
                sum = fold(sum, &buf[..n]);
                at += n as u64;
            }
        }
        Subject::MmapWhole => {
            let file = File::open(path)?;
            // SAFETY: the benchmark's own temporary file; nothing truncates or writes it.
            let map = unsafe { memmap2::Mmap::map(&file)? };
            for chunk in map.chunks(CHUNK) {
                buf[..chunk.len()].copy_from_slice(chunk);
                sum = fold(sum, &buf[..chunk.len()]);
            }
        }
        Subject::Read => {
            let mut file = File::open(path)?;
            loop {
                let mut n = 0;
                while n < CHUNK {
                    match file.read(&mut buf[n..])? {
                        0 => break,
                        k => n += k,
                    }
                }
                if n == 0 {
                    break;
                }
                sum = fold(sum, &buf[..n]);
            }
        }
        Subject::RandomWindow(_) | Subject::Pread => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a W5r subject in W5",
            ))
        }
    }
    Ok(sum)
}

/// One W5r run: 100,000 reads of 4 KiB at random offsets, copied and folded.
fn random_once(path: &Path, size: u64, subject: Subject) -> io::Result<u64> {
    let mut buf = [0u8; READ];
    let mut rng = XorShift::new(42);
    let mut sum = 0;
    let span = size - READ as u64;
    match subject {
        Subject::RandomWindow(budget) => {
            let config = Config::sliding()
                .window_size(64 * MIB)
                .memory_budget(budget)
                .hint(Hint::Random);
            // SAFETY: the benchmark's own temporary file; nothing truncates or writes it.
            let manager = unsafe { Manager::new(config) };
            let cursor = manager.cursor(path).map_err(io::Error::other)?;
            let mut buffer = SlidingBuffer::new(cursor, 0).map_err(io::Error::other)?;
            for _ in 0..RANDOM_READS {
                let at = rng.next() % span;
                buffer.read_into(at, &mut buf).map_err(io::Error::other)?;
                sum = fold(sum, &buf);
            }
        }
        Subject::MmapWhole => {
            let file = File::open(path)?;
            // SAFETY: the benchmark's own temporary file; nothing truncates or writes it.
            let map = unsafe { memmap2::Mmap::map(&file)? };
            for _ in 0..RANDOM_READS {
                let at = (rng.next() % span) as usize;
                buf.copy_from_slice(&map[at..at + READ]);
                sum = fold(sum, &buf);
            }
        }
        Subject::Pread => {
            let file = File::open(path)?;
            for _ in 0..RANDOM_READS {
                let at = rng.next() % span;
                file.read_exact_at(&mut buf, at)?;
                sum = fold(sum, &buf);
            }
        }
        Subject::Window(_) | Subject::Read => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a W5 subject in W5r",
            ))
        }
    }
    Ok(sum)
}

/// Folds `bytes` into `sum`: the wrapping sum of their little-endian 64-bit words (and
/// trailing bytes), mixed into the running value.
pub fn fold(sum: u64, bytes: &[u8]) -> u64 {
    let words = bytes.chunks_exact(8);
    let tail = words.remainder();
    let mut s = words.fold(0u64, |s, w| {
        s.wrapping_add(u64::from_le_bytes(w.try_into().expect("8-byte chunk")))
    });
    for &b in tail {
        s = s.wrapping_add(u64::from(b));
    }
    (sum ^ s).wrapping_mul(0x0100_0000_01b3).rotate_left(17)
}

/// The W5 byte at offset `i`.
pub fn pattern(i: u64) -> u8 {
    ((i % 251 * 7 + 3) % 251) as u8
}

/// The patterned file, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn create(dir: &Path, size: u64) -> io::Result<TempFile> {
        let path = dir.join(format!("sharena-w5-{}-{size}.dat", std::process::id()));
        let guard = TempFile(path);
        let mut file = File::create(&guard.0)?;
        let mut block = vec![0u8; CHUNK];
        let mut at = 0;
        while at < size {
            let n = (size - at).min(CHUNK as u64) as usize;
            let mut v = pattern(at);
            for b in &mut block[..n] {
                *b = v;
                v = if v >= 244 { v - 244 } else { v + 7 };
            }
            file.write_all(&block[..n])?;
            at += n as u64;
        }
        file.sync_all()?;
        // Warm the page cache: W5 measures reads from memory, not from disk.
        let mut file = File::open(&guard.0)?;
        while file.read(&mut block)? > 0 {}
        Ok(guard)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}
