//! `portainer-manager sync all | sync certificates | sync stack <name> to <vmid>
//! [--reset-portainer] [--yes]`.
//!
//! The configuration is loaded and checked first (exit 2 when it is invalid, when the stack
//! or VM is unknown, or when the target is malformed); then [`sync::run`] runs the stages
//! and prints a summary: exit 0 when every stage is ok, changed or not ready (its guest is
//! missing or stopped), 1 when one failed.

pub mod api;
pub mod certs;
pub mod guest;
pub mod http;
pub mod nginx;
pub mod stacks;
pub mod sync;
pub mod traefik;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use phoenix_core::cli::{GlobalOpts, guest_arg, load_config};
use phoenix_core::config::{Config, Guest, Subject, Work};
use phoenix_core::exit::{EXIT_CODES_HELP, Exit};
use phoenix_core::ids::GuestKind;
use phoenix_core::paths::Layout;

const PROGRAM: &str = phoenix_core::paths::binaries::PORTAINER_MANAGER;

/// Synchronise Portainer, Traefik and Nginx with the inventory.
#[derive(Parser, Debug)]
#[command(name = "portainer-manager", version, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// What to do
    #[command(subcommand)]
    pub verb: Verb,
    /// Global flags
    #[command(flatten)]
    pub global: GlobalOpts,
}

/// Every verb.
#[derive(Subcommand, Debug)]
pub enum Verb {
    /// `sync all`, `sync certificates`, or `sync stack NAME to VMID`
    Sync {
        /// Reset Portainer's data first (asks unless --yes)
        #[arg(long)]
        reset_portainer: bool,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
        /// `all`, `certificates` (renew the ones that are due) or `stack NAME to VMID`
        #[arg(required = true, num_args = 1..=4, value_name = "WHAT")]
        what: Vec<String>,
    },
}

/// What `sync` was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncTarget {
    /// Everything.
    All,
    /// Only the certificates that are due (what the renewal timer runs).
    Certificates,
    /// One stack onto one VM.
    Stack {
        /// Stack name.
        name: String,
        /// VM ID as typed.
        vmid: String,
    },
}

/// Parses the words after `sync`.
pub fn parse_target(words: &[String]) -> Result<SyncTarget, String> {
    match words {
        [all] if all == "all" => Ok(SyncTarget::All),
        [c] if c == "certificates" => Ok(SyncTarget::Certificates),
        [stack, name, to, vmid] if stack == "stack" && to == "to" => Ok(SyncTarget::Stack {
            name: name.clone(),
            vmid: vmid.clone(),
        }),
        _ => Err(format!(
            "invalid sync target `{}`: expected `all`, `certificates` or `stack NAME to VMID`",
            words.join(" ")
        )),
    }
}

fn check_target(cfg: &Config, target: &SyncTarget) -> Result<(), Exit> {
    if let SyncTarget::Stack { name, vmid } = target {
        let id = guest_arg(cfg, vmid, GuestKind::Vm)?;
        let role = match cfg.guest(id) {
            Some(Guest::Vm(_, v)) => v.portainer_role.clone(),
            _ => None,
        };
        if role.as_deref() != Some("agent") {
            eprintln!(
                "error: VM {id} has no Portainer agent (portainer_role is {}); stacks are deployed to agent VMs",
                role.map_or("not set".to_string(), |r| format!("{r:?}"))
            );
            return Err(Exit::Invalid);
        }
        // A finding on the stack (no compose file, a missing file, no definition although a
        // VM names it) fails this stack alone, before anything runs: exit 1 naming it.
        let blockers = cfg.blockers(&Subject::Stack(name.clone()), Work::Deploy);
        if !blockers.is_empty() {
            for d in &blockers {
                eprintln!(
                    "error: cannot sync stack {name}: {}\n  --> {} at {}",
                    d.message,
                    d.file.display(),
                    d.pointer_display()
                );
            }
            eprintln!("error: stack {name}: nothing was changed");
            return Err(Exit::Failure);
        }
        if !cfg.stacks.contains_key(name) {
            let known: Vec<&str> = cfg.stacks.keys().map(String::as_str).collect();
            eprintln!(
                "error: unknown stack {name:?} (not in {} nor in {}; known: {})",
                cfg.files.stacks_dir.display(),
                cfg.files.stacks_config.display(),
                known.join(", ")
            );
            return Err(Exit::Invalid);
        }
    }
    Ok(())
}

/// Entry point shared by `main.rs` and in-process tests.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli: Cli = match phoenix_core::cli::parse(args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Verb::Sync {
        what,
        reset_portainer,
        yes,
    } = &cli.verb;
    let target = match parse_target(what) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Invalid.into();
        }
    };
    let layout = Layout::from_env();
    cli.global.init_logging(PROGRAM, &layout);
    let exit = match load_config(&cli.global, &layout) {
        Ok((cfg, _)) => match check_target(&cfg, &target) {
            Ok(()) => {
                let opts = sync::Options {
                    target,
                    reset: *reset_portainer
                        || std::env::var("PHOENIX_RESET_PORTAINER").as_deref() == Ok("true"),
                    yes: *yes,
                };
                run(&cli, &cfg, &layout, &opts)
            }
            Err(e) => e,
        },
        Err(exit) => exit,
    };
    exit.into()
}

fn run(cli: &Cli, cfg: &Config, layout: &Layout, opts: &sync::Options) -> Exit {
    let dry_run = cli.global.dry_run;
    if let Err(e) = sync::confirm_reset(opts, dry_run) {
        eprintln!("error: {e}");
        return Exit::Invalid;
    }
    let runner = phoenix_core::cmd::Runner::system(dry_run);
    let _lock = if dry_run {
        None
    } else {
        match phoenix_core::lock::start_run(layout, &runner, std::time::Duration::from_secs(600)) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: {e:#}");
                return Exit::Failure;
            }
        }
    };
    let ctx = phoenix_core::step::Ctx::new(cfg, layout, &runner);
    let report = sync::run(ctx, opts);
    if dry_run {
        println!("dry run: nothing was changed");
    }
    print!("{report}");
    match report.exit_code() {
        0 | 3 => Exit::Success,
        _ => Exit::Failure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sync_targets() {
        let w = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(parse_target(&w("all")), Ok(SyncTarget::All));
        assert_eq!(
            parse_target(&w("certificates")),
            Ok(SyncTarget::Certificates)
        );
        assert_eq!(
            parse_target(&w("stack qdrant_service to 1002")),
            Ok(SyncTarget::Stack {
                name: "qdrant_service".into(),
                vmid: "1002".into()
            })
        );
        assert!(parse_target(&w("stack qdrant_service 1002")).is_err());
        assert!(parse_target(&w("everything")).is_err());
    }
}
