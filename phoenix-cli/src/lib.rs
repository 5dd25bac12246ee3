//! `phoenix-cli`, the dispatcher (installed also as `phoenix`).
//!
//! It parses the verb, loads and checks the configuration (exit 2 before anything runs when
//! it is wrong), resolves the target guests and their dependency closure, and runs
//! `lxc-manager`/`vm-manager`/`hypervisor-manager`/`portainer-manager` found **next to its own
//! executable**, independent guests in parallel up to `--jobs`. It never talks to Proxmox
//! itself beyond existence probes (`/etc/pve/{lxc,qemu-server}/<id>.conf`).
//!
//! Module map: [`args`] (the command line), [`plan`] (pure: which manager, which verb, what
//! order), [`run`] (spawning, scheduling, failure isolation), [`report`] (tables).

pub mod args;
pub mod plan;
pub mod report;
pub mod run;

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use phoenix_core::cli::{config_arg, load_config};
use phoenix_core::cmd::Runner;
use phoenix_core::exit::Exit;
use phoenix_core::ids::{GuestId, GuestKind};
use phoenix_core::paths::{self, Layout, binaries};

use args::{Cli, OutputFormat, Verb};
use plan::{PlanError, RunPlan};
use run::Launcher;

/// Entry point shared by `main.rs` and in-process tests.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args =
        match phoenix_core::cli::generated(args, <args::Cli as clap::CommandFactory>::command) {
            Ok(a) => a,
            Err(code) => return code,
        };
    let cli = match args::parse(args) {
        Ok(c) => c,
        Err(e) => return phoenix_core::cli::clap_exit(&e),
    };
    let layout = Layout::from_env();
    cli.global.init_logging(binaries::CLI, &layout);
    match dispatch(&cli, &layout) {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("error: {e:#}");
            Exit::Failure.into()
        }
    }
}

fn dispatch(cli: &Cli, layout: &Layout) -> anyhow::Result<Exit> {
    let dry_run = cli.global.dry_run
        || matches!(&cli.verb, Verb::Setup { args } if args.iter().any(|a| a == "--dry-run"));
    let (cfg, report) = match load_config(&cli.global, layout) {
        Ok(c) => c,
        Err(exit) => return Ok(exit),
    };
    if let Verb::Validate = cli.verb {
        return Ok(validate(cli, &cfg, &report));
    }

    let mut launcher = Launcher {
        dir: run::own_dir()?,
        common: common_flags(cli, &cfg.location, dry_run),
        env: Vec::new(),
        dry_run,
        prefix: true,
        stdout_to_stderr: cli.output == OutputFormat::Json,
    };

    // Plan first: bad IDs and refusals end here, before any lock or process.
    let planned: Option<(RunPlan, Vec<OsString>)> = match &cli.verb {
        Verb::Setup { .. } | Verb::Sync { .. } | Verb::Validate => None,
        verb => match plan_guests(verb, &cfg, layout) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(Exit::Invalid);
            }
        },
    };
    let single = match &cli.verb {
        Verb::Setup { args } => Some((
            binaries::HYPERVISOR_MANAGER,
            [OsString::from("setup")]
                .into_iter()
                .chain(args.iter().filter(|a| *a != "--dry-run").cloned())
                .collect::<Vec<_>>(),
        )),
        Verb::Sync {
            args,
            reset_portainer,
            yes,
        } => {
            let mut a = vec![OsString::from("sync")];
            a.extend(args.iter().cloned());
            if *reset_portainer {
                a.push("--reset-portainer".into());
            }
            if *yes {
                a.push("--yes".into());
            }
            Some((binaries::PORTAINER_MANAGER, a))
        }
        _ => None,
    };

    // Every manager the run needs must be installed before anything starts.
    let missing = match (&planned, &single) {
        (Some((plan, _)), _) => run::missing_managers(plan, &launcher, &[]),
        (None, Some((m, _))) => run::missing_managers(&RunPlan::default(), &launcher, &[m]),
        (None, None) => Vec::new(),
    };
    if !missing.is_empty() {
        for m in &missing {
            eprintln!("error: manager not found: {}", m.display());
        }
        eprintln!(
            "\nhint: phoenix-cli runs the managers installed next to it; install them with `cargo xtask install`"
        );
        return Ok(Exit::Invalid);
    }

    let runner = Runner::system(false);
    let _lock = if cli.verb.mutates() && !dry_run {
        let guard = phoenix_core::lock::start_run(layout, &runner, Duration::ZERO)?;
        if guard.is_some() {
            launcher
                .env
                .push((paths::ENV_GLOBAL_LOCK_HELD.into(), "1".into()));
        }
        guard
    } else {
        None
    };

    if let Some((manager, args)) = single {
        launcher.prefix = false;
        let code = launcher.run(&runner, manager, &args, manager);
        return Ok(Exit::from_child(code));
    }
    let Some((plan, sync_args)) = planned else {
        return Ok(Exit::Success);
    };
    let jobs: usize = plan.phases.iter().map(|p| p.jobs.len()).sum();
    launcher.prefix = jobs > 1;
    for phase in &plan.phases {
        let order: Vec<String> = run::schedule_order(phase)
            .iter()
            .map(ToString::to_string)
            .collect();
        tracing::info!("{}: {}", phase.name, order.join(" "));
    }
    let results = run::execute(&plan, &launcher, &runner, usize::from(cli.jobs), &sync_args);
    let failed = results.iter().any(|r| r.outcome.is_failure());
    match cli.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&results)?),
        OutputFormat::Text if cli.global.verbosity() >= 0 => {
            eprint!("\n{}", report::summary_table(&results))
        }
        OutputFormat::Text => {}
    }
    Ok(if failed { Exit::Failure } else { Exit::Success })
}

/// Flags every manager gets so it sees the same configuration and mode.
fn common_flags(
    cli: &Cli,
    loc: &phoenix_core::config::ConfigLocation,
    dry_run: bool,
) -> Vec<OsString> {
    let mut f: Vec<OsString> = vec!["--config".into(), config_arg(loc).into_os_string()];
    if dry_run {
        f.push("--dry-run".into());
    }
    for _ in 0..cli.global.verbose {
        f.push("-v".into());
    }
    for _ in 0..cli.global.quiet {
        f.push("-q".into());
    }
    if cli.global.allow_legacy {
        f.push("--allow-legacy".into());
    }
    if matches!(cli.verb, Verb::Delete { force: true, .. }) {
        // The manager may then also delete a running guest.
        f.push("--force".into());
    }
    if let Some(l) = &cli.global.log_file {
        f.push("--log-file".into());
        f.push(l.clone().into_os_string());
    }
    f
}

fn ids_of(targets: &[(GuestId, GuestKind)]) -> Vec<GuestId> {
    targets.iter().map(|(id, _)| *id).collect()
}

/// Builds the plan of a guest verb, and the arguments of the syncs it may trigger.
fn plan_guests(
    verb: &Verb,
    cfg: &phoenix_core::config::Config,
    layout: &Layout,
) -> Result<(RunPlan, Vec<OsString>), PlanError> {
    // A dependency counts as there when it exists and its last converge completed.
    let exists = |id: GuestId, kind: GuestKind| {
        let conf = match kind {
            GuestKind::Lxc => layout.pve_lxc_conf(id.get()),
            GuestKind::Vm => layout.pve_qemu_conf(id.get()),
        };
        conf.exists() && !phoenix_core::converge::incomplete_marker(layout, kind, id).exists()
    };
    let mut sync_args: Vec<OsString> = vec!["sync".into(), "all".into()];
    let p = match verb {
        Verb::Create(t) => {
            plan::create(cfg, &ids_of(&plan::resolve_targets(cfg, &t.ids)?), &exists)
        }
        Verb::Converge(t) => plan::chain(
            cfg,
            &ids_of(&plan::resolve_targets(cfg, &t.ids)?),
            "converge",
        ),
        Verb::Plan(t) => plan::chain(cfg, &ids_of(&plan::resolve_targets(cfg, &t.ids)?), "plan"),
        Verb::Start(t) => plan::start(cfg, &ids_of(&plan::resolve_targets(cfg, &t.ids)?)),
        Verb::Stop(t) => {
            plan::targets_only(cfg, &ids_of(&plan::resolve_targets(cfg, &t.ids)?), "stop")
        }
        Verb::Restart(t) => plan::targets_only(
            cfg,
            &ids_of(&plan::resolve_targets(cfg, &t.ids)?),
            "restart",
        ),
        Verb::Status(t) => {
            plan::targets_only(cfg, &ids_of(&plan::resolve_targets(cfg, &t.ids)?), "status")
        }
        Verb::HealthCheck(t) => plan::targets_only(
            cfg,
            &ids_of(&plan::resolve_targets(cfg, &t.ids)?),
            "health-check",
        ),
        Verb::Test(t) => {
            plan::targets_only(cfg, &ids_of(&plan::resolve_targets(cfg, &t.ids)?), "test")
        }
        Verb::Delete { targets, force } => {
            let ids = ids_of(&plan::resolve_targets(cfg, &targets.ids)?);
            plan::delete(cfg, &ids, *force)?
        }
        Verb::LetsGo {
            ids,
            reset_portainer,
        } => {
            if *reset_portainer {
                sync_args.push("--reset-portainer".into());
                sync_args.push("--yes".into());
            }
            plan::lets_go(cfg, &ids_of(&plan::resolve_targets(cfg, ids)?))
        }
        Verb::Setup { .. } | Verb::Sync { .. } | Verb::Validate => RunPlan::default(),
    };
    Ok((p, sync_args))
}

fn validate(
    cli: &Cli,
    cfg: &phoenix_core::config::Config,
    report: &phoenix_core::config::Report,
) -> Exit {
    match cli.output {
        OutputFormat::Text => print!("{}", report::validate_summary(cfg, report)),
        OutputFormat::Json => {
            let o = report::orders(cfg);
            let guests: Vec<serde_json::Value> = cfg
                .guests()
                .iter()
                .map(|g| {
                    serde_json::json!({
                        "id": g.id(),
                        "kind": g.kind(),
                        "name": g.name(),
                        "is_template": g.is_template(),
                        "clone_from": g.clone_source(),
                        "dependencies": g.dependencies(),
                        "boot_order": g.boot_order(),
                        "features": g.features(),
                    })
                })
                .collect();
            let doc = serde_json::json!({
                "valid": true,
                "config_dir": cfg.location.dir,
                "files": cfg.files,
                "eras": cfg.eras,
                "guests": guests,
                "stacks": cfg.stacks.keys().collect::<Vec<_>>(),
                "create_order": o.create,
                "start_order": o.start,
                "diagnostics": report,
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
    }
    Exit::Success
}
