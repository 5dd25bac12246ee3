//! The VM backend ([`Manager`]): converge, status and health-check; start, stop, restart,
//! delete and reconfigure are the shared lifecycle verbs. Each observes first and does
//! nothing when there is nothing to do; templates are never started or stopped.

use anyhow::bail;
use phoenix_core::converge::observe as seen;
use phoenix_core::converge::ops as shared;
use phoenix_core::converge::verbs::Manager;
use phoenix_core::converge::{Op, SpecError};
use phoenix_core::ids::GuestKind;
use serde::Serialize;

use crate::apply::{self, Ctx, Options};
use crate::guest;

const KIND: GuestKind = GuestKind::Vm;

impl Manager for Ctx<'_> {
    type Status = Status;
    const FINAL_FORM_TAKEN: &'static str = "it is taken after the VM's features first complete";

    type Prepared = apply::Prepared;

    fn guest(&self) -> shared::Guest<'_> {
        self.base
    }
    fn check(&self) -> Result<(), SpecError> {
        apply::spec_of(self).map(drop)
    }
    fn prepare(&self, opts: Options) -> anyhow::Result<apply::Prepared> {
        apply::prepare(self, opts)
    }
    fn plan_of(p: &apply::Prepared) -> &phoenix_core::converge::Plan {
        &p.plan
    }
    fn apply(&self, p: apply::Prepared) -> anyhow::Result<()> {
        apply::apply(self, p)
    }
    fn start_and_wait(&self) -> anyhow::Result<()> {
        apply::start(self.runner, &spec(self)?)
    }
    fn wait_ready(&self) -> anyhow::Result<()> {
        guest::wait_ready(self.runner, &spec(self)?)
    }
    /// Its cloud-init snippet.
    fn host_files(&self) -> Vec<std::path::PathBuf> {
        apply::storages(self.layout)
            .ok()
            .and_then(|st| crate::create::snippet_store(self.layout, &st, self.id).ok())
            .map(|s| s.file)
            .into_iter()
            .collect()
    }
    fn health_check(&self) -> anyhow::Result<()> {
        health_check(self)
    }
    fn status(&self) -> anyhow::Result<Status> {
        status(self)
    }
    fn test(&self, _suite: Option<&str>) -> anyhow::Result<(usize, usize)> {
        println!(
            "VM {} has no integration tests (tests are a container feature)",
            self.id
        );
        Ok((0, 0))
    }
}

fn must_exist(ctx: &Ctx<'_>) -> anyhow::Result<phoenix_core::pve::conf::GuestConfig> {
    ctx.guest().must_exist()
}

fn spec(ctx: &Ctx<'_>) -> anyhow::Result<crate::spec::VmSpec> {
    Ok(apply::spec_of(ctx)?)
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
fn status(ctx: &Ctx<'_>) -> anyhow::Result<Status> {
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
fn health_check(ctx: &Ctx<'_>) -> anyhow::Result<()> {
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
