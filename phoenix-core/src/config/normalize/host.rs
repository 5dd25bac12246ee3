//! The host file: `zfs.arc_max` and dataset properties, NFS exports and Samba shares of
//! older shapes, old storage IDs, the host firewall's old place, and VM settings that moved
//! to the VM file.

use std::path::Path;

use serde_json::{Map, Value};

use super::{Ctx, path_at};
use crate::config::diag::Diagnostic;
use crate::config::formats;
use crate::config::json::{SpanIndex, child};

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
                    path_at(&mut cx, e, &base, "path", formats::host_dir);
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
                match formats::host_dir(&format!("/{}", p.trim_start_matches('/'))) {
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
            match formats::nfs_export_option(opt) {
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
pub(super) fn arc_max_gib(v: &Value) -> Option<u64> {
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
