//! `vm-manager <verb> <VMID>`: one VM per invocation.
//!
//! This build parses the command line, loads and checks the configuration (exit 2 when it is
//! invalid or the VMID is not a VM in it) and then reports that the verb is not available
//! yet: the lifecycle arrives with issue #5 (the VM lifecycle).

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use phoenix_core::cli::{GlobalOpts, guest_arg, load_config, not_available};
use phoenix_core::exit::{EXIT_CODES_HELP, Exit};
use phoenix_core::ids::GuestKind;
use phoenix_core::paths::Layout;

const PROGRAM: &str = phoenix_core::paths::binaries::VM_MANAGER;

/// Converge one VM to its configuration.
#[derive(Parser, Debug)]
#[command(name = "vm-manager", version, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// What to do
    #[command(subcommand)]
    pub verb: Verb,
    /// Global flags
    #[command(flatten)]
    pub global: GlobalOpts,
}

/// The VMID argument.
#[derive(clap::Args, Debug)]
pub struct Target {
    /// The VM's ID
    #[arg(value_name = "VMID")]
    pub id: String,
}

/// Every verb.
#[derive(Subcommand, Debug)]
pub enum Verb {
    /// Create the VM if missing, then converge it
    Create(Target),
    /// Converge an existing VM (settings, features, firewall, snapshots)
    Converge(Target),
    /// Print what create/converge would change; change nothing
    Plan(Target),
    /// Start it (a no-op when running)
    Start(Target),
    /// Stop it (a no-op when stopped)
    Stop(Target),
    /// Stop and start it
    Restart(Target),
    /// Print its state
    Status(Target),
    /// Delete it
    Delete {
        /// The VM
        #[command(flatten)]
        target: Target,
        /// Delete even if it is running
        #[arg(long)]
        force: bool,
    },
    /// Roll back to the final-form snapshot and start it
    Reconfigure(Target),
    /// Run its health checks
    #[command(name = "health-check")]
    HealthCheck(Target),
}

impl Verb {
    fn parts(&self) -> (&'static str, &str) {
        match self {
            Verb::Create(t) => ("create", &t.id),
            Verb::Converge(t) => ("converge", &t.id),
            Verb::Plan(t) => ("plan", &t.id),
            Verb::Start(t) => ("start", &t.id),
            Verb::Stop(t) => ("stop", &t.id),
            Verb::Restart(t) => ("restart", &t.id),
            Verb::Status(t) => ("status", &t.id),
            Verb::Delete { target, .. } => ("delete", &target.id),
            Verb::Reconfigure(t) => ("reconfigure", &t.id),
            Verb::HealthCheck(t) => ("health-check", &t.id),
        }
    }

    fn mutates(&self) -> bool {
        !matches!(self, Verb::Plan(_) | Verb::Status(_) | Verb::HealthCheck(_))
    }
}

/// Entry point shared by `main.rs` and in-process tests.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let layout = Layout::from_env();
    cli.global.init_logging(PROGRAM, &layout);
    run(&cli, &layout).into()
}

fn run(cli: &Cli, layout: &Layout) -> Exit {
    let (cfg, _) = match load_config(&cli.global, layout, cli.verb.mutates()) {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    let (verb, raw) = cli.verb.parts();
    if let Err(exit) = guest_arg(&cfg, raw, GuestKind::Vm) {
        return exit;
    }
    not_available(PROGRAM, verb, "issue #5 (the VM lifecycle)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
