//! The allocator kinds a segment can hold.

use std::fmt;
use std::str::FromStr;

/// Which allocator a segment was created for (header field `kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum AllocatorKind {
    /// A segment with no allocator: just the header, metadata and a pool.
    Raw = 0,
    /// The bump allocator.
    Bump = 1,
    /// The general-purpose free-list allocator.
    FreeList = 2,
    /// The fixed-size slab allocator.
    Slab = 3,
    /// The handle heap with compaction.
    Handles = 4,
}

impl AllocatorKind {
    /// Every kind, in value order.
    pub const ALL: [AllocatorKind; 5] = [
        AllocatorKind::Raw,
        AllocatorKind::Bump,
        AllocatorKind::FreeList,
        AllocatorKind::Slab,
        AllocatorKind::Handles,
    ];

    /// Decodes the header's raw value.
    pub fn from_raw(raw: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|k| *k as u32 == raw)
    }

    /// The name used by the command line and in messages.
    pub fn name(self) -> &'static str {
        match self {
            AllocatorKind::Raw => "raw",
            AllocatorKind::Bump => "bump",
            AllocatorKind::FreeList => "freelist",
            AllocatorKind::Slab => "slab",
            AllocatorKind::Handles => "handles",
        }
    }
}

impl fmt::Display for AllocatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AllocatorKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown allocator kind {s:?} (expected raw, bump, freelist, slab or handles)"
                )
            })
    }
}
