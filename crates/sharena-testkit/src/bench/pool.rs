//! The W2/W3 churn loop (docs/WORKLOADS.md) over any pool, the driver that
//! runs it in the fork harness (timed, or as the fragmentation pass), and
//! the `system` baseline (malloc/free on each child's private heap).

use super::frag::{self, FragTrack};
use super::harness::{run_forked, ChildOut, Ctl, RunOut};
use crate::XorShift;
use std::ptr::NonNull;

/// Working-set size.
pub const SLOTS: usize = 4096;

/// Which sizes the loop asks for.
#[derive(Clone, Copy, Debug)]
pub enum Sizes {
    /// W2: always 64 bytes.
    Fixed(u64),
    /// W3: `16 + next() % 4081`, uniform in [16, 4096], drawn after the
    /// slot index (and once per fill block).
    Variable,
}

/// A pool the churn loop can drive.
pub trait Pool {
    /// A block as the pool names it.
    type Handle: Copy;
    /// Allocates `size` bytes (at least 8-aligned).
    fn alloc(&mut self, size: u64) -> Option<Self::Handle>;
    /// Frees a block.
    fn free(&mut self, h: Self::Handle);
    /// The block's first word.
    fn word(&self, h: Self::Handle) -> *mut u64;
    /// Where the block starts, in one address space for every process of
    /// the run: the block's address where all processes map the pool at the
    /// same address (the default), its offset from the segment base where
    /// each process maps it on its own (sharena's allocators).
    fn addr(&self, h: Self::Handle) -> u64 {
        self.word(h).addr() as u64
    }
    /// The allocator's own bytes in use (headers and rounding included),
    /// where it reports them; `None` where it does not.
    fn used(&self) -> Option<u64> {
        None
    }
    /// Errors the pool counted itself (failed frees).
    fn errors(&self) -> u64 {
        0
    }
    /// CAS retries, where the pool counts them.
    fn retries(&self) -> u64 {
        0
    }
}

/// Bookkeeping the churn loop calls after each allocation and free (the
/// fragmentation pass); the timed pass uses [`Untracked`], whose calls
/// compile to nothing.
pub trait Observer<P: Pool> {
    /// Block `h` of `size` requested bytes went into slot `i`.
    fn allocated(&mut self, pool: &P, i: usize, h: P::Handle, size: u64);
    /// The block in slot `i` was freed.
    fn freed(&mut self, i: usize);
    /// The last op is done (before teardown).
    fn done(&mut self, pool: &P);
}

/// No bookkeeping: the timed pass.
#[derive(Debug)]
pub struct Untracked;

impl<P: Pool> Observer<P> for Untracked {
    #[inline(always)]
    fn allocated(&mut self, _: &P, _: usize, _: P::Handle, _: u64) {}
    #[inline(always)]
    fn freed(&mut self, _: usize) {}
    #[inline(always)]
    fn done(&mut self, _: &P) {}
}

fn tag(k: usize, n: u64) -> u64 {
    ((k as u64 + 1) << 56) | n.wrapping_add(1)
}

/// Fill, timed ops, teardown: one child of W2 or W3, with `obs` told of
/// every allocation and free of the fill and the ops.
pub fn churn<P: Pool, O: Observer<P>>(
    k: usize,
    ctl: &Ctl,
    pool: &mut P,
    ops: u64,
    sizes: Sizes,
    obs: &mut O,
) -> ChildOut {
    let mut rng = XorShift::for_process(k);
    let mut slot: Vec<Option<P::Handle>> = vec![None; SLOTS];
    let mut tags = vec![0u64; SLOTS];
    let mut out = ChildOut::default();
    let draw = |rng: &mut XorShift| match sizes {
        Sizes::Fixed(s) => s,
        Sizes::Variable => rng.w3_size(),
    };
    for j in 0..SLOTS {
        let size = draw(&mut rng);
        let Some(h) = pool.alloc(size) else {
            out.oom += 1;
            continue;
        };
        let t = ((k as u64 + 1) << 56) | (u64::MAX - j as u64).wrapping_add(1);
        // SAFETY: a live block of at least 16 bytes, 8-aligned, owned by us.
        unsafe { pool.word(h).write(t) };
        obs.allocated(pool, j, h, size);
        slot[j] = Some(h);
        tags[j] = t;
    }
    ctl.start(k);
    let mut checksum = 0u64;
    for n in 0..ops {
        let i = rng.slot();
        let size = draw(&mut rng);
        if let Some(h) = slot[i] {
            // SAFETY: as above.
            let v = unsafe { pool.word(h).read() };
            if v != tags[i] {
                out.errors += 1;
            }
            checksum = checksum.wrapping_add(v);
            pool.free(h);
            obs.freed(i);
        }
        if let Some(h) = pool.alloc(size) {
            let t = tag(k, n);
            // SAFETY: as above.
            unsafe { pool.word(h).write(t) };
            obs.allocated(pool, i, h, size);
            slot[i] = Some(h);
            tags[i] = t;
        } else {
            out.oom += 1;
            slot[i] = None;
        }
        out.ops += 1;
    }
    ctl.end(k);
    obs.done(pool);
    std::hint::black_box(checksum);
    for h in slot.into_iter().flatten() {
        pool.free(h);
    }
    out.errors += pool.errors();
    out.retries += pool.retries();
    out
}

/// Which run of a churn subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// The timed run.
    Timed,
    /// The fragmentation pass (untimed, bookkeeping after every op).
    Frag,
}

/// Whether the processes of a run share one pool.
#[derive(Clone, Copy, Debug)]
pub enum Sharing {
    /// One pool in one segment: footprint is the span over all processes,
    /// and `used` is the pool's, less `used0` (its value right after
    /// creation, `None` where the pool does not report it).
    Shared {
        /// `used()` right after creation, in the parent.
        used0: Option<u64>,
    },
    /// A pool per process (the system allocator): spans and `used` add up,
    /// and `used` counts from its value in each child before the fill.
    Private,
}

/// Runs `p` children of a churn workload, each over the pool `open(k)`
/// gives it (opened, attached and prefaulted there), as `pass` says.
pub fn run_pool<P: Pool>(
    p: usize,
    ops: u64,
    sizes: Sizes,
    pass: Pass,
    sharing: Sharing,
    open: impl Fn(usize) -> P,
) -> std::io::Result<RunOut> {
    let mut run = run_forked(p, |k, ctl| {
        let mut pool = open(k);
        match pass {
            Pass::Timed => churn(k, ctl, &mut pool, ops, sizes, &mut Untracked),
            Pass::Frag => {
                let used0 = match sharing {
                    Sharing::Shared { used0 } => used0,
                    Sharing::Private => pool.used(),
                };
                let mut track = FragTrack::new(used0);
                let mut out = churn(k, ctl, &mut pool, ops, sizes, &mut track);
                out.extra = track.words();
                out
            }
        }
    })?;
    if pass == Pass::Frag {
        run.frag = Some(frag::summarize(&run.extra, sharing));
    }
    Ok(run)
}

/// `system`: libc `malloc`/`free` on the process's private heap (glibc's
/// 16-byte alignment), called directly: the same calls a C loop makes, with
/// no `Layout` checks, no size carried in the handle and no Rust allocator
/// shim in between (scripts/churn_malloc.c is that C loop).
#[derive(Debug, Default)]
pub struct System;

impl Pool for System {
    type Handle = NonNull<u8>;
    #[inline(always)]
    fn alloc(&mut self, size: u64) -> Option<NonNull<u8>> {
        // SAFETY: malloc accepts any size; a null return is handled.
        NonNull::new(unsafe { libc::malloc(size as usize) }.cast())
    }
    #[inline(always)]
    fn free(&mut self, p: NonNull<u8>) {
        // SAFETY: `p` came from `malloc` and is freed once.
        unsafe { libc::free(p.as_ptr().cast()) };
    }
    #[inline(always)]
    fn word(&self, p: NonNull<u8>) -> *mut u64 {
        p.as_ptr().cast()
    }
    /// `mallinfo2().uordblks`: bytes in chunks malloc has handed out, this
    /// process's heap.
    fn used(&self) -> Option<u64> {
        // SAFETY: mallinfo2 only reads malloc's own state, under its locks.
        let info = unsafe { libc::mallinfo2() };
        Some(info.uordblks as u64)
    }
}

/// `system` in W2/W3/W4: each child churns its own private heap.
pub fn system_run(p: usize, ops: u64, sizes: Sizes, pass: Pass) -> std::io::Result<RunOut> {
    run_pool(p, ops, sizes, pass, Sharing::Private, |_| System)
}

#[cfg(test)]
mod tests {
    use super::super::harness::Ctl;
    use super::*;

    /// Records every allocation's slot and size.
    struct Record(Vec<(usize, u64)>);

    impl<P: Pool> Observer<P> for Record {
        fn allocated(&mut self, _: &P, i: usize, _: P::Handle, size: u64) {
            self.0.push((i, size));
        }
        fn freed(&mut self, _: usize) {}
        fn done(&mut self, _: &P) {}
    }

    /// The test vectors of docs/WORKLOADS.md through the loop itself: the fill draws one size per
    /// block, then each op draws the slot first and the size second.
    #[test]
    fn w3_draw_order_matches_the_test_vectors() {
        let mut rec = Record(Vec::new());
        churn(0, &Ctl::solo(), &mut System, 3, Sizes::Variable, &mut rec);
        let fill: Vec<u64> = rec.0[..5].iter().map(|a| a.1).collect();
        assert_eq!(fill, [3297, 460, 1565, 3673, 1847]);
        assert!(rec.0[..SLOTS].iter().enumerate().all(|(j, a)| a.0 == j));
        assert_eq!(rec.0[..SLOTS].iter().map(|a| a.1).sum::<u64>(), 8_463_948);
        assert_eq!(rec.0[SLOTS..], [(2566, 292), (1098, 3903), (2598, 3414)]);
        let mut rec = Record(Vec::new());
        churn(0, &Ctl::solo(), &mut System, 2, Sizes::Fixed(64), &mut rec);
        assert_eq!(rec.0[SLOTS..], [(2730, 64), (703, 64)]);
    }

    /// W3 over malloc in this process (no fork), with bookkeeping.
    #[test]
    fn system_w3_churn() {
        let mut sys = System;
        let mut track = FragTrack::new(sys.used());
        let ctl = Ctl::solo();
        let out = churn(0, &ctl, &mut sys, 20_000, Sizes::Variable, &mut track);
        assert_eq!((out.ops, out.errors, out.oom), (20_000, 0, 0));
        let [live, used, lo, hi] = track.words();
        assert!(live >= 8_463_948, "live peak {live}");
        // Other test threads share malloc's counters: a loose check.
        assert!(used > live / 2, "used {used}");
        assert!(hi - lo >= live, "span {}", hi - lo);
    }
}
