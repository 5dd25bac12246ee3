//! What a VM should be (pure): its configuration block, `vm_defaults` and the host
//! configuration turned into Proxmox terms. Configuration errors are [`SpecError`]s with a
//! JSON pointer into `phoenix_vm_configs.json`: exit 2, before any host command.

use phoenix_core::config::Config;
use phoenix_core::config::guest::FirewallRule;
use phoenix_core::config::vm::Vm;
use phoenix_core::converge::SpecError;
use phoenix_core::ids::GuestId;

/// Default deadline for the guest agent after a start.
pub const AGENT_TIMEOUT: u64 = 300;
/// Default deadline for cloud-init after the agent answers.
pub const CLOUD_INIT_TIMEOUT: u64 = 1800;

/// How the VM comes to exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Built from a cloud image file (`template_image`), then converted to a template.
    Image(String),
    /// Cloned from another VM.
    Clone {
        /// The source VM.
        from: GuestId,
        /// The source's `template_snapshot_name`, when it is not a template.
        snapshot: Option<String>,
    },
}

/// One NFS volume mounted in the guest through cloud-init.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    /// `server:/path`.
    pub spec: String,
    /// Mount point in the guest.
    pub mount_point: String,
    /// The exported directory on the server.
    pub path: String,
    /// The server.
    pub server: String,
}

/// What the VM should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmSpec {
    /// VMID.
    pub id: GuestId,
    /// JSON pointer of its block (`/vms/1`).
    pub pointer: String,
    /// Name (Proxmox `name`, the guest's host name).
    pub name: String,
    /// How it is made.
    pub source: Source,
    /// Convert to a Proxmox template at the end.
    pub is_template: bool,
    /// Cores.
    pub cores: u32,
    /// Memory in MiB.
    pub memory: u64,
    /// Disk size in GiB (grow only).
    pub disk_gb: Option<u64>,
    /// Storage for its disks.
    pub storage: String,
    /// Bridge of net0.
    pub bridge: String,
    /// `onboot`.
    pub onboot: bool,
    /// `startup` (`order=N,up=D`), when a boot order is configured.
    pub startup: Option<String>,
    /// `ipconfig0`.
    pub ipconfig0: String,
    /// `nameserver` (space-separated).
    pub nameserver: Option<String>,
    /// `searchdomain`.
    pub searchdomain: Option<String>,
    /// The cloud-init user.
    pub user: String,
    /// NFS volumes.
    pub volumes: Vec<Volume>,
    /// Feature installers, in order.
    pub features: Vec<String>,
    /// Firewall: enabled, and the rules (the VM's, then its stacks').
    pub firewall: Option<(bool, Vec<FirewallRule>)>,
    /// Snapshot before the features (`snapshots.pre-features`).
    pub pre_snapshot: Option<String>,
    /// Snapshots after the features, in order.
    pub post_snapshots: Vec<String>,
    /// Seconds to wait for the guest agent.
    pub agent_timeout: u64,
    /// Seconds to wait for cloud-init.
    pub cloud_init_timeout: u64,
}

/// The snapshot `reconfigure` rolls back to.
pub const FINAL_FORM: &str = phoenix_core::converge::ops::FINAL_FORM;

/// The VM block of `id` and its index in `vms`.
pub fn find(cfg: &Config, id: GuestId) -> Option<(usize, &Vm)> {
    cfg.vm
        .vms
        .iter()
        .enumerate()
        .find(|(_, v)| v.vmid.as_ref().map(|r| r.0) == Some(id))
}

fn snapshot_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic())
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == '-')
        && s.len() <= 40
}

/// Builds the spec of VM `id`.
pub fn spec(cfg: &Config, id: GuestId) -> Result<VmSpec, SpecError> {
    let Some((index, vm)) = find(cfg, id) else {
        return Err(SpecError::at(
            "/vms",
            "",
            format!("VM {id} is not in the VM configuration"),
        ));
    };
    let base = format!("/vms/{index}");
    let err = |key: &str, msg: String| SpecError::at(&base, key, msg);
    let d = &cfg.vm.vm_defaults;

    let source = match (&vm.clone_from_vmid, vm.template_image.as_deref()) {
        (Some(src), _) => {
            let from = src.0;
            if from == id {
                return Err(err(
                    "clone_from_vmid",
                    format!("VM {id} cannot be cloned from itself"),
                ));
            }
            let Some((_, source_vm)) = find(cfg, from) else {
                return Err(err(
                    "clone_from_vmid",
                    format!("VM {from} is not in the VM configuration"),
                ));
            };
            let snapshot = if source_vm.is_template() {
                None
            } else {
                source_vm
                    .template_snapshot_name
                    .clone()
                    .filter(|s| !s.is_empty())
            };
            Source::Clone { from, snapshot }
        }
        (None, Some(img)) if !img.trim().is_empty() => {
            if img.contains('/') || img.starts_with('.') {
                return Err(err(
                    "template_image",
                    format!("{img:?} must be a file name in the ISO or import storage, not a path"),
                ));
            }
            Source::Image(img.to_string())
        }
        _ => {
            return Err(err(
                "",
                format!(
                    "VM {id} needs clone_from_vmid (a VM to clone) or template_image (a cloud image to build from)"
                ),
            ));
        }
    };
    if matches!(source, Source::Image(_)) && !vm.is_template() {
        return Err(err(
            "is_template",
            format!(
                "VM {id} is built from a cloud image; set is_template to true and clone standard VMs from it"
            ),
        ));
    }

    let storage = vm
        .storage_pool
        .clone()
        .or_else(|| d.storage_pool.clone())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            err(
                "storage_pool",
                "no storage_pool here or in vm_defaults".into(),
            )
        })?;
    let bridge = vm
        .network_bridge
        .clone()
        .or_else(|| d.network_bridge.clone())
        .unwrap_or_else(|| "vmbr0".into());

    let net = vm.network_config.clone().unwrap_or_default();
    let ip = net.ip.as_deref().map(str::trim).unwrap_or("dhcp");
    let ipconfig0 = if ip.is_empty() || ip == "dhcp" {
        "ip=dhcp".to_string()
    } else {
        if !ip.contains('/') {
            return Err(err(
                "network_config/ip",
                format!("{ip:?} needs a prefix length, e.g. {ip}/24 (or \"dhcp\")"),
            ));
        }
        match net.gw.as_deref().map(str::trim).filter(|g| !g.is_empty()) {
            Some(gw) => format!("ip={ip},gw={gw}"),
            None => {
                return Err(err(
                    "network_config/gw",
                    format!("a static address ({ip}) needs a gateway"),
                ));
            }
        }
    };
    let nameserver = Some(net.nameserver.0.join(" ")).filter(|s| !s.is_empty());
    let searchdomain = net
        .searchdomain
        .clone()
        .or_else(|| cfg.host.domain_name.clone())
        .filter(|s| !s.is_empty());
    let user = vm
        .user_config
        .as_ref()
        .map(|u| u.username.trim().to_string())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            err(
                "user_config/username",
                "a cloud-init user name is needed".into(),
            )
        })?;
    if !user
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        || user.starts_with('-')
    {
        return Err(err(
            "user_config/username",
            format!(
                "{user:?} is not a valid Linux user name (lower-case letters, digits, _ and -)"
            ),
        ));
    }

    let mut volumes = Vec::new();
    for (i, v) in vm.volumes.iter().enumerate() {
        let key = |k: &str| format!("volumes/{i}/{k}");
        if v.kind != "nfs" {
            return Err(err(
                &key("type"),
                format!("volume type {:?} is not supported (only \"nfs\")", v.kind),
            ));
        }
        let server = v
            .server
            .clone()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| err(&key("server"), "an NFS volume needs its server".into()))?;
        if !v.path.starts_with('/') {
            return Err(err(
                &key("path"),
                format!("{:?} must be an absolute path", v.path),
            ));
        }
        if !v.mount_point.starts_with('/') || v.mount_point == "/" {
            return Err(err(
                &key("mount_point"),
                format!("{:?} must be an absolute path other than /", v.mount_point),
            ));
        }
        if volumes
            .iter()
            .any(|o: &Volume| o.mount_point == v.mount_point)
        {
            return Err(err(
                &key("mount_point"),
                format!("{} is mounted twice", v.mount_point),
            ));
        }
        volumes.push(Volume {
            spec: format!("{server}:{}", v.path),
            mount_point: v.mount_point.clone(),
            path: v.path.clone(),
            server,
        });
    }

    let mut features = Vec::new();
    for (i, f) in vm.features.0.iter().enumerate() {
        if f.is_empty()
            || !f
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(err(
                &format!("features/{i}"),
                format!("{f:?} is not a feature name (lower-case letters, digits and _)"),
            ));
        }
        if !features.contains(f) {
            features.push(f.clone());
        }
    }

    let firewall = match &vm.firewall {
        None if vm.docker_stacks.is_empty() => None,
        fw => {
            let enabled = fw.as_ref().is_some_and(|f| f.enabled);
            // The VM's rules, then its stacks' (`environments.<env>.firewall_rules`), each
            // once: the shell version wrote duplicates.
            let mut rules: Vec<FirewallRule> = Vec::new();
            for r in fw.iter().flat_map(|f| f.rules.iter()) {
                if !rules.contains(r) {
                    rules.push(r.clone());
                }
            }
            for s in &vm.docker_stacks {
                let Some(stack) = cfg.stacks.get(s.name()) else {
                    continue;
                };
                if let Some(env) = stack.manifest.environments.get(s.environment()) {
                    for r in &env.firewall_rules {
                        if !rules.contains(r) {
                            rules.push(r.clone());
                        }
                    }
                }
            }
            Some((enabled, rules))
        }
    };

    let snaps = vm.snapshots.clone().unwrap_or_default();
    let mut post = Vec::new();
    for (key, name) in [
        ("snapshots/post-features", snaps.post_features.as_ref()),
        ("template_snapshot_name", vm.template_snapshot_name.as_ref()),
        ("snapshots/pre-features", snaps.pre_features.as_ref()),
    ] {
        if let Some(n) = name.filter(|n| !n.is_empty()) {
            if !snapshot_name(n) {
                return Err(err(
                    key,
                    format!(
                        "{n:?} is not a snapshot name (a letter, then letters, digits, _ or -)"
                    ),
                ));
            }
        }
    }
    if !vm.is_template() {
        post.extend(snaps.post_features.clone().filter(|n| !n.is_empty()));
        post.extend(vm.template_snapshot_name.clone().filter(|n| !n.is_empty()));
        if !features.is_empty() && !post.iter().any(|n| n == FINAL_FORM) {
            post.push(FINAL_FORM.to_string());
        }
    }
    let startup = vm.boot_order.map(|o| match vm.boot_delay {
        Some(up) => format!("order={o},up={up}"),
        None => format!("order={o}"),
    });
    Ok(VmSpec {
        id,
        pointer: base.clone(),
        name: vm.name.clone(),
        source,
        is_template: vm.is_template(),
        cores: vm.cores.or(d.cores).unwrap_or(2),
        memory: vm.memory_mb.or(d.memory_mb).unwrap_or(2048),
        disk_gb: vm.disk_size_gb.or(d.disk_size_gb),
        storage,
        bridge,
        onboot: vm.start_at_boot == Some(true),
        startup,
        ipconfig0,
        nameserver,
        searchdomain,
        user,
        volumes,
        features,
        firewall,
        pre_snapshot: if vm.is_template() {
            None
        } else {
            snaps.pre_features.filter(|n| !n.is_empty())
        },
        post_snapshots: post,
        agent_timeout: vm
            .agent_timeout_secs
            .or(d.agent_timeout_secs)
            .unwrap_or(AGENT_TIMEOUT),
        cloud_init_timeout: vm
            .cloud_init_timeout_secs
            .or(d.cloud_init_timeout_secs)
            .unwrap_or(CLOUD_INIT_TIMEOUT),
    })
}

/// What feature installers may depend on besides their script (part of their hash): the
/// cloud-init user, the Portainer role and the domain. Identity, sizes, addresses, volumes
/// and firewall rules are left out, so changing them re-runs no installer.
pub fn feature_inputs(cfg: &Config, vm: &Vm) -> serde_json::Value {
    serde_json::json!({
        "vm": {
            "user": vm.user_config.as_ref().map(|u| &u.username),
            "portainer_role": vm.portainer_role,
            "trusted_ca_file": vm.trusted_ca_file,
        },
        "globals": {
            "domain_name": cfg.host.domain_name,
        },
    })
}
