//! Where the heap's words live in the state region (offsets from its
//! start; see `docs/FORMAT.md`, "Handle heaps").

/// Format word: "HNDL", format 1.
pub const FORMAT_WORD: u64 = 0x0000_0001_4C44_4E48;
/// Format word; `+0x08` the handle-table capacity (copied from `params[0]`).
pub const OFF_FORMAT: u64 = 0x000;
/// Capacity copy.
pub const OFF_CAPACITY: u64 = 0x008;
/// Bump cursor: data-area bytes handed out (own line).
pub const OFF_TOP: u64 = 0x080;
/// Free stack of handle entries: `tag << 32 | index`, index NIL = empty.
pub const OFF_FREE_HEAD: u64 = 0x100;
/// Entries ever used: `0..used` have been handed out at least once.
pub const OFF_USED: u64 = 0x180;
/// Compaction lock: 0 free, else the holder's `ProcId`.
pub const OFF_LOCK: u64 = 0x200;
/// Move journal: entry index + 1 (0: none), from, to, length, progress.
pub const OFF_JOURNAL: u64 = 0x208;
/// Reserved (zero): once live-bytes and live-handle counters, which a
/// process killed mid-update left wrong; statistics now count the table.
#[allow(dead_code)] // names the reserved words of the layout; nothing reads them
pub const OFF_STATS: u64 = 0x280;
/// The handle table: `capacity` entries of [`ENTRY_LEN`] bytes.
pub const OFF_TABLE: u64 = 0x300;
/// Bytes per handle entry: loc, meta, size, owner.
pub const ENTRY_LEN: u64 = 32;
/// The empty free stack's index.
pub const NIL: u64 = 0xFFFF_FFFF;
/// Most handle entries.
pub const MAX_HANDLES: u64 = (1 << 31) - 1;

/// State region bytes for `handles` entries.
pub const fn state_len(handles: u64) -> u64 {
    OFF_TABLE + handles * ENTRY_LEN
}

/// A default handle capacity for a segment of `size` bytes: one entry per
/// 256 bytes, 64 to 2^24.
pub const fn default_handles(size: u64) -> u64 {
    let n = size / 256;
    if n < 64 {
        64
    } else if n > (1 << 24) {
        1 << 24
    } else {
        n
    }
}
