//! Where a new window goes: pure arithmetic, no system calls, unit-tested on its own.
//!
//! The rules (docs/WINDOW.md):
//! 1. A window starts on a page boundary (`mmap` needs it) and always contains the
//!    requested offset.
//! 2. It first grows left toward the end of the previous region of the same file, then
//!    right, until it is `window` bytes long (or covers the request, if that is longer).
//! 3. It never overlaps another region of the same file, and ends at the end of the file
//!    at the latest.
//! 4. A window size of 0 means "as large as possible": the whole gap between the
//!    neighbouring regions, which is the whole file when nothing else is mapped.
//!
//! The one exception to rule 1: a region clipped at an old end of file that is not page
//! aligned, on a file that has grown since, still owns the bytes up to that old end. A new
//! window that starts inside that last page starts where the old region ends; the mapping
//! underneath still starts on the page boundary (memmap2 aligns it), so the page is mapped
//! twice but no byte belongs to two regions.

/// `x` rounded down to a multiple of `page` (a power of two).
#[inline]
pub(crate) fn align_down(x: u64, page: u64) -> u64 {
    x & !(page - 1)
}

/// `x` rounded up to a multiple of `page` (a power of two), saturating near `u64::MAX`.
#[inline]
pub(crate) fn align_up(x: u64, page: u64) -> u64 {
    align_down(x.saturating_add(page - 1), page)
}

/// Bytes the kernel maps for the region `[begin, end)`: whole pages.
#[inline]
pub(crate) fn span(begin: u64, end: u64, page: u64) -> u64 {
    align_up(end, page) - align_down(begin, page)
}

/// A request and its surroundings, all as absolute file offsets.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Gap {
    /// End of the previous region of the file, or 0. `left <= offset`.
    pub left: u64,
    /// Start of the next region of the file, or the file size. `offset < right`.
    pub right: u64,
}

/// The window `[begin, end)` for a request of `[offset, end)` in `gap`, with windows of
/// `window` bytes (0: as large as the gap) on pages of `page` bytes.
///
/// Preconditions: `gap.left <= offset < gap.right`, `offset < req_end`, `page` a power
/// of two. The result satisfies `gap.left <= begin <= offset < end <= gap.right`.
pub(crate) fn place(offset: u64, req_end: u64, window: u64, page: u64, gap: Gap) -> (u64, u64) {
    debug_assert!(gap.left <= offset && offset < gap.right && offset < req_end);
    let page_start = align_down(offset, page);
    // The lowest page-aligned start that stays clear of the previous region; in the
    // unaligned-old-end case (module docs) the window starts exactly at `gap.left`.
    let (lowest, first) = if page_start < gap.left {
        (gap.left, gap.left)
    } else {
        (align_up(gap.left, page), page_start)
    };
    if window == 0 {
        return (lowest, gap.right);
    }
    let req_end = req_end.min(gap.right);
    let need = align_up(req_end - page_start, page);
    let len = align_up(window, page).max(need);
    // Grow left by whole pages, toward the previous region, as far as the window allows.
    let grow_left = (first - lowest).min(align_down(len - need, page));
    let begin = first - grow_left;
    let end = align_down(begin, page).saturating_add(len).min(gap.right);
    (begin, end)
}

/// The largest part of `[begin, end)` that contains `offset` and maps at most `room`
/// bytes, or `None` if even the page holding `offset` does not fit.
pub(crate) fn shrink(
    begin: u64,
    end: u64,
    offset: u64,
    room: u64,
    page: u64,
) -> Option<(u64, u64)> {
    if span(begin, end, page) <= room {
        return Some((begin, end));
    }
    let start = begin.max(align_down(offset, page));
    let new_end = end.min(align_down(start, page).saturating_add(align_down(room, page)));
    (new_end > offset).then_some((start, new_end))
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = 4096;
    const MIB: u64 = 1 << 20;

    fn gap(left: u64, right: u64) -> Gap {
        Gap { left, right }
    }

    #[test]
    fn alignment_helpers() {
        assert_eq!(align_down(4097, P), 4096);
        assert_eq!(align_up(4097, P), 8192);
        assert_eq!(align_up(4096, P), 4096);
        assert_eq!(align_up(u64::MAX, P), align_down(u64::MAX, P));
        assert_eq!(span(4095, 4097, P), 8192);
    }

    #[test]
    fn sequential_scan_grows_right_from_the_previous_region() {
        assert_eq!(place(0, MIB, 4 * MIB, P, gap(0, 64 * MIB)), (0, 4 * MIB));
        assert_eq!(
            place(4 * MIB, 5 * MIB, 4 * MIB, P, gap(4 * MIB, 64 * MIB)),
            (4 * MIB, 8 * MIB)
        );
    }

    #[test]
    fn grows_left_first_then_right() {
        // Room on the left: the window ends just past the request.
        assert_eq!(
            place(10 * MIB + 100, 10 * MIB + 200, 4 * MIB, P, gap(0, 64 * MIB)),
            (6 * MIB + P, 10 * MIB + P)
        );
        // Only one page of room on the left: the rest goes right.
        assert_eq!(
            place(
                10 * MIB,
                10 * MIB + 1,
                4 * MIB,
                P,
                gap(10 * MIB - P, 64 * MIB)
            ),
            (10 * MIB - P, 14 * MIB - P)
        );
    }

    #[test]
    fn clipped_at_the_next_region_and_at_end_of_file() {
        assert_eq!(place(0, 1, 4 * MIB, P, gap(0, 5000)), (0, 5000));
        assert_eq!(place(0, 1, 4 * MIB, P, gap(0, 2 * P)), (0, 2 * P));
    }

    #[test]
    fn window_zero_takes_the_whole_gap() {
        assert_eq!(place(12345, 12346, 0, P, gap(0, 1 << 30)), (0, 1 << 30));
        assert_eq!(place(12345, 12346, 0, P, gap(8192, 20000)), (8192, 20000));
    }

    #[test]
    fn a_request_larger_than_the_window_is_covered() {
        assert_eq!(place(P, 9 * P + 1, 2 * P, P, gap(0, 100 * P)), (P, 10 * P));
    }

    #[test]
    fn unaligned_old_end_of_file_starts_the_window_there() {
        assert_eq!(
            place(5000, 5001, 4 * P, P, gap(4500, 100 * P)),
            (4500, 5 * P)
        );
    }

    #[test]
    fn shrink_keeps_the_offset() {
        assert_eq!(shrink(0, 4 * MIB, 3 * MIB, 8 * MIB, P), Some((0, 4 * MIB)));
        assert_eq!(
            shrink(0, 4 * MIB, 3 * MIB, MIB, P),
            Some((3 * MIB, 4 * MIB))
        );
        assert_eq!(
            shrink(0, 4 * MIB, 3 * MIB + 5, P, P),
            Some((3 * MIB, 3 * MIB + P))
        );
        assert_eq!(shrink(0, 4 * MIB, 3 * MIB, P - 1, P), None);
    }
}
