//! The setup steps. Each observes (read-only commands and files), plans a list of actions
//! with plan lines (pure), and applies them through the one runner; a converged host plans
//! nothing. Steps not yet available report `skipped` so a run never pretends it did them.

pub mod disks;
pub mod firewall;
pub mod shares;
pub mod storage;
pub mod zfs;

use std::path::PathBuf;

use phoenix_core::cmd::Runner;
use phoenix_core::config::Config;
use phoenix_core::converge::{Change, Plan};
use phoenix_core::paths::Layout;

use crate::report::Outcome;

/// What every step needs.
pub struct Ctx<'a> {
    /// The configuration.
    pub cfg: &'a Config,
    /// Install and host paths.
    pub layout: &'a Layout,
    /// The one door to the outside.
    pub runner: &'a Runner,
    /// Disks `zpool create` may wipe (`--wipe-disks`).
    pub wipe_disks: &'a [PathBuf],
}

/// One setup step.
pub trait SetupStep {
    /// One thing the step does.
    type Action;
    /// The step's name (`zfs`).
    fn name(&self) -> &'static str;
    /// Observes and plans: the plan lines and the actions. Reads only.
    fn plan(&self, ctx: &Ctx<'_>) -> anyhow::Result<(Vec<Change>, Vec<Self::Action>)>;
    /// Applies the actions; `Changed` or `RebootRequired`.
    fn apply(&self, ctx: &Ctx<'_>, actions: Vec<Self::Action>) -> anyhow::Result<Outcome>;
}

/// Plans a step, prints its plan, and applies it unless this is a dry run.
pub fn run<S: SetupStep>(step: &S, ctx: &Ctx<'_>) -> Outcome {
    let (changes, actions) = match step.plan(ctx) {
        Ok(p) => p,
        Err(e) => return Outcome::Failed(format!("{e:#}")),
    };
    let mut plan = Plan::new(format!("setup {}", step.name()));
    plan.changes = changes;
    print!("{plan}");
    if actions.is_empty() {
        return Outcome::Ok;
    }
    if ctx.runner.is_dry_run() {
        return Outcome::Changed;
    }
    match step.apply(ctx, actions) {
        Ok(o) => o,
        Err(e) => Outcome::Failed(format!("{e:#}")),
    }
}
