//! The segment header: the immutable, checksummed fields at offset 0.
//!
//! `docs/FORMAT.md` describes every byte; the `const` assertions at the end
//! of this file pin the offsets it names.

use crate::consts::{
    HEADER_LEN, HEADER_STRUCT_LEN, LAYOUT_VERSION, MAGIC, PARAM_COUNT, REGION_COUNT,
};
use crate::kind::AllocatorKind;
use bytemuck::{Pod, Zeroable};

/// One entry of the region table: a byte range of the segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct Region {
    /// Offset from the segment base; a multiple of 64.
    pub offset: u64,
    /// Length in bytes; a multiple of 64.
    pub len: u64,
}

impl Region {
    /// The first byte past the region, or `None` if that overflows.
    pub fn end(&self) -> Option<u64> {
        self.offset.checked_add(self.len)
    }
}

/// The regions of a segment, in table order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionId {
    /// Process table and named directory.
    Metadata = 0,
    /// The allocator's own state (heads, counters, per-block words).
    State = 1,
    /// The bytes handed out to users.
    Pool = 2,
}

impl RegionId {
    /// Every region, in table order.
    pub const ALL: [RegionId; REGION_COUNT] = [RegionId::Metadata, RegionId::State, RegionId::Pool];

    /// The region's name in messages and in `docs/FORMAT.md`.
    pub fn name(self) -> &'static str {
        match self {
            RegionId::Metadata => "metadata",
            RegionId::State => "state",
            RegionId::Pool => "pool",
        }
    }
}

/// The plain (non-atomic) header fields, written once by the creator before
/// READY and never changed afterwards. 256 bytes, all checksummed but the
/// last word, which is the checksum itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct Header {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`LAYOUT_VERSION`].
    pub layout_version: u32,
    /// An [`AllocatorKind`] as `u32`.
    pub kind: u32,
    /// The segment's length in bytes.
    pub total_len: u64,
    /// [`HEADER_LEN`].
    pub header_len: u64,
    /// The creator's process id.
    pub creator_pid: u32,
    /// Reserved flags, zero in version 1.
    pub flags: u32,
    /// Creation time, nanoseconds since the Unix epoch.
    pub created_unix_ns: u64,
    /// [`REGION_COUNT`].
    pub region_count: u32,
    /// Zero.
    pub reserved0: u32,
    /// The region table, indexed by [`RegionId`].
    pub regions: [Region; REGION_COUNT],
    /// Allocator parameters (their meaning is per kind, see `docs/FORMAT.md`).
    pub params: [u64; PARAM_COUNT],
    /// Zero in version 1.
    pub reserved: [u64; 10],
    /// FNV-1a 64 of the 248 bytes before it.
    pub checksum: u64,
}

impl Header {
    /// The region with this id.
    pub fn region(&self, id: RegionId) -> Region {
        self.regions[id as usize]
    }

    /// The checksum the immutable fields hash to.
    pub fn compute_checksum(&self) -> u64 {
        let bytes = bytemuck::bytes_of(self);
        fnv1a64(&bytes[..HEADER_STRUCT_LEN - 8])
    }

    /// Sets `checksum` from the other fields.
    pub fn seal(&mut self) {
        self.checksum = self.compute_checksum();
    }
}

/// FNV-1a, 64-bit: tiny, dependency-free, and enough to catch torn or
/// corrupted headers (it is not a defence against a deliberate forger, who
/// can recompute it; validation does not rely on it for memory safety).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// What a creator asks for; [`LayoutSpec::build`] turns it into a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayoutSpec {
    /// The allocator kind.
    pub kind: AllocatorKind,
    /// The whole segment's length in bytes.
    pub total_len: u64,
    /// Bytes for the metadata region (process table, directory).
    pub metadata_len: u64,
    /// Bytes for the allocator state region.
    pub state_len: u64,
    /// Allocator parameters stored in the header.
    pub params: [u64; PARAM_COUNT],
}

/// Rounds `v` up to a multiple of `align` (a power of two); `None` on
/// overflow.
pub const fn align_up(v: u64, align: u64) -> Option<u64> {
    debug_assert!(align.is_power_of_two());
    match v.checked_add(align - 1) {
        Some(x) => Some(x & !(align - 1)),
        None => None,
    }
}

/// The names of the header's `params` words, for errors that name one.
pub const PARAM_NAMES: [&str; PARAM_COUNT] = [
    "params[0]",
    "params[1]",
    "params[2]",
    "params[3]",
    "params[4]",
    "params[5]",
    "params[6]",
    "params[7]",
];

impl LayoutSpec {
    /// The smallest `total_len` this spec fits in with a pool of
    /// `pool_len` bytes, or `None` on overflow.
    pub fn min_total_len(&self, pool_len: u64) -> Option<u64> {
        let a = crate::consts::REGION_PLACEMENT_ALIGN;
        let meta = align_up(self.metadata_len, a)?;
        let state = align_up(self.state_len, a)?;
        HEADER_LEN
            .checked_add(meta)?
            .checked_add(state)?
            .checked_add(align_up(pool_len, crate::consts::REGION_ALIGN)?)
    }

    /// Lays the regions out one after the other, page-aligned, the pool
    /// taking whatever is left (rounded down to 64 bytes). `Err` says why the
    /// spec does not fit.
    pub fn build(&self, creator_pid: u32, created_unix_ns: u64) -> Result<Header, String> {
        let a = crate::consts::REGION_PLACEMENT_ALIGN;
        let overflow = || "sizes overflow".to_string();
        let meta_off = HEADER_LEN;
        let meta_len =
            align_up(self.metadata_len, crate::consts::REGION_ALIGN).ok_or_else(overflow)?;
        let state_off = align_up(meta_off + meta_len, a).ok_or_else(overflow)?;
        let state_len =
            align_up(self.state_len, crate::consts::REGION_ALIGN).ok_or_else(overflow)?;
        let pool_off = align_up(state_off.checked_add(state_len).ok_or_else(overflow)?, a)
            .ok_or_else(overflow)?;
        if pool_off > self.total_len {
            return Err(format!(
                "too small: the header and metadata need {pool_off} bytes before the pool"
            ));
        }
        let pool_len = (self.total_len - pool_off) & !(crate::consts::REGION_ALIGN - 1);
        let mut h = Header::zeroed();
        h.magic = MAGIC;
        h.layout_version = LAYOUT_VERSION;
        h.kind = self.kind as u32;
        h.total_len = self.total_len;
        h.header_len = HEADER_LEN;
        h.creator_pid = creator_pid;
        h.created_unix_ns = created_unix_ns;
        h.region_count = REGION_COUNT as u32;
        h.regions = [
            Region {
                offset: meta_off,
                len: meta_len,
            },
            Region {
                offset: state_off,
                len: state_len,
            },
            Region {
                offset: pool_off,
                len: pool_len,
            },
        ];
        h.params = self.params;
        h.seal();
        Ok(h)
    }
}

// The offsets `docs/FORMAT.md` documents.
const _: () = {
    assert!(core::mem::size_of::<Header>() == HEADER_STRUCT_LEN);
    assert!(core::mem::offset_of!(Header, layout_version) == 0x08);
    assert!(core::mem::offset_of!(Header, kind) == 0x0C);
    assert!(core::mem::offset_of!(Header, total_len) == 0x10);
    assert!(core::mem::offset_of!(Header, header_len) == 0x18);
    assert!(core::mem::offset_of!(Header, creator_pid) == 0x20);
    assert!(core::mem::offset_of!(Header, created_unix_ns) == 0x28);
    assert!(core::mem::offset_of!(Header, region_count) == 0x30);
    assert!(core::mem::offset_of!(Header, regions) == 0x38);
    assert!(core::mem::offset_of!(Header, params) == 0x68);
    assert!(core::mem::offset_of!(Header, reserved) == 0xA8);
    assert!(core::mem::offset_of!(Header, checksum) == 0xF8);
    assert!((HEADER_STRUCT_LEN as u64) <= crate::consts::INIT_WORD_OFFSET);
    assert!(crate::consts::INIT_WORD_OFFSET % crate::consts::CACHE_LINE == 0);
};
