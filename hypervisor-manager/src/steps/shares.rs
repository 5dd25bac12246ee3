//! NFS exports, declaratively: `/etc/exports.d/phoenix.exports` holds one line per configured
//! export (`<path> <client>(<options>) …`), the exported directories exist (0755, never
//! world-writable), and `exportfs -ra` runs only when the file changed. `/etc/exports` and
//! other files in `exports.d` are left alone. Samba shares follow (reported as not available
//! yet when configured, so the step never claims them).

use anyhow::{Context, bail};
use phoenix_core::cmd::{Cmd, FileSpec};
use phoenix_core::config::host::NfsExport;
use phoenix_core::converge::{Change, Op};

use super::{Ctx, SetupStep};
use crate::report::Outcome;

/// The exports file phoenix owns.
pub const EXPORTS: &str = "/etc/exports.d/phoenix.exports";

/// What the shares step does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create an exported directory.
    Dir(String),
    /// Write the exports file and re-export.
    Exports(String),
}

/// The step.
pub struct Shares;

/// The exports file for `exports` (pure). An export without a path or clients is an error.
pub fn render(exports: &[NfsExport]) -> anyhow::Result<String> {
    let mut text = String::from(
        "# Managed by phoenix hypervisor-manager (setup --step shares); edits are overwritten.\n",
    );
    for (i, e) in exports.iter().enumerate() {
        if !e.path.starts_with('/') {
            bail!(
                "nfs.exports[{i}].path {:?} must be an absolute path",
                e.path
            );
        }
        if e.clients.is_empty() {
            bail!("nfs.exports[{i}] ({}) has no clients", e.path);
        }
        if e.path.contains(char::is_whitespace) {
            bail!("nfs.exports[{i}].path {:?} contains white space", e.path);
        }
        let opts = e.options.join(",");
        text.push_str(&e.path);
        for c in &e.clients {
            text.push(' ');
            text.push_str(c);
            if !opts.is_empty() {
                text.push_str(&format!("({opts})"));
            }
        }
        text.push('\n');
    }
    Ok(text)
}

impl SetupStep for Shares {
    type Action = Action;

    fn name(&self) -> &'static str {
        "shares"
    }

    fn plan(&self, ctx: &Ctx<'_>) -> anyhow::Result<(Vec<Change>, Vec<Action>)> {
        let exports = &ctx.cfg.host.nfs.exports;
        let mut changes = Vec::new();
        let mut actions = Vec::new();
        if !exports.is_empty() {
            for e in exports {
                if !ctx.layout.host(&e.path).is_dir() {
                    changes.push(Change::new(Op::Add, "nfs", format!("directory {}", e.path)));
                    actions.push(Action::Dir(e.path.clone()));
                }
            }
            let want = render(exports)?;
            let have = std::fs::read_to_string(ctx.layout.host(EXPORTS)).ok();
            if have.as_deref() != Some(want.as_str()) {
                for line in want.lines().filter(|l| !l.starts_with('#')) {
                    if !have.as_deref().unwrap_or("").lines().any(|h| h == line) {
                        changes.push(Change::new(Op::Add, "nfs", line.to_string()));
                    }
                }
                for line in have
                    .as_deref()
                    .unwrap_or("")
                    .lines()
                    .filter(|l| !l.starts_with('#'))
                {
                    if !want.lines().any(|w| w == line) {
                        changes.push(Change::new(Op::Remove, "nfs", line.to_string()));
                    }
                }
                changes.push(Change::new(Op::Run, "nfs", "exportfs -ra"));
                actions.push(Action::Exports(want));
            }
        }
        Ok((changes, actions))
    }

    fn apply(&self, ctx: &Ctx<'_>, actions: Vec<Action>) -> anyhow::Result<Outcome> {
        for a in actions {
            match a {
                Action::Dir(d) => {
                    ctx.runner
                        .ensure_dir(&ctx.layout.host(&d), 0o755)
                        .with_context(|| format!("cannot create the exported directory {d}"))?;
                }
                Action::Exports(text) => {
                    let p = ctx.layout.host(EXPORTS);
                    if let Some(dir) = p.parent() {
                        ctx.runner.ensure_dir(dir, 0o755)?;
                    }
                    ctx.runner
                        .write_file(&p, text.as_bytes(), FileSpec::mode(0o644))
                        .with_context(|| format!("cannot write {}", p.display()))?;
                    ctx.runner
                        .run(&Cmd::mutate("exportfs").arg("-ra"))
                        .context(
                            "exportfs -ra failed (the system step installs nfs-kernel-server)",
                        )?;
                }
            }
        }
        Ok(Outcome::Changed)
    }
}

/// Whether Samba shares are configured (not converged yet).
pub fn samba_configured(ctx: &Ctx<'_>) -> bool {
    ctx.cfg
        .host
        .samba
        .as_ref()
        .is_some_and(|s| !s.shares.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_render_one_line_per_export() {
        let e = NfsExport {
            path: "/tank/data".into(),
            clients: vec!["10.0.0.2".into(), "10.0.0.3".into()],
            options: vec!["rw".into(), "sync".into()],
        };
        let text = render(std::slice::from_ref(&e)).unwrap();
        assert!(
            text.ends_with("/tank/data 10.0.0.2(rw,sync) 10.0.0.3(rw,sync)\n"),
            "{text}"
        );
        let none = NfsExport {
            clients: vec![],
            ..e
        };
        assert_eq!(
            render(&[none]).unwrap_err().to_string(),
            "nfs.exports[0] (/tank/data) has no clients"
        );
    }
}
