//! Where the heap's words live in the state region (offsets from its
//! start; see `docs/FORMAT.md`, "Handle heaps").

pub use crate::word::SEATS;

/// Format word: "HNDL", format 2 (seats, pin words, free hints).
pub const FORMAT_WORD: u64 = 0x0000_0002_4C44_4E48;
/// Format word; `+0x08` the handle-table capacity (copied from `params[0]`).
pub const OFF_FORMAT: u64 = 0x000;
/// Capacity copy.
pub const OFF_CAPACITY: u64 = 0x008;
/// Bump cursor: data-area bytes handed out (own line).
pub const OFF_TOP: u64 = 0x080;
/// Entries ever used: `0..used` have been handed out at least once.
pub const OFF_USED: u64 = 0x180;
/// Compaction lock: an owner slot (0 free, else the holder's `OwnerId`).
pub const OFF_LOCK: u64 = 0x200;
/// Move journal: entry index + 1 (0: none; bit 63: committed), from, to,
/// length, progress.
pub const OFF_JOURNAL: u64 = 0x208;
/// The journal's committed flag (in its first word): the move passed its
/// pin check and its copy may have begun.
pub const JOURNAL_COMMITTED: u64 = 1 << 63;
/// The handle table: `capacity` entries of [`ENTRY_LEN`] bytes.
pub const OFF_TABLE: u64 = 0x300;
/// Bytes per handle entry: loc, meta, size, pins.
pub const ENTRY_LEN: u64 = 32;
/// Bytes per seat: an owner slot and [`SEAT_RECORDS`] pin records.
pub const SEAT_LEN: u64 = 256;
/// Pin records per seat: distinct handles one attachment pins at once.
pub const SEAT_RECORDS: u64 = SEAT_LEN / 8 - 1;
/// Most handle entries.
pub const MAX_HANDLES: u64 = (1 << 31) - 1;

/// Where the seats begin: after the table, on a 128-byte line.
pub const fn seats_off(handles: u64) -> u64 {
    (OFF_TABLE + handles * ENTRY_LEN).next_multiple_of(128)
}

/// Where the free hints begin: one bit per entry, after the seats.
pub const fn hints_off(handles: u64) -> u64 {
    seats_off(handles) + SEATS * SEAT_LEN
}

/// Words of free hints for `handles` entries.
pub const fn hint_words(handles: u64) -> u64 {
    handles.div_ceil(64)
}

/// Where the hint summary begins: one bit per hint word (set while the
/// word may have a bit), after the hints.
pub const fn summary_off(handles: u64) -> u64 {
    hints_off(handles) + hint_words(handles) * 8
}

/// Words of the hint summary.
pub const fn summary_words(handles: u64) -> u64 {
    hint_words(handles).div_ceil(64)
}

/// State region bytes for `handles` entries.
pub const fn state_len(handles: u64) -> u64 {
    summary_off(handles) + summary_words(handles) * 8
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
