//! Per-guest checks: names, NICs, mounts, storages, scripts, stacks, boot order.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use super::net::{check_firewall, check_nic, check_rules};
use super::{Checker, lxc_ptr, storage_warning, vm_ptr};
use crate::config::formats;
use crate::config::json::child;
use crate::config::lxc::Container;
use crate::ids::{GuestId, GuestKind};

pub(super) fn check_lxc(c: &mut Checker<'_>) {
    let file = c.inp.files.lxc.clone();
    let storages = c.inp.host.storage_ids();
    let has_template_source = c
        .inp
        .lxc
        .lxc_configs
        .values()
        .any(|ct| ct.is_template() || ct.template_snapshot_name.is_some());
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
        c.note(
            &file,
            "",
            format!(
                "application scripts were not checked: none of {} exists (not installed here)",
                dirs.join(", ")
            ),
        );
    }
    for (key, ct) in &c.inp.lxc.lxc_configs {
        let Ok(id) = key.parse::<GuestId>() else {
            continue;
        };
        let base = lxc_ptr(key);
        let at = |k: &str| child(&base, k);

        if let Err(e) = formats::dns_name(&ct.name) {
            c.err(&file, &at("name"), format!("container {id}: {e}"))
                .guest = Some(id);
        }
        if let Some(net) = &ct.network_config {
            check_nic(
                c,
                &file,
                &at("network_config"),
                id,
                net.ip.as_deref(),
                net.gw.as_deref(),
                net.nameservers.items(),
            );
        }
        if let Some(net) = &ct.secondary_network_config {
            check_nic(
                c,
                &file,
                &at("secondary_network_config"),
                id,
                net.ip.as_deref(),
                net.gw.as_deref(),
                net.nameservers.items(),
            );
        }
        if let Some(mac) = &ct.mac_address {
            if let Err(e) = formats::mac(mac) {
                c.err(&file, &at("mac_address"), e).guest = Some(id);
            }
        }
        if let Some(g) = &ct.gpu_assignment {
            if let Err(e) = formats::gpu_assignment(g) {
                c.err(&file, &at("gpu_assignment"), e).guest = Some(id);
            }
        }
        for (i, p) in ct.ports.iter().enumerate() {
            if let Err(e) = formats::port_mapping(p) {
                c.err(&file, &child(&at("ports"), &i.to_string()), e).guest = Some(id);
            }
        }
        if let Some(fw) = &ct.firewall {
            check_firewall(c, &file, &at("firewall"), Some(id), fw);
        }
        check_mounts(c, &file, &base, id, ct);
        for (i, m) in ct.id_maps.iter().enumerate() {
            if u64::from(m.container_id) + u64::from(m.size) > 65536
                && ct.unprivileged != Some(false)
            {
                c.warn(&file, &child(&at("id_maps"), &i.to_string()), format!("container {id}: id map ends above 65535, beyond the default unprivileged range")).guest = Some(id);
            }
        }
        if let Some(pool) = &ct.storage_pool {
            if !storages.contains(pool) {
                storage_warning(c, &file, &at("storage_pool"), id, pool);
            }
        }
        for (i, v) in ct.zfs_volumes.iter().enumerate() {
            if !storages.contains(&v.pool) {
                storage_warning(
                    c,
                    &file,
                    &child(&child(&at("zfs_volumes"), &i.to_string()), "pool"),
                    id,
                    &v.pool,
                );
            }
        }
        let creates = ct.clone_from_ctid.is_none();
        if creates && ct.template.is_none() && ct.template_file.is_none() {
            if has_template_source {
                c.note(&file, &base, format!("container {id} names no clone source or OS template; a template will be chosen by its features")).guest = Some(id);
            } else {
                let d = c.err(&file, &base, format!("container {id} has nothing to be created from: no clone_from_ctid, no template, and no template container to choose"));
                d.hint = Some("add \"clone_from_ctid\" or \"template\"".to_string());
                d.guest = Some(id);
            }
        }
        if ct.is_template() && ct.template_snapshot_name.is_some() {
            c.note(&file, &at("template_snapshot_name"), format!("container {id} becomes a Proxmox template, which cannot take snapshots; clones of it are linked clones and need no snapshot")).guest = Some(id);
        }
        if let Some(script) = ct.application_script.as_ref().filter(|_| app_dirs_exist) {
            let found = c
                .inp
                .app_script_dirs
                .iter()
                .any(|d| d.join(script).is_file());
            if !found {
                let dirs: Vec<String> = c
                    .inp
                    .app_script_dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect();
                let d = c.warn(
                    &file,
                    &at("application_script"),
                    format!(
                        "application script {script:?} of container {id} not found in {}",
                        dirs.join(", ")
                    ),
                );
                d.hint = Some(format!(
                    "converging {id} will fail at its application-script step until the script exists"
                ));
                d.guest = Some(id);
            }
        }
        check_features(c, &file, &at("features"), id, GuestKind::Lxc, &ct.features);
        if ct.start_at_boot == Some(true) {
            check_boot_order(
                c,
                &file,
                &base,
                id,
                ct.boot_order,
                &ct.dependencies.iter().map(|d| d.0).collect::<Vec<_>>(),
            );
        }
    }
}

pub(super) fn check_features(
    c: &mut Checker<'_>,
    file: &Path,
    ptr: &str,
    id: GuestId,
    kind: GuestKind,
    features: &[String],
) {
    let mut seen = BTreeSet::new();
    for (i, f) in features.iter().enumerate() {
        let p = child(ptr, &i.to_string());
        if !seen.insert(f.as_str()) {
            c.warn(
                file,
                &p,
                format!("feature {f:?} is listed twice for guest {id}"),
            )
            .guest = Some(id);
        }
        if let Some(dir) = &c.inp.setup_scripts_dir {
            let kind_dir = dir.join(kind.as_str());
            let script = kind_dir.join(format!("{f}.sh"));
            if installers_present(&kind_dir) && !script.is_file() {
                let d = c.warn(
                    file,
                    &p,
                    format!(
                        "no installer for feature {f:?} of guest {id} ({} is missing)",
                        script.display()
                    ),
                );
                d.guest = Some(id);
            }
        }
    }
}

/// Whether installers are installed in `dir` (any `*.sh`); features are checked only then.
pub(super) fn installers_present(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.filter_map(Result::ok)
            .any(|e| e.path().extension().is_some_and(|x| x == "sh"))
    })
}

/// A guest that starts at host boot should not depend on one that starts later, or never.
pub(super) fn check_boot_order(
    c: &mut Checker<'_>,
    file: &Path,
    base: &str,
    id: GuestId,
    order: Option<u32>,
    deps: &[GuestId],
) {
    let mine = order.unwrap_or(crate::graph::DEFAULT_BOOT_ORDER);
    for d in deps {
        match boot_of(c, *d) {
            Some((false, _)) => {
                let w = c.warn(
                    file,
                    &child(base, "dependencies"),
                    format!("guest {id} starts at host boot but depends on {d}, which does not"),
                );
                w.hint = Some(format!("set \"start_at_boot\": true on {d}"));
                w.guest = Some(id);
            }
            Some((true, theirs)) if theirs > mine => {
                let w = c.warn(file, &child(base, "boot_order"), format!("guest {id} (boot order {mine}) depends on {d} (boot order {theirs}), which starts later at host boot"));
                w.hint = Some(format!("give {id} a boot_order above {theirs}"));
                w.guest = Some(id);
            }
            _ => {}
        }
    }
}

/// `(start_at_boot, boot_order)` of a non-template guest.
pub(super) fn boot_of(c: &Checker<'_>, id: GuestId) -> Option<(bool, u32)> {
    let default = crate::graph::DEFAULT_BOOT_ORDER;
    if let Some(ct) = c.inp.lxc.lxc_configs.get(&id.to_string()) {
        return (!ct.is_template()).then(|| {
            (
                ct.start_at_boot == Some(true),
                ct.boot_order.unwrap_or(default),
            )
        });
    }
    c.inp
        .vm
        .vms
        .iter()
        .find(|v| v.vmid.map(|r| r.0) == Some(id))
        .and_then(|v| {
            (!v.is_template()).then(|| {
                (
                    v.start_at_boot == Some(true),
                    v.boot_order.unwrap_or(default),
                )
            })
        })
}

pub(super) fn check_mounts(
    c: &mut Checker<'_>,
    file: &Path,
    base: &str,
    id: GuestId,
    ct: &Container,
) {
    let mut by_path: HashMap<String, String> = HashMap::new();
    let mut check = |c: &mut Checker<'_>, ptr: String, path: &str| {
        let key = path.trim_end_matches('/').to_string();
        if let Some(prev) = by_path.get(&key) {
            let d = c.err(
                file,
                &ptr,
                format!("container {id} mounts two volumes at {path:?} (also {prev})"),
            );
            d.guest = Some(id);
        } else {
            by_path.insert(key, ptr);
        }
    };
    for (i, m) in ct.mount_points.iter().enumerate() {
        let ptr = child(
            &child(&child(base, "mount_points"), &i.to_string()),
            "container_path",
        );
        check(c, ptr, &m.container_path);
    }
    for (i, v) in ct.zfs_volumes.iter().enumerate() {
        let ptr = child(
            &child(&child(base, "zfs_volumes"), &i.to_string()),
            "mount_point",
        );
        check(c, ptr, &v.mount_point);
    }
}

pub(super) fn check_vms(c: &mut Checker<'_>) {
    let file = c.inp.files.vm.clone();
    let storages = c.inp.host.storage_ids();
    if let Some(pool) = &c.inp.vm.vm_defaults.storage_pool {
        if !storages.contains(pool) {
            let host = c.inp.files.host.clone();
            c.warn(
                &file,
                "/vm_defaults/storage_pool",
                format!("storage {pool:?} is not defined by the host config"),
            )
            .hint = Some(format!("define it in {}", host.display()));
        }
    }
    for (i, vm) in c.inp.vm.vms.iter().enumerate() {
        let base = vm_ptr(i);
        let at = |k: &str| child(&base, k);
        let Some(id) = vm.vmid.map(|r| r.0) else {
            continue;
        };
        if let Err(e) = formats::dns_name(&vm.name) {
            c.err(&file, &at("name"), format!("VM {id}: {e}")).guest = Some(id);
        }
        if let Some(net) = &vm.network_config {
            check_nic(
                c,
                &file,
                &at("network_config"),
                id,
                net.ip.as_deref(),
                net.gw.as_deref(),
                net.nameserver.items(),
            );
        }
        if let Some(mac) = &vm.mac_address {
            if let Err(e) = formats::mac(mac) {
                c.err(&file, &at("mac_address"), e).guest = Some(id);
            }
        }
        if let Some(fw) = &vm.firewall {
            check_firewall(c, &file, &at("firewall"), Some(id), fw);
        }
        if vm.is_template() && vm.clone_from_vmid.is_none() && vm.template_image.is_none() {
            let d = c.err(
                &file,
                &base,
                format!(
                    "VM template {id} needs \"template_image\" (the cloud image it is built from)"
                ),
            );
            d.guest = Some(id);
        }
        if !vm.is_template() && vm.clone_from_vmid.is_none() {
            let d = c.err(&file, &base, format!("VM {id} has nothing to be created from: set \"clone_from_vmid\" (or make it a template with \"template_image\")"));
            d.guest = Some(id);
        }
        if let Some(pool) = &vm.storage_pool {
            if !storages.contains(pool) {
                storage_warning(c, &file, &at("storage_pool"), id, pool);
            }
        }
        let mut mounts = BTreeSet::new();
        for (j, v) in vm.volumes.iter().enumerate() {
            let vp = child(&at("volumes"), &j.to_string());
            if !mounts.insert(v.mount_point.trim_end_matches('/').to_string()) {
                c.err(
                    &file,
                    &child(&vp, "mount_point"),
                    format!("VM {id} mounts two volumes at {:?}", v.mount_point),
                )
                .guest = Some(id);
            }
            if let Some(s) = &v.server {
                if s.parse::<std::net::IpAddr>().is_err() && formats::dns_name(s).is_err() {
                    c.err(
                        &file,
                        &child(&vp, "server"),
                        format!("VM {id}: NFS server {s:?} is not an address or host name"),
                    )
                    .guest = Some(id);
                }
            }
        }
        for (j, s) in vm.docker_stacks.iter().enumerate() {
            check_stack_ref(
                c,
                &file,
                &child(&at("docker_stacks"), &j.to_string()),
                id,
                s.name(),
                s.environment(),
            );
        }
        if !vm.docker_stacks.is_empty() && vm.portainer_role.as_deref().is_none_or(|r| r == "none")
        {
            c.warn(&file, &at("docker_stacks"), format!("VM {id} has docker_stacks but no Portainer role (agent or primary); they cannot be deployed")).guest = Some(id);
        }
        check_features(
            c,
            &file,
            &at("features"),
            id,
            GuestKind::Vm,
            vm.features.items(),
        );
        if vm.start_at_boot == Some(true) {
            check_boot_order(
                c,
                &file,
                &base,
                id,
                vm.boot_order,
                &vm.dependencies.iter().map(|d| d.0).collect::<Vec<_>>(),
            );
        }
    }
}

pub(super) fn check_stack_ref(
    c: &mut Checker<'_>,
    file: &Path,
    ptr: &str,
    id: GuestId,
    name: &str,
    env: &str,
) {
    let dir = c.inp.files.stacks_dir.join(name);
    let Some(stack) = c.inp.stacks.get(name) else {
        let d = c.err(
            file,
            ptr,
            format!(
                "VM {id} deploys stack {name:?}, but {} has no docker-compose.yml and phoenix.json",
                dir.display()
            ),
        );
        d.hint = Some(format!(
            "create {}/docker-compose.yml and {}/phoenix.json",
            dir.display(),
            dir.display()
        ));
        d.guest = Some(id);
        return;
    };
    let Some(environment) = stack.manifest.environments.get(env) else {
        let known: Vec<&str> = stack
            .manifest
            .environments
            .keys()
            .map(String::as_str)
            .collect();
        let d = c.err(
            file,
            ptr,
            format!(
                "stack {name:?} has no environment {env:?} (it has: {})",
                known.join(", ")
            ),
        );
        d.guest = Some(id);
        return;
    };
    let manifest_file = stack.dir.join(phoenix_paths::config_files::STACK_MANIFEST);
    let env_ptr = child("/environments", env);
    for (i, f) in environment.files.iter().enumerate() {
        if !stack.dir.join(&f.source).is_file() {
            let p = child(&child(&child(&env_ptr, "files"), &i.to_string()), "source");
            let d = c.err(
                &manifest_file,
                &p,
                format!(
                    "file {:?} of stack {name:?} does not exist in {}",
                    f.source,
                    stack.dir.display()
                ),
            );
            d.guest = Some(id);
        }
    }
    let rules = environment.firewall_rules.clone();
    check_rules(
        c,
        &manifest_file,
        &child(&env_ptr, "firewall_rules"),
        Some(id),
        &rules,
    );
}
