//! The simulated host: where everything lives under `$PHOENIX_SYSROOT`, and the one lock
//! that serialises state changes between concurrent invocations.
//!
//! Real-host files keep their real places and formats (`etc/pve/lxc/<id>.conf`,
//! `etc/pve/qemu-server/<id>.conf`, `etc/pve/firewall/<id>.fw`, `etc/pve/storage.cfg`,
//! dataset mount points such as `<pool>/<dataset>/`); the simulator's own bookkeeping lives in
//! `var/lib/pve-sim/`: `state.json` (node, clock, running guests, ZFS, block devices, agent
//! jobs), `config.json` (knobs), `faults.json`, `rules.json`, `audit.jsonl`, snapshot copies.

use std::fs::File;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};
use nix::fcntl::{Flock, FlockArg};

/// Paths of one simulated host.
#[derive(Clone, Debug)]
pub struct SimRoot {
    sysroot: PathBuf,
}

impl SimRoot {
    /// The simulated host at `$PHOENIX_SYSROOT`. Refuses `/` and an unset variable: the
    /// simulator must never touch a real host.
    pub fn from_env() -> anyhow::Result<Self> {
        let Some(root) = std::env::var_os(phoenix_paths::ENV_SYSROOT).filter(|v| !v.is_empty())
        else {
            bail!(
                "{} is not set; pve-sim keeps its host under it and refuses to run without it",
                phoenix_paths::ENV_SYSROOT
            );
        };
        let root = PathBuf::from(root);
        if root.components().all(|c| matches!(c, Component::RootDir)) {
            bail!(
                "{} is `/`; pve-sim refuses to simulate on a real root file system",
                phoenix_paths::ENV_SYSROOT
            );
        }
        Ok(Self::new(root))
    }

    /// A simulated host at `sysroot`.
    pub fn new(sysroot: impl Into<PathBuf>) -> Self {
        Self {
            sysroot: sysroot.into(),
        }
    }

    /// The system root.
    pub fn sysroot(&self) -> &Path {
        &self.sysroot
    }

    /// A host path inside the system root (`/etc/pve` → `<sysroot>/etc/pve`).
    pub fn host(&self, path: impl AsRef<Path>) -> PathBuf {
        let mut out = self.sysroot.clone();
        for c in path.as_ref().components() {
            if let Component::Normal(p) = c {
                out.push(p);
            }
        }
        out
    }

    /// `var/lib/pve-sim`.
    pub fn data(&self) -> PathBuf {
        self.host("/var/lib/pve-sim")
    }

    /// Bookkeeping file `name` in the data directory.
    pub fn data_file(&self, name: &str) -> PathBuf {
        self.data().join(name)
    }

    /// `/etc/pve/lxc/<id>.conf`.
    pub fn lxc_conf(&self, id: u32) -> PathBuf {
        self.host(format!("/etc/pve/lxc/{id}.conf"))
    }

    /// `/etc/pve/qemu-server/<id>.conf`.
    pub fn qemu_conf(&self, id: u32) -> PathBuf {
        self.host(format!("/etc/pve/qemu-server/{id}.conf"))
    }

    /// `/etc/pve/firewall/<id>.fw`.
    pub fn firewall(&self, id: u32) -> PathBuf {
        self.host(format!("/etc/pve/firewall/{id}.fw"))
    }

    /// `/etc/pve/storage.cfg`.
    pub fn storage_cfg(&self) -> PathBuf {
        self.host("/etc/pve/storage.cfg")
    }

    /// Whether `pve-sim init` has run here.
    pub fn initialised(&self) -> bool {
        self.data_file("state.json").is_file()
    }

    /// Takes the state lock (blocking). Every invocation holds it while it reads and changes
    /// state, so concurrent managers see consistent snapshots.
    pub fn lock(&self) -> anyhow::Result<Flock<File>> {
        self.named_lock("state")
    }

    /// Takes a named lock under `var/lib/pve-sim/locks/` (storage locks).
    pub fn named_lock(&self, name: &str) -> anyhow::Result<Flock<File>> {
        let dir = self.data().join("locks");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(format!("{name}.lock"));
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Flock::lock(f, FlockArg::LockExclusive)
            .map_err(|(_, e)| anyhow::anyhow!("cannot lock {}: {e}", path.display()))
    }
}

/// Writes a file atomically (temp file + rename), creating parent directories.
pub fn write_atomic(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().context("path without parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    std::fs::write(&tmp, contents).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_paths_stay_inside() {
        let r = SimRoot::new("/tmp/sim");
        assert_eq!(
            r.host("/etc/pve/../../x"),
            PathBuf::from("/tmp/sim/etc/pve/x")
        );
        assert_eq!(
            r.lxc_conf(101),
            PathBuf::from("/tmp/sim/etc/pve/lxc/101.conf")
        );
        assert_eq!(
            r.data_file("audit.jsonl"),
            PathBuf::from("/tmp/sim/var/lib/pve-sim/audit.jsonl")
        );
    }
}
