//! What a creator or opener asks for.

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
        }
    }

    /// Permission bits of a named or file-backed segment (default `0o600`).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
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

    /// The open timeout.
    pub fn wait_timeout(&self) -> Duration {
        self.timeout
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
#[derive(Clone, Copy, Debug)]
pub struct OpenOptions {
    pub(crate) kind: Option<AllocatorKind>,
    pub(crate) timeout: Duration,
}

impl OpenOptions {
    /// Any kind, 2-second timeout.
    pub fn new() -> Self {
        OpenOptions {
            kind: None,
            timeout: Duration::from_secs(2),
        }
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
