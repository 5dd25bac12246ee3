//! Per-guest checks: names, NICs, mounts, storages, scripts, stacks, boot order.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use super::net::{Nic, check_nic, check_rules};
use super::{Checker, Site, find, sites};
use crate::config::Guest;
use crate::config::diag::{Blocks, Subject, Work};
use crate::config::formats;
use crate::config::json::child;
use crate::config::lxc::Container;
use crate::config::vm::Vm;
use crate::ids::GuestId;

/// Runs the per-guest checks over every guest.
pub(super) fn check_guests(c: &mut Checker<'_>) {
    let storages = c.inp.host.storage_ids();
    let app_dirs_exist = c.inp.app_script_dirs.iter().any(|d| d.is_dir());
    if !app_dirs_exist
        && c.inp
            .lxc
            .lxc_configs
            .values()
            .any(|ct| ct.application_script.is_some())
    {
        let dirs: Vec<String> = c
            .inp
            .app_script_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        let file = c.inp.files.lxc.clone();
        c.note(
            &file,
            "",
            format!(
                "application scripts were not checked: none of {} exists (not installed here)",
                dirs.join(", ")
            ),
        );
    }
    if let Some(pool) = &c.inp.vm.vm_defaults.storage_pool {
        if !storages.contains(pool) {
            let (file, host) = (c.inp.files.vm.clone(), c.inp.files.host.clone());
            c.warn(
                &file,
                "/vm_defaults/storage_pool",
                format!("storage {pool:?} is not defined by the host config"),
            )
            .hint = Some(format!(
                "define it through zfs.datasets or proxmox_storage_ids in {}",
                host.display()
            ));
        }
    }
    for site in sites(c.inp) {
        check_common(c, &site, &storages);
        match site.guest {
            Guest::Lxc(_, ct) => check_container(c, &site, ct, &storages, app_dirs_exist),
            Guest::Vm(_, vm) => check_vm(c, &site, vm),
        }
    }
}

/// What every guest has: a host name, net0's MAC, a firewall, a root storage, features, and
/// a boot order that fits its dependencies.
fn check_common(c: &mut Checker<'_>, site: &Site<'_>, storages: &[String]) {
    let (id, g) = (site.id, site.guest);
    if let Err(e) = formats::dns_name(g.name()) {
        c.guest_err(site, "name", format!("guest {id}: {e}"));
    }
    if let Some(mac) = g.mac_address() {
        if let Err(e) = formats::mac(mac) {
            c.guest_err(site, "mac_address", e);
        }
    }
    if let Some(fw) = g.firewall() {
        check_rules(
            c,
            &site.file,
            &child(&site.at("firewall"), "rules"),
            Some(id),
            &fw.rules,
        );
    }
    if let Some(pool) = g.storage_pool() {
        if !storages.iter().any(|s| s == pool) {
            storage_warning(c, site, &site.at("storage_pool"), pool);
        }
    }
    check_features(c, site);
    if g.start_at_boot() {
        check_boot_order(c, site);
    }
}

fn storage_warning(c: &mut Checker<'_>, site: &Site<'_>, ptr: &str, pool: &str) {
    let host = c.inp.files.host.clone();
    let d = c.warn(
        &site.file,
        ptr,
        format!(
            "storage {pool:?} of guest {} is not defined by the host config",
            site.id
        ),
    );
    d.hint = Some(format!(
        "define it through zfs.datasets or proxmox_storage_ids in {}, or make sure it exists on the host",
        host.display()
    ));
    d.guest = Some(site.id);
}

fn check_container(
    c: &mut Checker<'_>,
    site: &Site<'_>,
    ct: &Container,
    storages: &[String],
    app_dirs_exist: bool,
) {
    let id = site.id;
    for key in ["network_config", "secondary_network_config"] {
        let net = if key == "network_config" {
            &ct.network_config
        } else {
            &ct.secondary_network_config
        };
        if let Some(net) = net {
            let nic = Nic {
                ip: net.ip.as_deref(),
                gw: net.gw.as_deref(),
                nameservers: net.nameservers.items(),
                nameserver_key: "nameservers",
            };
            check_nic(c, site, key, &nic);
        }
    }
    if let Some(g) = &ct.gpu_assignment {
        if let Err(e) = formats::gpu_assignment(g) {
            c.guest_err(site, "gpu_assignment", e);
        }
    }
    for (i, p) in ct.ports.iter().enumerate() {
        if let Err(e) = formats::port_mapping(p) {
            c.guest_err(site, &format!("ports/{i}"), e);
        }
    }
    check_mounts(c, site, ct);
    check_lxc_options(c, site, ct);
    check_id_maps(c, site, ct);
    for (i, v) in ct.zfs_volumes.iter().enumerate() {
        if !storages.contains(&v.pool) {
            storage_warning(c, site, &site.at(&format!("zfs_volumes/{i}/pool")), &v.pool);
        }
    }
    if ct.clone_from_ctid.is_none() && ct.template.is_none() && ct.template_file.is_none() {
        let any_source = c
            .inp
            .lxc
            .lxc_configs
            .values()
            .any(|o| o.is_template() || o.template_snapshot_name.is_some());
        if any_source {
            c.note(&site.file, &site.base, format!("container {id} names no clone source or OS template; a template will be chosen by its features")).guest = Some(id);
        } else {
            let msg = format!(
                "container {id} has nothing to be created from: no clone_from_ctid, no template, and no template container to choose"
            );
            let d = c.err(&site.file, &site.base, msg);
            d.hint = Some("add \"clone_from_ctid\" or \"template\"".to_string());
            d.guest = Some(id);
        }
    }
    if let (Some(src), Some(mine)) = (ct.clone_from_ctid, ct.unprivileged) {
        let theirs = c
            .inp
            .lxc
            .lxc_configs
            .get(&src.0.to_string())
            .and_then(|s| s.unprivileged);
        if theirs.is_some_and(|t| t != mine) {
            let what = |u: bool| if u { "unprivileged" } else { "privileged" };
            let msg = format!(
                "container {id} is {} but its clone source {} is {}; a clone keeps its source's privilege level",
                what(mine),
                src.0,
                what(!mine)
            );
            c.guest_warn(site, "unprivileged", msg).hint = Some(format!(
                "make them agree, or create {id} from an OS template"
            ));
        }
    }
    if ct.is_template() && ct.template_snapshot_name.is_some() {
        let msg = format!(
            "container {id} becomes a Proxmox template, which cannot take snapshots; clones of it are linked clones and need no snapshot"
        );
        c.note(&site.file, &site.at("template_snapshot_name"), msg)
            .guest = Some(id);
    }
    check_health_programs(c, site, ct);
    if let Some(script) = ct.application_script.as_ref().filter(|_| app_dirs_exist) {
        if !c
            .inp
            .app_script_dirs
            .iter()
            .any(|d| d.join(script).is_file())
        {
            let dirs: Vec<String> = c
                .inp
                .app_script_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            let d = c.guest_block(
                site,
                "application_script",
                format!(
                    "application script {script:?} of container {id} not found in {}",
                    dirs.join(", ")
                ),
                &[Work::Converge],
            );
            d.hint = Some(format!(
                "create/converge of {id} (and of what is cloned from it) fails until the script exists; the rest of the estate is unaffected"
            ));
        }
    }
}

/// Host-side health checks a container names (`health_check.command` starting with `/`, the
/// shell version's `health_checks[].script` in `bin/health_checks/`) that are not installed:
/// findings that block converging the container, checked where health checks are installed.
fn check_health_programs(c: &mut Checker<'_>, site: &Site<'_>, ct: &Container) {
    let Some(root) = c.inp.install_root.clone() else {
        return;
    };
    let dir = root.join("bin/health_checks");
    if !dir.is_dir() {
        return;
    }
    let id = site.id;
    let mut missing: Vec<(String, std::path::PathBuf)> = Vec::new();
    if let Some(program) = ct
        .health_check
        .as_ref()
        .and_then(|h| shlex::split(&h.command))
        .and_then(|argv| argv.into_iter().next())
        .filter(|p| p.starts_with('/'))
    {
        let path = match program.strip_prefix(phoenix_paths::DEFAULT_ROOT) {
            Some(rest) => root.join(rest.trim_start_matches('/')),
            None => std::path::PathBuf::from(&program),
        };
        if !path.is_file() {
            missing.push(("health_check/command".to_string(), path));
        }
    }
    for (i, h) in ct.health_checks.iter().enumerate() {
        let path = dir.join(h.script.trim_start_matches('/'));
        if !path.is_file() {
            missing.push((format!("health_checks/{i}/script"), path));
        }
    }
    for (key, path) in missing {
        let d = c.guest_block(
            site,
            &key,
            format!(
                "health check program {} of container {id} does not exist",
                path.display()
            ),
            &[Work::Converge],
        );
        d.hint = Some(format!(
            "install it, or remove the check; create/converge of {id} fails until then"
        ));
    }
}

/// Raw `lxc.*` lines as Proxmox judges their keys (pve-container Config.pm
/// `is_valid_lxc_conf_key`): one Proxmox drops or refuses is an error here (the container
/// would be reported converged while Proxmox ignores the line); a deprecated one a warning.
fn check_lxc_options(c: &mut Checker<'_>, site: &Site<'_>, ct: &Container) {
    use crate::pve::conf::{LxcKey, lxc_key, parse_raw_option};
    for (i, opt) in ct.lxc_options.iter().enumerate() {
        let Some((key, _)) = parse_raw_option(opt) else {
            continue;
        };
        let at = format!("lxc_options/{i}");
        match lxc_key(&key) {
            LxcKey::Valid => {}
            LxcKey::Deprecated(why) => {
                c.guest_warn(site, &at, why);
            }
            LxcKey::Refused(why) => {
                c.guest_err(site, &at, format!("Proxmox refuses this line: {why}"));
            }
            LxcKey::Unknown => {
                c.guest_err(
                    site,
                    &at,
                    format!("Proxmox drops {key} from a container's config (it keeps only the keys pve-container knows); it would never reach LXC"),
                )
                .hint = Some("use a key of lxc.conf(5) that Proxmox keeps (lxc.cgroup2.*, lxc.mount.entry, lxc.apparmor.*, …), or a Proxmox option".to_string());
            }
        }
    }
}

/// How many container IDs lxc-manager maps for an unprivileged container: `0..65536`, the range
/// Proxmox gives one (`root:100000:65536` in `/etc/subuid` and `/etc/subgid`). Its `lxc.idmap`
/// lines cover exactly this range around the custom entries.
const ID_RANGE: u64 = 65_536;

/// The ID kind an `id_maps` entry's `type` names (`uid`/`u` or `gid`/`g`).
fn id_map_kind(t: &str) -> Option<&'static str> {
    match t {
        "uid" | "u" => Some("uid"),
        "gid" | "g" => Some("gid"),
        _ => None,
    }
}

/// Who decides whether container `id` is unprivileged, and what they say: the container
/// itself, else the nearest clone ancestor that says (a clone keeps its source's level); `None`
/// when nobody does (then it is privileged, as `pct create` defaults).
fn unprivileged_from(c: &Checker<'_>, id: GuestId) -> Option<(GuestId, bool)> {
    let lxc = c.inp.lxc;
    std::iter::once(id)
        .chain(crate::config::clone_chain(lxc, id))
        .find_map(|i| Some((i, lxc.lxc_configs.get(&i.to_string())?.unprivileged?)))
}

/// Custom ID maps: only on unprivileged containers, a known `type`, inside the mapped range,
/// no two entries of one kind mapping the same container ID.
fn check_id_maps(c: &mut Checker<'_>, site: &Site<'_>, ct: &Container) {
    let id = site.id;
    if ct.id_maps.is_empty() {
        return;
    }
    let decided = unprivileged_from(c, id);
    if !decided.is_some_and(|(_, u)| u) {
        let how = match decided {
            Some((who, _)) if who != id => {
                format!(" (a clone keeps its source's level, and {who} is privileged)")
            }
            Some(_) => String::new(),
            None => " (\"unprivileged\" is not set, and pct create makes privileged containers)"
                .to_string(),
        };
        let msg = format!(
            "container {id} is privileged{how}; ID maps apply to unprivileged containers only"
        );
        c.guest_err(site, "id_maps", msg).hint =
            Some("set \"unprivileged\": true, or remove \"id_maps\"".to_string());
    }
    for (i, m) in ct.id_maps.iter().enumerate() {
        if id_map_kind(&m.kind).is_none() {
            c.guest_err(
                site,
                &format!("id_maps/{i}/type"),
                format!(
                    "container {id}: id map type {:?} must be \"uid\" or \"gid\" (or \"u\"/\"g\")",
                    m.kind
                ),
            );
        }
        let end = u64::from(m.container_id) + u64::from(m.size);
        if end > ID_RANGE {
            let msg = format!(
                "container {id}: id map reaches beyond container ID {} (container IDs {}-{}); lxc-manager maps container IDs 0-{} only, the {ID_RANGE} IDs Proxmox gives an unprivileged container (root:100000:{ID_RANGE} in /etc/subuid and /etc/subgid)",
                ID_RANGE - 1,
                m.container_id,
                end - 1,
                ID_RANGE - 1,
            );
            c.guest_err(site, &format!("id_maps/{i}"), msg).hint =
                Some(format!("keep container_id + size at most {ID_RANGE}"));
        }
    }
    for kind in ["uid", "gid"] {
        let mut maps: Vec<(usize, u64, u64)> = ct
            .id_maps
            .iter()
            .enumerate()
            .filter(|(_, m)| id_map_kind(&m.kind) == Some(kind))
            .map(|(i, m)| {
                let start = u64::from(m.container_id);
                (i, start, start + u64::from(m.size))
            })
            .collect();
        maps.sort_by_key(|&(_, start, _)| start);
        // The entry reaching furthest so far: one starting before its end overlaps it.
        let mut furthest: Option<(usize, u64, u64)> = None;
        for (i, start, end) in maps {
            if let Some((j, s0, e0)) = furthest.filter(|&(_, _, e0)| start < e0) {
                let msg = format!(
                    "container {id}: two {kind} entries overlap: id_maps/{i} maps container IDs {start}-{}, id_maps/{j} maps {s0}-{}",
                    end.saturating_sub(1),
                    e0.saturating_sub(1)
                );
                c.guest_err(site, &format!("id_maps/{i}"), msg);
            }
            if furthest.is_none_or(|(_, _, e0)| end > e0) {
                furthest = Some((i, start, end));
            }
        }
    }
}

fn check_vm(c: &mut Checker<'_>, site: &Site<'_>, vm: &Vm) {
    let id = site.id;
    if let Some(net) = &vm.network_config {
        let nic = Nic {
            ip: net.ip.as_deref(),
            gw: net.gw.as_deref(),
            nameservers: net.nameserver.items(),
            nameserver_key: "nameserver",
        };
        check_nic(c, site, "network_config", &nic);
    }
    if vm.is_template() && vm.clone_from_vmid.is_none() && vm.template_image.is_none() {
        let msg =
            format!("VM template {id} needs \"template_image\" (the cloud image it is built from)");
        c.err(&site.file, &site.base, msg).guest = Some(id);
    }
    if !vm.is_template() && vm.clone_from_vmid.is_none() {
        let msg = format!(
            "VM {id} has nothing to be created from: set \"clone_from_vmid\" (or make it a template with \"template_image\")"
        );
        c.err(&site.file, &site.base, msg).guest = Some(id);
    }
    let mut mounts = BTreeSet::new();
    for (j, v) in vm.volumes.iter().enumerate() {
        if !mounts.insert(v.mount_point.trim_end_matches('/').to_string()) {
            c.guest_err(
                site,
                &format!("volumes/{j}/mount_point"),
                format!("VM {id} mounts two volumes at {:?}", v.mount_point),
            );
        }
        if let Some(s) = &v.server {
            if s.parse::<std::net::IpAddr>().is_err() && formats::dns_name(s).is_err() {
                c.guest_err(
                    site,
                    &format!("volumes/{j}/server"),
                    format!("VM {id}: NFS server {s:?} is not an address or host name"),
                );
            }
        }
    }
    if !vm.docker_stacks.is_empty() && vm.portainer_role.as_deref().is_none_or(|r| r == "none") {
        c.guest_warn(site, "docker_stacks", format!("VM {id} has docker_stacks but no Portainer role (agent or primary); they cannot be deployed"));
    }
}

/// Features listed twice, or without an installer (checked where installers are installed).
fn check_features(c: &mut Checker<'_>, site: &Site<'_>) {
    let mut seen = BTreeSet::new();
    let kind_dir = c
        .inp
        .setup_scripts_dir
        .as_ref()
        .map(|d| d.join(site.kind().as_str()));
    let installed = kind_dir.as_deref().is_some_and(installers_present);
    for (i, f) in site.guest.features().iter().enumerate() {
        let key = format!("features/{i}");
        if !seen.insert(f.as_str()) {
            c.guest_warn(
                site,
                &key,
                format!("feature {f:?} is listed twice for guest {}", site.id),
            );
        }
        if let (true, Some(dir)) = (installed, &kind_dir) {
            let script = dir.join(format!("{f}.sh"));
            if !script.is_file() {
                c.guest_block(
                    site,
                    &key,
                    format!(
                        "no installer for feature {f:?} of guest {} ({} is missing)",
                        site.id,
                        script.display()
                    ),
                    &[Work::Converge],
                );
            }
        }
    }
}

/// Whether installers are installed in `dir` (any `*.sh`).
fn installers_present(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.filter_map(Result::ok)
            .any(|e| e.path().extension().is_some_and(|x| x == "sh"))
    })
}

/// A guest that starts at host boot should not depend on one that starts later, or never.
fn check_boot_order(c: &mut Checker<'_>, site: &Site<'_>) {
    let default = crate::graph::DEFAULT_BOOT_ORDER;
    let (id, mine) = (site.id, site.guest.boot_order().unwrap_or(default));
    for d in site.guest.dependencies() {
        let Some(dep) = find(c.inp, d).filter(|g| !g.is_template()) else {
            continue;
        };
        let theirs = dep.boot_order().unwrap_or(default);
        if !dep.start_at_boot() {
            let w = c.guest_warn(
                site,
                "dependencies",
                format!("guest {id} starts at host boot but depends on {d}, which does not"),
            );
            w.hint = Some(format!("set \"start_at_boot\": true on {d}"));
        } else if theirs > mine {
            let w = c.guest_warn(site, "boot_order", format!("guest {id} (boot order {mine}) depends on {d} (boot order {theirs}), which starts later at host boot"));
            w.hint = Some(format!("give {id} a boot_order above {theirs}"));
        }
    }
}

/// Two volumes (bind mounts or storage volumes) at one path inside a container.
fn check_mounts(c: &mut Checker<'_>, site: &Site<'_>, ct: &Container) {
    let mut by_path: HashMap<String, String> = HashMap::new();
    let paths = ct
        .mount_points
        .iter()
        .enumerate()
        .map(|(i, m)| {
            (
                format!("mount_points/{i}/container_path"),
                &m.container_path,
            )
        })
        .chain(
            ct.zfs_volumes
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("zfs_volumes/{i}/mount_point"), &v.mount_point)),
        );
    for (key, path) in paths {
        let norm = path.trim_end_matches('/').to_string();
        let ptr = site.at(&key);
        if let Some(prev) = by_path.get(&norm) {
            let msg = format!(
                "container {} mounts two volumes at {path:?} (also {prev})",
                site.id
            );
            c.guest_err(site, &key, msg);
        } else {
            by_path.insert(norm, ptr);
        }
    }
}

/// One use of a stack by a VM.
struct StackUse {
    vm: GuestId,
    file: std::path::PathBuf,
    pointer: String,
    name: String,
    env: String,
}

/// The stacks the VMs deploy: each one undefined, without the environment asked for, without
/// its compose file or without a file it ships is a warning that blocks deploying that stack
/// alone (the VMs are still created). Bad values in a used environment (firewall rules) are
/// errors like any other.
pub(super) fn check_stacks(c: &mut Checker<'_>) {
    let mut uses = Vec::new();
    for site in sites(c.inp) {
        if let Guest::Vm(_, vm) = site.guest {
            for (j, s) in vm.docker_stacks.iter().enumerate() {
                uses.push(StackUse {
                    vm: site.id,
                    file: site.file.clone(),
                    pointer: site.at(&format!("docker_stacks/{j}")),
                    name: s.name().to_string(),
                    env: s.environment().to_string(),
                });
            }
        }
    }
    let mut checked_compose = BTreeSet::new();
    let mut checked_env = BTreeSet::new();
    for u in &uses {
        let blocks = Subject::Stack(u.name.clone());
        let Some(stack) = c.inp.stacks.get(&u.name) else {
            let dir = c.inp.files.stacks_dir.join(&u.name);
            let d = c.warn(
                &u.file,
                &u.pointer,
                format!(
                    "VM {} deploys stack {:?}, which is defined nowhere: no {} and no entry in {}",
                    u.vm,
                    u.name,
                    dir.join(phoenix_paths::config_files::STACK_MANIFEST)
                        .display(),
                    super::file_name(&c.inp.files.stacks_config),
                ),
            );
            d.hint = Some(format!(
                "create {}/docker-compose.yml and {}/phoenix.json",
                dir.display(),
                dir.display()
            ));
            d.guest = Some(u.vm);
            d.blocks = Some(Blocks::new(blocks, &[Work::Deploy]));
            continue;
        };
        let Some(environment) = stack.manifest.environments.get(&u.env) else {
            let known: Vec<&str> = stack
                .manifest
                .environments
                .keys()
                .map(String::as_str)
                .collect();
            let d = c.warn(
                &u.file,
                &u.pointer,
                format!(
                    "stack {:?} has no environment {:?} in {} (it has: {})",
                    u.name,
                    u.env,
                    stack.definition.display(),
                    known.join(", ")
                ),
            );
            d.guest = Some(u.vm);
            d.blocks = Some(Blocks::new(blocks, &[Work::Deploy]));
            continue;
        };
        if checked_compose.insert(u.name.clone()) && !stack.compose.is_file() {
            let (file, ptr) = if stack.pointer.is_empty() {
                (stack.compose.clone(), String::new())
            } else {
                (
                    stack.definition.clone(),
                    child(&stack.pointer, "compose_file_path"),
                )
            };
            let d = c.warn(
                &file,
                &ptr,
                format!(
                    "the compose file of stack {:?} does not exist: {}",
                    u.name,
                    stack.compose.display()
                ),
            );
            d.hint = Some(format!(
                "VM {} is still created and converged; syncing the stack fails until the file exists",
                u.vm
            ));
            d.blocks = Some(Blocks::new(blocks.clone(), &[Work::Deploy]));
        }
        if !checked_env.insert((u.name.clone(), u.env.clone())) {
            continue;
        }
        let env_ptr = stack.environment_pointer(&u.env);
        let definition = stack.definition.clone();
        for (i, f) in environment.files.iter().enumerate() {
            if !stack.dir.join(f.source.trim_start_matches("./")).is_file() {
                let p = child(&child(&child(&env_ptr, "files"), &i.to_string()), "source");
                let d = c.warn(
                    &definition,
                    &p,
                    format!(
                        "file {:?} of stack {:?} does not exist in {}",
                        f.source,
                        u.name,
                        stack.dir.display()
                    ),
                );
                d.blocks = Some(Blocks::new(blocks.clone(), &[Work::Deploy]));
            }
        }
        let rules = environment.firewall_rules.clone();
        check_rules(
            c,
            &definition,
            &child(&env_ptr, "firewall_rules"),
            Some(u.vm),
            &rules,
        );
    }
}
