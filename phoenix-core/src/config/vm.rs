//! `phoenix_vm_configs.json`: `vm_defaults` and `vms[]` (vm-manager.md §17).

use serde::{Deserialize, Serialize};

use super::de::{IdRef, StringList};
use super::guest::{DnsRecord, Firewall, TraefikService};

/// The whole VM file.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct VmFile {
    /// Defaults for every VM.
    pub vm_defaults: VmDefaults,
    /// The VMs, in file order.
    pub vms: Vec<Vm>,
}

/// `vm_defaults`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct VmDefaults {
    /// Informational.
    pub template: Option<String>,
    /// Default cores.
    pub cores: Option<u32>,
    /// Default memory in MiB.
    pub memory_mb: Option<u64>,
    /// Default disk size in GiB.
    pub disk_size_gb: Option<u64>,
    /// Default storage.
    pub storage_pool: Option<String>,
    /// Default bridge.
    pub network_bridge: Option<String>,
    /// Seconds to wait for the guest agent after a start (default 300).
    pub agent_timeout_secs: Option<u64>,
    /// Seconds to wait for cloud-init after the agent answers (default 1800).
    pub cloud_init_timeout_secs: Option<u64>,
}

/// One VM.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Vm {
    /// VMID.
    pub vmid: Option<IdRef>,
    /// Name (host name).
    pub name: String,
    /// Build a Proxmox template from a cloud image.
    pub is_template: Option<bool>,
    /// Clone source.
    pub clone_from_vmid: Option<IdRef>,
    /// Cloud image file name.
    pub template_image: Option<String>,
    /// Image path override.
    pub template: Option<String>,
    /// Snapshot clones are made from (non-template sources).
    pub template_snapshot_name: Option<String>,
    /// Cores (default from `vm_defaults`).
    pub cores: Option<u32>,
    /// Memory in MiB (default from `vm_defaults`).
    pub memory_mb: Option<u64>,
    /// Disk size in GiB (grow only).
    pub disk_size_gb: Option<u64>,
    /// Storage (default from `vm_defaults`).
    pub storage_pool: Option<String>,
    /// Bridge (default from `vm_defaults`).
    pub network_bridge: Option<String>,
    /// Seconds to wait for the guest agent (default from `vm_defaults`).
    pub agent_timeout_secs: Option<u64>,
    /// Seconds to wait for cloud-init (default from `vm_defaults`).
    pub cloud_init_timeout_secs: Option<u64>,
    /// `onboot`.
    pub start_at_boot: Option<bool>,
    /// `startup order=`; also the LetsGo start order (default 999).
    pub boot_order: Option<u32>,
    /// `startup up=`.
    pub boot_delay: Option<u32>,
    /// Phoenix features (installers run inside the VM).
    pub features: StringList,
    /// `primary`, `agent` or `none`.
    pub portainer_role: Option<String>,
    /// Portainer environment name.
    pub portainer_environment_name: Option<String>,
    /// Host name Portainer reaches the agent at.
    pub portainer_agent_hostname: Option<String>,
    /// Traefik route.
    pub traefik_service: Option<TraefikService>,
    /// Run `sync all` after LetsGo starts this guest.
    pub trigger_sync_on_completion: Option<bool>,
    /// Guests this one needs.
    pub dependencies: Vec<IdRef>,
    /// Lifecycle snapshot names.
    pub snapshots: Option<VmSnapshots>,
    /// Unused.
    pub count: Option<u32>,
    /// Unused.
    pub qm_options: Vec<String>,
    /// NFS volumes mounted in the guest.
    pub volumes: Vec<VmVolume>,
    /// Docker stacks deployed through Portainer.
    pub docker_stacks: Vec<StackRef>,
    /// Path in the VM of the CA root the `trusted_ca` feature installs.
    pub trusted_ca_file: Option<String>,
    /// Guest firewall.
    pub firewall: Option<Firewall>,
    /// Cloud-init network.
    pub network_config: Option<VmNetworkConfig>,
    /// Cloud-init user.
    pub user_config: Option<UserConfig>,
    /// DNS records.
    pub dns_records: Vec<DnsRecord>,
    /// net0 MAC address.
    pub mac_address: Option<String>,
    /// Docker Swarm node labels (kept as written).
    pub node_labels: Option<serde_json::Value>,
    /// Docker Swarm role (kept as written).
    pub swarm_role: Option<String>,
}

/// `snapshots`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct VmSnapshots {
    /// Before features.
    #[serde(alias = "pre-features")]
    pub pre_features: Option<String>,
    /// After features.
    #[serde(alias = "post-features")]
    pub post_features: Option<String>,
}

/// One VM volume.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct VmVolume {
    /// `nfs`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Name.
    pub name: Option<String>,
    /// Exported path on the server.
    pub path: String,
    /// Mount point in the guest.
    pub mount_point: String,
    /// NFS server.
    pub server: Option<String>,
}

/// `docker_stacks[]`: a name, or `{name, environment}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum StackRef {
    /// Just the stack name (environment `production`).
    Name(String),
    /// Name and environment.
    Full {
        /// Stack name.
        name: String,
        /// Environment (default `production`).
        #[serde(default)]
        environment: Option<String>,
    },
}

impl StackRef {
    /// The stack name.
    pub fn name(&self) -> &str {
        match self {
            StackRef::Name(n) | StackRef::Full { name: n, .. } => n,
        }
    }

    /// The environment, `production` unless given.
    pub fn environment(&self) -> &str {
        match self {
            StackRef::Full {
                environment: Some(e),
                ..
            } => e,
            _ => "production",
        }
    }
}

/// `network_config` of a VM.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct VmNetworkConfig {
    /// `dhcp` or CIDR.
    pub ip: Option<String>,
    /// Gateway (needed for a static address).
    pub gw: Option<String>,
    /// Resolver(s).
    pub nameserver: StringList,
    /// Search domain (default: the host's `domain_name`).
    pub searchdomain: Option<String>,
}

/// `user_config`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct UserConfig {
    /// Cloud-init user.
    pub username: String,
}

impl Vm {
    /// Whether the VM is a Proxmox template.
    pub fn is_template(&self) -> bool {
        self.is_template == Some(true)
    }
}
