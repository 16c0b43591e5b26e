//! The one error type of sharena.
//!
//! Every variant about a segment names it (`segment` is the POSIX name, the
//! file path, `<anonymous>` or `<buffer>`), and every validation variant
//! names the field that failed, so a message is understood without the
//! source.

use crate::kind::AllocatorKind;
use std::fmt;
use std::io;

/// Shorthand for `Result<T, sharena::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in sharena.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A segment name broke the naming rules (one leading `/`, no other `/`,
    /// 2 to 255 bytes, printable ASCII).
    InvalidName {
        /// The name as given (lossy if it was not UTF-8).
        name: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// No segment has this name (or no file this path).
    NotFound {
        /// The segment.
        segment: String,
    },
    /// A create found the name taken.
    AlreadyExists {
        /// The segment.
        segment: String,
    },
    /// The operating system refused access.
    PermissionDenied {
        /// The segment.
        segment: String,
    },
    /// A size that cannot make a segment (zero, below the minimum, too big).
    InvalidSize {
        /// The segment.
        segment: String,
        /// The size asked for, in bytes.
        size: u64,
        /// Why it is refused.
        reason: String,
    },
    /// A system call failed.
    Io {
        /// The segment.
        segment: String,
        /// What was being done (`"shm_open"`, `"mmap"`, ...).
        op: &'static str,
        /// The error the system reported.
        source: io::Error,
    },
    /// The segment never became ready within the open timeout (its creator
    /// is alive but slow, or died before it could record itself).
    NotInitialized {
        /// The segment.
        segment: String,
        /// How long the opener waited, in milliseconds.
        waited_ms: u64,
        /// What the opener last saw.
        state: &'static str,
    },
    /// The process that was initialising the segment is gone.
    CreatorDied {
        /// The segment.
        segment: String,
        /// The creator's process id.
        pid: u32,
    },
    /// The mapping is shorter than a segment header.
    TooSmall {
        /// The segment.
        segment: String,
        /// Its length in bytes.
        len: u64,
        /// The least a segment can be.
        min: u64,
    },
    /// Field `magic` is not sharena's: this is not a sharena segment.
    BadMagic {
        /// The segment.
        segment: String,
        /// The eight bytes found.
        found: [u8; 8],
    },
    /// Field `layout_version` is one this build does not read.
    VersionMismatch {
        /// The segment.
        segment: String,
        /// The version in the segment.
        found: u32,
        /// The version this build reads.
        expected: u32,
    },
    /// Field `kind` holds no known allocator kind.
    UnknownKind {
        /// The segment.
        segment: String,
        /// The raw value.
        found: u32,
    },
    /// Field `kind` is not the allocator kind the caller asked for.
    KindMismatch {
        /// The segment.
        segment: String,
        /// The kind in the segment.
        found: AllocatorKind,
        /// The kind asked for.
        expected: AllocatorKind,
    },
    /// Field `total_len` says the segment is longer than its mapping.
    LengthMismatch {
        /// The segment.
        segment: String,
        /// The length the header claims.
        header: u64,
        /// The length actually mapped.
        mapping: u64,
    },
    /// A header field holds a value the format forbids.
    BadField {
        /// The segment.
        segment: String,
        /// The field.
        field: &'static str,
        /// The value found.
        value: u64,
        /// What the format demands.
        expected: &'static str,
    },
    /// A region (`regions[i].offset`/`.len`) lies outside the segment.
    RegionOutOfBounds {
        /// The segment.
        segment: String,
        /// The region's name.
        region: &'static str,
        /// Its offset.
        offset: u64,
        /// Its length.
        len: u64,
        /// The segment's length.
        segment_len: u64,
    },
    /// A region's offset or length is not a multiple of 64.
    RegionMisaligned {
        /// The segment.
        segment: String,
        /// The region's name.
        region: &'static str,
        /// Its offset.
        offset: u64,
        /// Its length.
        len: u64,
    },
    /// Two regions share bytes.
    RegionsOverlap {
        /// The segment.
        segment: String,
        /// The first region.
        first: &'static str,
        /// The second region.
        second: &'static str,
    },
    /// Field `checksum` does not match the immutable header fields.
    ChecksumMismatch {
        /// The segment.
        segment: String,
        /// The stored checksum.
        stored: u64,
        /// The checksum of the bytes found.
        computed: u64,
    },
    /// Shared bytes broke an invariant of the format.
    Corrupt {
        /// The segment.
        segment: String,
        /// What was wrong.
        what: String,
        /// Where (a byte offset from the segment base).
        at: u64,
    },
    /// An allocation found too little free space.
    OutOfMemory {
        /// Bytes requested.
        requested: u64,
        /// Bytes available.
        available: u64,
    },
    /// A zero-size allocation was requested.
    ZeroSize,
    /// An alignment of zero, not a power of two, or too large.
    InvalidAlignment {
        /// The alignment asked for.
        align: u64,
        /// The largest alignment supported.
        max: u64,
    },
    /// A size that overflows once rounded, or exceeds what the allocator
    /// can ever hand out.
    SizeTooLarge {
        /// The size asked for.
        size: u64,
        /// The largest size possible.
        max: u64,
    },
    /// An offset that is null, outside the pool, misaligned, or not the
    /// start of a block.
    InvalidOffset {
        /// The offset.
        offset: u64,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A block freed twice.
    DoubleFree {
        /// The offset freed.
        offset: u64,
    },
    /// A read or write past the end of its block.
    OutOfBounds {
        /// The block's offset.
        offset: u64,
        /// The length asked for (from the block start).
        len: u64,
        /// The block's usable length.
        block_len: u64,
    },
    /// An offset or handle from before a reset, or a freed handle.
    Stale {
        /// The offset or handle index.
        offset: u64,
        /// Its generation.
        generation: u64,
        /// The current generation.
        current: u64,
    },
    /// A directory name is already published.
    NameTaken {
        /// The segment.
        segment: String,
        /// The name.
        name: String,
    },
    /// No directory entry has this name.
    NameNotFound {
        /// The segment.
        segment: String,
        /// The name.
        name: String,
    },
    /// Every directory entry is taken.
    DirectoryFull {
        /// The segment.
        segment: String,
        /// Its directory capacity.
        capacity: u64,
    },
    /// Every process-table entry is taken (`reclaim_dead` frees those of
    /// processes that died; the capacity is set at creation).
    ProcessTableFull {
        /// The segment.
        segment: String,
        /// Its process-table capacity.
        capacity: u64,
    },
    /// A handle used in a process that inherited it through `fork`: its
    /// registry entries belong to the process that attached it, so the
    /// child must attach its own (`reattach`, or open the segment).
    Forked {
        /// The segment.
        segment: String,
        /// The pid that attached the handle.
        attached_by: u32,
    },
    /// The operation is not supported by this allocator kind or platform.
    Unsupported {
        /// The operation.
        op: &'static str,
        /// Who does not support it.
        by: &'static str,
    },
    /// The object is owned by another user than this process's effective
    /// uid: opening it would trust that user with everything the segment
    /// holds (`OpenOptions::allow_foreign_owner` accepts it).
    ForeignOwner {
        /// The segment.
        segment: String,
        /// The uid that owns the object.
        owner_uid: u32,
        /// This process's effective uid.
        euid: u32,
        /// The object's permission bits.
        mode: u32,
    },
    /// The object's permission bits let its group or other users write it
    /// (`OpenOptions::allow_shared_write` accepts it).
    WritableByOthers {
        /// The segment.
        segment: String,
        /// The uid that owns the object.
        owner_uid: u32,
        /// The object's permission bits.
        mode: u32,
    },
    /// The path names something that is not a regular file (a symbolic
    /// link, a directory, a FIFO, a device): it is not opened.
    NotRegularFile {
        /// The segment.
        segment: String,
        /// What it is instead.
        found: &'static str,
    },
    /// The file system cannot back the segment: reserving its bytes at
    /// create failed, so nothing was left behind.
    NoSpace {
        /// The segment.
        segment: String,
        /// The bytes asked for.
        size: u64,
        /// The bytes the file system had free for this user.
        available: u64,
    },
    /// A queue capacity that is not a power of two from 2 to 2^24.
    InvalidCapacity {
        /// The capacity asked for (or read from the segment).
        capacity: u64,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A queue's every slot holds a value: a non-blocking push is refused
    /// (the blocking push waits for a pop).
    QueueFull {
        /// The queue's capacity, in values.
        capacity: u64,
    },
    /// A queue holds no published value: a non-blocking pop has nothing.
    QueueEmpty,
    /// A queue operation gave up after its bounded wait: live processes
    /// kept the slot it needed (retry, or use the blocking form).
    QueueContended {
        /// The operation (`"try_push"`, `"try_pop"`).
        op: &'static str,
    },
    /// A name holds a typed object of another type than the one asked for
    /// (its type name, size or alignment differ): it is not reinterpreted.
    TypeMismatch {
        /// The segment.
        segment: String,
        /// The name.
        name: String,
        /// The type asked for.
        expected: &'static str,
        /// Size and alignment asked for.
        expected_layout: (u64, u64),
        /// Size and alignment recorded with the name.
        found_layout: (u64, u64),
    },
    /// A wait (a blocking queue operation, a typed object being built)
    /// ended at its deadline.
    Timeout {
        /// The segment.
        segment: String,
        /// What was waited for.
        what: String,
        /// How long, in milliseconds.
        waited_ms: u64,
    },
}

impl Error {
    /// Wraps an I/O error, mapping the usual kinds onto specific variants.
    pub fn io(segment: impl Into<String>, op: &'static str, source: io::Error) -> Self {
        let segment = segment.into();
        match source.kind() {
            io::ErrorKind::NotFound => Error::NotFound { segment },
            io::ErrorKind::AlreadyExists => Error::AlreadyExists { segment },
            io::ErrorKind::PermissionDenied => Error::PermissionDenied { segment },
            _ => Error::Io {
                segment,
                op,
                source,
            },
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidName { name, reason } => {
                write!(f, "invalid segment name {name:?}: {reason}")
            }
            Error::NotFound { segment } => write!(f, "segment {segment} does not exist"),
            Error::AlreadyExists { segment } => write!(f, "segment {segment} already exists"),
            Error::PermissionDenied { segment } => {
                write!(f, "segment {segment}: permission denied")
            }
            Error::InvalidSize {
                segment,
                size,
                reason,
            } => write!(f, "segment {segment}: size {size} is invalid: {reason}"),
            Error::Io {
                segment,
                op,
                source,
            } => write!(f, "segment {segment}: {op} failed: {source}"),
            Error::NotInitialized {
                segment,
                waited_ms,
                state,
            } => write!(
                f,
                "segment {segment} did not become ready within {waited_ms} ms ({state})"
            ),
            Error::CreatorDied { segment, pid } => write!(
                f,
                "segment {segment} was never finished: its creator (pid {pid}) died during initialisation; unlink it and create it again"
            ),
            Error::TooSmall { segment, len, min } => write!(
                f,
                "segment {segment} is {len} bytes long, shorter than the {min}-byte header: not a sharena segment"
            ),
            Error::BadMagic { segment, found } => write!(
                f,
                "segment {segment} is not a sharena segment (field magic is {found:02x?})"
            ),
            Error::VersionMismatch {
                segment,
                found,
                expected,
            } => write!(
                f,
                "segment {segment} has layout version {found}; this build reads version {expected}"
            ),
            Error::UnknownKind { segment, found } => {
                write!(f, "segment {segment}: field kind holds unknown allocator kind {found}")
            }
            Error::KindMismatch {
                segment,
                found,
                expected,
            } => write!(
                f,
                "segment {segment} holds a {found} allocator, not the {expected} asked for"
            ),
            Error::LengthMismatch {
                segment,
                header,
                mapping,
            } => write!(
                f,
                "segment {segment}: field total_len says {header} bytes but only {mapping} are mapped"
            ),
            Error::BadField {
                segment,
                field,
                value,
                expected,
            } => write!(
                f,
                "segment {segment}: field {field} is {value}, expected {expected}"
            ),
            Error::RegionOutOfBounds {
                segment,
                region,
                offset,
                len,
                segment_len,
            } => write!(
                f,
                "segment {segment}: region {region} ({len} bytes at offset {offset}) lies outside the header-free part of the {segment_len}-byte segment"
            ),
            Error::RegionMisaligned {
                segment,
                region,
                offset,
                len,
            } => write!(
                f,
                "segment {segment}: region {region} (offset {offset}, length {len}) is not 64-byte aligned"
            ),
            Error::RegionsOverlap {
                segment,
                first,
                second,
            } => write!(f, "segment {segment}: regions {first} and {second} overlap"),
            Error::ChecksumMismatch {
                segment,
                stored,
                computed,
            } => write!(
                f,
                "segment {segment}: field checksum is {stored:#018x} but the header hashes to {computed:#018x}: the header is corrupt"
            ),
            Error::Corrupt { segment, what, at } => {
                write!(f, "segment {segment} is corrupt at offset {at}: {what}")
            }
            Error::OutOfMemory {
                requested,
                available,
            } => write!(
                f,
                "out of memory: {requested} bytes requested, {available} available"
            ),
            Error::ZeroSize => write!(f, "zero-size allocation requested"),
            Error::InvalidAlignment { align, max } => write!(
                f,
                "alignment {align} is invalid: it must be a power of two no larger than {max}"
            ),
            Error::SizeTooLarge { size, max } => {
                write!(f, "size {size} is too large (at most {max})")
            }
            Error::InvalidOffset { offset, reason } => {
                write!(f, "invalid offset {offset}: {reason}")
            }
            Error::DoubleFree { offset } => write!(f, "double free of offset {offset}"),
            Error::OutOfBounds {
                offset,
                len,
                block_len,
            } => write!(
                f,
                "access of {len} bytes at block {offset} runs past its {block_len}-byte block"
            ),
            Error::Stale {
                offset,
                generation,
                current,
            } => write!(
                f,
                "stale reference {offset}: generation {generation}, current is {current}"
            ),
            Error::NameTaken { segment, name } => {
                write!(f, "segment {segment}: the name {name:?} is already published")
            }
            Error::NameNotFound { segment, name } => {
                write!(f, "segment {segment}: no name {name:?} is published")
            }
            Error::DirectoryFull { segment, capacity } => write!(
                f,
                "segment {segment}: all {capacity} directory entries are taken \
                 (unpublish a name, or create the segment with more directory slots)"
            ),
            Error::ProcessTableFull { segment, capacity } => write!(
                f,
                "segment {segment}: all {capacity} process-table entries are taken \
                 (run `sharena reclaim` to free those of dead processes)"
            ),
            Error::Forked {
                segment,
                attached_by,
            } => write!(
                f,
                "segment {segment}: this handle was attached by process {attached_by} and \
                 inherited through fork; call reattach() (or open the segment) in the child"
            ),
            Error::Unsupported { op, by } => write!(f, "{op} is not supported by {by}"),
            Error::ForeignOwner {
                segment,
                owner_uid,
                euid,
                mode,
            } => write!(
                f,
                "segment {segment} is owned by uid {owner_uid} (mode {mode:04o}), not by this \
                 process's effective uid {euid}: refused (allow_foreign_owner accepts it)"
            ),
            Error::WritableByOthers {
                segment,
                owner_uid,
                mode,
            } => write!(
                f,
                "segment {segment} (owner uid {owner_uid}) has mode {mode:04o}, which lets other \
                 users write it: refused (allow_shared_write accepts it)"
            ),
            Error::NotRegularFile { segment, found } => write!(
                f,
                "segment {segment} is {found}, not a regular file: refused"
            ),
            Error::NoSpace {
                segment,
                size,
                available,
            } => write!(
                f,
                "segment {segment}: cannot reserve {size} bytes of backing store, its file \
                 system has {available} bytes free"
            ),
            Error::InvalidCapacity { capacity, reason } => {
                write!(f, "queue capacity {capacity} is invalid: {reason}")
            }
            Error::QueueFull { capacity } => {
                write!(f, "the queue is full (all {capacity} slots hold a value)")
            }
            Error::QueueEmpty => write!(f, "the queue is empty"),
            Error::QueueContended { op } => write!(
                f,
                "{op} gave up: live processes kept the queue slot it needed; retry"
            ),
            Error::TypeMismatch {
                segment,
                name,
                expected,
                expected_layout,
                found_layout,
            } => write!(
                f,
                "segment {segment}: {name:?} holds another type than {expected} (size and \
                 alignment {found_layout:?} recorded, {expected_layout:?} asked for)"
            ),
            Error::Timeout {
                segment,
                what,
                waited_ms,
            } => write!(f, "segment {segment}: gave up waiting for {what} after {waited_ms} ms"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
