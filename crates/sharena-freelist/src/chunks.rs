//! The chunk heap: the pool cut into equal chunks, a table saying what
//! each chunk belongs to, and a bitmap of taken chunks that indexes it.
//!
//! **The table is the record of ownership.** A chunk is taken exactly when
//! its table word is not `Free`, and every table word of a run names the
//! arena that answers for it ([`Entry`]): the head of a run records its
//! kind, owner and length, every other chunk of the run how far back its
//! head is. Arena spans, huge blocks and parked spans are runs; so are the
//! two transitions, written before anything else changes and cleared last:
//!
//! - *claim* (`ChunkMap::claim`): the head word is CASed from `Free` to
//!   `Claiming(owner, k)`, then each body word from `Free` to its body
//!   entry, in address order; a word found taken rolls the claim back
//!   (bodies, then the head) and the scan goes on past it. Then the bits are
//!   set, the caller writes the run's first header, and [`ChunkMap::publish`]
//!   stores the final head (`SpanHead` or `HugeHead`) with Release.
//! - *release* (`ChunkMap::begin_release`, `finish_release`): the head is
//!   CASed from its stable kind to `Releasing(releaser, n)` (one CAS decides
//!   between a huge block's freer and a reclaim, or a parked span's owner and
//!   a thief), then the bits are cleared, then the bodies, then the head.
//!
//! A process that dies anywhere in either leaves a head that names an arena
//! (`Claiming` or `Releasing`), and the reclaim of that arena finishes the
//! release or rolls the claim back ([`ChunkMap::resume`]). Nothing is ever
//! taken that no table word names. Claims CAS table words in address order
//! and roll back on a conflict, so two claims never wait for each other and
//! one of any two that collide gets through.
//!
//! **The bitmap** has one bit per chunk, set after a claim took the table
//! words and cleared before a release clears them: a set bit always has a
//! taken table word behind it, and a clear bit may (a claim or release in
//! flight). The first-fit scan reads it a word at a time (64 chunks) to
//! find candidate runs; the table CASes decide. Freed runs clear their
//! bits, so free neighbours coalesce for free: the bitmap *is* the
//! coalesced free map (a page heap; the bitmap-run technique is the one
//! NBBS and many page allocators use).
//!
//! A parked span is an entirely free span its arena keeps for reuse: the
//! owner takes it back with one CAS ([`ChunkMap::unpark`]) and anyone short
//! of chunks may steal it ([`ChunkMap::steal_parked`], a release); exactly
//! one of them wins.
//!
//! Nothing read here is trusted: run lengths and back distances are
//! bounds-checked, and a bad one is a [`Fault`].

use shm_layout::sync::{AtomicU64, Ordering};

/// What a chunk belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Not part of a run (its bitmap bit is clear).
    Free = 0,
    /// First chunk of an arena span (`n` = chunks in the span).
    SpanHead = 1,
    /// Another chunk of an arena span (`n` = chunks back to the head).
    SpanBody = 2,
    /// First chunk of a huge block (`n` = chunks in the block).
    HugeHead = 3,
    /// Another chunk of a huge block (`n` = chunks back to the head).
    HugeBody = 4,
    /// First chunk of a parked span (`n` = chunks); its other chunks stay
    /// `SpanBody`.
    Parked = 5,
    /// First chunk of a run being claimed by its owner (`n` = chunks); the
    /// bodies taken so far follow it.
    Claiming = 6,
    /// First chunk of a run being given back by its owner, the *releaser*
    /// (`n` = chunks); its bodies keep the owner they had.
    Releasing = 7,
}

/// A validated chunk-table word:
/// `kind (bits 0..3) | owner (bits 8..24) | n (bits 32..64)`.
///
/// Kept as the packed word and decoded by its accessors, so that it moves
/// through registers whole (a struct of narrow fields was rebuilt in memory
/// and read back wide, stalling store forwarding on the hot path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry(u64);

impl Entry {
    /// The entry of a free chunk.
    #[cfg(test)]
    pub const FREE: Entry = Entry(0);

    /// An entry of `kind`, owner `owner` and run length or back distance `n`.
    #[inline(always)]
    pub const fn new(kind: Kind, owner: u16, n: u32) -> Entry {
        Entry((kind as u64) | ((owner as u64) << 8) | ((n as u64) << 32))
    }

    /// The kind.
    #[inline(always)]
    pub const fn kind(self) -> Kind {
        match self.0 & 7 {
            1 => Kind::SpanHead,
            2 => Kind::SpanBody,
            3 => Kind::HugeHead,
            4 => Kind::HugeBody,
            5 => Kind::Parked,
            6 => Kind::Claiming,
            7 => Kind::Releasing,
            _ => Kind::Free,
        }
    }

    /// Arena id + 1 of the owner (0: none).
    #[inline(always)]
    pub const fn owner(self) -> u16 {
        (self.0 >> 8) as u16
    }

    /// Run length (heads) or distance back to the head (bodies).
    #[inline(always)]
    pub const fn n(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// Packs into the table word.
    #[inline(always)]
    pub const fn pack(self) -> u64 {
        self.0
    }

    /// Unpacks; `None` for reserved bits.
    #[inline(always)]
    pub const fn unpack(w: u64) -> Option<Entry> {
        if w & 0xFF00_00F8 != 0 {
            return None;
        }
        Some(Entry(w))
    }

    /// Whether this is a body entry (of a span or a huge block).
    #[inline(always)]
    pub const fn is_body(self) -> bool {
        matches!(self.kind(), Kind::SpanBody | Kind::HugeBody)
    }
}

/// A corrupt value in the chunk heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Chunk `c`'s table word is not an [`Entry`], or breaks its run.
    Entry(u64, u64),
}

/// What one pass of `claim` found.
enum Scan {
    Taken(u64),
    None,
    Lost,
}

/// Passes over the bitmap before a claim gives up (each failed pass met a
/// table word that another claim or release held, so the heap changed or
/// is changing under it).
const MAX_PASSES: usize = 16;

/// The chunk bitmap and table of one pool.
#[derive(Clone, Copy, Debug)]
pub struct ChunkMap<'a> {
    /// One bit per chunk, 1 = taken; bits past `chunks` are never used.
    pub bitmap: &'a [AtomicU64],
    /// One [`Entry`] word per chunk.
    pub table: &'a [AtomicU64],
}

impl<'a> ChunkMap<'a> {
    /// The map over `bitmap` (at least `table.len()` bits) and `table`.
    pub fn new(bitmap: &'a [AtomicU64], table: &'a [AtomicU64]) -> Self {
        debug_assert!(bitmap.len() * 64 >= table.len());
        ChunkMap { bitmap, table }
    }

    /// The chunk count.
    #[inline(always)]
    pub fn chunks(&self) -> u64 {
        self.table.len() as u64
    }

    /// Claims the lowest run of `k` free chunks for arena `owner` (id + 1):
    /// its head is `Claiming(owner, k)`, its bodies `body` entries, its bits
    /// set. The caller writes the run's first header, then [`publish`]es
    /// it. `None` if there is none (or claims kept losing races, which
    /// needs other processes' progress).
    ///
    /// [`publish`]: ChunkMap::publish
    pub fn claim(&self, k: u64, owner: u16, body: Kind) -> Option<u64> {
        let n = self.chunks();
        if k == 0 || k > n || k > u64::from(u32::MAX) {
            return None;
        }
        for _ in 0..MAX_PASSES {
            match self.scan(k, owner, body) {
                Scan::Taken(first) => return Some(first),
                Scan::None => return None,
                Scan::Lost => {}
            }
        }
        None
    }

    /// One first-fit pass: each bitmap word is loaded once (a Relaxed
    /// snapshot is only a hint; the table CASes in `try_claim` decide).
    fn scan(&self, k: u64, owner: u16, body: Kind) -> Scan {
        let n = self.chunks();
        let mut run = 0;
        let mut lost = false;
        let mut c = 0;
        while c < n {
            let word = self.bitmap[(c / 64) as usize].load(Ordering::Relaxed);
            let end = (c - c % 64 + 64).min(n);
            while c < end {
                if word == u64::MAX {
                    run = 0;
                    c = end;
                    break;
                }
                if word >> (c % 64) & 1 == 1 {
                    run = 0;
                    c += 1;
                    continue;
                }
                run += 1;
                c += 1;
                if run == k {
                    match self.try_claim(c - k, k, owner, body) {
                        Ok(()) => return Scan::Taken(c - k),
                        Err(conflict) => {
                            lost = true;
                            run = 0;
                            c = conflict + 1;
                            break; // reload the word
                        }
                    }
                }
            }
        }
        if lost {
            Scan::Lost
        } else {
            Scan::None
        }
    }

    /// Takes the table words of `first..first + k` (head, then bodies in
    /// order), then sets their bits; `Err` names a chunk found taken, after
    /// the words this call took were given back.
    fn try_claim(&self, first: u64, k: u64, owner: u16, body: Kind) -> Result<(), u64> {
        let head = Entry::new(Kind::Claiming, owner, k as u32);
        // SYNC POINT (claim, Acquire): pairs with the Release stores of
        // `finish_release` (and of a rolled-back claim) that freed these
        // words: the last holder's writes to the chunks happen before ours.
        if self.table[first as usize]
            .compare_exchange(0, head.pack(), Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(first);
        }
        for d in 1..k {
            let e = Entry::new(body, owner, d as u32);
            // Acquire: as the head's CAS.
            if self.table[(first + d) as usize]
                .compare_exchange(0, e.pack(), Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                // Give back what this claim took, bodies first: the head,
                // which a reclaim of a dead claimer starts from, goes last.
                for back in (1..d).rev() {
                    // Release: pairs with the Acquire CAS of the next claim
                    // of this word.
                    self.table[(first + back) as usize].store(0, Ordering::Release);
                }
                // Release: as above.
                self.table[first as usize].store(0, Ordering::Release);
                return Err(first + d);
            }
        }
        self.set_bits(first, k);
        Ok(())
    }

    /// Sets the bits of `first..first + k` (the caller took their words).
    fn set_bits(&self, first: u64, k: u64) {
        let last = first + k - 1;
        for w in first / 64..=last / 64 {
            // Release: the table words taken before are visible to whoever
            // sees the bit (a set bit always has a taken word behind it).
            self.bitmap[w as usize].fetch_or(word_mask(w, first, last), Ordering::Release);
        }
    }

    /// Clears the bits of `first..first + k` (the caller holds their words).
    fn clear_bits(&self, first: u64, k: u64) {
        if k == 0 {
            return;
        }
        let last = first + k - 1;
        for w in first / 64..=last / 64 {
            // Release: ordered before the table words are freed (a set bit
            // always has a taken word behind it).
            self.bitmap[w as usize].fetch_and(!word_mask(w, first, last), Ordering::Release);
        }
    }

    /// Stores the final head of the run claimed at `first` (the run's
    /// header written before it).
    pub fn publish(&self, first: u64, head: Entry) {
        // SYNC POINT (run, Release): pairs with the Acquire load in `entry`:
        // a reader that sees the head sees the bodies and the run's header.
        self.table[first as usize].store(head.pack(), Ordering::Release);
    }

    /// Chunk `c`'s entry; a `c` past the chunk count (which every caller
    /// rules out first) is a `Fault`, not a panic.
    #[inline(always)]
    pub fn entry(&self, c: u64) -> Result<Entry, Fault> {
        let Some(w) = usize::try_from(c).ok().and_then(|i| self.table.get(i)) else {
            return Err(Fault::Entry(c, 0));
        };
        let w = w.load(Ordering::Acquire);
        Entry::unpack(w).ok_or(Fault::Entry(c, w))
    }

    /// Whether chunk `c`'s bit is set.
    pub fn bit(&self, c: u64) -> bool {
        // Relaxed: a snapshot for checks and hints.
        self.bitmap[(c / 64) as usize].load(Ordering::Relaxed) >> (c % 64) & 1 == 1
    }

    /// The run holding chunk `c`: `(first chunk, head entry)`, checked for
    /// consistency (a body points back at a head of its kind and owner whose
    /// run reaches `c`, and the run fits the pool).
    #[cfg(test)]
    pub fn run_of(&self, c: u64) -> Result<(u64, Entry), Fault> {
        let e = self.entry(c)?;
        let (first, head) = match e.kind() {
            Kind::SpanHead | Kind::HugeHead | Kind::Parked | Kind::Claiming | Kind::Releasing => {
                (c, e)
            }
            Kind::SpanBody | Kind::HugeBody => {
                let back = u64::from(e.n());
                if back == 0 || back > c {
                    return Err(Fault::Entry(c, e.pack()));
                }
                let h = self.entry(c - back)?;
                let ok = match e.kind() {
                    Kind::SpanBody => matches!(h.kind(), Kind::SpanHead | Kind::Parked),
                    _ => h.kind() == Kind::HugeHead,
                };
                if !ok || h.owner() != e.owner() || u64::from(h.n()) <= back {
                    return Err(Fault::Entry(c, e.pack()));
                }
                (c - back, h)
            }
            Kind::Free => return Ok((c, e)),
        };
        let n = u64::from(head.n());
        if n == 0 || first + n > self.chunks() {
            return Err(Fault::Entry(first, head.pack()));
        }
        Ok((first, head))
    }

    /// Starts giving back the run at `first` whose head word is exactly
    /// `from` (a stable head: span, huge or parked), for arena `releaser`:
    /// one CAS to `Releasing(releaser, n)` decides between everyone who
    /// holds the run for freeing (a huge block's freer and a reclaim of its
    /// owner; a parked span's thief and its owner). The winner calls
    /// [`finish_release`](ChunkMap::finish_release); `false` if the head was
    /// not `from` any more.
    pub fn begin_release(&self, first: u64, from: Entry, releaser: u16) -> bool {
        let n = u64::from(from.n());
        if n == 0 || first + n > self.chunks() {
            return false;
        }
        let to = Entry::new(Kind::Releasing, releaser, from.n());
        // SYNC POINT (release, Acquire): pairs with the Release of the
        // run's `publish` or `park`: the owner's writes to the run happen
        // before the words are freed (and so before the next claim's).
        self.table[first as usize]
            .compare_exchange(from.pack(), to.pack(), Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Gives back the `n` chunks of the run at `first`, whose head this
    /// process made `Releasing` (its bodies are all in place): bits, then
    /// bodies, then the head.
    pub fn finish_release(&self, first: u64, n: u64) {
        self.clear_bits(first, n);
        for d in (1..n).rev() {
            // Release: pairs with the Acquire CAS of the next claim.
            self.table[(first + d) as usize].store(0, Ordering::Release);
        }
        // Release: as above.
        self.table[first as usize].store(0, Ordering::Release);
    }

    /// Frees the huge or parked run at `first` whose head word is exactly
    /// `head`, if this call is the one that takes it (`begin_release` then
    /// `finish_release`, for arena `releaser`).
    pub fn take_run(&self, first: u64, head: Entry, releaser: u16) -> bool {
        if !self.begin_release(first, head, releaser) {
            return false;
        }
        self.finish_release(first, u64::from(head.n()));
        true
    }

    /// Finishes what a dead arena `owner` left half done at `first`, whose
    /// head is `head` (`Claiming` or `Releasing` by `owner`): a claim is
    /// rolled back, a release finished. Run by the arena's adopter only.
    ///
    /// Every chunk of the run that still belongs to it (the head, and each
    /// body that points back at `first`: no other run can have a body that
    /// does, since `first` is this run's) has its bit cleared, then its
    /// word; chunks already freed, and perhaps claimed again since by
    /// others, are left alone. The head goes last, so an adopter that dies
    /// here leaves the same head for the next one. Returns the chunks freed.
    pub fn resume(&self, first: u64, head: Entry) -> u64 {
        let n = u64::from(head.n());
        if !matches!(head.kind(), Kind::Claiming | Kind::Releasing)
            || n == 0
            || first + n > self.chunks()
        {
            return 0;
        }
        let mut freed = 0;
        for d in (1..n).rev() {
            let c = first + d;
            let ours = self
                .entry(c)
                .is_ok_and(|e| e.is_body() && u64::from(e.n()) == d);
            if ours {
                self.clear_bits(c, 1);
                // Release: pairs with the Acquire CAS of the next claim.
                self.table[c as usize].store(0, Ordering::Release);
                freed += 1;
            }
        }
        self.clear_bits(first, 1);
        // Release: as above (only if it is still the head we were given).
        if self.table[first as usize]
            .compare_exchange(head.pack(), 0, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            freed += 1;
        }
        freed
    }

    /// Marks the span at `first` (of `n` chunks, owned by `owner`, entirely
    /// free) parked.
    pub fn park(&self, first: u64, owner: u16, n: u32) {
        let e = Entry::new(Kind::Parked, owner, n);
        // SYNC POINT (park, Release): pairs with the Acquire CAS of
        // `unpark` or `begin_release`: the span's free header is written.
        self.table[first as usize].store(e.pack(), Ordering::Release);
    }

    /// Takes a parked span back for its owner; `false` if it was stolen.
    pub fn unpark(&self, first: u64, owner: u16, n: u32) -> bool {
        let parked = Entry::new(Kind::Parked, owner, n);
        let head = Entry::new(Kind::SpanHead, owner, n);
        // Acquire: pairs with the Release in `park` (ours, or a later owner
        // of the same chunks that parked them again with the same word, in
        // which case the span it left is just as free).
        self.table[first as usize]
            .compare_exchange(
                parked.pack(),
                head.pack(),
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Steals every parked span (any owner's) back into the heap, each as a
    /// release by arena `releaser`; returns the chunks freed. Bounded: one
    /// pass over the table.
    pub fn steal_parked(&self, releaser: u16) -> u64 {
        let n = self.chunks();
        let mut freed = 0;
        let mut c = 0;
        while c < n {
            // Relaxed: a hint; `begin_release` decides (with Acquire).
            let w = self.table[c as usize].load(Ordering::Relaxed);
            let Some(e) = Entry::unpack(w) else {
                c += 1;
                continue;
            };
            let len = u64::from(e.n());
            let whole = len > 0 && c + len <= n;
            if e.kind() == Kind::Parked && whole {
                if self.take_run(c, e, releaser) {
                    freed += len;
                }
                c += len;
                continue;
            }
            c += stable_step(e, whole, len);
        }
        freed
    }
}

/// How far a walk of the table may step from a chunk with entry `e`: a
/// whole stable run (span, huge, parked) holds all its chunks, so it is
/// skipped; anything else, a transition included (a claim's range may hold
/// others' runs past its bodies), moves one chunk.
#[inline(always)]
pub fn stable_step(e: Entry, whole: bool, len: u64) -> u64 {
    match e.kind() {
        Kind::SpanHead | Kind::HugeHead | Kind::Parked if whole => len,
        _ => 1,
    }
}

/// The bits of word `w` that chunks `first..=last` cover.
#[inline(always)]
fn word_mask(w: u64, first: u64, last: u64) -> u64 {
    let lo = if w == first / 64 { first % 64 } else { 0 };
    let hi = if w == last / 64 { last % 64 } else { 63 };
    let width = hi - lo + 1;
    if width == 64 {
        u64::MAX
    } else {
        ((1u64 << width) - 1) << lo
    }
}

#[cfg(all(test, not(shm_loom)))]
mod tests {
    use super::*;

    fn map(n: usize) -> (Vec<AtomicU64>, Vec<AtomicU64>) {
        (
            (0..n.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            (0..n).map(|_| AtomicU64::new(0)).collect(),
        )
    }

    /// Claims and publishes a span of `k` for arena 1.
    fn span(m: &ChunkMap<'_>, k: u64) -> Option<u64> {
        let first = m.claim(k, 1, Kind::SpanBody)?;
        m.publish(first, Entry::new(Kind::SpanHead, 1, k as u32));
        Some(first)
    }

    fn give_back(m: &ChunkMap<'_>, first: u64) {
        let e = m.entry(first).unwrap();
        assert!(m.take_run(first, e, 1), "{e:?}");
    }

    #[test]
    fn masks_cover_exactly_the_run() {
        assert_eq!(word_mask(0, 0, 63), u64::MAX);
        assert_eq!(word_mask(0, 3, 5), 0b11_1000);
        assert_eq!(word_mask(0, 62, 65), 0b11 << 62);
        assert_eq!(word_mask(1, 62, 65), 0b11);
        assert_eq!(word_mask(1, 0, 200), u64::MAX);
    }

    #[test]
    fn claims_are_first_fit_and_coalesce_on_release() {
        let (b, t) = map(200);
        let m = ChunkMap::new(&b, &t);
        assert_eq!(span(&m, 10), Some(0));
        assert_eq!(span(&m, 60), Some(10));
        assert_eq!(span(&m, 100), Some(70));
        assert_eq!(span(&m, 31), None);
        assert_eq!(span(&m, 30), Some(170));
        give_back(&m, 10);
        assert_eq!(span(&m, 61), None);
        give_back(&m, 0);
        assert_eq!(span(&m, 70), Some(0));
        for first in [0, 70, 170] {
            give_back(&m, first);
        }
        assert!(b.iter().all(|w| w.load(Ordering::Relaxed) == 0));
        assert!(t.iter().all(|w| w.load(Ordering::Relaxed) == 0));
        assert_eq!(span(&m, 200), Some(0));
        assert_eq!(span(&m, 1), None);
        assert_eq!(m.claim(0, 1, Kind::SpanBody), None);
        assert_eq!(m.claim(201, 1, Kind::SpanBody), None);
    }

    #[test]
    fn a_claim_skips_table_words_the_bitmap_does_not_show() {
        // Chunk 5's word is taken (a claim in flight: its bit is not set
        // yet): a claim of 8 must pass it by.
        let (b, t) = map(64);
        let m = ChunkMap::new(&b, &t);
        t[5].store(Entry::new(Kind::Claiming, 2, 1).pack(), Ordering::Relaxed);
        assert_eq!(m.claim(8, 1, Kind::SpanBody), Some(6));
        // Everything the failed attempt took at 0..5 was given back.
        for (c, w) in t.iter().enumerate().take(5) {
            assert_eq!(w.load(Ordering::Relaxed), 0, "chunk {c}");
        }
        assert!(!m.bit(0) && m.bit(6) && m.bit(13) && !m.bit(14));
    }

    #[test]
    fn resume_finishes_what_a_dead_owner_left() {
        // A claim of 6 that died after three bodies (no bits set yet);
        // chunk 5, past them, is another arena's run, which stays.
        let (b, t) = map(64);
        let m = ChunkMap::new(&b, &t);
        t[0].store(Entry::new(Kind::Claiming, 1, 6).pack(), Ordering::Relaxed);
        for d in 1..4u32 {
            t[d as usize].store(Entry::new(Kind::SpanBody, 1, d).pack(), Ordering::Relaxed);
        }
        t[5].store(Entry::new(Kind::SpanHead, 2, 1).pack(), Ordering::Relaxed);
        b[0].store(1 << 5, Ordering::Relaxed);
        assert_eq!(m.resume(0, m.entry(0).unwrap()), 4);
        assert_eq!(m.entry(5), Ok(Entry::new(Kind::SpanHead, 2, 1)));
        assert!(m.bit(5), "another run's bit stays");
        for c in 0..5 {
            assert_eq!(m.entry(c), Ok(Entry::FREE));
            assert!(!m.bit(c));
        }
        // A release that died after its bits and one body.
        let first = span(&m, 8).unwrap();
        let head = m.entry(first).unwrap();
        assert!(m.begin_release(first, head, 3));
        m.clear_bits(first, 8);
        t[(first + 7) as usize].store(0, Ordering::Relaxed);
        assert_eq!(m.resume(first, m.entry(first).unwrap()), 7);
        assert!(t
            .iter()
            .enumerate()
            .all(|(c, w)| c == 5 || w.load(Ordering::Relaxed) == 0));
        // Not a transition: nothing to do.
        assert_eq!(m.resume(5, m.entry(5).unwrap()), 0);
    }

    #[test]
    fn runs_resolve_from_any_chunk() {
        let (b, t) = map(70);
        let m = ChunkMap::new(&b, &t);
        let head = Entry::new(Kind::SpanHead, 1, 5);
        assert_eq!(m.claim(60, 2, Kind::SpanBody), Some(0));
        assert_eq!(span(&m, 5), Some(60));
        for c in 60..65 {
            assert_eq!(m.run_of(c), Ok((60, head)));
        }
        assert_eq!(m.run_of(65).unwrap().1, Entry::FREE);
        // A body pointing past the start, or at a head that does not reach it.
        t[66].store(Entry::new(Kind::SpanBody, 1, 67).pack(), Ordering::Relaxed);
        assert!(m.run_of(66).is_err());
        t[66].store(Entry::new(Kind::SpanBody, 1, 6).pack(), Ordering::Relaxed);
        assert!(m.run_of(66).is_err());
        t[66].store(u64::MAX, Ordering::Relaxed);
        assert!(m.run_of(66).is_err());
    }

    #[test]
    fn parked_spans_go_to_exactly_one_taker() {
        let (b, t) = map(64);
        let m = ChunkMap::new(&b, &t);
        assert_eq!(span(&m, 4), Some(0));
        m.park(0, 1, 4);
        assert!(m.unpark(0, 1, 4));
        assert!(!m.unpark(0, 1, 4));
        m.park(0, 1, 4);
        assert_eq!(m.steal_parked(2), 4);
        assert!(!m.unpark(0, 1, 4));
        assert_eq!(span(&m, 64), Some(0));
    }
}
