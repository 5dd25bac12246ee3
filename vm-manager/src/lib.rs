//! `vm-manager <verb> <id>`: one VM per invocation.
//!
//! The command line is shared with the other guest manager ([`phoenix_core::cli::guest`]).
//! This build loads and checks the configuration (exit 2 when it is invalid or the ID is not
//! a VM in it) and then reports that the verb is not available yet: the lifecycle arrives
//! with issue #5 (the VM lifecycle).

use std::ffi::OsString;
use std::process::ExitCode;

use phoenix_core::cli::guest::GuestCli;
use phoenix_core::cli::{clap_exit, guest_arg, load_config, not_available};
use phoenix_core::exit::Exit;
use phoenix_core::ids::GuestKind;
use phoenix_core::paths::Layout;

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
    if let Err(exit) = guest_arg(&cfg, cli.verb.target(), GuestKind::Vm) {
        return exit;
    }
    not_available(PROGRAM, cli.verb.name(), "issue #5 (the VM lifecycle)")
}
