//! Access hints, applied to windows with `madvise`.

use memmap2::Advice;

/// How a program will read its windows; passed to the kernel with `madvise(2)`.
///
/// A manager applies its hint (see [`Config::hint`](crate::Config::hint)) to every window it
/// maps; [`Cursor::advise`](crate::Cursor::advise) applies one to the cursor's bytes.
/// Hints change speed, never results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Hint {
    /// No particular pattern (`MADV_NORMAL`): the kernel's defaults.
    #[default]
    Normal,
    /// Start to end (`MADV_SEQUENTIAL`): aggressive read-ahead, early reclaim.
    Sequential,
    /// Scattered small reads (`MADV_RANDOM`): no read-ahead. It also lets
    /// [`SlidingBuffer::read_into`](crate::SlidingBuffer::read_into) read a miss with
    /// `pread` instead of evicting a window, when the budget is full.
    Random,
    /// Read the bytes in now (`MADV_WILLNEED`), so that later accesses do not wait on disk.
    WillNeed,
}

impl Hint {
    /// The memmap2 advice for this hint.
    pub(crate) fn advice(self) -> Advice {
        match self {
            Hint::Normal => Advice::Normal,
            Hint::Sequential => Advice::Sequential,
            Hint::Random => Advice::Random,
            Hint::WillNeed => Advice::WillNeed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hint_has_its_advice() {
        assert_eq!(Hint::default(), Hint::Normal);
        assert_eq!(Hint::Normal.advice(), Advice::Normal);
        assert_eq!(Hint::Sequential.advice(), Advice::Sequential);
        assert_eq!(Hint::Random.advice(), Advice::Random);
        assert_eq!(Hint::WillNeed.advice(), Advice::WillNeed);
    }
}
