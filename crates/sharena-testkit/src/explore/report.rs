//! What the explorer found, per scenario and in all, as text or JSON.

use super::engine::Options;
use super::Outcome;
use std::fmt::Write;

/// One scenario's exploration.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The allocator kind.
    pub kind: &'static str,
    /// The scenario.
    pub scenario: &'static str,
    /// Writes a complete run of the victim makes.
    pub writes: u64,
    /// Runs whose victim was killed at a write.
    pub crash_states: u64,
    /// Bytes lost, summed over the states.
    pub lost_bytes: u64,
    /// Problems `check` (or the accounting) reported, summed.
    pub check_problems: u64,
    /// States after which the survivor could not allocate, or a victim hung.
    pub stuck: u64,
    /// States with anything wrong (or runs that failed to run).
    pub failures: u64,
    /// The first few failures, described.
    pub details: Vec<String>,
}

impl Report {
    pub(super) fn new(kind: &'static str, scenario: &'static str) -> Report {
        Report {
            kind,
            scenario,
            ..Report::default()
        }
    }

    pub(super) fn fail(&mut self, opts: &Options, k: u64, what: &str) {
        self.failures += 1;
        if self.details.len() < opts.detail {
            self.details.push(format!("{} at write {k}", what.trim()));
        }
    }

    pub(super) fn add(&mut self, opts: &Options, k: u64, o: &Outcome) {
        self.lost_bytes += o.lost_bytes;
        self.check_problems += o.problems.len() as u64;
        if o.stuck {
            self.stuck += 1;
        }
        if !o.ok() {
            let mut what = String::new();
            if o.lost_bytes > 0 {
                let _ = write!(what, "{} bytes lost; ", o.lost_bytes);
            }
            // The first two problems and a count: one state's problems are
            // usually one cause seen from several places.
            for p in o.problems.iter().take(2) {
                let _ = write!(what, "{p}; ");
            }
            if o.problems.len() > 2 {
                let _ = write!(what, "and {} more; ", o.problems.len() - 2);
            }
            let at = if k == 0 {
                "the complete run".to_string()
            } else {
                k.to_string()
            };
            self.failures += 1;
            if self.details.len() < opts.detail {
                self.details
                    .push(format!("{} (state {at})", what.trim_end_matches("; ")));
            }
        }
    }

    /// The JSON line of this scenario.
    pub fn json(&self) -> String {
        format!(
            "{{\"kind\": \"{}\", \"scenario\": \"{}\", \"writes\": {}, \"crash_states\": {}, \
             \"lost_bytes\": {}, \"check_problems\": {}, \"stuck\": {}, \"failures\": {}}}",
            self.kind,
            self.scenario,
            self.writes,
            self.crash_states,
            self.lost_bytes,
            self.check_problems,
            self.stuck,
            self.failures
        )
    }

    /// One text line, plus the described failures.
    pub fn text(&self) -> String {
        let mut s = format!(
            "{:<9} {:<28} {:>6} states  lost {:>7} B  problems {:>4}  stuck {:>3}  {}",
            self.kind,
            self.scenario,
            self.crash_states,
            self.lost_bytes,
            self.check_problems,
            self.stuck,
            if self.failures == 0 { "ok" } else { "FAILED" }
        );
        for d in &self.details {
            let _ = write!(s, "\n    {d}");
        }
        s
    }
}

/// The totals over every scenario explored.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Distinct kinds.
    pub kinds: u64,
    /// Scenarios.
    pub scenarios: u64,
    /// Crash states, in all.
    pub crash_states: u64,
    /// States (or runs) with anything wrong.
    pub failures: u64,
}

impl Summary {
    /// The totals of `reports`.
    pub fn of(reports: &[Report]) -> Summary {
        let mut kinds: Vec<&str> = reports.iter().map(|r| r.kind).collect();
        kinds.dedup();
        Summary {
            kinds: kinds.len() as u64,
            scenarios: reports.len() as u64,
            crash_states: reports.iter().map(|r| r.crash_states).sum(),
            failures: reports.iter().map(|r| r.failures).sum(),
        }
    }

    /// The summary JSON line.
    pub fn json(&self) -> String {
        format!(
            "{{\"summary\": true, \"kinds\": {}, \"scenarios\": {}, \"crash_states\": {}, \"failures\": {}}}",
            self.kinds, self.scenarios, self.crash_states, self.failures
        )
    }
}
