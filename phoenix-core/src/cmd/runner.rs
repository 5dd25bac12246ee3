//! The [`Runner`]: runs commands (reads always, mutations unless dry-run, which records
//! them in its journal as [`JournalEntry`]).

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::*;

/// Something a dry run would have done.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum JournalEntry {
    /// A mutating command.
    Command {
        /// Shell-quoted rendering.
        cmd: String,
    },
    /// A file write.
    Write {
        /// Target path.
        path: PathBuf,
        /// Size of the new content.
        bytes: usize,
        /// Mode.
        mode: u32,
    },
    /// A directory creation.
    Mkdir {
        /// Target path.
        path: PathBuf,
    },
    /// A file removal.
    Remove {
        /// Target path.
        path: PathBuf,
    },
    /// An ownership change.
    Chown {
        /// Target path.
        path: PathBuf,
        /// New owner.
        uid: u32,
        /// New group.
        gid: u32,
    },
    /// A permission change.
    Chmod {
        /// Target path.
        path: PathBuf,
        /// New mode.
        mode: u32,
    },
    /// A symbolic link made or repointed.
    Symlink {
        /// The link.
        link: PathBuf,
        /// What it points at.
        target: PathBuf,
    },
}

impl fmt::Display for JournalEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalEntry::Command { cmd } => write!(f, "run `{cmd}`"),
            JournalEntry::Write { path, bytes, mode } => write!(
                f,
                "write {} ({bytes} bytes, mode {mode:04o})",
                path.display()
            ),
            JournalEntry::Mkdir { path } => write!(f, "create directory {}", path.display()),
            JournalEntry::Remove { path } => write!(f, "remove {}", path.display()),
            JournalEntry::Chown { path, uid, gid } => {
                write!(f, "change the owner of {} to {uid}:{gid}", path.display())
            }
            JournalEntry::Chmod { path, mode } => {
                write!(f, "change the mode of {} to {mode:04o}", path.display())
            }
            JournalEntry::Symlink { link, target } => {
                write!(f, "link {} -> {}", link.display(), target.display())
            }
        }
    }
}

/// Runs commands and writes files, honoring dry-run.
#[derive(Clone)]
pub struct Runner {
    pub(super) exec: Arc<dyn Exec>,
    pub(super) dry_run: bool,
    pub(super) journal: Arc<Mutex<Vec<JournalEntry>>>,
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// A runner over real processes.
    pub fn system(dry_run: bool) -> Self {
        Self::with_exec(Arc::new(SystemExec), dry_run)
    }

    /// A runner over any [`Exec`] (tests pass a fake).
    pub fn with_exec(exec: Arc<dyn Exec>, dry_run: bool) -> Self {
        Self {
            exec,
            dry_run,
            journal: Arc::default(),
        }
    }

    /// Whether mutations are recorded instead of performed.
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    /// What a dry run recorded, in order.
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.journal.lock().map(|j| j.clone()).unwrap_or_default()
    }

    pub(super) fn record(&self, p: JournalEntry) {
        tracing::info!("dry-run: would {p}");
        if let Ok(mut j) = self.journal.lock() {
            j.push(p);
        }
    }

    /// Runs `cmd`, capturing its output. A mutating command in dry-run is recorded and
    /// returns an [`Output`] with `executed: false`.
    pub fn run(&self, cmd: &Cmd) -> Result<Output, CmdError> {
        self.run_inner(cmd, None)
    }

    /// Like [`Runner::run`], passing each output line to `sink` as it arrives (the result
    /// keeps only the tail of the output).
    pub fn run_streaming(&self, cmd: &Cmd, sink: LineSink<'_>) -> Result<Output, CmdError> {
        self.run_inner(cmd, Some(sink))
    }

    fn run_inner(&self, cmd: &Cmd, sink: Option<LineSink<'_>>) -> Result<Output, CmdError> {
        let rendered = cmd.to_string();
        if self.dry_run && cmd.effect() == Effect::Mutate {
            self.record(JournalEntry::Command { cmd: rendered });
            return Ok(Output {
                executed: false,
                ..Output::default()
            });
        }
        let program = self.exec.resolve(cmd.program()).ok_or_else(|| {
            let name = cmd.program().to_string_lossy().into_owned();
            CmdError::NotFound {
                hint: format!("install it, or set {} to its path", override_var(&name)),
                program: name,
            }
        })?;
        match cmd.effect() {
            Effect::Mutate if !cmd.quiet => tracing::info!(cmd = %rendered, "running"),
            _ => tracing::debug!(cmd = %rendered, "running"),
        }
        let started = Instant::now();
        let raw = self
            .exec
            .exec(&program, cmd, sink)
            .map_err(|source| CmdError::Spawn {
                cmd: rendered.clone(),
                source,
            })?;
        tracing::debug!(cmd = %rendered, code = ?raw.code, elapsed_ms = started.elapsed().as_millis() as u64, "finished");
        if raw.timed_out {
            return Err(CmdError::TimedOut {
                cmd: rendered,
                after: cmd.get_timeout().unwrap_or_default(),
            });
        }
        if raw.overflowed {
            return Err(CmdError::TooMuchOutput { cmd: rendered });
        }
        let ok = raw.code.is_some_and(|c| cmd.ok_codes.contains(&c));
        if !ok {
            let status = match (raw.code, raw.signal) {
                (Some(c), _) => format!("exit status: {c}"),
                (None, Some(s)) => format!("signal: {s}"),
                (None, None) => "unknown status".to_string(),
            };
            return Err(CmdError::Failed {
                cmd: rendered,
                status,
                code: raw.code,
                stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&raw.stderr).into_owned(),
            });
        }
        Ok(Output {
            code: raw.code,
            stdout: raw.stdout,
            stderr: raw.stderr,
            executed: true,
        })
    }
}
