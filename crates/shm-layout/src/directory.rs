//! The named directory: `publish(name, value)`, `lookup(name)`,
//! `unpublish(name)`, lock-free, in the metadata region after the process
//! table (`params[7]` entries of 128 bytes).
//!
//! ```text
//! entry (128 bytes, 16 words; every word an atomic u64)
//! +0    state    bits 0..3 state, 3..25 pid of the claimer, 25..64 generation
//! +8    owner    ProcId of the claimer (pid and start time), written before
//!                PENDING: judges a PENDING or ABORTED claimer's liveness
//! +16   value    what the name stands for (a segment offset, or a handle)
//! +24   key      bits 0..8 name length (1..=64), 32..64 FNV-1a of the name
//! +32   name     64 bytes, zero padded
//! +96   reserved 4 words, zero
//! ```
//! States: 0 EMPTY, 1 CLAIMING (the claimer writes words 1..12), 2 PENDING
//! (name visible, uniqueness not yet decided), 3 PUBLISHED, 4 ABORTED (a
//! rival decided this PENDING entry lost). The generation grows by one at
//! every claim, so a CAS on a word read before a recycle always fails.
//!
//! # Exactly one publisher of a name wins
//! A publisher claims any EMPTY entry `e` (CAS, starting at the name's
//! hash), writes the name, stores PENDING (SeqCst), then scans every other
//! entry (SeqCst loads) for the same name:
//! - PUBLISHED: the name is taken; it loses.
//! - PENDING at `f < e`: the lower entry has priority; it loses (unless
//!   that entry's claimer is dead, then it aborts it and goes on).
//! - PENDING at `f > e`: it aborts that rival (CAS PENDING -> ABORTED).
//!
//! After the scan it CASes its own entry PENDING -> PUBLISHED; that CAS
//! fails only if a rival aborted it, and then it loses. Two rivals each
//! store PENDING before they scan, so (SeqCst store-load order, Dekker's
//! argument) at least one sees the other. If both see each other, the lower
//! entry wins and aborts the higher. If only the one at `e` sees its rival
//! at `f`: for `f < e` it loses and the rival goes on; for `f > e` its abort
//! races the rival's PENDING -> PUBLISHED CAS on one word: either the abort
//! lands (the rival loses) or the publish does (the aborter re-reads,
//! finds PUBLISHED, and loses). So two publishers of one name never both
//! win; and the lowest PENDING one loses only to a PUBLISHED entry, so
//! concurrent publishers of a free name do not all lose (unless one dies).
//! `loom_tests::two_publishers_one_name` model-checks it.
//!
//! A publish is linearized at its PENDING -> PUBLISHED CAS; lookups and
//! unpublish see only PUBLISHED entries. A rival that loses to a PENDING
//! entry reports the name taken although no lookup has seen it yet: the
//! winner's publish is in progress and completes unless its process dies.
//!
//! Entries left CLAIMING, PENDING or ABORTED by a dead process are
//! recycled when no EMPTY entry is left. A PENDING or ABORTED claimer is
//! judged by its owner word (pid and start time, written before PENDING),
//! so a pid the kernel reused does not keep a dead claim alive; a CLAIMING
//! one, which may have died before writing it, by its pid alone (a reused
//! pid keeps that one entry until the new process ends). PUBLISHED entries are shared: they
//! stay until someone unpublishes them, whoever published them.

use crate::error::{Error, Result};
use crate::header::fnv1a64;
use crate::procid::{ProcId, PID_BITS};
use crate::sync::{fence, AtomicU64, Ordering};

/// The longest name, in bytes.
pub const MAX_DIRECTORY_NAME: usize = 64;

const WORDS: u64 = crate::consts::DIRECTORY_ENTRY_LEN / 8;
const W_STATE: u64 = 0;
const W_OWNER: u64 = 1;
const W_VALUE: u64 = 2;
const W_KEY: u64 = 3;
const W_NAME: u64 = 4;
const NAME_WORDS: u64 = (MAX_DIRECTORY_NAME / 8) as u64;

const EMPTY: u64 = 0;
const CLAIMING: u64 = 1;
const PENDING: u64 = 2;
const PUBLISHED: u64 = 3;
const ABORTED: u64 = 4;
const STATE_BITS: u32 = 3;
const GEN_SHIFT: u32 = STATE_BITS + PID_BITS;

/// Bound on re-reads of one entry whose word changes under a scan (each
/// generation of an entry changes state at most three times).
const REREADS: u32 = 8;

const fn state_of(w: u64) -> u64 {
    w & ((1 << STATE_BITS) - 1)
}
const fn pid_of(w: u64) -> u32 {
    ((w >> STATE_BITS) & ((1 << PID_BITS) - 1)) as u32
}
const fn gen_of(w: u64) -> u64 {
    w >> GEN_SHIFT
}
const fn with_state(w: u64, state: u64) -> u64 {
    (w & !((1 << STATE_BITS) - 1)) | state
}
const fn claim_word(old: u64, pid: u32) -> u64 {
    let gen = gen_of(old).wrapping_add(1) & ((1 << (64 - GEN_SHIFT)) - 1);
    (gen << GEN_SHIFT) | ((pid as u64 & ((1 << PID_BITS) - 1)) << STATE_BITS) | CLAIMING
}

/// One published name, as [`Directory::entries`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's index.
    pub slot: u32,
    /// The name (lossy if the bytes are not UTF-8, which only corruption
    /// makes).
    pub name: String,
    /// The published value (an offset, or a handle's raw word).
    pub value: u64,
    /// Who published it (`None` if the word is 0).
    pub owner: Option<ProcId>,
}

/// Where the entries' words live.
#[derive(Clone, Copy, Debug)]
enum Words<'a> {
    #[cfg(not(shm_loom))]
    View {
        view: &'a crate::view::SegmentView,
        first: u64,
    },
    Heap(&'a [AtomicU64]),
}

/// The directory of a segment (or, for tests and models, of a heap array).
#[derive(Clone, Copy, Debug)]
pub struct Directory<'a> {
    words: Words<'a>,
    capacity: u64,
    segment: &'a str,
    alive: fn(ProcId) -> bool,
}

fn proc_alive(p: ProcId) -> bool {
    p.is_alive()
}

/// Checks a name: 1 to 64 bytes of UTF-8.
pub fn validate_directory_name(name: &[u8]) -> Result<&str> {
    let lossy = || String::from_utf8_lossy(name).into_owned();
    if name.is_empty() {
        return Err(Error::InvalidName {
            name: String::new(),
            reason: "a directory name cannot be empty",
        });
    }
    if name.len() > MAX_DIRECTORY_NAME {
        return Err(Error::InvalidName {
            name: lossy(),
            reason: "a directory name is at most 64 bytes",
        });
    }
    std::str::from_utf8(name).map_err(|_| Error::InvalidName {
        name: lossy(),
        reason: "a directory name must be UTF-8",
    })
}

/// A validated name, packed as the entry stores it.
struct Key {
    key: u64,
    words: [u64; NAME_WORDS as usize],
}

impl Key {
    fn new(name: &[u8]) -> Result<Key> {
        validate_directory_name(name)?;
        let mut bytes = [0u8; MAX_DIRECTORY_NAME];
        bytes[..name.len()].copy_from_slice(name);
        let mut words = [0u64; NAME_WORDS as usize];
        for (w, c) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            *w = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
        }
        let hash = fnv1a64(name) & 0xFFFF_FFFF;
        Ok(Key {
            key: name.len() as u64 | (hash << 32),
            words,
        })
    }
}

/// A decision about one rival entry during a publish scan.
enum Rival {
    /// Not a rival (another name, or not PENDING/PUBLISHED).
    None,
    /// Our name, in state PENDING or PUBLISHED, read at word `w`.
    Same(u64),
}

impl<'a> Directory<'a> {
    /// The directory of `view`: `params[7]` entries after the process table
    /// (the table checks that both fit the metadata region).
    #[cfg(not(shm_loom))]
    pub fn of(view: &'a crate::view::SegmentView) -> Result<Directory<'a>> {
        use crate::consts::{PARAM_DIRECTORY_SLOTS, PARAM_MAX_PROCESSES, PROCESS_ENTRY_LEN};
        crate::proctable::ProcTable::of(view)?;
        let params = view.header().params;
        let meta = view.region(crate::header::RegionId::Metadata);
        Ok(Directory {
            words: Words::View {
                view,
                // Checked by `ProcTable::of`: no overflow, inside the region.
                first: meta.offset + params[PARAM_MAX_PROCESSES] * PROCESS_ENTRY_LEN,
            },
            capacity: params[PARAM_DIRECTORY_SLOTS],
            segment: view.name(),
            alive: proc_alive,
        })
    }

    /// A directory over `words` (16 per entry; zero means empty), for
    /// tests and loom models. `alive` tells whether a claimer runs (a
    /// start time of 0 means "judge by the pid alone").
    pub fn over(words: &'a [AtomicU64], segment: &'a str, alive: fn(ProcId) -> bool) -> Self {
        Directory {
            words: Words::Heap(words),
            capacity: words.len() as u64 / WORDS,
            segment,
            alive,
        }
    }

    /// How many entries the directory has.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    fn word(&self, entry: u64, w: u64) -> Result<&'a AtomicU64> {
        debug_assert!(entry < self.capacity && w < WORDS);
        match self.words {
            #[cfg(not(shm_loom))]
            Words::View { view, first } => {
                view.atomic_u64(crate::offset::Offset::new(first + (entry * WORDS + w) * 8))
            }
            Words::Heap(words) => {
                words
                    .get((entry * WORDS + w) as usize)
                    .ok_or_else(|| Error::Corrupt {
                        segment: self.segment.to_string(),
                        what: "directory word out of range".into(),
                        at: entry,
                    })
            }
        }
    }

    fn taken(&self, name: &[u8]) -> Error {
        Error::NameTaken {
            segment: self.segment.to_string(),
            name: String::from_utf8_lossy(name).into_owned(),
        }
    }

    fn not_found(&self, name: &[u8]) -> Error {
        Error::NameNotFound {
            segment: self.segment.to_string(),
            name: String::from_utf8_lossy(name).into_owned(),
        }
    }

    /// Reads entry `e` as a rival of `key`: `Same(w)` if, at word `w`
    /// (PENDING or PUBLISHED), it holds the same name. The name words are
    /// validated seqlock-style: read after an Acquire of the state, then
    /// the state re-read after an Acquire fence; a changed generation means
    /// the entry was recycled, and the new claim started after our reader
    /// looked (see the module doc), so it is no rival of ours.
    fn read_rival(&self, e: u64, key: &Key) -> Result<Rival> {
        // SeqCst: the load half of the Dekker pair with the PENDING store
        // of a rival publisher (module doc). It also Acquires the name
        // words, which the claimer wrote before that store.
        let w = self.word(e, W_STATE)?.load(Ordering::SeqCst);
        if !matches!(state_of(w), PENDING | PUBLISHED) {
            return Ok(Rival::None);
        }
        // Relaxed: validated by the generation re-read below.
        if self.word(e, W_KEY)?.load(Ordering::Relaxed) != key.key {
            return Ok(Rival::None);
        }
        for (i, want) in key.words.iter().enumerate() {
            if self.word(e, W_NAME + i as u64)?.load(Ordering::Relaxed) != *want {
                return Ok(Rival::None);
            }
        }
        // Acquire fence: orders the name reads before the re-read, so a
        // re-read with the same generation proves the name was that
        // generation's.
        fence(Ordering::Acquire);
        let again = self.word(e, W_STATE)?.load(Ordering::SeqCst);
        if gen_of(again) != gen_of(w) || !matches!(state_of(again), PENDING | PUBLISHED) {
            return Ok(Rival::None);
        }
        Ok(Rival::Same(again))
    }

    /// Whether the claimer of entry `e`, read at state word `w`, runs;
    /// `None` if the entry changed meanwhile (read it again).
    ///
    /// The state word names the claimer's pid only; its whole identity
    /// (pid and start time) is the owner word, written after the claim CAS
    /// and before the PENDING store. So a PENDING or ABORTED entry read by
    /// an Acquire (or SeqCst) load of `w` has its claimer's owner word
    /// visible, and is judged by pid and start time: a dead claimer whose
    /// pid the kernel gave to a new process is dead. A CLAIMING entry (its
    /// claimer died before PENDING) may not have its owner word yet, so it
    /// is judged by the pid alone, which errs towards keeping the entry.
    fn claimer_alive(&self, e: u64, w: u64) -> Result<Option<bool>> {
        let pid = pid_of(w);
        if state_of(w) == CLAIMING {
            return Ok(Some((self.alive)(ProcId::new(pid, 0))));
        }
        // Relaxed: made visible by the caller's Acquire of `w` (the owner
        // store precedes the PENDING store; see `publish_as`), and
        // validated as that claim's by the re-read below.
        let owner = ProcId::from_raw(self.word(e, W_OWNER)?.load(Ordering::Relaxed));
        // Acquire fence: orders the owner read before the re-read, so an
        // unchanged word proves the owner was this claim's.
        fence(Ordering::Acquire);
        if self.word(e, W_STATE)?.load(Ordering::Relaxed) != w {
            return Ok(None);
        }
        Ok(Some(match owner {
            Some(o) if o.pid() == pid => (self.alive)(o),
            // Not a word a claimer writes (corruption): the pid alone.
            _ => (self.alive)(ProcId::new(pid, 0)),
        }))
    }

    /// Claims an EMPTY entry (starting at the name's hash); if none is
    /// left, recycles one abandoned by a dead process.
    fn claim(&self, key: &Key, pid: u32) -> Result<(u64, u64)> {
        let cap = self.capacity;
        let start = (key.key >> 32) % cap.max(1);
        for recycle in [false, true] {
            for i in 0..cap {
                let e = (start + i) % cap;
                let word = self.word(e, W_STATE)?;
                // Acquire: pairs with the PENDING store (or the abort that
                // continues its release sequence), so `claimer_alive` reads
                // that claim's owner word; the CAS below decides.
                let mut w = word.load(Ordering::Acquire);
                if recycle
                    && matches!(state_of(w), CLAIMING | PENDING | ABORTED)
                    && self.claimer_alive(e, w)? == Some(false)
                {
                    // Relaxed: the dead claimer published nothing we read.
                    if word
                        .compare_exchange(
                            w,
                            with_state(w, EMPTY),
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                    {
                        w = with_state(w, EMPTY);
                    }
                }
                if state_of(w) != EMPTY {
                    continue;
                }
                let claimed = claim_word(w, pid);
                // Acquire: pairs with the Release of the unpublish or
                // loser that emptied the entry, so our writes of the name
                // come after its last reads. Relaxed on failure: try the
                // next entry.
                if word
                    .compare_exchange(w, claimed, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return Ok((e, claimed));
                }
            }
        }
        Err(Error::DirectoryFull {
            segment: self.segment.to_string(),
            capacity: self.capacity,
        })
    }

    /// Publishes `name` (1 to 64 bytes of UTF-8) with `value`, as process
    /// `me`. A name already published, or being published by a rival that
    /// wins, is [`Error::NameTaken`].
    pub fn publish_as(&self, name: &[u8], value: u64, me: ProcId) -> Result<()> {
        let key = Key::new(name)?;
        let (e, claimed) = self.claim(&key, me.pid())?;
        // Relaxed: these words are published by the SeqCst PENDING store.
        self.word(e, W_OWNER)?.store(me.raw(), Ordering::Relaxed);
        self.word(e, W_VALUE)?.store(value, Ordering::Relaxed);
        self.word(e, W_KEY)?.store(key.key, Ordering::Relaxed);
        for (i, w) in key.words.iter().enumerate() {
            self.word(e, W_NAME + i as u64)?
                .store(*w, Ordering::Relaxed);
        }
        let mine = with_state(claimed, PENDING);
        let state = self.word(e, W_STATE)?;
        // SYNC POINT (publish, SeqCst): Release publishes the words above
        // to every Acquire of this state; SeqCst is the store half of the
        // Dekker pair with a rival's scan (module doc).
        state.store(mine, Ordering::SeqCst);
        // SeqCst fence: with the one in every rival's publish, orders our
        // PENDING store before our scan's loads (store-buffering litmus;
        // loom models SeqCst accesses as AcqRel, the fence fully).
        fence(Ordering::SeqCst);
        let won = self.scan_rivals(e, &key)?;
        // SYNC POINT (publish, AcqRel): continues the release sequence of
        // the PENDING store; fails only if a rival aborted us.
        if won
            && state
                .compare_exchange(
                    mine,
                    with_state(mine, PUBLISHED),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return Ok(());
        }
        // Lost: empty our entry (PENDING, or ABORTED by a rival; nobody
        // else changes a live claimer's entry).
        let aborted = with_state(mine, ABORTED);
        for cur in [mine, aborted] {
            // Release: pairs with the Acquire of the next claim.
            if state
                .compare_exchange(
                    cur,
                    with_state(mine, EMPTY),
                    Ordering::Release,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                break;
            }
        }
        Err(self.taken(name))
    }

    /// Publishes `name` as the calling process (see
    /// [`Directory::publish_as`]).
    pub fn publish(&self, name: &[u8], value: u64) -> Result<()> {
        self.publish_as(name, value, ProcId::current())
    }

    /// The scan of a publisher at entry `e`: `Ok(false)` if it lost.
    fn scan_rivals(&self, e: u64, key: &Key) -> Result<bool> {
        for f in 0..self.capacity {
            if f == e {
                continue;
            }
            for _ in 0..REREADS {
                let Rival::Same(w) = self.read_rival(f, key)? else {
                    break;
                };
                if state_of(w) == PUBLISHED {
                    return Ok(false);
                }
                if f < e {
                    match self.claimer_alive(f, w)? {
                        Some(true) => return Ok(false),
                        Some(false) => {}
                        None => {
                            crate::sync::spin_loop();
                            continue;
                        }
                    }
                }
                // A higher rival, or a lower one whose claimer died: abort
                // it. Relaxed: the abort publishes nothing; on failure the
                // entry is read again.
                if self
                    .word(f, W_STATE)?
                    .compare_exchange(
                        w,
                        with_state(w, ABORTED),
                        Ordering::SeqCst,
                        Ordering::Relaxed,
                    )
                    .is_ok()
                {
                    break;
                }
                crate::sync::spin_loop();
            }
        }
        Ok(true)
    }

    /// Finds the PUBLISHED entry of `name`: its index, state word and value.
    fn find(&self, name: &[u8]) -> Result<Option<(u64, u64, u64)>> {
        let key = Key::new(name)?;
        for e in 0..self.capacity {
            if let Rival::Same(w) = self.read_rival(e, &key)? {
                if state_of(w) == PUBLISHED {
                    // Relaxed: written before PENDING, which our Acquire of
                    // the state made visible; the generation re-read in
                    // `read_rival` happened before this load, so re-check.
                    let value = self.word(e, W_VALUE)?.load(Ordering::Relaxed);
                    fence(Ordering::Acquire);
                    if self.word(e, W_STATE)?.load(Ordering::Relaxed) == w {
                        return Ok(Some((e, w, value)));
                    }
                }
            }
        }
        Ok(None)
    }

    /// The value published under `name`, if any.
    pub fn lookup(&self, name: &[u8]) -> Result<Option<u64>> {
        Ok(self.find(name)?.map(|(_, _, v)| v))
    }

    /// Removes `name`, returning its value; [`Error::NameNotFound`] if it is
    /// not published.
    pub fn unpublish(&self, name: &[u8]) -> Result<u64> {
        for _ in 0..REREADS {
            let Some((e, w, value)) = self.find(name)? else {
                break;
            };
            // SYNC POINT (unpublish, Release): pairs with the Acquire of
            // the next claim of this entry, so its writes come after our
            // reads.
            if self
                .word(e, W_STATE)?
                .compare_exchange(
                    w,
                    with_state(w, EMPTY),
                    Ordering::Release,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                return Ok(value);
            }
            crate::sync::spin_loop();
        }
        Err(self.not_found(name))
    }

    /// Every published name, in entry order.
    pub fn entries(&self) -> Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        for e in 0..self.capacity {
            // Acquire: pairs with the publish, making the words visible.
            let w = self.word(e, W_STATE)?.load(Ordering::Acquire);
            if state_of(w) != PUBLISHED {
                continue;
            }
            let key = self.word(e, W_KEY)?.load(Ordering::Relaxed);
            let len = (key & 0xFF) as usize;
            let mut bytes = Vec::with_capacity(MAX_DIRECTORY_NAME);
            for i in 0..NAME_WORDS {
                let word = self.word(e, W_NAME + i)?.load(Ordering::Relaxed);
                bytes.extend_from_slice(&word.to_le_bytes());
            }
            let value = self.word(e, W_VALUE)?.load(Ordering::Relaxed);
            let owner = ProcId::from_raw(self.word(e, W_OWNER)?.load(Ordering::Relaxed));
            fence(Ordering::Acquire);
            if self.word(e, W_STATE)?.load(Ordering::Relaxed) != w
                || len == 0
                || len > MAX_DIRECTORY_NAME
            {
                continue;
            }
            bytes.truncate(len);
            out.push(DirEntry {
                slot: e as u32,
                name: String::from_utf8_lossy(&bytes).into_owned(),
                value,
                owner,
            });
        }
        Ok(out)
    }
}

#[cfg(all(test, not(shm_loom)))]
mod tests {
    use super::*;

    fn heap(entries: usize) -> Vec<AtomicU64> {
        (0..entries * WORDS as usize)
            .map(|_| AtomicU64::new(0))
            .collect()
    }

    #[test]
    fn publish_lookup_unpublish() {
        let words = heap(4);
        let d = Directory::over(&words, "<test>", |_| true);
        let me = ProcId::new(7, 0);
        d.publish_as(b"orders", 4096, me).unwrap();
        assert!(matches!(
            d.publish_as(b"orders", 8192, me),
            Err(Error::NameTaken { .. })
        ));
        assert_eq!(d.lookup(b"orders").unwrap(), Some(4096));
        assert_eq!(d.lookup(b"order").unwrap(), None);
        let e = d.entries().unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].name.as_str(), e[0].value), ("orders", 4096));
        assert_eq!(d.unpublish(b"orders").unwrap(), 4096);
        assert!(matches!(
            d.unpublish(b"orders"),
            Err(Error::NameNotFound { .. })
        ));
        d.publish_as(b"orders", 1, me).unwrap();
        assert_eq!(d.lookup(b"orders").unwrap(), Some(1));
    }

    #[test]
    fn bad_names_and_a_full_directory() {
        let words = heap(2);
        let d = Directory::over(&words, "<test>", |_| true);
        let me = ProcId::new(7, 0);
        assert!(matches!(
            d.publish_as(b"", 1, me),
            Err(Error::InvalidName { .. })
        ));
        assert!(matches!(
            d.publish_as(&[b'x'; 65], 1, me),
            Err(Error::InvalidName { .. })
        ));
        assert!(matches!(
            d.lookup(&[0xFF, 0xFE]),
            Err(Error::InvalidName { .. })
        ));
        d.publish_as(&[b'x'; 64], 1, me).unwrap();
        d.publish_as(b"b", 2, me).unwrap();
        assert!(matches!(
            d.publish_as(b"c", 3, me),
            Err(Error::DirectoryFull { capacity: 2, .. })
        ));
    }

    #[test]
    fn entries_of_dead_claimers_are_recycled() {
        let words = heap(1);
        let d = Directory::over(&words, "<test>", |p| p.pid() != 99);
        // A claimer (pid 99) died while PENDING.
        words[0].store(claim_word(0, 99) & !7 | PENDING, Ordering::Relaxed);
        d.publish_as(b"a", 1, ProcId::new(7, 0)).unwrap();
        assert_eq!(d.lookup(b"a").unwrap(), Some(1));
    }

    #[test]
    fn a_dead_claimer_is_judged_by_its_start_time_once_pending() {
        // Pid 7 runs, but with start time 5: start time 4 is a process
        // that died and whose pid the kernel reused.
        fn alive(p: ProcId) -> bool {
            p.pid() == 7 && matches!(p.start_ticks(), 0 | 5)
        }
        let dead = ProcId::new(7, 4);
        for (state, recycled) in [(PENDING, true), (ABORTED, true), (CLAIMING, false)] {
            let words = heap(1);
            let d = Directory::over(&words, "<test>", alive);
            words[0].store(claim_word(0, 7) & !7 | state, Ordering::Relaxed);
            words[W_OWNER as usize].store(dead.raw(), Ordering::Relaxed);
            let r = d.publish_as(b"a", 1, ProcId::new(8, 1));
            assert_eq!(r.is_ok(), recycled, "state {state}: {r:?}");
        }
        // A lower PENDING rival of the same name by the dead process does
        // not make a publisher lose.
        let words = heap(2);
        let d = Directory::over(&words, "<test>", alive);
        let key = Key::new(b"a").unwrap();
        words[W_KEY as usize].store(key.key, Ordering::Relaxed);
        for (i, w) in key.words.iter().enumerate() {
            words[W_NAME as usize + i].store(*w, Ordering::Relaxed);
        }
        words[W_OWNER as usize].store(dead.raw(), Ordering::Relaxed);
        words[0].store(claim_word(0, 7) & !7 | PENDING, Ordering::Relaxed);
        // Entry 0 is taken, so the publisher claims entry 1, above it.
        d.publish_as(b"a", 2, ProcId::new(8, 1)).unwrap();
        assert_eq!(d.lookup(b"a").unwrap(), Some(2));
    }
}
