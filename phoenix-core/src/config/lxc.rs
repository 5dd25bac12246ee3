//! `phoenix_lxc_configs.json`: containers keyed by CTID (lxc-manager.md §9).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::de::{IdRef, StringList};
use super::guest::{DnsRecord, Firewall, GuestTest, TraefikService};

/// The whole LXC file.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct LxcFile {
    /// Guest NVIDIA userspace version (matches the host driver).
    pub nvidia_driver_version: Option<String>,
    /// CUDA apt repository.
    pub nvidia_repo_url: Option<String>,
    /// Driver runfile.
    pub nvidia_runfile_url: Option<String>,
    /// Containers by CTID (string keys, validated as IDs).
    pub lxc_configs: BTreeMap<String, Container>,
}

/// One container.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Container {
    /// Host name.
    pub name: String,
    /// Memory in MiB.
    pub memory_mb: Option<u64>,
    /// Swap in MiB.
    pub swap_mb: Option<u64>,
    /// CPU cores.
    pub cores: Option<u32>,
    /// OS template tarball (path or `storage:vztmpl/file`).
    pub template: Option<String>,
    /// OS template file name in the ISO storage (L5).
    pub template_file: Option<String>,
    /// Storage for the root disk.
    pub storage_pool: Option<String>,
    /// Root disk size in GiB.
    pub storage_size_gb: Option<u64>,
    /// net0.
    pub network_config: Option<NetworkConfig>,
    /// net1 (L5).
    pub secondary_network_config: Option<NetworkConfig>,
    /// net0 MAC address.
    pub mac_address: Option<String>,
    /// `none` or GPU indices.
    pub gpu_assignment: Option<String>,
    /// `server`, `agent`, `none`, `infrastructure`.
    pub portainer_role: Option<String>,
    /// Unprivileged container.
    pub unprivileged: Option<bool>,
    /// Phoenix features (installers run inside the container).
    pub features: Vec<String>,
    /// Proxmox features (`nesting=1`, `keyctl=1`).
    pub pct_options: Vec<String>,
    /// Raw `lxc.*` lines for the main section of the `.conf`.
    pub lxc_options: Vec<String>,
    /// UID/GID mappings.
    pub id_maps: Vec<IdMap>,
    /// Host bind mounts.
    pub mount_points: Vec<MountPoint>,
    /// Storage-backed volumes.
    pub zfs_volumes: Vec<ZfsVolume>,
    /// Guest firewall.
    pub firewall: Option<Firewall>,
    /// `onboot`.
    pub start_at_boot: Option<bool>,
    /// `startup order=`; also the LetsGo start order (default 999).
    pub boot_order: Option<u32>,
    /// `startup up=`.
    pub boot_delay: Option<u32>,
    /// AppArmor profile (`unconfined` or a profile name).
    pub apparmor_profile: Option<String>,
    /// The profile handles nesting itself.
    pub apparmor_manages_nesting: Option<bool>,
    /// `pre-configured`/`final-form` snapshots.
    pub enable_lifecycle_snapshots: Option<bool>,
    /// Snapshot clones are made from.
    pub template_snapshot_name: Option<String>,
    /// Convert to a Proxmox template at the end (L5 meaning).
    pub is_template: Option<bool>,
    /// Clone source.
    pub clone_from_ctid: Option<IdRef>,
    /// Guests this one needs running.
    pub dependencies: Vec<IdRef>,
    /// Script run inside the container after the features.
    pub application_script: Option<String>,
    /// CA URL handed to feature installers.
    pub bootstrap_ca_url: Option<String>,
    /// Version the `vllm` feature installs (pip).
    pub vllm_version: Option<String>,
    /// Version the `ollama` feature installs.
    pub ollama_version: Option<String>,
    /// Version the `traefik` feature installs (v3).
    pub traefik_version: Option<String>,
    /// Image tag the `portainer` feature runs.
    pub portainer_version: Option<String>,
    /// Path in the container of the CA root the `trusted_ca` feature installs.
    pub trusted_ca_file: Option<String>,
    /// Legacy host-side checks.
    pub health_checks: Vec<LegacyHealthCheck>,
    /// Health check (argv, never `eval`).
    pub health_check: Option<HealthCheck>,
    /// Test suites.
    pub tests: BTreeMap<String, Vec<GuestTest>>,
    /// vLLM server settings.
    pub vllm_engine_config: Option<VllmEngineConfig>,
    /// `host:container` port notes.
    pub ports: Vec<String>,
    /// Traefik route.
    pub traefik_service: Option<TraefikService>,
    /// Run `sync all` after LetsGo starts this guest.
    pub trigger_sync_on_completion: Option<bool>,
    /// Portainer server address (agent role).
    pub portainer_server_ip: Option<String>,
    /// Portainer agent port (agent role).
    pub portainer_agent_port: Option<u16>,
    /// DNS records.
    pub dns_records: Vec<DnsRecord>,
    /// L5 second NIC (kept as written).
    pub public_interface: Option<serde_json::Value>,
}

/// A NIC.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct NetworkConfig {
    /// Interface name inside the container.
    pub name: Option<String>,
    /// Host bridge.
    pub bridge: Option<String>,
    /// `dhcp`, `manual` or CIDR.
    pub ip: Option<String>,
    /// Gateway (optional with `dhcp`).
    pub gw: Option<String>,
    /// Resolvers (string or list).
    pub nameservers: StringList,
    /// MAC address (L5 duplicate of `mac_address`).
    pub hwaddr: Option<String>,
}

/// One ID mapping.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct IdMap {
    /// `uid`/`gid` (or `u`/`g`).
    #[serde(rename = "type")]
    pub kind: String,
    /// First ID inside the container.
    pub container_id: u32,
    /// First ID on the host.
    pub host_id: u32,
    /// Number of IDs.
    pub size: u32,
}

/// A host bind mount.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct MountPoint {
    /// Host directory.
    pub host_path: String,
    /// Path inside the container.
    pub container_path: String,
    /// Owner of the host directory (container view).
    pub owner_uid: Option<u32>,
    /// Group of the host directory (container view).
    pub owner_gid: Option<u32>,
}

/// A storage-backed volume.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct ZfsVolume {
    /// Volume name.
    pub name: String,
    /// Proxmox storage ID.
    pub pool: String,
    /// Size in GiB.
    pub size_gb: u64,
    /// Path inside the container.
    pub mount_point: String,
}

/// `health_checks[]` (legacy, host scripts).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct LegacyHealthCheck {
    /// Display name.
    pub name: String,
    /// Script.
    pub script: String,
    /// Arguments.
    pub args: Option<serde_json::Value>,
}

/// `health_check`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct HealthCheck {
    /// Command (split into argv, never evaluated by a shell).
    pub command: String,
    /// Attempts.
    pub retries: Option<u32>,
    /// Seconds between attempts.
    pub interval: Option<u32>,
}

/// `vllm_engine_config`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct VllmEngineConfig {
    /// Model settings.
    pub model_config: Option<serde_json::Map<String, serde_json::Value>>,
    /// Cache settings.
    pub cache_config: Option<serde_json::Map<String, serde_json::Value>>,
    /// Parallelism.
    pub parallel_config: Option<serde_json::Map<String, serde_json::Value>>,
    /// Server settings.
    pub server_config: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Container {
    /// Whether the container is a Proxmox template (`is_template: true`, L5 meaning).
    pub fn is_template(&self) -> bool {
        self.is_template == Some(true)
    }

    /// Parsed GPU indices (empty for `none`/absent; invalid values are rejected by validation).
    pub fn gpus(&self) -> Vec<u32> {
        self.gpu_assignment
            .as_deref()
            .and_then(|g| super::formats::gpu_assignment(g).ok())
            .unwrap_or_default()
    }
}
