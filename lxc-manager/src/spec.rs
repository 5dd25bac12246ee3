//! What a container should be: the configuration turned into Proxmox terms (pure).
//!
//! Every value here is what the `.conf` file should say (or what we install next to it); the
//! planner compares it with what the host has. Keys the configuration does not set are
//! `None` and left alone.

use std::collections::BTreeMap;
use std::path::PathBuf;

use phoenix_core::config::guest::FirewallRule;
use phoenix_core::config::lxc::{Container, IdMap};
use phoenix_core::config::{Config, formats};
use phoenix_core::ids::GuestId;
use phoenix_core::paths::Layout;
use phoenix_core::pve::conf::parse_raw_option;

/// The ID offset Proxmox maps an unprivileged container's IDs to (`root:100000:65536` in
/// `/etc/subuid` and `/etc/subgid`).
pub const ID_OFFSET: u32 = 100_000;
/// How many IDs an unprivileged container gets.
pub const ID_RANGE: u32 = 65_536;

/// `net0`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetSpec {
    /// Interface name inside the container.
    pub name: String,
    /// Host bridge.
    pub bridge: String,
    /// `dhcp`, `manual` or a CIDR.
    pub ip: Option<String>,
    /// Gateway.
    pub gw: Option<String>,
    /// MAC address, when the configuration fixes one.
    pub hwaddr: Option<String>,
    /// `firewall=1` (`None`: the configuration has no `firewall` block; the flag is left
    /// as it is, e.g. inherited from a clone source).
    pub firewall: Option<bool>,
}

/// A host directory bind-mounted into the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindSpec {
    /// Host path (as Proxmox sees it).
    pub host_path: String,
    /// Path inside the container.
    pub container_path: String,
    /// Owner of the host directory, in host IDs (already mapped).
    pub owner: Option<(u32, u32)>,
}

/// A storage-backed volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeSpec {
    /// Proxmox storage.
    pub storage: String,
    /// Size in GiB.
    pub size_gb: u64,
    /// Path inside the container.
    pub mount_point: String,
}

/// Where a missing container comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `pct create` from an OS template.
    Template(String),
    /// `pct clone` of another container: linked from a Proxmox template, else full from a
    /// snapshot.
    Clone {
        /// Source CTID.
        from: GuestId,
        /// Why this source (chosen by features, or named).
        reason: Option<String>,
    },
}

/// A custom AppArmor profile to install on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppArmor {
    /// Profile name.
    pub name: String,
    /// The profile file we ship (`$PHOENIX_ROOT/etc/apparmor/<name>`).
    pub source: PathBuf,
}

/// A host `/etc/subuid` or `/etc/subgid` line a custom ID map needs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SubId {
    /// `subuid` or `subgid`.
    pub file: &'static str,
    /// `root:<first>:<count>`.
    pub line: String,
}

/// The desired container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// CTID.
    pub id: GuestId,
    /// Host name.
    pub hostname: String,
    /// Memory in MiB.
    pub memory: Option<u64>,
    /// Swap in MiB.
    pub swap: Option<u64>,
    /// Cores.
    pub cores: Option<u32>,
    /// Unprivileged (fixed at creation). A clone that does not say inherits its source's
    /// value, followed through the configuration.
    pub unprivileged: bool,
    /// Whether the configuration says so explicitly (a clone of a source that differs is
    /// then an error).
    pub unprivileged_explicit: bool,
    /// Root disk storage.
    pub storage: Option<String>,
    /// Root disk size in GiB (grown, never shrunk).
    pub disk_gb: Option<u64>,
    /// `net0`.
    pub net0: Option<NetSpec>,
    /// `net1` (`secondary_network_config`).
    pub net1: Option<NetSpec>,
    /// Resolvers (space-separated, as Proxmox stores them).
    pub nameserver: Option<String>,
    /// `onboot`.
    pub onboot: bool,
    /// `startup`.
    pub startup: Option<String>,
    /// Proxmox features (`nesting=1,keyctl=1`); `None` = not managed.
    pub pct_features: Option<String>,
    /// Raw `lxc.*` lines of the main section, in order.
    pub raw_lines: Vec<(String, String)>,
    /// A custom AppArmor profile to install.
    pub apparmor: Option<AppArmor>,
    /// Host sub-ID ranges custom ID maps need.
    pub subids: Vec<SubId>,
    /// Bind mounts.
    pub binds: Vec<BindSpec>,
    /// Storage-backed volumes.
    pub volumes: Vec<VolumeSpec>,
    /// GPU indices.
    pub gpus: Vec<u32>,
    /// Firewall: `(enabled, rules)`; `None` = not managed.
    pub firewall: Option<(bool, Vec<FirewallRule>)>,
    /// Where it comes from, if missing.
    pub source: Source,
    /// Phoenix features, in order.
    pub features: Vec<String>,
    /// Application script file name.
    pub app_script: Option<String>,
    /// `pre-configured`/`final-form` snapshots.
    pub lifecycle: bool,
    /// The snapshot clones are made from.
    pub template_snapshot: Option<String>,
    /// Converted to a Proxmox template at the end.
    pub is_template: bool,
}

pub use phoenix_core::converge::SpecError;

/// A [`SpecError`] at `key` of container `id`'s block (`/lxc_configs/101/lxc_options/0`).
fn spec_error(id: GuestId, key: &str, message: impl Into<String>) -> SpecError {
    SpecError::at(&format!("/lxc_configs/{id}"), key, message)
}

/// Maps one kind of container ID (`u`/`g`) to host IDs with the custom entries of `maps`:
/// the `lxc.idmap` lines, covering `0..65536`, and the host ranges root must own.
fn idmap_lines(kind: char, maps: &[&IdMap]) -> (Vec<String>, Vec<(u32, u32)>) {
    let mut custom: Vec<&&IdMap> = maps.iter().collect();
    custom.sort_by_key(|m| m.container_id);
    let mut lines = Vec::new();
    let mut extra = Vec::new();
    let mut next = 0u32;
    for m in custom {
        if m.container_id > next {
            lines.push(format!(
                "{kind} {next} {} {}",
                ID_OFFSET + next,
                m.container_id - next
            ));
        }
        lines.push(format!(
            "{kind} {} {} {}",
            m.container_id, m.host_id, m.size
        ));
        extra.push((m.host_id, m.size));
        next = m.container_id.saturating_add(m.size);
    }
    if next < ID_RANGE {
        lines.push(format!(
            "{kind} {next} {} {}",
            ID_OFFSET + next,
            ID_RANGE - next
        ));
    }
    (lines, extra)
}

/// Adds a raw line unless the same key and value is there already.
fn push_raw(raw: &mut Vec<(String, String)>, k: String, v: String) {
    if !raw.iter().any(|(a, b)| *a == k && *b == v) {
        raw.push((k, v));
    }
}

/// Maps a container ID to the host ID that owns it.
pub fn host_id(kind: char, id: u32, maps: &[IdMap], unprivileged: bool) -> u32 {
    if !unprivileged {
        return id;
    }
    for m in maps.iter().filter(|m| map_kind(&m.kind) == Some(kind)) {
        if id >= m.container_id && id - m.container_id < m.size {
            return m.host_id + (id - m.container_id);
        }
    }
    ID_OFFSET + id
}

fn map_kind(k: &str) -> Option<char> {
    match k {
        "uid" | "u" => Some('u'),
        "gid" | "g" => Some('g'),
        _ => None,
    }
}

/// The install path of a shell-version absolute path (`/usr/local/phoenix_hypervisor/x` →
/// `$PHOENIX_ROOT/x`).
pub fn install_path(layout: &Layout, p: &str) -> PathBuf {
    match p.strip_prefix(phoenix_core::paths::DEFAULT_ROOT) {
        Some(rest) => layout.root().join(rest.trim_start_matches('/')),
        None => PathBuf::from(p),
    }
}

/// Whether container `id` is unprivileged: its own `unprivileged`, else its clone source's
/// (a clone keeps its source's privilege level), else `false` as `pct create` defaults.
pub fn effective_unprivileged(cfg: &Config, id: GuestId) -> bool {
    std::iter::once(id)
        .chain(cfg.clone_chain(id))
        .find_map(|i| cfg.lxc.lxc_configs.get(&i.to_string())?.unprivileged)
        .unwrap_or(false)
}

/// Builds the spec of container `id`.
pub fn spec(cfg: &Config, layout: &Layout, id: GuestId, c: &Container) -> Result<Spec, SpecError> {
    let unprivileged = effective_unprivileged(cfg, id);
    let net0 = c.network_config.as_ref().map(|n| NetSpec {
        name: n.name.clone().unwrap_or_else(|| "eth0".into()),
        bridge: n.bridge.clone().unwrap_or_else(|| "vmbr0".into()),
        ip: n.ip.clone().filter(|s| !s.is_empty()),
        gw: n.gw.clone().filter(|s| !s.is_empty()),
        hwaddr: c
            .mac_address
            .clone()
            .or_else(|| n.hwaddr.clone())
            .map(|m| m.to_ascii_uppercase()),
        firewall: c.firewall.as_ref().map(|f| f.enabled),
    });
    let net1 = c.secondary_network_config.as_ref().map(|n| NetSpec {
        name: n.name.clone().unwrap_or_else(|| "eth1".into()),
        bridge: n.bridge.clone().unwrap_or_else(|| "vmbr0".into()),
        ip: n.ip.clone().filter(|s| !s.is_empty()),
        gw: n.gw.clone().filter(|s| !s.is_empty()),
        hwaddr: n.hwaddr.clone().map(|m| m.to_ascii_uppercase()),
        firewall: c.firewall.as_ref().map(|f| f.enabled),
    });
    let nameserver = c
        .network_config
        .as_ref()
        .map(|n| n.nameservers.items().join(" "))
        .filter(|s| !s.is_empty());
    let startup = c.boot_order.map(|o| match c.boot_delay {
        Some(d) => format!("order={o},up={d}"),
        None => format!("order={o}"),
    });
    let pct_features =
        (!c.pct_options.is_empty()).then(|| normalize_features(&c.pct_options.join(",")));

    // Raw lines: lxc_options, AppArmor, ID maps, in that order; one line per key and value.
    let mut raw: Vec<(String, String)> = Vec::new();
    for (i, opt) in c.lxc_options.iter().enumerate() {
        let Some((k, v)) = parse_raw_option(opt) else {
            return Err(spec_error(
                id,
                &format!("lxc_options/{i}"),
                format!("{opt:?} is not an lxc.* option (expected `lxc.key=value`)"),
            ));
        };
        if k == "lxc.cap.keep" {
            for cap in v.split([',', ' ']).filter(|x| !x.is_empty()) {
                push_raw(&mut raw, k.clone(), cap.to_string());
            }
        } else {
            push_raw(&mut raw, k, v);
        }
    }
    let mut apparmor = None;
    match c.apparmor_profile.as_deref() {
        None | Some("") => {}
        Some("unconfined") => {
            push_raw(&mut raw, "lxc.apparmor.profile".into(), "unconfined".into())
        }
        Some(p) => {
            push_raw(&mut raw, "lxc.apparmor.profile".into(), p.to_string());
            if c.apparmor_manages_nesting == Some(true) {
                push_raw(&mut raw, "lxc.apparmor.allow_nesting".into(), "1".into());
                push_raw(
                    &mut raw,
                    "lxc.include".into(),
                    "/usr/share/lxc/config/nesting.conf".into(),
                );
            }
            apparmor = Some(AppArmor {
                name: p.to_string(),
                source: layout.etc_dir().join("apparmor").join(p),
            });
        }
    }
    // A profile named in lxc_options wins over apparmor_profile: keep the first.
    let mut seen_profile = false;
    raw.retain(|(k, _)| {
        if k == "lxc.apparmor.profile" {
            let keep = !seen_profile;
            seen_profile = true;
            keep
        } else {
            true
        }
    });
    // ID maps were checked when the configuration loaded (`config::semantic`): only on
    // unprivileged containers, `uid`/`gid`, within 0..65536, no overlaps.
    let mut subids = Vec::new();
    if unprivileged && !c.id_maps.is_empty() {
        for (kind, file) in [('u', "subuid"), ('g', "subgid")] {
            let maps: Vec<&IdMap> = c
                .id_maps
                .iter()
                .filter(|m| map_kind(&m.kind) == Some(kind))
                .collect();
            let (lines, extra) = idmap_lines(kind, &maps);
            for l in lines {
                push_raw(&mut raw, "lxc.idmap".into(), l);
            }
            for (first, count) in extra {
                subids.push(SubId {
                    file,
                    line: format!("root:{first}:{count}"),
                });
            }
        }
    }
    let binds = c
        .mount_points
        .iter()
        .map(|m| BindSpec {
            host_path: m.host_path.trim_end_matches('/').to_string(),
            container_path: m.container_path.trim_end_matches('/').to_string(),
            owner: match (m.owner_uid, m.owner_gid) {
                (Some(u), Some(g)) => Some((
                    host_id('u', u, &c.id_maps, unprivileged),
                    host_id('g', g, &c.id_maps, unprivileged),
                )),
                _ => None,
            },
        })
        .collect();
    let volumes = c
        .zfs_volumes
        .iter()
        .map(|v| VolumeSpec {
            storage: v.pool.clone(),
            size_gb: v.size_gb,
            mount_point: v.mount_point.trim_end_matches('/').to_string(),
        })
        .collect();
    let firewall = c.firewall.as_ref().map(|f| (f.enabled, f.rules.clone()));
    let source = match (
        c.clone_from_ctid,
        c.template.as_deref().or(c.template_file.as_deref()),
    ) {
        (Some(from), _) => Source::Clone {
            from: from.0,
            reason: None,
        },
        (None, Some(t)) => Source::Template(t.to_string()),
        (None, None) => {
            let (from, reason) =
                crate::select::choose(cfg, id).map_err(|m| spec_error(id, "", m))?;
            Source::Clone {
                from,
                reason: Some(reason),
            }
        }
    };
    Ok(Spec {
        id,
        hostname: c.name.clone(),
        memory: c.memory_mb,
        swap: c.swap_mb,
        cores: c.cores,
        unprivileged,
        unprivileged_explicit: c.unprivileged.is_some(),
        storage: c.storage_pool.clone(),
        disk_gb: c.storage_size_gb,
        net0,
        net1,
        nameserver,
        onboot: c.start_at_boot == Some(true),
        startup,
        pct_features,
        raw_lines: raw,
        apparmor,
        subids,
        binds,
        volumes,
        gpus: c.gpus(),
        firewall,
        source,
        features: c.features.clone(),
        app_script: c.application_script.clone().filter(|s| !s.is_empty()),
        lifecycle: c.enable_lifecycle_snapshots == Some(true),
        template_snapshot: c.template_snapshot_name.clone().filter(|s| !s.is_empty()),
        is_template: c.is_template(),
    })
}

/// `nesting=1,keyctl=1` in a stable order (Proxmox keeps what it is given; we compare sets).
pub fn normalize_features(s: &str) -> String {
    let mut parts: Vec<String> = s
        .split([',', ' '])
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect();
    parts.sort();
    parts.dedup();
    parts.join(",")
}

/// The nameserver list normalised for comparison.
pub fn normalize_list(s: &str) -> String {
    s.split([',', ';', ' '])
        .filter(|x| !x.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// GiB in bytes.
pub const GIB: u64 = 1 << 30;

/// A Proxmox `size=` value (`16G`, `512M`, `2T`, bytes) in bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: f64 = num.parse().ok()?;
    let m: f64 = match unit {
        "" => 1.0,
        "K" => 1024.0,
        "M" => 1024.0 * 1024.0,
        "G" => GIB as f64,
        "T" => GIB as f64 * 1024.0,
        _ => return None,
    };
    Some((n * m).round() as u64)
}

/// Checks a container spec's formats once more (the loader already did; this guards the
/// values that reach `pct` argv).
pub fn check_formats(s: &Spec) -> Result<(), SpecError> {
    for (n, key) in [
        (&s.net0, "mac_address"),
        (&s.net1, "secondary_network_config/hwaddr"),
    ] {
        if let Some(m) = n.as_ref().and_then(|n| n.hwaddr.as_ref()) {
            formats::mac(m).map_err(|e| spec_error(s.id, key, e.to_string()))?;
        }
    }

    formats::dns_name(&s.hostname).map_err(|e| spec_error(s.id, "name", e.to_string()))?;
    Ok(())
}

/// The feature-hash inputs of a container that installers may depend on, beyond the script:
/// global versions and URLs, the CA URL, whether GPUs are assigned. Identity (name,
/// addresses, IDs) is left out so a clone keeps the features its template already ran.
pub fn feature_inputs(cfg: &Config, c: &Container) -> serde_json::Value {
    let mut m = BTreeMap::new();
    m.insert(
        "nvidia_driver_version",
        serde_json::json!(cfg.lxc.nvidia_driver_version),
    );
    m.insert(
        "nvidia_repo_url",
        serde_json::json!(cfg.lxc.nvidia_repo_url),
    );
    m.insert(
        "nvidia_runfile_url",
        serde_json::json!(cfg.lxc.nvidia_runfile_url),
    );
    m.insert("bootstrap_ca_url", serde_json::json!(c.bootstrap_ca_url));
    m.insert("gpu", serde_json::json!(!c.gpus().is_empty()));
    m.insert("portainer_role", serde_json::json!(c.portainer_role));
    // What the installers read from the block (setup-scripts/README.md): a change re-runs them.
    m.insert(
        "installer_settings",
        serde_json::json!({
            "unprivileged": c.unprivileged,
            "vllm_version": c.vllm_version,
            "ollama_version": c.ollama_version,
            "traefik_version": c.traefik_version,
            "portainer_version": c.portainer_version,
            "trusted_ca_file": c.trusted_ca_file,
        }),
    );
    serde_json::json!(m)
}

/// Container keys the manager applies itself (Proxmox settings, snapshots, checks). They are
/// left out of the application-script and host-hook hashes, so changing memory or a mount
/// point re-runs neither.
pub const PLATFORM_KEYS: &[&str] = &[
    "memory_mb",
    "swap_mb",
    "cores",
    "storage_pool",
    "storage_size_gb",
    "template",
    "template_file",
    "unprivileged",
    "mac_address",
    "gpu_assignment",
    "mount_points",
    "zfs_volumes",
    "volumes",
    "firewall",
    "start_at_boot",
    "boot_order",
    "boot_delay",
    "pct_options",
    "lxc_options",
    "apparmor_profile",
    "apparmor_manages_nesting",
    "id_maps",
    "enable_lifecycle_snapshots",
    "template_snapshot_name",
    "is_template",
    "clone_from_ctid",
    "health_check",
    "tests",
    "dependencies",
    "features",
];

/// The inputs an application script or host hook may depend on: the container's block
/// without [`PLATFORM_KEYS`], and the global settings.
pub fn app_inputs(cfg: &Config, c: &Container) -> serde_json::Value {
    let mut block = serde_json::to_value(c).unwrap_or_default();
    if let Some(o) = block.as_object_mut() {
        o.retain(|k, v| !PLATFORM_KEYS.contains(&k.as_str()) && !v.is_null());
    }
    serde_json::json!({
        "container": block,
        "nvidia_driver_version": cfg.lxc.nvidia_driver_version,
        "nvidia_repo_url": cfg.lxc.nvidia_repo_url,
        "nvidia_runfile_url": cfg.lxc.nvidia_runfile_url,
        "domain_name": cfg.host.domain_name,
        "step_ca": cfg.host.step_ca,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(kind: &str, c: u32, h: u32, size: u32) -> IdMap {
        IdMap {
            kind: kind.into(),
            container_id: c,
            host_id: h,
            size,
        }
    }

    #[test]
    fn id_maps_cover_the_whole_range() {
        let m = map("gid", 33, 33, 1);
        let (lines, extra) = idmap_lines('g', &[&m]);
        assert_eq!(lines, ["g 0 100000 33", "g 33 33 1", "g 34 100034 65502"]);
        assert_eq!(extra, [(33, 1)]);
        let (lines, _) = idmap_lines('u', &[]);
        assert_eq!(lines, ["u 0 100000 65536"]);
        assert_eq!(host_id('g', 33, std::slice::from_ref(&m), true), 33);
        assert_eq!(host_id('u', 33, std::slice::from_ref(&m), true), 100_033);
        assert_eq!(host_id('u', 33, &[m], false), 33);
    }

    #[test]
    fn sizes_and_lists() {
        assert_eq!(parse_size("16G"), Some(16 * GIB));
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(
            normalize_features("keyctl=1,nesting=1"),
            "keyctl=1,nesting=1"
        );
        assert_eq!(
            normalize_features("nesting=1, keyctl=1"),
            "keyctl=1,nesting=1"
        );
        assert_eq!(normalize_list("1.1.1.1,8.8.8.8"), "1.1.1.1 8.8.8.8");
    }
}
