//! The workloads' random stream: xorshift64 (Marsaglia 2003, shifts
//! 13/7/17), process `k` seeded `42 + k` (docs/WORKLOADS.md,
//! "Random stream").

/// One xorshift64 state.
#[derive(Clone, Copy, Debug)]
pub struct XorShift(u64);

impl XorShift {
    /// The stream of process `k`.
    pub fn for_process(k: usize) -> Self {
        XorShift(42 + k as u64)
    }

    /// The next draw.
    #[inline(always)]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A slot index in `0..4096`.
    #[inline(always)]
    pub fn slot(&mut self) -> usize {
        (self.next() % 4096) as usize
    }

    /// A W3 size in `[16, 4096]`.
    #[inline(always)]
    pub fn w3_size(&mut self) -> u64 {
        16 + self.next() % 4081
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/WORKLOADS.md, "Test vectors".
    #[test]
    fn test_vectors() {
        let mut r = XorShift::for_process(0);
        let first: Vec<u64> = (0..5).map(|_| r.next()).collect();
        assert_eq!(
            first,
            [
                45_454_805_674,
                11_532_217_803_599_905_471,
                10_021_416_941_527_320_954,
                2_899_061_411_254_629_736,
                5_661_411_637_479_084_162
            ]
        );
        let mut r = XorShift::for_process(0);
        let slots: Vec<usize> = (0..5).map(|_| r.slot()).collect();
        assert_eq!(slots, [2730, 703, 2426, 1384, 130]);
        let mut r = XorShift::for_process(0);
        let fill: Vec<u64> = (0..4096).map(|_| r.w3_size()).collect();
        assert_eq!(fill[..5], [3297, 460, 1565, 3673, 1847]);
        assert_eq!(fill.iter().sum::<u64>(), 8_463_948);
        let ops: Vec<(usize, u64)> = (0..3).map(|_| (r.slot(), r.w3_size())).collect();
        assert_eq!(ops, [(2566, 292), (1098, 3903), (2598, 3414)]);
        assert_eq!(XorShift::for_process(1).next(), 46_537_075_435);
    }
}
