//! A second local user, for the tests of what opening a segment trusts: a
//! segment or file made by someone else must be refused.
//!
//! When the tests run as root (CI does), [`other_user`] makes a throwaway
//! system user, [`OTHER_USER`], if it does not exist (`useradd --system
//! --no-create-home`), and a child started with [`as_user`] runs as it.
//! Where `useradd` is missing or fails, a uid and gid no account uses
//! serve instead (root may become any uid; the tests need no account,
//! only another owner). The user is left in place for the next run:
//! creating it is idempotent, and removing it while another test binary
//! uses it would race. Not root: the tests that need it print why and
//! skip.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Mutex;

/// The name of the throwaway user.
pub const OTHER_USER: &str = "sharena-test-other";

/// A local user other than the one running the tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OtherUser {
    /// Its uid.
    pub uid: u32,
    /// Its primary gid.
    pub gid: u32,
}

/// Serialises `useradd` among the threads of one test binary (another
/// binary doing the same is handled by looking the user up again).
static ADDING: Mutex<()> = Mutex::new(());

/// The second user: [`OTHER_USER`], made if absent, or else an unused uid
/// and gid; `Err` says why a test must skip (not root).
pub fn other_user() -> Result<OtherUser, String> {
    if !nix::unistd::geteuid().is_root() {
        return Err(format!(
            "not running as root, so {OTHER_USER} can be neither created nor become"
        ));
    }
    let _one_at_a_time = ADDING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(u) = lookup()? {
        return Ok(u);
    }
    let added = Command::new("useradd")
        .args(["--system", "--no-create-home", OTHER_USER])
        .output();
    if let Some(u) = lookup()? {
        return Ok(u);
    }
    if let Ok(o) = &added {
        if o.status.success() {
            return Err(format!(
                "useradd {OTHER_USER} succeeded but the user is not found"
            ));
        }
    }
    unused_ids()
}

/// The first uid (from 61,000 up) that no account has, with the same
/// number as its gid when no group has that either.
fn unused_ids() -> Result<OtherUser, String> {
    use nix::unistd::{Gid, Group, Uid, User};
    for id in 61_000..61_100 {
        let free_uid = User::from_uid(Uid::from_raw(id)).is_ok_and(|u| u.is_none());
        let free_gid = Group::from_gid(Gid::from_raw(id)).is_ok_and(|g| g.is_none());
        if free_uid && free_gid {
            return Ok(OtherUser { uid: id, gid: id });
        }
    }
    Err("no unused uid in 61000..61100 for a second user".into())
}

fn lookup() -> Result<Option<OtherUser>, String> {
    let user = nix::unistd::User::from_name(OTHER_USER)
        .map_err(|e| format!("cannot look up {OTHER_USER}: {e}"))?;
    Ok(user.map(|u| OtherUser {
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
    }))
}

/// Makes `cmd` run as `user` (uid and gid set; started as root, the child
/// also drops root's supplementary groups).
pub fn as_user(cmd: &mut Command, user: OtherUser) -> &mut Command {
    cmd.uid(user.uid).gid(user.gid)
}

/// [`other_user`], or `None` after printing why the calling test skips.
pub fn other_user_or_skip(test: &str) -> Option<OtherUser> {
    match other_user() {
        Ok(u) => Some(u),
        Err(why) => {
            eprintln!("{test}: skipped: {why}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unused_uid_belongs_to_no_account() {
        let u = unused_ids().unwrap();
        let uid = nix::unistd::Uid::from_raw(u.uid);
        assert!(nix::unistd::User::from_uid(uid).unwrap().is_none());
        assert_ne!(u.uid, nix::unistd::geteuid().as_raw());
    }
}
