//! A second local user, for the tests of what opening a segment trusts: a
//! segment or file made by someone else must be refused.
//!
//! When the tests run as root (CI does), [`other_user`] makes a throwaway
//! system user, [`OTHER_USER`], if it does not exist (`useradd --system
//! --no-create-home`), and a child started with [`as_user`] runs as it. It
//! is left in place for the next run: creating it is idempotent, and
//! removing it while another test binary uses it would race. Not root: the
//! tests that need it print why and skip.

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

/// The second user, made if absent; `Err` says why a test must skip (not
/// root, or no way to add a user).
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
    match lookup()? {
        Some(u) => Ok(u),
        None => Err(match added {
            Ok(o) => format!(
                "useradd {OTHER_USER} failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => format!("cannot run useradd: {e}"),
        }),
    }
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
