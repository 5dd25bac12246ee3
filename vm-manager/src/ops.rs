//! The verbs besides converge: start, stop, restart, delete, reconfigure, status and
//! health-check. Each observes first and does nothing when there is nothing to do; templates
//! are never started or stopped.

use anyhow::bail;
use phoenix_core::converge::Op;
use phoenix_core::converge::observe as seen;
use phoenix_core::converge::ops as shared;
use phoenix_core::ids::GuestKind;
use serde::Serialize;

use crate::apply::{self, Ctx, Options};
use crate::guest;

const KIND: GuestKind = GuestKind::Vm;

/// The VM as the shared lifecycle verbs see it.
fn guest<'a>(ctx: &Ctx<'a>) -> shared::Guest<'a> {
    shared::Guest {
        cfg: ctx.cfg,
        layout: ctx.layout,
        runner: ctx.runner,
        kind: KIND,
        id: ctx.id,
    }
}

fn must_exist(ctx: &Ctx<'_>) -> anyhow::Result<phoenix_core::pve::conf::GuestConfig> {
    guest(ctx).must_exist()
}

fn spec(ctx: &Ctx<'_>) -> anyhow::Result<crate::spec::VmSpec> {
    Ok(apply::spec_of(ctx)?)
}

/// `start`: a no-op when running or a template; waits for the agent and cloud-init.
pub fn start(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let s = spec(ctx)?;
    guest(ctx).start(|| apply::start(ctx.runner, &s))
}

/// `stop`: a clean shutdown with a deadline, then a hard stop; a no-op when stopped.
pub fn stop(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    guest(ctx).stop()
}

/// `restart`: `qm reboot` when running, a start otherwise.
pub fn restart(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let s = spec(ctx)?;
    guest(ctx).restart(
        || guest::wait_ready(ctx.runner, &s),
        || apply::start(ctx.runner, &s),
    )
}

/// `delete`: refuses a clone source or a running VM without `--force`; a no-op when the VM
/// does not exist. Removes its cloud-init snippet too.
pub fn delete(ctx: &Ctx<'_>, force: bool, purge: bool) -> anyhow::Result<()> {
    let snippet: Vec<std::path::PathBuf> = apply::storages(ctx.layout)
        .ok()
        .and_then(|st| crate::create::snippet_store(ctx.layout, &st, ctx.id).ok())
        .map(|s| s.file)
        .into_iter()
        .collect();
    guest(ctx).delete(force, purge, &snippet)
}

/// `reconfigure`: roll back to `final-form` and start.
pub fn reconfigure(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let s = spec(ctx)?;
    guest(ctx).reconfigure("it is taken after the VM's features first complete", || {
        apply::start(ctx.runner, &s)
    })
}

/// What `status` reports.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// VMID.
    pub vmid: u32,
    /// Name.
    pub name: String,
    /// `missing`, `running`, `stopped` or `template`.
    pub state: String,
    /// Snapshots.
    pub snapshots: Vec<String>,
    /// What converge would change (plan lines), empty when converged.
    pub drift: Vec<String>,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "vm {} ({}): {}", self.vmid, self.name, self.state)?;
        if !self.snapshots.is_empty() {
            writeln!(f, "  snapshots: {}", self.snapshots.join(", "))?;
        }
        if self.drift.is_empty() {
            writeln!(f, "  converged")
        } else {
            writeln!(f, "  drift:")?;
            for d in &self.drift {
                writeln!(f, "    {d}")?;
            }
            Ok(())
        }
    }
}

/// `status`: state, snapshots and drift (read-only).
pub fn status(ctx: &Ctx<'_>) -> anyhow::Result<Status> {
    let mut st = Status {
        vmid: ctx.id.get(),
        name: ctx.vm.name.clone(),
        state: "missing".into(),
        snapshots: Vec::new(),
        drift: Vec::new(),
    };
    let Some(conf) = apply::existing(ctx)? else {
        return Ok(st);
    };
    st.snapshots = conf.snapshots.keys().cloned().collect();
    st.state = if conf.main.is_template() {
        "template".into()
    } else if seen::running(ctx.runner, KIND, ctx.id)? {
        "running".into()
    } else {
        "stopped".into()
    };
    let p = apply::prepare(
        ctx,
        Options {
            force_features: false,
            create: false,
        },
    )?;
    st.drift = p
        .plan
        .changes
        .iter()
        .filter(|c| c.op != Op::Note)
        .map(ToString::to_string)
        .collect();
    Ok(st)
}

/// `health-check`: the VM's foundation, PASS/FAIL per check; an error when any fails.
pub fn health_check(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let conf = must_exist(ctx)?;
    if conf.main.is_template() {
        println!(
            "VM {} is a Proxmox template; nothing runs in it to check",
            ctx.id
        );
        return Ok(());
    }
    if !seen::running(ctx.runner, KIND, ctx.id)? {
        bail!("VM {} is not running", ctx.id);
    }
    let checks = guest::foundation(ctx.runner, &spec(ctx)?);
    let mut failed = 0;
    for c in &checks {
        match &c.failure {
            None => println!("PASS {}", c.name),
            Some(why) => {
                failed += 1;
                println!("FAIL {}: {why}", c.name);
            }
        }
    }
    if failed > 0 {
        bail!(
            "VM {}: {failed} of {} health checks failed",
            ctx.id,
            checks.len()
        );
    }
    Ok(())
}
