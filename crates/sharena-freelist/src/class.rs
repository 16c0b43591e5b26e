//! Size classes: the two-level segregated fit of TLSF (M. Masmano, I. Ripoll,
//! A. Crespo, J. Real, *TLSF: a new dynamic memory allocator for real-time
//! systems*, ECRTS 2004), over sizes counted in 16-byte granules.
//!
//! Blocks under 16 granules (256 B) get one exact class each (level 0).
//! Above that, level `fl` covers `[2^(fl+3), 2^(fl+4))` granules split into
//! 16 equal classes, so a class is at most 1/16 (6.25 %) wider than its
//! smallest block. Free blocks bigger than the top level all go to the last
//! bin, which holds blocks larger than any allocation an arena serves.

/// Bytes per granule: block sizes and block starts are multiples of it.
pub const GRANULE: u64 = 16;
/// log2 of [`GRANULE`].
pub const GRANULE_SHIFT: u32 = 4;
/// log2 of the second-level split.
pub const SL_SHIFT: u32 = 4;
/// Classes per level.
pub const SL_COUNT: usize = 1 << SL_SHIFT;
/// Levels: 0 (exact classes) and 1..=18 (powers of two from 16 granules to
/// 2^21 granules = 32 MiB), the last catching everything larger.
pub const FL_COUNT: usize = 19;
/// Bins in all.
pub const BINS: usize = FL_COUNT * SL_COUNT;

/// Sizes below this many granules (8 KiB blocks) are classified by a
/// table lookup instead of the arithmetic: the hot path's sizes.
pub const TABLE_SIZES: usize = 512;

/// The bin of every size below [`TABLE_SIZES`], as a flat index.
static BIN_OF: [u16; TABLE_SIZES] = table(false);
/// The search bin of every size below [`TABLE_SIZES`], as a flat index.
static SEARCH_BIN: [u16; TABLE_SIZES] = table(true);

const fn table(search: bool) -> [u16; TABLE_SIZES] {
    let mut t = [0u16; TABLE_SIZES];
    let mut g = 0;
    while g < TABLE_SIZES {
        let (fl, sl) = if search {
            match search_bin_slow(g as u64) {
                Some(b) => b,
                None => panic!("every table size has a search bin"),
            }
        } else {
            bin_of_slow(g as u64)
        };
        t[g] = bin_index(fl, sl) as u16;
        g += 1;
    }
    t
}

/// The bin a free block of `g` granules (at least 2) belongs to.
#[inline(always)]
pub fn bin_of(g: u64) -> (usize, usize) {
    if g < TABLE_SIZES as u64 {
        let i = BIN_OF[g as usize] as usize;
        return (i / SL_COUNT, i % SL_COUNT);
    }
    bin_of_slow(g)
}

/// [`bin_of`] by arithmetic.
#[inline(always)]
const fn bin_of_slow(g: u64) -> (usize, usize) {
    if g < SL_COUNT as u64 {
        return (0, g as usize);
    }
    let f = g.ilog2(); // >= SL_SHIFT
    let fl = (f - SL_SHIFT + 1) as usize;
    if fl >= FL_COUNT {
        return (FL_COUNT - 1, SL_COUNT - 1);
    }
    let sl = ((g >> (f - SL_SHIFT)) as usize) & (SL_COUNT - 1);
    (fl, sl)
}

/// The first bin whose every block holds `g` granules: `g` rounded up to
/// the next class start, then classified. `None` for sizes past the top
/// level (arenas never serve those).
#[inline(always)]
pub fn search_bin(g: u64) -> Option<(usize, usize)> {
    if g < TABLE_SIZES as u64 {
        let i = SEARCH_BIN[g as usize] as usize;
        return Some((i / SL_COUNT, i % SL_COUNT));
    }
    search_bin_slow(g)
}

/// [`search_bin`] by arithmetic.
#[inline(always)]
const fn search_bin_slow(g: u64) -> Option<(usize, usize)> {
    if g < SL_COUNT as u64 {
        return Some((0, g as usize));
    }
    let f = g.ilog2();
    let round = (1u64 << (f - SL_SHIFT)) - 1;
    let Some(up) = g.checked_add(round) else {
        return None;
    };
    if up >> (FL_COUNT as u32 + SL_SHIFT - 1) != 0 {
        // Past the top level: only the catch-all bin, whose blocks are not
        // all large enough.
        return None;
    }
    Some(bin_of_slow(up))
}

/// The flat index of bin `(fl, sl)`.
#[inline(always)]
pub const fn bin_index(fl: usize, sl: usize) -> usize {
    fl * SL_COUNT + sl
}

/// The smallest size (in granules) a block in bin `(fl, sl)` can have.
#[cfg(test)]
pub fn bin_floor(fl: usize, sl: usize) -> u64 {
    if fl == 0 {
        return sl as u64;
    }
    let f = fl as u32 + SL_SHIFT - 1;
    (1u64 << f) + ((sl as u64) << (f - SL_SHIFT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_sizes_are_exact() {
        for g in 2..16 {
            assert_eq!(bin_of(g), (0, g as usize));
            assert_eq!(search_bin(g), Some((0, g as usize)));
        }
        assert_eq!(bin_of(16), (1, 0));
        assert_eq!(bin_of(31), (1, 15));
        assert_eq!(bin_of(32), (2, 0));
        assert_eq!(bin_of(33), (2, 0));
        assert_eq!(bin_of(34), (2, 1));
        assert_eq!(search_bin(33), Some((2, 1)));
        assert_eq!(bin_of(u64::MAX), (FL_COUNT - 1, SL_COUNT - 1));
    }

    #[test]
    fn tables_agree_with_the_arithmetic() {
        for g in 0..TABLE_SIZES as u64 {
            assert_eq!(bin_of(g), bin_of_slow(g), "bin_of({g})");
            assert_eq!(search_bin(g), search_bin_slow(g), "search_bin({g})");
        }
    }

    proptest! {
        #[test]
        fn classes_bracket_their_sizes(g in 2u64..(1 << 22)) {
            let (fl, sl) = bin_of(g);
            prop_assert!(bin_floor(fl, sl) <= g);
            if (fl, sl) != (FL_COUNT - 1, SL_COUNT - 1) {
                // The next class starts above g.
                let (nfl, nsl) = if sl + 1 == SL_COUNT { (fl + 1, 0) } else { (fl, sl + 1) };
                prop_assert!(bin_floor(nfl, nsl) > g);
            }
        }

        #[test]
        fn search_bins_only_hold_big_enough_blocks(g in 2u64..(1 << 21)) {
            let (fl, sl) = search_bin(g).unwrap();
            prop_assert!(bin_floor(fl, sl) >= g);
            // And it is the first such bin: the one before may hold smaller.
            let (fl0, sl0) = bin_of(g);
            prop_assert!(bin_index(fl, sl) <= bin_index(fl0, sl0) + 1);
        }
    }
}
