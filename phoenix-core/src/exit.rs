//! Exit statuses, defined once and documented in every `--help`.

use std::process::ExitCode;

/// Text for `--help` footers.
pub const EXIT_CODES_HELP: &str = "\
Exit status:
  0  success
  1  a guest or step failed (the summary says which)
  2  invalid usage or configuration; nothing was run on the host";

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Everything succeeded.
    Success,
    /// A guest or step failed.
    Failure,
    /// Invalid usage or configuration; nothing ran.
    Invalid,
    /// Propagated from a child process.
    External(u8),
}

impl Exit {
    /// The numeric status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Invalid => 2,
            Exit::External(c) => c,
        }
    }

    /// From a child's exit code (`None` = killed by a signal → failure).
    pub fn from_child(code: Option<i32>) -> Self {
        match code {
            Some(0) => Exit::Success,
            Some(c) => Exit::External(u8::try_from(c).unwrap_or(1)),
            None => Exit::Failure,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}
