//! The verbs besides converge: start, stop, restart, delete, reconfigure, status and
//! health-check. Each observes first and does nothing when there is nothing to do; templates
//! are never started or stopped.

use anyhow::{Context, bail};
use phoenix_core::converge::Op;
use phoenix_core::converge::apply as shared;
use phoenix_core::converge::observe as seen;
use phoenix_core::ids::{GuestId, GuestKind};
use serde::Serialize;

use crate::apply::{self, Ctx, Options};
use crate::guest;
use crate::qm::QM;
use crate::spec::FINAL_FORM;

const KIND: GuestKind = GuestKind::Vm;

fn must_exist(ctx: &Ctx<'_>) -> anyhow::Result<phoenix_core::pve::conf::GuestConfig> {
    apply::existing(ctx)?.with_context(|| {
        format!(
            "VM {} does not exist; `vm-manager create {}` creates it",
            ctx.id, ctx.id
        )
    })
}

/// Says what was done; a dry run lists what would have run instead.
fn done(ctx: &Ctx<'_>, what: String) {
    if ctx.runner.is_dry_run() {
        println!("dry run: VM {} is unchanged; this would run:", ctx.id);
        for p in ctx.runner.journal() {
            println!("  {p}");
        }
    } else {
        println!("{what}");
    }
}

fn spec(ctx: &Ctx<'_>) -> anyhow::Result<crate::spec::VmSpec> {
    Ok(apply::spec_of(ctx)?)
}

/// `start`: a no-op when running or a template; waits for the agent and cloud-init.
pub fn start(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let conf = must_exist(ctx)?;
    if conf.main.is_template() {
        println!(
            "VM {} is a Proxmox template; templates are not started",
            ctx.id
        );
        return Ok(());
    }
    if seen::running(ctx.runner, KIND, ctx.id)? {
        println!("VM {} is already running", ctx.id);
        return Ok(());
    }
    apply::start(ctx.runner, &spec(ctx)?)?;
    done(ctx, format!("VM {} started", ctx.id));
    Ok(())
}

/// `stop`: a clean shutdown with a deadline, then a hard stop; a no-op when stopped.
pub fn stop(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let Some(conf) = apply::existing(ctx)? else {
        println!("VM {} does not exist; nothing to stop", ctx.id);
        return Ok(());
    };
    if conf.main.is_template() || !seen::running(ctx.runner, KIND, ctx.id)? {
        println!("VM {} is already stopped", ctx.id);
        return Ok(());
    }
    shared::shutdown(ctx.runner, KIND, ctx.id)?;
    done(ctx, format!("VM {} stopped", ctx.id));
    Ok(())
}

/// `restart`: `qm reboot` when running, a start otherwise.
pub fn restart(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let conf = must_exist(ctx)?;
    if conf.main.is_template() {
        println!(
            "VM {} is a Proxmox template; templates are not started",
            ctx.id
        );
        return Ok(());
    }
    let s = spec(ctx)?;
    if seen::running(ctx.runner, KIND, ctx.id)? {
        ctx.runner
            .run(&QM.reboot(ctx.id))
            .with_context(|| format!("cannot reboot VM {}", ctx.id))?;
        guest::wait_ready(ctx.runner, &s)?;
        done(ctx, format!("VM {} restarted", ctx.id));
    } else {
        apply::start(ctx.runner, &s)?;
        done(ctx, format!("VM {} was stopped; started", ctx.id));
    }
    Ok(())
}

/// The configured guests that name `id` as their clone source.
pub fn clones_of(ctx: &Ctx<'_>) -> Vec<GuestId> {
    ctx.cfg
        .guests()
        .iter()
        .filter(|g| g.clone_source() == Some(ctx.id))
        .map(|g| g.id())
        .collect()
}

/// `delete`: refuses a clone source or a running VM without `--force`; a no-op when the VM
/// does not exist. Removes its cloud-init snippet too.
pub fn delete(ctx: &Ctx<'_>, force: bool, purge: bool) -> anyhow::Result<()> {
    let Some(_) = apply::existing(ctx)? else {
        println!("VM {} does not exist; nothing to delete", ctx.id);
        return Ok(());
    };
    let clones = clones_of(ctx);
    if !clones.is_empty() && !force {
        let list: Vec<String> = clones.iter().map(ToString::to_string).collect();
        bail!(
            "VM {} is the clone source of {}; deleting it means they cannot be created again. Pass --force to delete it anyway",
            ctx.id,
            list.join(", ")
        );
    }
    if seen::running(ctx.runner, KIND, ctx.id)? {
        if !force {
            bail!("VM {} is running; stop it first, or pass --force", ctx.id);
        }
        shared::shutdown(ctx.runner, KIND, ctx.id)?;
    }
    ctx.runner
        .run(&QM.destroy(ctx.id, purge))
        .with_context(|| format!("cannot destroy VM {}", ctx.id))?;
    if let Ok(st) = apply::storages(ctx.layout) {
        if let Ok(s) = crate::create::snippet_store(ctx.layout, &st, ctx.id) {
            ctx.runner.remove_file(&s.file)?;
        }
    }
    ctx.runner
        .remove_file(&phoenix_core::converge::incomplete_marker(
            ctx.layout, KIND, ctx.id,
        ))?;
    done(ctx, format!("VM {} deleted", ctx.id));
    Ok(())
}

/// `reconfigure`: roll back to `final-form` and start.
pub fn reconfigure(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let conf = must_exist(ctx)?;
    if !conf.snapshots.contains_key(FINAL_FORM) {
        bail!(
            "VM {} has no {FINAL_FORM} snapshot to roll back to (it is taken after the VM's features first complete)",
            ctx.id
        );
    }
    if seen::running(ctx.runner, KIND, ctx.id)? {
        shared::shutdown(ctx.runner, KIND, ctx.id)?;
    }
    ctx.runner
        .run(&QM.rollback(ctx.id, FINAL_FORM))
        .with_context(|| format!("cannot roll VM {} back to {FINAL_FORM}", ctx.id))?;
    apply::start(ctx.runner, &spec(ctx)?)?;
    done(
        ctx,
        format!("VM {} rolled back to {FINAL_FORM} and started", ctx.id),
    );
    Ok(())
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
