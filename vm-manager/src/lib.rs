//! `vm-manager <verb> <vmid>`: one VM per invocation.
//!
//! Module map: [`spec`] turns the configuration into what the VM should be (pure);
//! [`cloudinit`] renders its user-data from the project's template (pure); [`create`] plans a
//! template built from a cloud image or a clone (pure); [`options`] spells each option once,
//! for `qm create`, the config it writes and the comparison with the `.conf` (pure); [`plan`]
//! compares the spec with the observed `.conf`, firewall file and snippet (pure); [`guest`]
//! runs the readiness waits, feature installers, template sealing and the foundation check
//! through the guest agent ([`phoenix_core::pve::agent`]);
//! [`apply`] ties them into converge; [`ops`] holds the other verbs; [`qm`] builds the
//! commands. The runtime planner, lifecycle commands, snapshots, firewall file, locks and the
//! incomplete marker are shared with `lxc-manager` through [`phoenix_core::converge`].

pub mod apply;
pub mod cloudinit;
pub mod create;
pub mod guest;
pub mod ops;
pub mod options;
pub mod plan;
pub mod qm;
pub mod spec;

use std::ffi::OsString;
use std::process::ExitCode;

use phoenix_core::converge::verbs;
use phoenix_core::exit::Exit;
use phoenix_core::ids::GuestKind;

use crate::apply::Ctx;

const PROGRAM: &str = phoenix_core::paths::binaries::VM_MANAGER;
const ABOUT: &str = "Converge one VM to its configuration";

/// Entry point shared by `main.rs` and in-process tests.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    verbs::main(
        args,
        PROGRAM,
        ABOUT,
        GuestKind::Vm,
        |cli, layout, cfg, runner, id| {
            let Some((_, vm)) = spec::find(cfg, id) else {
                return Exit::Invalid;
            };
            let base = phoenix_core::converge::ops::Guest {
                cfg,
                layout,
                runner,
                kind: GuestKind::Vm,
                id,
            };
            let ctx = Ctx { base, vm };
            verbs::dispatch(cli, layout, cfg, &cfg.files.vm, &ctx)
        },
    )
}
