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
            let gb = arc_max_gib(&old);
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

    let default_clients = default_nfs_clients(root);
    if let Some(Value::Object(nfs)) = root.get_mut("nfs") {
        // 2025-09-07 only: `nfs.shares` held what `nfs.exports` holds since.
        cx.rename(nfs, "/nfs", "shares", "exports");
        if let Some(Value::Array(exports)) = nfs.get_mut("exports") {
            for (i, e) in exports.iter_mut().enumerate() {
                if let Some(e) = e.as_object_mut() {
                    let base = format!("/nfs/exports/{i}");
                    nfs_export(&mut cx, e, &base, &default_clients);
                    path_at(&mut cx, e, &base, "path", super::formats::host_dir);
                }
            }
        }
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
            let base = format!("/samba/shares/{i}");
            samba_share(&mut cx, share, &base);
            // Share paths are relative to `/` (`bulk/models`): checked as `/bulk/models`.
            if let Some(Value::String(p)) = share.get("path").cloned() {
                match super::formats::host_dir(&format!("/{}", p.trim_start_matches('/'))) {
                    Ok(_) => {}
                    Err(e) => cx.error(&child(&base, "path"), e),
                }
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
        cx.warn("/vms", "VMs in the host file (before 2025-09-29) are not read: they have no vmid; move them to phoenix_vm_configs.json".to_string());
    }
    if let Some(Value::Object(defaults)) = root.get_mut("vm_defaults") {
        // Before 2025-09-29 the host file held the VM defaults (`phoenix_vm_configs.json` has
        // them since); from 2025-10-16 only `ubuntu_release` is the host's.
        let moved: Vec<String> = [
            "template",
            "cores",
            "memory_mb",
            "disk_size_gb",
            "storage_pool",
            "network_bridge",
        ]
        .iter()
        .filter(|k| defaults.remove(**k).is_some())
        .map(|k| (*k).to_string())
        .collect();
        if !moved.is_empty() {
            cx.warn(
                "/vm_defaults",
                format!(
                    "not read: VM defaults in the host file ({}; before 2025-09-29) belong in phoenix_vm_configs.json",
                    moved.join(", ")
                ),
            );
        }
    }
    cx.out
}

/// The clients an export without `clients` is given: the guests' subnet
/// (`network.default_subnet`), as the shell version's NFS setup of 2025-09 served it.
fn default_nfs_clients(root: &Map<String, Value>) -> Option<String> {
    root.get("network")
        .and_then(|n| n.get("default_subnet"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// An export in the 2025-09-07 shape: `path` a dataset (`pool/name`, mounted at
/// `/pool/name`), `options` one comma-separated string, no `clients`.
fn nfs_export(
    cx: &mut Ctx<'_>,
    e: &mut Map<String, Value>,
    base: &str,
    default_clients: &Option<String>,
) {
    if let Some(Value::String(p)) = e.get("path").cloned() {
        if !p.is_empty() && !p.starts_with('/') {
            let abs = format!("/{p}");
            cx.note(
                &child(base, "path"),
                format!("dataset path {p:?} read as its mount point {abs:?}"),
            );
            e.insert("path".into(), Value::from(abs));
        }
    }
    if let Some(Value::String(o)) = e.get("options").cloned() {
        // The 2025-09-07 shape mixed in mount options (`noatime`), which exportfs refuses
        // (`unknown keyword`): they are left out, with a warning.
        let mut list = Vec::new();
        for opt in o.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            match super::formats::nfs_export_option(opt) {
                Ok(()) => list.push(Value::from(opt)),
                Err(e) => cx.warn(
                    &child(base, "options"),
                    format!("{e}; left out of the export"),
                ),
            }
        }
        e.insert("options".into(), Value::Array(list));
    }
    if !e.contains_key("clients") {
        if let Some(c) = default_clients {
            cx.note(
                base,
                format!("the export names no clients; exported to network.default_subnet {c}"),
            );
            e.insert("clients".into(), Value::Array(vec![Value::from(c.clone())]));
        }
    }
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

/// `zfs.arc_max` in GiB: `"32G"`/`"32GiB"` (and `T`, `M` suffixes), or a plain number, which
/// is a byte count (what `zfs_arc_max` takes; the 2025-09-07 file says `"32212254720"`, 30 GiB)
/// when it is at least 1 MiB, else GiB. A fraction of a GiB is rounded down.
fn arc_max_gib(v: &Value) -> Option<u64> {
    const GIB: u64 = 1 << 30;
    let plain = |n: u64| if n >= 1 << 20 { n / GIB } else { n };
    match v {
        Value::Number(n) => n.as_u64().map(plain),
        Value::String(s) => {
            let s = s.trim();
            let lower = s.to_ascii_lowercase();
            let (digits, unit) = match lower.find(|c: char| !c.is_ascii_digit()) {
                Some(i) => (
                    &s[..i],
                    lower[i..]
                        .trim()
                        .trim_end_matches("ib")
                        .trim_end_matches('b'),
                ),
                None => (s, ""),
            };
            let n: u64 = digits.parse().ok()?;
            match unit {
                "" => Some(plain(n)),
                "g" => Some(n),
                "t" => n.checked_mul(1024),
                "m" => Some(n / 1024),
                _ => None,
            }
        }
        _ => None,
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
        old_integration_tests(&mut cx, ct, &base);
        type Check = fn(&str) -> Result<String, String>;
        let mounts: &[(&str, Check)] = &[
            ("host_path", super::formats::host_dir),
            ("container_path", super::formats::guest_dir),
        ];
        let volumes: &[(&str, Check)] = &[("mount_point", super::formats::guest_dir)];
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
            if let Err(e) = super::formats::file_name(f) {
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
    if !has_flat
        && !["vllm_parameters", "vllm_args", "vllm_model_type"]
            .iter()
            .any(|k| ct.contains_key(*k))
    {
        return;
    }
    if ct
        .get("vllm_engine_config")
        .is_some_and(|e| !e.is_object() && !e.is_null())
    {
        // Not an object: the schema reports it; nothing to merge into.
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
                if *existing == v
                    || existing.to_string().trim_matches('"') == v.to_string().trim_matches('"')
                {
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
    if let Some(t) = ct.remove("vllm_model_type") {
        let from = child(base, "vllm_model_type");
        match t.as_str().map(str::to_ascii_lowercase).as_deref() {
            // vLLM serves embedding models with `--task embed`; generation is its default.
            Some("embedding" | "embed" | "embeddings") => {
                put(cx, "ModelConfig", "task", Value::from("embed"), from);
            }
            Some("chat" | "generate" | "generation" | "completion" | "instruct") => cx.note(
                &from,
                format!("{t} is vLLM's default (generation); nothing to add"),
            ),
            _ => cx.warn(&from, format!("model type {t} is not read")),
        }
    }
    if let Some(args) = ct.remove("vllm_args") {
        let abase = child(base, "vllm_args");
        match vllm_args(&args) {
            Ok(pairs) => {
                for (i, key, v) in pairs {
                    let section = section_of(&key);
                    put(cx, section, &key, v, child(&abase, &i.to_string()));
                }
            }
            Err(e) => cx.warn(&abase, format!("not read: {e}")),
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

/// Normalizes the stack catalogue: an entry without `environments` (2025-10-06) deploys its
/// compose file as the `production` environment.
pub fn stacks(v: &mut Value, file: &Path, spans: &SpanIndex) -> Vec<Diagnostic> {
    let mut cx = Ctx {
        file,
        spans,
        out: Vec::new(),
    };
    let Some(Value::Object(stacks)) = v.get_mut("docker_stacks") else {
        return cx.out;
    };
    for (name, def) in stacks.iter_mut() {
        let Some(def) = def.as_object_mut() else {
            continue;
        };
        let base = child("/docker_stacks", name);
        retire(
            &mut cx,
            def,
            &base,
            "nginx_proxy",
            "the gateway serves every host name the stacks' Traefik labels route",
        );
        if def.get("name").and_then(Value::as_str) == Some(name.as_str()) {
            def.remove("name");
        }
        if !def.contains_key("environments") {
            cx.note(
                &child("/docker_stacks", name),
                "no \"environments\": deployed as the \"production\" environment".to_string(),
            );
            let mut envs = Map::new();
            envs.insert("production".into(), Value::Object(Map::new()));
            def.insert("environments".into(), Value::Object(envs));
        }
    }
    cx.out
}

/// The engine-config section a vLLM setting belongs to.
fn section_of(key: &str) -> &'static str {
    match key {
        "tensor_parallel_size" | "pipeline_parallel_size" => "ParallelConfig",
        "gpu_memory_utilization" | "quantization" | "kv_cache_dtype" | "swap_space" => {
            "CacheConfig"
        }
        "host" | "port" | "served_model_name" | "api_key" => "ServerConfig",
        _ => "ModelConfig",
    }
}

/// `vllm_args` (2025-09-09 .. 10-03), raw `vllm serve` arguments such as
/// `["--max-model-len", "4096", "--trust-remote-code"]`, as `(index, key, value)`: a flag
/// followed by another flag (or nothing) is `true`; numbers become numbers.
fn vllm_args(args: &Value) -> Result<Vec<(usize, String, Value)>, String> {
    let Value::Array(items) = args else {
        return Err(format!("expected a list of arguments, found {args}"));
    };
    let words: Vec<&str> = items
        .iter()
        .map(|w| {
            w.as_str()
                .ok_or_else(|| format!("argument {w} is not a string"))
        })
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let Some(flag) = w.strip_prefix("--") else {
            return Err(format!("{w:?} is not an option (--name)"));
        };
        let (flag, inline) = match flag.split_once('=') {
            Some((f, v)) => (f, Some(v)),
            None => (flag, None),
        };
        let key = flag.replace('-', "_");
        let value = match inline {
            Some(v) => arg_value(v),
            None => match words.get(i + 1).filter(|n| !n.starts_with("--")) {
                Some(v) => {
                    i += 1;
                    arg_value(v)
                }
                None => Value::Bool(true),
            },
        };
        out.push((i, key, value));
        i += 1;
    }
    Ok(out)
}

fn arg_value(v: &str) -> Value {
    if let Ok(n) = v.parse::<i64>() {
        return Value::from(n);
    }
    if let Some(n) = v.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
        return Value::Number(n);
    }
    Value::from(v)
}

/// Puts the canonical form of the path at `obj[key]` (see [`super::formats::abs_path`]), or
/// reports why the path is refused (`check` decides: a host directory, a guest directory, any
/// absolute path). Paths are normalised once, here; everything later trusts them.
fn path_at(
    cx: &mut Ctx<'_>,
    obj: &mut Map<String, Value>,
    base: &str,
    key: &str,
    check: fn(&str) -> Result<String, String>,
) {
    let Some(Value::String(p)) = obj.get(key) else {
        return;
    };
    let ptr = child(base, key);
    match check(p) {
        Ok(canon) if canon == *p || canon == p.trim_end_matches('/') => {
            obj.insert(key.to_string(), Value::from(canon));
        }
        Ok(canon) => {
            cx.note(&ptr, format!("read as {canon}"));
            obj.insert(key.to_string(), Value::from(canon));
        }
        Err(e) => cx.error(&ptr, e),
    }
}

/// A file name or path the product hands to a tool (`template`, `template_image`): no `..`
/// component, so it cannot reach outside the directory it is looked up in.
fn no_parent_dirs(cx: &mut Ctx<'_>, obj: &Map<String, Value>, base: &str, key: &str) {
    if let Some(Value::String(p)) = obj.get(key) {
        let rest = p.split_once(':').map_or(p.as_str(), |(_, r)| r);
        if rest.split('/').any(|c| c == "..") {
            cx.error(
                &child(base, key),
                format!("{p:?} has a \"..\" component; name the file itself"),
            );
        }
    }
}

/// Removes `key` from `obj` with a warning saying why it is not read: keys the shell version
/// had for a while that this version does not act on (they would otherwise be "unknown").
fn retire(cx: &mut Ctx<'_>, obj: &mut Map<String, Value>, base: &str, key: &str, why: &str) {
    if obj.remove(key).is_some() {
        cx.warn(&child(base, key), format!("not read: {why}"));
    }
}

/// The Portainer administrator a 2025-10-06 VM file names on a VM (`portainer_admin_user`,
/// `portainer_admin_password`), taken out of the file: it is the host's `portainer_api` since
/// 2025-10-07 ([`super::load`] puts it there). Returns the VM's index, user and password.
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
            if let Err(e) = super::formats::file_name(f) {
                cx.error(&child(&base, "template_image"), e);
            }
        }
        no_parent_dirs(&mut cx, vm, &base, "template");
        if let Some(Value::Array(vols)) = vm.get_mut("volumes") {
            for (j, v) in vols.iter_mut().enumerate() {
                if let Some(v) = v.as_object_mut() {
                    let vb = child(&child(&base, "volumes"), &j.to_string());
                    path_at(&mut cx, v, &vb, "mount_point", super::formats::guest_dir);
                    path_at(&mut cx, v, &vb, "path", super::formats::abs_path);
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

    #[test]
    fn arc_max_is_read_in_gib_or_as_a_byte_count() {
        for (v, want) in [
            (serde_json::json!("32G"), Some(32)),
            (serde_json::json!("32GiB"), Some(32)),
            (serde_json::json!("32212254720"), Some(30)),
            (serde_json::json!(34359738368_u64), Some(32)),
            (serde_json::json!(64), Some(64)),
            (serde_json::json!("1T"), Some(1024)),
            (serde_json::json!("2048M"), Some(2)),
            (serde_json::json!("lots"), None),
        ] {
            assert_eq!(arc_max_gib(&v), want, "{v}");
        }
    }

    fn run_host(doc: &str) -> (Value, Vec<Diagnostic>) {
        let p = json::parse(doc).unwrap();
        let mut v = p.value.clone();
        let d = host(&mut v, Path::new("h.json"), &p.spans);
        (v, d)
    }

    #[test]
    fn dataset_properties_objects_and_empty_strings_become_the_zfs_string() {
        let (v, d) = run_host(
            r#"{"zfs": {"datasets": [
                {"name": "a", "pool": "p", "properties": {"recordsize": "128K", "compression": "lz4", "atime": false, "copies": 2}},
                {"name": "portainer_stacks", "pool": "p", "properties": ""},
                {"name": "c", "pool": "p", "properties": "compression=zstd"},
                {"name": "d", "pool": "p", "properties": {}}
            ]}}"#,
        );
        let ds = &v["zfs"]["datasets"];
        assert_eq!(
            ds[0]["properties"], "recordsize=128K,compression=lz4,atime=off,copies=2",
            "written order kept"
        );
        assert!(ds[1].get("properties").is_none(), "\"\" means none");
        assert_eq!(ds[2]["properties"], "compression=zstd");
        assert!(ds[3].get("properties").is_none());
        assert!(d.is_empty(), "{d:?}");
        let (_, d) = run_host(
            r#"{"zfs": {"datasets": [{"name": "a", "pool": "p", "properties": {"x": [1]}}]}}"#,
        );
        assert_eq!(d[0].severity, Severity::Error);
        assert_eq!(d[0].pointer, "/zfs/datasets/0/properties/x");
    }

    #[test]
    fn nameless_samba_shares_take_their_path_s_last_component() {
        let (v, d) = run_host(
            r#"{"samba": {"shares": [
                {"path": "/quickOS/shared-prod-data/", "options": {"browseable": "yes", "read only": "no"}},
                {"name": "keep", "path": "/a/b", "options": ["guest ok = no"]}
            ]}}"#,
        );
        let sh = &v["samba"]["shares"];
        assert_eq!(sh[0]["name"], "shared-prod-data");
        assert_eq!(sh[0]["options"], "browseable = yes, read only = no");
        assert_eq!(sh[1]["name"], "keep");
        assert_eq!(sh[1]["options"], "guest ok = no");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].severity, Severity::Note);
        assert_eq!(d[0].pointer, "/samba/shares/0");
        assert!(
            d[0].message.contains("\"shared-prod-data\""),
            "{}",
            d[0].message
        );
    }

    #[test]
    fn nfs_shares_are_the_old_name_of_exports() {
        let (v, d) =
            run_host(r#"{"nfs": {"shares": [{"path": "/x", "clients": ["10.0.0.0/24"]}]}}"#);
        assert_eq!(v["nfs"]["exports"][0]["path"], "/x");
        assert!(v["nfs"].get("shares").is_none());
        assert_eq!(d[0].pointer, "/nfs/shares");
    }

    /// The 2025-09-07 shape: dataset paths, one option string with a mount option in it,
    /// no clients.
    #[test]
    fn nfs_shares_of_2025_09_07_become_exports_to_the_guest_subnet() {
        let (v, d) = run_host(
            r#"{"network": {"default_subnet": "10.0.0.0/24"},
                "nfs": {"shares": [{"path": "quickOS/shared-prod-data", "options": "rw,async,no_subtree_check,noatime"}]}}"#,
        );
        let e = &v["nfs"]["exports"][0];
        assert_eq!(e["path"], "/quickOS/shared-prod-data");
        assert_eq!(e["clients"], serde_json::json!(["10.0.0.0/24"]));
        assert_eq!(
            e["options"],
            serde_json::json!(["rw", "async", "no_subtree_check"])
        );
        let warned: Vec<&str> = d
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .map(|d| d.message.as_str())
            .collect();
        assert_eq!(
            warned,
            ["\"noatime\" is not an NFS export option (exports(5)); left out of the export"]
        );
    }

    #[test]
    fn flat_vllm_keys_become_the_engine_config_newest_shape_first() {
        let (v, d) = run_lxc(
            r#"{"lxc_configs": {"950": {
                "vllm_model": "Qwen/Qwen2.5-7B", "vllm_tensor_parallel_size": 2,
                "vllm_max_model_len": 4096, "vllm_port": 8000, "vllm_served_model_name": "qwen",
                "vllm_gpu_memory_utilization": 0.9, "vllm_quantization": "awq",
                "vllm_trust_remote_code": true,
                "vllm_parameters": {"max_model_len": 8192, "dtype": "auto", "kv_cache_dtype": "fp8", "unknown": 1}
            }, "951": {"vllm_model": null, "vllm_port": 8001,
                "vllm_engine_config": {"ServerConfig": {"port": 9000, "host": "0.0.0.0"}}}}}"#,
        );
        let e = &v["lxc_configs"]["950"]["vllm_engine_config"];
        assert_eq!(e["ModelConfig"]["model"], "Qwen/Qwen2.5-7B");
        assert_eq!(
            e["ModelConfig"]["max_model_len"], 8192,
            "vllm_parameters is newer than the flat key"
        );
        assert_eq!(e["ModelConfig"]["dtype"], "auto");
        assert_eq!(e["ModelConfig"]["trust_remote_code"], true);
        assert_eq!(e["ParallelConfig"]["tensor_parallel_size"], 2);
        assert_eq!(e["CacheConfig"]["gpu_memory_utilization"], 0.9);
        assert_eq!(e["CacheConfig"]["quantization"], "awq");
        assert_eq!(e["CacheConfig"]["kv_cache_dtype"], "fp8");
        assert_eq!(e["ServerConfig"]["port"], 8000);
        assert_eq!(e["ServerConfig"]["served_model_name"], "qwen");
        let ct = v["lxc_configs"]["950"].as_object().unwrap();
        assert!(ct.keys().all(|k| k == "vllm_engine_config"), "{ct:?}");
        let other = &v["lxc_configs"]["951"]["vllm_engine_config"];
        assert_eq!(
            other["ServerConfig"]["port"], 9000,
            "the engine config wins"
        );
        assert!(other.get("ModelConfig").is_none(), "null is not set");
        let warned: Vec<&str> = d
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .map(|d| d.pointer.as_str())
            .collect();
        assert_eq!(
            warned,
            [
                "/lxc_configs/950/vllm_parameters/unknown",
                "/lxc_configs/950/vllm_max_model_len",
                "/lxc_configs/951/vllm_port"
            ]
        );
        assert!(d.iter().all(|d| d.severity != Severity::Error), "{d:?}");
    }

    #[test]
    fn static_ip_is_ignored_with_a_warning_when_it_disagrees() {
        let (v, d) = run_lxc(
            r#"{"lxc_configs": {
                "900": {"static_ip": "10.0.0.200/24", "network_config": {"ip": "10.0.0.200/24"}},
                "901": {"static_ip": "10.0.0.9/24", "network_config": {"ip": "10.0.0.201/24"}}}}"#,
        );
        assert!(v["lxc_configs"]["900"].get("static_ip").is_none());
        assert_eq!(d[0].severity, Severity::Note);
        assert_eq!(d[1].severity, Severity::Warning);
        assert_eq!(d[1].pointer, "/lxc_configs/901/static_ip");
    }
}
