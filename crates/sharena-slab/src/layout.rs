//! Where everything lives in the state region, computed from the header
//! params alone (so every process agrees), and the `#[repr(C)]` structs of
//! shim atomics laid over it.
//!
//! ```text
//! state region (offsets from its start)
//! 0x000  Control      4 lines of 128 B: head | never-used counter |
//!                     format word | reserved
//! 0x200  registry     n_caches entries of one 128 B line each (CacheHead;
//!                     the cached indices themselves are process-local)
//! ...    slot words   slot_count u64 state words (see `word.rs`)
//! ```

use crate::word::NIL;
use shm_layout::sync::AtomicU64;
use shm_layout::{align_up, OwnerSlot, CACHE_LINE};

/// `params[0]`: the slot size in bytes (at least 8, a multiple of 8).
pub const PARAM_SLOT_SIZE: usize = 0;
/// `params[1]`: the most slots to use; 0 = as many as the pool and the
/// state region hold.
pub const PARAM_MAX_SLOTS: usize = 1;
/// `params[2]`: cache registry entries; 0 = [`DEFAULT_CACHES`].
pub const PARAM_CACHES: usize = 2;
/// `params[3]`: slots each cache holds (in the memory of the process
/// that holds the entry); 0 = [`DEFAULT_CACHE_CAP`].
pub const PARAM_CACHE_CAP: usize = 3;

/// `params[4]`: flags; bit 0 is [`FLAG_STRICT_FREE`], the rest zero.
pub const PARAM_FLAGS: usize = 4;
/// Flag: every free CASes its slot word, so even two frees of one slot
/// racing at the same instant are told apart (costs one uncontended CAS
/// per free on the fast path).
pub const FLAG_STRICT_FREE: u64 = 1;

/// Cache registry entries when `params[2]` is 0.
pub const DEFAULT_CACHES: u64 = 64;
/// Slots per cache when `params[3]` is 0.
pub const DEFAULT_CACHE_CAP: u64 = 128;
/// The most cache entries (owner ids are 16 bits: entry id + 1).
pub const MAX_CACHES: u64 = 4096;
/// The most slots per cache.
pub const MAX_CACHE_CAP: u64 = 1 << 16;
/// The most slots (indices are `u32`, `u32::MAX` means none).
pub const MAX_SLOTS: u64 = NIL as u64;
/// The largest slot size: an ALLOCATED slot word keeps the slot's bytes
/// past the size its allocation asked for (its *slack*) in 32 bits.
pub const MAX_SLOT_SIZE: u64 = 1 << 32;
/// The largest alignment a slot start can have (the creator places the
/// pool on a page).
pub const MAX_ALIGN: u64 = 4096;

/// The value `init` writes into [`Info::format`]: "SLAB" and format 2.
/// Format 1 kept a shared index array in every cache entry, bits 32..64 of
/// ALLOCATED words zero, and slots up to 2^40 bytes.
pub const FORMAT_WORD: u64 = 0x0000_0002_424C_4153;

/// Bytes of the control block.
pub const CONTROL_LEN: u64 = 4 * CACHE_LINE;
/// Bytes of a cache entry's head (one line).
pub const CACHE_HEAD_LEN: u64 = CACHE_LINE;

pub use shm_layout::Line;

/// The control block at the start of the state region.
#[derive(Debug, Default)]
#[repr(C)]
pub struct Control {
    /// The free-stack head (`word::Head`).
    pub head: Line<AtomicU64>,
    /// Slots `0..unused` have been handed out at least once; the rest are
    /// UNUSED and come from this counter.
    pub unused: Line<AtomicU64>,
    /// The format word.
    pub info: Line<Info>,
    /// Reserved; zero.
    pub reserved: Line<AtomicU64>,
}

/// The third line of the control block.
#[derive(Debug, Default)]
#[repr(C)]
pub struct Info {
    /// Reserved; zero (operation counters of older builds).
    pub reserved: [AtomicU64; 2],
    /// [`FORMAT_WORD`] once `init` ran.
    pub format: AtomicU64,
}

/// Where a pop off the shared stack records the slot it is taking, before
/// the head CAS, so that a death between that CAS and the slot's stamp
/// leaves the slot attributable to the popping entry (`stack.rs`, `pop`).
#[derive(Debug, Default)]
#[repr(C)]
pub struct PopRecord {
    /// The slot being popped (meaningful only while `word` is nonzero).
    pub index: AtomicU64,
    /// That slot's FREE word when the pop began; 0: no pop under way.
    pub word: AtomicU64,
}

/// The head of one cache registry entry (its index array follows it).
#[derive(Debug, Default)]
#[repr(C, align(128))]
pub struct CacheHead {
    /// The holder: 0 free, else the `OwnerId` of the attachment (the
    /// [`crate::Slab`]) that claimed or adopted the entry.
    pub owner: OwnerSlot,
    /// How many slots the cache held at its holder's last refill or
    /// flush (at most the cache capacity): a hint for
    /// `OutOfMemory::available`, never used to find a slot (the cache's
    /// indices live in its holder's process).
    pub count: AtomicU64,
    /// The pop record of the thread that owns the cache.
    pub pending: PopRecord,
    /// 1 while the thread that owns the cache pushes a chain onto the
    /// shared stack (from before its first link store until after its head
    /// CAS), else 0. Plain stores: only that thread writes it.
    pub pushing: AtomicU64,
    /// Reserved; zero.
    pub reserved: [AtomicU64; 3],
    /// The pop record of the other threads sharing the `Slab` (one at a
    /// time: they take turns through a process-local lock). On the second
    /// half of the line, away from the cache owner's `count`.
    pub others: PopRecord,
    /// Pushes under way by the other threads of the `Slab` (their frees,
    /// and a reclaim's pushes from this entry's custody): each adds one
    /// before its first link store and takes it away after its head CAS.
    pub others_pushing: AtomicU64,
    /// Reserved; zero.
    pub reserved2: [AtomicU64; 5],
}

/// The element type of the slot state words.
pub type SlotCell = AtomicU64;

#[cfg(not(shm_loom))]
const _: () = {
    assert!(core::mem::size_of::<Control>() as u64 == CONTROL_LEN);
    assert!(core::mem::offset_of!(Control, unused) == 128);
    assert!(core::mem::offset_of!(Control, info) == 256);
    assert!(core::mem::offset_of!(Info, format) == 16);
    assert!(core::mem::size_of::<CacheHead>() as u64 == CACHE_HEAD_LEN);
    assert!(core::mem::offset_of!(CacheHead, count) == 8);
    assert!(core::mem::offset_of!(CacheHead, pending) == 0x10);
    assert!(core::mem::offset_of!(CacheHead, pushing) == 0x20);
    assert!(core::mem::offset_of!(CacheHead, others) == 0x40);
    assert!(core::mem::offset_of!(CacheHead, others_pushing) == 0x50);
    assert!(core::mem::size_of::<SlotCell>() == 8);
};

/// The slab's geometry, all derived from header params and region lengths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Slot size in bytes.
    pub slot_size: u64,
    /// Slots in the slab.
    pub slot_count: u64,
    /// Cache registry entries.
    pub caches: u64,
    /// Slot indices per cache.
    pub cache_cap: u64,
    /// `params[4]` bit 0: every free CASes its slot word.
    pub strict_free: bool,
}

impl Geometry {
    /// Bytes of one registry entry: its head line alone (format 2 keeps a
    /// cache's indices in its holder's process; `cache_cap` no longer
    /// sizes the entry).
    pub const fn entry_len(cache_cap: u64) -> u64 {
        let _ = cache_cap;
        CACHE_HEAD_LEN
    }

    /// Offset of the registry from the state region's start.
    pub const REGISTRY_OFFSET: u64 = CONTROL_LEN;

    /// Offset of the slot words from the state region's start.
    pub const fn slots_offset(caches: u64, cache_cap: u64) -> u64 {
        CONTROL_LEN + caches * Self::entry_len(cache_cap)
    }

    /// Bytes of state this geometry needs, `None` on overflow.
    pub const fn state_len(self) -> Option<u64> {
        let fixed = Self::slots_offset(self.caches, self.cache_cap);
        match self.slot_count.checked_mul(8) {
            Some(words) => match fixed.checked_add(words) {
                Some(total) => align_up(total, CACHE_LINE),
                None => None,
            },
            None => None,
        }
    }

    /// Decodes the params, applying defaults; `Err` names the invalid word
    /// and what it must be.
    /// `slot_count` is left 0: see [`Geometry::fit`].
    pub fn from_params(params: &[u64]) -> Result<Geometry, (usize, &'static str)> {
        let slot_size = params[PARAM_SLOT_SIZE];
        if slot_size < 8 || slot_size % 8 != 0 || slot_size > MAX_SLOT_SIZE {
            return Err((0, "a multiple of 8 from 8 to 2^32 (the slot size)"));
        }
        let caches = match params[PARAM_CACHES] {
            0 => DEFAULT_CACHES,
            n if n <= MAX_CACHES => n,
            _ => return Err((2, "at most 4096 (cache entries; 0 for 64)")),
        };
        let cache_cap = match params[PARAM_CACHE_CAP] {
            0 => DEFAULT_CACHE_CAP,
            n if (2..=MAX_CACHE_CAP).contains(&n) => n,
            _ => return Err((3, "2 to 65536 (slots per cache; 0 for 128)")),
        };
        if params[PARAM_FLAGS] & !FLAG_STRICT_FREE != 0 {
            return Err((4, "0 or 1 (flags: bit 0 strict free)"));
        }
        if params[5] != 0 {
            return Err((5, "0 (reserved)"));
        }
        Ok(Geometry {
            slot_size,
            slot_count: 0,
            caches,
            cache_cap,
            strict_free: params[PARAM_FLAGS] & FLAG_STRICT_FREE != 0,
        })
    }

    /// The most slots that fit a pool of `pool_len` bytes and a state region
    /// of `state_len` bytes, capped by `params[1]` (0: no cap).
    pub fn fit(self, max_slots: u64, pool_len: u64, state_len: u64) -> Geometry {
        let by_pool = pool_len / self.slot_size;
        let fixed = Self::slots_offset(self.caches, self.cache_cap);
        let by_state = state_len.saturating_sub(fixed) / 8;
        let mut n = by_pool.min(by_state).min(MAX_SLOTS);
        if max_slots != 0 {
            n = n.min(max_slots);
        }
        Geometry {
            slot_count: n,
            ..self
        }
    }

    /// The largest power of two dividing both the slot size and the pool
    /// offset, capped at `MAX_ALIGN`: the alignment every slot start has.
    pub const fn max_align(self, pool_offset: u64) -> u64 {
        let tz = (self.slot_size | pool_offset | MAX_ALIGN).trailing_zeros();
        1 << tz
    }
}

/// Bytes of state region a slab of `slot_count` slots of `slot_size` bytes
/// needs with the default cache registry; `None` if the size is invalid or
/// the sum overflows.
pub const fn state_len(slot_size: u64, slot_count: u64) -> Option<u64> {
    if slot_size < 8 || slot_count > MAX_SLOTS {
        return None;
    }
    Geometry {
        slot_size: (slot_size + 7) & !7,
        slot_count,
        caches: DEFAULT_CACHES,
        cache_cap: DEFAULT_CACHE_CAP,
        strict_free: false,
    }
    .state_len()
}

/// How many slots of `slot_size` bytes a slab segment of `total_len` bytes
/// holds (default caches, no `params[1]` cap), with `metadata_len` bytes of
/// metadata region, and the state length to ask for: `(slot_count,
/// state_len)`, where `slot_count` is exactly what [`Geometry::fit`] will
/// derive when the segment is attached. `None` if not one slot fits.
///
/// Regions are laid out as `shm_layout::LayoutSpec::build` does: header
/// page, metadata and state each rounded to a page, pool the rest.
pub fn slots_for_segment(slot_size: u64, total_len: u64, metadata_len: u64) -> Option<(u64, u64)> {
    let page = shm_layout::REGION_PLACEMENT_ALIGN;
    let slot_size = align_up(slot_size.max(8), 8)?;
    let meta = align_up(metadata_len, 64)?;
    let state_off = align_up(shm_layout::HEADER_LEN.checked_add(meta)?, page)?;
    let room = total_len.checked_sub(state_off)?;
    // Each slot costs slot_size of pool and 8 bytes of state; estimate,
    // then step down while the page rounding of the state does not fit.
    let fixed = state_len(slot_size, 0)?;
    let mut n = (room.checked_sub(align_up(fixed, page)?)? / (slot_size + 8)).min(MAX_SLOTS);
    let geo = Geometry {
        slot_size,
        slot_count: 0,
        caches: DEFAULT_CACHES,
        cache_cap: DEFAULT_CACHE_CAP,
        strict_free: false,
    };
    loop {
        let st = state_len(slot_size, n)?;
        if let Some(pool) = room.checked_sub(align_up(st, page)?) {
            let got = geo.fit(0, pool & !63, st).slot_count;
            if got >= n {
                return if got == 0 { None } else { Some((got, st)) };
            }
        }
        // At most a page's worth of slots is lost to rounding, so this loop
        // runs at most 4096 / 16 + 1 times.
        n = n.checked_sub(1)?;
    }
}
