//! The block header: two words at the start of every block, the payload
//! right after (packed words with typed pack/unpack helpers).
//!
//! ```text
//! word 0 (tag):  bits 0..2   state: 1 FREE, 2 USED, 3 REMOTE (0: not a header)
//!                bit  2      SHARED: a USED block handed over to the
//!                            segment (`Recover::share`); never reclaimed
//!                bit  3      HUGE: a block of whole chunks (see `chunks.rs`)
//!                bit  4      CACHED: a USED block parked in its arena's
//!                            class cache (not the user's any more)
//!                bits 5..8   zero
//!                bits 8..24  owner: arena id + 1 (0: none); in a REMOTE
//!                            block, the *freer's* arena id + 1 instead, or
//!                            0xFFFF: orphaned (its freer died; see below)
//!                bits 24..32 MAGIC
//!                bits 32..64 size in granules, header included (0 if HUGE)
//! word 1 (link): bits 0..32  size of the previous block in granules
//!                bit  32     the previous block is FREE (bits 0..32 valid)
//!                bits 33..64 slack: in a USED block (huge or not), the
//!                            usable bytes past the size its allocation
//!                            asked for (checked reads and writes stop
//!                            there); stale in any other block
//!                (HUGE: bits 0..32 are the bytes from the run start to the
//!                 payload, in granules)
//! payload of a FREE block:   word 2 next, word 3 previous block in its bin
//!                            (offsets from the segment base, 0 ends)
//! payload of a REMOTE block: word 2 next block on the arena's remote list
//! ```
//! Word 0 is written by the arena's owner, except that any thread may CAS a
//! USED word to REMOTE (a free by a non-owner) or to USED|SHARED (a share),
//! and a reclaim CASes a dead freer's REMOTE word to orphaned; word 1 and
//! the payload links of FREE blocks are the owner's alone. Every
//! transition that frees a block (to FREE, REMOTE or CACHED) clears SHARED:
//! sharing is a property of a live block only.
//!
//! A REMOTE block's own arena is the one the chunk table gives its span;
//! its tag names who freed it, so that the one CAS that decides a remote
//! free also records the freer: a reclaim of a freer that died before its
//! push can tell its block from any other REMOTE block (`rebuild.rs`).

use shm_layout::sync::{AtomicU64, Ordering};

/// Bytes of header before every payload.
pub const HEADER: u64 = 16;
/// The smallest block in granules (header + two link words).
pub const MIN_BLOCK: u64 = 2;
/// The byte that marks a header word.
pub const MAGIC: u64 = 0xB7;

/// The owner field of an orphaned REMOTE block: freed by a process that
/// died around its push, so never to be pushed again (no arena id is this).
pub const ORPHAN: u16 = 0xFFFF;

/// What a block is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// In a bin of its arena.
    Free = 1,
    /// Handed out to a user.
    Used = 2,
    /// Freed by a non-owner, on (or about to go on) its arena's remote list.
    Remote = 3,
}

/// A validated tag word, decoded by its accessors (a packed word moves
/// through registers whole; see `chunks::Entry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag(u64);

const STATE_MASK: u64 = 0b11;
const SHARED_BIT: u64 = 1 << 2;
const HUGE_BIT: u64 = 1 << 3;
const CACHED_BIT: u64 = 1 << 4;
const ZERO_MASK: u64 = 0xE0;

impl Tag {
    /// A tag of `state`, `huge` or not, owner `owner`, `size` granules.
    #[inline(always)]
    pub const fn new(state: State, huge: bool, owner: u16, size: u32) -> Tag {
        Tag((state as u64)
            | if huge { HUGE_BIT } else { 0 }
            | ((owner as u64) << 8)
            | (MAGIC << 24)
            | ((size as u64) << 32))
    }

    /// The state.
    #[inline(always)]
    pub const fn state(self) -> State {
        match self.0 & STATE_MASK {
            1 => State::Free,
            2 => State::Used,
            _ => State::Remote,
        }
    }

    /// A block of whole chunks.
    #[inline(always)]
    pub const fn huge(self) -> bool {
        self.0 & HUGE_BIT != 0
    }

    /// A live block handed over to the segment (never reclaimed).
    #[inline(always)]
    pub const fn shared(self) -> bool {
        self.0 & SHARED_BIT != 0
    }

    /// The same tag, shared.
    #[inline(always)]
    pub const fn with_shared(self) -> Tag {
        Tag(self.0 | SHARED_BIT)
    }

    /// A freed block held in its arena's class cache (state USED).
    #[inline(always)]
    pub const fn cached(self) -> bool {
        self.0 & CACHED_BIT != 0
    }

    /// The same tag, cached or not (and not shared: a cached block was
    /// freed, and one taken from the cache is a new allocation).
    #[inline(always)]
    pub const fn with_cached(self, cached: bool) -> Tag {
        if cached {
            Tag((self.0 | CACHED_BIT) & !SHARED_BIT)
        } else {
            Tag(self.0 & !(CACHED_BIT | SHARED_BIT))
        }
    }

    /// Arena id + 1 of the owner.
    #[inline(always)]
    pub const fn owner(self) -> u16 {
        (self.0 >> 8) as u16
    }

    /// Size in granules, header included (0 for huge blocks).
    #[inline(always)]
    pub const fn size(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// Packs into the shared word.
    #[inline(always)]
    pub const fn pack(self) -> u64 {
        self.0
    }

    /// Unpacks a shared word; `None` unless it is a well-formed header word
    /// (magic, state, zero bits).
    #[inline(always)]
    pub const fn unpack(word: u64) -> Option<Tag> {
        // The magic byte and the zero bits in one compare.
        if word & (0xFF << 24 | ZERO_MASK) != MAGIC << 24 || word & STATE_MASK == 0 {
            return None;
        }
        Some(Tag(word))
    }

    /// A FREE tag of `size` granules owned by `owner`.
    #[inline(always)]
    pub const fn free(owner: u16, size: u32) -> Tag {
        Tag::new(State::Free, false, owner, size)
    }

    /// A USED tag of `size` granules owned by `owner`.
    #[inline(always)]
    pub const fn used(owner: u16, size: u32) -> Tag {
        Tag::new(State::Used, false, owner, size)
    }

    /// The same tag in another state (and neither cached nor shared).
    #[inline(always)]
    pub const fn with(self, state: State) -> Tag {
        Tag((self.0 & !(STATE_MASK | CACHED_BIT | SHARED_BIT)) | state as u64)
    }

    /// The same block REMOTE, freed by arena `freer` (id + 1, or
    /// [`ORPHAN`]).
    #[inline(always)]
    pub const fn remote_by(self, freer: u16) -> Tag {
        Tag((self.with(State::Remote).0 & !0xFF_FF00) | ((freer as u64) << 8))
    }
}

/// Moves the tag word `word` from exactly `t` (or `t` shared since) to
/// `new`: `false` if it is not `t` any more (another free of the block won).
/// Relaxed, as `cas_state`.
#[inline(always)]
pub fn cas_tag(word: &AtomicU64, t: Tag, new: Tag) -> bool {
    cas_tag_with(word, t, new, Ordering::Relaxed)
}

/// [`cas_tag`] with `success` as the ordering of a CAS that wins.
#[inline(always)]
pub fn cas_tag_with(word: &AtomicU64, t: Tag, new: Tag, success: Ordering) -> bool {
    match word.compare_exchange(t.pack(), new.pack(), success, Ordering::Relaxed) {
        Ok(_) => true,
        Err(now) => retry_shared(word, t, now, new, success),
    }
}

/// A free's CAS found `now` instead of `t`: if the only difference is that
/// the block was shared in between (a share racing the free), the free
/// still wins from the shared word; anything else lost the race.
#[cold]
#[inline(never)]
fn retry_shared(word: &AtomicU64, t: Tag, now: u64, new: Tag, success: Ordering) -> bool {
    now == t.pack() | SHARED_BIT
        && t.state() == State::Used
        && word
            // As the CAS it retries.
            .compare_exchange(now, new.pack(), success, Ordering::Relaxed)
            .is_ok()
}

/// Moves the tag word `word` from exactly `t` to `t` in state `to`:
/// `false` if it is not `t` any more (another free of the block won).
///
/// Relaxed: this CAS only decides which of two racing frees wins; the block's
/// bytes are ordered by the user's own hand-off, and a remote free publishes
/// the new tag to the owner with the Release of its push.
#[inline(always)]
pub fn cas_state(word: &AtomicU64, t: Tag, to: State) -> bool {
    cas_tag(word, t, t.with(to))
}

/// Marks the USED block whose tag word is `word` shared: `Ok(true)` if this
/// call set the bit, `Ok(false)` if it was already set, `Err(tag)` (the word
/// found) if the block is not a live USED block. Relaxed: the bit is only
/// read by reclaim, which adopts the arena with an AcqRel CAS after the
/// sharing process handed the block on by its own synchronisation.
pub fn cas_share(word: &AtomicU64) -> Result<bool, u64> {
    let mut cur = word.load(Ordering::Relaxed);
    // Bounded: each retry means another process changed the word, and the
    // only change that keeps it USED and unshared is none (a free moves it
    // out of USED); two rounds suffice, four for margin.
    for _ in 0..4 {
        let t = Tag::unpack(cur).ok_or(cur)?;
        if t.state() != State::Used || t.cached() {
            return Err(cur);
        }
        if t.shared() {
            return Ok(false);
        }
        match word.compare_exchange(
            cur,
            t.with_shared().pack(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return Ok(true),
            Err(now) => cur = now,
        }
    }
    Err(cur)
}

/// The previous-block word (word 1), less its slack bits (see
/// [`slack_of`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// The previous block is FREE.
    pub prev_free: bool,
    /// Its size in granules (meaningful when `prev_free`), or for a huge
    /// block the granules from the run start to the payload.
    pub size: u32,
}

const PREV_FREE_BIT: u64 = 1 << 32;
/// Link sizes are below this many granules: a span, so an in-span block,
/// is at most 2^35 bytes (`arena::max_span_bytes`), and a huge payload is
/// at most `MAX_ALIGN` bytes from its run start.
pub const MAX_LINK: u64 = 1 << (35 - 4);
/// The first bit of a link word's slack.
const SLACK_SHIFT: u32 = 33;
/// The bits of a link word that hold the slack.
const SLACK_MASK: u64 = !((1 << SLACK_SHIFT) - 1);
/// The most slack a link word holds (31 bits).
pub const MAX_SLACK: u64 = (1 << (64 - SLACK_SHIFT)) - 1;

/// The slack recorded in link word `word`: in a USED block, its usable
/// bytes past the size asked for.
#[inline(always)]
pub const fn slack_of(word: u64) -> u64 {
    word >> SLACK_SHIFT
}

/// Link word `word` with its slack set to `slack` (at most [`MAX_SLACK`],
/// which every in-span and huge block's slack is: less than a chunk plus
/// a size class's width).
#[inline(always)]
pub const fn with_slack(word: u64, slack: u64) -> u64 {
    (word & !SLACK_MASK) | (slack << SLACK_SHIFT)
}

/// `link` packed over the old word `old`, keeping `old`'s slack: the link
/// of a block describes the block before it, and rewriting that must not
/// lose what the block itself records.
#[inline(always)]
pub const fn relink(old: u64, link: Link) -> u64 {
    (old & SLACK_MASK) | link.pack()
}

impl Link {
    /// No free block before this one.
    pub const NONE: Link = Link {
        prev_free: false,
        size: 0,
    };

    /// Packs into the shared word.
    #[inline(always)]
    pub const fn pack(self) -> u64 {
        (self.size as u64) | if self.prev_free { PREV_FREE_BIT } else { 0 }
    }

    /// Unpacks the low 33 bits (the slack above them is [`slack_of`]'s);
    /// `None` unless they are a link some block can have: a FREE block
    /// before holds at least [`MIN_BLOCK`] granules, and no size (a span
    /// block's, or a huge payload's distance from its run start) reaches
    /// [`MAX_LINK`] granules. A hostile word is refused here, so no
    /// arithmetic ever trusts it.
    #[inline(always)]
    pub const fn unpack(word: u64) -> Option<Link> {
        let size = word as u32;
        let prev_free = word & PREV_FREE_BIT != 0;
        if (prev_free && (size as u64) < MIN_BLOCK) || size as u64 >= MAX_LINK {
            return None;
        }
        Some(Link { prev_free, size })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn tags_round_trip(s in 1u8..4, huge: bool, owner: u16, size: u32) {
            let state = [State::Free, State::Used, State::Remote][s as usize - 1];
            let t = Tag::new(state, huge, owner, size);
            prop_assert_eq!((t.state(), t.huge(), t.owner(), t.size()), (state, huge, owner, size));
            prop_assert_eq!(Tag::unpack(t.pack()), Some(t));
            let sh = t.with_shared();
            prop_assert!(sh.shared() && !t.shared());
            prop_assert_eq!(Tag::unpack(sh.pack()), Some(sh));
            prop_assert!(!sh.with(State::Free).shared());
            prop_assert!(!sh.with_cached(true).shared());
            prop_assert!(!sh.with_cached(true).with_cached(false).shared());
            let r = sh.remote_by(ORPHAN);
            prop_assert_eq!((r.state(), r.owner(), r.size(), r.huge()), (State::Remote, ORPHAN, size, huge));
            prop_assert_eq!(Tag::unpack(r.pack()), Some(r));
        }

        #[test]
        fn any_word_unpacks_to_itself_or_none(w: u64) {
            if let Some(t) = Tag::unpack(w) {
                prop_assert_eq!(t.pack(), w);
            }
            if let Some(l) = Link::unpack(w) {
                prop_assert_eq!(with_slack(l.pack(), slack_of(w)), w);
                prop_assert_eq!(relink(w, l), w);
                prop_assert!(u64::from(l.size) < MAX_LINK);
                prop_assert!(!l.prev_free || u64::from(l.size) >= MIN_BLOCK);
            } else {
                let size = w & 0xFFFF_FFFF;
                prop_assert!(size >= MAX_LINK || (w >> 32 & 1 == 1 && size < MIN_BLOCK));
            }
        }

        #[test]
        fn links_round_trip(prev_free: bool, size in 0u32..(MAX_LINK as u32)) {
            let l = Link { prev_free, size };
            let back = Link::unpack(l.pack());
            if prev_free && u64::from(size) < MIN_BLOCK {
                prop_assert_eq!(back, None);
            } else {
                prop_assert_eq!(back, Some(l));
            }
        }
    }

    #[test]
    fn zero_is_not_a_header() {
        assert_eq!(Tag::unpack(0), None);
        assert_eq!(Tag::unpack(MAGIC << 24), None);
        assert_eq!(Link::unpack(0), Some(Link::NONE));
        // Hostile link words: a FREE block before of under two granules,
        // sizes no span holds.
        assert_eq!(Link::unpack(PREV_FREE_BIT), None);
        assert_eq!(Link::unpack(PREV_FREE_BIT | 1), None);
        assert_eq!(Link::unpack(u64::from(u32::MAX)), None);
        assert_eq!(Link::unpack(PREV_FREE_BIT | MAX_LINK), None);
        assert_eq!(Link::unpack(u64::MAX), None);
        assert_eq!(
            Link::unpack(with_slack(PREV_FREE_BIT | 2, MAX_SLACK)),
            Some(Link {
                prev_free: true,
                size: 2
            })
        );
        assert_eq!(slack_of(with_slack(u64::MAX, MAX_SLACK)), MAX_SLACK);
    }
}
