//! Thin builders for the lifecycle commands `pct` and `qm` share (argv only, each marked read
//! or mutate): status, set, resize, start, shutdown, stop, reboot, snapshots, template, destroy;
//! and `pct exec`/`pct push`, which the container manager and sync both use.
//! Both guest managers build these through one [`Tool`], so the two never drift apart.

use std::time::Duration;

use crate::cmd::Cmd;
use crate::ids::{GuestId, GuestKind};

/// `pct` or `qm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// Containers.
    Pct,
    /// Virtual machines.
    Qm,
}

impl Tool {
    /// The tool for a guest kind.
    pub fn of(kind: GuestKind) -> Self {
        match kind {
            GuestKind::Lxc => Tool::Pct,
            GuestKind::Vm => Tool::Qm,
        }
    }

    /// The program name.
    pub fn program(self) -> &'static str {
        match self {
            Tool::Pct => "pct",
            Tool::Qm => "qm",
        }
    }

    fn mutate(self, verb: &str, id: GuestId) -> Cmd {
        Cmd::mutate(self.program()).arg(verb).arg(id.to_string())
    }

    /// `<tool> status <id>`.
    pub fn status(self, id: GuestId) -> Cmd {
        Cmd::read(self.program()).arg("status").arg(id.to_string())
    }

    /// `<tool> set <id> --k v … [--delete a,b]`.
    pub fn set(self, id: GuestId, opts: &[(String, String)], delete: &[String]) -> Cmd {
        let mut c = self.mutate("set", id);
        for (k, v) in opts {
            c = c.arg(format!("--{k}")).arg(v);
        }
        if !delete.is_empty() {
            c = c.arg("--delete").arg(delete.join(","));
        }
        c
    }

    /// `pct resize <id> <disk> <n>G` / `qm disk resize <id> <disk> <n>G`.
    pub fn resize(self, id: GuestId, disk: &str, gib: u64) -> Cmd {
        let c = match self {
            Tool::Pct => Cmd::mutate("pct").arg("resize"),
            Tool::Qm => Cmd::mutate("qm").args(["disk", "resize"]),
        };
        c.args([id.to_string(), disk.to_string(), format!("{gib}G")])
            .timeout(Duration::from_secs(600))
    }

    /// `<tool> start <id>`.
    pub fn start(self, id: GuestId) -> Cmd {
        self.mutate("start", id).timeout(Duration::from_secs(300))
    }

    /// `<tool> shutdown <id> --timeout <s>`.
    pub fn shutdown(self, id: GuestId, secs: u64) -> Cmd {
        self.mutate("shutdown", id)
            .args(["--timeout".to_string(), secs.to_string()])
            .timeout(Duration::from_secs(secs + 30))
    }

    /// `<tool> stop <id>`.
    pub fn stop(self, id: GuestId) -> Cmd {
        self.mutate("stop", id).timeout(Duration::from_secs(120))
    }

    /// `<tool> reboot <id>`.
    pub fn reboot(self, id: GuestId) -> Cmd {
        self.mutate("reboot", id).timeout(Duration::from_secs(300))
    }

    /// `<tool> snapshot <id> <name>`.
    pub fn snapshot(self, id: GuestId, name: &str) -> Cmd {
        self.mutate("snapshot", id).arg(name)
    }

    /// `<tool> delsnapshot <id> <name>`.
    pub fn delsnapshot(self, id: GuestId, name: &str) -> Cmd {
        self.mutate("delsnapshot", id).arg(name)
    }

    /// `<tool> rollback <id> <name>`.
    pub fn rollback(self, id: GuestId, name: &str) -> Cmd {
        self.mutate("rollback", id).arg(name)
    }

    /// `<tool> template <id>`.
    pub fn template(self, id: GuestId) -> Cmd {
        self.mutate("template", id)
    }

    /// `<tool> destroy <id> [--purge]`.
    pub fn destroy(self, id: GuestId, purge: bool) -> Cmd {
        let c = self.mutate("destroy", id);
        if purge { c.arg("--purge") } else { c }
    }
}

/// `pct exec <id> -- <argv>`; `mutates` says whether it changes the guest (the runner logs,
/// dry-runs and audits it accordingly). Its exit status is the guest command's.
pub fn pct_exec(id: GuestId, argv: &[String], mutates: bool) -> Cmd {
    let base = if mutates {
        Cmd::mutate("pct")
    } else {
        Cmd::read("pct")
    };
    base.arg("exec").arg(id.to_string()).arg("--").args(argv)
}

/// `pct push <id> <host file> <guest path> --perms <mode>`.
pub fn pct_push(id: GuestId, src: &std::path::Path, dest: &str, perms: &str) -> Cmd {
    Cmd::mutate("pct")
        .arg("push")
        .arg(id.to_string())
        .arg(src)
        .arg(dest)
        .arg("--perms")
        .arg(perms)
}

/// `pct push`, then a check that the guest holds what was pushed: `pct push` exits 0 when its
/// task failed (pve-container src/PVE/CLI/pct.pm: the `push` entry has no `upid_exit`), so its
/// status says nothing. The file is read back (`cat`; what is pushed is small) and compared.
/// A dry run only records the push.
pub fn push_checked(
    runner: &crate::cmd::Runner,
    id: GuestId,
    src: &std::path::Path,
    dest: &str,
    perms: &str,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    runner
        .run(&pct_push(id, src, dest, perms))
        .with_context(|| format!("cannot push {dest} into container {id}"))?;
    if runner.is_dry_run() {
        return Ok(());
    }
    let want = crate::files::read(src)?;
    let got = match runner.run(&pct_exec(id, &["cat".into(), dest.into()], false)) {
        Ok(o) => o,
        Err(crate::cmd::CmdError::Failed { code: Some(_), .. }) => anyhow::bail!(
            "pct push said it wrote {dest} into container {id}, but the container does not hold it (pct push exits 0 when its task fails)"
        ),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read {dest} back from container {id}"));
        }
    };
    if got.stdout != want {
        anyhow::bail!(
            "pct push said it wrote {dest} into container {id}, but the container holds {} bytes of other content, not the {} pushed (pct push exits 0 when its task fails)",
            got.stdout.len(),
            want.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(c: &Cmd) -> Vec<String> {
        c.get_args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn both_tools_build_the_same_verbs() {
        let id = GuestId(1001);
        assert_eq!(
            argv(&Tool::Qm.shutdown(id, 60)),
            ["shutdown", "1001", "--timeout", "60"]
        );
        assert_eq!(
            argv(&Tool::Pct.resize(id, "rootfs", 64)),
            ["resize", "1001", "rootfs", "64G"]
        );
        assert_eq!(
            argv(&Tool::Qm.resize(id, "scsi0", 64)),
            ["disk", "resize", "1001", "scsi0", "64G"]
        );
        assert_eq!(
            argv(&Tool::Qm.set(
                id,
                &[("memory".into(), "8192".into())],
                &["cicustom".into()]
            )),
            ["set", "1001", "--memory", "8192", "--delete", "cicustom"]
        );
        assert_eq!(
            argv(&Tool::Qm.destroy(id, true)),
            ["destroy", "1001", "--purge"]
        );
        assert_eq!(Tool::Qm.status(id).effect(), crate::cmd::Effect::Read);
        assert_eq!(
            Tool::Pct.snapshot(id, "final-form").effect(),
            crate::cmd::Effect::Mutate
        );
        assert_eq!(Tool::of(GuestKind::Vm).program(), "qm");
    }
}
