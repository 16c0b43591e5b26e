//! Scans a large file through a sliding window manager and prints MiB/s.
//!
//! ```text
//! cargo run --release --example window_scan [PATH] [WINDOW_MIB]
//! ```
//!
//! Without a path it scans a 256 MiB patterned temporary file that it creates and
//! removes. Windows default to 4 MiB.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use sharena::window::{Config, Hint, Manager};

/// A file this example created, removed on drop.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn make_file() -> std::io::Result<TempFile> {
    let path = std::env::temp_dir().join(format!("window-scan-{}.dat", std::process::id()));
    let guard = TempFile(path);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&guard.0)?);
    let block: Vec<u8> = (0..251 * 4096u64)
        .map(|i| ((i * 7 + 3) % 251) as u8)
        .collect();
    let mut left = 256u64 << 20;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        out.write_all(&block[..n])?;
        left -= n as u64;
    }
    out.flush()?;
    Ok(guard)
}

/// Scans PATH (default: a 256 MiB patterned temporary file) with
/// WINDOW_MIB windows (default 4).
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (path, _temp) = if let Some(p) = args.next() {
        (PathBuf::from(p), None)
    } else {
        let t = make_file()?;
        (t.0.clone(), Some(t))
    };
    let window_mib: u64 = args.next().map_or(Ok(4), |s| s.parse())?;

    let config = Config::sliding()
        .window_size(window_mib << 20)
        .hint(Hint::Sequential);
    // SAFETY: this example only reads the file; the user promises that nobody truncates
    // or rewrites it during the scan (a file we created ourselves is private to us).
    let manager = unsafe { Manager::new(config) };
    let mut cursor = manager.cursor(&path)?;
    let size = cursor.file_size()?;

    let t0 = Instant::now();
    let (mut at, mut sum) = (0u64, 0u64);
    while at < size {
        let bytes = cursor.use_region(at, 1 << 20)?;
        let words = bytes.chunks_exact(8);
        let tail: u64 = words.remainder().iter().map(|&b| u64::from(b)).sum();
        sum = words.fold(sum.wrapping_add(tail), |s, w| {
            s.wrapping_add(u64::from_le_bytes(w.try_into().expect("8 bytes")))
        });
        at += bytes.len() as u64;
    }
    let secs = t0.elapsed().as_secs_f64();
    let stats = manager.stats();
    println!(
        "scanned {} ({} MiB) with {window_mib} MiB windows in {secs:.3} s: {:.0} MiB/s \
         (checksum {sum:016x}, {} windows mapped, {} MiB mapped)",
        path.display(),
        size >> 20,
        size as f64 / f64::from(1 << 20) / secs,
        stats.handles,
        stats.mapped_bytes >> 20,
    );
    Ok(())
}
