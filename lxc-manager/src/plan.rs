//! Planning (pure): what closes the gap between a [`Spec`] and what the host has.
//!
//! [`settings`] compares the `.conf` (main section with pending values applied), the
//! firewall file and a few host facts with the spec and returns the `pct set` options, the
//! raw-line edit, the host directories and files to write, and whether any of it needs the
//! container stopped. [`runtime`] plans what happens with the container running: start,
//! features, application script, host hook, health check, snapshots, template conversion.
//! Both also return the human plan lines.

use std::collections::{BTreeMap, BTreeSet};

use phoenix_core::converge::runtime::RuntimeSpec;
use phoenix_core::converge::{Change, Op};
use phoenix_core::ids::GuestId;
use phoenix_core::pve::conf::Section;
use phoenix_core::pve::firewall::{self, FwFile};
use phoenix_core::pve::propstr::PropertyString;

use crate::options::{self, Opt, prop_map};
use crate::spec::{AppArmor, GIB, Spec, SubId, parse_size};

/// Host facts the settings depend on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// Bind-mount sources: host path → owner when the directory exists.
    pub dirs: BTreeMap<String, Option<(u32, u32)>>,
    /// Device nodes the GPU assignment needs → present on the host.
    pub devices: BTreeMap<String, bool>,
    /// Lines of `/etc/subuid`.
    pub subuid: Vec<String>,
    /// Lines of `/etc/subgid`.
    pub subgid: Vec<String>,
    /// Whether the installed AppArmor profile equals the shipped one (`None`: no custom
    /// profile, or the shipped file is missing).
    pub apparmor_current: Option<bool>,
    /// The firewall file's text (`None` when absent).
    pub firewall: Option<String>,
    /// Owners can be changed (the manager runs as root).
    pub can_chown: bool,
}

/// A host directory to create or re-own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirAction {
    /// Host path (as Proxmox names it).
    pub path: String,
    /// Create it.
    pub create: bool,
    /// Owner to set.
    pub owner: Option<(u32, u32)>,
}

/// Everything the settings step does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// `pct set` options, in order.
    pub set: Vec<(String, String)>,
    /// `pct set --delete`.
    pub delete: Vec<String>,
    /// `pct resize` disk → GiB.
    pub resize: Vec<(String, u64)>,
    /// New raw lines for the main section.
    pub raw: Option<Vec<(String, String)>>,
    /// Host directories.
    pub dirs: Vec<DirAction>,
    /// Lines to add to `/etc/subuid` / `/etc/subgid`.
    pub subids: Vec<SubId>,
    /// A profile to install.
    pub apparmor: Option<AppArmor>,
    /// New firewall file content.
    pub firewall: Option<String>,
    /// Some change takes effect only after a restart: stop first.
    pub cold: bool,
    /// The plan lines.
    pub changes: Vec<Change>,
}

impl Settings {
    /// Whether anything is to be done.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
            && self.delete.is_empty()
            && self.resize.is_empty()
            && self.raw.is_none()
            && self.dirs.is_empty()
            && self.subids.is_empty()
            && self.apparmor.is_none()
            && self.firewall.is_none()
    }
}

/// Why the settings cannot be planned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

/// An `mpN` entry of the conf.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Mp {
    index: u32,
    volume: String,
    path: String,
    size: Option<u64>,
}

impl Mp {
    fn is_bind(&self) -> bool {
        self.volume.starts_with('/')
    }
}

fn mount_points(main: &Section) -> Vec<Mp> {
    let mut v: Vec<Mp> = main
        .keys
        .iter()
        .filter_map(|(k, val)| {
            let index = k.strip_prefix("mp")?.parse().ok()?;
            let p = PropertyString::parse(val, Some("volume")).ok()?;
            Some(Mp {
                index,
                volume: p.get("volume")?.to_string(),
                path: p.get("mp")?.trim_end_matches('/').to_string(),
                size: p.get("size").and_then(parse_size),
            })
        })
        .collect();
    v.sort_by_key(|m| m.index);
    v
}

fn devices(main: &Section) -> Vec<(u32, String)> {
    let mut v: Vec<(u32, String)> = main
        .keys
        .iter()
        .filter_map(|(k, val)| {
            let index = k.strip_prefix("dev")?.parse().ok()?;
            let p = PropertyString::parse(val, Some("path")).ok()?;
            Some((index, p.get("path")?.to_string()))
        })
        .collect();
    v.sort();
    v
}

/// The device nodes a GPU assignment needs (the NVIDIA control devices plus one per GPU).
pub fn gpu_devices(gpus: &[u32]) -> Vec<String> {
    if gpus.is_empty() {
        return Vec::new();
    }
    let mut v: Vec<String> = gpus.iter().map(|g| format!("/dev/nvidia{g}")).collect();
    v.extend(["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"].map(String::from));
    v
}

fn first_free(used: &BTreeSet<u32>) -> u32 {
    (0..).find(|i| !used.contains(i)).unwrap_or(0)
}

/// Records one `pct set` option and its plan line.
fn want(s: &mut Settings, o: &Opt, have: Option<&str>, value: String) {
    let mut c = Change::new(
        if have.is_some() { Op::Change } else { Op::Add },
        o.group(),
        o.key,
    )
    .to(value.clone());
    c.from = have.map(str::to_string);
    s.changes.push(c);
    s.set.push((o.key.to_string(), value));
    s.cold |= o.cold;
}

/// Plans the settings of an existing (or predicted) container.
pub fn settings(spec: &Spec, main: &Section, host: &HostFacts) -> Result<Settings, PlanError> {
    let mut s = Settings::default();
    // The options (`options::table`), the settings before the NICs as the plan shows them.
    let table = options::table(spec, None);
    for group in ["settings", "network"] {
        for o in table.iter().filter(|o| o.group() == group) {
            if let Some(value) = o.wanted(main) {
                want(&mut s, o, main.get(o.key), value);
            }
        }
    }

    // Mount points: matched by the path inside the container.
    let mps = mount_points(main);
    let mut used: BTreeSet<u32> = mps.iter().map(|m| m.index).collect();
    let mut matched: BTreeSet<u32> = BTreeSet::new();
    for b in &spec.binds {
        match mps.iter().find(|m| m.path == b.container_path) {
            Some(m) if !m.is_bind() => {
                return Err(PlanError(format!(
                    "mp{} mounts the storage volume {} at {}, where the configuration wants the bind mount {}",
                    m.index, m.volume, m.path, b.host_path
                )));
            }
            Some(m) => {
                matched.insert(m.index);
                if m.volume.trim_end_matches('/') != b.host_path {
                    let v = format!("{},mp={}", b.host_path, b.container_path);
                    s.changes.push(
                        Change::new(Op::Change, "mounts", format!("mp{}", m.index))
                            .from(format!("{} -> {}", m.volume, m.path))
                            .to(format!("{} -> {}", b.host_path, b.container_path)),
                    );
                    s.set.push((format!("mp{}", m.index), v));
                    s.cold = true;
                }
            }
            None => {
                let i = first_free(&used);
                used.insert(i);
                matched.insert(i);
                s.changes.push(
                    Change::new(Op::Add, "mounts", format!("mp{i}"))
                        .to(format!("{} -> {}", b.host_path, b.container_path)),
                );
                s.set.push((
                    format!("mp{i}"),
                    format!("{},mp={}", b.host_path, b.container_path),
                ));
            }
        }
        match host.dirs.get(&b.host_path) {
            Some(Some(owner)) => {
                if let Some(o) = b.owner.filter(|o| o != owner) {
                    if host.can_chown {
                        s.changes.push(
                            Change::new(Op::Change, "mounts", format!("owner of {}", b.host_path))
                                .from(format!("{}:{}", owner.0, owner.1))
                                .to(format!("{}:{}", o.0, o.1)),
                        );
                        s.dirs.push(DirAction {
                            path: b.host_path.clone(),
                            create: false,
                            owner: Some(o),
                        });
                    } else {
                        s.changes.push(Change::new(Op::Note, "mounts", format!("{} is owned by {}:{}, configured {}:{}; changing owners needs root", b.host_path, owner.0, owner.1, o.0, o.1)));
                    }
                }
            }
            _ => {
                let owner = b.owner.filter(|_| host.can_chown);
                s.changes.push(
                    Change::new(Op::Add, "mounts", format!("host directory {}", b.host_path)).to(
                        owner.map_or("owned by root".into(), |o| {
                            format!("owned by {}:{}", o.0, o.1)
                        }),
                    ),
                );
                s.dirs.push(DirAction {
                    path: b.host_path.clone(),
                    create: true,
                    owner,
                });
            }
        }
    }
    for v in &spec.volumes {
        match mps.iter().find(|m| m.path == v.mount_point) {
            Some(m) if m.is_bind() => {
                return Err(PlanError(format!(
                    "mp{} bind-mounts {} at {}, where the configuration wants a volume on {}",
                    m.index, m.volume, m.path, v.storage
                )));
            }
            Some(m) => {
                matched.insert(m.index);
                let have = m.size.unwrap_or(0);
                if have < v.size_gb * GIB {
                    s.changes.push(
                        Change::new(Op::Change, "mounts", format!("mp{} size", m.index))
                            .from(format!("{}G", have / GIB))
                            .to(format!("{}G", v.size_gb)),
                    );
                    s.resize.push((format!("mp{}", m.index), v.size_gb));
                } else if have > v.size_gb * GIB {
                    s.changes.push(Change::new(
                        Op::Note,
                        "mounts",
                        format!(
                            "mp{} is {}G, larger than the configured {}G; volumes never shrink",
                            m.index,
                            have / GIB,
                            v.size_gb
                        ),
                    ));
                }
            }
            None => {
                let i = first_free(&used);
                used.insert(i);
                matched.insert(i);
                s.changes
                    .push(Change::new(Op::Add, "mounts", format!("mp{i}")).to(format!(
                        "new {}G volume on {} -> {}",
                        v.size_gb, v.storage, v.mount_point
                    )));
                s.set.push((
                    format!("mp{i}"),
                    format!("{}:{},mp={}", v.storage, v.size_gb, v.mount_point),
                ));
            }
        }
    }
    for m in mps.iter().filter(|m| !matched.contains(&m.index)) {
        if m.is_bind() {
            s.changes.push(
                Change::new(Op::Remove, "mounts", format!("mp{}", m.index))
                    .from(format!("{} -> {}", m.volume, m.path)),
            );
            s.delete.push(format!("mp{}", m.index));
            s.cold = true;
        } else {
            s.changes.push(Change::new(
                Op::Note,
                "mounts",
                format!(
                    "mp{} ({} at {}) is not in the configuration; left attached with its data",
                    m.index, m.volume, m.path
                ),
            ));
        }
    }

    // Root disk: grown, never shrunk.
    if let Some(gb) = spec.disk_gb {
        let have = main
            .get("rootfs")
            .map(|r| prop_map(r, Some("volume")))
            .and_then(|p| p.get("size").and_then(|v| parse_size(v)));
        match have {
            Some(h) if h < gb * GIB => {
                s.changes.push(
                    Change::new(Op::Change, "disk", "rootfs size")
                        .from(format!("{}G", h / GIB))
                        .to(format!("{gb}G")),
                );
                s.resize.push(("rootfs".into(), gb));
            }
            Some(h) if h > gb * GIB => {
                s.changes.push(Change::new(
                    Op::Note,
                    "disk",
                    format!(
                        "rootfs is {}G, larger than storage_size_gb {gb}G; disks never shrink",
                        h / GIB
                    ),
                ));
            }
            _ => {}
        }
    }

    // GPU passthrough as devN entries.
    let want_devs = gpu_devices(&spec.gpus);
    for d in &want_devs {
        if host.devices.get(d) != Some(&true) {
            return Err(PlanError(format!(
                "GPU passthrough needs {d}, which does not exist on this host (is the NVIDIA driver installed and loaded?)"
            )));
        }
    }
    let devs = devices(main);
    let mut dev_used: BTreeSet<u32> = devs.iter().map(|(i, _)| *i).collect();
    let mut stale: Vec<(u32, String)> = devs
        .iter()
        .filter(|(_, p)| p.starts_with("/dev/nvidia") && !want_devs.contains(p))
        .cloned()
        .collect();
    for d in want_devs
        .iter()
        .filter(|d| !devs.iter().any(|(_, p)| p == *d))
    {
        // Reuse a slot whose NVIDIA device is no longer wanted: one `--devN` replaces it.
        let (i, op, from) = if stale.is_empty() {
            let i = first_free(&dev_used);
            dev_used.insert(i);
            (i, Op::Add, None)
        } else {
            let (i, old) = stale.remove(0);
            (i, Op::Change, Some(old))
        };
        let mut c = Change::new(op, "gpu", format!("dev{i}")).to(d.clone());
        c.from = from;
        s.changes.push(c);
        s.set.push((format!("dev{i}"), d.clone()));
        s.cold = true;
    }
    for (i, path) in stale {
        s.changes
            .push(Change::new(Op::Remove, "gpu", format!("dev{i}")).from(path));
        s.delete.push(format!("dev{i}"));
        s.cold = true;
    }

    // Raw lxc.* lines: exactly the configured ones, in the main section.
    if main.lxc != spec.raw_lines {
        for (k, v) in &main.lxc {
            if !spec.raw_lines.iter().any(|(a, b)| a == k && b == v) {
                s.changes.push(Change::new(
                    Op::Remove,
                    "raw lxc lines",
                    format!("{k}: {v}"),
                ));
            }
        }
        for (k, v) in &spec.raw_lines {
            if !main.lxc.iter().any(|(a, b)| a == k && b == v) {
                s.changes
                    .push(Change::new(Op::Add, "raw lxc lines", format!("{k}: {v}")));
            }
        }
        if !s.changes.iter().any(|c| c.group == "raw lxc lines") {
            s.changes
                .push(Change::new(Op::Change, "raw lxc lines", "order"));
        }
        s.raw = Some(spec.raw_lines.clone());
        s.cold = true;
    }
    for sub in &spec.subids {
        let lines = if sub.file == "subuid" {
            &host.subuid
        } else {
            &host.subgid
        };
        if !lines.iter().any(|l| l.trim() == sub.line) {
            s.changes.push(Change::new(
                Op::Add,
                "id maps",
                format!("/etc/{}: {}", sub.file, sub.line),
            ));
            s.subids.push(sub.clone());
            s.cold = true;
        }
    }
    if let Some(a) = &spec.apparmor {
        match host.apparmor_current {
            None => {
                return Err(PlanError(format!(
                    "AppArmor profile {} is not shipped: {} does not exist",
                    a.name,
                    a.source.display()
                )));
            }
            Some(true) => {}
            Some(false) => {
                s.changes.push(
                    Change::new(Op::Change, "apparmor", format!("profile {}", a.name))
                        .to(format!("install /etc/apparmor.d/{}", a.name)),
                );
                s.apparmor = Some(a.clone());
                s.cold = true;
            }
        }
    }
    if let Some((enabled, rules)) = &spec.firewall {
        let cur = host.firewall.as_deref();
        let want = firewall::desired(&FwFile::parse(cur.unwrap_or("")), *enabled, rules);
        if let Some(p) = firewall::plan(cur, &want) {
            s.changes.extend(p.changes);
            s.firewall = Some(p.text);
        }
    }
    Ok(s)
}

pub use phoenix_core::converge::runtime::{RuntimeState, Step, Work};

/// What the planned resizes add on each disk's storage: `(storage, bytes, what)`.
pub fn growth(main: &Section, s: &Settings, id: GuestId) -> Vec<(String, u64, String)> {
    s.resize
        .iter()
        .filter_map(|(disk, gb)| {
            let props = prop_map(main.get(disk)?, Some("volume"));
            let volume = props.get("volume")?;
            let storage = volume.split_once(':')?.0.to_string();
            let have = props.get("size").and_then(|v| parse_size(v)).unwrap_or(0);
            let delta = gb.saturating_mul(GIB).saturating_sub(have);
            Some((
                storage,
                delta,
                format!("growing {disk} of container {id} to {gb} GiB"),
            ))
        })
        .collect()
}

/// The runtime view of a container spec: `pre-configured` before the installers and
/// `final-form` after them with lifecycle snapshots, plus the `template_snapshot_name`.
/// A template snapshot named like a lifecycle snapshot is taken once, after the installers:
/// it is what clones are made from (the shell version's files of 2025-10-01 set both
/// `enable_lifecycle_snapshots` and `template_snapshot_name: "pre-configured"`; taking the
/// name twice fails, and clones of the pre-installer snapshot would lack every feature).
pub fn runtime_spec(spec: &Spec) -> RuntimeSpec {
    let mut post: Vec<String> = spec.template_snapshot.iter().cloned().collect();
    if spec.lifecycle && !post.iter().any(|s| s == "final-form") {
        post.push("final-form".into());
    }
    let pre = Some("pre-configured".to_string()).filter(|p| spec.lifecycle && !post.contains(p));
    RuntimeSpec {
        noun: "container",
        id: spec.id.get(),
        is_template: spec.is_template,
        pre,
        post,
    }
}

/// Plans the runtime steps (the shared planner, [`phoenix_core::converge::runtime`]).
pub fn runtime(
    spec: &Spec,
    st: &RuntimeState,
    work: &Work,
) -> Result<(Vec<Step>, Vec<Change>), PlanError> {
    phoenix_core::converge::runtime::plan(&runtime_spec(spec), st, work).map_err(|e| PlanError(e.0))
}

#[cfg(test)]
mod tests;
