//! The one door to the outside: every external command and every host file write.
//!
//! - Commands are argv, never shell strings; they print shell-quoted in logs and errors.
//! - Each [`Cmd`] says whether it reads or mutates ([`Effect`]). A dry-run [`Runner`] runs
//!   reads (observation must stay truthful) and records mutations in its journal instead of
//!   running them; file writes are recorded the same way.
//! - Failures are one typed [`CmdError`] carrying the rendered command, exit status and
//!   stderr: ``"`pct set 101 --memory 4096` failed (exit status: 1)\n--- stderr\n…"``.
//! - The process boundary is the [`Exec`] trait: [`SystemExec`] spawns real processes (the
//!   only `std::process::Command::new` in the product, enforced by `clippy.toml`), tests pass
//!   a recording fake.
//!
//! Stdin data and environment values are never logged: that is where secrets travel.

mod error;
mod exec;
mod fake;
mod files;
mod runner;

pub use error::{CmdError, Output, RawOutput};
pub use exec::{
    Exec, LineSink, MAX_OUTPUT, SystemExec, can_chown, is_executable, override_var, resolve_program,
};
pub use fake::FakeExec;
pub use files::{Check, FileSpec, WriteOutcome};
pub use runner::{JournalEntry, Runner};

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Whether a command changes anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Observes only; runs in dry-run too.
    Read,
    /// Changes host or guest state; never runs in dry-run.
    Mutate,
}

/// Which output stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// A command to run. Its `Debug` form shows the size of stdin, never its bytes (stdin is how
/// secrets reach a command).
#[derive(Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    effect: Effect,
    ok_codes: Vec<i32>,
    timeout: Option<Duration>,
    quiet: bool,
}

impl Cmd {
    fn new(program: impl AsRef<OsStr>, effect: Effect) -> Self {
        Self {
            program: program.as_ref().to_os_string(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            stdin: None,
            effect,
            ok_codes: vec![0],
            timeout: None,
            quiet: false,
        }
    }

    /// A command that only observes.
    pub fn read(program: impl AsRef<OsStr>) -> Self {
        Self::new(program, Effect::Read)
    }

    /// A command that changes state.
    pub fn mutate(program: impl AsRef<OsStr>) -> Self {
        Self::new(program, Effect::Mutate)
    }

    /// Appends one argument.
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(a.as_ref().to_os_string());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Sets an environment variable for the child (value never logged).
    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Self {
        self.env
            .push((k.as_ref().to_os_string(), v.as_ref().to_os_string()));
        self
    }

    /// Working directory.
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Data written to the child's stdin (never logged: use it for secrets).
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    /// Exit codes that count as success (default: only 0).
    pub fn ok_codes(mut self, codes: &[i32]) -> Self {
        self.ok_codes = codes.to_vec();
        self
    }

    /// Kills the child after this long.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// Logs the command at debug level even when it mutates (for callers that report it
    /// themselves, such as the dispatcher's per-guest output).
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// Reclassifies the command (e.g. a manager run with `--dry-run` only reads).
    pub fn with_effect(mut self, effect: Effect) -> Self {
        self.effect = effect;
        self
    }

    /// The program as given.
    pub fn program(&self) -> &OsStr {
        &self.program
    }

    /// The arguments.
    pub fn get_args(&self) -> &[OsString] {
        &self.args
    }

    /// Environment additions.
    pub fn get_env(&self) -> &[(OsString, OsString)] {
        &self.env
    }

    /// Working directory.
    pub fn get_cwd(&self) -> Option<&Path> {
        self.cwd.as_deref()
    }

    /// Stdin data.
    pub fn get_stdin(&self) -> Option<&[u8]> {
        self.stdin.as_deref()
    }

    /// Read or mutate.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// Timeout.
    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Program followed by arguments.
    pub fn argv(&self) -> Vec<OsString> {
        std::iter::once(self.program.clone())
            .chain(self.args.iter().cloned())
            .collect()
    }
}

/// Shell-quotes one word for display.
pub fn quote(word: &OsStr) -> String {
    let s = word.to_string_lossy();
    match shlex::try_quote(&s) {
        Ok(q) => q.into_owned(),
        Err(_) => format!("{s:?}"),
    }
}

impl fmt::Debug for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cmd")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("env", &self.env)
            .field("cwd", &self.cwd)
            .field(
                "stdin",
                &self.stdin.as_ref().map(|s| format!("<{} bytes>", s.len())),
            )
            .field("effect", &self.effect)
            .field("ok_codes", &self.ok_codes)
            .field("timeout", &self.timeout)
            .field("quiet", &self.quiet)
            .finish()
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<String> = self.argv().iter().map(|w| quote(w)).collect();
        f.write_str(&words.join(" "))
    }
}

#[cfg(test)]
mod tests;
