//! The drop-in promise, tested on a corpus of configuration sets written for this project
//! (`tests/data/history/`, see its README): one or more per shape the shell version's files
//! had from the dispatcher era on (history-v1-and-tests.md §3), combined as the history
//! combined them. Every dispatcher-era set loads without errors, and each shape is read into
//! the current model (the `checks` of its `expect.json`); every v1-era set is refused with a
//! "legacy format" error naming the file.
//!
//! `expect.json`: `{date, eras, legacy, legacy_file?, shapes: [ID], checks: [{file, pointer,
//! equals}]}`; `file` is `lxc`, `vm`, `host` (the typed models serialised) or `stacks` (name →
//! `{compose_file (relative to the set), environments}`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use phoenix_core::config::{self, Config, ConfigLocation, LoadOptions, Loaded, Severity, Work};
use phoenix_paths::Layout;
use serde_json::{Value, json};

/// Every shape the corpus must cover: the keys, union types, renames and moves of §3.2–3.6
/// from L2/V1/H1 on, and the v1 (legacy) eras.
const SHAPES: &[&str] = &[
    // LXC file, L2..L5.
    "L.clone_from_ctid.string",
    "L.features.array",
    "L.features.absent",
    "L.static_ip",
    "L.pct_options",
    "L.swap_mb",
    "L.application_script",
    "L.template.path",
    "L.template_snapshot_name",
    "L.gpu_assignment.values",
    "L.vllm.flat",
    "L.vllm.parameters",
    "L.vllm.engine_config",
    "L.vllm.flat_and_engine",
    "L.vllm.args",
    "L.vllm.test_array",
    "L.firewall",
    "L.ports",
    "L.health_check",
    "L.dependencies.strings",
    "L.integration_tests.old",
    "L.boot",
    "L.volumes.old_name",
    "L.volumes.both_names",
    "L.apparmor",
    "L.tests.object",
    "L.enable_lifecycle_snapshots",
    "L.mount_points",
    "L.mount_points.owner",
    "L.network.nameservers_string",
    "L.network.dhcp_no_gw",
    "L.traefik_service",
    "L.traefik_service.scheme",
    "L.trigger_sync_on_completion",
    "L.bootstrap_ca_url",
    "L.id_maps",
    "L.is_template.l5",
    "L.template_file",
    "L.public_interface",
    "L.network.hwaddr",
    "L.network.nameserver",
    "L.secondary_network_config",
    "L.top.nvidia",
    "L.portainer_role.missing",
    "L.zfs_volumes",
    // VM file, V1..V3.
    "V.vm_defaults",
    "V.vmid.8000",
    "V.first_version",
    "V.template",
    "V.boot",
    "V.volumes.named",
    "V.volumes.unnamed",
    "V.qm_options",
    "V.snapshots",
    "V.portainer_config",
    "V.docker_compose_files",
    "V.portainer_role",
    "V.docker_stacks.strings",
    "V.docker_stacks.objects",
    "V.docker_stacks.strings_again",
    "V.portainer_admin",
    "V.network.nameserver_string",
    "V.dns_records.objects",
    "V.dns_records.empty",
    "V.portainer_environment_name",
    "V.firewall",
    "V.dependencies",
    "V.traefik_service",
    "V.trigger_sync_on_completion",
    "V.portainer_agent_hostname",
    "V.mount_points",
    "V.docker_firewall_rules",
    "V.swarm",
    // Host file, H1..H3.
    "H.version",
    "H.interfaces.dns_string",
    "H.interfaces.dns_array",
    "H.nfs.exports",
    "H.nfs.shares",
    "H.samba",
    "H.samba.unnamed_share",
    "H.users",
    "H.nvidia_driver",
    "H.zfs",
    "H.zfs.arc_max_string",
    "H.zfs.properties_string",
    "H.zfs.properties_object",
    "H.zfs.properties_empty",
    "H.mount_point_base",
    "H.default_subnet",
    "H.nfs_server",
    "H.storage_ids.churn",
    "H.timezone",
    "H.shared_volumes",
    "H.shared_volumes.firewall",
    "H.tests",
    "H.tests.dotted_key",
    "H.vm_config_file.absent",
    "H.vm_config_file",
    "H.portainer_api",
    "H.fallback_dns",
    "H.domain_name",
    "H.dns_server.zone_objects",
    "H.dns_server.zones_empty",
    "H.step_ca",
    "H.firewall.top_level",
    "H.h3.network",
    "H.vms_in_host",
    "H.vm_defaults.ubuntu_release",
    "H.duplicate_keys",
    "H.docker",
    "H.behavior",
    "H.proxmox_defaults",
    // Stacks.
    "S.catalogue.no_environments",
    "S.catalogue.environments",
    "S.catalogue.missing_compose",
    "S.dirs",
    "S.dir.missing_compose",
    "S.dir.compose_only",
    // Across files.
    "X.bom",
    "X.missing_app_script",
    "X.unknown_feature",
    // The v1 era (legacy: refused unless --allow-legacy).
    "L.features.string",
    "L.clone_from_template_ctid",
    "L.is_template.l1",
    "H.h0",
];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/history")
}

fn sets() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("expect.json").is_file())
        .collect();
    v.sort();
    v
}

fn expect(set: &Path) -> Value {
    let text = std::fs::read_to_string(set.join("expect.json")).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", set.display()))
}

/// Loads a set as an installed host would: installers and application scripts are the ones
/// this repository ships (`setup-scripts/`).
fn load(set: &Path) -> Loaded {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let layout = Layout::new(repo, "/nonexistent-sysroot");
    config::load(
        &ConfigLocation::resolve(Some(&set.join("etc")), None, &layout),
        &LoadOptions::for_layout(&layout),
    )
}

fn name(set: &Path) -> String {
    set.file_name().unwrap().to_string_lossy().into_owned()
}

/// The typed model of `file`, as JSON.
fn view(cfg: &Config, file: &str, set: &Path) -> Value {
    match file {
        "lxc" => serde_json::to_value(&cfg.lxc).unwrap(),
        "vm" => serde_json::to_value(&cfg.vm).unwrap(),
        "host" => serde_json::to_value(&cfg.host).unwrap(),
        "stacks" => Value::Object(
            cfg.stacks
                .iter()
                .map(|(n, s)| {
                    let compose = s.compose.strip_prefix(set).map_or_else(
                        |_| s.compose.display().to_string(),
                        |p| p.display().to_string(),
                    );
                    (
                        n.clone(),
                        json!({"compose_file": compose, "environments": s.manifest.environments}),
                    )
                })
                .collect(),
        ),
        other => panic!("unknown file {other:?} in a check"),
    }
}

#[test]
fn the_corpus_covers_every_historical_shape() {
    let all = sets();
    let dispatcher = all.iter().filter(|s| expect(s)["legacy"] != true).count();
    assert!(
        dispatcher >= 25,
        "the corpus needs at least 25 dispatcher-era sets, has {dispatcher}"
    );
    let mut covered = BTreeSet::new();
    for set in &all {
        for s in expect(set)["shapes"].as_array().into_iter().flatten() {
            let s = s.as_str().unwrap().to_string();
            assert!(
                SHAPES.contains(&s.as_str()),
                "{}: unknown shape {s:?}",
                name(set)
            );
            covered.insert(s);
        }
    }
    let missing: Vec<&&str> = SHAPES.iter().filter(|s| !covered.contains(**s)).collect();
    assert!(missing.is_empty(), "shapes no set carries: {missing:?}");
}

#[test]
fn every_dispatcher_era_set_loads_and_reads_its_shapes_as_the_current_ones() {
    let mut failures = Vec::new();
    for set in sets() {
        let exp = expect(&set);
        if exp["legacy"] == true {
            continue;
        }
        let loaded = load(&set);
        let Some(cfg) = loaded.config.as_ref() else {
            let errors: Vec<String> = loaded
                .report
                .of(Severity::Error)
                .map(ToString::to_string)
                .collect();
            failures.push(format!("{}: refused\n{}", name(&set), errors.join("\n")));
            continue;
        };
        assert!(!cfg.eras.any_legacy(), "{}", name(&set));
        // Shapes whose point is a finding on one object: a warning that blocks that work.
        let shapes: Vec<&str> = exp["shapes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for (shape, work, words) in [
            ("X.missing_app_script", Work::Converge, "application script"),
            (
                "X.unknown_feature",
                Work::Converge,
                "no installer for feature",
            ),
            ("S.catalogue.missing_compose", Work::Deploy, "compose file"),
            ("S.dir.missing_compose", Work::Deploy, "compose file"),
        ] {
            if shapes.contains(&shape)
                && !cfg.blockers.iter().any(|d| {
                    d.severity == Severity::Warning
                        && d.message.contains(words)
                        && d.blocks.as_ref().is_some_and(|b| b.work.contains(&work))
                })
            {
                failures.push(format!(
                    "{}: {shape}: no warning blocking {work:?} ({words})",
                    name(&set)
                ));
            }
        }
        for check in exp["checks"].as_array().into_iter().flatten() {
            let file = check["file"].as_str().unwrap();
            let pointer = check["pointer"].as_str().unwrap();
            let got = view(cfg, file, &set).pointer(pointer).cloned();
            if got.as_ref() != Some(&check["equals"]) {
                failures.push(format!(
                    "{}: {file} {pointer}: got {}, want {}",
                    name(&set),
                    got.map_or_else(|| "nothing".to_string(), |v| v.to_string()),
                    check["equals"]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_v1_era_set_is_refused_as_legacy_naming_the_file() {
    let mut seen = 0;
    for set in sets() {
        let exp = expect(&set);
        if exp["legacy"] != true {
            continue;
        }
        seen += 1;
        let file = exp["legacy_file"].as_str().unwrap();
        let loaded = load(&set);
        assert!(loaded.config.is_none(), "{}", name(&set));
        assert!(
            loaded
                .report
                .of(Severity::Error)
                .any(|d| d.file.ends_with(file)
                    && d.message
                        .starts_with(&format!("legacy format: {file} is a file of"))),
            "{}: no legacy error naming {file}:\n{:#?}",
            name(&set),
            loaded.report.all()
        );
    }
    assert!(seen >= 3, "only {seen} legacy sets");
}
