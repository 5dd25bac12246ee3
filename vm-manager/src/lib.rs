//! `vm-manager <verb> <vmid>`: one VM per invocation.
//!
//! Module map: [`spec`] turns the configuration into what the VM should be (pure);
//! [`cloudinit`] renders its user-data from the project's template (pure); [`create`] plans a
//! template built from a cloud image or a clone (pure); [`plan`] compares the spec with the
//! observed `.conf`, firewall file and snippet (pure); [`agent`] talks to the guest agent
//! (exec results read from the agent's JSON, files passed on stdin); [`guest`] runs the
//! readiness waits, feature installers, template sealing and the foundation check;
//! [`apply`] ties them into converge; [`ops`] holds the other verbs; [`qm`] builds the
//! commands. The runtime planner, lifecycle commands, snapshots, firewall file, locks and the
//! incomplete marker are shared with `lxc-manager` through [`phoenix_core::converge`].

pub mod agent;
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

use phoenix_core::cli::guest::{GuestCli, GuestVerb, Output};
use phoenix_core::cli::{clap_exit, guest_arg, load_config};
use phoenix_core::cmd::Runner;
use phoenix_core::exit::Exit;
use phoenix_core::ids::GuestKind;
use phoenix_core::paths::Layout;

use crate::apply::{Ctx, Options};

const PROGRAM: &str = phoenix_core::paths::binaries::VM_MANAGER;
const ABOUT: &str = "Converge one VM to its configuration";

/// Entry point shared by `main.rs` and in-process tests.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match GuestCli::parse_for(PROGRAM, ABOUT, args) {
        Ok(c) => c,
        Err(e) => return clap_exit(&e),
    };
    let layout = Layout::from_env();
    cli.global.init_logging(PROGRAM, &layout);
    run(&cli, &layout).into()
}

fn run(cli: &GuestCli, layout: &Layout) -> Exit {
    let (cfg, _) = match load_config(&cli.global, layout, cli.verb.mutates()) {
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
    let plan_only = matches!(cli.verb, GuestVerb::Plan(_));
    let dry_run = cli.global.dry_run || !cli.verb.mutates();
    let runner = Runner::system(dry_run);
    let ctx = Ctx {
        cfg: &cfg,
        layout,
        runner: &runner,
        id,
        vm,
    };

    // Bad configuration is exit 2, before any host command.
    if let Err(e) = apply::spec_of(&ctx) {
        eprintln!("error: {}: {e}", cfg.files.vm.display());
        return Exit::Invalid;
    }

    let _locks = if cli.verb.mutates() && !cli.global.dry_run {
        match phoenix_core::converge::apply::lock(layout, id) {
            Ok(l) => Some(l),
            Err(e) => return fail(&e),
        }
    } else {
        None
    };

    let result = match &cli.verb {
        GuestVerb::Create(_) | GuestVerb::Converge(_) | GuestVerb::Plan(_) => {
            let opts = Options {
                force_features: cli.force_features,
                create: !matches!(cli.verb, GuestVerb::Converge(_)),
            };
            converge(&ctx, opts, plan_only || cli.global.dry_run)
        }
        GuestVerb::Start(_) => ops::start(&ctx),
        GuestVerb::Stop(_) => ops::stop(&ctx),
        GuestVerb::Restart(_) => ops::restart(&ctx),
        GuestVerb::Delete { force, purge, .. } => ops::delete(&ctx, *force, *purge),
        GuestVerb::Reconfigure(_) => ops::reconfigure(&ctx),
        GuestVerb::HealthCheck(_) => ops::health_check(&ctx),
        GuestVerb::Status(_) => ops::status(&ctx).and_then(|st| {
            match cli.output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&st)?),
                Output::Text => print!("{st}"),
            }
            Ok(())
        }),
        GuestVerb::Test { .. } => {
            println!("VM {id} has no integration tests (tests are a container feature)");
            Ok(())
        }
    };
    match result {
        Ok(()) => Exit::Success,
        Err(e) => fail(&e),
    }
}

/// Plans, prints the plan, and applies it unless `plan_only`.
fn converge(ctx: &Ctx<'_>, opts: Options, plan_only: bool) -> anyhow::Result<()> {
    let prepared = apply::prepare(ctx, opts)?;
    print!("{}", prepared.plan);
    if plan_only || !prepared.plan.has_changes() {
        return Ok(());
    }
    apply::apply(ctx, prepared)?;
    println!("VM {}: converged", ctx.id);
    Ok(())
}

fn fail(e: &anyhow::Error) -> Exit {
    phoenix_core::converge::exit_for(e)
}
