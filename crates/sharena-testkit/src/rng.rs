//! The workloads' random stream: xorshift64 (Marsaglia 2003, shifts
//! 13/7/17), process or thread `k` seeded `42 + k` (docs/WORKLOADS.md,
//! "Random stream"). One type, so every test, `sharena stress` and
//! `sharena bench` draw the same numbers from the same seed.

/// One xorshift64 state.
///
/// ```
/// use sharena_testkit::XorShift;
/// let mut r = XorShift::new(42);
/// assert_eq!(r.next(), 45_454_805_674);
/// assert_eq!(XorShift::for_process(1).next(), 46_537_075_435);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XorShift(u64);

impl XorShift {
    /// A stream from `seed` (which must not be 0: xorshift's one fixed
    /// point; 0 becomes 1 here).
    pub fn new(seed: u64) -> Self {
        XorShift(if seed == 0 { 1 } else { seed })
    }

    /// The stream of process (or thread) `k`: seed `42 + k`.
    pub fn for_process(k: usize) -> Self {
        XorShift::new(42 + k as u64)
    }

    /// The next draw.
    #[inline(always)]
    #[allow(clippy::should_implement_trait)] // an endless stream: no `Option`
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A draw in `0..n` (`next() % n`; `n` must not be 0).
    #[inline(always)]
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A W2/W3 slot index in `0..4096`.
    #[inline(always)]
    pub fn slot(&mut self) -> usize {
        self.below(4096) as usize
    }

    /// A W3 size in `[16, 4096]`.
    #[inline(always)]
    pub fn w3_size(&mut self) -> u64 {
        16 + self.below(4081)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The workloads' test vectors (docs/WORKLOADS.md, "Test vectors").
    #[test]
    fn test_vectors() {
        let mut r = XorShift::new(42);
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
        assert_eq!(XorShift::new(43).next(), 46_537_075_435);
        assert_eq!(XorShift::for_process(0), XorShift::new(42));
        assert_eq!(XorShift::for_process(1).next(), 46_537_075_435);
    }

    /// The W2/W3 draws of process 0.
    #[test]
    fn workload_draws() {
        let mut r = XorShift::for_process(0);
        let slots: Vec<usize> = (0..5).map(|_| r.slot()).collect();
        assert_eq!(slots, [2730, 703, 2426, 1384, 130]);
        let mut r = XorShift::for_process(0);
        let fill: Vec<u64> = (0..4096).map(|_| r.w3_size()).collect();
        assert_eq!(fill[..5], [3297, 460, 1565, 3673, 1847]);
        assert_eq!(fill.iter().sum::<u64>(), 8_463_948);
        let ops: Vec<(usize, u64)> = (0..3).map(|_| (r.slot(), r.w3_size())).collect();
        assert_eq!(ops, [(2566, 292), (1098, 3903), (2598, 3414)]);
    }

    #[test]
    fn zero_is_not_a_seed() {
        let mut r = XorShift::new(0);
        assert_ne!(r.next(), 0);
    }
}
