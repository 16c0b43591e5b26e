//! What a creator or opener asks for.

use crate::backend::trust::{Trust, SHARED_WRITE};
use shm_layout::{
    AllocatorKind, Error, LayoutSpec, Result, HEADER_LEN, MAX_SEGMENT_LEN, PARAM_COUNT,
};
use std::time::Duration;

pub use shm_layout::{
    DIRECTORY_ENTRY_LEN, PARAM_DIRECTORY_SLOTS, PARAM_MAX_PROCESSES, PROCESS_ENTRY_LEN,
};

/// How to create a segment: kind, size, permissions, and the capacities of
/// the metadata region.
///
/// ```
/// use sharena::{AllocatorKind, SegmentOptions};
/// let opts = SegmentOptions::new(AllocatorKind::FreeList, 64 << 20).mode(0o640);
/// assert_eq!(opts.size(), 64 << 20);
/// ```
#[derive(Clone, Debug)]
pub struct SegmentOptions {
    kind: AllocatorKind,
    size: u64,
    mode: u32,
    timeout: Duration,
    state_len: u64,
    params: [u64; PARAM_COUNT],
    max_processes: u32,
    directory_slots: u32,
    trust: Trust,
    reserve: bool,
}

impl SegmentOptions {
    /// A segment of `size` bytes (header and metadata included) for `kind`.
    pub fn new(kind: AllocatorKind, size: u64) -> Self {
        SegmentOptions {
            kind,
            size,
            mode: 0o600,
            timeout: Duration::from_secs(2),
            state_len: 256,
            params: [0; PARAM_COUNT],
            max_processes: 64,
            directory_slots: 128,
            trust: Trust::default(),
            reserve: true,
        }
    }

    /// Permission bits of a named or file-backed segment (default `0o600`),
    /// set exactly: the umask does not apply. A mode that lets the group
    /// (or others) write also lets the open half of
    /// [`Segment::create_or_open`](crate::Segment::create_or_open) accept an
    /// existing segment whose mode does.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Whether creating a named or file-backed segment reserves its backing
    /// store (default `true`). Reserving (`posix_fallocate`) makes a size the
    /// file system cannot hold fail at create with [`Error::NoSpace`],
    /// leaving nothing behind, where an unreserved segment raises `SIGBUS`
    /// at the first write to a page the file system has no room for. On
    /// tmpfs (`/dev/shm`) it allocates every page at create: the memory is
    /// taken at once, and creating costs time in proportion to the size
    /// (about 20 ms for 64 MiB, 0.35 s for 1 GiB; docs/BENCHMARKS.md).
    /// `reserve(false)` makes creating O(1) again and accepts the risk.
    /// Openers racing the creator (`create_or_open`) wait through the
    /// reservation too, so a segment of many GiB wants a longer
    /// [`timeout`](Self::timeout) than the default 2 s.
    ///
    /// Anonymous segments are never reserved: their memfd lives on the
    /// kernel's internal tmpfs, which has no size limit to run into (running
    /// out of memory there is the OOM killer's business, as with any memory).
    pub fn reserve(mut self, yes: bool) -> Self {
        self.reserve = yes;
        self
    }

    /// For the open half of [`Segment::create_or_open`](crate::Segment::create_or_open):
    /// accept a segment another user owns, as
    /// [`OpenOptions::allow_foreign_owner`] does (default `false`).
    pub fn allow_foreign_owner(mut self, yes: bool) -> Self {
        self.trust.foreign_owner = yes;
        self
    }

    /// For the open half of [`Segment::create_or_open`](crate::Segment::create_or_open):
    /// accept a segment whose mode lets its group or others write it, as
    /// [`OpenOptions::allow_shared_write`] does (default `false`; the write
    /// bits of [`mode`](Self::mode) are accepted anyway).
    pub fn allow_shared_write(mut self, yes: bool) -> Self {
        self.trust.shared_write = if yes { SHARED_WRITE } else { 0 };
        self
    }

    /// How long `create_or_open` (and its open half) waits for a segment
    /// being created by another process to become ready (default 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Bytes of the allocator-state region (set by the allocator crates).
    pub fn state_len(mut self, len: u64) -> Self {
        self.state_len = len;
        self
    }

    /// Sets allocator parameter word `index` (0 to 5).
    pub fn param(mut self, index: usize, value: u64) -> Self {
        if index < PARAM_MAX_PROCESSES {
            self.params[index] = value;
        }
        self
    }

    /// Capacity of the process table (default 64).
    pub fn max_processes(mut self, n: u32) -> Self {
        self.max_processes = n;
        self
    }

    /// Capacity of the named directory (default 128).
    pub fn directory_slots(mut self, n: u32) -> Self {
        self.directory_slots = n;
        self
    }

    /// The same options with another size.
    pub(crate) fn clone_with_size(&self, size: u64) -> Self {
        let mut o = self.clone();
        o.size = size;
        o
    }

    /// Bytes of the metadata region these options ask for.
    pub fn metadata_len(&self) -> u64 {
        u64::from(self.max_processes) * PROCESS_ENTRY_LEN
            + u64::from(self.directory_slots) * DIRECTORY_ENTRY_LEN
    }

    /// The allocator kind.
    pub fn kind(&self) -> AllocatorKind {
        self.kind
    }

    /// The segment size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The permission bits.
    pub fn permissions(&self) -> u32 {
        self.mode
    }

    /// Whether creating reserves the backing store ([`SegmentOptions::reserve`]).
    pub fn reserves(&self) -> bool {
        self.reserve
    }

    /// The open timeout.
    pub fn wait_timeout(&self) -> Duration {
        self.timeout
    }

    /// The options `create_or_open` opens an existing segment with: this
    /// kind and timeout, the trust asked for, and the write bits of the
    /// mode asked for.
    pub(crate) fn open_options(&self) -> OpenOptions {
        let mut trust = self.trust;
        trust.shared_write |= self.mode & SHARED_WRITE;
        OpenOptions {
            kind: Some(self.kind),
            timeout: self.timeout,
            trust,
        }
    }

    /// The layout this asks for, after checking the size: zero, too small
    /// for the header and metadata, or over 2^47 bytes are errors.
    pub fn layout(&self, segment: &str) -> Result<LayoutSpec> {
        let mut params = self.params;
        params[PARAM_MAX_PROCESSES] = self.max_processes.into();
        params[PARAM_DIRECTORY_SLOTS] = self.directory_slots.into();
        let metadata_len = self.metadata_len();
        let spec = LayoutSpec {
            kind: self.kind,
            total_len: self.size,
            metadata_len,
            state_len: self.state_len,
            params,
        };
        let invalid = |reason: String| Error::InvalidSize {
            segment: segment.to_string(),
            size: self.size,
            reason,
        };
        if self.size == 0 {
            return Err(invalid("a segment cannot be empty".into()));
        }
        if self.size > MAX_SEGMENT_LEN {
            return Err(invalid(format!(
                "the largest segment is {MAX_SEGMENT_LEN} bytes (2^47)"
            )));
        }
        let min = spec
            .min_total_len(64)
            .ok_or_else(|| invalid("the metadata sizes overflow".into()))?;
        if self.size < min.max(HEADER_LEN) {
            return Err(invalid(format!(
                "the smallest {} segment with these options is {min} bytes",
                self.kind
            )));
        }
        Ok(spec)
    }
}

/// How to open a segment.
///
/// Before anything is mapped, the object is checked with `fstat` on the
/// open descriptor: it must be a regular file, owned by this process's
/// effective uid, and its mode must let neither its group nor others write
/// it. Otherwise opening fails with [`Error::ForeignOwner`],
/// [`Error::WritableByOthers`] or [`Error::NotRegularFile`], unless the
/// settings below accept it. Whoever owns or may write a segment can read
/// everything in it and can shrink it under its mappings (`SIGBUS`), so
/// accept only users you trust that much.
///
/// ```
/// let open = sharena::OpenOptions::new()
///     .allow_shared_write(true) // a segment made with --mode 660 for a group
///     .timeout(std::time::Duration::from_millis(500));
/// # let _ = open;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct OpenOptions {
    pub(crate) kind: Option<AllocatorKind>,
    pub(crate) timeout: Duration,
    pub(crate) trust: Trust,
}

impl OpenOptions {
    /// Any kind, 2-second timeout, only segments this uid owns and no one
    /// else may write.
    pub fn new() -> Self {
        OpenOptions {
            kind: None,
            timeout: Duration::from_secs(2),
            trust: Trust::default(),
        }
    }

    /// Accept a segment owned by another uid than this process's effective
    /// uid (default `false`: [`Error::ForeignOwner`]). Its owner can read
    /// what you write there and truncate it under you.
    pub fn allow_foreign_owner(mut self, yes: bool) -> Self {
        self.trust.foreign_owner = yes;
        self
    }

    /// Accept a segment whose mode lets its group or others write it
    /// (default `false`: [`Error::WritableByOthers`]). Everyone with write
    /// access can corrupt it (which yields errors, never undefined
    /// behaviour) and truncate it under you.
    pub fn allow_shared_write(mut self, yes: bool) -> Self {
        self.trust.shared_write = if yes { SHARED_WRITE } else { 0 };
        self
    }

    /// Demand this allocator kind ([`Error::KindMismatch`] otherwise).
    pub fn kind(mut self, kind: AllocatorKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// How long to wait for a segment that is still being created.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}
