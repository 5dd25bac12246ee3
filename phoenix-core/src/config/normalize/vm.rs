//! The VM file: renamed and retired keys, paths, and the Portainer administrator that moved
//! to the host file.

use std::path::Path;

use serde_json::Value;

use super::{Ctx, no_parent_dirs, path_at, retire};
use crate::config::diag::Diagnostic;
use crate::config::formats;
use crate::config::json::{SpanIndex, child};

/// The Portainer administrator a 2025-10-06 VM file names on a VM (`portainer_admin_user`,
/// `portainer_admin_password`), taken out of the file: it is the host's `portainer_api` since
/// 2025-10-07 ([`crate::config::load`] puts it there). Returns the VM's index, user and password.
pub fn take_vm_portainer_admin(v: &mut Value) -> Option<(usize, Option<String>, Option<String>)> {
    let Some(Value::Array(vms)) = v.get_mut("vms") else {
        return None;
    };
    let mut found = None;
    for (i, vm) in vms.iter_mut().enumerate() {
        let Some(vm) = vm.as_object_mut() else {
            continue;
        };
        let user = vm.remove("portainer_admin_user");
        let password = vm.remove("portainer_admin_password");
        if found.is_none() && (user.is_some() || password.is_some()) {
            let s = |v: Option<Value>| v.and_then(|v| v.as_str().map(str::to_string));
            found = Some((i, s(user), s(password)));
        }
    }
    found
}

/// Normalizes a VM file.
pub fn vm(v: &mut Value, file: &Path, spans: &SpanIndex) -> Vec<Diagnostic> {
    let mut cx = Ctx {
        file,
        spans,
        out: Vec::new(),
    };
    let Some(Value::Array(vms)) = v.get_mut("vms") else {
        return cx.out;
    };
    for (i, vm) in vms.iter_mut().enumerate() {
        let base = child("/vms", &i.to_string());
        let Some(vm) = vm.as_object_mut() else {
            continue;
        };
        if let Some(Value::Object(net)) = vm.get_mut("network_config") {
            let net_base = child(&base, "network_config");
            cx.rename(net, &net_base, "nameservers", "nameserver");
        }
        if let Some(Value::String(f)) = vm.get("template_image") {
            if let Err(e) = formats::file_name(f) {
                cx.error(&child(&base, "template_image"), e);
            }
        }
        no_parent_dirs(&mut cx, vm, &base, "template");
        if let Some(Value::Array(vols)) = vm.get_mut("volumes") {
            for (j, v) in vols.iter_mut().enumerate() {
                if let Some(v) = v.as_object_mut() {
                    let vb = child(&child(&base, "volumes"), &j.to_string());
                    path_at(&mut cx, v, &vb, "mount_point", formats::guest_dir);
                    path_at(&mut cx, v, &vb, "path", formats::abs_path);
                }
            }
        }
        for (key, why) in [
            (
                "docker_firewall_rules",
                "Docker's own firewall chains inside the VM (2025-11-07 .. 11-11) are not managed; the VM's firewall rules are",
            ),
            (
                "mount_points",
                "a VM has no host bind mounts (2025-10-28); mount NFS shares with volumes",
            ),
            (
                "portainer_config",
                "the Portainer server's compose file comes from the VM's docker_stacks (2025-10-03)",
            ),
            (
                "docker_compose_files",
                "compose files come from the VM's docker_stacks (2025-10-03)",
            ),
        ] {
            retire(&mut cx, vm, &base, key, why);
        }
        if let Some(Value::Object(user)) = vm.get_mut("user_config") {
            if user.remove("gw").is_some() {
                cx.note(
                    &child(&child(&base, "user_config"), "gw"),
                    "ignored (the gateway belongs in network_config.gw)".to_string(),
                );
            }
        }
    }
    cx.out
}
