//! What a worker counted: one set of counters for the stress workers and
//! the multi-process tests' churn, with the word form the parents read
//! from shared memory and the one-line form a re-spawned child prints.

/// Counters in a [`Tally`].
pub const TALLY_WORDS: usize = 10;

/// What a worker counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Operations (stress: successful allocations and frees; the tests'
    /// churn: steps, a failed allocation included).
    pub ops: u64,
    /// Bytes read back and found as written.
    pub verified: u64,
    /// Blocks whose bytes changed while the worker held them.
    pub corruptions: u64,
    /// Blocks handed out while another worker held them.
    pub duplicates: u64,
    /// Allocations refused for lack of memory (not a problem in itself).
    pub oom: u64,
    /// Other allocator errors: a failed free, an offset outside the
    /// segment or misaligned, a claim that was not ours to release.
    pub errors: u64,
    /// Compactions that ran to the end (handles).
    pub compactions: u64,
    /// Blocks those compactions moved (handles).
    pub moved: u64,
    /// Blocks checked at another address than they were stamped at (moved
    /// by a compaction, this worker's or another's, in between).
    pub relocated: u64,
    /// Pins and frees tried again after a move held them up too long.
    pub busy: u64,
}

impl Tally {
    /// The counters in field order.
    pub fn words(&self) -> [u64; TALLY_WORDS] {
        [
            self.ops,
            self.verified,
            self.corruptions,
            self.duplicates,
            self.oom,
            self.errors,
            self.compactions,
            self.moved,
            self.relocated,
            self.busy,
        ]
    }

    /// The tally of [`Tally::words`].
    pub fn from_words(w: [u64; TALLY_WORDS]) -> Self {
        Tally {
            ops: w[0],
            verified: w[1],
            corruptions: w[2],
            duplicates: w[3],
            oom: w[4],
            errors: w[5],
            compactions: w[6],
            moved: w[7],
            relocated: w[8],
            busy: w[9],
        }
    }

    /// One line for a parent to parse ([`Tally::decode`]).
    pub fn encode(&self) -> String {
        let w: Vec<String> = self.words().iter().map(u64::to_string).collect();
        w.join(" ")
    }

    /// Parses [`Tally::encode`] (`None` if it is not one).
    pub fn decode(s: &str) -> Option<Tally> {
        let v: Vec<u64> = s
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        Some(Tally::from_words(v.try_into().ok()?))
    }

    /// Adds another tally.
    pub fn add(&mut self, o: &Tally) {
        let mut w = self.words();
        for (a, b) in w.iter_mut().zip(o.words()) {
            *a += b;
        }
        *self = Tally::from_words(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_adds() {
        let t = Tally {
            ops: 5,
            verified: 320,
            duplicates: 1,
            busy: 9,
            ..Tally::default()
        };
        assert_eq!(Tally::decode(&t.encode()), Some(t));
        assert_eq!(Tally::from_words(t.words()), t);
        assert_eq!(Tally::decode("1 2 3"), None);
        assert_eq!(Tally::decode("x 2 3 4 5 6 7 8 9 10"), None);
        let mut sum = t;
        sum.add(&t);
        assert_eq!(
            (sum.ops, sum.verified, sum.duplicates, sum.busy),
            (10, 640, 2, 18)
        );
    }
}
