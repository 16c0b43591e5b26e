//! Process liveness, for the open protocol (a creator that died mid-init).

use shm_layout::ProcId;

/// Whether process `pid` exists and is not a zombie (dead, not yet
/// reaped). The same `/proc` reading as [`ProcId::is_alive`], which the
/// process table and the allocators' recovery use, without a start time.
pub fn is_alive(pid: u32) -> bool {
    pid != 0 && ProcId::of_pid(pid).is_some()
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
