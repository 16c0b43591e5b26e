//! A one-line progress bar on stderr for long verbs (`stress`, `bench`),
//! drawn by `indicatif`.
//!
//! Drawn only when stderr is a terminal and the verb was not asked for
//! `--json`; otherwise every call is a no-op, so piped output stays clean.
//! It starts no thread (the verbs fork, and forking a multi-threaded
//! process is unsafe): indicatif's steady tick is the only thing in it
//! that spawns one, and it is never enabled; the engine's own loop
//! redraws the bar, at most every 100 ms.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Steps of the bar (its length in indicatif's terms).
const STEPS: u64 = 1000;

/// The shortest time between two redraws.
const EVERY: Duration = Duration::from_millis(100);

/// A progress line (or nothing, when hidden).
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    /// Whether the bar (not only the text) is drawn now.
    with_bar: Option<bool>,
    last: Option<Instant>,
}

impl Progress {
    /// A progress line, shown when stderr is a terminal and `json` is off.
    pub fn new(json: bool) -> Self {
        let shown = !json && std::io::stderr().is_terminal();
        Progress {
            bar: shown
                .then(|| ProgressBar::with_draw_target(Some(STEPS), ProgressDrawTarget::stderr())),
            with_bar: None,
            last: None,
        }
    }

    /// Redraws with `done` in `0.0..=1.0` (None: no bar, only the text),
    /// unless the last redraw was under 100 ms ago.
    pub fn update(&mut self, done: Option<f64>, text: &str) {
        let Some(bar) = &self.bar else { return };
        if self.last.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        if self.with_bar != Some(done.is_some()) {
            self.with_bar = Some(done.is_some());
            bar.set_style(style(done.is_some()));
        }
        if let Some(f) = done {
            bar.set_position(position(f));
        }
        bar.set_message(text.to_string());
    }

    /// Erases the line (before the summary is printed).
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
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
fn style(with_bar: bool) -> ProgressStyle {
    let template = if with_bar {
        "[{bar:30}] {percent:>3}%  {msg}"
    } else {
        "{msg}"
    };
    ProgressStyle::with_template(template)
        .expect("a valid template")
        .progress_chars("#.")
}

/// The bar's position for `done` (clamped to `0.0..=1.0`; not a number
/// is 0).
fn position(done: f64) -> u64 {
    let f = if done.is_finite() {
        done.clamp(0.0, 1.0)
    } else {
        0.0
    };
    (f * STEPS as f64).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_clamped() {
        assert_eq!(position(0.5), STEPS / 2);
        assert_eq!(position(7.0), STEPS);
        assert_eq!(position(-1.0), 0);
        assert_eq!(position(f64::NAN), 0);
        assert_eq!(position(f64::INFINITY), 0);
        // Both templates parse.
        let _ = (style(true), style(false));
    }

    #[test]
    fn hidden_when_json() {
        let mut p = Progress::new(true);
        assert!(p.bar.is_none());
        p.update(Some(0.5), "x");
        assert!(p.last.is_none(), "nothing drawn");
    }
}
