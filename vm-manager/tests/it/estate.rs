//! The VMs of a whole configuration against the simulator (strict): created in order,
//! converged again with zero mutating commands, planned with none.

use crate::support::{Host, VM_TRUSTED_CA, examples, reference};

fn estate(h: &Host, ids: &[&str]) {
    // A dry run on a fresh host plans every VM and runs nothing that mutates.
    let mark = h.mark();
    for id in ids {
        let out = h.vm(&["create", id, "--dry-run"]);
        let stdout = out.ok();
        assert!(stdout.contains(&format!("vm {id} (")), "{stdout}");
    }
    assert_eq!(
        h.mutations_since(mark),
        Vec::<String>::new(),
        "dry run mutated"
    );

    for id in ids {
        let out = h.vm(&["create", id]);
        out.ok();
    }
    assert_eq!(h.refusals(), Vec::<String>::new());

    // A second run changes nothing.
    let mark = h.mark();
    for id in ids {
        let out = h.vm(&["create", id]);
        let stdout = out.ok();
        assert!(stdout.contains("no changes"), "{id}: {stdout}");
    }
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());
}

phoenix_testkit::on_each_release! {
    fn reference_vms_converge_and_stay_converged(pve) {
        let Some(etc) = reference() else { return };
        let h = Host::on(&etc, 0, pve);
        h.write_vm_feature("trusted_ca", VM_TRUSTED_CA);
        estate(&h, &["9000", "1001", "1002"]);
        for id in [1001, 1002] {
            for f in ["base_setup", "trusted_ca", "step_cli", "docker"] {
                assert!(
                    h.vm_has(id, &format!("/opt/phoenix/vm-{f}")),
                    "{id} ran {f}"
                );
            }
            let out = h.vm(&["health-check", &id.to_string()]);
            let stdout = out.ok();
            for check in [
                "PASS guest agent answers",
                "PASS cloud-init finished",
                "PASS NFS /persistent-storage mounted",
                "PASS docker running",
                "PASS CA trusted",
            ] {
                assert!(stdout.contains(check), "{id}: {stdout}");
            }
        }
    }
}

#[test]
fn example_vms_converge_and_stay_converged() {
    let h = Host::new(&examples(), 0);
    estate(&h, &["9000", "1001", "1002"]);
}

#[test]
fn phoenix_create_1002_builds_its_chain_in_order_across_containers() {
    let h = Host::new(&examples(), 1);
    h.write_vm_feature("trusted_ca", VM_TRUSTED_CA);
    let out = h.cli(&["create", "1002"]);
    out.ok();
    let m = h.mutations_since(0);
    let pos = |f: &dyn Fn(&String) -> bool, what: &str| {
        m.iter()
            .position(f)
            .unwrap_or_else(|| panic!("{what} did not run: {m:#?}"))
    };
    let template = pos(&|c| c.starts_with("qm create 9000"), "qm create 9000");
    let portainer = pos(&|c| c.starts_with("qm clone 9000 1001"), "clone 1001");
    let apps = pos(&|c| c.starts_with("qm clone 9000 1002"), "clone 1002");
    let ct102 = pos(
        &|c| c.starts_with("pct ") && c.split_whitespace().skip(2).take(2).any(|w| w == "102"),
        "container 102",
    );
    assert!(template < portainer && portainer < apps, "{m:#?}");
    assert!(ct102 < portainer, "1001 depends on container 102: {m:#?}");
    assert_eq!(h.refusals(), Vec::<String>::new());
    let again = h.mark();
    h.cli(&["create", "1002"]).ok();
    assert_eq!(h.mutations_since(again), Vec::<String>::new());
    // `phoenix health-check` reaches vm-manager's foundation check.
    let out = h.cli(&["health-check", "1002"]);
    let stdout = out.ok();
    assert!(
        stdout.contains("PASS NFS /persistent-storage mounted"),
        "{stdout}"
    );
    assert!(stdout.contains("PASS CA trusted"), "{stdout}");
}

phoenix_testkit::on_each_release! {
    fn the_whole_reference_estate_converges_through_phoenix(pve) {
        let Some(etc) = reference() else { return };
        let h = Host::on(&etc, 2, pve);
        h.write_vm_feature("trusted_ca", VM_TRUSTED_CA);
        let mut ids: Vec<String> = h.creation_order().iter().map(ToString::to_string).collect();
        ids.extend(["9000", "1001", "1002"].map(String::from));
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        // Containers that depend on VM 1002 (901, 801, 802, …) are created after it by the
        // dispatcher, whatever order they are named in.
        let mut args = vec!["create"];
        args.extend(&ids);
        let out = h.cli(&args);
        out.ok();
        assert_eq!(h.refusals(), Vec::<String>::new());
        let m = h.mutations_since(0);
        let vm1002 = m
            .iter()
            .position(|c| c.starts_with("qm clone 9000 1002"))
            .expect("1002 cloned");
        let ct901 = m
            .iter()
            .position(|c| {
                c.starts_with("pct ") && c.split_whitespace().skip(2).take(2).any(|w| w == "901")
            })
            .expect("901 created");
        assert!(vm1002 < ct901, "901 depends on VM 1002: {m:#?}");
        let again = h.mark();
        args[0] = "converge";
        h.cli(&args).ok();
        assert_eq!(h.mutations_since(again), Vec::<String>::new());
    }
}

/// The user-data vm-manager renders for every VM of both configurations passes cloud-init's
/// own schema (canonical/cloud-init `schema-cloud-config-v1.json`, the check `cloud-init
/// schema` runs): `mounts: []` ("[] is too short") is left out when a VM has no volumes.
#[test]
fn rendered_user_data_passes_cloud_inits_schema() {
    let Some(schema) =
        phoenix_testkit::validate::shared_schema("cloud-init-schema-cloud-config-v1.json")
    else {
        return;
    };
    // What the schema refuses, so this test can fail.
    let empty = serde_json::json!({"mounts": []});
    assert!(!phoenix_testkit::validate::against_schema(&schema, &empty).is_empty());
    let mut dirs = vec![phoenix_testkit::examples()];
    dirs.extend(reference());
    let mut checked = 0;
    for dir in dirs {
        let cfg = phoenix_testkit::load_config(&dir);
        let (template, _) = vm_manager::cloudinit::template(&dir, &phoenix_testkit::examples())
            .expect("the template");
        for vm in &cfg.vm.vms {
            let Some(id) = vm.vmid.map(|r| r.0) else {
                continue;
            };
            let spec = vm_manager::spec::spec(&cfg, id).expect("spec");
            let text = vm_manager::cloudinit::user_data(&template, &spec).expect("rendered");
            let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
            let json = serde_json::to_value(yaml).expect("as JSON");
            let errors = phoenix_testkit::validate::against_schema(&schema, &json);
            assert_eq!(
                errors,
                Vec::<String>::new(),
                "VM {id} of {}:\n{text}",
                dir.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 3, "{checked} VMs");
}
