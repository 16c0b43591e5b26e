//! Opens a segment as its allocator (the kind its header names), for the
//! verbs that need the allocator and its recovery surface: `check`,
//! `reclaim`, `map` (and `info`'s statistics).

use crate::Failure;
use sharena::{
    AllocStats, AllocatorKind, Bump, FreeList, Handles, OpenOptions, Recover, Segment,
    ShmAllocator, Slab,
};

/// A segment attached as its allocator.
#[derive(Debug)]
pub enum Allocator {
    /// A free list.
    FreeList(FreeList),
    /// A slab.
    Slab(Slab),
    /// A bump arena.
    Bump(Bump),
    /// A handle heap.
    Handles(Handles),
}

impl Allocator {
    /// Opens NAME (a POSIX name, or a file-backed segment's path) as the
    /// allocator its header names, with `opts` (what it may trust). `verb`
    /// goes into the error lines.
    pub fn open(name: &str, verb: &str, opts: &OpenOptions) -> Result<Self, Failure> {
        let kind = super::open_any(name, opts)?.kind();
        let file = sharena::validate_name(name).is_err();
        let failed = |e: sharena::Error| Failure::op(format!("{verb} {name}: {e}"));
        macro_rules! open {
            ($ty:ident) => {
                Allocator::$ty(if file {
                    $ty::open_file_with_options(name, opts).map_err(failed)?
                } else {
                    $ty::open_with_options(name, opts).map_err(failed)?
                })
            };
        }
        Ok(match kind {
            AllocatorKind::FreeList => open!(FreeList),
            AllocatorKind::Slab => open!(Slab),
            AllocatorKind::Bump => open!(Bump),
            AllocatorKind::Handles => open!(Handles),
            AllocatorKind::Raw => {
                return Err(Failure::op(format!(
                    "{verb} {name}: a raw segment has no allocator to {verb}"
                )))
            }
        })
    }

    /// The recovery and self-check surface.
    pub fn recover(&self) -> &dyn Recover {
        match self {
            Allocator::FreeList(a) => &**a,
            Allocator::Slab(a) => &**a,
            Allocator::Bump(a) => &**a,
            Allocator::Handles(a) => &**a,
        }
    }

    /// The allocator's statistics.
    pub fn stats(&self) -> AllocStats {
        match self {
            Allocator::FreeList(a) => a.stats(),
            Allocator::Slab(a) => a.stats(),
            Allocator::Bump(a) => a.stats(),
            Allocator::Handles(a) => a.stats(),
        }
    }

    /// The segment.
    pub fn segment(&self) -> &Segment {
        match self {
            Allocator::FreeList(a) => a.segment(),
            Allocator::Slab(a) => a.segment(),
            Allocator::Bump(a) => a.segment(),
            Allocator::Handles(a) => a.segment(),
        }
    }
}

/// Whether an error only says the operation is not built (yet) for this
/// kind.
pub fn unsupported(e: &sharena::Error) -> bool {
    matches!(e, sharena::Error::Unsupported { .. })
}
