//! `rts-alloc` (docs/WORKLOADS.md): the lock-free shared-memory slab
//! allocator from crates.io (pinned `=5.1.0`), a Rust peer users can pick
//! today. Per-worker slabs of one size class each (256, 512, 1024, 2048 or
//! 4096 bytes), taken from and returned to one global lock-free stack; a
//! block freed by its own worker goes back on that slab's private stack.
//!
//! The parent creates the allocator in a fresh file under `/dev/shm` and
//! gives its own worker slot back; each forked child opens the file and
//! `join`s it, so it maps the segment itself (at its own address) and holds
//! a worker slot of its own, as a user's processes would.

use super::harness::{prefault, RunOut};
use super::pool::{run_pool, Pass, Pool, Sharing, Sizes};
use crate::{unique_name_with, TempPath};
use rts_alloc::Allocator;
use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::ptr::NonNull;

/// The slab size: 64 KiB (16 blocks of the largest class, 256 of the
/// smallest).
pub const SLAB: u32 = 64 << 10;

/// The blocks' alignment: every class is a power of two from 256, and the
/// slabs start at multiples of the slab size from the page-aligned start
/// of the mapping, so each block is aligned to its class: at least 256.
pub const ALIGN: u64 = 256;

/// One process's worker on the shared allocator.
pub struct RtsPool {
    a: Allocator,
    /// The file's mapping in this process (for offsets).
    base: *mut u8,
}

impl std::fmt::Debug for RtsPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtsPool").finish_non_exhaustive()
    }
}

impl RtsPool {
    /// Joins the allocator in `file` with a free worker slot and prefaults
    /// the whole mapping.
    pub fn join(file: &File, len: u64) -> std::io::Result<Self> {
        let a = Allocator::join(file).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        // SAFETY: offset 0 lies in the allocator's mapping (its header).
        let base = unsafe { a.ptr_from_offset(0) }.as_ptr();
        prefault(base, len as usize);
        Ok(RtsPool { a, base })
    }
}

impl Pool for RtsPool {
    type Handle = NonNull<u8>;
    #[inline(always)]
    fn alloc(&mut self, size: u64) -> Option<NonNull<u8>> {
        self.a.allocate(u32::try_from(size).ok()?)
    }
    #[inline(always)]
    fn free(&mut self, h: NonNull<u8>) {
        // SAFETY: `h` came from `allocate` of this worker and is freed once
        // (the churn loop's slots).
        unsafe { self.a.free(h) };
    }
    #[inline(always)]
    fn word(&self, h: NonNull<u8>) -> *mut u64 {
        h.as_ptr().cast()
    }
    /// The offset from this process's mapping: each process maps the file
    /// at its own address.
    fn addr(&self, h: NonNull<u8>) -> u64 {
        (h.as_ptr() as u64).wrapping_sub(self.base as u64)
    }
}

/// A fresh file under `/dev/shm` (or the temporary directory where there is
/// none), removed when the guard drops.
fn segment_file() -> std::io::Result<(TempPath, File)> {
    let name = unique_name_with("sharena-bench", "rts-alloc");
    let dir = PathBuf::from("/dev/shm");
    let dir = if dir.is_dir() {
        dir
    } else {
        std::env::temp_dir()
    };
    let guard = TempPath(dir.join(name.trim_start_matches('/')));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(guard.path())?;
    Ok((guard, file))
}

/// `rts-alloc` in W2/W2P2/W3/W4: the parent creates the allocator over a
/// file of `segment` bytes with room for `p` workers (and its own, given
/// back at once); each child opens the file and joins it.
pub fn rts_run(
    p: usize,
    ops: u64,
    sizes: Sizes,
    segment: u64,
    pass: Pass,
) -> std::io::Result<RunOut> {
    let (guard, file) = segment_file()?;
    let workers = u32::try_from(p + 1).map_err(std::io::Error::other)?;
    // SAFETY: the file is new and empty: this is the one `create` for it.
    let parent = unsafe { Allocator::create(&file, segment as usize, workers, SLAB) }
        .map_err(|e| std::io::Error::other(format!("rts-alloc create: {e:?}")))?;
    // Give the parent's worker slot back (and unmap its view).
    drop(parent);
    drop(file);
    let path = guard.path().to_path_buf();
    let sharing = Sharing::Shared { used0: None };
    run_pool(p, ops, sizes, pass, sharing, |_| {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .expect("open the rts-alloc file");
        RtsPool::join(&file, segment).expect("join the rts-alloc file")
    })
}

#[cfg(test)]
mod tests {
    use super::super::frag::FragTrack;
    use super::super::harness::Ctl;
    use super::super::pool::churn;
    use super::*;

    /// W2 and W3 in this process (no fork), one worker of a fresh file:
    /// every tag verified, no failed allocation, and the footprint at least
    /// the live peak.
    #[test]
    fn w2_and_w3_churn_in_one_worker() {
        let len = 64u64 << 20;
        let (guard, file) = segment_file().unwrap();
        // SAFETY: a fresh, empty file.
        let creator = unsafe { Allocator::create(&file, len as usize, 2, SLAB) }.unwrap();
        drop(creator);
        for sizes in [Sizes::Fixed(64), Sizes::Variable] {
            let mut pool = RtsPool::join(&file, len).unwrap();
            let mut track = FragTrack::new(None);
            let out = churn(0, &Ctl::solo(), &mut pool, 20_000, sizes, &mut track);
            assert_eq!((out.ops, out.errors, out.oom), (20_000, 0, 0));
            let [live, _, lo, hi] = track.words();
            assert!(hi - lo >= live, "span {} below live {live}", hi - lo);
            assert_eq!(
                pool.a.outstanding_allocation_bytes(),
                0,
                "teardown frees all"
            );
        }
        drop(file);
        let path = guard.path().to_path_buf();
        drop(guard);
        assert!(!path.exists());
    }

    /// The runner's own path at P=1, in this process (`in_process`): the
    /// parent creates the file, the child opens and joins it, both passes
    /// run clean, and the file is gone afterwards.
    #[test]
    fn rts_run_in_process_both_passes() {
        super::super::harness::in_process();
        let timed = rts_run(1, 5_000, Sizes::Variable, 32 << 20, Pass::Timed).unwrap();
        assert_eq!(
            (timed.ops, timed.errors, timed.oom, timed.crashed),
            (5_000, 0, 0, 0)
        );
        let frag = rts_run(1, 5_000, Sizes::Fixed(64), 32 << 20, Pass::Frag).unwrap();
        let f = frag.frag.expect("a fragmentation pass reports its figures");
        // 64-byte requests in the 256-byte class: four times the live bytes.
        assert!((f.footprint_over_live() - 4.0).abs() < 0.01, "{f:?}");
        assert_eq!(f.used_peak, None);
    }
}
