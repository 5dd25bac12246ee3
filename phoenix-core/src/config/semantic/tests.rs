//! Semantic checks, run through `config::load` on files in a temporary directory (so findings
//! carry file, pointer and position) or, where the schema would stop the load first, directly.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Value, json};

use super::{Inputs, check};
use crate::config::{
    Config, ConfigLocation, Diagnostic, LoadOptions, Loaded, Report, Severity, load,
};
use crate::ids::GuestId;
use crate::paths::Layout;

/// A container block the schema accepts, with `extra` keys set on top.
fn ct(name: &str, extra: Value) -> Value {
    let mut v = json!({"name": name, "memory_mb": 1024, "cores": 1, "storage_pool": "local-zfs", "storage_size_gb": 8, "network_config": {"name": "eth0", "bridge": "vmbr0", "ip": "dhcp"}});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// Loads a host file naming `zfs`-less defaults and the given LXC file.
fn load_lxc(dir: &Path, lxc_configs: Value) -> Loaded {
    let host = json!({"core_paths": {"lxc_config_file": "phoenix_lxc_configs.json"}});
    std::fs::write(dir.join("phoenix_hypervisor_config.json"), host.to_string()).unwrap();
    // Pretty-printed, so every pointer has its own line.
    std::fs::write(
        dir.join("phoenix_lxc_configs.json"),
        serde_json::to_string_pretty(&json!({ "lxc_configs": lxc_configs })).unwrap(),
    )
    .unwrap();
    let loc = ConfigLocation::resolve(Some(dir), None, &Layout::new("/nonexistent", "/"));
    load(&loc, &LoadOptions::default())
}

fn errors(r: &Report) -> Vec<&Diagnostic> {
    r.of(Severity::Error).collect()
}

/// The one error at `pointer`, checked to be about `guest` in the LXC file with a position.
fn error_at<'a>(r: &'a Report, pointer: &str, guest: u32) -> &'a Diagnostic {
    let found: Vec<&Diagnostic> = r
        .of(Severity::Error)
        .filter(|d| d.pointer == pointer)
        .collect();
    assert_eq!(found.len(), 1, "one error at {pointer}: {:#?}", r.all());
    let d = found[0];
    assert!(
        d.file.ends_with("phoenix_lxc_configs.json"),
        "{}",
        d.file.display()
    );
    assert!(d.line.is_some() && d.column.is_some(), "{d}");
    assert_eq!(d.guest, Some(GuestId(guest)));
    d
}

fn gid33() -> Value {
    json!([{"type": "gid", "container_id": 33, "host_id": 33, "size": 1}])
}

#[test]
fn id_maps_on_a_privileged_container_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = load_lxc(
        dir.path(),
        json!({
            "900": ct("base", json!({"template": "local:vztmpl/u.tar.zst", "unprivileged": false, "template_snapshot_name": "final-form"})),
            "101": ct("own", json!({"template": "local:vztmpl/u.tar.zst", "unprivileged": false, "id_maps": gid33()})),
            "102": ct("inherited", json!({"clone_from_ctid": "900", "id_maps": gid33()})),
            "103": ct("default", json!({"template": "local:vztmpl/u.tar.zst", "id_maps": gid33()})),
            "910": ct("unpriv", json!({"template": "local:vztmpl/u.tar.zst", "unprivileged": true, "template_snapshot_name": "final-form"})),
            "911": ct("mid", json!({"clone_from_ctid": "910", "template_snapshot_name": "final-form"})),
            "104": ct("fine", json!({"clone_from_ctid": "911", "id_maps": gid33()})),
        }),
    );
    assert!(loaded.config.is_none(), "errors stop the load");
    let r = &loaded.report;
    assert_eq!(errors(r).len(), 3, "{:#?}", r.all());
    assert_eq!(
        error_at(r, "/lxc_configs/101/id_maps", 101).message,
        "container 101 is privileged; ID maps apply to unprivileged containers only"
    );
    let d = error_at(r, "/lxc_configs/102/id_maps", 102);
    assert_eq!(
        d.message,
        "container 102 is privileged (a clone keeps its source's level, and 900 is privileged); ID maps apply to unprivileged containers only"
    );
    assert_eq!(
        d.hint.as_deref(),
        Some("set \"unprivileged\": true, or remove \"id_maps\"")
    );
    assert_eq!(
        error_at(r, "/lxc_configs/103/id_maps", 103).message,
        "container 103 is privileged (\"unprivileged\" is not set, and pct create makes privileged containers); ID maps apply to unprivileged containers only"
    );
}

#[test]
fn an_id_map_beyond_container_id_65535_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = load_lxc(
        dir.path(),
        json!({
            "101": ct("web", json!({"template": "local:vztmpl/u.tar.zst", "unprivileged": true, "id_maps": [
                {"type": "uid", "container_id": 65535, "host_id": 5000, "size": 1},
                {"type": "g", "container_id": 65000, "host_id": 7000, "size": 1000},
                {"type": "uid", "container_id": 4294967295u32, "host_id": 0, "size": 4294967295u32},
            ]})),
        }),
    );
    let r = &loaded.report;
    assert_eq!(errors(r).len(), 2, "65535 itself is mapped: {:#?}", r.all());
    assert!(
        r.of(Severity::Warning)
            .all(|d| !d.pointer.contains("id_maps")),
        "the old warning is gone: {:#?}",
        r.all()
    );
    let d = error_at(r, "/lxc_configs/101/id_maps/1", 101);
    assert_eq!(
        d.message,
        "container 101: id map reaches beyond container ID 65535 (container IDs 65000-65999); lxc-manager maps container IDs 0-65535 only, the 65536 IDs Proxmox gives an unprivileged container (root:100000:65536 in /etc/subuid and /etc/subgid)"
    );
    assert_eq!(
        d.hint.as_deref(),
        Some("keep container_id + size at most 65536")
    );
    assert!(
        error_at(r, "/lxc_configs/101/id_maps/2", 101)
            .message
            .contains("(container IDs 4294967295-8589934589)"),
        "no overflow"
    );
}

#[test]
fn overlapping_id_maps_of_one_kind_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = load_lxc(
        dir.path(),
        json!({
            "101": ct("web", json!({"template": "local:vztmpl/u.tar.zst", "unprivileged": true, "id_maps": [
                {"type": "gid", "container_id": 33, "host_id": 33, "size": 1},
                {"type": "uid", "container_id": 30, "host_id": 5000, "size": 10},
                {"type": "gid", "container_id": 30, "host_id": 5000, "size": 10},
                {"type": "u", "container_id": 1000, "host_id": 1000, "size": 1},
                {"type": "uid", "container_id": 40, "host_id": 6000, "size": 10},
                {"type": "uid", "container_id": 1000, "host_id": 9000, "size": 5},
            ]})),
            "102": ct("big", json!({"template": "local:vztmpl/u.tar.zst", "unprivileged": true, "id_maps": [
                {"type": "uid", "container_id": 0, "host_id": 9000, "size": 2000},
                {"type": "uid", "container_id": 30, "host_id": 5000, "size": 10},
                {"type": "uid", "container_id": 100, "host_id": 6000, "size": 1},
            ]})),
        }),
    );
    let r = &loaded.report;
    assert_eq!(errors(r).len(), 4, "{:#?}", r.all());
    // Uids and gids are separate; entries that touch (30-39, 40-49) do not overlap.
    assert_eq!(
        error_at(r, "/lxc_configs/101/id_maps/0", 101).message,
        "container 101: two gid entries overlap: id_maps/0 maps container IDs 33-33, id_maps/2 maps 30-39"
    );
    // `u` and `uid` are one kind.
    assert_eq!(
        error_at(r, "/lxc_configs/101/id_maps/5", 101).message,
        "container 101: two uid entries overlap: id_maps/5 maps container IDs 1000-1004, id_maps/3 maps 1000-1000"
    );
    // Each entry starting inside an earlier one is reported once, naming the one reaching
    // furthest.
    assert_eq!(
        error_at(r, "/lxc_configs/102/id_maps/1", 102).message,
        "container 102: two uid entries overlap: id_maps/1 maps container IDs 30-39, id_maps/0 maps 0-1999"
    );
    assert_eq!(
        error_at(r, "/lxc_configs/102/id_maps/2", 102).message,
        "container 102: two uid entries overlap: id_maps/2 maps container IDs 100-100, id_maps/0 maps 0-1999"
    );
}

#[test]
fn id_maps_that_fit_load_without_findings_about_them() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = load_lxc(
        dir.path(),
        json!({
            "101": ct("web", json!({"template": "local:vztmpl/u.tar.zst", "unprivileged": true, "id_maps": [
                {"type": "gid", "container_id": 33, "host_id": 33, "size": 1},
                {"type": "uid", "container_id": 33, "host_id": 33, "size": 1},
                {"type": "g", "container_id": 34, "host_id": 5000, "size": 65502},
            ]})),
        }),
    );
    assert!(loaded.config.is_some(), "{:#?}", loaded.report.all());
    assert!(
        loaded
            .report
            .all()
            .iter()
            .all(|d| !d.pointer.contains("id_maps")),
        "{:#?}",
        loaded.report.all()
    );
}

/// The schema rejects an unknown `type` before semantic checks run; they reject it too, for
/// configurations built another way.
#[test]
fn an_id_map_type_other_than_uid_or_gid_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let block = json!({"101": ct("web", json!({"template": "local:vztmpl/u.tar.zst", "unprivileged": true, "id_maps": gid33()}))});
    let mut bad = block.clone();
    bad["101"]["id_maps"][0]["type"] = json!("group");
    let schema = load_lxc(dir.path(), bad);
    assert!(
        schema
            .report
            .of(Severity::Error)
            .any(|d| d.pointer == "/lxc_configs/101/id_maps/0/type"),
        "{:#?}",
        schema.report.all()
    );

    let mut cfg: Config = load_lxc(dir.path(), block).config.expect("loads");
    let maps = &mut cfg.lxc.lxc_configs.get_mut("101").unwrap().id_maps;
    maps[0].kind = "group".into();
    maps.push(maps[0].clone());
    maps[1].kind = "u".into();
    let inputs = Inputs {
        host: &cfg.host,
        lxc: &cfg.lxc,
        vm: &cfg.vm,
        stacks: &cfg.stacks,
        certificates: &cfg.certificates,
        files: &cfg.files,
        spans: &HashMap::new(),
        app_script_dirs: Vec::new(),
        setup_scripts_dir: None,
        install_root: None,
    };
    let r = check(&inputs);
    let errs = errors(&r);
    assert_eq!(errs.len(), 1, "{:#?}", r.all());
    let d = errs[0];
    assert_eq!(d.pointer, "/lxc_configs/101/id_maps/0/type");
    assert_eq!(d.file, cfg.files.lxc);
    assert_eq!(d.guest, Some(GuestId(101)));
    assert_eq!(
        d.message,
        "container 101: id map type \"group\" must be \"uid\" or \"gid\" (or \"u\"/\"g\")"
    );
}

/// A host-side health check that is not installed blocks converging its container only
/// (where health checks are installed); the configuration still loads.
#[test]
fn a_missing_health_check_program_blocks_converging_its_container_only() {
    let root = tempfile::tempdir().unwrap();
    let etc = root.path().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::create_dir_all(root.path().join("bin/health_checks")).unwrap();
    let host = json!({"core_paths": {"lxc_config_file": "phoenix_lxc_configs.json"}});
    std::fs::write(etc.join("phoenix_hypervisor_config.json"), host.to_string()).unwrap();
    let lxc = json!({"lxc_configs": {
        "103": ct("ca", json!({"template": "local:vztmpl/x.tar.zst",
            "health_check": {"command": "/usr/local/phoenix_hypervisor/bin/health_checks/check_step_ca.sh --quick"},
            "health_checks": [{"name": "legacy", "script": "check_legacy.sh"}]})),
        "104": ct("other", json!({"template": "local:vztmpl/x.tar.zst"}))}});
    std::fs::write(
        etc.join("phoenix_lxc_configs.json"),
        serde_json::to_string_pretty(&lxc).unwrap(),
    )
    .unwrap();
    let load_here = || {
        let layout = Layout::new(root.path(), "/nonexistent-sysroot");
        let loc = ConfigLocation::resolve(Some(&etc), None, &layout);
        load(&loc, &LoadOptions::for_layout(&layout))
    };
    let l = load_here();
    let cfg = l.config.as_ref().expect("it loads");
    let pointers: Vec<&str> = cfg.blockers.iter().map(|d| d.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "/lxc_configs/103/health_check/command",
            "/lxc_configs/103/health_checks/0/script"
        ]
    );
    let subject = crate::config::Subject::Guest(GuestId(103));
    assert_eq!(
        cfg.blockers(&subject, crate::config::Work::Converge).len(),
        2
    );
    assert!(cfg.blockers(&subject, crate::config::Work::Run).is_empty());
    assert!(
        cfg.blockers(
            &crate::config::Subject::Guest(GuestId(104)),
            crate::config::Work::Converge
        )
        .is_empty()
    );
    for f in ["check_step_ca.sh", "check_legacy.sh"] {
        std::fs::write(root.path().join("bin/health_checks").join(f), "#!/bin/sh\n").unwrap();
    }
    assert!(load_here().config.unwrap().blockers.is_empty());
}

/// A cgroup v1 key is kept by Proxmox with a deprecation warning (pve-container Config.pm
/// `is_valid_lxc_conf_key`): a warning at the line, not an error.
#[test]
fn a_cgroup_v1_lxc_key_is_a_warning() {
    let d = tempfile::tempdir().unwrap();
    let l = load_lxc(
        d.path(),
        json!({"101": ct("web", json!({"template": "local:vztmpl/x.tar.zst",
            "lxc_options": ["lxc.cgroup.devices.allow: c 195:* rwm"]}))}),
    );
    assert!(l.config.is_some(), "{:#?}", l.report.all());
    let w: Vec<&Diagnostic> = l
        .report
        .of(Severity::Warning)
        .filter(|d| d.pointer == "/lxc_configs/101/lxc_options/0")
        .collect();
    assert_eq!(w.len(), 1, "{:#?}", l.report.all());
    assert!(w[0].message.contains("cgroup v1"), "{}", w[0].message);
}

/// Clones of a source that is not a template copy its whole disk (pve-container and
/// qemu-server `clone_vm`: `full` defaults to "source is not a template"): one note per such
/// source, counting the copies and saying how to switch; a template source gets none.
#[test]
fn each_full_copy_source_gets_a_note_on_linked_clones() {
    let dir = tempfile::tempdir().unwrap();
    let tpl = json!({"template": "local:vztmpl/x.tar.zst", "template_snapshot_name": "final-form"});
    let l = load_lxc(
        dir.path(),
        json!({
            "900": ct("base", tpl.clone()),
            "101": ct("a", json!({"clone_from_ctid": "900"})),
            "102": ct("b", json!({"clone_from_ctid": "900"})),
            "901": ct("tier", json!({"clone_from_ctid": "900", "is_template": true})),
            "950": ct("c", json!({"clone_from_ctid": "901"})),
        }),
    );
    let notes: Vec<&Diagnostic> = l
        .report
        .of(Severity::Note)
        .filter(|d| d.message.contains("full cop"))
        .collect();
    assert_eq!(notes.len(), 1, "{:#?}", l.report.all());
    assert_eq!(notes[0].pointer, "/lxc_configs/900");
    assert_eq!(notes[0].guest, Some(GuestId(900)));
    assert!(
        notes[0]
            .message
            .starts_with("container 900 is cloned 3 time(s) as full copies of its whole disk (101, 102, 901); set \"is_template\": true"),
        "{}",
        notes[0].message
    );
}

/// `trusted_ca` without `trusted_ca_file` trusts the root the CA container (feature
/// `step_ca`) makes: the CA must come first, through the dependencies.
#[test]
fn trusted_ca_without_the_ca_among_its_dependencies_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let tpl = json!({"template": "local:vztmpl/x.tar.zst"});
    let mut ca = tpl.clone();
    ca["features"] = json!(["step_ca"]);
    let mut ok = tpl.clone();
    ok["features"] = json!(["trusted_ca"]);
    ok["dependencies"] = json!([103]);
    let mut late = tpl.clone();
    late["features"] = json!(["base_setup", "trusted_ca"]);
    let mut own = late.clone();
    own["trusted_ca_file"] = json!("/srv/root.crt");
    let l = load_lxc(
        dir.path(),
        json!({"103": ct("ca", ca), "101": ct("gw", ok), "102": ct("tr", late), "104": ct("x", own)}),
    );
    let found: Vec<&Diagnostic> = l
        .report
        .of(Severity::Warning)
        .filter(|d| d.message.contains("trusted_ca"))
        .collect();
    assert_eq!(found.len(), 1, "{:#?}", l.report.all());
    assert_eq!(found[0].pointer, "/lxc_configs/102/features/1");
    assert!(
        found[0]
            .message
            .contains("needs the root CA container 103 built first"),
        "{}",
        found[0].message
    );
}
