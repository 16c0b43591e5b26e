//! The remote-free list of an arena: blocks freed by threads or processes
//! that do not own the arena, waiting for the owner to take them in.
//!
//! Many producers push with a CAS on the head (a Treiber push, R. K.
//! Treiber, IBM RJ 5118, 1986); the one consumer, the arena's owner, takes
//! the whole list at once with a swap. ABA cannot bite: a push only needs
//! the head it read to still be the head, and whatever happened in between
//! (the owner took the list, others pushed the same blocks again), the
//! block it links to *is* the current head's block; the consumer never
//! pops single nodes, so no reader follows a stale `next` (the scheme of
//! mimalloc's thread-delayed free lists, Leijen, Zorn, de Moura 2019).
//!
//! The link lives in the freed block's payload (its first word after the
//! header), which its user gave up.

use crate::block::{cas_tag_with, Tag};
use shm_layout::sync::{spin_loop, AtomicU64, Ordering};

/// Pushes block `off` (nonzero) onto the list at `head`; `link` is the
/// block's link word.
#[inline]
pub fn push(head: &AtomicU64, off: u64, link: &AtomicU64) {
    debug_assert!(off != 0);
    let mut cur = head.load(Ordering::Relaxed);
    loop {
        link.store(cur, Ordering::Relaxed);
        // SYNC POINT (remote push, Release): pairs with the Acquire swap in
        // `take_all`: the link and the block's REMOTE tag are visible to the
        // owner before it follows the list.
        match head.compare_exchange_weak(cur, off, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return,
            Err(now) => {
                cur = now;
                spin_loop();
            }
        }
    }
}

/// Takes the whole list (the owner only); returns its first block, 0 if
/// empty. The caller follows the links with a bound and checks every one.
#[cfg(all(test, shm_loom))]
#[inline]
pub fn take_all(head: &AtomicU64) -> u64 {
    if head.load(Ordering::Relaxed) == 0 {
        return 0;
    }
    // SYNC POINT (remote take, Acquire): pairs with the Release CAS in
    // `push`.
    head.swap(0, Ordering::Acquire)
}

/// Takes the whole list (the owner, or an adopter) like `take_all`, but
/// first records the list it takes in `draining` (owner-only), so that at
/// every instruction each pushed block is reachable from `head` or from
/// `draining`: `draining` is written before the CAS that empties `head`,
/// and the CAS only succeeds if `head` still is the list recorded (a push
/// in between makes it retry with the longer list, which ends with the one
/// recorded). Lock-free: a retry means a push succeeded.
#[inline]
pub fn take_into(head: &AtomicU64, draining: &AtomicU64) -> u64 {
    let mut cur = head.load(Ordering::Relaxed);
    loop {
        if cur == 0 {
            return 0;
        }
        // Relaxed: read only by an adopter after this process died.
        draining.store(cur, Ordering::Relaxed);
        // SYNC POINT (remote take, Acquire): pairs with the Release CAS in
        // `push`, as the swap of `take_all`.
        match head.compare_exchange_weak(cur, 0, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return cur,
            Err(now) => {
                cur = now;
                spin_loop();
            }
        }
    }
}

/// A free by a non-owner: records block `b` in the freer's `pending` word,
/// moves its tag word `tag` from USED (`t`) to REMOTE by arena `freer`,
/// pushes `b` (with its link word `link`) onto the list at `head`, and
/// clears `pending`. `false` if another free of the block won.
///
/// A freer killed anywhere leaves `b` either USED (the free never
/// happened), or on the list, or named by `pending` with a tag that names
/// the freer: the reclaim of the freer's arena finds it there
/// (`rebuild::resolve_pending`).
pub fn free_block(
    tag: &AtomicU64,
    t: Tag,
    link: &AtomicU64,
    head: &AtomicU64,
    b: u64,
    freer: u16,
    pending: &AtomicU64,
) -> bool {
    // Relaxed: the Release CAS below publishes it with the tag.
    pending.store(b, Ordering::Relaxed);
    // Release: whoever sees the REMOTE tag sees `pending` name the block.
    if !cas_tag_with(tag, t, t.remote_by(freer), Ordering::Release) {
        // Relaxed: owner-only, and nothing was freed.
        pending.store(0, Ordering::Relaxed);
        return false;
    }
    #[cfg(not(shm_loom))]
    crate::crash::point(crate::crash::Point::RemotePush);
    push(head, b, link);
    // Release: whoever reads `pending` empty sees the push.
    pending.store(0, Ordering::Release);
    true
}

#[cfg(not(shm_loom))]
mod handle {
    use crate::arena::{free_remote, Pool};
    use crate::block::{Tag, HEADER};
    use crate::freelist::no_arena;
    use shm_layout::{Error, Result, SegmentView};

    /// The remote free of a handle: which arena records it.
    impl<S: AsRef<SegmentView>> crate::FreeList<S> {
        /// Frees the in-span block `b` (tag `tag`) of arena `owner_id` from a
        /// thread whose own arena is `mine` (not that one): a remote free
        /// recorded in the freer's arena (`remote::free_block`); threads without
        /// an arena of their own share the primary's second record, one at a
        /// time.
        pub(crate) fn free_into(
            &self,
            pool: &Pool<'_>,
            owner_id: u32,
            b: u64,
            tag: Tag,
            mine: Option<u32>,
        ) -> Result<()> {
            let target = self.arena_head(owner_id);
            let done = match (mine, self.primary) {
                (Some(id), _) => free_remote(
                    pool,
                    target,
                    b,
                    tag,
                    (id + 1) as u16,
                    &self.arena_head(id).pending,
                ),
                (None, Some(p)) => {
                    let _turn = self
                        .shared_pending
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    free_remote(
                        pool,
                        target,
                        b,
                        tag,
                        (p + 1) as u16,
                        &self.arena_head(p).pending_shared,
                    )
                }
                (None, None) => match self.my_arena() {
                    Some(id) => free_remote(
                        pool,
                        target,
                        b,
                        tag,
                        (id + 1) as u16,
                        &self.arena_head(id).pending,
                    ),
                    None => return Err(no_arena()),
                },
            };
            match done {
                Ok(true) => {
                    self.after_remote_free(owner_id);
                    Ok(())
                }
                Ok(false) => Err(Error::DoubleFree { offset: b + HEADER }),
                Err(f) => Err(self.corrupt(f)),
            }
        }
    }
}
