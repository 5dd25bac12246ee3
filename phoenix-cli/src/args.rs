//! The command line: verbs and global flags.

use std::ffi::OsString;

use clap::{Parser, Subcommand, ValueEnum};
use phoenix_core::cli::GlobalOpts;
use phoenix_core::exit::EXIT_CODES_HELP;

/// Converge a Proxmox VE host to its declarative JSON configuration.
#[derive(Parser, Debug)]
#[command(
    name = "phoenix",
    bin_name = "phoenix",
    version,
    about = "Converge a Proxmox VE host to its declarative JSON configuration",
    after_help = EXIT_CODES_HELP,
    disable_help_subcommand = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// The verb
    #[command(subcommand)]
    pub verb: Verb,

    /// Global flags
    #[command(flatten)]
    pub global: GlobalOpts,

    /// Run at most N guests at the same time
    #[arg(long, short = 'j', global = true, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,

    /// Output format for data
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// How data is printed on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people.
    Text,
    /// For programs.
    Json,
}

/// Guest IDs, as typed.
#[derive(clap::Args, Debug, Clone)]
pub struct Targets {
    /// Container or VM IDs
    #[arg(value_name = "ID", required = true)]
    pub ids: Vec<String>,
}

/// Every verb.
#[derive(Subcommand, Debug)]
pub enum Verb {
    /// Converge the host itself (packages, ZFS, storage, users, shares, firewall, AppArmor, NVIDIA, DNS); flags are forwarded to hypervisor-manager
    Setup {
        /// Arguments for `hypervisor-manager setup` (e.g. --wipe-disks DEV, --step NAME)
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ARGS"
        )]
        args: Vec<OsString>,
    },
    /// Create missing dependencies, then create and converge every listed guest
    Create(Targets),
    /// Converge every listed guest and its whole dependency chain
    Converge(Targets),
    /// Show what create/converge would change, per guest
    Plan(Targets),
    /// Delete the listed guests only (dependents first); refuses clone sources without --force
    Delete {
        /// Guests
        #[command(flatten)]
        targets: Targets,
        /// Delete even if other guests are cloned from it (and even if it is running)
        #[arg(long)]
        force: bool,
    },
    /// Start the listed guests, after starting the (non-template) guests they depend on
    Start(Targets),
    /// Stop the listed guests only (dependents first)
    Stop(Targets),
    /// Restart the listed guests only
    Restart(Targets),
    /// Show the state of the listed guests
    Status(Targets),
    /// Run the health checks of the listed guests
    #[command(name = "health-check")]
    HealthCheck(Targets),
    /// Run the integration tests of the listed guests inside them (PASS/FAIL per test)
    Test(Targets),
    /// Synchronise Portainer, Traefik and Nginx: `sync all`, `sync certificates` or `sync stack NAME to VMID`
    Sync {
        /// Reset Portainer's data before syncing (asks first unless --yes)
        #[arg(long)]
        reset_portainer: bool,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
        /// `all`, `certificates`, or `stack NAME to VMID`
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "WHAT"
        )]
        args: Vec<OsString>,
    },
    /// Create every guest in dependency order, start them by boot order, sync where asked
    #[command(name = "LetsGo", alias = "letsgo", alias = "lets-go")]
    LetsGo {
        /// Limit the run to these guests and what they need
        #[arg(value_name = "ID")]
        ids: Vec<String>,
        /// Reset Portainer's data in the syncs this run triggers
        #[arg(long)]
        reset_portainer: bool,
    },
    /// Load and check every configuration file, then print a summary
    Validate,
}

impl Verb {
    /// The verb's name as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Verb::Setup { .. } => "setup",
            Verb::Create(_) => "create",
            Verb::Converge(_) => "converge",
            Verb::Plan(_) => "plan",
            Verb::Delete { .. } => "delete",
            Verb::Start(_) => "start",
            Verb::Stop(_) => "stop",
            Verb::Restart(_) => "restart",
            Verb::Status(_) => "status",
            Verb::HealthCheck(_) => "health-check",
            Verb::Test(_) => "test",
            Verb::Sync { .. } => "sync",
            Verb::LetsGo { .. } => "LetsGo",
            Verb::Validate => "validate",
        }
    }

    /// Whether the verb changes the host (and so takes the global lock unless dry-run).
    pub fn mutates(&self) -> bool {
        !matches!(
            self,
            Verb::Plan(_) | Verb::Status(_) | Verb::HealthCheck(_) | Verb::Validate
        )
    }
}

/// Parses argv.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(args)
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
    fn flags_go_anywhere() {
        let c =
            parse(["phoenix", "create", "101", "--dry-run", "102", "-j", "2"].map(OsString::from))
                .unwrap();
        assert!(c.global.dry_run);
        assert_eq!(c.jobs, 2);
        let Verb::Create(t) = c.verb else { panic!() };
        assert_eq!(t.ids, ["101", "102"]);
    }

    #[test]
    fn setup_forwards_everything_after_the_verb() {
        let c = parse(
            [
                "phoenix",
                "--dry-run",
                "setup",
                "--wipe-disks",
                "/dev/sdb",
                "--step",
                "zfs",
            ]
            .map(OsString::from),
        )
        .unwrap();
        assert!(c.global.dry_run);
        let Verb::Setup { args } = c.verb else {
            panic!()
        };
        assert_eq!(
            args,
            ["--wipe-disks", "/dev/sdb", "--step", "zfs"].map(OsString::from)
        );
    }

    #[test]
    fn lets_go_is_case_tolerant() {
        for v in ["LetsGo", "letsgo", "lets-go"] {
            assert!(matches!(
                parse(["phoenix", v].map(OsString::from)).unwrap().verb,
                Verb::LetsGo { .. }
            ));
        }
        assert!(parse(["phoenix", "frobnicate"].map(OsString::from)).is_err());
    }
}
