//! Thin builders for the Proxmox commands the container manager runs: argv only, each marked
//! read or mutate, so the runner can log, dry-run and report them uniformly.

use std::time::Duration;

use phoenix_core::cmd::Cmd;
use phoenix_core::pve::tool::Tool;

/// The lifecycle commands shared with `qm`: `PCT.start(id)`, `PCT.snapshot(id, name)`, …
pub const PCT: Tool = Tool::Pct;

/// `pct <args…>` that changes something.
pub fn mutate(args: &[String]) -> Cmd {
    Cmd::mutate("pct").args(args)
}

pub use phoenix_core::pve::tool::pct_exec as exec;

pub use phoenix_core::pve::pvesm::status_cmd as pvesm_status;

/// `pvesm path <volid>`.
pub fn pvesm_path(volid: &str) -> Cmd {
    Cmd::read("pvesm").arg("path").arg(volid)
}

/// `pveam download <storage> <template>`.
pub fn pveam_download(storage: &str, file: &str) -> Cmd {
    Cmd::mutate("pveam")
        .args(["download", storage, file])
        .timeout(Duration::from_secs(1800))
}
