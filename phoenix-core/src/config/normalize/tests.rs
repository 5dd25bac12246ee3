//! Tests of the rewrites of old shapes and aliases.

use super::host::arc_max_gib;
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
    let (v, d) =
        run_lxc(r#"{"lxc_configs": {"101": {"network_config": {"hwaddr": "52:54:00:00:00:01"}}}}"#);
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
    let (v, d) = run_host(r#"{"nfs": {"shares": [{"path": "/x", "clients": ["10.0.0.0/24"]}]}}"#);
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
