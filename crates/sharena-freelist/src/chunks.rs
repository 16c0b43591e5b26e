//! The chunk heap: the pool cut into equal chunks, a bitmap of which are
//! taken, and a table saying what each taken chunk belongs to.
//!
//! Runs of chunks are taken first-fit (lowest address first, which keeps
//! the footprint compact) by CAS on the bitmap words, one word at a time;
//! a run that crosses words and meets a taken bit gives back the words it
//! already took and looks further (so a run is never half-taken for
//! longer than a failed attempt). Freed runs clear their bits, so
//! neighbouring free chunks coalesce for free: the bitmap *is* the
//! coalesced free map (a page heap; the bitmap-run technique is
//! the one NBBS and many page allocators use).
//!
//! The table has one word per chunk ([`Entry`]): the head of a run records
//! its kind, owner and length, every other chunk of the run how far back
//! its head is. Arena spans, huge blocks and parked spans are runs. A
//! parked span is an entirely free span its arena keeps for reuse: the
//! owner takes it back with one CAS ([`ChunkMap::unpark`]) and anyone
//! short of chunks may steal it with the same CAS ([`ChunkMap::steal_parked`]);
//! exactly one of them wins.
//!
//! Nothing read here is trusted: run lengths and back distances are
//! bounds-checked, and a bad one is a [`Fault`].

use shm_layout::sync::{spin_loop, AtomicU64, Ordering};

/// What a chunk belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Not part of a run (its bitmap bit may still be set while a run is
    /// being taken or given back).
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

    /// Unpacks; `None` for reserved bits or an unknown kind.
    #[inline(always)]
    pub const fn unpack(w: u64) -> Option<Entry> {
        if w & 0xFF00_00F8 != 0 || w & 7 > 5 {
            return None;
        }
        Some(Entry(w))
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

/// Passes over the bitmap before a claim gives up (each failed pass lost a
/// race to another claimer, so the heap changed under it).
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

    /// Takes the lowest run of `k` free chunks; `None` if there is none (or
    /// claims kept losing races, which needs other processes' progress).
    pub fn claim(&self, k: u64) -> Option<u64> {
        let n = self.chunks();
        if k == 0 || k > n {
            return None;
        }
        for _ in 0..MAX_PASSES {
            match self.scan(k) {
                Scan::Taken(first) => return Some(first),
                Scan::None => return None,
                Scan::Lost => {}
            }
        }
        None
    }

    /// One first-fit pass: each bitmap word is loaded once (a Relaxed
    /// snapshot is only a hint; the CAS in `try_take` decides).
    fn scan(&self, k: u64) -> Scan {
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
                    match self.try_take(c - k, k) {
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

    /// Sets the bits of chunks `first..first + k`, all or none; `Err` names
    /// a chunk found taken.
    fn try_take(&self, first: u64, k: u64) -> Result<(), u64> {
        let last = first + k - 1;
        let mut w = first / 64;
        while w <= last / 64 {
            let mask = word_mask(w, first, last);
            let cell = &self.bitmap[w as usize];
            let mut cur = cell.load(Ordering::Relaxed);
            loop {
                let clash = cur & mask;
                if clash != 0 {
                    self.untake(first, w, last);
                    return Err(w * 64 + u64::from(clash.trailing_zeros()));
                }
                // SYNC POINT (claim, Acquire): pairs with the Release
                // `fetch_and` in `release`, so the last holder's writes to
                // these chunks (and their table words) happen before ours.
                match cell.compare_exchange_weak(
                    cur,
                    cur | mask,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(now) => {
                        cur = now;
                        spin_loop();
                    }
                }
            }
            w += 1;
        }
        Ok(())
    }

    /// Gives back the words of `first..=last` before word `upto`.
    fn untake(&self, first: u64, upto: u64, last: u64) {
        for w in first / 64..upto {
            // Release: pairs with the Acquire claim of whoever takes these
            // chunks next (nothing was written to them, but keep the pair).
            self.bitmap[w as usize].fetch_and(!word_mask(w, first, last), Ordering::Release);
        }
    }

    /// Clears the bits of chunks `first..first + k` (taken by the caller).
    pub fn release(&self, first: u64, k: u64) {
        if k == 0 {
            return;
        }
        let last = first + k - 1;
        for w in first / 64..=last / 64 {
            // SYNC POINT (release, Release): pairs with the Acquire CAS in
            // `try_take`: our table and header writes are done.
            self.bitmap[w as usize].fetch_and(!word_mask(w, first, last), Ordering::Release);
        }
    }

    /// Chunk `c`'s entry (`c` must be below the chunk count).
    #[inline(always)]
    pub fn entry(&self, c: u64) -> Result<Entry, Fault> {
        let w = self.table[c as usize].load(Ordering::Acquire);
        Entry::unpack(w).ok_or(Fault::Entry(c, w))
    }

    /// Writes the table words of run `first..first + n`: `head` at the first
    /// chunk, bodies of `body` kind after it. Bodies first, head last
    /// (Release), so a reader that sees the head sees the bodies.
    pub fn set_run(&self, first: u64, n: u64, head: Entry, body: Kind) {
        for c in 1..n {
            let e = Entry::new(body, head.owner(), c as u32);
            self.table[(first + c) as usize].store(e.pack(), Ordering::Relaxed);
        }
        // SYNC POINT (run, Release): pairs with the Acquire load in `entry`.
        self.table[first as usize].store(head.pack(), Ordering::Release);
    }

    /// Clears the table words of run `first..first + n` (head first).
    pub fn clear_run(&self, first: u64, n: u64) {
        for c in 0..n {
            // Relaxed: the Release of `release` (which follows) publishes them.
            self.table[(first + c) as usize].store(0, Ordering::Relaxed);
        }
    }

    /// The run holding chunk `c`: `(first chunk, head entry)`, checked for
    /// consistency (a body points back at a head of its kind and owner whose
    /// run reaches `c`, and the run fits the pool).
    #[cfg(test)]
    pub fn run_of(&self, c: u64) -> Result<(u64, Entry), Fault> {
        let e = self.entry(c)?;
        let (first, head) = match e.kind() {
            Kind::SpanHead | Kind::HugeHead | Kind::Parked => (c, e),
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

    /// Frees the run at `first` whose head word is exactly `head`, if this
    /// call is the one that takes it: a CAS of the head to `Free` decides
    /// between two processes that both hold the run for freeing (a huge
    /// block's freer and a reclaim of its dead owner). The winner clears the
    /// bodies and the bits; `false` if the head was not `head` any more.
    pub fn take_run(&self, first: u64, head: Entry) -> bool {
        let n = u64::from(head.n());
        if n == 0 || first + n > self.chunks() {
            return false;
        }
        // Acquire: pairs with the Release of `set_run` (the run's entries).
        if self.table[first as usize]
            .compare_exchange(head.pack(), 0, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        self.clear_run(first, n);
        self.release(first, n);
        true
    }

    /// Marks the span at `first` (of `n` chunks, owned by `owner`, entirely
    /// free) parked.
    pub fn park(&self, first: u64, owner: u16, n: u32) {
        let e = Entry::new(Kind::Parked, owner, n);
        // SYNC POINT (park, Release): pairs with the Acquire CAS of
        // `unpark` or `steal_parked`: the span's free header is written.
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

    /// Steals every parked span (any owner's) back into the bitmap; returns
    /// the chunks freed. Bounded: one pass over the table.
    pub fn steal_parked(&self) -> u64 {
        let n = self.chunks();
        let mut freed = 0;
        let mut c = 0;
        while c < n {
            let w = self.table[c as usize].load(Ordering::Relaxed);
            let Some(e) = Entry::unpack(w) else {
                c += 1;
                continue;
            };
            let len = u64::from(e.n());
            if e.kind() == Kind::Parked && len > 0 && c + len <= n {
                // Acquire: pairs with the Release in `park`.
                if self.table[c as usize]
                    .compare_exchange(w, 0, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    self.clear_run(c, len);
                    self.release(c, len);
                    freed += len;
                }
                c += len;
                continue;
            }
            c += match e.kind() {
                Kind::SpanHead | Kind::HugeHead if len > 0 && c + len <= n => len,
                _ => 1,
            };
        }
        freed
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
        assert_eq!(m.claim(10), Some(0));
        assert_eq!(m.claim(60), Some(10));
        assert_eq!(m.claim(100), Some(70));
        assert_eq!(m.claim(31), None);
        assert_eq!(m.claim(30), Some(170));
        m.release(10, 60);
        assert_eq!(m.claim(61), None);
        m.release(0, 10);
        assert_eq!(m.claim(70), Some(0));
        m.release(0, 200);
        assert_eq!(m.claim(200), Some(0));
        assert_eq!(m.claim(1), None);
        assert_eq!(m.claim(0), None);
        assert_eq!(m.claim(201), None);
    }

    #[test]
    fn runs_resolve_from_any_chunk() {
        let (b, t) = map(70);
        let m = ChunkMap::new(&b, &t);
        let head = Entry::new(Kind::SpanHead, 3, 5);
        m.set_run(60, 5, head, Kind::SpanBody);
        for c in 60..65 {
            assert_eq!(m.run_of(c), Ok((60, head)));
        }
        assert_eq!(m.run_of(65).unwrap().1, Entry::FREE);
        // A body pointing past the start, or at a head that does not reach it.
        t[66].store(Entry::new(Kind::SpanBody, 3, 67).pack(), Ordering::Relaxed);
        assert!(m.run_of(66).is_err());
        t[66].store(Entry::new(Kind::SpanBody, 3, 6).pack(), Ordering::Relaxed);
        assert!(m.run_of(66).is_err());
        t[66].store(u64::MAX, Ordering::Relaxed);
        assert!(m.run_of(66).is_err());
    }

    #[test]
    fn parked_spans_go_to_exactly_one_taker() {
        let (b, t) = map(64);
        let m = ChunkMap::new(&b, &t);
        assert_eq!(m.claim(4), Some(0));
        m.set_run(0, 4, Entry::new(Kind::SpanHead, 1, 4), Kind::SpanBody);
        m.park(0, 1, 4);
        assert!(m.unpark(0, 1, 4));
        assert!(!m.unpark(0, 1, 4));
        m.park(0, 1, 4);
        assert_eq!(m.steal_parked(), 4);
        assert!(!m.unpark(0, 1, 4));
        assert_eq!(m.claim(64), Some(0));
    }
}
