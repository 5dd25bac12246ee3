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

use phoenix_core::cli::guest::{GuestCli, GuestVerb, Output};
use phoenix_core::cli::{clap_exit, guest_arg, load_config};
use phoenix_core::cmd::Runner;
use phoenix_core::exit::Exit;
use phoenix_core::ids::GuestKind;
use phoenix_core::paths::Layout;

use crate::apply::{Ctx, Options};

const PROGRAM: &str = phoenix_core::paths::binaries::LXC_MANAGER;
const ABOUT: &str = "Converge one container to its configuration";

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
    let id = match guest_arg(&cfg, cli.verb.target(), GuestKind::Lxc) {
        Ok(id) => id,
        Err(exit) => return exit,
    };
    let Some(c) = cfg.lxc.lxc_configs.get(&id.to_string()) else {
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
        c,
    };

    // Bad configuration is exit 2, before any host command.
    if matches!(
        cli.verb,
        GuestVerb::Create(_) | GuestVerb::Converge(_) | GuestVerb::Plan(_)
    ) {
        if let Err(e) = apply::spec_of(&ctx) {
            eprintln!("error: {}: {e}", cfg.files.lxc.display());
            return Exit::Invalid;
        }
    }

    // Locks: the global one unless phoenix-cli holds it, and this container's.
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
        GuestVerb::Test { suite, .. } => match ops::test(&ctx, suite.as_deref()) {
            Ok((_, 0)) => Ok(()),
            Ok((_, failed)) => {
                eprintln!("error: container {id}: {failed} test(s) failed");
                return Exit::Failure;
            }
            Err(e) => Err(e),
        },
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
    println!("container {}: converged", ctx.id);
    Ok(())
}

fn fail(e: &anyhow::Error) -> Exit {
    phoenix_core::converge::exit_for(e)
}
