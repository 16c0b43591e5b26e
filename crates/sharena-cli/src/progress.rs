//! A one-line progress bar on stderr for long verbs (`stress`, `bench`).
//!
//! Drawn only when stderr is a terminal and the verb was not asked for
//! `--json`; otherwise every call is a no-op, so piped output stays clean.
//! It starts no thread (the verbs fork, and forking a multi-threaded
//! process is unsafe): the caller's own loop redraws it, at most every
//! 100 ms.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Width of the bar itself, in cells.
const CELLS: usize = 30;

/// The shortest time between two redraws.
const EVERY: Duration = Duration::from_millis(100);

/// A progress line (or nothing, when hidden).
#[derive(Debug)]
pub struct Progress {
    shown: bool,
    last: Option<Instant>,
    drawn: bool,
}

impl Progress {
    /// A progress line, shown when stderr is a terminal and `json` is off.
    pub fn new(json: bool) -> Self {
        Progress {
            shown: !json && std::io::stderr().is_terminal(),
            last: None,
            drawn: false,
        }
    }

    /// Redraws with `done` in `0.0..=1.0` (None: no bar, only the text),
    /// unless the last redraw was under 100 ms ago.
    pub fn update(&mut self, done: Option<f64>, text: &str) {
        if !self.shown || self.last.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        let line = render(done, text);
        let mut err = std::io::stderr().lock();
        // `\r` and "erase to end of line": the line is redrawn in place.
        let _ = write!(err, "\r{line}\x1b[K");
        let _ = err.flush();
        self.drawn = true;
    }

    /// Erases the line (before the summary is printed).
    pub fn finish(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}

impl sharena_testkit::run::Progress for Progress {
    fn update(&mut self, done: Option<f64>, text: &str) {
        Progress::update(self, done, text);
    }

    fn finish(&mut self) {
        Progress::finish(self);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `[#########...........]  42%  text`, or only the text.
pub fn render(done: Option<f64>, text: &str) -> String {
    match done {
        Some(f) => {
            let f = if f.is_finite() {
                f.clamp(0.0, 1.0)
            } else {
                0.0
            };
            let full = (f * CELLS as f64).round() as usize;
            format!(
                "[{}{}] {:>3.0}%  {text}",
                "#".repeat(full),
                ".".repeat(CELLS - full),
                f * 100.0
            )
        }
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_clamped() {
        assert_eq!(
            render(Some(0.5), "x"),
            format!("[{}{}]  50%  x", "#".repeat(15), ".".repeat(15))
        );
        assert!(render(Some(7.0), "").contains("100%"));
        assert!(render(Some(f64::NAN), "").contains("  0%"));
        assert_eq!(render(None, "W3 P=1"), "W3 P=1");
    }

    #[test]
    fn hidden_when_json() {
        let mut p = Progress::new(true);
        p.update(Some(0.5), "x");
        assert!(!p.drawn);
    }
}
