//! Loads the shell version's real configuration files (`../shared/reference`), which every
//! release must accept unchanged. Skipped with a note where that folder is absent.

use std::path::{Path, PathBuf};

use phoenix_core::config::{self, ConfigLocation, LoadOptions, Severity};
use phoenix_core::ids::GuestId;
use phoenix_paths::Layout;

fn reference_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference");
    if dir.join("etc").is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "note: {} is absent; skipping the reference-config test",
            dir.display()
        );
        None
    }
}

#[test]
fn the_shipped_reference_configuration_loads_without_errors() {
    let Some(dir) = reference_dir() else { return };
    let layout = Layout::new("/nonexistent-phoenix-root", "/nonexistent-sysroot");
    let loc = ConfigLocation::resolve(Some(&dir.join("etc")), None, &layout);
    let loaded = config::load(&loc, &LoadOptions::for_layout(&layout));
    for d in loaded.report.all() {
        eprintln!("{d}");
    }
    assert!(!loaded.report.has_errors());
    let cfg = loaded.config.expect("config");
    assert_eq!(cfg.lxc.lxc_configs.len(), 12);
    assert_eq!(cfg.vm.vms.len(), 3);
    assert_eq!(cfg.stacks.len(), 3);
    assert_eq!(cfg.certificates.len(), 3);
    assert!(cfg.certificates[1].sans.is_empty());
    assert!(!cfg.eras.any_legacy());
    // Known findings of the shipped files, each a real problem worth telling an operator.
    let warnings: Vec<_> = loaded.report.of(Severity::Warning).collect();
    assert!(warnings.iter().any(|d| d.pointer == "/vms/2/firewall/rules/2" && d.message.contains("repeats rule 1")));
    assert!(
        warnings
            .iter()
            .any(|d| d.pointer == "/portainer_api/admin_password")
    );
    // The graph respects every edge.
    let order = cfg.graph().topo_order().unwrap();
    let pos = |id: GuestId| order.iter().position(|x| *x == id).unwrap();
    for g in cfg.guests() {
        for d in g.dependencies().into_iter().chain(g.clone_source()) {
            assert!(pos(d) < pos(g.id()), "{d} must come before {}", g.id());
        }
    }
}

#[test]
fn the_project_schemas_accept_every_reference_file() {
    use phoenix_core::config::json;
    use phoenix_core::config::schema::{self, SchemaKind};
    let Some(dir) = reference_dir() else { return };
    let mut files = vec![
        (
            dir.join("etc/phoenix_hypervisor_config.json"),
            SchemaKind::Hypervisor,
        ),
        (dir.join("etc/phoenix_lxc_configs.json"), SchemaKind::Lxc),
        (dir.join("etc/phoenix_vm_configs.json"), SchemaKind::Vm),
        (
            dir.join("etc/phoenix_stacks_config.json"),
            SchemaKind::Stacks,
        ),
        (
            dir.join("etc/certificate-manifest.json"),
            SchemaKind::CertificateManifest,
        ),
    ];
    for e in std::fs::read_dir(dir.join("stacks")).unwrap() {
        files.push((
            e.unwrap().path().join("phoenix.json"),
            SchemaKind::StackManifest,
        ));
    }
    for (path, kind) in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed = json::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let findings = schema::validate(kind, &parsed.value, &path, &parsed.spans);
        let errors: Vec<String> = findings
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(ToString::to_string)
            .collect();
        assert!(
            errors.is_empty(),
            "{} is rejected by {}:\n{}",
            path.display(),
            kind.file_name(),
            errors.join("\n")
        );
    }
}
