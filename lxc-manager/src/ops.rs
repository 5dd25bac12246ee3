//! The container backend ([`Manager`]): converge, status, health-check and test; start,
//! stop, restart, delete and reconfigure are the shared lifecycle verbs. Each observes first
//! and does nothing when there is nothing to do.

use anyhow::bail;
use phoenix_core::converge::ops as shared;
use phoenix_core::converge::verbs::Manager;
use phoenix_core::converge::{Op, SpecError};
use phoenix_core::ids::GuestId;
use phoenix_core::pve::propstr::PropertyString;
use serde::Serialize;

use crate::apply::{self, Ctx, Options};
use crate::guest;
use crate::observe;

impl Manager for Ctx<'_> {
    type Status = Status;
    const FINAL_FORM_TAKEN: &'static str = "it is taken when enable_lifecycle_snapshots is true";

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
        apply::start(self.runner, self.id)
    }
    fn wait_ready(&self) -> anyhow::Result<()> {
        guest::wait_ready(self.runner, self.id)
    }
    fn host_files(&self) -> Vec<std::path::PathBuf> {
        vec![observe::hook_marker_path(self.layout, self.id)]
    }
    fn health_check(&self) -> anyhow::Result<()> {
        health_check(self)
    }
    fn status(&self) -> anyhow::Result<Status> {
        status(self)
    }
    fn test(&self, suite: Option<&str>) -> anyhow::Result<(usize, usize)> {
        test(self, suite)
    }
}

fn must_exist(ctx: &Ctx<'_>) -> anyhow::Result<phoenix_core::pve::conf::GuestConfig> {
    ctx.guest().must_exist()
}

/// What `status` reports.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// CTID.
    pub id: GuestId,
    /// Configured name.
    pub name: String,
    /// `running`, `stopped`, `template` or `missing`.
    pub state: String,
    /// Configured address of net0 (`dhcp`, a CIDR, or none).
    pub ip: Option<String>,
    /// Snapshot names.
    pub snapshots: Vec<String>,
    /// Differences from the configuration (settings, installers), as plan lines.
    pub drift: Vec<String>,
    /// Why drift could not be computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift_error: Option<String>,
}

/// `status`.
fn status(ctx: &Ctx<'_>) -> anyhow::Result<Status> {
    let conf = apply::existing(ctx)?;
    let mut st = Status {
        id: ctx.id,
        name: ctx.c.name.clone(),
        state: "missing".into(),
        ip: None,
        snapshots: Vec::new(),
        drift: Vec::new(),
        drift_error: None,
    };
    let Some(conf) = conf else {
        return Ok(st);
    };
    let eff = conf.effective();
    st.state = if eff.is_template() {
        "template".into()
    } else if observe::running(ctx.runner, ctx.id)? {
        "running".into()
    } else {
        "stopped".into()
    };
    st.ip = eff
        .get("net0")
        .and_then(|n| PropertyString::parse(n, Some("name")).ok())
        .and_then(|p| p.get("ip").map(str::to_string));
    st.snapshots = conf.snapshots.keys().cloned().collect();
    match apply::prepare(ctx, Options::default()) {
        Ok(p) => {
            st.drift = p
                .plan
                .changes
                .iter()
                .filter(|c| c.op != Op::Note && c.group != "runtime")
                .map(|c| format!("{}: {c}", c.group))
                .collect();
        }
        Err(e) => st.drift_error = Some(format!("{e:#}")),
    }
    Ok(st)
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "lxc {} ({})", self.id, self.name)?;
        writeln!(f, "  state:     {}", self.state)?;
        if self.state == "missing" {
            return Ok(());
        }
        writeln!(f, "  ip:        {}", self.ip.as_deref().unwrap_or("-"))?;
        writeln!(
            f,
            "  snapshots: {}",
            if self.snapshots.is_empty() {
                "-".to_string()
            } else {
                self.snapshots.join(", ")
            }
        )?;
        match (&self.drift_error, self.drift.len()) {
            (Some(e), _) => writeln!(f, "  drift:     unknown ({e})"),
            (None, 0) => writeln!(f, "  drift:     none"),
            (None, n) => {
                writeln!(
                    f,
                    "  drift:     {n} change(s); `lxc-manager plan {}` shows them",
                    self.id
                )?;
                for d in &self.drift {
                    writeln!(f, "    {d}")?;
                }
                Ok(())
            }
        }
    }
}

/// `health-check`.
fn health_check(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    if !guest::has_checks(ctx.c) {
        println!("container {} has no health_check configured", ctx.id);
        return Ok(());
    }
    must_exist(ctx)?;
    if let Some(hc) = &ctx.c.health_check {
        let in_guest = matches!(
            guest::check_target(ctx.layout, &hc.command)?,
            guest::CheckTarget::Guest(_)
        );
        if in_guest && !observe::running(ctx.runner, ctx.id)? {
            bail!(
                "container {} is not running; its health check runs inside it",
                ctx.id
            );
        }
    }
    guest::run_checks(ctx.runner, ctx.layout, ctx.id, ctx.c)?;
    println!("container {}: health check passed", ctx.id);
    Ok(())
}

/// `test [SUITE]`: `(passed, failed)`.
fn test(ctx: &Ctx<'_>, suite: Option<&str>) -> anyhow::Result<(usize, usize)> {
    must_exist(ctx)?;
    if ctx.c.tests.is_empty() {
        println!("container {} has no tests configured", ctx.id);
        return Ok((0, 0));
    }
    if let Some(s) = suite {
        if !ctx.c.tests.contains_key(s) {
            bail!(
                "container {} has no test suite {s:?} (it has {})",
                ctx.id,
                ctx.c.tests.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
    }
    if !observe::running(ctx.runner, ctx.id)? {
        bail!(
            "container {} is not running; its tests run inside it",
            ctx.id
        );
    }
    if ctx.runner.is_dry_run() {
        let n: usize = ctx
            .c
            .tests
            .iter()
            .filter(|(k, _)| suite.is_none_or(|s| s == *k))
            .map(|(_, t)| t.len())
            .sum();
        println!(
            "dry run: would push and run {n} test(s) in container {}",
            ctx.id
        );
        return Ok((0, 0));
    }
    let (passed, failed) = guest::run_tests(ctx.runner, ctx.layout, ctx.id, ctx.c, suite)?;
    println!("container {}: {passed} passed, {failed} failed", ctx.id);
    Ok((passed, failed))
}
