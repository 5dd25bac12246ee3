//! The process boundary: the [`Exec`] trait, [`SystemExec`] (real processes, pipes pumped
//! with bounded buffers and timeouts), and how a program is found.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::*;

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
