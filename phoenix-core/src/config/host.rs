//! `phoenix_hypervisor_config.json`: the host.
//!
//! Every key the shell version read is modeled (cli-and-hypervisor.md §10), plus the keys the
//! Rust version adds (`*_file` secrets, `core_paths.stacks_dir`). Keys the shell version never
//! read are still modeled so they are known (no unknown-key warning) and typed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::de::StringList;
use super::guest::FirewallRule;

/// The whole host configuration.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct HostConfig {
    /// Informational.
    pub version: Option<String>,
    /// Informational.
    pub author: Option<String>,
    /// Internal DNS domain (`internal.thinkheads.ai`).
    pub domain_name: Option<String>,
    /// The administrative user.
    pub users: Option<Users>,
    /// Locations of the other files.
    pub core_paths: CorePaths,
    /// Host time zone.
    pub timezone: Option<String>,
    /// Host locale (`LANG`).
    pub locale: Option<String>,
    /// Host network.
    pub network: Network,
    /// Docker images used by the Portainer deployment.
    pub docker: Docker,
    /// NFS exports.
    pub nfs: Nfs,
    /// Samba shares.
    pub samba: Option<Samba>,
    /// ZFS pools and datasets.
    pub zfs: Zfs,
    /// Storage IDs by logical name (`fastData_shared_iso` → `fastData-shared-iso`).
    pub proxmox_storage_ids: BTreeMap<String, String>,
    /// Where Proxmox mounts directory storages (`/mnt/pve`).
    pub mount_point_base: Option<String>,
    /// Unused by the shell version; kept as written.
    pub proxmox_defaults: Option<serde_json::Value>,
    /// Host test suites by name (free-form).
    pub tests: BTreeMap<String, Vec<TestEntry>>,
    /// Host NVIDIA driver.
    pub nvidia_driver: NvidiaDriver,
    /// Unused flags.
    pub behavior: Option<Behavior>,
    /// Shared host directories mounted into guests (the `firewall` member is read as
    /// [`HostConfig::firewall`] when the top-level key is absent).
    pub shared_volumes: BTreeMap<String, SharedVolume>,
    /// Host firewall (datacenter and node level).
    pub firewall: Option<HostFirewall>,
    /// Portainer API access.
    pub portainer_api: Option<PortainerApi>,
    /// VM defaults shared with the VM file.
    pub vm_defaults: HostVmDefaults,
    /// dnsmasq on the host.
    pub dns_server: Option<DnsServer>,
    /// Step-CA names.
    pub step_ca: Option<StepCa>,
    /// ZFS volumes provisioned for guests by name.
    pub shared_zfs_volumes: BTreeMap<String, SharedZfsVolume>,
    /// PCI devices bound to `vfio-pci` for passthrough.
    pub vfio: Option<Vfio>,
}

/// `vfio`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Vfio {
    /// Bind the devices at boot.
    pub enabled: Option<bool>,
    /// `vendor:device` IDs.
    pub pci_ids: Vec<String>,
}

/// `users`: the administrative user.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Users {
    /// Login name (default `phoenix_admin`).
    pub username: Option<String>,
    /// crypt(3) hash; `""`/`NOT_SET` means none.
    pub password_hash: Option<String>,
    /// File holding the crypt(3) hash (preferred over the inline value).
    pub password_hash_file: Option<String>,
    /// Whether to grant sudo.
    pub sudo_access: Option<bool>,
    /// Authorized SSH key.
    pub ssh_public_key: Option<String>,
}

/// `core_paths`: locations of the other files.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct CorePaths {
    /// The LXC file.
    pub lxc_config_file: Option<String>,
    /// The LXC schema (informational).
    pub lxc_config_schema_file: Option<String>,
    /// The VM file.
    pub vm_config_file: Option<String>,
    /// The stacks catalogue.
    pub stacks_config_file: Option<String>,
    /// The directory holding `stacks/<name>/`.
    pub stacks_dir: Option<String>,
    /// Hugging Face token file.
    pub hf_token_file: Option<String>,
    /// Docker Hub token file.
    pub docker_token_file: Option<String>,
    /// Docker images cache.
    pub docker_images_path: Option<String>,
    /// Legacy marker directory.
    pub hypervisor_marker_dir: Option<String>,
    /// Legacy marker file.
    pub hypervisor_marker: Option<String>,
}

/// `network`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Network {
    /// The host bridge and address.
    pub interfaces: Option<Interfaces>,
    /// Host name to set on a fresh, unclustered node only.
    pub hostname: Option<String>,
    /// Samba workgroup.
    pub workgroup: Option<String>,
    /// NFS server address guests mount from.
    pub nfs_server: Option<String>,
    /// Portainer server address.
    pub portainer_server_ip: Option<String>,
    /// Portainer server port.
    pub portainer_server_port: Option<u16>,
    /// Portainer agent port.
    pub portainer_agent_port: Option<u16>,
    /// Registry (unused).
    pub external_registry_url: Option<String>,
    /// Guest subnet.
    pub default_subnet: Option<String>,
    /// Fallback resolver.
    pub fallback_dns: Option<String>,
    /// H3: public bridge.
    pub public_bridge: Option<String>,
    /// H3: internal bridge.
    pub internal_bridge: Option<serde_json::Value>,
    /// H3: VLAN tag.
    pub macvlan_vlan_tag: Option<serde_json::Value>,
    /// H3: VLAN tag.
    pub public_vlan_tag: Option<serde_json::Value>,
}

/// `network.interfaces`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Interfaces {
    /// Bridge name (`vmbr0`).
    pub name: Option<String>,
    /// Host address in CIDR notation.
    pub address: Option<String>,
    /// Default gateway.
    pub gateway: Option<String>,
    /// Resolvers (string or array).
    pub dns_nameservers: StringList,
}

/// `docker`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Docker {
    /// Portainer server image.
    pub portainer_server_image: Option<String>,
    /// Portainer agent image.
    pub portainer_agent_image: Option<String>,
}

/// `nfs`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Nfs {
    /// Exports.
    pub exports: Vec<NfsExport>,
}

/// One NFS export.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct NfsExport {
    /// Exported directory.
    pub path: String,
    /// Allowed clients (IPs, CIDRs, host names).
    pub clients: Vec<String>,
    /// Export options.
    pub options: Vec<String>,
}

/// `samba`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Samba {
    /// Samba user.
    pub user: Option<String>,
    /// File holding the Samba password.
    pub password_file: Option<String>,
    /// Shares.
    pub shares: Vec<SambaShare>,
}

/// One Samba share.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SambaShare {
    /// Share name.
    pub name: String,
    /// Path relative to `/`.
    pub path: String,
    /// Users allowed.
    pub valid_users: Vec<String>,
    /// Browsable (default true).
    pub browsable: Option<bool>,
    /// Read only (default false).
    pub read_only: Option<bool>,
    /// Guest access (default false).
    pub guest_ok: Option<bool>,
    /// Free-form options (unused by the shell version).
    pub options: Option<String>,
}

/// `zfs`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Zfs {
    /// ARC limit in GiB.
    pub arc_max_gb: Option<u64>,
    /// Settings.
    pub settings: Option<ZfsSettings>,
    /// Pools.
    pub pools: Vec<ZfsPool>,
    /// Datasets.
    pub datasets: Vec<ZfsDataset>,
}

/// `zfs.settings`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ZfsSettings {
    /// Ignored by the Rust version: disks are wiped only when named with `--wipe-disks`.
    pub allow_destructive_operations: Option<serde_json::Value>,
}

/// One pool.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ZfsPool {
    /// Pool name.
    pub name: String,
    /// `mirror`, `RAIDZ1`, `raidz2`, `single`, …
    pub raid_level: Option<String>,
    /// Devices, preferably by-id.
    pub disks: Vec<String>,
}

/// One dataset.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ZfsDataset {
    /// Dataset name below the pool.
    pub name: String,
    /// Pool name.
    pub pool: String,
    /// `k=v,k=v` ZFS properties.
    pub properties: Option<String>,
    /// `zfspool` or `dir`.
    pub proxmox_storage_type: Option<String>,
    /// Proxmox content types.
    pub proxmox_content_type: Option<String>,
    /// `direct` or `shared` (informational).
    pub storage_class: Option<String>,
}

impl ZfsDataset {
    /// The Proxmox storage ID the setup gives this dataset: the mapped value in
    /// `proxmox_storage_ids` (`<pool>_<name with _>`) or `<pool>-<name>`.
    pub fn storage_id(&self, ids: &BTreeMap<String, String>) -> String {
        let key = format!("{}_{}", self.pool, self.name.replace('-', "_"));
        ids.get(&key)
            .cloned()
            .unwrap_or_else(|| format!("{}-{}", self.pool, self.name))
    }
}

/// A test entry (`{name, type, path}`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct TestEntry {
    /// Display name.
    pub name: String,
    /// Kind (`script`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Script path.
    pub path: String,
}

/// `nvidia_driver`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct NvidiaDriver {
    /// Install the driver on the host.
    pub install: Option<bool>,
    /// Driver version.
    pub version: Option<String>,
    /// Runfile URL.
    pub runfile_url: Option<String>,
    /// Expected SHA-256 of the runfile.
    pub runfile_sha256: Option<String>,
    /// CUDA version (informational).
    pub cuda_version: Option<String>,
    /// Informational.
    pub install_vllm_libs: Option<bool>,
}

/// `behavior` (unused).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Behavior {
    /// Unused.
    pub rollback_on_failure: Option<bool>,
    /// Unused (use `-v` or `PHOENIX_LOG`).
    pub debug_mode: Option<bool>,
}

/// A shared host directory.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SharedVolume {
    /// Host directory.
    pub host_path: Option<String>,
    /// Guest ID → path inside the guest.
    pub mounts: BTreeMap<String, String>,
}

/// Host firewall.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct HostFirewall {
    /// Firewall on.
    pub enabled: Option<bool>,
    /// `ACCEPT`, `DROP` or `REJECT`.
    pub default_input_policy: Option<String>,
    /// `ACCEPT`, `DROP` or `REJECT`.
    pub default_output_policy: Option<String>,
    /// Host rules.
    pub global_firewall_rules: Vec<FirewallRule>,
}

/// `portainer_api`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct PortainerApi {
    /// Admin user name.
    pub admin_user: Option<String>,
    /// Inline password (read with a warning; prefer the file).
    pub admin_password: Option<String>,
    /// File holding the admin password.
    pub admin_password_file: Option<String>,
    /// Host name of the Portainer server certificate.
    pub portainer_hostname: Option<String>,
    /// API key (null or a string).
    pub api_key: Option<String>,
    /// Base URL of the API (default `https://<portainer_hostname>:<portainer_server_port>`).
    pub url: Option<String>,
    /// Address to connect to instead of resolving the URL's host (curl's `--resolve`).
    pub connect_address: Option<String>,
    /// How long sync waits for Portainer to answer (seconds, default 180).
    pub ready_timeout_secs: Option<u64>,
}

/// `vm_defaults` in the host file.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct HostVmDefaults {
    /// Ubuntu release of the cloud images (`noble`).
    pub ubuntu_release: Option<String>,
}

/// `dns_server`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct DnsServer {
    /// Run dnsmasq on the host.
    pub enabled: Option<bool>,
    /// Upstream resolvers.
    pub upstream_servers: Vec<String>,
    /// Zones (free-form).
    pub authoritative_zones: Vec<serde_json::Value>,
}

/// `step_ca`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct StepCa {
    /// Root CA name.
    pub root_ca_name: Option<String>,
    /// Intermediate CA name.
    pub intermediate_ca_name: Option<String>,
    /// CA DNS name.
    pub dns_name: Option<String>,
    /// Provisioner name.
    pub provisioner_name: Option<String>,
    /// The CA's URL.
    pub ca_url: Option<String>,
    /// Host path of the CA's root certificate.
    pub root_ca_file: Option<String>,
    /// Host path of the JWK provisioner's password.
    pub provisioner_password_file: Option<String>,
    /// Lifetime of issued certificates (`24h`).
    pub certificate_lifetime: Option<String>,
}

/// `shared_zfs_volumes.<name>`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SharedZfsVolume {
    /// Pool.
    pub pool: String,
    /// Size.
    pub size_gb: Option<u64>,
}

impl HostConfig {
    /// Every Proxmox storage ID this host config defines: datasets (mapped or
    /// `<pool>-<name>`), the values of `proxmox_storage_ids`, and Proxmox's own defaults.
    pub fn storage_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = ["local", "local-lvm", "local-zfs"]
            .map(String::from)
            .to_vec();
        ids.extend(
            self.zfs
                .datasets
                .iter()
                .map(|d| d.storage_id(&self.proxmox_storage_ids)),
        );
        ids.extend(self.proxmox_storage_ids.values().cloned());
        ids.sort();
        ids.dedup();
        ids
    }
}
