//! Process liveness, for the open protocol (a creator that died mid-init).

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// Whether process `pid` exists and is not a zombie.
///
/// `kill(pid, 0)` succeeds for zombies (dead, not yet reaped), so Linux's
/// `/proc/PID/stat` state is consulted too.
pub fn is_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw <= 0 {
        return false;
    }
    match kill(Pid::from_raw(raw), None) {
        Ok(()) | Err(Errno::EPERM) => !is_zombie(pid),
        Err(_) => false,
    }
}

fn is_zombie(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the last ')' (the command name may contain one).
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
        .is_some_and(|s| s == 'Z' || s == 'X')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_is_alive_and_nonsense_is_not() {
        assert!(is_alive(std::process::id()));
        assert!(!is_alive(0));
        assert!(!is_alive(u32::MAX));
    }
}
