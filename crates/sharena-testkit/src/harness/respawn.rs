//! Re-spawning the current binary in a role: the way a threaded test (the
//! libtest harness) gets another process, since it must not fork.

use super::Exit;
use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable that names a re-spawned child's role.
pub const ROLE_VAR: &str = "SHARENA_TEST_CHILD_ROLE";

/// The environment variable that carries a re-spawned test's arguments
/// ([`Spawn::args`]), separated by `\x1f`.
pub const ARGS_VAR: &str = "SHARENA_TEST_CHILD_ARGS";

/// The child role of this process, if it is a re-spawned child.
pub fn role() -> Option<String> {
    std::env::var(ROLE_VAR).ok()
}

/// The arguments a re-spawned test was given ([`Spawn::args`]).
pub fn child_args() -> Vec<String> {
    match std::env::var(ARGS_VAR) {
        Ok(s) if !s.is_empty() => s.split('\x1f').map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// A re-spawn of the current binary, to be configured and started.
///
/// ```no_run
/// use sharena_testkit::harness::{role, Spawn};
///
/// #[test]
/// fn child_entry() {
///     let Some(role) = role() else { return }; // the parent: nothing to do
///     match role.as_str() {
///         "writer" => { /* the child's work */ }
///         other => panic!("unknown role {other}"),
///     }
/// }
///
/// #[test]
/// fn two_processes() {
///     let mut child = Spawn::test("child_entry", "writer").spawn().unwrap();
///     let exit = child.wait_timeout(std::time::Duration::from_secs(30)).unwrap();
///     assert_eq!(exit, Some(sharena_testkit::harness::Exit::Exited(0)));
/// }
/// ```
#[derive(Debug)]
pub struct Spawn {
    cmd: Command,
    /// A libtest binary: arguments travel in [`ARGS_VAR`], not argv.
    libtest: bool,
    args: Vec<String>,
}

impl Spawn {
    /// This libtest binary, running only the test `test` (which dispatches
    /// on [`role`]) in `role`; stdin and stdout piped (for [`send`] and
    /// [`recv`]), stderr inherited.
    pub fn test(test: &str, role: &str) -> Self {
        let mut cmd = Command::new(current_exe());
        cmd.args([test, "--exact", "--nocapture", "--test-threads=1", "-q"])
            .env(ROLE_VAR, role)
            .env_remove(ARGS_VAR)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        Spawn {
            cmd,
            libtest: true,
            args: Vec::new(),
        }
    }

    /// This `harness = false` binary in `role`, its arguments as argv;
    /// stdout and stderr piped.
    pub fn main(role: &str) -> Self {
        let mut cmd = Command::new(current_exe());
        cmd.env(ROLE_VAR, role)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Spawn {
            cmd,
            libtest: false,
            args: Vec::new(),
        }
    }

    /// Sets an environment variable of the child.
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Adds arguments ([`child_args`] in a libtest child, argv otherwise).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The command itself, for anything else (stdio, removed variables).
    pub fn command(&mut self) -> &mut Command {
        &mut self.cmd
    }

    /// Starts the child.
    pub fn spawn(self) -> std::io::Result<ChildGuard> {
        self.into_command().spawn().map(ChildGuard)
    }

    /// The finished command, for a caller that wants `std`'s own
    /// (`wait_with_output`, ...): no guard kills what it starts.
    pub fn into_command(mut self) -> Command {
        if self.libtest {
            self.cmd.env(ARGS_VAR, self.args.join("\x1f"));
        } else {
            self.cmd.args(&self.args);
        }
        self.cmd
    }
}

fn current_exe() -> std::path::PathBuf {
    std::env::current_exe().expect("the current binary's path")
}

/// A child process, SIGKILLed and reaped when dropped (so a failing test
/// leaves no process behind).
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// The child's pid.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// SIGKILLs the child (not yet reaped: wait for it).
    pub fn kill(&mut self) {
        let _ = self.0.kill();
    }

    /// Waits for the child to end.
    pub fn wait(&mut self) -> std::io::Result<Exit> {
        self.0.wait().map(Exit::from)
    }

    /// Waits at most `timeout`: `None` if the child still runs then.
    pub fn wait_timeout(&mut self, timeout: Duration) -> std::io::Result<Option<Exit>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.0.try_wait()? {
                return Ok(Some(status.into()));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Prefix of the lines a child sends its parent (libtest prints its own
/// lines on the same stdout).
pub const MSG: &str = "@@ ";

/// Sends one message line to the parent (on stdout).
pub fn send(msg: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{MSG}{msg}").expect("write to the parent");
    out.flush().expect("flush to the parent");
}

/// Reads the next message line from a child (an empty string at the end of
/// its output).
pub fn recv(from: &mut impl BufRead) -> String {
    loop {
        let mut line = String::new();
        if from.read_line(&mut line).expect("read from the child") == 0 {
            return String::new();
        }
        if let Some(msg) = line.strip_prefix(MSG) {
            return msg.trim_end().to_string();
        }
    }
}
