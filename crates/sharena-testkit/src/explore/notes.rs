//! What a victim tells the survivor: one line per note, through a pipe, so
//! every note written before the victim died arrives (a pipe's contents
//! outlive the writer).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;

/// One note: a tag and a value (usually a segment offset).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// What the value is (`own`, `shared`, `either`, ...: each scenario's
    /// own vocabulary).
    pub tag: String,
    /// The value.
    pub value: u64,
}

/// The victim's end of the pipe.
#[derive(Debug)]
pub struct Notes(File);

impl Notes {
    /// Notes written into `fd`.
    pub fn new(fd: OwnedFd) -> Notes {
        Notes(File::from(fd))
    }

    /// Writes one note. The pipe is not segment memory: writing a note is
    /// never a crash point.
    pub fn note(&mut self, tag: &str, value: u64) {
        debug_assert!(!tag.contains([' ', '\n']));
        // A failed write (the survivor gone) loses the note; the survivor
        // would not read it anyway.
        let _ = writeln!(self.0, "{tag} {value}");
    }
}

/// Reads every note from the survivor's end (after the victim ended, so
/// the pipe is at its end); `text` collects lines that are not notes.
pub fn read_all(fd: OwnedFd, text: &mut String) -> Vec<Note> {
    let mut s = String::new();
    let _ = File::from(fd).read_to_string(&mut s);
    let mut out = Vec::new();
    for line in s.lines() {
        if let Some((tag, Ok(value))) = line.split_once(' ').map(|(t, v)| (t, v.parse::<u64>())) {
            out.push(Note {
                tag: tag.to_string(),
                value,
            });
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    out
}

/// The values of `notes` tagged `tag`, in order.
pub fn tagged<'a>(notes: &'a [Note], tag: &'a str) -> impl Iterator<Item = u64> + 'a {
    notes.iter().filter(move |n| n.tag == tag).map(|n| n.value)
}
