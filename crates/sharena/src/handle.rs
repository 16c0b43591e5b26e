//! The constructor plumbing shared by every allocator handle of the facade
//! ([`Bump`](crate::Bump), [`FreeList`](crate::FreeList),
//! [`Handles`](crate::Handles), [`Slab`](crate::Slab)): make or open a
//! segment of one kind on any backend, running the allocator's `init` hook
//! before READY, and the constructors written once for all of them.

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

/// The constructors every allocator handle shares ([`Bump`](crate::Bump),
/// [`FreeList`](crate::FreeList), [`Handles`](crate::Handles),
/// [`Slab`](crate::Slab)): named, anonymous, file-backed and in-buffer
/// segments, plus `segment()` and `Deref` to the allocator. The type
/// provides `options(size, ..)`, a `KIND` const and `reattach` (whose
/// contract differs per allocator). Creation arguments after the size (the
/// slab's slot size) follow `;` with the words that describe them.
macro_rules! sized_handle {
    ($ty:ident, $inner:ty, $init:expr, $what:literal) => {
        $crate::handle::sized_handle!($ty, $inner, $init, $what; "";);
    };
    ($ty:ident, $inner:ty, $init:expr, $what:literal; $with:literal; $($arg:ident: $argty:ty),*) => {
        impl $ty {
            fn wrap(seg: $crate::handle::SharedSegment) -> Result<Self> {
                Ok($ty {
                    inner: <$inner>::attach(seg)?,
                })
            }

            /// Makes or opens the segment; the creation arguments are not
            /// used by an open.
            fn make(src: $crate::handle::Source<'_>, size: u64 $(, $arg: $argty)*) -> Result<Self> {
                Self::wrap($crate::handle::segment(
                    src,
                    KIND,
                    &|| Self::options(size $(, $arg)*),
                    $init,
                )?)
            }

            #[doc = concat!("Creates a named ", $what, " segment of `size` bytes", $with, ".")]
            pub fn create(name: &str, size: u64 $(, $arg: $argty)*) -> Result<Self> {
                Self::make($crate::handle::Source::Create(name), size $(, $arg)*)
            }

            #[doc = concat!("Creates a named ", $what, " segment with options made by [`", stringify!($ty), "::options`] (and, say, a `mode`).")]
            pub fn create_with_options(name: &str, opts: &$crate::SegmentOptions) -> Result<Self> {
                let opts = opts.clone();
                Self::wrap($crate::handle::segment(
                    $crate::handle::Source::Create(name),
                    KIND,
                    &|| Ok(opts.clone()),
                    $init,
                )?)
            }

            #[doc = concat!("Opens a named ", $what, " segment.")]
            pub fn open(name: &str) -> Result<Self> {
                Self::make($crate::handle::Source::Open(name), 0 $(, <$argty>::default())*)
            }

            #[doc = concat!("Opens a named ", $what, " segment with [`OpenOptions`](crate::OpenOptions) (to accept another owner or shared write access).")]
            pub fn open_with_options(name: &str, opts: &$crate::OpenOptions) -> Result<Self> {
                Self::wrap($crate::handle::SharedSegment(std::sync::Arc::new(
                    $crate::Segment::open(name, &opts.kind(KIND))?,
                )))
            }

            #[doc = concat!("Creates the named ", $what, " (`size` bytes", $with, "), or opens it if it exists.")]
            pub fn create_or_open(name: &str, size: u64 $(, $arg: $argty)*) -> Result<(Self, $crate::Opened)> {
                let (seg, how) = $crate::handle::create_or_open(
                    name,
                    &|| Self::options(size $(, $arg)*),
                    $init,
                )?;
                Ok((Self::wrap(seg)?, how))
            }

            #[doc = concat!("Creates the named ", $what, " with options made by [`", stringify!($ty), "::options`], or opens it if it exists (the options say what an existing one may be: [`SegmentOptions::allow_shared_write`](crate::SegmentOptions::allow_shared_write) and the rest).")]
            pub fn create_or_open_with_options(name: &str, opts: &$crate::SegmentOptions) -> Result<(Self, $crate::Opened)> {
                let opts = opts.clone();
                let (seg, how) = $crate::handle::create_or_open(
                    name,
                    &|| Ok(opts.clone()),
                    $init,
                )?;
                Ok((Self::wrap(seg)?, how))
            }

            #[doc = concat!("An anonymous ", $what, " of `size` bytes", $with, ", shared with children forked after this call (each child calls [`", stringify!($ty), "::reattach`]).")]
            pub fn anonymous(size: u64 $(, $arg: $argty)*) -> Result<Self> {
                Self::make($crate::handle::Source::Anonymous, size $(, $arg)*)
            }

            #[doc = concat!("A file-backed ", $what, " of `size` bytes", $with, " at `path` (which must not exist).")]
            pub fn create_file(path: impl AsRef<std::path::Path>, size: u64 $(, $arg: $argty)*) -> Result<Self> {
                Self::make($crate::handle::Source::CreateFile(path.as_ref()), size $(, $arg)*)
            }

            #[doc = concat!("Opens a file-backed ", $what, ".")]
            pub fn open_file(path: impl AsRef<std::path::Path>) -> Result<Self> {
                Self::make($crate::handle::Source::OpenFile(path.as_ref()), 0 $(, <$argty>::default())*)
            }

            #[doc = concat!("Opens a file-backed ", $what, " with [`OpenOptions`](crate::OpenOptions).")]
            pub fn open_file_with_options(path: impl AsRef<std::path::Path>, opts: &$crate::OpenOptions) -> Result<Self> {
                Self::wrap($crate::handle::SharedSegment(std::sync::Arc::new(
                    $crate::Segment::open_file(path, &opts.kind(KIND))?,
                )))
            }

            #[doc = concat!("A ", $what, " over a caller's buffer (its whole usable length", $with, "), for the threads of one process.")]
            pub fn in_buffer(buf: impl Into<$crate::CallerBuffer> $(, $arg: $argty)*) -> Result<Self> {
                Self::wrap($crate::handle::in_buffer(
                    buf,
                    &|len| Self::options(len $(, $arg)*),
                    $init,
                )?)
            }

            /// The segment.
            pub fn segment(&self) -> &$crate::Segment {
                &self.inner.segment().0
            }
        }

        impl std::ops::Deref for $ty {
            type Target = $inner;
            fn deref(&self) -> &Self::Target {
                &self.inner
            }
        }
    };
}
pub(crate) use sized_handle;
