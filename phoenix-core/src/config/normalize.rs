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

    if let Some(Value::Array(datasets)) = root
        .get_mut("zfs")
        .and_then(|z| z.as_object_mut())
        .and_then(|z| z.get_mut("datasets"))
    {
        for (i, ds) in datasets.iter_mut().enumerate() {
            let Some(ds) = ds.as_object_mut() else {
                continue;
            };
            dataset_properties(&mut cx, ds, &format!("/zfs/datasets/{i}/properties"));
        }
    }

    if let Some(Value::Object(nfs)) = root.get_mut("nfs") {
        // 2025-09-07 only: `nfs.shares` held what `nfs.exports` holds since.
        cx.rename(nfs, "/nfs", "shares", "exports");
    }

    if let Some(Value::Array(shares)) = root
        .get_mut("samba")
        .and_then(|s| s.as_object_mut())
        .and_then(|s| s.get_mut("shares"))
    {
        for (i, share) in shares.iter_mut().enumerate() {
            let Some(share) = share.as_object_mut() else {
                continue;
            };
            samba_share(&mut cx, share, &format!("/samba/shares/{i}"));
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

/// `zfs.datasets[].properties`: the `k=v,k=v` string `zfs create -o` takes. Newer files wrote
/// an object (`{"recordsize": "128K", …}`), read in its written order; `""` means none.
fn dataset_properties(cx: &mut Ctx<'_>, ds: &mut Map<String, Value>, ptr: &str) {
    match ds.get("properties") {
        Some(Value::Object(props)) => {
            let mut parts = Vec::new();
            for (k, v) in props {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => if *b { "on" } else { "off" }.to_string(),
                    other => {
                        cx.error(
                            &child(ptr, k),
                            format!("ZFS property {k:?} has the value {other}, which is not a string or number"),
                        );
                        return;
                    }
                };
                parts.push(format!("{k}={v}"));
            }
            if parts.is_empty() {
                ds.remove("properties");
            } else {
                ds.insert("properties".into(), Value::from(parts.join(",")));
            }
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            ds.remove("properties");
        }
        Some(Value::Null) => {
            ds.remove("properties");
        }
        _ => {}
    }
}

/// A Samba share without a `name` takes the last component of its `path` (older files had
/// none), said in a note; free-form `options` written as a list or object become one string.
fn samba_share(cx: &mut Ctx<'_>, share: &mut Map<String, Value>, base: &str) {
    if !share.contains_key("name") {
        if let Some(name) = share
            .get("path")
            .and_then(Value::as_str)
            .and_then(|p| p.trim_end_matches('/').rsplit('/').next())
            .filter(|n| !n.is_empty())
            .map(str::to_string)
        {
            cx.note(
                base,
                format!(
                    "the share has no \"name\"; named {name:?} after the last component of its path"
                ),
            );
            share.insert("name".into(), Value::from(name));
        }
    }
    let joined = match share.get("options") {
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Some(Value::Object(m)) => Some(
            m.iter()
                .map(|(k, v)| {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    format!("{k} = {v}")
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => None,
    };
    if let Some(j) = joined {
        share.insert("options".into(), Value::from(j));
    }
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
        static_ip(&mut cx, ct, &base);
        flat_vllm(&mut cx, ct, &base);

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

/// Where each flat vLLM key of 2025-09 lives in `vllm_engine_config` (section, key).
const FLAT_VLLM: [(&str, &str, &str); 8] = [
    ("vllm_model", "ModelConfig", "model"),
    ("vllm_max_model_len", "ModelConfig", "max_model_len"),
    ("vllm_trust_remote_code", "ModelConfig", "trust_remote_code"),
    (
        "vllm_tensor_parallel_size",
        "ParallelConfig",
        "tensor_parallel_size",
    ),
    (
        "vllm_gpu_memory_utilization",
        "CacheConfig",
        "gpu_memory_utilization",
    ),
    ("vllm_quantization", "CacheConfig", "quantization"),
    ("vllm_port", "ServerConfig", "port"),
    (
        "vllm_served_model_name",
        "ServerConfig",
        "served_model_name",
    ),
];

/// Where each member of `vllm_parameters` (2025-09-21 .. 10-03) lives.
const VLLM_PARAMETERS: [(&str, &str); 6] = [
    ("dtype", "ModelConfig"),
    ("max_model_len", "ModelConfig"),
    ("max_num_batched_tokens", "ModelConfig"),
    ("max_num_seqs", "ModelConfig"),
    ("gpu_memory_utilization", "CacheConfig"),
    ("kv_cache_dtype", "CacheConfig"),
];

/// The flat `vllm_*` keys and `vllm_parameters` (2025-09-02 .. 10-03) become
/// `vllm_engine_config`, which replaced them on 2025-10-01. When two shapes give one setting
/// the newer wins (`vllm_engine_config` > `vllm_parameters` > flat keys), with a warning when
/// they disagree. `vllm_args` and `vllm_model_type` duplicated these and stay unknown keys.
fn flat_vllm(cx: &mut Ctx<'_>, ct: &mut Map<String, Value>, base: &str) {
    let has_flat = FLAT_VLLM.iter().any(|(k, _, _)| ct.contains_key(*k));
    if !has_flat && !ct.contains_key("vllm_parameters") {
        return;
    }
    // (section, key) -> (value, where it came from); the engine config is the newest.
    let mut settings: Vec<(String, String, Value, String)> = Vec::new();
    let engine_ptr = child(base, "vllm_engine_config");
    if let Some(Value::Object(engine)) = ct.get("vllm_engine_config") {
        for (section, body) in engine {
            if let Value::Object(body) = body {
                for (k, v) in body {
                    settings.push((
                        section.clone(),
                        k.clone(),
                        v.clone(),
                        child(&child(&engine_ptr, section), k),
                    ));
                }
            }
        }
    }
    let mut put = |cx: &mut Ctx<'_>, section: &str, key: &str, v: Value, from: String| {
        if v.is_null() {
            cx.note(&from, "null: not set".to_string());
            return;
        }
        match settings
            .iter()
            .find(|(s, k, _, _)| s == section && k == key)
        {
            Some((_, _, existing, at)) => {
                if *existing == v {
                    cx.note(&from, format!("duplicates {at}"));
                } else {
                    cx.warn(
                        &from,
                        format!("ignored: {at} (the newer shape) says {existing}, this says {v}"),
                    );
                }
            }
            None => {
                cx.note(&from, format!("read as vllm_engine_config.{section}.{key}"));
                settings.push((section.to_string(), key.to_string(), v, from));
            }
        }
    };
    if let Some(params) = ct.remove("vllm_parameters") {
        let pbase = child(base, "vllm_parameters");
        match params {
            Value::Object(params) => {
                for (k, v) in params {
                    let from = child(&pbase, &k);
                    match VLLM_PARAMETERS.iter().find(|(name, _)| *name == k) {
                        Some((_, section)) => put(cx, section, &k, v, from),
                        None => cx.warn(&from, format!("vllm_parameters.{k} is not read")),
                    }
                }
            }
            Value::Null => {}
            other => cx.error(&pbase, format!("expected an object, found {other}")),
        }
    }
    for (flat, section, key) in FLAT_VLLM {
        if let Some(v) = ct.remove(flat) {
            put(cx, section, key, v, child(base, flat));
        }
    }
    let mut engine = Map::new();
    for (section, key, v, _) in settings {
        let Value::Object(sec) = engine
            .entry(section)
            .or_insert_with(|| Value::Object(Map::new()))
        else {
            continue;
        };
        sec.insert(key, v);
    }
    if !engine.is_empty() {
        ct.insert("vllm_engine_config".into(), Value::Object(engine));
    }
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
        // The shell version's lxc-manager used mac_address; a disagreeing hwaddr (11-24
        // files) is a warning, not a refusal.
        let (v, d) = run_lxc(
            r#"{"lxc_configs": {"101": {"mac_address": "52:54:00:00:00:02", "network_config": {"hwaddr": "52:54:00:00:00:01"}}}}"#,
        );
        assert_eq!(d[0].severity, Severity::Warning);
        assert_eq!(d[0].pointer, "/lxc_configs/101/network_config/hwaddr");
        assert_eq!(v["lxc_configs"]["101"]["mac_address"], "52:54:00:00:00:02");
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
