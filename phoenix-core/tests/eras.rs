//! Configuration files from earlier eras of the shell version (history-v1-and-tests.md §3),
//! reconstructed in `tests/data/eras/`: they load, their old shapes are read as the new ones,
//! and the v1 era is reported as legacy.

use std::path::{Path, PathBuf};

use phoenix_core::config::{self, ConfigLocation, LoadOptions, Loaded, Severity};
use phoenix_core::ids::GuestId;
use phoenix_paths::Layout;

fn load(era: &str) -> Loaded {
    let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/eras")
        .join(era)
        .join("etc");
    let layout = Layout::new("/nonexistent-root", "/nonexistent-sysroot");
    let loaded = config::load(
        &ConfigLocation::resolve(Some(&dir), None, &layout),
        &LoadOptions::for_layout(&layout),
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
fn the_v1_era_loads_as_legacy_with_its_shapes_translated() {
    let l = load("v1");
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
            .any(|w| w.contains("legacy configuration: v1 clone key")),
        "{warnings:#?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("unknown key \"vllm_model\"")),
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
            .any(|w| w.starts_with("/vms/1/portainer_admin_password") && w.contains("unknown key")),
        "{warnings:#?}"
    );
}
