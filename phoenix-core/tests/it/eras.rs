//! Configuration files from earlier eras of the shell version (history-v1-and-tests.md §3),
//! reconstructed in `tests/data/eras/`: they load, their old shapes are read as the new ones,
//! and the v1 era is reported as legacy.

use std::path::{Path, PathBuf};

use phoenix_core::config::{self, ConfigLocation, LoadOptions, Loaded, Severity};
use phoenix_core::ids::GuestId;
use phoenix_paths::Layout;

fn load(era: &str) -> Loaded {
    load_with(era, false)
}

fn load_with(era: &str, allow_legacy: bool) -> Loaded {
    let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/eras")
        .join(era)
        .join("etc");
    let layout = Layout::new("/nonexistent-root", "/nonexistent-sysroot");
    let loaded = config::load(
        &ConfigLocation::resolve(Some(&dir), None, &layout),
        &LoadOptions {
            allow_legacy,
            ..LoadOptions::for_layout(&layout)
        },
    );
    for d in loaded.report.all() {
        eprintln!("{d}");
    }
    loaded
}

fn messages(l: &Loaded, sev: Severity) -> Vec<String> {
    l.report
        .of(sev)
        .map(|d| format!("{} {}", d.pointer, d.message))
        .collect()
}

#[test]
fn the_v1_era_is_refused_naming_each_file() {
    let l = load("v1");
    assert!(l.config.is_none());
    let errors: Vec<(String, String)> = l
        .report
        .of(Severity::Error)
        .map(|d| (d.file.display().to_string(), d.message.clone()))
        .collect();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    for (file, name) in [
        ("phoenix_hypervisor_config.json", "version 0.01.01"),
        ("phoenix_lxc_configs.json", "clone_from_template_ctid"),
    ] {
        assert!(
            errors.iter().any(|(f, m)| f.ends_with(file)
                && m.starts_with(&format!(
                    "legacy format: {file} is a file of the shell version's v1 era"
                ))
                && m.contains(name)),
            "{file}: {errors:#?}"
        );
    }
}

#[test]
fn with_allow_legacy_the_v1_era_loads_with_its_shapes_translated() {
    let l = load_with("v1", true);
    assert!(!l.report.has_errors());
    let cfg = l.config.as_ref().unwrap();
    assert!(cfg.eras.lxc.is_legacy());
    assert!(cfg.eras.host.is_legacy());
    assert!(cfg.vm.vms.is_empty(), "no VM file in v1");
    let ct = |id: &str| &cfg.lxc.lxc_configs[id];
    assert_eq!(ct("950").pct_options, ["nesting=1", "keyctl=1"]);
    assert!(ct("950").features.is_empty());
    assert_eq!(ct("901").clone_from_ctid.map(|r| r.0), Some(GuestId(900)));
    assert!(
        !ct("900").is_template(),
        "v1 is_template was a snapshot-template flag, not a Proxmox template"
    );
    let model = ct("950")
        .vllm_engine_config
        .as_ref()
        .and_then(|e| e.model_config.as_ref())
        .and_then(|m| m.get("model"))
        .cloned();
    assert!(model.is_some(), "vllm_model read as ModelConfig.model");
    let order: Vec<u32> = cfg
        .graph()
        .topo_order()
        .unwrap()
        .iter()
        .map(|g| g.get())
        .collect();
    assert_eq!(order, [900, 901, 902, 903, 910, 920, 950]);
    let warnings = messages(&l, Severity::Warning);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("legacy format: clone_from_template_ctid")),
        "{warnings:#?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("/lxc_configs/901/unprivileged") && w.contains("privileged")),
        "{warnings:#?}"
    );
}

#[test]
fn october_2025_shapes_are_current_and_read_as_their_new_names() {
    let l = load("2025-10");
    assert!(!l.report.has_errors());
    let cfg = l.config.as_ref().unwrap();
    assert!(!cfg.eras.any_legacy());
    assert_eq!(
        cfg.host
            .network
            .interfaces
            .as_ref()
            .unwrap()
            .dns_nameservers
            .items(),
        ["10.0.0.13", "8.8.8.8"]
    );
    assert!(
        cfg.host.firewall.as_ref().unwrap().enabled == Some(true),
        "shared_volumes.firewall read as firewall"
    );
    assert!(!cfg.host.shared_volumes.contains_key("firewall"));
    assert_eq!(
        cfg.host.proxmox_storage_ids["fastData_shared_iso"],
        "quickOS-shared-iso"
    );
    assert_eq!(
        cfg.lxc.lxc_configs["950"].zfs_volumes.len(),
        1,
        "volumes read as zfs_volumes"
    );
    assert_eq!(cfg.lxc.lxc_configs["950"].gpus(), [0, 1]);
    let vm = &cfg.vm.vms[1];
    assert_eq!(vm.docker_stacks[0].name(), "qdrant_service");
    assert_eq!(
        vm.network_config.as_ref().unwrap().nameserver.items(),
        ["10.0.0.13"]
    );
    assert_eq!(
        vm.snapshots.as_ref().unwrap().pre_features.as_deref(),
        Some("pre-features")
    );
    let notes = messages(&l, Severity::Note);
    for alias in [
        "/shared_volumes/firewall",
        "/proxmox_storage_ids/fastdata_iso",
        "/lxc_configs/950/volumes",
        "/vms/1/network_config/nameservers",
    ] {
        assert!(
            notes.iter().any(|n| n.starts_with(alias)),
            "no note for {alias}: {notes:#?}"
        );
    }
    let warnings = messages(&l, Severity::Warning);
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("/vms/1/portainer_admin_password")
                && w.contains("the host's portainer_api names the password")),
        "{warnings:#?}"
    );
}
