//! `hypervisor-manager setup [--config FILE|DIR] [--dry-run] [--wipe-disks DEV…] [--step NAME…]`.
//!
//! This build parses the command line and loads and checks the configuration (exit 2 when it
//! is invalid); the setup steps arrive with issue #6 and are reported as not available yet.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use phoenix_core::cli::{GlobalOpts, load_config, not_available};
use phoenix_core::exit::{EXIT_CODES_HELP, Exit};
use phoenix_core::paths::Layout;

const PROGRAM: &str = phoenix_core::paths::binaries::HYPERVISOR_MANAGER;

/// Converge the Proxmox host to its configuration.
#[derive(Parser, Debug)]
#[command(name = "hypervisor-manager", version, after_help = EXIT_CODES_HELP)]
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
    /// Packages, time zone, locale, log rotation, the global `phoenix` link
    System,
    /// ZFS pools, datasets and properties, ARC limit
    Zfs,
    /// Proxmox storage definitions
    Storage,
    /// NFS exports and Samba shares
    Shares,
    /// Host firewall
    Firewall,
    /// AppArmor profiles
    Apparmor,
    /// NVIDIA driver, GPU device nodes, VFIO
    Nvidia,
    /// Users, groups and sudoers
    Users,
    /// DNS zones, Step-CA trust, certificate renewal
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
    let exit = match load_config(&cli.global, &layout, true) {
        Ok(_) => match cli.verb {
            Verb::Setup { .. } => {
                not_available(PROGRAM, "setup", "issue #6 (convergent host setup)")
            }
        },
        Err(exit) => exit,
    };
    Exit::into(exit)
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
