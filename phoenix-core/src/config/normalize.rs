//! Aliases and old shapes, rewritten into the current shape before typed deserialization.
//!
//! Runs after schema validation, on the raw value, and reports each rewrite as a note (or an
//! error when the old and the new key disagree). See history-v1-and-tests.md §3.5–3.6.

use std::path::Path;

use serde_json::{Map, Value};

use super::diag::{Diagnostic, Severity};
use super::era::Era;
use super::json::{SpanIndex, child};

struct Ctx<'a> {
    file: &'a Path,
    spans: &'a SpanIndex,
    out: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn note(&mut self, pointer: &str, message: String) {
        self.out.push(
            Diagnostic::new(Severity::Note, self.file, pointer, message)
                .at(self.spans.locate(pointer)),
        );
    }

    fn warn(&mut self, pointer: &str, message: String) {
        self.out.push(
            Diagnostic::new(Severity::Warning, self.file, pointer, message)
                .at(self.spans.locate(pointer)),
        );
    }

    fn error(&mut self, pointer: &str, message: String) {
        self.out.push(
            Diagnostic::new(Severity::Error, self.file, pointer, message)
                .at(self.spans.locate(pointer)),
        );
    }

    /// Moves `old` to `new` inside `obj`; both present and different is an error.
    fn rename(&mut self, obj: &mut Map<String, Value>, base: &str, old: &str, new: &str) {
        let Some(v) = obj.remove(old) else { return };
        let old_ptr = child(base, old);
        match obj.get(new) {
            None => {
                self.note(
                    &old_ptr,
                    format!("{old:?} is the old name of {new:?}; read as {new:?}"),
                );
                obj.insert(new.to_string(), v);
            }
            Some(existing) if *existing == v => {
                self.note(&old_ptr, format!("{old:?} duplicates {new:?}; remove it"));
            }
            Some(_) => {
                self.error(
                    &old_ptr,
                    format!("{old:?} and {new:?} are both set and disagree"),
                );
            }
        }
    }
}

/// Normalizes a host file.
pub fn host(v: &mut Value, file: &Path, spans: &SpanIndex) -> Vec<Diagnostic> {
    let mut cx = Ctx {
        file,
        spans,
        out: Vec::new(),
    };
    let Some(root) = v.as_object_mut() else {
        return cx.out;
    };

    if let Some(Value::Object(zfs)) = root.get_mut("zfs") {
        if let Some(old) = zfs.remove("arc_max") {
            let ptr = "/zfs/arc_max";
            let gb = match &old {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().trim_end_matches(['G', 'g']).parse::<u64>().ok(),
                _ => None,
            };
            match (gb, zfs.contains_key("arc_max_gb")) {
                (_, true) => cx.note(
                    ptr,
                    "\"arc_max\" is superseded by \"arc_max_gb\"; ignored".to_string(),
                ),
                (Some(gb), false) => {
                    cx.note(
                        ptr,
                        format!("\"arc_max\" is the old name of \"arc_max_gb\"; read as {gb} GiB"),
                    );
                    zfs.insert("arc_max_gb".to_string(), Value::from(gb));
                }
                (None, false) => cx.error(ptr, format!("cannot read {old} as a size in GiB")),
            }
        }
    }

    if let Some(Value::Object(ids)) = root.get_mut("proxmox_storage_ids") {
        if let Some(v) = ids.get("fastdata_iso").cloned() {
            if !ids.contains_key("fastData_shared_iso") {
                cx.note(
                    "/proxmox_storage_ids/fastdata_iso",
                    "\"fastdata_iso\" is the old name of \"fastData_shared_iso\"".to_string(),
                );
                ids.insert("fastData_shared_iso".to_string(), v);
            }
        }
    }

    let moved = match root.get_mut("shared_volumes") {
        Some(Value::Object(sv)) => sv.remove("firewall"),
        _ => None,
    };
    if let Some(fw) = moved {
        let ptr = "/shared_volumes/firewall";
        match root.get("firewall") {
            None => {
                cx.note(
                    ptr,
                    "the host firewall moved to the top-level \"firewall\" key; read from here"
                        .to_string(),
                );
                root.insert("firewall".to_string(), fw);
            }
            Some(top) if *top == fw => cx.note(
                ptr,
                "duplicates the top-level \"firewall\"; remove it".to_string(),
            ),
            Some(_) => cx.warn(
                ptr,
                "ignored: the top-level \"firewall\" takes precedence".to_string(),
            ),
        }
    }

    if root.contains_key("vms") {
        cx.warn("/vms", "VMs in the host file (before 2025-09-29) are not read; move them to phoenix_vm_configs.json".to_string());
    }
    cx.out
}

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
            if let Some(hw) = net.remove("hwaddr") {
                let ptr = child(&net_base, "hwaddr");
                match ct.get("mac_address") {
                    None => {
                        cx.note(&ptr, "read as the container's \"mac_address\"".to_string());
                        ct.insert("mac_address".to_string(), hw);
                    }
                    Some(m)
                        if m.as_str().map(str::to_ascii_lowercase)
                            == hw.as_str().map(str::to_ascii_lowercase) => {}
                    Some(_) => cx.error(
                        &ptr,
                        "\"hwaddr\" disagrees with the container's \"mac_address\"".to_string(),
                    ),
                }
            }
        }
    }
    cx.out
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{era, json};

    fn run_lxc(doc: &str) -> (Value, Vec<Diagnostic>) {
        let p = json::parse(doc).unwrap();
        let mut v = p.value.clone();
        let e = era::lxc_era(&v);
        let d = lxc(&mut v, &e, Path::new("lxc.json"), &p.spans);
        (v, d)
    }

    #[test]
    fn v1_lxc_shapes_are_rewritten() {
        let (v, d) = run_lxc(
            r#"{"lxc_configs": {"902": {"clone_from_template_ctid": "900", "features": "nesting=1,keyctl=1", "is_template": true, "volumes": []}}}"#,
        );
        let ct = &v["lxc_configs"]["902"];
        assert_eq!(ct["clone_from_ctid"], "900");
        assert_eq!(
            ct["pct_options"],
            serde_json::json!(["nesting=1", "keyctl=1"])
        );
        assert_eq!(ct["features"], serde_json::json!([]));
        assert!(ct.get("is_template").is_none());
        assert!(ct.get("zfs_volumes").is_some());
        assert!(d.iter().all(|d| d.severity == Severity::Note), "{d:?}");
        assert_eq!(d.len(), 4);
    }

    #[test]
    fn conflicting_aliases_are_errors() {
        let (_, d) = run_lxc(
            r#"{"lxc_configs": {"902": {"clone_from_template_ctid": "900", "clone_from_ctid": "901"}}}"#,
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].severity, Severity::Error);
        assert_eq!(d[0].pointer, "/lxc_configs/902/clone_from_template_ctid");
    }

    #[test]
    fn hwaddr_fills_mac_address() {
        let (v, d) = run_lxc(
            r#"{"lxc_configs": {"101": {"network_config": {"hwaddr": "52:54:00:00:00:01"}}}}"#,
        );
        assert_eq!(v["lxc_configs"]["101"]["mac_address"], "52:54:00:00:00:01");
        assert_eq!(d.len(), 1);
        let (_, d) = run_lxc(
            r#"{"lxc_configs": {"101": {"mac_address": "52:54:00:00:00:02", "network_config": {"hwaddr": "52:54:00:00:00:01"}}}}"#,
        );
        assert_eq!(d[0].severity, Severity::Error);
    }

    #[test]
    fn host_firewall_moves_to_the_top_level() {
        let doc = r#"{"shared_volumes": {"firewall": {"enabled": true}, "x": {"host_path": "/a"}}, "zfs": {"arc_max": "32G"}}"#;
        let p = json::parse(doc).unwrap();
        let mut v = p.value.clone();
        let d = host(&mut v, Path::new("h.json"), &p.spans);
        assert_eq!(v["firewall"]["enabled"], true);
        assert!(v["shared_volumes"].get("firewall").is_none());
        assert_eq!(v["zfs"]["arc_max_gb"], 32);
        assert_eq!(d.len(), 2);
    }
}
