//! Thin builders for the `qm` and `pvesm` commands only the VM manager runs (argv only, each
//! marked read or mutate). The lifecycle commands both managers run come from
//! [`phoenix_core::pve::tool::Tool`] ([`QM`]).

use std::path::Path;
use std::time::Duration;

use phoenix_core::cmd::Cmd;
use phoenix_core::ids::GuestId;
use phoenix_core::pve::tool::Tool;

/// `qm start|shutdown|snapshot|…`.
pub const QM: Tool = Tool::Qm;

/// `qm create <id> --k v …`.
pub fn create(id: GuestId, opts: &[(String, String)]) -> Cmd {
    let mut c = Cmd::mutate("qm").arg("create").arg(id.to_string());
    for (k, v) in opts {
        c = c.arg(format!("--{k}")).arg(v);
    }
    c.timeout(Duration::from_secs(600))
}

/// `qm disk import <id> <image> <storage> --target-disk <disk>`.
pub fn disk_import(id: GuestId, image: &Path, storage: &str, disk: &str) -> Cmd {
    Cmd::mutate("qm")
        .args(["disk", "import", &id.to_string()])
        .arg(image)
        .args([storage, "--target-disk", disk])
        .timeout(Duration::from_secs(3600))
}

/// `qm clone <src> <id> --name <name> [--full [--storage s]] [--snapname s]`.
pub fn clone(
    src: GuestId,
    id: GuestId,
    name: &str,
    full: Option<&str>,
    snapshot: Option<&str>,
) -> Cmd {
    let mut c =
        Cmd::mutate("qm").args(["clone", &src.to_string(), &id.to_string(), "--name", name]);
    if let Some(storage) = full {
        c = c.args(["--full", "1", "--storage", storage]);
    }
    if let Some(s) = snapshot {
        c = c.args(["--snapname", s]);
    }
    c.timeout(Duration::from_secs(3600))
}

/// `qm cloudinit update <id>`: regenerates the cloud-init drive.
pub fn cloudinit_update(id: GuestId) -> Cmd {
    Cmd::mutate("qm").args(["cloudinit", "update", &id.to_string()])
}

/// `pvesm set <storage> --content <list>`.
pub fn pvesm_content(storage: &str, content: &str) -> Cmd {
    Cmd::mutate("pvesm").args(["set", storage, "--content", content])
}
