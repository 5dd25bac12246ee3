//! `lxc-manager <verb> <ctid>`: one container per invocation.
//!
//! Module map: [`spec`] turns the configuration into what the container should be (pure);
//! [`select`] picks a clone source by features (pure); [`plan`] compares the spec with the
//! observed `.conf`, firewall file and host facts and plans settings and runtime steps
//! (pure); [`create`] plans and runs `pct create`/`pct clone`; [`observe`] reads the host;
//! [`guest`] works inside a running container (installers, hooks, checks, tests);
//! [`apply`] ties them into converge; [`ops`] holds the other verbs; [`pct`] builds the
//! commands. Every command goes through the one [`phoenix_core::cmd::Runner`].

pub mod apply;
pub mod create;
pub mod guest;
pub mod observe;
pub mod ops;
pub mod pct;
pub mod plan;
pub mod select;
pub mod spec;

use std::ffi::OsString;
use std::process::ExitCode;

use phoenix_core::cli::guest::GuestCli;
use phoenix_core::cli::{clap_exit, guest_arg, load_config};
use phoenix_core::cmd::Runner;
use phoenix_core::converge::SpecError;
use phoenix_core::converge::verbs::{self, Manager, Options};
use phoenix_core::exit::Exit;
use phoenix_core::ids::{GuestId, GuestKind};
use phoenix_core::paths::Layout;

use crate::apply::Ctx;

const PROGRAM: &str = phoenix_core::paths::binaries::LXC_MANAGER;
const ABOUT: &str = "Converge one container to its configuration";

/// Entry point shared by `main.rs` and in-process tests.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args = match phoenix_core::cli::generated(args, || GuestCli::command_for(PROGRAM, ABOUT)) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let cli = match GuestCli::parse_for(PROGRAM, ABOUT, args) {
        Ok(c) => c,
        Err(e) => return clap_exit(&e),
    };
    let layout = Layout::from_env();
    cli.global.init_logging(PROGRAM, &layout);
    run(&cli, &layout).into()
}

fn run(cli: &GuestCli, layout: &Layout) -> Exit {
    let (cfg, _) = match load_config(&cli.global, layout) {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    let id = match guest_arg(&cfg, cli.verb.target(), GuestKind::Lxc) {
        Ok(id) => id,
        Err(exit) => return exit,
    };
    let Some(c) = cfg.lxc.lxc_configs.get(&id.to_string()) else {
        return Exit::Invalid;
    };
    let runner = Runner::system(cli.global.dry_run || !cli.verb.mutates());
    let ctx = Ctx {
        cfg: &cfg,
        layout,
        runner: &runner,
        id,
        c,
    };
    verbs::dispatch(cli, layout, &cfg, &cfg.files.lxc, &ctx)
}

impl Manager for Ctx<'_> {
    type Status = ops::Status;

    fn id(&self) -> GuestId {
        self.id
    }
    fn kind(&self) -> GuestKind {
        GuestKind::Lxc
    }
    fn check(&self) -> Result<(), SpecError> {
        apply::spec_of(self).map(drop)
    }
    fn converge(&self, opts: Options, plan_only: bool) -> anyhow::Result<()> {
        let prepared = apply::prepare(self, opts)?;
        print!("{}", prepared.plan);
        if plan_only || !prepared.plan.has_changes() {
            return Ok(());
        }
        apply::apply(self, prepared)?;
        println!("container {}: converged", self.id);
        Ok(())
    }
    fn start(&self) -> anyhow::Result<()> {
        ops::start(self)
    }
    fn stop(&self) -> anyhow::Result<()> {
        ops::stop(self)
    }
    fn restart(&self) -> anyhow::Result<()> {
        ops::restart(self)
    }
    fn delete(&self, force: bool, purge: bool) -> anyhow::Result<()> {
        ops::delete(self, force, purge)
    }
    fn reconfigure(&self) -> anyhow::Result<()> {
        ops::reconfigure(self)
    }
    fn health_check(&self) -> anyhow::Result<()> {
        ops::health_check(self)
    }
    fn status(&self) -> anyhow::Result<ops::Status> {
        ops::status(self)
    }
    fn test(&self, suite: Option<&str>) -> anyhow::Result<(usize, usize)> {
        ops::test(self, suite)
    }
}
