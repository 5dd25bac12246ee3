//! Talking to the guest through the QEMU guest agent: waiting until it answers, running
//! commands and reading their result from the agent's JSON (`exited`, `exitcode`,
//! `out-data`, `err-data`, polled with `qm guest exec-status` when the command outlives one
//! call) — never from `qm`'s own exit status, which is 0 whatever the guest command did —
//! and writing files by passing their content on stdin (never in argv).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{ExecStatus, parse_exec};
use crate::cmd::{Cmd, Runner};
use crate::ids::GuestId;

/// How long one `qm guest exec` call waits before the result is polled.
const CALL_SECS: u64 = 60;

/// Sleeps between polls: short for the first two seconds (a failing agent ping usually
/// takes seconds itself), then a second.
fn backoff(n: u32) -> Duration {
    Duration::from_millis(if n < 20 { 100 } else { 1000 })
}

/// Waits until `qm guest cmd <id> ping` succeeds, at most `deadline`.
pub fn wait(runner: &Runner, id: GuestId, deadline: Duration) -> anyhow::Result<()> {
    if runner.is_dry_run() {
        return Ok(());
    }
    let end = Instant::now() + deadline;
    let mut n = 0;
    loop {
        match runner.run(&agent_ping(id)) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= end => {
                return Err(e).with_context(|| {
                    format!(
                        "the QEMU guest agent of VM {id} did not answer within {}s (agent_timeout_secs); is qemu-guest-agent installed and running in the guest?",
                        deadline.as_secs()
                    )
                });
            }
            Err(_) => std::thread::sleep(backoff(n)),
        }
        n += 1;
    }
}

/// A finished guest command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Done {
    /// Exit code.
    pub code: i64,
    /// Standard output.
    pub out: String,
    /// Standard error.
    pub err: String,
}

impl Done {
    fn from(s: ExecStatus) -> Self {
        Self {
            code: s
                .exitcode
                .unwrap_or(if s.signal.is_some() { 128 } else { 0 }),
            out: if s.out_truncated == 1 {
                format!("{}\n[the guest agent cut this output]", s.out_data)
            } else {
                s.out_data
            },
            err: if s.err_truncated == 1 {
                format!("{}\n[the guest agent cut this output]", s.err_data)
            } else {
                s.err_data
            },
        }
    }

    /// The last lines of stderr (or stdout when stderr is empty), for error messages.
    pub fn tail(&self) -> String {
        let text = if self.err.trim().is_empty() {
            &self.out
        } else {
            &self.err
        };
        let lines: Vec<&str> = text.lines().rev().take(10).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n  ")
    }
}

/// What to run in the guest.
pub struct Exec<'a> {
    /// The command.
    pub argv: &'a [String],
    /// Data for its stdin (a file's content).
    pub stdin: Option<&'a [u8]>,
    /// Whether it changes the guest.
    pub mutates: bool,
    /// How long it may take.
    pub deadline: Duration,
}

/// Runs a command in the guest and waits for its result.
pub fn exec(runner: &Runner, id: GuestId, e: &Exec<'_>) -> anyhow::Result<Done> {
    let end = Instant::now() + e.deadline;
    let secs = e.deadline.as_secs().clamp(1, CALL_SECS);
    let mut cmd = guest_exec(id, e.argv, secs, e.stdin.is_some(), e.mutates);
    if let Some(data) = e.stdin {
        cmd = cmd.stdin(data.to_vec());
    }
    let shown = e.argv.join(" ");
    let out = runner
        .run(&cmd)
        .with_context(|| format!("cannot run `{shown}` in VM {id} through the guest agent"))?;
    if runner.is_dry_run() && e.mutates {
        return Ok(Done {
            code: 0,
            out: String::new(),
            err: String::new(),
        });
    }
    let mut st = parse_exec(&out.stdout_str())
        .with_context(|| format!("unexpected answer to `{shown}` in VM {id}"))?;
    let mut n = 0;
    while st.running() {
        let Some(pid) = st.pid else {
            bail!("the guest agent of VM {id} returned neither a result nor a pid for `{shown}`");
        };
        if Instant::now() >= end {
            bail!(
                "`{shown}` in VM {id} did not finish within {}s (guest pid {pid}; it keeps running in the guest)",
                e.deadline.as_secs()
            );
        }
        std::thread::sleep(backoff(n));
        n += 1;
        let o = runner
            .run(&exec_status(id, pid))
            .with_context(|| format!("cannot read the status of `{shown}` in VM {id}"))?;
        let next = parse_exec(&o.stdout_str())
            .with_context(|| format!("unexpected status of `{shown}` in VM {id}"))?;
        st = ExecStatus {
            pid: Some(pid),
            ..next
        };
    }
    Ok(Done::from(st))
}

/// Runs a command that must succeed; a non-zero exit is an error with the guest's stderr.
pub fn check(runner: &Runner, id: GuestId, e: &Exec<'_>) -> anyhow::Result<Done> {
    let d = exec(runner, id, e)?;
    if d.code != 0 {
        bail!(
            "`{}` failed in VM {id} (exit {}):\n  {}",
            e.argv.join(" "),
            d.code,
            d.tail()
        );
    }
    Ok(d)
}

/// Writes `data` to `path` in the guest with `mode` (parents created), passing the content
/// on stdin.
pub fn write_file(
    runner: &Runner,
    id: GuestId,
    path: &str,
    data: &[u8],
    mode: &str,
) -> anyhow::Result<()> {
    let argv: Vec<String> = ["install", "-D", "-m", mode, "/dev/stdin", path]
        .map(str::to_string)
        .to_vec();
    check(
        runner,
        id,
        &Exec {
            argv: &argv,
            stdin: Some(data),
            mutates: true,
            deadline: Duration::from_secs(120),
        },
    )
    .map(drop)
    .with_context(|| format!("cannot write {path} in VM {id}"))
}

/// Runs a command that only reads (no stdin), waiting at most `deadline`; its result, whatever
/// its exit code.
pub fn probe(
    runner: &Runner,
    id: GuestId,
    argv: &[&str],
    deadline: Duration,
) -> anyhow::Result<Done> {
    let argv: Vec<String> = argv.iter().map(|a| (*a).to_string()).collect();
    exec(
        runner,
        id,
        &Exec {
            argv: &argv,
            stdin: None,
            mutates: false,
            deadline,
        },
    )
}

/// Reads a small file in the guest (`None` when `cat` fails, e.g. it does not exist).
pub fn read_file(runner: &Runner, id: GuestId, path: &str) -> anyhow::Result<Option<String>> {
    let d = probe(runner, id, &["cat", path], Duration::from_secs(60))?;
    Ok((d.code == 0).then(|| d.out.trim().to_string()))
}

/// `qm guest cmd <id> ping`.
fn agent_ping(id: GuestId) -> Cmd {
    Cmd::read("qm")
        .args(["guest", "cmd", &id.to_string(), "ping"])
        .timeout(Duration::from_secs(30))
        .quiet()
}

/// `qm guest exec <id> --timeout <s> [--pass-stdin 1] -- <argv>`: waits up to `secs` and
/// prints the result, or `{"pid": N}` when the command is still running.
fn guest_exec(id: GuestId, argv: &[String], secs: u64, stdin: bool, mutates: bool) -> Cmd {
    let base = if mutates {
        Cmd::mutate("qm")
    } else {
        Cmd::read("qm")
    };
    let mut c = base.args([
        "guest",
        "exec",
        &id.to_string(),
        "--timeout",
        &secs.to_string(),
    ]);
    if stdin {
        c = c.args(["--pass-stdin", "1"]);
    }
    c.arg("--")
        .args(argv)
        .timeout(Duration::from_secs(secs + 30))
}

/// `qm guest exec-status <id> <pid>`.
fn exec_status(id: GuestId, pid: u64) -> Cmd {
    Cmd::read("qm")
        .args(["guest", "exec-status", &id.to_string(), &pid.to_string()])
        .timeout(Duration::from_secs(30))
        .quiet()
}
