//! `certificates`: the manifest's certificates that are due, from Step-CA.

use phoenix_core::cmd::Runner;

use anyhow::{Context, anyhow, bail};
use phoenix_core::converge::{Change, Op};
use phoenix_core::step::{Owner, StepPlan, resolve_owner};

use super::{Cx, Planned, Stage, ready};
use crate::certs::{self, Due, Issuer};
use crate::guest::Guest;

/// `certificates`.
pub struct Certificates;

/// A certificate action.
pub enum CertAction {
    /// Issue it again, then run its post-renewal command.
    Renew(usize),
    /// Owner or mode only.
    Fix(usize),
}

fn cert_facts(cx: &Cx<'_>, path: &str) -> Option<Result<certs::Facts, String>> {
    match phoenix_core::files::read(cx.layout().host(path)) {
        Ok(b) => Some(certs::inspect(&b)),
        Err(e) if e.is_not_found() => None,
        Err(e) => Some(Err(e.to_string())),
    }
}

/// `(uid, gid)` of the entry's `owner` on the host (`None`: leave it), through setup's
/// owner lookup.
fn owner_ids(
    runner: &Runner,
    c: &phoenix_core::config::certs::Certificate,
) -> anyhow::Result<Option<(u32, u32)>> {
    let Some(o) = c.owner.as_deref().and_then(Owner::parse) else {
        return Ok(None);
    };
    resolve_owner(runner, &o)
        .map(Some)
        .with_context(|| format!("owner of certificate {}", c.common_name))
}

fn meta_drift(
    cx: &Cx<'_>,
    c: &phoenix_core::config::certs::Certificate,
) -> anyhow::Result<Vec<String>> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let want_mode = certs::mode(c)?;
    let want_owner = if phoenix_core::cmd::can_chown() {
        owner_ids(cx.runner(), c)?
    } else {
        None
    };
    for p in [&c.cert_path, &c.key_path] {
        let Ok(m) = std::fs::metadata(cx.layout().host(p)) else {
            continue;
        };
        if let Some(mode) = want_mode
            && m.mode() & 0o7777 != mode
        {
            out.push(format!(
                "{p}: mode {:04o}, wanted {mode:04o}",
                m.mode() & 0o7777
            ));
        }
        if let Some((u, g)) = want_owner
            && (m.uid(), m.gid()) != (u, g)
        {
            out.push(format!(
                "{p}: owner {}:{}, wanted {u}:{g}",
                m.uid(),
                m.gid()
            ));
        }
    }
    Ok(out)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

impl Stage for Certificates {
    type Action = CertAction;

    fn name(&self) -> &'static str {
        "certificates"
    }

    fn plan(&self, cx: &Cx<'_>) -> anyhow::Result<Planned<CertAction>> {
        let mut p = StepPlan::default();
        let mut renew = 0;
        for (i, c) in certs::effective(cx.cfg()).iter().enumerate() {
            let d = certs::due(c, cert_facts(cx, &c.cert_path), now());
            if d == Due::No {
                let drift = meta_drift(cx, c)?;
                if !drift.is_empty() {
                    p.push(
                        Change::new(Op::Change, "certificate", c.common_name.clone())
                            .to(drift.join("; ")),
                        CertAction::Fix(i),
                    );
                }
                continue;
            }
            renew += 1;
            let mut ch = Change::new(
                if d == Due::Missing {
                    Op::Add
                } else {
                    Op::Change
                },
                "certificate",
                format!("{} ({})", c.common_name, c.cert_path),
            )
            .from(d.to_string());
            if let Some(post) = certs::post_command(c)? {
                ch = ch.to(format!("issued, then `{}`", post.join(" ")));
            }
            p.push(ch, CertAction::Renew(i));
        }
        if renew > 0 {
            let path = std::env::var_os("PATH");
            if phoenix_core::cmd::resolve_program("step".as_ref(), |k| std::env::var_os(k), path)
                .is_none()
            {
                bail!(
                    "{renew} certificate(s) are due, but the step CLI is not installed (Smallstep's step-cli package)"
                );
            }
            let Some(ca) = cx.roles.ca else {
                bail!("{renew} certificate(s) are due, but no container has the step_ca feature");
            };
            if let Err(why) = ready(cx, Guest::ct(ca))? {
                return Ok(Planned::NotReady(format!(
                    "{renew} certificate(s) are due, but the CA is not available: {why}"
                )));
            }
            let issuer = Issuer::from_config(cx.cfg())
                .context("no provisioner password file: set step_ca.provisioner_password_file")?;
            if !cx.layout().host(&issuer.password_file).is_file() {
                return Ok(Planned::NotReady(format!(
                    "{renew} certificate(s) are due, but the provisioner password file {} does not exist yet (the CA writes it)",
                    issuer.password_file
                )));
            }
        }
        Ok(Planned::Ready(p))
    }

    fn apply(&self, cx: &Cx<'_>, actions: Vec<CertAction>) -> anyhow::Result<()> {
        let issuer = Issuer::from_config(cx.cfg());
        let host = |p: &str| cx.layout().host(p).display().to_string();
        let mut failed = Vec::new();
        let manifest = certs::effective(cx.cfg());
        for a in actions {
            let (i, renew) = match a {
                CertAction::Renew(i) => (i, true),
                CertAction::Fix(i) => (i, false),
            };
            let c = &manifest[i];
            let r = (|| -> anyhow::Result<()> {
                if renew {
                    let issuer = issuer.as_ref().context("no provisioner password file")?;
                    for p in [&c.cert_path, &c.key_path] {
                        if let Some(dir) = cx.layout().host(p).parent() {
                            cx.runner().ensure_dir(dir, 0o755)?;
                        }
                    }
                    cx.runner()
                        .run(&issuer.command(c, host))
                        .with_context(|| format!("step could not issue {}", c.common_name))?;
                }
                let mode = certs::mode(c)?;
                let owner = owner_ids(cx.runner(), c)?;
                for p in [&c.cert_path, &c.key_path] {
                    let hp = cx.layout().host(p);
                    if let Some(m) = mode {
                        cx.runner().set_mode(&hp, m)?;
                    }
                    if let Some((u, g)) = owner
                        && phoenix_core::cmd::can_chown()
                    {
                        cx.runner().set_owner(&hp, u, g)?;
                    }
                }
                if renew && let Some(argv) = certs::post_command(c)? {
                    if let Some((kind, id)) = certs::post_guest(&argv) {
                        let g = Guest { kind, id };
                        if let Err(why) = ready(cx, g)? {
                            tracing::info!(
                                "{}: `{}` not run: {why} (it reads the new certificate when it starts)",
                                c.common_name,
                                argv.join(" ")
                            );
                            return Ok(());
                        }
                    }
                    cx.runner()
                        .run(&phoenix_core::cmd::Cmd::mutate(&argv[0]).args(&argv[1..]))
                        .with_context(|| {
                            format!(
                                "{} was renewed, but its post_renewal_command failed",
                                c.common_name
                            )
                        })?;
                }
                Ok(())
            })();
            if let Err(e) = r {
                tracing::error!("certificate {}: {e:#}", c.common_name);
                failed.push(format!("{}: {e:#}", c.common_name));
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(anyhow!(failed.join("; ")))
        }
    }
}
