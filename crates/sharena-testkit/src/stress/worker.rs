//! One worker process: opens the segment by name, then either churns
//! (allocate, claim, stamp; later verify, release the claim, free) or, for
//! kinds that cannot free, fills the arena in phases that the parent ends
//! with a reset. Generic over [`Blocks`], so a new kind only brings its
//! [`Subject`] impl (and a `Blocks` impl if its blocks are not offsets).

use super::shared::{Claims, Control, Tally};
use crate::blocks::Blocks;
use crate::stamp::Stamp;
use crate::subject::{Release, Sizes, Subject};
use crate::XorShift;
use sharena::{Error, Result};
use std::time::Duration;

/// Operations between two looks at the stop word (and two publications of
/// the counters).
const POLL: u64 = 256;

/// How many times a pin or free held up by a move is tried again.
const BUSY_TRIES: u32 = 100;

/// The most blocks a worker holds in one phase of a reset kind.
const MAX_HELD: usize = 1 << 20;

/// Exit status of a worker that could not open the segment.
pub const EXIT_OPEN: i32 = 3;

/// Where a worker stands.
#[derive(Debug)]
pub struct Env<'a> {
    /// The control block.
    pub ctl: &'a Control,
    /// The duplicate table.
    pub claims: &'a Claims,
    /// This worker's slot.
    pub k: usize,
    /// Workers running at once (to size the working set).
    pub procs: usize,
}

/// A block this worker holds.
#[derive(Clone, Copy, Debug)]
struct Held<K> {
    block: K,
    len: u64,
    stamp: Stamp,
    /// Where the stamp was written, in this process's mapping.
    addr: usize,
}

/// What one allocation gave.
enum Got<K> {
    /// A block, claimed and stamped.
    Block(Held<K>),
    /// A block this worker must not touch (a duplicate or a bad offset).
    Dropped,
    /// Out of memory.
    Full,
    /// Another allocator error.
    Failed,
}

struct Worker<'a, B> {
    heap: &'a B,
    env: &'a Env<'a>,
    pid: u32,
    serial: u32,
    seq: u64,
    rng: XorShift,
    sizes: Sizes,
    t: Tally,
}

impl<'a, B: Blocks> Worker<'a, B> {
    fn new(heap: &'a B, env: &'a Env<'a>, sizes: Sizes) -> Self {
        let pid = std::process::id();
        let serial = env.ctl.serial(env.k);
        Worker {
            heap,
            env,
            pid,
            serial,
            seq: 0,
            rng: XorShift::for_process((u64::from(pid) << 20 ^ u64::from(serial)) as usize),
            sizes,
            t: Tally::default(),
        }
    }

    /// Runs `f` over the block's bytes (a handle heap pins the block
    /// meanwhile: the parent may kill this worker holding the pin, which
    /// the reclaim after the kill releases). A pin that waited out its
    /// bound for a move is tried again ([`Blocks::busy`]).
    fn access<R>(&mut self, b: B::Block, len: u64, mut f: impl FnMut(*mut u8) -> R) -> Result<R> {
        let mut tries = 0;
        loop {
            match self.heap.with_bytes(b, len, &mut f) {
                Err(e) if B::busy(&e) && tries < BUSY_TRIES => {
                    tries += 1;
                    self.t.busy += 1;
                    std::thread::yield_now();
                }
                r => return r,
            }
        }
    }

    /// Frees a block, trying again while a move holds it up.
    fn free(&mut self, b: B::Block) -> Result<()> {
        let mut tries = 0;
        loop {
            match self.heap.free(b) {
                Err(e) if B::busy(&e) && tries < BUSY_TRIES => {
                    tries += 1;
                    self.t.busy += 1;
                    std::thread::yield_now();
                }
                r => return r,
            }
        }
    }

    /// Allocates, claims and stamps one block.
    fn take(&mut self) -> Got<B::Block> {
        let len = self.sizes.pick(self.rng.next());
        let block = match self.heap.alloc(len) {
            Ok(b) => b,
            Err(Error::OutOfMemory { .. }) => {
                self.t.oom += 1;
                return Got::Full;
            }
            Err(_) => {
                self.t.errors += 1;
                return Got::Failed;
            }
        };
        self.t.ops += 1;
        let key = self.heap.key(block);
        if !self.env.claims.claim(key, self.serial) {
            // Another worker holds this block: leave its bytes alone.
            self.t.duplicates += 1;
            return Got::Dropped;
        }
        self.seq += 1;
        let stamp = Stamp {
            pid: self.pid,
            serial: self.serial,
            seq: self.seq,
        };
        let stamped = self.access(block, len, |p| {
            // SAFETY: `with_bytes` hands us a pointer to the block's `len`
            // bytes, in the segment, 8-aligned, and held in place for the
            // call; the block is live and claimed by this worker.
            unsafe { stamp.write(p, len as usize) };
            p as usize
        });
        let Ok(addr) = stamped else {
            self.t.errors += 1;
            self.env.claims.release(key, self.serial);
            return Got::Dropped;
        };
        Got::Block(Held {
            block,
            len,
            stamp,
            addr,
        })
    }

    /// Verifies a held block and releases its claim (before it is freed).
    fn retire(&mut self, h: &Held<B::Block>) {
        let checked = self.access(h.block, h.len, |p| {
            // SAFETY: as in `take`: in the segment, 8-aligned, held in
            // place for the call, still live.
            let ok = unsafe { h.stamp.check(p, h.len as usize) };
            (ok, p as usize)
        });
        match checked {
            Ok((true, addr)) => {
                self.t.verified += h.len;
                self.t.relocated += u64::from(addr != h.addr);
            }
            Ok((false, _)) => self.t.corruptions += 1,
            Err(_) => self.t.errors += 1,
        }
        if !self.env.claims.release(self.heap.key(h.block), self.serial) {
            self.t.errors += 1;
        }
    }

    /// Publishes the counters and says whether to stop.
    fn poll(&self) -> bool {
        self.env.ctl.publish(self.env.k, &self.t);
        self.env.ctl.stopped()
    }
}

/// The working set of a churning worker: about half the pool over all
/// workers, between 16 and 4096 blocks.
pub fn working_set(capacity: u64, procs: usize, sizes: Sizes) -> usize {
    let per = capacity / (2 * procs.max(1) as u64 * sizes.mean().max(1));
    per.clamp(16, 4096) as usize
}

/// Random churn over `slots` blocks until the parent says stop; then every
/// held block is verified and freed.
fn churn<B: Blocks>(heap: &B, env: &Env<'_>, sizes: Sizes, slots: usize) -> Tally {
    let mut w = Worker::new(heap, env, sizes);
    let mut live: Vec<Option<Held<B::Block>>> = vec![None; slots.max(1)];
    for n in 0u64.. {
        if n % POLL == 0 && w.poll() {
            break;
        }
        heap.tend(n + 1, &mut w.t);
        let i = (w.rng.next() % live.len() as u64) as usize;
        if let Some(h) = live[i].take() {
            give_back(&mut w, &h);
        }
        if let Got::Block(h) = w.take() {
            live[i] = Some(h);
        }
    }
    for h in live.into_iter().flatten() {
        give_back(&mut w, &h);
    }
    w.t
}

fn give_back<B: Blocks>(w: &mut Worker<'_, B>, h: &Held<B::Block>) {
    w.retire(h);
    match w.free(h.block) {
        Ok(()) => w.t.ops += 1,
        Err(_) => w.t.errors += 1,
    }
}

/// Phases for kinds that cannot free: allocate and stamp until the arena
/// is full (or `MAX_HELD` blocks), verify every own block and release its
/// claim, report the phase done, and wait until the parent (once every
/// live worker is done) resets the arena and starts the next phase.
fn phases<B: Blocks>(heap: &B, env: &Env<'_>, sizes: Sizes) -> Tally {
    let mut w = Worker::new(heap, env, sizes);
    let mut mine: Vec<Held<B::Block>> = Vec::new();
    let mut stop = false;
    while !stop {
        let phase = env.ctl.phase();
        for n in 0u64.. {
            if n % POLL == 0 && w.poll() {
                stop = true;
                break;
            }
            if mine.len() >= MAX_HELD {
                break;
            }
            match w.take() {
                Got::Block(h) => mine.push(h),
                Got::Dropped => {}
                Got::Full | Got::Failed => break,
            }
        }
        for h in std::mem::take(&mut mine) {
            w.retire(&h);
        }
        env.ctl.publish(env.k, &w.t);
        env.ctl.done_phase(env.k, phase);
        while !stop && env.ctl.phase() == phase {
            stop = env.ctl.stopped();
            std::thread::sleep(Duration::from_micros(20));
        }
    }
    w.t
}

/// Where a worker's handle comes from.
#[derive(Debug)]
pub enum Source<'a, S> {
    /// Open the segment by name (the first workers, while the name
    /// exists).
    Name(&'a str),
    /// Reattach to the segment this process inherited from the parent's
    /// handle (replacements: the name is unlinked by then).
    Inherited(&'a S),
}

// By hand: a derive would ask `S: Copy`; the variants only borrow.
impl<S> Clone for Source<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S> Copy for Source<'_, S> {}

/// A worker's life: attach (by name, or to the inherited mapping), say so,
/// run, drop the handle (its attachment ends), report. Returns the exit
/// status.
pub fn main<S: Subject>(src: Source<'_, S>, env: &Env<'_>) -> i32 {
    let subject = match src {
        Source::Name(name) => S::open(name),
        Source::Inherited(parent) => parent.reattach(),
    };
    let Ok(subject) = subject else {
        return EXIT_OPEN;
    };
    env.ctl.attached(env.k);
    let sizes = subject.sizes();
    let t = {
        let heap = subject.blocks();
        match subject.release() {
            Release::Free => {
                let slots = working_set(heap.capacity(), env.procs, sizes);
                churn(&heap, env, sizes, slots)
            }
            Release::Reset => phases(&heap, env, sizes),
        }
    };
    drop(subject);
    env.ctl.finish(env.k, &t);
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::Offsets;
    use sharena::layout::sync::{AtomicU64, Ordering};
    use sharena::{
        AllocStats, AllocatorKind, Offset, RegionId, Segment, SegmentOptions, SegmentView,
        ShmAllocator,
    };

    /// A broken allocator: hands out 64-byte blocks from a counter, but
    /// every block twice when `twice` is set.
    struct Fake {
        seg: Segment,
        next: AtomicU64,
        twice: bool,
    }

    impl Fake {
        fn new(twice: bool) -> Self {
            let seg =
                Segment::anonymous(&SegmentOptions::new(AllocatorKind::Raw, 1 << 20)).unwrap();
            let first = seg.view().region(RegionId::Pool).offset;
            Fake {
                seg,
                next: AtomicU64::new(first),
                twice,
            }
        }
    }

    impl ShmAllocator for Fake {
        fn view(&self) -> &SegmentView {
            self.seg.view()
        }
        fn alloc_aligned(&self, _size: u64, _align: u64) -> Result<Offset> {
            let step = if self.twice { 32 } else { 64 };
            // Relaxed: a test counter in one thread.
            let n = self.next.fetch_add(step, Ordering::Relaxed);
            Ok(Offset::new(n & !63))
        }
        fn free(&self, _offset: Offset) -> Result<()> {
            Ok(())
        }
        fn usable_size(&self, _offset: Offset) -> Result<u64> {
            Ok(64)
        }
        fn stats(&self) -> AllocStats {
            AllocStats::default()
        }
    }

    type FakeWorker<'a> = Worker<'a, Offsets<'a, Fake>>;

    fn two_workers(fake: &Fake, run: impl FnOnce(&mut FakeWorker<'_>, &mut FakeWorker<'_>)) {
        let ctl = Control::new(2).unwrap();
        let claims = Claims::new(fake.seg.view().len(), 64).unwrap();
        ctl.prepare(0, 1);
        ctl.prepare(1, 2);
        let env = |k| Env {
            ctl: &ctl,
            claims: &claims,
            k,
            procs: 2,
        };
        let (e0, e1) = (env(0), env(1));
        let heap = Offsets(fake);
        let mut w0 = Worker::new(&heap, &e0, Sizes::Fixed(64));
        let mut w1 = Worker::new(&heap, &e1, Sizes::Fixed(64));
        run(&mut w0, &mut w1);
    }

    #[test]
    fn a_block_handed_out_twice_is_a_duplicate() {
        let fake = Fake::new(true);
        two_workers(&fake, |w0, w1| {
            let Got::Block(h) = w0.take() else {
                panic!("first take")
            };
            assert!(matches!(w1.take(), Got::Dropped));
            assert_eq!(w1.t.duplicates, 1);
            w0.retire(&h);
            assert_eq!((w0.t.verified, w0.t.corruptions, w0.t.errors), (64, 0, 0));
        });
    }

    #[test]
    fn a_changed_byte_is_a_corruption() {
        let fake = Fake::new(false);
        two_workers(&fake, |w0, w1| {
            let Got::Block(h) = w0.take() else {
                panic!("take")
            };
            let Got::Block(g) = w1.take() else {
                panic!("take")
            };
            let p = fake.view().ptr(Offset::new(h.block.get() + 63), 1).unwrap();
            // SAFETY: the last byte of a block of the fake's pool.
            unsafe { p.as_ptr().write_volatile(p.as_ptr().read_volatile() ^ 1) };
            w0.retire(&h);
            w1.retire(&g);
            assert_eq!((w0.t.verified, w0.t.corruptions), (0, 1));
            assert_eq!((w1.t.verified, w1.t.corruptions), (64, 0));
            assert_eq!(w0.t.duplicates + w1.t.duplicates, 0);
        });
    }

    #[test]
    fn working_sets() {
        assert_eq!(working_set(64 << 20, 4, Sizes::Fixed(64)), 4096);
        assert_eq!(working_set(64 << 10, 4, Sizes::Fixed(64)), 128);
        assert_eq!(
            working_set(
                1 << 20,
                8,
                Sizes::Uniform {
                    lo: 1,
                    hi: 64 << 10
                }
            ),
            16
        );
    }
}
