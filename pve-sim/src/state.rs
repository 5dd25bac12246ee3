//! The simulator's bookkeeping: everything a real host keeps in kernel or daemon state rather
//! than in files (running guests, ZFS, block devices, guest-agent jobs, the clock, and the
//! host's packages, services and accounts in [`crate::host`]).

use std::collections::BTreeMap;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::root::{SimRoot, write_atomic};

/// Everything in `state.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    /// Node name (`pve` by default).
    pub node: String,
    /// Simulated Unix time in milliseconds.
    pub clock_ms: u64,
    /// Invocations so far.
    pub seq: u64,
    /// Runtime state of guests (containers and VMs share the ID space).
    pub guests: BTreeMap<u32, Runtime>,
    /// Next guest-agent PID.
    pub next_pid: u64,
    /// Guest-agent exec jobs, keyed `"<vmid>:<pid>"`.
    pub exec_jobs: BTreeMap<String, ExecJob>,
    /// How many calls each fault (by index in `faults.json`) has matched.
    pub fault_hits: BTreeMap<usize, u64>,
    /// Block devices, by path.
    pub disks: BTreeMap<String, Disk>,
    /// ZFS pools, datasets and snapshots.
    pub zfs: Zfs,
    /// Host facts other tools report (e.g. `nvidia-smi`), free-form.
    pub facts: BTreeMap<String, String>,
    /// The host itself: packages, services, accounts, AppArmor, NVIDIA, exports, counters.
    pub host: crate::host::HostState,
    /// Guest locks held by commands still running (see [`Hold`]).
    pub holds: Vec<Hold>,
}

/// A guest lock a running command holds for as long as real Proxmox would: the `lock:`
/// property it wrote into a config (`pct clone` puts `lock: disk` on its source and
/// `lock: create` on its target; `qm clone` `lock: clone` on its target), or a VM config
/// flock (`qm clone` holds a shared one on a stopped source, an exclusive one on a running
/// source: qemu-server src/PVE/API2/Qemu.pm `clone_vm`, `$lock_source_vm`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Hold {
    /// The holding invocation.
    pub seq: u64,
    /// Its process (a hold of a process that is gone is released, as the kernel releases a
    /// flock; a `lock:` property it wrote stays, as on real Proxmox).
    pub pid: u32,
    /// A VM (else a container).
    pub vm: bool,
    /// The guest.
    pub guest: u32,
    /// The `lock:` value written into the guest's config, removed when the command ends.
    pub lock: Option<String>,
    /// A config flock: `Some(true)` shared, `Some(false)` exclusive.
    pub flock_shared: Option<bool>,
}

impl Hold {
    /// Whether the holding process is still alive.
    pub fn alive(&self) -> bool {
        std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

/// Runtime state of one guest.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Runtime {
    /// Running or stopped.
    pub running: bool,
    /// Simulated time of the last start.
    pub started_at: u64,
    /// Simulated time the guest finished booting (VM agent ready, CT exec ready).
    pub ready_at: u64,
    /// How many times it was started.
    pub starts: u64,
}

/// A finished (or running) `qm guest exec`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ExecJob {
    /// The command.
    pub argv: Vec<String>,
    /// Exit code once exited.
    pub exitcode: i32,
    /// Stdout.
    pub out: String,
    /// Stderr.
    pub err: String,
    /// Simulated time the command exits.
    pub done_at: u64,
}

/// A block device.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Disk {
    /// Size in bytes.
    pub size: u64,
    /// Transport (`nvme`, `sata`).
    pub transport: String,
    /// Signature type found by `wipefs` (`zfs_member`, `ext4`, …), if any.
    pub signature: Option<String>,
    /// Label of the signature (pool name for `zfs_member`).
    pub label: Option<String>,
    /// Whether it has a partition table with partitions.
    pub partitions: bool,
}

/// ZFS.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Zfs {
    /// Pools by name.
    pub pools: BTreeMap<String, Pool>,
    /// Datasets and volumes by full name (pool roots included).
    pub datasets: BTreeMap<String, Dataset>,
    /// Snapshots by `dataset@name`.
    pub snapshots: BTreeMap<String, ZSnapshot>,
    /// Transaction group counter: orders snapshots taken in the same second.
    pub txg: u64,
}

/// A pool.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Pool {
    /// `stripe`, `mirror`, `raidz1`, `raidz2`, `raidz3`.
    pub layout: String,
    /// Member devices as given to `zpool create`.
    pub disks: Vec<String>,
    /// Pool properties set at creation (`-o`).
    pub props: BTreeMap<String, String>,
    /// Usable size in bytes.
    pub size: u64,
}

/// Filesystem or volume.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DsKind {
    /// A file system.
    #[default]
    Filesystem,
    /// A zvol.
    Volume,
}

/// A dataset.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Dataset {
    /// Kind.
    pub kind: DsKind,
    /// Locally set properties.
    pub props: BTreeMap<String, String>,
    /// `pool/ds@snap` this was cloned from.
    pub origin: Option<String>,
    /// Simulated creation time.
    pub created: u64,
}

/// A snapshot.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ZSnapshot {
    /// Simulated creation time.
    pub created: u64,
    /// Creation order.
    pub txg: u64,
}

impl State {
    /// Loads `state.json`.
    pub fn load(root: &SimRoot) -> anyhow::Result<Self> {
        let path = root.data_file("state.json");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!("cannot read {} (run `pve-sim init` first)", path.display())
        })?;
        serde_json::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))
    }

    /// Saves `state.json` atomically.
    pub fn save(&self, root: &SimRoot) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        write_atomic(&root.data_file("state.json"), text.as_bytes())
    }

    /// Simulated Unix time in seconds.
    pub fn now(&self) -> u64 {
        self.clock_ms / 1000
    }

    /// The runtime state of a guest (stopped when unknown).
    pub fn runtime(&self, id: u32) -> Runtime {
        self.guests.get(&id).cloned().unwrap_or_default()
    }

    /// Whether a guest is running.
    pub fn running(&self, id: u32) -> bool {
        self.guests.get(&id).is_some_and(|r| r.running)
    }
}
