//! The LXC file: renamed keys, v1 feature strings and `is_template`, `static_ip`, old
//! integration tests, paths and `hwaddr`.

use std::path::Path;

use serde_json::{Map, Value};

use super::vllm::flat_vllm;
use super::{Ctx, no_parent_dirs, path_at, retire};
use crate::config::diag::Diagnostic;
use crate::config::era::Era;
use crate::config::formats;
use crate::config::json::{SpanIndex, child};

/// Normalizes an LXC file. `era` decides how `is_template` is read.
pub fn lxc(v: &mut Value, era: &Era, file: &Path, spans: &SpanIndex) -> Vec<Diagnostic> {
    let mut cx = Ctx {
        file,
        spans,
        out: Vec::new(),
    };
    let Some(Value::Object(cts)) = v.get_mut("lxc_configs") else {
        return cx.out;
    };
    for (id, ct) in cts.iter_mut() {
        let base = child("/lxc_configs", id);
        let Some(ct) = ct.as_object_mut() else {
            continue;
        };
        cx.rename(ct, &base, "clone_from_template_ctid", "clone_from_ctid");
        cx.rename(ct, &base, "volumes", "zfs_volumes");
        static_ip(&mut cx, ct, &base);
        flat_vllm(&mut cx, ct, &base);
        old_integration_tests(&mut cx, ct, &base);
        type Check = fn(&str) -> Result<String, String>;
        let mounts: &[(&str, Check)] = &[
            ("host_path", formats::host_dir),
            ("container_path", formats::guest_dir),
        ];
        let volumes: &[(&str, Check)] = &[("mount_point", formats::guest_dir)];
        for (list, keys) in [("mount_points", mounts), ("zfs_volumes", volumes)] {
            if let Some(Value::Array(items)) = ct.get_mut(list) {
                for (i, item) in items.iter_mut().enumerate() {
                    if let Some(item) = item.as_object_mut() {
                        let ib = child(&child(&base, list), &i.to_string());
                        for (k, check) in keys {
                            path_at(&mut cx, item, &ib, k, *check);
                        }
                    }
                }
            }
        }
        no_parent_dirs(&mut cx, ct, &base, "template");
        if let Some(Value::String(f)) = ct.get("template_file") {
            if let Err(e) = formats::file_name(f) {
                cx.error(&child(&base, "template_file"), e);
            }
        }
        retire(
            &mut cx,
            ct,
            &base,
            "vllm",
            "a test list outside \"tests\" (2025-09-28 .. 10-03), which the shell version did not run either; move it to tests.vllm to run it",
        );

        if let Some(Value::String(s)) = ct.get("features").cloned() {
            let ptr = child(&base, "features");
            let opts: Vec<Value> = s
                .split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(Value::from)
                .collect();
            cx.note(
                &ptr,
                format!("v1 Proxmox feature string {s:?} read as pct_options"),
            );
            ct.insert("features".to_string(), Value::Array(Vec::new()));
            let entry = ct
                .entry("pct_options")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(existing) = entry {
                for o in opts {
                    if !existing.contains(&o) {
                        existing.push(o);
                    }
                }
            }
        }

        if era.is_legacy() && ct.get("is_template") == Some(&Value::Bool(true)) {
            let ptr = child(&base, "is_template");
            cx.note(&ptr, "v1 \"is_template\" meant a snapshot template, not a Proxmox template; not converted".to_string());
            ct.remove("is_template");
        }

        if let Some(Value::Object(net)) = ct.get_mut("network_config") {
            let net_base = child(&base, "network_config");
            cx.rename(net, &net_base, "nameserver", "nameservers");
            if let Some(hw) = net.get("hwaddr").cloned() {
                let ptr = child(&net_base, "hwaddr");
                match ct.get("mac_address") {
                    None => {
                        cx.note(&ptr, "read as the container's \"mac_address\"".to_string());
                        ct.insert("mac_address".to_string(), hw);
                    }
                    Some(m)
                        if m.as_str().map(str::to_ascii_lowercase)
                            == hw.as_str().map(str::to_ascii_lowercase) => {}
                    Some(m) => {
                        let m = m.as_str().unwrap_or_default().to_string();
                        cx.warn(
                            &ptr,
                            format!("\"hwaddr\" disagrees with the container's \"mac_address\" {m:?}; mac_address is used (as the shell version's lxc-manager did)"),
                        );
                    }
                }
            }
        }
    }
    cx.out
}

/// `integration_tests: {script}` with `run_integration_tests` (2025-09-21 .. 10-03) is the
/// suite `tests.integration_tests` has held since: one script test, when it was to be run.
fn old_integration_tests(cx: &mut Ctx<'_>, ct: &mut Map<String, Value>, base: &str) {
    let run = ct.remove("run_integration_tests");
    let Some(old) = ct.get("integration_tests").cloned() else {
        if run.is_some() {
            cx.note(
                &child(base, "run_integration_tests"),
                "ignored: there is no integration_tests script".to_string(),
            );
        }
        return;
    };
    let Some(script) = old
        .get("script")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return;
    };
    ct.remove("integration_tests");
    let ptr = child(base, "integration_tests");
    if run == Some(Value::Bool(false)) {
        cx.note(
            &ptr,
            format!("{script:?} is not run (run_integration_tests is false)"),
        );
        return;
    }
    let Value::Object(tests) = ct
        .entry("tests")
        .or_insert_with(|| Value::Object(Map::new()))
    else {
        return;
    };
    let Value::Array(suite) = tests
        .entry("integration_tests")
        .or_insert_with(|| Value::Array(Vec::new()))
    else {
        return;
    };
    let entry = serde_json::json!({"name": script, "type": "script", "path": script});
    if !suite.contains(&entry) {
        suite.push(entry);
    }
    cx.note(
        &ptr,
        format!("read as tests.integration_tests (script {script:?})"),
    );
}

/// `static_ip` (until 2025-09-01) was never read: `network_config.ip` is the address.
fn static_ip(cx: &mut Ctx<'_>, ct: &mut Map<String, Value>, base: &str) {
    let Some(v) = ct.remove("static_ip") else {
        return;
    };
    let ptr = child(base, "static_ip");
    let ip = ct
        .get("network_config")
        .and_then(|n| n.get("ip"))
        .and_then(Value::as_str);
    match (v.as_str(), ip) {
        (Some(s), Some(ip)) if s != ip => cx.warn(
            &ptr,
            format!("ignored: it says {s:?} but network_config.ip, the address used, says {ip:?}"),
        ),
        _ => cx.note(
            &ptr,
            "ignored (never read; network_config.ip is the address)".to_string(),
        ),
    }
}
