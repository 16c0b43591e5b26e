//! Standard output that a reader who stops reading cannot crash:
//! `sharena info NAME | head -1` must end quietly, not panic with "Broken
//! pipe" (`println!` panics when a write fails).
//!
//! Every verb prints through [`outln!`](crate::outln). Once stdout is
//! closed (`EPIPE`) further output is dropped and the verb runs to its end,
//! so the exit status is the one it would have had. Any other write error
//! (a full disk) is kept, and [`finish`] turns it into a failure: a script
//! must not take a cut-off output for a whole one.

use std::fmt;
use std::io::{ErrorKind, Write};
use std::sync::Mutex;

/// Prints one line on stdout (see the module docs).
macro_rules! outln {
    () => {
        $crate::out::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::out::line(format_args!($($arg)*))
    };
}

struct State {
    /// Output stopped: the reader went away or a write failed.
    stopped: bool,
    /// The first write error that was not `EPIPE`.
    error: Option<String>,
}

static STATE: Mutex<State> = Mutex::new(State {
    stopped: false,
    error: None,
});

fn note(state: &mut State, e: &std::io::Error) {
    state.stopped = true;
    if e.kind() != ErrorKind::BrokenPipe && state.error.is_none() {
        state.error = Some(e.to_string());
    }
}

/// Writes `args` and a newline to stdout, unless output has stopped.
pub fn line(args: fmt::Arguments<'_>) {
    let mut state = STATE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if state.stopped {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        note(&mut state, &e);
    }
}

/// Flushes stdout; the first write error other than a closed pipe, if any.
pub fn finish() -> Result<(), String> {
    let mut state = STATE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !state.stopped {
        if let Err(e) = std::io::stdout().lock().flush() {
            note(&mut state, &e);
        }
    }
    match state.error.take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
