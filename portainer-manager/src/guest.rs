//! The guests sync works in: whether one is there and running, and reading, writing and
//! running inside it — `pct exec`/`pct push` for containers, the QEMU guest agent for VMs
//! (`phoenix_core::pve::agent`, whose results come from the agent's JSON, never from `qm`'s own
//! exit status). Every command goes through the runner; reads run in dry runs too.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use phoenix_core::cmd::{FileSpec, Runner};
use phoenix_core::converge::observe;
use phoenix_core::ids::{GuestId, GuestKind};
use phoenix_core::paths::Layout;
use phoenix_core::pve::agent;
use phoenix_core::pve::tool::pct_exec;

/// A guest to work in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guest {
    /// Container or VM.
    pub kind: GuestKind,
    /// ID.
    pub id: GuestId,
}

impl std::fmt::Display for Guest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            GuestKind::Lxc => write!(f, "container {}", self.id),
            GuestKind::Vm => write!(f, "VM {}", self.id),
        }
    }
}

/// What a command printed and how it ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ran {
    /// Exit status.
    pub code: i64,
    /// Standard output.
    pub out: String,
    /// Standard error (or the tail of the output).
    pub err: String,
}

/// How long one command in a guest may take (image pulls included).
const DEADLINE: Duration = Duration::from_secs(900);

impl Guest {
    /// A container.
    pub fn ct(id: GuestId) -> Self {
        Self {
            kind: GuestKind::Lxc,
            id,
        }
    }

    /// A VM.
    pub fn vm(id: GuestId) -> Self {
        Self {
            kind: GuestKind::Vm,
            id,
        }
    }

    /// `Err(reason)` unless the guest exists and runs (the reason is what the summary says).
    pub fn ready(&self, layout: &Layout, runner: &Runner) -> anyhow::Result<Result<(), String>> {
        if observe::conf(layout, self.kind, self.id)?.is_none() {
            return Ok(Err(format!("{self} does not exist yet")));
        }
        if !observe::running(runner, self.kind, self.id)? {
            return Ok(Err(format!("{self} is not running")));
        }
        if self.kind == GuestKind::Vm && !runner.is_dry_run() {
            agent::wait(runner, self.id, Duration::from_secs(120))?;
        }
        Ok(Ok(()))
    }

    /// Runs `argv` in the guest; a non-zero exit is returned, not an error.
    pub fn exec(&self, runner: &Runner, argv: &[String], mutates: bool) -> anyhow::Result<Ran> {
        match self.kind {
            GuestKind::Lxc => {
                let cmd = pct_exec(self.id, argv, mutates);
                // `pct exec` exits with the guest command's status: a non-zero one is the
                // command's answer, not a failure to run it.
                match runner.run(&cmd) {
                    Ok(out) => Ok(Ran {
                        code: i64::from(out.code.unwrap_or(0)),
                        out: out.stdout_str(),
                        err: out.stderr_str(),
                    }),
                    Err(phoenix_core::cmd::CmdError::Failed {
                        code: Some(code),
                        stdout,
                        stderr,
                        ..
                    }) => Ok(Ran {
                        code: i64::from(code),
                        out: stdout,
                        err: stderr,
                    }),
                    Err(e) => {
                        Err(e).with_context(|| format!("cannot run `{}` in {self}", argv.join(" ")))
                    }
                }
            }
            GuestKind::Vm => {
                let d = agent::exec(
                    runner,
                    self.id,
                    &agent::Exec {
                        argv,
                        stdin: None,
                        mutates,
                        deadline: DEADLINE,
                    },
                )?;
                Ok(Ran {
                    code: d.code,
                    err: d.tail(),
                    out: d.out,
                })
            }
        }
    }

    /// Runs `argv`, which must succeed.
    pub fn check(&self, runner: &Runner, argv: &[String], mutates: bool) -> anyhow::Result<Ran> {
        let r = self.exec(runner, argv, mutates)?;
        if r.code != 0 && !(runner.is_dry_run() && mutates) {
            bail!(
                "`{}` failed in {self} (exit {}): {}",
                argv.join(" "),
                r.code,
                r.err.trim()
            );
        }
        Ok(r)
    }

    /// A file's content, `None` when it cannot be read (missing).
    pub fn read(&self, runner: &Runner, path: &str) -> anyhow::Result<Option<String>> {
        let r = self.exec(runner, &["cat".into(), path.into()], false)?;
        Ok((r.code == 0).then_some(r.out))
    }

    /// Writes a file in the guest with `mode` (parents created): a container gets it with
    /// `pct push` from a staged host copy (mode 0600 under the run directory), a VM on the
    /// guest agent's stdin. Never in argv.
    pub fn write(
        &self,
        runner: &Runner,
        layout: &Layout,
        path: &str,
        data: &[u8],
        mode: u32,
    ) -> anyhow::Result<()> {
        match self.kind {
            GuestKind::Lxc => {
                if let Some(parent) = std::path::Path::new(path).parent() {
                    self.check(
                        runner,
                        &["mkdir".into(), "-p".into(), parent.display().to_string()],
                        true,
                    )?;
                }
                let staged = self.stage(runner, layout, data)?;
                phoenix_core::pve::tool::push_checked(
                    runner,
                    self.id,
                    &staged,
                    path,
                    &format!("{mode:04o}"),
                )
                .with_context(|| format!("cannot push {path} into {self}"))?;
                runner.remove_file(&staged)?;
                Ok(())
            }
            GuestKind::Vm => agent::write_file(runner, self.id, path, data, &format!("{mode:04o}")),
        }
    }

    fn stage(&self, runner: &Runner, layout: &Layout, data: &[u8]) -> anyhow::Result<PathBuf> {
        let dir = layout.run_dir().join(format!("sync-{}", self.id));
        runner.ensure_dir(&dir, 0o700)?;
        let p = dir.join(format!("push-{}", std::process::id()));
        runner.write_file(&p, data, FileSpec::mode(0o600))?;
        Ok(p)
    }
}
