//! Who a process is: its pid plus its start time, so that a pid the kernel
//! hands to a new process is never taken for the old one.
//!
//! A [`ProcId`] packs both into one `u64` (so one CAS can claim a slot with
//! the whole identity): bits 0..22 the pid (Linux caps pids at 2^22), bits
//! 22..64 the start time in clock ticks since boot (field 22 of
//! `/proc/PID/stat`; 2^42 ticks at 100 Hz is over a billion years).

use std::fs;

/// Bits of a [`ProcId`] that hold the pid.
pub const PID_BITS: u32 = 22;

/// A process identity: pid plus start time. Never 0 for a real process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProcId(u64);

/// What `/proc` says about a pid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    /// Running (or sleeping, stopped...), started at this tick.
    Alive(u64),
    /// Gone, or a zombie (dead, not yet reaped).
    Dead,
}

/// Reads `/proc/PID/stat`: state and start time.
fn seen(pid: u32) -> Seen {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Seen::Dead;
    };
    // Fields after the command name, which is in parentheses and may hold
    // any byte, ')' included: split at the last ')'.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return Seen::Dead;
    };
    let mut fields = rest.split_ascii_whitespace();
    // rest[0] is field 3 (state); starttime is field 22, so rest[19].
    let state = fields.next().unwrap_or("X");
    if state == "Z" || state == "X" || state == "x" {
        return Seen::Dead;
    }
    match fields.nth(18).and_then(|s| s.parse::<u64>().ok()) {
        Some(start) => Seen::Alive(start),
        None => Seen::Dead,
    }
}

/// The start time (clock ticks since boot) of the process that has `pid`
/// now, or `None` when no running, non-zombie process has it.
pub fn start_of(pid: u32) -> Option<u64> {
    if pid == 0 {
        return None;
    }
    match seen(pid) {
        Seen::Alive(start) => Some(start),
        Seen::Dead => None,
    }
}

impl ProcId {
    /// The calling process.
    pub fn current() -> ProcId {
        let pid = std::process::id();
        match seen(pid) {
            Seen::Alive(start) => ProcId::new(pid, start),
            // No /proc (or a strange one): the pid alone, start time 0,
            // which liveness checks then treat as "any start time".
            Seen::Dead => ProcId::new(pid, 0),
        }
    }

    /// The identity of the process that has `pid` now, if it is alive.
    pub fn of_pid(pid: u32) -> Option<ProcId> {
        match seen(pid) {
            Seen::Alive(start) => Some(ProcId::new(pid, start)),
            Seen::Dead => None,
        }
    }

    /// Packs a pid (its low 22 bits) and a start time (its low 42 bits).
    pub const fn new(pid: u32, start_ticks: u64) -> ProcId {
        ProcId((pid as u64 & ((1 << PID_BITS) - 1)) | (start_ticks << PID_BITS))
    }

    /// The packed word (as stored in a segment).
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// A word read from a segment; `None` for 0 (no process).
    pub const fn from_raw(raw: u64) -> Option<ProcId> {
        if raw == 0 {
            None
        } else {
            Some(ProcId(raw))
        }
    }

    /// The pid.
    pub const fn pid(self) -> u32 {
        (self.0 & ((1 << PID_BITS) - 1)) as u32
    }

    /// The start time in clock ticks since boot (0: unknown).
    pub const fn start_ticks(self) -> u64 {
        self.0 >> PID_BITS
    }

    /// Whether this process still runs: its pid exists, is not a zombie,
    /// and started at the recorded tick (a recorded start of 0 matches any).
    /// Pid 0 is never alive.
    pub fn is_alive(self) -> bool {
        let pid = self.pid();
        if pid == 0 {
            return false;
        }
        match seen(pid) {
            Seen::Alive(start) => {
                self.start_ticks() == 0
                    || start & ((1 << (64 - PID_BITS)) - 1) == self.start_ticks()
            }
            Seen::Dead => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_is_alive_and_round_trips() {
        let me = ProcId::current();
        assert_eq!(me.pid(), std::process::id());
        assert!(me.start_ticks() > 0, "/proc gives a start time");
        assert!(me.is_alive());
        assert_eq!(ProcId::from_raw(me.raw()), Some(me));
        assert_eq!(ProcId::of_pid(me.pid()), Some(me));
    }

    #[test]
    fn a_reused_pid_with_another_start_time_is_dead() {
        let me = ProcId::current();
        let impostor = ProcId::new(me.pid(), me.start_ticks() + 1);
        assert!(!impostor.is_alive());
        assert!(!ProcId::new(0, 5).is_alive());
        assert_eq!(ProcId::from_raw(0), None);
    }

    #[test]
    fn a_reaped_child_is_dead() {
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let id = ProcId::of_pid(child.id());
        child.wait().expect("wait");
        if let Some(id) = id {
            assert!(!id.is_alive());
        }
    }
}
