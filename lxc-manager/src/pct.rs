//! Thin builders for the Proxmox commands the container manager runs: argv only, each marked
//! read or mutate, so the runner can log, dry-run and report them uniformly.

use std::path::Path;
use std::time::Duration;

use phoenix_core::cmd::Cmd;
use phoenix_core::ids::GuestId;

/// `pct status <id>`.
pub fn status(id: GuestId) -> Cmd {
    Cmd::read("pct").arg("status").arg(id.to_string())
}

/// `pct <args…>` that changes something.
pub fn mutate(args: &[String]) -> Cmd {
    Cmd::mutate("pct").args(args)
}

/// `pct set <id> --k v … [--delete a,b]`.
pub fn set(id: GuestId, opts: &[(String, String)], delete: &[String]) -> Cmd {
    let mut c = Cmd::mutate("pct").arg("set").arg(id.to_string());
    for (k, v) in opts {
        c = c.arg(format!("--{k}")).arg(v);
    }
    if !delete.is_empty() {
        c = c.arg("--delete").arg(delete.join(","));
    }
    c
}

/// `pct resize <id> <disk> <n>G`.
pub fn resize(id: GuestId, disk: &str, gib: u64) -> Cmd {
    Cmd::mutate("pct").args([
        "resize".to_string(),
        id.to_string(),
        disk.to_string(),
        format!("{gib}G"),
    ])
}

/// `pct start <id>`.
pub fn start(id: GuestId) -> Cmd {
    Cmd::mutate("pct")
        .arg("start")
        .arg(id.to_string())
        .timeout(Duration::from_secs(300))
}

/// `pct shutdown <id> --timeout <s>`.
pub fn shutdown(id: GuestId, secs: u64) -> Cmd {
    Cmd::mutate("pct")
        .args([
            "shutdown".to_string(),
            id.to_string(),
            "--timeout".into(),
            secs.to_string(),
        ])
        .timeout(Duration::from_secs(secs + 30))
}

/// `pct stop <id>`.
pub fn stop(id: GuestId) -> Cmd {
    Cmd::mutate("pct")
        .arg("stop")
        .arg(id.to_string())
        .timeout(Duration::from_secs(120))
}

/// `pct reboot <id>`.
pub fn reboot(id: GuestId) -> Cmd {
    Cmd::mutate("pct")
        .arg("reboot")
        .arg(id.to_string())
        .timeout(Duration::from_secs(300))
}

/// `pct snapshot <id> <name>`.
pub fn snapshot(id: GuestId, name: &str) -> Cmd {
    Cmd::mutate("pct").args(["snapshot", &id.to_string(), name])
}

/// `pct delsnapshot <id> <name>`.
pub fn delsnapshot(id: GuestId, name: &str) -> Cmd {
    Cmd::mutate("pct").args(["delsnapshot", &id.to_string(), name])
}

/// `pct rollback <id> <name>`.
pub fn rollback(id: GuestId, name: &str) -> Cmd {
    Cmd::mutate("pct").args(["rollback", &id.to_string(), name])
}

/// `pct template <id>`.
pub fn template(id: GuestId) -> Cmd {
    Cmd::mutate("pct").arg("template").arg(id.to_string())
}

/// `pct destroy <id> [--purge]`.
pub fn destroy(id: GuestId, purge: bool) -> Cmd {
    let c = Cmd::mutate("pct").arg("destroy").arg(id.to_string());
    if purge { c.arg("--purge") } else { c }
}

/// `pct exec <id> -- <argv>`; `mutates` says whether it changes the guest.
pub fn exec(id: GuestId, argv: &[String], mutates: bool) -> Cmd {
    let base = if mutates {
        Cmd::mutate("pct")
    } else {
        Cmd::read("pct")
    };
    base.arg("exec").arg(id.to_string()).arg("--").args(argv)
}

/// `pct push <id> <host file> <guest path> --perms <mode>`.
pub fn push(id: GuestId, src: &Path, dest: &str, perms: &str) -> Cmd {
    Cmd::mutate("pct")
        .arg("push")
        .arg(id.to_string())
        .arg(src)
        .arg(dest)
        .arg("--perms")
        .arg(perms)
}

/// `pvesm status`.
pub fn pvesm_status() -> Cmd {
    Cmd::read("pvesm").arg("status")
}

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
