//! Shares. NFS exports, declaratively: `/etc/exports.d/phoenix.exports` holds one line per
//! configured export (`<path> <client>(<options>) …`), the exported directories exist
//! (0755, never world-writable), the NFS server runs, and `exportfs -ra` runs only when the
//! file changed. `/etc/exports` and other files in `exports.d` are left alone. Samba shares
//! follow ([`super::samba`]).

use anyhow::bail;
use phoenix_core::cmd::Cmd;
use phoenix_core::config::host::NfsExport;
use phoenix_core::converge::{Change, Op};
use phoenix_core::host::systemd;

use phoenix_core::step::files::{self, Managed};
use phoenix_core::step::{Ctx, HostAction, HostStep, StepPlan};

/// The exports file phoenix owns.
pub const EXPORTS: &str = "/etc/exports.d/phoenix.exports";

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

/// Plans the NFS exports: directories, the server running, the exports file, `exportfs -ra`
/// when it changed.
fn plan_nfs(ctx: &Ctx<'_>, p: &mut StepPlan<HostAction>) -> anyhow::Result<()> {
    let exports = &ctx.cfg.host.nfs.exports;
    if exports.is_empty() {
        return Ok(());
    }
    let want = render(exports)?;
    for e in exports {
        if !ctx.layout.host(&e.path).is_dir() {
            p.push(
                Change::new(Op::Add, "nfs", format!("directory {}", e.path)),
                HostAction::Dir {
                    path: e.path.clone(),
                    mode: 0o755,
                    owner: None,
                },
            );
        }
    }
    let server = systemd::state(ctx.runner, "nfs-server")?;
    if let Some(c) = systemd::ensure_running("nfs-server", server) {
        p.push(
            Change::new(Op::Run, "nfs", c.to_string()),
            HostAction::Run(c),
        );
    }
    if files::plan(ctx, Managed::new("nfs", EXPORTS, want, 0o644), p)? {
        p.push(
            Change::new(Op::Run, "nfs", "exportfs -ra"),
            HostAction::Run(Cmd::mutate("exportfs").arg("-ra")),
        );
    }
    Ok(())
}

impl HostStep for Shares {
    fn name(&self) -> &'static str {
        "shares"
    }

    fn plan(&self, ctx: &Ctx<'_>) -> anyhow::Result<StepPlan<HostAction>> {
        let mut p = StepPlan::default();
        plan_nfs(ctx, &mut p)?;
        super::samba::plan(ctx, &mut p)?;
        Ok(p)
    }
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
