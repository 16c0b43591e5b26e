//! The constructor plumbing shared by the allocator handles
//! ([`Slab`](crate::Slab), [`Bump`](crate::Bump)): make or open a segment of
//! one kind on any backend, running the allocator's `init` hook before
//! READY.

use crate::backend::CallerBuffer;
use crate::options::{OpenOptions, SegmentOptions};
use crate::segment::{Opened, Segment};
use shm_layout::{AllocatorKind, Error, Result, SegmentView};
use std::path::Path;
use std::sync::Arc;

/// A segment shared by the allocator handles of one process.
#[derive(Clone, Debug)]
pub struct SharedSegment(pub Arc<Segment>);

impl AsRef<SegmentView> for SharedSegment {
    fn as_ref(&self) -> &SegmentView {
        self.0.view()
    }
}

/// Where a handle's segment comes from.
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    Create(&'a str),
    Open(&'a str),
    Anonymous,
    CreateFile(&'a Path),
    OpenFile(&'a Path),
}

/// Makes or opens the segment. `opts` builds the creation options from a
/// size (for a buffer, its usable length); it is not called for opens.
pub(crate) fn segment(
    src: Source<'_>,
    kind: AllocatorKind,
    opts: &dyn Fn() -> Result<SegmentOptions>,
    init: fn(&SegmentView) -> Result<()>,
) -> Result<SharedSegment> {
    let open = OpenOptions::new().kind(kind);
    let seg = match src {
        Source::Create(name) => Segment::create_with(name, &named(opts(), name)?, init)?,
        Source::Open(name) => Segment::open(name, &open)?,
        Source::Anonymous => Segment::anonymous_with(&opts()?, init)?,
        Source::CreateFile(path) => Segment::create_file_with(path, &opts()?, init)?,
        Source::OpenFile(path) => Segment::open_file(path, &open)?,
    };
    Ok(SharedSegment(Arc::new(seg)))
}

/// A segment over a caller's buffer; `opts` gets the usable length.
pub(crate) fn in_buffer(
    buf: impl Into<CallerBuffer>,
    opts: &dyn Fn(u64) -> Result<SegmentOptions>,
    init: fn(&SegmentView) -> Result<()>,
) -> Result<SharedSegment> {
    let buf: CallerBuffer = buf.into();
    let o = opts(buf.usable_len())?;
    Ok(SharedSegment(Arc::new(Segment::in_buffer_with(
        buf, &o, init,
    )?)))
}

/// Create, or open if the name is taken; race-free and bounded by the
/// options' timeout ([`Segment::create_or_open_with`]).
pub(crate) fn create_or_open(
    name: &str,
    opts: &dyn Fn() -> Result<SegmentOptions>,
    init: fn(&SegmentView) -> Result<()>,
) -> Result<(SharedSegment, Opened)> {
    let (seg, how) = Segment::create_or_open_with(name, &named(opts(), name)?, init)?;
    Ok((SharedSegment(Arc::new(seg)), how))
}

/// Puts the segment's name into a size error made before it had one.
fn named(r: Result<SegmentOptions>, name: &str) -> Result<SegmentOptions> {
    r.map_err(|e| match e {
        Error::InvalidSize { size, reason, .. } => Error::InvalidSize {
            segment: name.to_string(),
            size,
            reason,
        },
        e => e,
    })
}
