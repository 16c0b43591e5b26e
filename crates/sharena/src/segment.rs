//! [`Segment`]: a validated sharena segment on one of four backends.

use crate::backend::{anonymous, buffer::CallerBuffer, file, named, BackendKind, Mapping};
use crate::name::validate_name;
use crate::options::{OpenOptions, SegmentOptions};
use crate::process::is_alive;
use shm_layout::{AllocatorKind, Error, Result, SegmentView, WaitPolicy};
use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

/// A mapped, validated sharena segment.
///
/// Make one with [`Segment::create`], [`Segment::open`] or
/// [`Segment::create_or_open`] (named POSIX segments),
/// [`Segment::anonymous`] (shared with `fork`ed children),
/// [`Segment::create_file`] / [`Segment::open_file`] (persistent), or
/// [`Segment::in_buffer`] (a caller's memory, for threads of one process).
/// Dropping it unmaps the bytes; a named segment stays until
/// [`Segment::unlink`].
///
/// # Safety model
/// Other processes can write any byte of a shared segment at any time, so
/// sharena never trusts them: the header is copied and validated before use,
/// every offset is bounds-checked before it becomes a pointer, and shared
/// bytes are touched only through atomics and volatile copies, never as
/// `&[u8]`. That is why these constructors are safe functions, where
/// `memmap2::Mmap::map` is not.
///
/// # What a segment trusts
/// Its owner. Before anything is mapped, opening checks the object with
/// `fstat` on its descriptor: a regular file owned by this process's
/// effective uid that neither its group nor others may write; otherwise
/// [`Error::ForeignOwner`], [`Error::WritableByOthers`] or
/// [`Error::NotRegularFile`], unless [`OpenOptions`] accepts it. The reason
/// is what no validation can defend against: whoever may write the object
/// reads everything in it, and can *shrink* it (`ftruncate`) under the
/// mapping, so that later accesses raise `SIGBUS`. That risk remains, kept
/// to writers the caller trusts. Segments are created with exactly the mode
/// asked for (0600 unless asked otherwise).
///
/// # Backing store
/// Creating a named or file segment reserves every byte
/// ([`SegmentOptions::reserve`], on by default), so a size the file system
/// cannot hold fails at create with [`Error::NoSpace`], leaving nothing
/// behind, instead of a `SIGBUS` at a later write. On tmpfs that costs time
/// in proportion to the size; `reserve(false)` is the O(1) create, with the
/// risk back. Anonymous segments are never reserved.
pub struct Segment {
    view: SegmentView,
    mapping: Mapping,
}

/// Whether [`Segment::create_or_open`] made the segment or found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opened {
    /// This call created it.
    Created,
    /// It existed (or another process created it first).
    Existing,
}

impl Segment {
    /// Creates a named POSIX segment, exclusively: an existing name is
    /// [`Error::AlreadyExists`]. Mode is 0600 unless the options say
    /// otherwise. See [the safety model](Segment#safety-model).
    ///
    /// ```
    /// use sharena::{AllocatorKind, Segment, SegmentOptions};
    /// let name = format!("/sharena-doc-create-{}", std::process::id());
    /// let seg = Segment::create(&name, &SegmentOptions::new(AllocatorKind::Raw, 1 << 20))?;
    /// assert_eq!(seg.len(), 1 << 20);
    /// Segment::unlink(&name)?;
    /// # Ok::<(), sharena::Error>(())
    /// ```
    pub fn create(name: &str, opts: &SegmentOptions) -> Result<Segment> {
        Self::create_with(name, opts, |_| Ok(()))
    }

    /// As [`Segment::create`], running `init` (the allocator's state set-up)
    /// before the segment is published READY. If `init` fails the name is
    /// unlinked again.
    pub fn create_with(
        name: &str,
        opts: &SegmentOptions,
        init: impl FnOnce(&SegmentView) -> Result<()>,
    ) -> Result<Segment> {
        validate_name(name)?;
        let spec = opts.layout(name)?;
        let map = named::create(name, spec.total_len, opts.permissions(), opts.reserves())?;
        let mut mapping = Mapping::Named(map);
        let view = Self::initialize(name, &mapping, &spec, false, init)?;
        if let Mapping::Named(m) = &mut mapping {
            m.set_unlink_on_drop(false);
        }
        Ok(Segment { view, mapping })
    }

    /// Opens a named segment, waiting up to the timeout for a creator that is
    /// still initialising it, then validating every header field. The object
    /// must be owned by this process's effective uid and writable by no one
    /// else, unless `opts` accepts more ([`OpenOptions`]); that is checked
    /// on the descriptor before anything is mapped.
    pub fn open(name: &str, opts: &OpenOptions) -> Result<Segment> {
        validate_name(name)?;
        let start = Instant::now();
        let mapping = Mapping::Named(named::open(name, opts.timeout, opts.trust)?);
        let left = opts.timeout.saturating_sub(start.elapsed());
        Self::validate(name, mapping, opts.kind, left)
    }

    /// Creates the segment, or opens it if it exists; race-free when many
    /// processes call it at once (exactly one creates).
    ///
    /// An existing segment is opened with the checks of [`Segment::open`]:
    /// one that another user made (say, under a name a service is about to
    /// use) is [`Error::ForeignOwner`], and one whose mode lets its group or
    /// others write it is [`Error::WritableByOthers`], never adopted as this
    /// caller's own. The write bits of the mode `opts` asks for are
    /// accepted, and [`SegmentOptions::allow_foreign_owner`] and
    /// [`SegmentOptions::allow_shared_write`] accept more.
    pub fn create_or_open(name: &str, opts: &SegmentOptions) -> Result<(Segment, Opened)> {
        Self::create_or_open_with(name, opts, |_| Ok(()))
    }

    /// As [`Segment::create_or_open`], running `init` if this call creates
    /// the segment (it may be called again if a create attempt loses a race
    /// with an unlink, so it must not consume anything).
    pub fn create_or_open_with(
        name: &str,
        opts: &SegmentOptions,
        init: impl Fn(&SegmentView) -> Result<()>,
    ) -> Result<(Segment, Opened)> {
        validate_name(name)?;
        let start = Instant::now();
        let open = opts.open_options();
        loop {
            match Self::create_with(name, opts, &init) {
                Ok(s) => return Ok((s, Opened::Created)),
                Err(Error::AlreadyExists { .. }) => {}
                Err(e) => return Err(e),
            }
            let left = opts.wait_timeout().saturating_sub(start.elapsed());
            match Self::open(name, &open.timeout(left)) {
                Ok(s) => return Ok((s, Opened::Existing)),
                // Unlinked between our create and open: try again.
                Err(Error::NotFound { .. }) if !left.is_zero() => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Removes a named segment. Processes that have it mapped keep using it;
    /// the memory is freed when the last one unmaps.
    pub fn unlink(name: &str) -> Result<()> {
        validate_name(name)?;
        named::unlink(name)
    }

    /// Creates an anonymous shared segment (a memfd mapped `MAP_SHARED`):
    /// children `fork`ed after this call share it.
    pub fn anonymous(opts: &SegmentOptions) -> Result<Segment> {
        Self::anonymous_with(opts, |_| Ok(()))
    }

    /// As [`Segment::anonymous`], with an allocator `init` hook.
    pub fn anonymous_with(
        opts: &SegmentOptions,
        init: impl FnOnce(&SegmentView) -> Result<()>,
    ) -> Result<Segment> {
        let name = anonymous::ANON_NAME;
        let spec = opts.layout(name)?;
        let mapping = Mapping::Anonymous(anonymous::create(spec.total_len)?);
        let view = Self::initialize(name, &mapping, &spec, false, init)?;
        Ok(Segment { view, mapping })
    }

    /// Creates a file-backed segment at `path` (which must not exist). The
    /// heap persists: [`Segment::open_file`] it next run.
    pub fn create_file(path: impl AsRef<Path>, opts: &SegmentOptions) -> Result<Segment> {
        Self::create_file_with(path, opts, |_| Ok(()))
    }

    /// As [`Segment::create_file`], with an allocator `init` hook; on
    /// failure the file is removed.
    pub fn create_file_with(
        path: impl AsRef<Path>,
        opts: &SegmentOptions,
        init: impl FnOnce(&SegmentView) -> Result<()>,
    ) -> Result<Segment> {
        let path = path.as_ref();
        let name = file::display(path);
        let spec = opts.layout(&name)?;
        let map = file::create(path, spec.total_len, opts.permissions(), opts.reserves())?;
        let mut mapping = Mapping::File(map);
        let view = Self::initialize(&name, &mapping, &spec, false, init)?;
        if let Mapping::File(m) = &mut mapping {
            m.keep();
        }
        Ok(Segment { view, mapping })
    }

    /// Opens a file-backed segment, validating it as [`Segment::open`] does
    /// (owner and mode included). A symbolic link as the last component of
    /// `path`, a directory, a FIFO or a device is
    /// [`Error::NotRegularFile`].
    pub fn open_file(path: impl AsRef<Path>, opts: &OpenOptions) -> Result<Segment> {
        let path = path.as_ref();
        let name = file::display(path);
        let start = Instant::now();
        let mapping = Mapping::File(file::open(path, opts.timeout, opts.trust)?);
        let left = opts.timeout.saturating_sub(start.elapsed());
        Self::validate(&name, mapping, opts.kind, left)
    }

    /// Lays a segment over a caller's buffer (see [`CallerBuffer`]); the
    /// segment takes the buffer's whole usable length, whatever
    /// `opts.size()` says.
    pub fn in_buffer(buf: impl Into<CallerBuffer>, opts: &SegmentOptions) -> Result<Segment> {
        Self::in_buffer_with(buf, opts, |_| Ok(()))
    }

    /// As [`Segment::in_buffer`], with an allocator `init` hook.
    pub fn in_buffer_with(
        buf: impl Into<CallerBuffer>,
        opts: &SegmentOptions,
        init: impl FnOnce(&SegmentView) -> Result<()>,
    ) -> Result<Segment> {
        let name = "<buffer>";
        let buf: CallerBuffer = buf.into();
        let (_, len) = buf.span();
        let sized = opts.clone_with_size(len);
        let spec = sized.layout(name)?;
        let mapping = Mapping::Buffer(buf);
        let view = Self::initialize(name, &mapping, &spec, true, init)?;
        Ok(Segment { view, mapping })
    }

    fn initialize(
        name: &str,
        mapping: &Mapping,
        spec: &shm_layout::LayoutSpec,
        zero_first: bool,
        init: impl FnOnce(&SegmentView) -> Result<()>,
    ) -> Result<SegmentView> {
        let (base, len) = mapping.span();
        // SAFETY: the mapping owns `len` bytes at `base`, page- or
        // 128-aligned, and lives as long as the `Segment` that will hold the
        // view (the fields are dropped view first). The object was created
        // exclusively (O_EXCL, create_new, a fresh memfd or an owned buffer),
        // so nobody else initialises it.
        unsafe { SegmentView::initialize(name, base, len, spec, zero_first, init) }
    }

    fn validate(
        name: &str,
        mapping: Mapping,
        kind: Option<AllocatorKind>,
        timeout: Duration,
    ) -> Result<Segment> {
        let (base, len) = mapping.span();
        // SAFETY: as in `initialize`: the mapping owns `len` page-aligned
        // bytes and outlives the view inside the returned `Segment`.
        let view =
            unsafe { SegmentView::open(name, base, len, kind, WaitPolicy { timeout }, is_alive) }?;
        Ok(Segment { view, mapping })
    }

    /// The validated view: header copy, regions, checked pointers.
    pub fn view(&self) -> &SegmentView {
        &self.view
    }

    /// The name (POSIX name, file path, `<anonymous>` or `<buffer>`).
    pub fn name(&self) -> &str {
        self.view.name()
    }

    /// The allocator kind in the header.
    pub fn kind(&self) -> AllocatorKind {
        self.view.kind()
    }

    /// The segment's length in bytes.
    pub fn len(&self) -> u64 {
        self.view.len()
    }

    /// Always `false`: a segment holds at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Where the bytes live.
    pub fn backend(&self) -> BackendKind {
        self.mapping.kind()
    }
}

impl AsRef<SegmentView> for Segment {
    fn as_ref(&self) -> &SegmentView {
        &self.view
    }
}

impl fmt::Debug for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment")
            .field("name", &self.name())
            .field("kind", &self.kind())
            .field("len", &self.len())
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}
