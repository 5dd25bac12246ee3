//! `hypervisor-manager setup [--config FILE|DIR] [--dry-run] [--wipe-disks DEV…] [--step NAME…]`.
//!
//! Each step ([`steps`]) observes, plans and applies through the one runner, in the shell
//! version's order (users before the Samba shares they own); the run ends with a summary
//! ([`phoenix_core::step::report`]): `ok`, `changed`, `reboot required`, `failed` (later steps are then skipped)
//! or `skipped`. A step that needs a reboot does not stop the run: later steps do not depend
//! on it, and the host is never rebooted by setup.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
pub mod steps;

use phoenix_core::cli::{GlobalOpts, load_config};
use phoenix_core::cmd::Runner;
use phoenix_core::exit::Exit;
use phoenix_core::paths::Layout;
use phoenix_core::step::{self, report};

const PROGRAM: &str = phoenix_core::paths::binaries::HYPERVISOR_MANAGER;

/// Exit statuses of `setup` (the shared ones plus "reboot required").
const SETUP_EXIT_HELP: &str = "\
Exit status:
  0  success: every step ok or changed
  1  a step failed or could not run (the summary says which; later steps are skipped)
  2  invalid usage or configuration; nothing was run on the host
  3  setup finished, but a change takes effect only after a reboot (never done by itself)";

/// Converge the Proxmox host to its configuration.
#[derive(Parser, Debug)]
#[command(name = "hypervisor-manager", version, after_help = SETUP_EXIT_HELP)]
pub struct Cli {
    /// What to do
    #[command(subcommand)]
    pub verb: Verb,
    /// Global flags
    #[command(flatten)]
    pub global: GlobalOpts,
}

/// Setup steps, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Step {
    /// Packages, NTP, time zone, locale, log rotation, the global `phoenix` link, host name
    System,
    /// ZFS pools, datasets and properties, ARC limit
    Zfs,
    /// Proxmox storage definitions
    Storage,
    /// The administrator (sudo, SSH key, Proxmox role) and the Samba user
    Users,
    /// NFS exports and Samba shares
    Shares,
    /// Host firewall
    Firewall,
    /// AppArmor profiles
    Apparmor,
    /// NVIDIA driver, GPU device nodes, VFIO
    Nvidia,
    /// DNS server and resolver, CA trust, certificate renewal timer
    Dns,
}

/// Every verb.
#[derive(Subcommand, Debug)]
pub enum Verb {
    /// Converge the host, step by step
    Setup {
        /// Disks `zpool create` may wipe (anything else holding data is refused)
        #[arg(long, value_name = "DEV", num_args = 1.., action = clap::ArgAction::Append)]
        wipe_disks: Vec<PathBuf>,
        /// Run only these steps
        #[arg(long, value_enum, value_name = "NAME", action = clap::ArgAction::Append)]
        step: Vec<Step>,
    },
}

/// Entry point shared by `main.rs` and in-process tests.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli: Cli = match phoenix_core::cli::parse(args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let layout = Layout::from_env();
    cli.global.init_logging(PROGRAM, &layout);
    let exit = match load_config(&cli.global, &layout) {
        Ok((cfg, _)) => match &cli.verb {
            Verb::Setup { wipe_disks, step } => setup(&cli, &cfg, &layout, wipe_disks, step),
        },
        Err(exit) => exit,
    };
    Exit::into(exit)
}

/// Every step in order.
const ORDER: &[Step] = &[
    Step::System,
    Step::Zfs,
    Step::Storage,
    Step::Users,
    Step::Shares,
    Step::Firewall,
    Step::Apparmor,
    Step::Nvidia,
    Step::Dns,
];

fn step_name(s: Step) -> &'static str {
    match s {
        Step::System => "system",
        Step::Zfs => "zfs",
        Step::Storage => "storage",
        Step::Shares => "shares",
        Step::Firewall => "firewall",
        Step::Apparmor => "apparmor",
        Step::Nvidia => "nvidia",
        Step::Users => "users",
        Step::Dns => "dns",
    }
}

fn setup(
    cli: &Cli,
    cfg: &phoenix_core::config::Config,
    layout: &Layout,
    wipe_disks: &[PathBuf],
    only: &[Step],
) -> Exit {
    let runner = Runner::system(cli.global.dry_run);
    let _lock = if cli.global.dry_run {
        None
    } else {
        match phoenix_core::lock::start_run(layout, &runner, std::time::Duration::ZERO) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: {e:#}");
                return Exit::Failure;
            }
        }
    };
    let ctx = step::Ctx::new(cfg, layout, &runner);
    let mut report = report::Report::default();
    let mut failed = false;
    for &s in ORDER.iter().filter(|s| only.is_empty() || only.contains(s)) {
        let name = step_name(s);
        let outcome = if failed {
            report::Outcome::Skipped("an earlier step failed".into())
        } else {
            match s {
                Step::System => step::run(&steps::system::System, &ctx),
                Step::Zfs => step::run(&steps::zfs::Zfs { wipe_disks }, &ctx),
                Step::Storage => step::run(&steps::storage::StorageStep, &ctx),
                Step::Users => step::run(&steps::users::Users, &ctx),
                Step::Shares => step::run(&steps::shares::Shares, &ctx),
                Step::Firewall => step::run(&step::firewall::Firewall, &ctx),
                Step::Apparmor => step::run(&steps::apparmor::AppArmor, &ctx),
                Step::Nvidia => step::run(&steps::nvidia::Nvidia, &ctx),
                Step::Dns => step::run(&step::dns::Dns, &ctx),
            }
        };
        failed |= matches!(outcome, report::Outcome::Failed(_));
        report.steps.push((name, outcome));
    }
    if cli.global.dry_run {
        println!("dry run: nothing was changed");
    }
    print!("{report}");
    match report.exit_code() {
        0 => Exit::Success,
        3 => Exit::External(3),
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
    fn wipe_disks_take_values() {
        let c = Cli::try_parse_from([
            "hm",
            "setup",
            "--wipe-disks",
            "/dev/sdb",
            "/dev/sdc",
            "--step",
            "zfs",
            "--dry-run",
        ])
        .unwrap();
        let Verb::Setup { wipe_disks, step } = c.verb;
        assert_eq!(
            wipe_disks,
            [PathBuf::from("/dev/sdb"), PathBuf::from("/dev/sdc")]
        );
        assert_eq!(step, [Step::Zfs]);
        assert!(c.global.dry_run);
    }
}
