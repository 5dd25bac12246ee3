//! `lxc-manager <verb> <ctid>`: one container per invocation.
//!
//! Module map: [`spec`] turns the configuration into what the container should be (pure);
//! [`select`] picks a clone source by features (pure); [`options`] spells each option once,
//! for `pct create`, the config it writes and the comparison with the `.conf` (pure);
//! [`plan`] compares the spec with the observed `.conf`, firewall file and host facts and
//! plans settings and runtime steps (pure); [`create`] plans and runs `pct create`/`pct clone`; [`observe`] reads the host;
//! [`guest`] works inside a running container (installers, hooks, checks, tests);
//! [`apply`] ties them into converge; [`ops`] holds the other verbs; [`pct`] builds the
//! commands. Every command goes through the one [`phoenix_core::cmd::Runner`].

pub mod apply;
pub mod create;
pub mod guest;
pub mod observe;
pub mod ops;
pub mod options;
pub mod pct;
pub mod plan;
pub mod select;
pub mod spec;

use std::ffi::OsString;
use std::process::ExitCode;

use phoenix_core::converge::verbs;
use phoenix_core::exit::Exit;
use phoenix_core::ids::GuestKind;

use crate::apply::Ctx;

const PROGRAM: &str = phoenix_core::paths::binaries::LXC_MANAGER;
const ABOUT: &str = "Converge one container to its configuration";

/// Entry point shared by `main.rs` and in-process tests.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    verbs::main(
        args,
        PROGRAM,
        ABOUT,
        GuestKind::Lxc,
        |cli, layout, cfg, runner, id| {
            let Some(c) = cfg.lxc.lxc_configs.get(&id.to_string()) else {
                return Exit::Invalid;
            };
            let base = phoenix_core::converge::ops::Guest {
                cfg,
                layout,
                runner,
                kind: GuestKind::Lxc,
                id,
            };
            let ctx = Ctx { base, c };
            verbs::dispatch(cli, layout, cfg, &cfg.files.lxc, &ctx)
        },
    )
}
