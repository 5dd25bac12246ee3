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

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// A line callback for streamed output.
pub type LineSink<'a> = &'a (dyn Fn(Stream, &str) + Sync);

/// The process boundary.
pub trait Exec: Send + Sync {
    /// Runs `program` (already resolved) with `cmd`'s arguments, environment, stdin and
    /// timeout. With `sink`, each output line is passed to it as it arrives and only a tail
    /// is kept in the result.
    fn exec(
        &self,
        program: &Path,
        cmd: &Cmd,
        sink: Option<LineSink<'_>>,
    ) -> std::io::Result<RawOutput>;

    /// Finds a program by name the way the system would (PATH), honoring overrides.
    fn resolve(&self, program: &OsStr) -> Option<PathBuf>;
}

/// Real processes.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemExec;

/// Bytes of output kept for error messages when streaming.
const TAIL: usize = 64 * 1024;

/// The most output of one stream kept when a command's output is used (`cat` of a guest
/// file, a JSON answer): 16 MiB. A command printing more is stopped (its pipe closed, the
/// process killed) and fails with [`CmdError::TooMuchOutput`]: nothing the product reads
/// this way is that large, and a guest file that is `/dev/zero` must not fill the memory.
pub const MAX_OUTPUT: usize = 16 << 20;

/// The longest line handed to a sink; a longer one is passed on in pieces.
const MAX_LINE: usize = 64 * 1024;

/// Reads one stream of a child. Returns what is kept and whether it overflowed
/// [`MAX_OUTPUT`] (then it stopped reading, which closes the pipe: the writer gets SIGPIPE).
fn pump(
    reader: impl Read,
    stream: Stream,
    sink: Option<LineSink<'_>>,
    keep_all: bool,
) -> (Vec<u8>, bool) {
    let mut buf = Vec::new();
    let mut r = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        // At most MAX_LINE bytes per read, so an endless line cannot fill the memory either.
        match (&mut r).take(MAX_LINE as u64).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if let Some(sink) = sink {
                    let text = String::from_utf8_lossy(&line);
                    sink(stream, text.trim_end_matches(['\n', '\r']));
                }
                buf.extend_from_slice(&line);
                if keep_all && buf.len() > MAX_OUTPUT {
                    buf.truncate(MAX_OUTPUT);
                    return (buf, true);
                }
                if !keep_all && buf.len() > 2 * TAIL {
                    buf.drain(..buf.len() - TAIL);
                }
            }
        }
    }
    if !keep_all && buf.len() > TAIL {
        buf.drain(..buf.len() - TAIL);
    }
    (buf, false)
}

impl Exec for SystemExec {
    #[allow(clippy::disallowed_methods)] // the single allowed call site, see clippy.toml
    fn exec(
        &self,
        program: &Path,
        cmd: &Cmd,
        sink: Option<LineSink<'_>>,
    ) -> std::io::Result<RawOutput> {
        use std::os::unix::process::ExitStatusExt;
        use std::process::{Command, Stdio};

        let mut c = Command::new(program);
        c.args(cmd.get_args());
        for (k, v) in cmd.get_env() {
            c.env(k, v);
        }
        if let Some(d) = cmd.get_cwd() {
            c.current_dir(d);
        }
        c.stdin(if cmd.get_stdin().is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        if cmd.get_timeout().is_some() {
            // Its own process group, so a timeout kills grandchildren holding the pipes too.
            use std::os::unix::process::CommandExt;
            c.process_group(0);
        }
        let mut child = c.spawn()?;
        let pid = child.id();
        let stdin_data = cmd.get_stdin().map(<[u8]>::to_vec);
        let mut stdin = child.stdin.take();
        let out = child.stdout.take().expect("stdout is piped");
        let err = child.stderr.take().expect("stderr is piped");
        let keep_all = sink.is_none();
        let deadline = cmd.get_timeout().map(|t| Instant::now() + t);
        let (stdout, stderr, status, timed_out) = std::thread::scope(|s| {
            let writer = s.spawn(move || {
                if let (Some(mut w), Some(data)) = (stdin.take(), stdin_data) {
                    // A child that exits without reading its input is not an error here.
                    let _ = w.write_all(&data);
                }
            });
            let grouped = deadline.is_some();
            // Stops the child (and its group, when it has one) once a stream overflowed.
            let stop = move || {
                if let Ok(p) = i32::try_from(pid) {
                    let p = nix::unistd::Pid::from_raw(p);
                    let _ = if grouped {
                        nix::sys::signal::killpg(p, nix::sys::signal::Signal::SIGKILL)
                    } else {
                        nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL)
                    };
                }
            };
            let o = s.spawn(move || {
                let r = pump(out, Stream::Stdout, sink, keep_all);
                if r.1 {
                    stop();
                }
                r
            });
            let e = s.spawn(move || {
                let r = pump(err, Stream::Stderr, sink, keep_all);
                if r.1 {
                    stop();
                }
                r
            });
            let mut timed_out = false;
            let status = match deadline {
                None => child.wait(),
                Some(deadline) => loop {
                    match child.try_wait() {
                        Ok(Some(st)) => break Ok(st),
                        Ok(None) if Instant::now() >= deadline => {
                            timed_out = true;
                            if let Ok(pgid) = i32::try_from(pid) {
                                let _ = nix::sys::signal::killpg(
                                    nix::unistd::Pid::from_raw(pgid),
                                    nix::sys::signal::Signal::SIGKILL,
                                );
                            }
                            let _ = child.kill();
                            break child.wait();
                        }
                        Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                        Err(e) => break Err(e),
                    }
                },
            };
            let _ = writer.join();
            let (stdout, o_over) = o.join().unwrap_or_default();
            let (stderr, e_over) = e.join().unwrap_or_default();
            (stdout, stderr, status, (timed_out, o_over || e_over))
        });
        let (timed_out, overflowed) = timed_out;
        let status = status?;
        Ok(RawOutput {
            code: status.code(),
            signal: status.signal(),
            stdout,
            stderr,
            timed_out,
            overflowed,
        })
    }

    fn resolve(&self, program: &OsStr) -> Option<PathBuf> {
        resolve_program(
            program,
            |k: &str| std::env::var_os(k),
            std::env::var_os("PATH"),
        )
    }
}

/// The override variable for a tool: `pct` → `PHOENIX_PCT`, `pve-sim` → `PHOENIX_PVE_SIM`.
pub fn override_var(program: &str) -> String {
    let up: String = program
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("PHOENIX_{up}")
}

/// Resolves a program: a path is used as is; a bare name is looked up as
/// `$PHOENIX_<NAME>` and then along `path`.
pub fn resolve_program(
    program: &OsStr,
    var: impl Fn(&str) -> Option<OsString>,
    path: Option<OsString>,
) -> Option<PathBuf> {
    let p = Path::new(program);
    if p.components().count() > 1 || p.is_absolute() {
        return Some(p.to_path_buf());
    }
    if let Some(o) = var(&override_var(&program.to_string_lossy())).filter(|o| !o.is_empty()) {
        return Some(PathBuf::from(o));
    }
    let path = path?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|c| is_executable(c))
}

/// Whether this process may change file owners (it runs as root). Planners use it to
/// report ownership they cannot fix instead of planning a change that cannot happen.
pub fn can_chown() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Whether `p` is a regular file with an execute bit.
pub fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Something a dry run would have done.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Planned {
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

impl fmt::Display for Planned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Planned::Command { cmd } => write!(f, "run `{cmd}`"),
            Planned::Write { path, bytes, mode } => write!(
                f,
                "write {} ({bytes} bytes, mode {mode:04o})",
                path.display()
            ),
            Planned::Mkdir { path } => write!(f, "create directory {}", path.display()),
            Planned::Remove { path } => write!(f, "remove {}", path.display()),
            Planned::Chown { path, uid, gid } => {
                write!(f, "change the owner of {} to {uid}:{gid}", path.display())
            }
            Planned::Chmod { path, mode } => {
                write!(f, "change the mode of {} to {mode:04o}", path.display())
            }
            Planned::Symlink { link, target } => {
                write!(f, "link {} -> {}", link.display(), target.display())
            }
        }
    }
}

/// How a file write ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The file already had this content and mode; nothing was written.
    Unchanged,
    /// The file was (re)written.
    Written,
    /// Dry run: recorded, not written.
    Planned,
}

/// Mode and owner of a file to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileSpec {
    /// Permission bits (e.g. `0o644`, `0o600` for secrets).
    pub mode: u32,
    /// Owner uid/gid; `None` keeps the writer's.
    pub owner: Option<(u32, u32)>,
}

impl FileSpec {
    /// A file with the given mode, owned by the writer.
    pub fn mode(mode: u32) -> Self {
        Self { mode, owner: None }
    }
}

/// Validates a file's new content (in its temporary file) before it replaces the old one.
pub type Check<'a> = &'a dyn Fn(&Path) -> anyhow::Result<()>;

/// Runs commands and writes files, honoring dry-run.
#[derive(Clone)]
pub struct Runner {
    exec: Arc<dyn Exec>,
    dry_run: bool,
    journal: Arc<Mutex<Vec<Planned>>>,
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
    pub fn journal(&self) -> Vec<Planned> {
        self.journal.lock().map(|j| j.clone()).unwrap_or_default()
    }

    fn record(&self, p: Planned) {
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
            self.record(Planned::Command { cmd: rendered });
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

    /// Creates a directory (and parents) with `mode` for the directories it creates.
    pub fn ensure_dir(&self, path: &Path, mode: u32) -> anyhow::Result<WriteOutcome> {
        use anyhow::Context as _;
        use std::os::unix::fs::DirBuilderExt;
        if path.is_dir() {
            return Ok(WriteOutcome::Unchanged);
        }
        if self.dry_run {
            self.record(Planned::Mkdir {
                path: path.to_path_buf(),
            });
            return Ok(WriteOutcome::Planned);
        }
        tracing::info!(path = %path.display(), "creating directory");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(path)
            .with_context(|| format!("failed to create directory {}", path.display()))?;
        // The process umask narrows `mode` (0770 becomes 0750 under 022): the directory asked
        // for gets exactly its mode.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("failed to set the mode of {}", path.display()))?;
        Ok(WriteOutcome::Written)
    }

    /// Gives `path` (not recursively) to `uid:gid`. Nothing happens when it already belongs to
    /// them; a dry run records the change. Only root can give files away: without it the
    /// change is skipped with a warning (a Proxmox host runs us as root).
    pub fn set_owner(&self, path: &Path, uid: u32, gid: u32) -> anyhow::Result<WriteOutcome> {
        use anyhow::Context as _;
        use std::os::unix::fs::MetadataExt;
        if let Ok(m) = std::fs::metadata(path) {
            if m.uid() == uid && m.gid() == gid {
                return Ok(WriteOutcome::Unchanged);
            }
        }
        if self.dry_run {
            self.record(Planned::Chown {
                path: path.to_path_buf(),
                uid,
                gid,
            });
            return Ok(WriteOutcome::Planned);
        }
        if !can_chown() {
            tracing::warn!(path = %path.display(), "not root: leaving the owner of {} as it is (wanted {uid}:{gid})", path.display());
            return Ok(WriteOutcome::Unchanged);
        }
        tracing::info!(path = %path.display(), "changing owner to {uid}:{gid}");
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).with_context(|| {
            format!(
                "failed to change the owner of {} to {uid}:{gid}",
                path.display()
            )
        })?;
        Ok(WriteOutcome::Written)
    }

    /// Removes the file `path`; nothing happens when it is absent. A dry run records it.
    pub fn remove_file(&self, path: &Path) -> anyhow::Result<WriteOutcome> {
        use anyhow::Context as _;
        if std::fs::symlink_metadata(path).is_err() {
            return Ok(WriteOutcome::Unchanged);
        }
        if self.dry_run {
            self.record(Planned::Remove {
                path: path.to_path_buf(),
            });
            return Ok(WriteOutcome::Planned);
        }
        tracing::debug!(path = %path.display(), "removing file");
        std::fs::remove_file(path)
            .with_context(|| format!("failed to remove {}", path.display()))?;
        Ok(WriteOutcome::Written)
    }

    /// Removes the directory `path` with everything in it (symbolic links are removed, not
    /// followed); nothing happens when it is absent. A dry run records it. For data the
    /// operator asked to delete (`sync --reset-portainer`), never for anything inferred.
    pub fn remove_tree(&self, path: &Path) -> anyhow::Result<WriteOutcome> {
        use anyhow::Context as _;
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return Ok(WriteOutcome::Unchanged);
        };
        if !meta.is_dir() {
            anyhow::bail!("{} is not a directory; not removed", path.display());
        }
        if self.dry_run {
            self.record(Planned::Remove {
                path: path.to_path_buf(),
            });
            return Ok(WriteOutcome::Planned);
        }
        tracing::info!(path = %path.display(), "removing directory and its contents");
        std::fs::remove_dir_all(path)
            .with_context(|| format!("failed to remove {}", path.display()))?;
        Ok(WriteOutcome::Written)
    }

    /// Writes `value` into an existing kernel parameter file (`/sys/module/zfs/parameters/…`,
    /// `/proc/sys/…`) in place: such files cannot be replaced by a rename. Skipped when the
    /// value is already there; planned in a dry run.
    pub fn write_kernel_param(&self, path: &Path, value: &str) -> anyhow::Result<WriteOutcome> {
        use anyhow::Context as _;
        let current = crate::files::read_to_string(path)?;
        if current.trim() == value.trim() {
            return Ok(WriteOutcome::Unchanged);
        }
        if self.dry_run {
            self.record(Planned::Write {
                path: path.to_path_buf(),
                bytes: value.len(),
                mode: 0,
            });
            return Ok(WriteOutcome::Planned);
        }
        tracing::info!(path = %path.display(), value, "writing kernel parameter");
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)
            .and_then(|mut f| f.write_all(value.as_bytes()))
            .with_context(|| format!("cannot write {value} to {}", path.display()))?;
        Ok(WriteOutcome::Written)
    }

    /// Writes `contents` to `path` atomically (temp file in the same directory, fsync,
    /// rename) with `spec`'s mode and owner. Does nothing when the file already has this
    /// content and mode. The parent directory must exist.
    pub fn write_file(
        &self,
        path: &Path,
        contents: &[u8],
        spec: FileSpec,
    ) -> anyhow::Result<WriteOutcome> {
        self.write_inner(path, contents, spec, None)
    }

    /// Like [`Runner::write_file`], but `check` sees the new content in the temporary file
    /// (same directory, hidden name, final mode) before it replaces `path`; an error from
    /// `check` leaves `path` as it was and removes the temporary file. This is how files a
    /// daemon reads are validated first (`visudo -c -f`, `dnsmasq --test`, `testparm`). A dry
    /// run records the write and does not run the check.
    pub fn write_checked(
        &self,
        path: &Path,
        contents: &[u8],
        spec: FileSpec,
        check: Check<'_>,
    ) -> anyhow::Result<WriteOutcome> {
        self.write_inner(path, contents, spec, Some(check))
    }

    fn write_inner(
        &self,
        path: &Path,
        contents: &[u8],
        spec: FileSpec,
        check: Option<Check<'_>>,
    ) -> anyhow::Result<WriteOutcome> {
        use anyhow::Context as _;
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};

        if let Ok(meta) = std::fs::metadata(path) {
            let same_mode = meta.permissions().mode() & 0o7777 == spec.mode;
            let same_owner = spec
                .owner
                .is_none_or(|(u, g)| meta.uid() == u && meta.gid() == g);
            if same_mode && same_owner && crate::files::read(path).is_ok_and(|old| old == contents)
            {
                return Ok(WriteOutcome::Unchanged);
            }
        }
        if self.dry_run {
            self.record(Planned::Write {
                path: path.to_path_buf(),
                bytes: contents.len(),
                mode: spec.mode,
            });
            return Ok(WriteOutcome::Planned);
        }
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.phoenix-tmp.{}", std::process::id()));
        tracing::info!(path = %path.display(), mode = format!("{:04o}", spec.mode), "writing file");
        let result = (|| -> anyhow::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(spec.mode)
                .open(&tmp)
                .with_context(|| format!("failed to create {}", tmp.display()))?;
            f.write_all(contents)
                .with_context(|| format!("failed to write {}", tmp.display()))?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(spec.mode))
                .with_context(|| format!("failed to set the mode of {}", tmp.display()))?;
            if let Some((u, g)) = spec.owner {
                std::os::unix::fs::chown(&tmp, Some(u), Some(g))
                    .with_context(|| format!("failed to set the owner of {}", tmp.display()))?;
            }
            f.sync_all()
                .with_context(|| format!("failed to sync {}", tmp.display()))?;
            if let Some(check) = check {
                check(&tmp).with_context(|| {
                    format!(
                        "the new {} was rejected; the file was left as it was",
                        path.display()
                    )
                })?;
            }
            std::fs::rename(&tmp, path)
                .with_context(|| format!("failed to replace {}", path.display()))?;
            // The directory is opened only to fsync the rename, never read.
            if let Ok(d) = std::fs::OpenOptions::new().read(true).open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map(|()| WriteOutcome::Written)
    }

    /// Sets the permission bits of an existing `path` (not recursively); nothing happens when
    /// they already are `mode`. A dry run records the change.
    pub fn set_mode(&self, path: &Path, mode: u32) -> anyhow::Result<WriteOutcome> {
        use anyhow::Context as _;
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)
            .with_context(|| format!("cannot change the mode of {}", path.display()))?;
        if meta.permissions().mode() & 0o7777 == mode {
            return Ok(WriteOutcome::Unchanged);
        }
        if self.dry_run {
            self.record(Planned::Chmod {
                path: path.to_path_buf(),
                mode,
            });
            return Ok(WriteOutcome::Planned);
        }
        tracing::info!(path = %path.display(), mode = format!("{mode:04o}"), "changing mode");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).with_context(
            || {
                format!(
                    "failed to change the mode of {} to {mode:04o}",
                    path.display()
                )
            },
        )?;
        Ok(WriteOutcome::Written)
    }

    /// Makes `link` a symbolic link to `target`. A link pointing elsewhere is replaced
    /// (atomically, by renaming a new link over it); anything else at `link` — a file, a
    /// directory — is never replaced: that is an error naming it. A dry run records the
    /// change.
    pub fn symlink(&self, target: &Path, link: &Path) -> anyhow::Result<WriteOutcome> {
        use anyhow::{Context as _, bail};
        match std::fs::symlink_metadata(link) {
            Ok(m) if m.file_type().is_symlink() => {
                if std::fs::read_link(link).is_ok_and(|t| t == target) {
                    return Ok(WriteOutcome::Unchanged);
                }
            }
            Ok(_) => bail!(
                "{} exists and is not a symbolic link; it was left alone",
                link.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", link.display())),
        }
        if self.dry_run {
            self.record(Planned::Symlink {
                link: link.to_path_buf(),
                target: target.to_path_buf(),
            });
            return Ok(WriteOutcome::Planned);
        }
        tracing::info!(link = %link.display(), target = %target.display(), "linking");
        let name = link
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = link.with_file_name(format!(".{name}.phoenix-tmp.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(target, &tmp)
            .with_context(|| format!("failed to create the link {}", tmp.display()))?;
        std::fs::rename(&tmp, link).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            anyhow::Error::new(e).context(format!("failed to replace {}", link.display()))
        })?;
        Ok(WriteOutcome::Written)
    }
}

/// A scripted, recording [`Exec`] for tests: each call is recorded as its argv; replies come
/// from the first matching rule (default: success with empty output).
#[derive(Default)]
pub struct FakeExec {
    calls: Mutex<Vec<Vec<String>>>,
    rules: Mutex<Vec<(Vec<String>, RawOutput)>>,
}

impl FakeExec {
    /// A fake that answers every command with success.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Answers commands whose argv starts with `prefix` with `out`.
    pub fn reply(&self, prefix: &[&str], out: RawOutput) {
        if let Ok(mut r) = self.rules.lock() {
            r.push((prefix.iter().map(|s| (*s).to_string()).collect(), out));
        }
    }

    /// Every argv run so far.
    pub fn calls(&self) -> Vec<Vec<String>> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl fmt::Debug for FakeExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeExec")
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

impl Exec for FakeExec {
    fn exec(
        &self,
        _program: &Path,
        cmd: &Cmd,
        sink: Option<LineSink<'_>>,
    ) -> std::io::Result<RawOutput> {
        let argv: Vec<String> = cmd
            .argv()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        if let Ok(mut c) = self.calls.lock() {
            c.push(argv.clone());
        }
        let rules = self.rules.lock().map(|r| r.clone()).unwrap_or_default();
        let out = rules
            .into_iter()
            .find(|(p, _)| argv.starts_with(p))
            .map(|(_, o)| o)
            .unwrap_or(RawOutput {
                code: Some(0),
                ..RawOutput::default()
            });
        if let Some(sink) = sink {
            for l in String::from_utf8_lossy(&out.stdout).lines() {
                sink(Stream::Stdout, l);
            }
            for l in String::from_utf8_lossy(&out.stderr).lines() {
                sink(Stream::Stderr, l);
            }
        }
        Ok(out)
    }

    fn resolve(&self, program: &OsStr) -> Option<PathBuf> {
        Some(PathBuf::from(program))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing(code: i32, stderr: &str) -> RawOutput {
        RawOutput {
            code: Some(code),
            stderr: stderr.as_bytes().to_vec(),
            ..RawOutput::default()
        }
    }

    /// A command whose kept output grows past MAX_OUTPUT (a guest "file" that is /dev/zero)
    /// is stopped and fails; it does not fill the memory or hang.
    #[test]
    fn endless_output_is_stopped_and_fails() {
        let r = Runner::system(false);
        let e = r
            .run(&Cmd::read("cat").arg("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("printed more than 16 MiB"), "{e}");
        let e = r
            .run(
                &Cmd::read("sh")
                    .args(["-c", "yes"])
                    .timeout(Duration::from_secs(60)),
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("printed more than 16 MiB"), "{e}");
    }

    #[test]
    fn renders_shell_quoted() {
        let c = Cmd::mutate("pct").args([
            "set",
            "101",
            "--description",
            "it's a test",
            "--memory",
            "4096",
        ]);
        assert_eq!(
            c.to_string(),
            r#"pct set 101 --description "it's a test" --memory 4096"#
        );
    }

    #[test]
    fn dry_run_records_mutations_and_runs_reads() {
        let fake = FakeExec::new();
        let r = Runner::with_exec(fake.clone(), true);
        let out = r.run(&Cmd::mutate("pct").args(["start", "101"])).unwrap();
        assert!(!out.executed);
        r.run(&Cmd::read("pct").args(["status", "101"])).unwrap();
        assert_eq!(fake.calls(), vec![vec!["pct", "status", "101"]]);
        assert_eq!(
            r.journal(),
            vec![Planned::Command {
                cmd: "pct start 101".into()
            }]
        );
    }

    #[test]
    fn failures_carry_command_status_and_stderr() {
        let fake = FakeExec::new();
        fake.reply(&["pct", "set"], failing(25, "unable to parse value\n"));
        let r = Runner::with_exec(fake, false);
        let e = r
            .run(&Cmd::mutate("pct").args(["set", "101", "--memory", "x"]))
            .unwrap_err();
        assert_eq!(e.code(), Some(25));
        assert_eq!(
            e.to_string(),
            "`pct set 101 --memory x` failed (exit status: 25)\n--- stderr\nunable to parse value"
        );
    }

    #[test]
    fn trees_are_removed_without_following_links() {
        let d = tempfile::tempdir().unwrap();
        let keep = d.path().join("keep");
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::write(keep.join("precious"), "x").unwrap();
        let tree = d.path().join("data");
        std::fs::create_dir_all(tree.join("sub")).unwrap();
        std::fs::write(tree.join("sub/f"), "y").unwrap();
        std::os::unix::fs::symlink(&keep, tree.join("link")).unwrap();
        let dry = Runner::system(true);
        assert_eq!(dry.remove_tree(&tree).unwrap(), WriteOutcome::Planned);
        assert!(tree.join("sub/f").exists());
        let r = Runner::system(false);
        assert_eq!(r.remove_tree(&tree).unwrap(), WriteOutcome::Written);
        assert!(!tree.exists());
        assert!(keep.join("precious").exists(), "the link's target stays");
        assert_eq!(r.remove_tree(&tree).unwrap(), WriteOutcome::Unchanged);
        assert!(r.remove_tree(&keep.join("precious")).is_err());
    }

    #[test]
    fn ok_codes_widen_success() {
        let fake = FakeExec::new();
        fake.reply(&["grep"], failing(1, ""));
        let r = Runner::with_exec(fake, false);
        assert!(r.run(&Cmd::read("grep").ok_codes(&[0, 1])).is_ok());
        assert!(r.run(&Cmd::read("grep")).is_err());
    }

    #[test]
    fn system_exec_runs_real_processes() {
        let r = Runner::system(false);
        let out = r
            .run(
                &Cmd::read("/bin/sh")
                    .args(["-c", "read x; echo \"got $x\"; echo warn >&2"])
                    .stdin("secret\n"),
            )
            .unwrap();
        assert_eq!(out.stdout_str(), "got secret\n");
        assert_eq!(out.stderr_str(), "warn\n");
        let e = r
            .run(&Cmd::read("/bin/sh").args(["-c", "echo boom >&2; exit 3"]))
            .unwrap_err();
        assert_eq!(e.code(), Some(3));
        assert!(
            e.to_string()
                .ends_with("(exit status: 3)\n--- stderr\nboom"),
            "{e}"
        );
        let t = r
            .run(
                &Cmd::read("/bin/sh")
                    .args(["-c", "sleep 5"])
                    .timeout(Duration::from_millis(50)),
            )
            .unwrap_err();
        assert!(matches!(t, CmdError::TimedOut { .. }), "{t}");
    }

    #[test]
    fn streaming_delivers_lines_as_they_come() {
        let r = Runner::system(false);
        let lines = Mutex::new(Vec::new());
        let sink = |s: Stream, l: &str| lines.lock().unwrap().push((s, l.to_string()));
        r.run_streaming(
            &Cmd::read("/bin/sh").args(["-c", "echo a; echo b >&2; printf c"]),
            &sink,
        )
        .unwrap();
        let mut got = lines.into_inner().unwrap();
        got.sort();
        assert_eq!(
            got,
            vec![
                (Stream::Stdout, "a".to_string()),
                (Stream::Stdout, "c".to_string()),
                (Stream::Stderr, "b".to_string())
            ]
        );
    }

    #[test]
    fn missing_programs_name_the_override() {
        let r = Runner::system(false);
        let e = r
            .run(&Cmd::read("definitely-not-a-phoenix-tool"))
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("PHOENIX_DEFINITELY_NOT_A_PHOENIX_TOOL"),
            "{e}"
        );
    }

    #[test]
    fn resolution_prefers_the_override_then_path() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("pct");
        std::fs::write(&bin, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = Some(dir.path().as_os_str().to_os_string());
        assert_eq!(
            resolve_program(OsStr::new("pct"), |_| None, path.clone()),
            Some(bin.clone())
        );
        let over = |k: &str| (k == "PHOENIX_PCT").then(|| OsString::from("/opt/pct"));
        assert_eq!(
            resolve_program(OsStr::new("pct"), over, path.clone()),
            Some(PathBuf::from("/opt/pct"))
        );
        assert_eq!(resolve_program(OsStr::new("qm"), |_| None, path), None);
    }

    #[test]
    fn writes_are_atomic_idempotent_and_dry_run_aware() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("101.fw");
        let dry = Runner::with_exec(FakeExec::new(), true);
        assert_eq!(
            dry.write_file(&p, b"[OPTIONS]\n", FileSpec::mode(0o640))
                .unwrap(),
            WriteOutcome::Planned
        );
        assert!(!p.exists());
        let r = Runner::with_exec(FakeExec::new(), false);
        assert_eq!(
            r.write_file(&p, b"[OPTIONS]\n", FileSpec::mode(0o640))
                .unwrap(),
            WriteOutcome::Written
        );
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(
            r.write_file(&p, b"[OPTIONS]\n", FileSpec::mode(0o640))
                .unwrap(),
            WriteOutcome::Unchanged
        );
        assert_eq!(
            dry.write_file(&p, b"[OPTIONS]\n", FileSpec::mode(0o640))
                .unwrap(),
            WriteOutcome::Unchanged
        );
        assert_eq!(
            r.write_file(&p, b"[OPTIONS]\n", FileSpec::mode(0o600))
                .unwrap(),
            WriteOutcome::Written
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp files left"
        );
        let sub = dir.path().join("a/b");
        assert_eq!(dry.ensure_dir(&sub, 0o755).unwrap(), WriteOutcome::Planned);
        assert!(!sub.exists());
        assert_eq!(r.ensure_dir(&sub, 0o755).unwrap(), WriteOutcome::Written);
        assert_eq!(r.ensure_dir(&sub, 0o755).unwrap(), WriteOutcome::Unchanged);
        assert_eq!(dry.remove_file(&p).unwrap(), WriteOutcome::Planned);
        assert!(p.exists());
        assert!(matches!(dry.journal().last(), Some(Planned::Remove { path }) if *path == p));
        assert_eq!(r.remove_file(&p).unwrap(), WriteOutcome::Written);
        assert!(!p.exists());
        assert_eq!(r.remove_file(&p).unwrap(), WriteOutcome::Unchanged);
    }

    #[test]
    fn debug_never_shows_stdin() {
        let c = Cmd::mutate("chpasswd")
            .arg("-e")
            .stdin("admin:$6$secret$hash\n");
        let d = format!("{c:?}");
        assert!(!d.contains("secret") && d.contains("<21 bytes>"), "{d}");
    }

    #[test]
    fn checked_writes_replace_only_what_the_check_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("phoenix");
        std::fs::write(&p, "old\n").unwrap();
        let r = Runner::with_exec(FakeExec::new(), false);
        let reject = |tmp: &Path| -> anyhow::Result<()> {
            assert_eq!(std::fs::read_to_string(tmp).unwrap(), "bad\n");
            anyhow::bail!("syntax error near line 1")
        };
        let e = r
            .write_checked(&p, b"bad\n", FileSpec::mode(0o440), &reject)
            .unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("was rejected") && msg.contains("syntax error"),
            "{msg}"
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old\n");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp removed"
        );
        let accept = |_: &Path| -> anyhow::Result<()> { Ok(()) };
        assert_eq!(
            r.write_checked(&p, b"good\n", FileSpec::mode(0o440), &accept)
                .unwrap(),
            WriteOutcome::Written
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "good\n");
        let never = |_: &Path| -> anyhow::Result<()> { panic!("a dry run checks nothing") };
        let dry = Runner::with_exec(FakeExec::new(), true);
        assert_eq!(
            dry.write_checked(&p, b"other\n", FileSpec::mode(0o440), &never)
                .unwrap(),
            WriteOutcome::Planned
        );
    }

    #[test]
    fn links_are_made_repointed_and_never_replace_files() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("phoenix");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let r = Runner::with_exec(FakeExec::new(), false);
        let dry = Runner::with_exec(FakeExec::new(), true);
        assert_eq!(dry.symlink(&a, &link).unwrap(), WriteOutcome::Planned);
        assert!(std::fs::symlink_metadata(&link).is_err());
        assert_eq!(r.symlink(&a, &link).unwrap(), WriteOutcome::Written);
        assert_eq!(r.symlink(&a, &link).unwrap(), WriteOutcome::Unchanged);
        assert_eq!(r.symlink(&b, &link).unwrap(), WriteOutcome::Written);
        assert_eq!(std::fs::read_link(&link).unwrap(), b);
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let e = r.symlink(&a, &file).unwrap_err().to_string();
        assert!(e.contains("is not a symbolic link"), "{e}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    }

    #[test]
    fn modes_change_only_when_different() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("share");
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let r = Runner::with_exec(FakeExec::new(), false);
        let dry = Runner::with_exec(FakeExec::new(), true);
        assert_eq!(dry.set_mode(&d, 0o770).unwrap(), WriteOutcome::Planned);
        assert_eq!(r.set_mode(&d, 0o770).unwrap(), WriteOutcome::Written);
        assert_eq!(r.set_mode(&d, 0o770).unwrap(), WriteOutcome::Unchanged);
        assert_eq!(
            std::fs::metadata(&d).unwrap().permissions().mode() & 0o7777,
            0o770
        );
    }

    #[test]
    fn kernel_parameters_are_written_in_place_and_planned_in_dry_runs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("zfs_arc_max");
        std::fs::write(&p, "0\n").unwrap();
        let dry = Runner::system(true);
        assert_eq!(
            dry.write_kernel_param(&p, "1024").unwrap(),
            WriteOutcome::Planned
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "0\n");
        let r = Runner::system(false);
        assert_eq!(
            r.write_kernel_param(&p, "1024").unwrap(),
            WriteOutcome::Written
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "1024");
        assert_eq!(
            r.write_kernel_param(&p, "1024").unwrap(),
            WriteOutcome::Unchanged
        );
        assert!(
            r.write_kernel_param(&dir.path().join("absent"), "1")
                .is_err()
        );
    }
}
