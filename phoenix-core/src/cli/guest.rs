//! The command line shared by the two guest managers (`lxc-manager`, `vm-manager`): the same
//! verbs, one guest per invocation, so the two binaries cannot drift apart.

use std::ffi::OsString;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use super::GlobalOpts;
use crate::exit::EXIT_CODES_HELP;

/// `<manager> <verb> <id>`.
#[derive(Parser, Debug)]
#[command(version, after_help = EXIT_CODES_HELP)]
pub struct GuestCli {
    /// What to do
    #[command(subcommand)]
    pub verb: GuestVerb,
    /// Global flags
    #[command(flatten)]
    pub global: GlobalOpts,
    /// Re-run every feature installer, even those recorded as done (create, converge)
    #[arg(long, global = true)]
    pub force_features: bool,
    /// Output format for data (status)
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// How data is printed on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// For people.
    Text,
    /// For programs.
    Json,
}

/// The guest ID argument.
#[derive(clap::Args, Debug, Clone)]
pub struct Target {
    /// The guest's ID (CTID or VMID)
    #[arg(value_name = "ID")]
    pub id: String,
}

/// Every verb a guest manager knows.
#[derive(Subcommand, Debug, Clone)]
pub enum GuestVerb {
    /// Create the guest if it is missing, then converge it
    Create(Target),
    /// Converge an existing guest (settings, features, firewall, snapshots)
    Converge(Target),
    /// Print what create/converge would change; change nothing
    Plan(Target),
    /// Start it (a no-op when it is running)
    Start(Target),
    /// Stop it (a no-op when it is stopped)
    Stop(Target),
    /// Restart it (a clean reboot; starts it when it is stopped)
    Restart(Target),
    /// Print its state, address, snapshots and drift from the configuration
    Status(Target),
    /// Delete it
    Delete {
        /// The guest
        #[command(flatten)]
        target: Target,
        /// Delete even if it is running or other guests are cloned from it
        #[arg(long)]
        force: bool,
        /// Also remove it from backup jobs, replication and HA (`--purge`)
        #[arg(long)]
        purge: bool,
    },
    /// Roll back to the final-form snapshot and start it
    Reconfigure(Target),
    /// Run its health checks
    #[command(name = "health-check")]
    HealthCheck(Target),
    /// Run its integration tests inside it (PASS/FAIL per test)
    Test {
        /// The guest
        #[command(flatten)]
        target: Target,
        /// Only this suite (a key of `tests`, e.g. integration_tests)
        #[arg(long, value_name = "NAME")]
        suite: Option<String>,
    },
}

impl GuestVerb {
    /// The verb's name as typed.
    pub fn name(&self) -> &'static str {
        match self {
            GuestVerb::Create(_) => "create",
            GuestVerb::Converge(_) => "converge",
            GuestVerb::Plan(_) => "plan",
            GuestVerb::Start(_) => "start",
            GuestVerb::Stop(_) => "stop",
            GuestVerb::Restart(_) => "restart",
            GuestVerb::Status(_) => "status",
            GuestVerb::Delete { .. } => "delete",
            GuestVerb::Reconfigure(_) => "reconfigure",
            GuestVerb::HealthCheck(_) => "health-check",
            GuestVerb::Test { .. } => "test",
        }
    }

    /// The guest ID as typed.
    pub fn target(&self) -> &str {
        match self {
            GuestVerb::Create(t)
            | GuestVerb::Converge(t)
            | GuestVerb::Plan(t)
            | GuestVerb::Start(t)
            | GuestVerb::Stop(t)
            | GuestVerb::Restart(t)
            | GuestVerb::Status(t)
            | GuestVerb::Reconfigure(t)
            | GuestVerb::HealthCheck(t)
            | GuestVerb::Delete { target: t, .. }
            | GuestVerb::Test { target: t, .. } => &t.id,
        }
    }

    /// Whether the verb can change the host.
    pub fn mutates(&self) -> bool {
        !matches!(
            self,
            GuestVerb::Plan(_) | GuestVerb::Status(_) | GuestVerb::HealthCheck(_)
        )
    }
}

impl GuestCli {
    /// The clap command, named after the manager.
    pub fn command_for(program: &'static str, about: &'static str) -> clap::Command {
        GuestCli::command()
            .name(program)
            .bin_name(program)
            .about(about)
    }

    /// Parses argv for `program`.
    pub fn parse_for(
        program: &'static str,
        about: &'static str,
        args: impl IntoIterator<Item = OsString>,
    ) -> Result<Self, clap::Error> {
        let m = Self::command_for(program, about).try_get_matches_from(args)?;
        Self::from_arg_matches(&m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_cli() {
        GuestCli::command_for("lxc-manager", "test").debug_assert();
    }

    #[test]
    fn parses_every_verb() {
        for verb in [
            "create",
            "converge",
            "plan",
            "start",
            "stop",
            "restart",
            "status",
            "delete",
            "reconfigure",
            "health-check",
            "test",
        ] {
            let c = GuestCli::parse_for(
                "lxc-manager",
                "t",
                [OsString::from("lxc-manager"), verb.into(), "101".into()],
            )
            .unwrap();
            assert_eq!(c.verb.name(), verb);
            assert_eq!(c.verb.target(), "101");
        }
        let c = GuestCli::parse_for(
            "vm-manager",
            "t",
            ["vm-manager", "delete", "1001", "--force", "--dry-run"].map(OsString::from),
        )
        .unwrap();
        assert!(matches!(c.verb, GuestVerb::Delete { force: true, .. }));
        assert!(c.global.dry_run);
        assert!(
            GuestCli::parse_for(
                "vm-manager",
                "t",
                ["vm-manager", "frob", "1"].map(OsString::from)
            )
            .is_err()
        );
    }
}
