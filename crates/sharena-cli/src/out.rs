//! Standard output that a reader who stops reading cannot crash:
//! `sharena info NAME | head -1` must end quietly, not panic with "Broken
//! pipe" (`println!` panics when a write fails).
//!
//! Every verb prints through [`outln!`](crate::outln). Once stdout is
//! closed (`EPIPE`) further output is dropped and the verb runs to its end,
//! so the exit status is the one it would have had. Any other write error
//! (a full disk) is kept, and [`finish`] turns it into a failure: a script
//! must not take a cut-off output for a whole one. Names read from the
//! system or from a segment go through [`shown`] before they reach a
//! terminal.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
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

/// `s` with every character a terminal would not simply show escaped as
/// Rust writes it (`\u{1b}`, `\n`, `\u{202e}`), and `\` doubled, so a
/// name holding escape sequences cannot drive the terminal and an escaped
/// name cannot pass for another.
pub fn shown(s: &str) -> Cow<'_, str> {
    let plain =
        |c: char| c != '\\' && (matches!(c, '"' | '\'') || c.escape_debug().nth(1).is_none());
    if s.chars().all(plain) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if plain(c) {
            out.push(c);
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.extend(c.escape_debug());
        }
    }
    Cow::Owned(out)
}

/// Serialised JSON with every character [`shown`] would escape written as
/// `\uXXXX`: the same value, safe for a terminal. `serde_json` escapes only
/// U+0000 to U+001F, and a name may hold U+009B (a C1 control that some
/// terminals read as CSI) or U+202E. Outside strings serialised JSON is
/// ASCII, so only characters inside strings change.
pub fn json_shown(json: &str) -> Cow<'_, str> {
    let plain = |c: char| c.is_ascii() || c.escape_debug().nth(1).is_none();
    if json.chars().all(plain) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if plain(c) {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{u:04x}");
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::{json_shown, shown};

    #[test]
    fn json_keeps_its_value_and_loses_its_controls() {
        let v = serde_json::json!({"name": "/a\u{9b}b\u{202e}c é \u{1b} \u{1F600}"});
        let s = v.to_string();
        let safe = json_shown(&s);
        assert!(
            !safe.contains('\u{9b}') && !safe.contains('\u{202e}'),
            "{safe}"
        );
        assert!(safe.contains('é'), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn what_is_not_printable_is_escaped() {
        assert_eq!(shown("/orders-1"), "/orders-1");
        assert_eq!(shown("/a\"b'c é"), "/a\"b'c é");
        assert_eq!(shown("/x\u{1b}[2Jy"), "/x\\u{1b}[2Jy");
        assert_eq!(shown("/x\ny\tz\r"), "/x\\ny\\tz\\r");
        assert_eq!(shown("/\u{9b}31m"), "/\\u{9b}31m");
        assert_eq!(shown("/rtl\u{202e}gpj"), "/rtl\\u{202e}gpj");
        assert_eq!(shown("/back\\slash"), "/back\\\\slash");
        assert_eq!(shown("/\u{7f}"), "/\\u{7f}");
    }
}
