//! The fragmentation pass of W2/W3/W4 (docs/WORKLOADS.md): the same workload
//! and stream run again, untimed, with bookkeeping after every op.
//!
//! - `live_peak`: the most requested bytes live at once (per process; for
//!   P>1 the sum of the per-process peaks);
//! - `footprint_peak`: `max(block end) - min(block start)` over every block
//!   handed out (for a shared pool the span over all processes; for private
//!   heaps the sum of the per-process spans);
//! - `used_peak`: the allocator's own bytes in use, less its value right
//!   after creation, read every 1024 allocations (and after the last op),
//!   where the pool reports it ([`Pool::used`]).
//!
//! Each child reports its figures in the harness's extra words; the parent
//! combines them with [`summarize`].

use super::harness::EXTRA;
use super::pool::{Observer, Pool, Sharing, SLOTS};

/// How often (in allocations) `used` is read.
const USED_EVERY: u64 = 1024;

/// The extra word that stands for "not reported".
const NA: u64 = u64::MAX;

/// One fragmentation pass's figures.
#[allow(clippy::struct_field_names)] // the names of the FRAG line
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Frag {
    /// Peak requested bytes live.
    pub live_peak: u64,
    /// Peak bytes in use as the allocator counts them, where it says.
    pub used_peak: Option<u64>,
    /// Span of the blocks handed out.
    pub footprint_peak: u64,
}

impl Frag {
    /// `used_peak / live_peak`.
    pub fn used_over_live(&self) -> Option<f64> {
        self.used_peak.map(|u| ratio(u, self.live_peak))
    }

    /// `footprint_peak / live_peak`.
    pub fn footprint_over_live(&self) -> f64 {
        ratio(self.footprint_peak, self.live_peak)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// One child's bookkeeping.
#[derive(Debug)]
pub struct FragTrack {
    sizes: Vec<u64>,
    live: u64,
    live_peak: u64,
    lo: u64,
    hi: u64,
    used0: Option<u64>,
    used_peak: u64,
    allocs: u64,
}

impl FragTrack {
    /// A tracker whose `used` counts from `used0` (`None`: not reported).
    pub fn new(used0: Option<u64>) -> Self {
        FragTrack {
            sizes: vec![0; SLOTS],
            live: 0,
            live_peak: 0,
            lo: u64::MAX,
            hi: 0,
            used0,
            used_peak: 0,
            allocs: 0,
        }
    }

    fn sample<P: Pool>(&mut self, pool: &P) {
        if let (Some(u0), Some(u)) = (self.used0, pool.used()) {
            self.used_peak = self.used_peak.max(u.saturating_sub(u0));
        }
    }

    /// The words this child reports: live peak, used peak (or "not
    /// reported"), lowest block start, highest block end.
    pub fn words(&self) -> [u64; EXTRA] {
        let used = if self.used0.is_some() {
            self.used_peak
        } else {
            NA
        };
        [self.live_peak, used, self.lo, self.hi]
    }
}

impl<P: Pool> Observer<P> for FragTrack {
    fn allocated(&mut self, pool: &P, i: usize, h: P::Handle, size: u64) {
        self.sizes[i] = size;
        self.live += size;
        self.live_peak = self.live_peak.max(self.live);
        let at = pool.addr(h);
        self.lo = self.lo.min(at);
        self.hi = self.hi.max(at + size);
        self.allocs += 1;
        if self.allocs % USED_EVERY == 0 {
            self.sample(pool);
        }
    }

    fn freed(&mut self, i: usize) {
        self.live -= self.sizes[i];
    }

    fn done(&mut self, pool: &P) {
        self.sample(pool);
    }
}

/// Combines the children's words (one `[u64; EXTRA]` each, from
/// [`FragTrack::words`]).
pub fn summarize(children: &[[u64; EXTRA]], sharing: Sharing) -> Frag {
    let live_peak = children.iter().map(|w| w[0]).sum();
    let used: Option<Vec<u64>> = children
        .iter()
        .map(|w| (w[1] != NA).then_some(w[1]))
        .collect();
    let spans = children.iter().filter(|w| w[2] <= w[3]);
    match sharing {
        Sharing::Shared { .. } => {
            let lo = spans.clone().map(|w| w[2]).min().unwrap_or(0);
            let hi = spans.map(|w| w[3]).max().unwrap_or(0);
            Frag {
                live_peak,
                used_peak: used.map(|u| u.into_iter().max().unwrap_or(0)),
                footprint_peak: hi.saturating_sub(lo),
            }
        }
        Sharing::Private => Frag {
            live_peak,
            used_peak: used.map(|u| u.into_iter().sum()),
            footprint_peak: spans.map(|w| w[3] - w[2]).sum(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarize_shared_spans_and_private_sums() {
        let a = [100, 150, 1000, 1300];
        let b = [120, NA, 1200, 1500];
        let shared = summarize(&[a, b], Sharing::Shared { used0: None });
        assert_eq!(
            shared,
            Frag {
                live_peak: 220,
                used_peak: None,
                footprint_peak: 500
            }
        );
        let c = [120, 130, 5000, 5200];
        let private = summarize(&[a, c], Sharing::Private);
        assert_eq!(
            private,
            Frag {
                live_peak: 220,
                used_peak: Some(280),
                footprint_peak: 500
            }
        );
        assert!((private.footprint_over_live() - 500.0 / 220.0).abs() < 1e-12);
    }
}
