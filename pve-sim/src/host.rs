//! The host's own bookkeeping (`state.json`'s `host`): what a real Proxmox VE host keeps in
//! dpkg's database, systemd, the kernel and the account files, for the host tools
//! (`tools::host`).
//!
//! Real-format files are written next to it where a real host keeps them (`/etc/passwd`,
//! `/etc/group`, `/etc/shadow`, `/etc/pve/user.cfg`, `/etc/hostname`, `/etc/timezone`,
//! `/sys/kernel/security/apparmor/profiles`, `/proc/driver/nvidia/version`, …); tools read
//! the state, never those renderings. Secrets are never stored in clear: passwords are the
//! crypt(3) hash the caller gave, Samba passwords a SHA-256.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything the host tools keep.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct HostState {
    /// Installed packages: name → version.
    pub packages: BTreeMap<String, String>,
    /// Removed (not purged) packages whose configuration files remain: name → version.
    pub config_files: BTreeMap<String, String>,
    /// systemd units by full name (`chrony.service`): package units and local ones touched.
    pub units: BTreeMap<String, Unit>,
    /// SHA-256 of each `/etc/systemd/system` unit file (and its drop-ins) as systemd loaded
    /// it (at the last daemon-reload, or when first used).
    pub loaded_units: BTreeMap<String, String>,
    /// Time zone (`Etc/UTC`).
    pub timezone: String,
    /// Generated locales as named in `/etc/locale.gen` (`en_US.UTF-8`).
    pub locales: Vec<String>,
    /// Host name.
    pub hostname: String,
    /// Running kernel (`uname -r`).
    pub kernel: String,
    /// The Proxmox VE release ([`crate::profile`]).
    pub pve: String,
    /// Unix users by name.
    pub users: BTreeMap<String, User>,
    /// Unix groups by name.
    pub groups: BTreeMap<String, Group>,
    /// Proxmox VE users by user ID (`root@pam`).
    pub pve_users: BTreeMap<String, PveUser>,
    /// Proxmox VE ACL entries, in order.
    pub acls: Vec<Acl>,
    /// Loaded AppArmor profiles by name.
    pub apparmor: BTreeMap<String, Profile>,
    /// NVIDIA GPUs and driver.
    pub nvidia: Nvidia,
    /// The NFS export table (what `exportfs -r` last exported).
    pub exports: Vec<Export>,
    /// Samba (passdb) users by name.
    pub samba_users: BTreeMap<String, SambaUser>,
    /// Local CA certificates `update-ca-certificates` last saw: path below
    /// `/usr/local/share/ca-certificates` → SHA-256.
    pub ca_certs: BTreeMap<String, String>,
    /// A change (driver install) takes effect only after a reboot.
    pub reboot_required: bool,
    /// Simulated time of the last `apt-get update`.
    pub last_apt_update: Option<u64>,
    /// How often things happened.
    pub counters: Counters,
}

/// One systemd unit.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Unit {
    /// `enabled`, `disabled`, `static` or `masked`.
    pub enabled: String,
    /// `active`, `inactive` or `failed`.
    pub active: String,
    /// Starts (from inactive or failed).
    pub starts: u64,
    /// Stops.
    pub stops: u64,
    /// `restart` (and `reload-or-restart` that restarted).
    pub restarts: u64,
    /// Reloads.
    pub reloads: u64,
    /// The unit file changed on disk since systemd loaded it (a start warned).
    pub stale: bool,
    /// How many operations warned about a changed unit file.
    pub stale_warnings: u64,
    /// The unit file state before `systemctl mask` (restored by `unmask`).
    pub before_mask: Option<String>,
}

/// A Unix user.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct User {
    /// UID.
    pub uid: u32,
    /// Primary GID.
    pub gid: u32,
    /// GECOS (comment).
    pub gecos: String,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
    /// The shadow password field: a crypt(3) hash, `!` (locked) or `*`.
    pub password: String,
    /// Day of the last password change (days since the epoch).
    pub last_change: u64,
}

/// A Unix group.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Group {
    /// GID.
    pub gid: u32,
    /// Supplementary members.
    pub members: Vec<String>,
}

/// A Proxmox VE user (`user.cfg`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct PveUser {
    /// Enabled.
    pub enable: bool,
    /// Expiry (0: never).
    pub expire: u64,
    /// First name.
    pub firstname: String,
    /// Last name.
    pub lastname: String,
    /// E-mail.
    pub email: String,
    /// Comment.
    pub comment: String,
}

/// A Proxmox VE ACL entry.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Acl {
    /// ACL path (`/`, `/vms/101`).
    pub path: String,
    /// `user`, `group` or `token`.
    pub kind: String,
    /// User, group or token ID.
    pub ugid: String,
    /// Role.
    pub roleid: String,
    /// Propagate to sub-paths.
    pub propagate: bool,
}

/// A loaded AppArmor profile.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Profile {
    /// The file it was loaded from (host path).
    pub source: String,
    /// SHA-256 of that file's content when it was loaded.
    pub sha256: String,
    /// `enforce` or `complain`.
    pub mode: String,
}

/// NVIDIA GPUs and driver.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Nvidia {
    /// GPUs on the PCI bus.
    pub gpus: u32,
    /// Driver installed on disk (what `modinfo` reports).
    pub installed: Option<String>,
    /// Driver loaded in the running kernel.
    pub loaded: Option<String>,
    /// The installed driver came from Debian's packages, not the runfile.
    pub by_package: bool,
    /// `vendor:device` IDs bound to `vfio-pci` at the last boot (from `options vfio-pci
    /// ids=…` in `/etc/modprobe.d/*.conf`).
    pub vfio_ids: Vec<String>,
}

/// One exported directory for one client.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Export {
    /// Exported directory.
    pub path: String,
    /// Client specification (`10.0.0.5`, `10.0.0.0/24`, `*`).
    pub client: String,
    /// Options as given.
    pub options: Vec<String>,
}

/// A Samba passdb entry.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct SambaUser {
    /// The Unix user's UID.
    pub uid: u32,
    /// Full name (the GECOS when added).
    pub full_name: String,
    /// SHA-256 of the password.
    pub password_sha256: String,
    /// Disabled with `smbpasswd -d`.
    pub disabled: bool,
}

/// Host event counters.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Counters {
    /// `apt-get update`.
    pub apt_updates: u64,
    /// `apt-get dist-upgrade`/`full-upgrade`.
    pub dist_upgrades: u64,
    /// `apt-get upgrade`.
    pub upgrades: u64,
    /// `update-initramfs`.
    pub initramfs_updates: u64,
    /// Boots (`pve-sim reboot`).
    pub boots: u64,
    /// `systemctl daemon-reload` (explicit or implied by enable/disable/mask/unmask).
    pub daemon_reloads: u64,
    /// `locale-gen`.
    pub locale_gens: u64,
    /// `update-ca-certificates`.
    pub ca_updates: u64,
}

impl HostState {
    /// Whether a package is installed.
    pub fn installed(&self, pkg: &str) -> bool {
        self.packages.contains_key(pkg)
    }

    /// The supplementary groups of a user, by name, in GID order.
    pub fn supplementary(&self, user: &str) -> Vec<String> {
        let mut g: Vec<(&String, &Group)> = self
            .groups
            .iter()
            .filter(|(_, g)| g.members.iter().any(|m| m == user))
            .collect();
        g.sort_by_key(|(n, g)| (g.gid, n.as_str()));
        g.into_iter().map(|(n, _)| n.clone()).collect()
    }

    /// The name of the group with this GID.
    pub fn group_name(&self, gid: u32) -> Option<&str> {
        self.groups
            .iter()
            .find(|(_, g)| g.gid == gid)
            .map(|(n, _)| n.as_str())
    }

    /// The user with this UID.
    pub fn user_by_uid(&self, uid: u32) -> Option<(&str, &User)> {
        self.users
            .iter()
            .find(|(_, u)| u.uid == uid)
            .map(|(n, u)| (n.as_str(), u))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supplementary_groups_in_gid_order() {
        let mut h = HostState::default();
        for (n, gid) in [("users", 100), ("sudo", 27), ("other", 5)] {
            h.groups.insert(
                n.into(),
                Group {
                    gid,
                    members: if n == "other" {
                        vec![]
                    } else {
                        vec!["alice".into()]
                    },
                },
            );
        }
        assert_eq!(h.supplementary("alice"), ["sudo", "users"]);
        assert_eq!(h.group_name(27), Some("sudo"));
        assert!(h.supplementary("bob").is_empty());
    }

    #[test]
    fn old_state_files_load_without_a_host_section() {
        let s: crate::state::State = serde_json::from_str(r#"{"node":"pve"}"#).unwrap();
        assert_eq!(s.host, HostState::default());
    }
}
