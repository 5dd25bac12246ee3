//! The install layout and host paths of Phoenix Hypervisor, in one dependency-free place.
//!
//! Both the binaries (through `phoenix_core::paths`) and `xtask install` use these names, so a
//! path is never spelled twice. Two roots make every path injectable:
//!
//! - the **install root** (`PHOENIX_ROOT`, default [`DEFAULT_ROOT`]) holds what we ship:
//!   `bin/`, `etc/`, `setup-scripts/`, `stacks/`;
//! - the **system root** (`PHOENIX_SYSROOT`, default `/`) prefixes every host file we read or
//!   write (`/etc/pve/...`, `/var/log/...`, `/run/...`). Tests and the simulator point it at a
//!   temporary directory; on a real host it is `/`.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// Default install root, as the shell version used it.
pub const DEFAULT_ROOT: &str = "/usr/local/phoenix_hypervisor";
/// Environment variable overriding the install root.
pub const ENV_ROOT: &str = "PHOENIX_ROOT";
/// Environment variable overriding the system root that prefixes every host path.
pub const ENV_SYSROOT: &str = "PHOENIX_SYSROOT";
/// Environment variable naming the configuration directory (below `--config`, above the default).
pub const ENV_CONFIG_DIR: &str = "PHOENIX_CONFIG_DIR";
/// Environment variable holding the log filter (`tracing_subscriber::EnvFilter` syntax).
pub const ENV_LOG: &str = "PHOENIX_LOG";
/// Set by `phoenix-cli` for the managers it runs while it holds the global lock.
pub const ENV_GLOBAL_LOCK_HELD: &str = "PHOENIX_GLOBAL_LOCK_HELD";

/// File names of the four configuration files inside the configuration directory.
pub mod config_files {
    /// Host configuration: ZFS, storage, network, NFS, firewall, users, Portainer API.
    pub const HYPERVISOR: &str = "phoenix_hypervisor_config.json";
    /// LXC containers keyed by CTID.
    pub const LXC: &str = "phoenix_lxc_configs.json";
    /// Virtual machines (`vms[]`) and `vm_defaults`.
    pub const VM: &str = "phoenix_vm_configs.json";
    /// Docker stack catalogue (optional; `stacks/<name>/phoenix.json` are authoritative).
    pub const STACKS: &str = "phoenix_stacks_config.json";
    /// Per-stack manifest inside `stacks/<name>/`.
    pub const STACK_MANIFEST: &str = "phoenix.json";
    /// Certificates kept renewed by the host (optional).
    pub const CERTIFICATES: &str = "certificate-manifest.json";
    /// Per-stack compose file inside `stacks/<name>/`.
    pub const STACK_COMPOSE: &str = "docker-compose.yml";
}

/// Names of the binaries we install into `<root>/bin`.
pub mod binaries {
    /// The dispatcher (also linked as `/usr/local/bin/phoenix`).
    pub const CLI: &str = "phoenix-cli";
    /// Host setup.
    pub const HYPERVISOR_MANAGER: &str = "hypervisor-manager";
    /// One LXC container per invocation.
    pub const LXC_MANAGER: &str = "lxc-manager";
    /// One VM per invocation.
    pub const VM_MANAGER: &str = "vm-manager";
    /// Portainer, Traefik and Nginx synchronisation.
    pub const PORTAINER_MANAGER: &str = "portainer-manager";
    /// All managers `phoenix-cli` looks for next to itself.
    pub const MANAGERS: [&str; 4] = [
        HYPERVISOR_MANAGER,
        LXC_MANAGER,
        VM_MANAGER,
        PORTAINER_MANAGER,
    ];
}

/// Relative directory names inside the install root.
pub mod install {
    /// Binaries.
    pub const BIN: &str = "bin";
    /// Example and live configuration plus JSON Schemas.
    pub const ETC: &str = "etc";
    /// In-guest installers (`lxc/`, `vm/`).
    pub const SETUP_SCRIPTS: &str = "setup-scripts";
    /// Docker stacks (`stacks/<name>/docker-compose.yml` + `phoenix.json`).
    pub const STACKS: &str = "stacks";
    /// Global command link created by `cargo xtask install`.
    pub const GLOBAL_LINK: &str = "/usr/local/bin/phoenix";
}

/// Host paths (absolute, before the system root is applied).
pub mod host {
    /// Log directory; one plain-text file per installation.
    pub const LOG_DIR: &str = "/var/log/phoenix_hypervisor";
    /// Log file name inside [`LOG_DIR`].
    pub const LOG_FILE: &str = "phoenix_hypervisor.log";
    /// Runtime directory for locks.
    pub const RUN_DIR: &str = "/run/phoenix_hypervisor";
    /// Persistent state (feature hashes recorded on the host side, caches).
    pub const STATE_DIR: &str = "/var/lib/phoenix_hypervisor";
    /// Proxmox cluster file system: container configs.
    pub const PVE_LXC_DIR: &str = "/etc/pve/lxc";
    /// Proxmox cluster file system: VM configs.
    pub const PVE_QEMU_DIR: &str = "/etc/pve/qemu-server";
    /// Proxmox cluster file system: firewall files.
    pub const PVE_FIREWALL_DIR: &str = "/etc/pve/firewall";
}

/// The two roots every path is derived from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
    sysroot: PathBuf,
}

impl Layout {
    /// A layout with explicit roots (tests, the simulator).
    pub fn new(root: impl Into<PathBuf>, sysroot: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            sysroot: sysroot.into(),
        }
    }

    /// The layout from `PHOENIX_ROOT` and `PHOENIX_SYSROOT`, with their defaults.
    pub fn from_env() -> Self {
        Self::from_vars(std::env::var_os(ENV_ROOT), std::env::var_os(ENV_SYSROOT))
    }

    /// Like [`Layout::from_env`] with the variables passed in (pure; empty values mean unset).
    pub fn from_vars(root: Option<OsString>, sysroot: Option<OsString>) -> Self {
        let nonempty = |v: Option<OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
        Self {
            root: nonempty(root).unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT)),
            sysroot: nonempty(sysroot).unwrap_or_else(|| PathBuf::from("/")),
        }
    }

    /// The install root (`PHOENIX_ROOT`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The system root (`PHOENIX_SYSROOT`), `/` on a real host.
    pub fn sysroot(&self) -> &Path {
        &self.sysroot
    }

    /// `<root>/etc`: the default configuration directory.
    pub fn etc_dir(&self) -> PathBuf {
        self.root.join(install::ETC)
    }

    /// `<root>/bin`.
    pub fn bin_dir(&self) -> PathBuf {
        self.root.join(install::BIN)
    }

    /// `<root>/setup-scripts`.
    pub fn setup_scripts_dir(&self) -> PathBuf {
        self.root.join(install::SETUP_SCRIPTS)
    }

    /// `<root>/stacks`.
    pub fn stacks_dir(&self) -> PathBuf {
        self.root.join(install::STACKS)
    }

    /// Maps an absolute host path into the system root: `/etc/pve` → `<sysroot>/etc/pve`.
    ///
    /// Relative paths are taken as relative to `/`. `..` components are dropped so a path
    /// can never leave the system root.
    pub fn host(&self, path: impl AsRef<Path>) -> PathBuf {
        let mut out = self.sysroot.clone();
        for c in path.as_ref().components() {
            if let Component::Normal(part) = c {
                out.push(part);
            }
        }
        out
    }

    /// The log directory on the host.
    pub fn log_dir(&self) -> PathBuf {
        self.host(host::LOG_DIR)
    }

    /// The runtime (lock) directory on the host.
    pub fn run_dir(&self) -> PathBuf {
        self.host(host::RUN_DIR)
    }

    /// The state directory on the host.
    pub fn state_dir(&self) -> PathBuf {
        self.host(host::STATE_DIR)
    }

    /// `/etc/pve/lxc/<ctid>.conf` on the host.
    pub fn pve_lxc_conf(&self, ctid: u32) -> PathBuf {
        self.host(host::PVE_LXC_DIR).join(format!("{ctid}.conf"))
    }

    /// `/etc/pve/qemu-server/<vmid>.conf` on the host.
    pub fn pve_qemu_conf(&self, vmid: u32) -> PathBuf {
        self.host(host::PVE_QEMU_DIR).join(format!("{vmid}.conf"))
    }

    /// `/etc/pve/firewall/<id>.fw` on the host.
    pub fn pve_firewall(&self, id: u32) -> PathBuf {
        self.host(host::PVE_FIREWALL_DIR).join(format!("{id}.fw"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        let l = Layout::from_vars(None, Some(OsString::new()));
        assert_eq!(l.root(), Path::new(DEFAULT_ROOT));
        assert_eq!(l.sysroot(), Path::new("/"));
        assert_eq!(l.pve_lxc_conf(101), PathBuf::from("/etc/pve/lxc/101.conf"));
    }

    #[test]
    fn host_paths_stay_inside_the_sysroot() {
        let l = Layout::new("/opt/p", "/tmp/sys");
        assert_eq!(
            l.host("/etc/pve/../../x"),
            PathBuf::from("/tmp/sys/etc/pve/x")
        );
        assert_eq!(l.host("var/log"), PathBuf::from("/tmp/sys/var/log"));
        assert_eq!(
            l.pve_firewall(1001),
            PathBuf::from("/tmp/sys/etc/pve/firewall/1001.fw")
        );
        assert_eq!(l.etc_dir(), PathBuf::from("/opt/p/etc"));
        assert_eq!(
            l.log_dir(),
            PathBuf::from("/tmp/sys/var/log/phoenix_hypervisor")
        );
    }
}
