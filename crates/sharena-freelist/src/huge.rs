//! Huge blocks: runs of whole chunks straight from the chunk heap, for
//! blocks larger than a chunk (and for every block of a thread that has no
//! arena of its own).
//!
//! A huge run belongs to an arena like a span: its head is
//! `HugeHead(owner, n)`, its header's tag names the same owner, and the
//! reclaim (or the `Drop`) of that arena frees it unless it is shared. It
//! is claimed like a span (`ChunkMap::claim`, a `Claiming` head first) and
//! published after its header; it is freed by the tag CAS to FREE (the
//! free's linearization point), then given back by the CAS of its head to
//! `Releasing` by an arena the freer holds. A freer that dies between the
//! two, or holds no arena, leaves a FREE header on a taken run: `tidy`
//! gives such runs back (`reclaim_dead` runs it), and so does the owner's
//! reclaim.

use crate::arena::Pool;
use crate::block::{cas_state, with_slack, Link, State, Tag, HEADER, MAX_SLACK};
use crate::chunks::{Entry, Kind};
use crate::class::GRANULE_SHIFT;
use crate::rebuild::huge_header;
use crate::FreeList;
use shm_layout::sync::Ordering;
use shm_layout::{Error, Offset, Result, SegmentView};

impl<S: AsRef<SegmentView>> FreeList<S> {
    /// The arena (id + 1) that answers for this thread's chunk runs and
    /// remote frees: its own arena, else the handle's primary (threads
    /// without an arena of their own act under it).
    #[inline]
    pub(crate) fn acting_arena(&self) -> Option<u32> {
        self.current_arena().or(self.primary)
    }

    /// A block of whole chunks straight from the chunk heap, owned by the
    /// calling thread's arena (or the handle's first one).
    pub(crate) fn alloc_huge(&self, size: u64, align: u64) -> Result<Offset> {
        let Some(id) = self.my_arena().or(self.primary) else {
            return Err(crate::freelist::no_arena());
        };
        let owner = (id + 1) as u16;
        let pool = self.pool();
        let front = align.max(HEADER);
        let bytes = size.checked_add(front).ok_or(Error::SizeTooLarge {
            size,
            max: self.max_alloc(),
        })?;
        let k = bytes.div_ceil(1 << self.geo.chunk_shift);
        let claim = || pool.map().claim(k, owner, Kind::HugeBody);
        let first = claim()
            .or_else(|| {
                // Short of chunks: give back this thread's spare spans and
                // everything nobody holds, then steal every parked span
                // (ours included). Corruption found here surfaces on its
                // owner's next operation; this allocation just fails as it
                // would.
                if let Some(id) = self.current_arena() {
                    let _ = self.arena_in(&self.pool(), id).give_back_spare();
                }
                self.tidy_exited();
                let _ = self.tidy();
                pool.map().steal_parked(owner);
                claim()
            })
            .ok_or_else(|| self.out_of_memory(size))?;
        pool.note_claim(first + k);
        let start = pool.chunk_off(first);
        let b = start + front - HEADER;
        let tag = Tag::new(State::Used, true, owner, 0);
        let link = Link {
            prev_free: false,
            size: (front >> GRANULE_SHIFT) as u32,
        };
        // The usable bytes past the request (less than a chunk): checked
        // reads and writes stop at `size`.
        let usable = (k << self.geo.chunk_shift) - front;
        let link = with_slack(link.pack(), usable.saturating_sub(size).min(MAX_SLACK));
        let err = |f| self.corrupt(f);
        // Relaxed: the Release of `publish` (below) publishes them. The
        // words where a header of a smaller alignment would sit are zeroed
        // (`rebuild::huge_header` must not meet a stale header there: a claim
        // rolled back after a death leaves one).
        let mut lower = HEADER;
        while lower < front {
            pool.word(start + lower - HEADER)
                .map_err(err)?
                .store(0, Ordering::Relaxed);
            lower <<= 1;
        }
        pool.word(b.wrapping_add(8))
            .map_err(err)?
            .store(link, Ordering::Relaxed);
        pool.word(b)
            .map_err(err)?
            .store(tag.pack(), Ordering::Relaxed);
        pool.map()
            .publish(first, Entry::new(Kind::HugeHead, owner, k as u32));
        Ok(Offset::new(b + HEADER))
    }

    /// Frees the huge block `b` (tag `tag`), whose run starts at the chunk
    /// holding `b` with head entry `head`.
    pub(crate) fn free_huge(&self, pool: &Pool<'_>, b: u64, tag: Tag, head: Entry) -> Result<()> {
        if !cas_state(pool.word(b).map_err(|f| self.corrupt(f))?, tag, State::Free) {
            return Err(Error::DoubleFree { offset: b + HEADER });
        }
        // The run goes back through a CAS of its head to `Releasing` by an
        // arena this attachment holds: a reclaim, or a tidy of freed huge
        // blocks, may race us for it, and the winner gives the chunks back.
        // A handle that holds no arena leaves the run to them.
        if let Some(id) = self.acting_arena() {
            pool.map().take_run(pool.chunk_of(b), head, (id + 1) as u16);
        }
        Ok(())
    }

    /// Bytes and count of live (USED) huge blocks, from the chunk table:
    /// one step per run, 64 chunks per step where the bitmap is clear (a
    /// stable huge run always has its bits set).
    pub(crate) fn huge_usage(&self, pool: &Pool<'_>) -> (u64, u64) {
        let map = &pool.map();
        let chunks = map.chunks();
        let (mut bytes, mut count) = (0, 0);
        let mut c = 0;
        while c < chunks {
            if c % 64 == 0 && map.bitmap[(c / 64) as usize].load(Ordering::Relaxed) == 0 {
                c += 64;
                continue;
            }
            let Ok(e) = map.entry(c) else {
                c += 1;
                continue;
            };
            let n = u64::from(e.n());
            let whole = n > 0 && c + n <= chunks;
            if e.kind() == Kind::HugeHead && whole {
                let run = n << self.geo.chunk_shift;
                let used = huge_header(pool, pool.chunk_off(c), run, e.owner())
                    .is_some_and(|(_, t)| t.state() == State::Used);
                if used {
                    bytes += run;
                    count += 1;
                }
            }
            c += crate::chunks::stable_step(e, whole, n);
        }
        (bytes, count)
    }

    /// Gives back the runs of huge blocks whose header is FREE (freed by a
    /// process that died before giving the run back, or that held no arena
    /// to give it back under), each under the calling thread's arena (skipped
    /// if it has none). One pass over the table.
    pub(crate) fn tidy_huge(&self) {
        let Some(id) = self.acting_arena() else {
            return;
        };
        let pool = self.pool();
        let map = &pool.map();
        let chunks = map.chunks();
        let mut c = 0;
        while c < chunks {
            let Ok(e) = map.entry(c) else {
                c += 1;
                continue;
            };
            let n = u64::from(e.n());
            let whole = n > 0 && c + n <= chunks;
            if e.kind() == Kind::HugeHead && whole {
                let run = n << self.geometry().chunk_shift;
                let freed = huge_header(&pool, pool.chunk_off(c), run, e.owner())
                    .is_some_and(|(_, t)| t.state() == State::Free);
                if freed {
                    map.take_run(c, e, (id + 1) as u16);
                }
            }
            c += crate::chunks::stable_step(e, whole, n);
        }
    }
}
