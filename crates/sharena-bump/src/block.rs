//! Block headers and placement: pure arithmetic, no shared memory.
//!
//! Every block is preceded by one 8-byte header word at `start - 8`:
//! `(len / 8) | slack << 32 | (generation mod 2^29) << 35`, XORed with a
//! key derived from
//! the block's offset and the segment's salt. The key makes an arbitrary
//! word (user data, zeros, a header read at the wrong offset or in another
//! segment) decode to a random generation, so only a real header at its
//! own offset decodes to the current one (a false match has odds of about
//! 2^-29).

use crate::state::GRAIN;
use shm_layout::Error;

/// Bytes of the in-band header before every block.
pub const HEADER_LEN: u64 = 8;

/// The largest alignment `alloc_aligned` accepts.
pub const MAX_ALIGN: u64 = 4096;

/// The largest block: the header stores the length in 8-byte units in 32
/// bits, so a block holds at most 32 GiB - 8 bytes.
pub const MAX_BLOCK: u64 = u32::MAX as u64 * GRAIN;

/// The header key of the block starting at `start`: a multiplicative
/// (Fibonacci) hash of the offset XOR the segment's salt, its high half
/// folded down, so that both header fields depend on every offset bit.
/// One multiply: it runs on every allocation.
#[inline(always)]
pub(crate) fn key(salt: u64, start: u64) -> u64 {
    let x = (start ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 29)
}

/// Bits of the generation a header keeps.
pub(crate) const GEN_BITS: u32 = 29;
/// The mask of a header's generation.
pub(crate) const GEN_MASK: u32 = (1 << GEN_BITS) - 1;

/// The header word of a block of `len` bytes (a multiple of 8, at most
/// [`MAX_BLOCK`]) at `start`, allocated in `generation`, whose allocation
/// asked for `slack` (0 to 7) bytes fewer than `len`.
#[inline(always)]
pub(crate) fn encode(salt: u64, start: u64, len: u64, generation: u64, slack: u64) -> u64 {
    debug_assert!(len % GRAIN == 0 && len <= MAX_BLOCK && slack < GRAIN);
    ((len / GRAIN) | (slack & 7) << 32 | (generation & u64::from(GEN_MASK)) << 35)
        ^ key(salt, start)
}

/// Decodes the header word found before `start`: (length, generation's
/// low 29 bits). Garbage decodes to garbage; the caller validates.
pub(crate) fn decode(salt: u64, start: u64, word: u64) -> (u64, u32) {
    let w = word ^ key(salt, start);
    ((w & 0xFFFF_FFFF) * GRAIN, (w >> 35) as u32)
}

/// The slack of the header word found before `start`: how many of the
/// block's bytes its allocation did not ask for (0 to 7).
pub(crate) fn slack(salt: u64, start: u64, word: u64) -> u64 {
    ((word ^ key(salt, start)) >> 32) & 7
}

/// The low 29 bits of `generation`, as a header keeps them.
pub(crate) fn gen_tag(generation: u64) -> u32 {
    generation as u32 & GEN_MASK
}

/// How many generations before `current` a header's generation `g` is
/// (modulo 2^29).
pub(crate) fn age(current: u64, g: u32) -> u64 {
    u64::from(gen_tag(current).wrapping_sub(g) & GEN_MASK)
}

/// Checks an allocation request: returns (size rounded up to 8, alignment
/// at least 8), or the error that names what is wrong.
#[inline(always)]
pub(crate) fn request(size: u64, align: u64) -> Option<(u64, u64)> {
    if size == 0 || size > MAX_BLOCK || !align.is_power_of_two() || align > MAX_ALIGN {
        return None;
    }
    // No overflow: size <= MAX_BLOCK < 2^35.
    Some(((size + GRAIN - 1) & !(GRAIN - 1), align.max(GRAIN)))
}

/// The error of a request `request` refused.
#[cold]
#[inline(never)]
pub(crate) fn request_error(size: u64, align: u64) -> Error {
    if !align.is_power_of_two() || align > MAX_ALIGN {
        Error::InvalidAlignment {
            align,
            max: MAX_ALIGN,
        }
    } else if size == 0 {
        Error::ZeroSize
    } else {
        Error::SizeTooLarge {
            size,
            max: MAX_BLOCK,
        }
    }
}

/// Places a block of `size8` bytes aligned to `align` after `from` (all
/// segment-relative): returns (start, end). `None` only on overflow, which
/// callers rule out by bounding `from` to the pool (below 2^47).
#[inline(always)]
pub(crate) fn carve(from: u64, size8: u64, align: u64) -> Option<(u64, u64)> {
    let start = from.checked_add(HEADER_LEN + align - 1)? & !(align - 1);
    Some((start, start.checked_add(size8)?))
}

#[cfg(all(test, not(shm_loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn header_round_trips(salt in any::<u64>(), start in any::<u64>(),
                              units in 0u64..=u64::from(u32::MAX), generation in any::<u64>(),
                              sl in 0u64..8) {
            let w = encode(salt, start, units * GRAIN, generation, sl);
            prop_assert_eq!(decode(salt, start, w), (units * GRAIN, gen_tag(generation)));
            prop_assert_eq!(slack(salt, start, w), sl);
            prop_assert_eq!(age(generation.wrapping_add(3), gen_tag(generation)), 3);
        }

        #[test]
        fn carve_places_aligned_blocks(from in 0u64..(1 << 47), size in 1u64..4096, shift in 3u32..13) {
            let align = 1u64 << shift;
            let (size8, align) = request(size, align).unwrap();
            let (start, end) = carve(from, size8, align).unwrap();
            prop_assert_eq!(start % align, 0);
            prop_assert!(start >= from + HEADER_LEN);
            prop_assert!(start - from < HEADER_LEN + align);
            prop_assert_eq!(end - start, size8);
        }
    }

    #[test]
    fn requests_are_checked() {
        assert!(request(0, 8).is_none());
        assert!(matches!(request_error(0, 8), Error::ZeroSize));
        for align in [0, 3, 8192, u64::MAX] {
            assert!(request(8, align).is_none());
            assert!(matches!(
                request_error(8, align),
                Error::InvalidAlignment { max: MAX_ALIGN, .. }
            ));
        }
        assert!(request(u64::MAX, 8).is_none());
        assert!(matches!(
            request_error(u64::MAX, 8),
            Error::SizeTooLarge { .. }
        ));
        assert_eq!(request(1, 1).unwrap(), (8, 8));
        assert_eq!(request(MAX_BLOCK, 4096).unwrap(), (MAX_BLOCK, 4096));
    }

    #[test]
    fn other_offsets_and_salts_decode_to_garbage() {
        let w = encode(1, 4096, 64, 3, 0);
        assert_ne!(decode(1, 4104, w).1, 3);
        assert_ne!(decode(2, 4096, w).1, 3);
        assert_ne!(decode(1, 4096, 0).1, 3);
    }
}
