//! The one block stamp: the bytes a worker writes over every byte of a
//! block and checks before it gives the block back. Word 0 is
//! `pid | worker << 32`, word 1 the worker's sequence number, and every
//! later word a pattern keyed by (pid, worker, sequence, length) and its
//! position, all little-endian, so any changed, shifted or foreign byte
//! anywhere in the block fails the check. A block shorter than 16 bytes
//! carries the first bytes of the same stream.
//!
//! Two ways in: raw pointers into shared memory ([`Stamp::write`],
//! [`Stamp::check`], volatile accesses only) for the stress workers, and
//! byte vectors ([`Stamp::bytes`], [`Stamp::verdict`]) for tests that go
//! through an allocator's checked `read` and `write`. A test that only
//! needs to catch a block handed out twice may stamp a prefix
//! ([`Stamp::cheap_bytes`]).

/// Who wrote a block, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The writer's process id.
    pub pid: u32,
    /// The writer's worker number (stress: its serial in the run, which
    /// replacements get anew).
    pub serial: u32,
    /// The writer's sequence number for this block.
    pub seq: u64,
}

/// What a block read back holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Exactly this stamp.
    Intact,
    /// Another writer's head (pid and worker): the block was handed to
    /// someone else while this writer held it.
    Foreign,
    /// This writer's head but other bytes: corrupted.
    Corrupt,
}

/// The bytes [`Stamp::cheap_bytes`] stamps at most.
pub const CHEAP_LEN: u64 = 64;

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Stamp {
    /// The stamp of this process's worker `worker`, block `seq`.
    pub fn mine(worker: u64, seq: u64) -> Self {
        Stamp {
            pid: std::process::id(),
            serial: worker as u32,
            seq,
        }
    }

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
            unsafe {
                p.add(i * 8)
                    .cast::<u64>()
                    .write_volatile(self.word(key, i).to_le());
            }
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
            let w = u64::from_le(unsafe { p.add(i * 8).cast::<u64>().read_volatile() });
            diff |= w ^ self.word(key, i);
        }
        let tail = self.word(key, words).to_le_bytes();
        for (j, b) in tail.iter().enumerate().take(len % 8) {
            // SAFETY: words * 8 + j < len.
            diff |= u64::from(unsafe { p.add(words * 8 + j).read_volatile() } ^ *b);
        }
        diff == 0
    }

    /// The stamp of a block of `len` bytes, as bytes (what [`Stamp::write`]
    /// leaves in memory).
    pub fn bytes(&self, len: u64) -> Vec<u8> {
        let len = len as usize;
        let key = self.key(len);
        let mut b = Vec::with_capacity(len.next_multiple_of(8));
        for i in 0..len.div_ceil(8) {
            b.extend_from_slice(&self.word(key, i).to_le_bytes());
        }
        b.truncate(len);
        b
    }

    /// The stamp of the first [`CHEAP_LEN`] bytes (or fewer) of a block of
    /// `len`: cheap to write and check, and still names its writer; check
    /// it with [`Stamp::verdict`] on the same number of bytes.
    pub fn cheap_bytes(&self, len: u64) -> Vec<u8> {
        self.bytes(len.min(CHEAP_LEN))
    }

    /// What the bytes read back from a block stamped with this stamp
    /// ([`Stamp::bytes`] of `got.len()` bytes) hold.
    pub fn verdict(&self, got: &[u8]) -> Verdict {
        let want = self.bytes(got.len() as u64);
        if got == want {
            Verdict::Intact
        } else if got[..got.len().min(8)] != want[..want.len().min(8)] {
            Verdict::Foreign
        } else {
            Verdict::Corrupt
        }
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

    #[test]
    fn bytes_are_what_write_leaves_and_verdicts_tell_who() {
        let s = Stamp {
            pid: 1234,
            serial: 5,
            seq: 99,
        };
        for len in 1..=80u64 {
            let mut buf = vec![0u64; 11];
            let p = buf.as_mut_ptr().cast::<u8>();
            // SAFETY: `buf` holds 88 bytes, 8-aligned.
            unsafe { s.write(p, len as usize) };
            // SAFETY: as above.
            let mem = unsafe { std::slice::from_raw_parts(p, len as usize) }.to_vec();
            let mut got = s.bytes(len);
            assert_eq!(got, mem, "len {len}");
            assert_eq!(s.verdict(&got), Verdict::Intact);
            // Another process's or worker's block.
            let theirs = Stamp { pid: 4321, ..s };
            assert_eq!(s.verdict(&theirs.bytes(len)), Verdict::Foreign);
            let worker = Stamp { serial: 6, ..s };
            if len > 4 {
                assert_eq!(s.verdict(&worker.bytes(len)), Verdict::Foreign);
            }
            // One changed byte past the head is a corruption.
            if len > 8 {
                got[len as usize - 1] ^= 1;
                assert_eq!(s.verdict(&got), Verdict::Corrupt, "len {len}");
            }
        }
        // The head: pid, then worker.
        let b = s.bytes(16);
        assert_eq!(b[..4], 1234u32.to_le_bytes());
        assert_eq!(b[4..8], 5u32.to_le_bytes());
        assert_eq!(b[8..16], 99u64.to_le_bytes());
        assert_eq!(s.cheap_bytes(4096), s.bytes(CHEAP_LEN));
        assert_eq!(s.cheap_bytes(10), s.bytes(10));
        assert_eq!(Stamp::mine(5, 99).pid, std::process::id());
    }
}
