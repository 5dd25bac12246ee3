//! `vm-manager <verb> <vmid>`: one VM per invocation.
//!
//! Module map: [`spec`] turns the configuration into what the VM should be (pure);
//! [`cloudinit`] renders its user-data from the project's template (pure); [`create`] plans a
//! template built from a cloud image or a clone (pure); [`plan`] compares the spec with the
//! observed `.conf`, firewall file and snippet (pure); [`guest`] runs the readiness waits,
//! feature installers, template sealing and the foundation check through the guest agent
//! ([`phoenix_core::pve::agent`]);
//! [`apply`] ties them into converge; [`ops`] holds the other verbs; [`qm`] builds the
//! commands. The runtime planner, lifecycle commands, snapshots, firewall file, locks and the
//! incomplete marker are shared with `lxc-manager` through [`phoenix_core::converge`].

pub mod apply;
pub mod cloudinit;
pub mod create;
pub mod guest;
pub mod ops;
pub mod plan;
pub mod qm;
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

const PROGRAM: &str = phoenix_core::paths::binaries::VM_MANAGER;
const ABOUT: &str = "Converge one VM to its configuration";

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
    let id = match guest_arg(&cfg, cli.verb.target(), GuestKind::Vm) {
        Ok(id) => id,
        Err(exit) => return exit,
    };
    let Some((_, vm)) = spec::find(&cfg, id) else {
        return Exit::Invalid;
    };
    let runner = Runner::system(cli.global.dry_run || !cli.verb.mutates());
    let ctx = Ctx {
        cfg: &cfg,
        layout,
        runner: &runner,
        id,
        vm,
    };
    verbs::dispatch(cli, layout, &cfg, &cfg.files.vm, &ctx)
}

impl Manager for Ctx<'_> {
    type Status = ops::Status;

    fn id(&self) -> GuestId {
        self.id
    }
    fn kind(&self) -> GuestKind {
        GuestKind::Vm
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
        println!("VM {}: converged", self.id);
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
    fn test(&self, _suite: Option<&str>) -> anyhow::Result<(usize, usize)> {
        println!(
            "VM {} has no integration tests (tests are a container feature)",
            self.id
        );
        Ok((0, 0))
    }
}
