//! Layout constants every process agrees on (they are part of the format).

/// The magic bytes at offset 0 of every sharena segment.
pub const MAGIC: [u8; 8] = *b"SHARENA\0";

/// The version of the byte layout described in `docs/FORMAT.md`.
pub const LAYOUT_VERSION: u32 = 1;

/// Bytes reserved for the header at the start of a segment (one page).
pub const HEADER_LEN: u64 = 4096;

/// The padding unit of hot atomics: 128 bytes, as crossbeam's `CachePadded`
/// uses on x86_64 and aarch64 (adjacent-line prefetch pairs 64-byte lines).
/// Fixed here rather than per target so that every process agrees.
pub const CACHE_LINE: u64 = 128;

/// The alignment every region's offset and length must have.
pub const REGION_ALIGN: u64 = 64;

/// The alignment the creator gives regions (a page, so a data pool starts on
/// a page boundary); openers only demand [`REGION_ALIGN`].
pub const REGION_PLACEMENT_ALIGN: u64 = 4096;

/// The largest segment sharena will create or open: 2^47 bytes (128 TiB),
/// the user address space of x86_64. Larger sizes are rejected up front.
pub const MAX_SEGMENT_LEN: u64 = 1 << 47;

/// Number of entries in the region table.
pub const REGION_COUNT: usize = 3;

/// Number of allocator parameter words in the header.
pub const PARAM_COUNT: usize = 8;

/// Offset of the init-state word (its own cache line).
pub const INIT_WORD_OFFSET: u64 = 256;

/// Length of the plain header struct (the checksum is its last word and
/// covers the 248 bytes before it).
pub const HEADER_STRUCT_LEN: usize = 256;

/// Header parameter word holding the process-table capacity.
pub const PARAM_MAX_PROCESSES: usize = 6;
/// Header parameter word holding the directory capacity.
pub const PARAM_DIRECTORY_SLOTS: usize = 7;
/// Bytes per process-table entry (format version 1).
pub const PROCESS_ENTRY_LEN: u64 = 64;
/// Bytes per directory entry (format version 1).
pub const DIRECTORY_ENTRY_LEN: u64 = 128;
