//! A finished command's output, and the one error type every command failure is.

use std::time::Duration;

use super::*;

/// What a finished command produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Exit code (`None` when killed by a signal, or not executed).
    pub code: Option<i32>,
    /// Captured stdout.
    pub stdout: Vec<u8>,
    /// Captured stderr.
    pub stderr: Vec<u8>,
    /// `false` when a dry-run runner recorded the command instead of running it.
    pub executed: bool,
}

impl Output {
    /// Stdout as text (lossy).
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Stderr as text (lossy).
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Raw result of running a process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawOutput {
    /// Exit code.
    pub code: Option<i32>,
    /// Terminating signal.
    pub signal: Option<i32>,
    /// Captured stdout (everything, or the tail when streaming).
    pub stdout: Vec<u8>,
    /// Captured stderr (everything, or the tail when streaming).
    pub stderr: Vec<u8>,
    /// Whether the timeout killed it.
    pub timed_out: bool,
    /// Whether it printed more than [`MAX_OUTPUT`] where all of it is kept (it was stopped).
    pub overflowed: bool,
}

/// A command that did not do what it should.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    /// The program is not installed.
    #[error("`{program}` not found on PATH\n\nhint: {hint}")]
    NotFound {
        /// Program name.
        program: String,
        /// What to do.
        hint: String,
    },
    /// The process could not be started.
    #[error("failed to run `{cmd}`: {source}")]
    Spawn {
        /// Rendered command.
        cmd: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The process exited unsuccessfully.
    #[error("`{cmd}` failed ({status}){}", render_streams(stdout, stderr))]
    Failed {
        /// Rendered command.
        cmd: String,
        /// `exit status: N` or `signal: N`.
        status: String,
        /// Exit code, when it exited.
        code: Option<i32>,
        /// Captured stdout.
        stdout: String,
        /// Captured stderr.
        stderr: String,
    },
    /// The process printed more than [`MAX_OUTPUT`] where its output is kept (a guest file
    /// read with `cat` that is a device or huge); it was stopped.
    #[error("`{cmd}` printed more than {} MiB; it was stopped and its output not used", MAX_OUTPUT >> 20)]
    TooMuchOutput {
        /// Rendered command.
        cmd: String,
    },
    /// The process ran past its deadline and was killed.
    #[error("`{cmd}` timed out after {}", humantime::format_duration(*after))]
    TimedOut {
        /// Rendered command.
        cmd: String,
        /// The deadline.
        after: Duration,
    },
}

impl CmdError {
    /// The exit code of a failed command.
    pub fn code(&self) -> Option<i32> {
        match self {
            CmdError::Failed { code, .. } => *code,
            _ => None,
        }
    }

    /// The stderr of a failed command.
    pub fn stderr(&self) -> &str {
        match self {
            CmdError::Failed { stderr, .. } => stderr,
            _ => "",
        }
    }
}

fn render_streams(stdout: &str, stderr: &str) -> String {
    let mut s = String::new();
    if !stderr.trim().is_empty() {
        s.push_str("\n--- stderr\n");
        s.push_str(stderr.trim_end());
    }
    if !stdout.trim().is_empty() && stderr.trim().is_empty() {
        s.push_str("\n--- stdout\n");
        s.push_str(stdout.trim_end());
    }
    s
}
