//! Which block a caller's offset names: every check a free, a share or a
//! `usable_size` makes before it touches anything (`FreeList::locate`).

use crate::arena::{Fault, Pool};
use crate::block::{Link, State, Tag, HEADER, MIN_BLOCK};
use crate::chunks::{Entry, Kind};
use crate::class::{GRANULE, GRANULE_SHIFT};
use crate::FreeList;
use shm_layout::sync::Ordering;
use shm_layout::{Error, Offset, Result, SegmentView};

impl<S: AsRef<SegmentView>> FreeList<S> {
    /// The header offset, tag and first chunk's table entry of the live
    /// block whose payload starts at `offset`, or why it is not one. For a
    /// huge block the entry is its run's head.
    #[inline(always)]
    pub(crate) fn locate(&self, pool: &Pool<'_>, offset: Offset) -> Result<(u64, Tag, Entry)> {
        let off = offset.get();
        let invalid = |reason| Error::InvalidOffset {
            offset: off,
            reason,
        };
        if off < self.pool_off + HEADER || off >= self.pool_end {
            return Err(invalid("not inside this free list's pool"));
        }
        if off % GRANULE != 0 {
            return Err(invalid("not 16-byte aligned, so not a block start"));
        }
        let b = off - HEADER;
        let c = pool.chunk_of(b);
        let e = pool.map().entry(c).map_err(|f| self.corrupt(f.into()))?;
        let tag = Tag::unpack(
            pool.word(b)
                .map_err(|f| self.corrupt(f))?
                .load(Ordering::Relaxed),
        )
        .ok_or_else(|| invalid("not the start of a block"))?;
        let ok = match e.kind() {
            // One table word suffices for a span block: the chunk belongs to
            // the tag's arena, and the size is at most a span (the arena
            // checks every neighbour it touches).
            Kind::SpanHead | Kind::SpanBody => {
                !tag.huge()
                    // A REMOTE tag names its freer, not its arena.
                    && (tag.owner() == e.owner() || tag.state() == State::Remote)
                    && e.owner() != 0
                    && u64::from(tag.size()) >= MIN_BLOCK
                    && u64::from(tag.size()) << GRANULE_SHIFT <= self.max_span
                    && b + (u64::from(tag.size()) << GRANULE_SHIFT) <= self.pool_end
            }
            Kind::HugeHead => {
                let n = u64::from(e.n());
                if n == 0 || c + n > pool.map().chunks() {
                    return Err(
                        self.corrupt(Fault::Chunk(crate::chunks::Fault::Entry(c, e.pack())))
                    );
                }
                let link = pool
                    .word(b.wrapping_add(8))
                    .map_err(|f| self.corrupt(f))?
                    .load(Ordering::Relaxed);
                // A hostile link is refused by `unpack`; a good one is at
                // most 2^35 bytes, so the sum stays far below `u64::MAX`.
                tag.huge()
                    && tag.owner() == e.owner()
                    && Link::unpack(link).is_some_and(|l| {
                        pool.chunk_off(c) + (u64::from(l.size) << GRANULE_SHIFT) == off
                    })
            }
            Kind::Free | Kind::Parked | Kind::Claiming | Kind::Releasing => {
                // A block freed with its whole span or run (or in a run
                // being claimed or given back): its tag still says so until
                // the chunks are used again.
                return Err(match tag.state() {
                    State::Free | State::Remote => Error::DoubleFree { offset: off },
                    State::Used => invalid("not inside a live block"),
                });
            }
            Kind::HugeBody => false,
        };
        if !ok {
            return Err(invalid("not the start of a block"));
        }
        match tag.state() {
            State::Used if tag.cached() => Err(Error::DoubleFree { offset: off }),
            State::Used => Ok((b, tag, e)),
            State::Free | State::Remote => Err(Error::DoubleFree { offset: off }),
        }
    }
}
