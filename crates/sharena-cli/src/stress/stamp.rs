//! The bytes a worker writes over every block and checks before it gives
//! the block back: word 0 is `pid | serial << 32`, word 1 the worker's
//! sequence number, and every later word a pattern keyed by (pid, serial,
//! sequence, length) and its position, so any changed, shifted or foreign
//! byte anywhere in the block fails the check. Blocks shorter than 16
//! bytes carry the first bytes of the same stream. Shared bytes are only
//! touched with volatile accesses.

/// Who wrote a block, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The writer's process id.
    pub pid: u32,
    /// The writer's serial number in this run (replacements get new ones).
    pub serial: u32,
    /// The writer's sequence number for this block.
    pub seq: u64,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Stamp {
    fn head(&self) -> u64 {
        u64::from(self.pid) | (u64::from(self.serial) << 32)
    }

    fn key(&self, len: usize) -> u64 {
        mix(self.head() ^ mix(self.seq ^ (len as u64).rotate_left(48)))
    }

    #[inline(always)]
    fn word(&self, key: u64, i: usize) -> u64 {
        match i {
            0 => self.head(),
            1 => self.seq,
            _ => key ^ (i as u64).wrapping_mul(GOLDEN),
        }
    }

    /// Writes the stamp over the `len` bytes at `p`.
    ///
    /// # Safety
    /// `p` is 8-aligned and valid for writes of `len` bytes for the
    /// duration of the call.
    pub unsafe fn write(&self, p: *mut u8, len: usize) {
        let key = self.key(len);
        let words = len / 8;
        for i in 0..words {
            // SAFETY: word i lies in `p..p + len` (i < len / 8) and is
            // 8-aligned (the caller's contract).
            unsafe { p.add(i * 8).cast::<u64>().write_volatile(self.word(key, i)) };
        }
        let tail = self.word(key, words).to_le_bytes();
        for (j, b) in tail.iter().enumerate().take(len % 8) {
            // SAFETY: words * 8 + j < len.
            unsafe { p.add(words * 8 + j).write_volatile(*b) };
        }
    }

    /// Whether the `len` bytes at `p` hold exactly this stamp.
    ///
    /// # Safety
    /// `p` is 8-aligned and valid for reads of `len` bytes for the duration
    /// of the call.
    pub unsafe fn check(&self, p: *const u8, len: usize) -> bool {
        let key = self.key(len);
        let words = len / 8;
        let mut diff = 0u64;
        for i in 0..words {
            // SAFETY: as in `write`.
            let w = unsafe { p.add(i * 8).cast::<u64>().read_volatile() };
            diff |= w ^ self.word(key, i);
        }
        let tail = self.word(key, words).to_le_bytes();
        for (j, b) in tail.iter().enumerate().take(len % 8) {
            // SAFETY: words * 8 + j < len.
            diff |= u64::from(unsafe { p.add(words * 8 + j).read_volatile() } ^ *b);
        }
        diff == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_stamps_check_and_any_flipped_byte_fails() {
        let s = Stamp {
            pid: 77,
            serial: 3,
            seq: 12_345,
        };
        let other = Stamp { seq: 12_346, ..s };
        for len in 1..=80usize {
            let mut buf = vec![0u64; 11];
            let p = buf.as_mut_ptr().cast::<u8>();
            // SAFETY: `buf` holds 88 bytes, 8-aligned.
            unsafe { s.write(p, len) };
            // SAFETY: as above.
            assert!(unsafe { s.check(p, len) }, "len {len}");
            // SAFETY: as above.
            let foreign = unsafe { other.check(p, len) };
            assert!(len < 9 || !foreign, "len {len}: another stamp passed");
            for at in 0..len {
                // SAFETY: at < len <= 88.
                unsafe { *p.add(at) ^= 0x10 };
                // SAFETY: as above.
                assert!(!unsafe { s.check(p, len) }, "len {len}, byte {at}");
                // SAFETY: as above.
                unsafe { *p.add(at) ^= 0x10 };
            }
            // Nothing past the block was written.
            // SAFETY: 88 bytes.
            assert!((len..88).all(|i| unsafe { *p.add(i) } == 0));
        }
    }
}
