//! Whole estates on the simulator (strict mode): every container of the shell version's
//! reference configuration and of the project's examples is planned on a fresh host without
//! a single mutating command, created and converged, and then converges again without one.

use crate::support::{Host, examples, reference, repo};

/// Plans every container on a fresh host (dry run), creates them all in order, checks the
/// installers ran inside them, and converges again. Returns the host.
fn full_run(h: &Host, order: &[u32]) {
    // A dry run on the fresh host: the full plan, no mutation.
    let mark = h.mark();
    for id in order {
        let id = id.to_string();
        let out = h.lxc(&["create", &id, "--dry-run"]);
        let plan = out.ok();
        assert!(plan.contains(&format!("lxc {id} (")), "{plan}");
        assert!(
            plan.contains("  create\n    + container"),
            "the plan creates {id}:\n{plan}"
        );
        assert!(
            plan.contains("    > start and wait until it answers"),
            "{plan}"
        );
    }
    assert_eq!(
        h.mutations_since(mark),
        Vec::<String>::new(),
        "a dry run mutates nothing"
    );
    assert!(!h.path("/etc/pve/lxc/900.conf").exists());

    for id in order {
        h.lxc(&["create", &id.to_string()]).ok();
    }
    assert_eq!(
        h.refusals(),
        Vec::<String>::new(),
        "strict mode refused nothing"
    );
    let cfg = h.lxc_config();
    for id in order {
        let c = &cfg["lxc_configs"][id.to_string()];
        let conf = h.read(&format!("/etc/pve/lxc/{id}.conf"));
        assert!(
            conf.contains(&format!("hostname: {}\n", c["name"].as_str().unwrap())),
            "{conf}"
        );
        for f in c["features"].as_array().into_iter().flatten() {
            let f = f.as_str().unwrap();
            assert!(
                h.guest_has(*id, &format!("/opt/phoenix/{f}")),
                "feature {f} ran in {id}"
            );
            assert!(
                h.guest_has(*id, &format!("/var/lib/phoenix/features/{f}.sha256")),
                "feature {f} is recorded in {id}"
            );
        }
        if let Some(a) = c["application_script"].as_str() {
            assert!(
                h.guest_has(*id, &format!("/opt/phoenix/app-{a}")),
                "{a} ran in {id}"
            );
        }
    }

    // Converged: a second run changes nothing.
    let mark = h.mark();
    for id in order {
        let out = h.lxc(&["converge", &id.to_string()]);
        assert!(
            out.ok().starts_with(&format!("lxc {id} (")),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout.lines().next().unwrap().ends_with("no changes"),
            "{id} again:\n{}",
            out.stdout
        );
    }
    assert_eq!(
        h.mutations_since(mark),
        Vec::<String>::new(),
        "the second run mutates nothing"
    );
}

phoenix_testkit::on_each_release! {
    fn the_reference_estate_converges_with_the_manager(pve) {
        let Some(etc) = reference() else { return };
        let h = Host::on(&etc, 2, pve);
        let order = h.creation_order();
        assert_eq!(order.len(), 12);
        full_run(&h, &order);
        // Shapes the shell version got wrong.
        let c101 = h.read("/etc/pve/lxc/101.conf");
        assert!(
            c101.contains("lxc.idmap: g 33 33 1\n"),
            "id_maps are honoured:\n{c101}"
        );
        assert!(h.read("/etc/subgid").contains("root:33:1\n"));
        let c911 = h.read("/etc/pve/lxc/911.conf");
        assert!(
            !c911.contains("/dev/nvidia1"),
            "911 (GPU 0) does not keep 901's second GPU:\n{c911}"
        );
        assert!(
            c911.contains("unprivileged: 1"),
            "911 inherits its source's privilege level"
        );
        let fw = h.read("/etc/pve/firewall/900.fw");
        assert!(fw.starts_with("[OPTIONS]\n\nenable: 1\n"), "{fw}");
        let c900 = h.read("/etc/pve/lxc/900.conf");
        assert!(
            c900.contains("[final-form]") && c900.contains("[pre-configured]"),
            "{c900}"
        );
    }
}

phoenix_testkit::on_each_release! {
    fn the_example_estate_converges_through_phoenix(pve) {
        let h = Host::on(&examples(), 1, pve);
        let order = h.creation_order();
        let ids: Vec<String> = order.iter().map(ToString::to_string).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();

        let mark = h.mark();
        let mut args = vec!["create", "--dry-run"];
        args.extend(&ids);
        let out = h.cli(&args);
        out.ok();
        for id in &ids {
            assert!(
                out.stdout.contains(&format!("lxc {id} (")),
                "plan for {id}:\n{}",
                out.stdout
            );
        }
        assert_eq!(h.mutations_since(mark), Vec::<String>::new());

        let mut args = vec!["create"];
        args.extend(&ids);
        h.cli(&args).ok();
        assert_eq!(h.refusals(), Vec::<String>::new());

        let mark = h.mark();
        let mut args = vec!["converge"];
        args.extend(&ids);
        h.cli(&args).ok();
        assert_eq!(h.mutations_since(mark), Vec::<String>::new());

        let mut args = vec!["status", "--output", "json"];
        args.extend(&ids);
        let out = h.cli(&args);
        out.ok();
        for id in &ids {
            let st = h.lxc(&["status", id, "--output", "json"]);
            let v: serde_json::Value = serde_json::from_str(st.ok()).unwrap();
            assert_eq!(v["state"], "running", "{v}");
            assert_eq!(v["drift"], serde_json::json!([]), "{v}");
        }
    }
}

#[test]
fn the_example_estate_through_the_manager_matches() {
    let h = Host::new(&examples(), 1);
    let order = h.creation_order();
    full_run(&h, &order);
}

/// The drop-in promise beyond `validate`: historical configuration sets of the corpus
/// (`phoenix-core/tests/data/history/`), one per era of the shell version's files from the
/// dispatcher era on, come up with `phoenix LetsGo` on a host made from them: every guest is
/// created (templates converted), nothing is refused by the simulator.
#[test]
fn historical_estates_come_up_with_letsgo() {
    let corpus = repo().join("phoenix-core/tests/data/history");
    for set in [
        "2025-09-16-l3-firewall",         // L3 + H1: flat vLLM keys, no VM file
        "2025-09-29-v1-first-vm-file",    // V1's first shape, vmid 8000
        "2025-10-06-v2-stacks-catalogue", // V2, catalogue stacks without environments
        "2025-10-27-h2-step-ca",          // catalogue stacks synced after the tiers
        "2025-11-04-l4-id-maps",          // the shell version's last release
        "2025-11-25-l5-secondary-nic",    // L5 Proxmox templates, H3, a second NIC
    ] {
        let h = Host::new(&corpus.join(set).join("etc"), 2);
        let out = h.cli(&["LetsGo", "--jobs", "2"]);
        assert_eq!(
            out.code, 0,
            "{set}: LetsGo failed\n--- stdout\n{}\n--- stderr\n{}",
            out.stdout, out.stderr
        );
        let lxc = h.lxc_config();
        for id in lxc["lxc_configs"].as_object().unwrap().keys() {
            assert!(
                h.path(&format!("/etc/pve/lxc/{id}.conf")).exists(),
                "{set}: container {id} was not created"
            );
        }
        for vm in h.vm_config()["vms"].as_array().into_iter().flatten() {
            let id = vm["vmid"].as_u64().unwrap();
            assert!(
                h.path(&format!("/etc/pve/qemu-server/{id}.conf")).exists(),
                "{set}: VM {id} was not created"
            );
        }
        assert_eq!(h.refusals(), Vec::<String>::new(), "{set}");
    }
}

phoenix_testkit::on_each_release! {
    /// Real Proxmox locks a clone's source for the whole copy (pve-container `clone_vm`:
    /// `lock: disk`; qemu-server `clone_vm`: the source's config flock), and the simulator holds
    /// those locks as long as the simulated copy lasts. With the clocks running (time scale > 0,
    /// so the copies of sibling clones overlap in time) and 8 jobs, LetsGo on the reference
    /// estate brings everything up and Proxmox refuses nothing: sibling clones of one container
    /// wait for each other (issue 16, item 1).
    fn letsgo_with_8_jobs_never_runs_what_proxmox_locks_against_each_other(pve) {
        let Some(etc) = reference() else { return };
        let h = Host::on(&etc, 2, pve);
        h.set_env("PVE_SIM_TIME_SCALE", "0.01");
        let out = h.cli(&["LetsGo", "--jobs", "8"]);
        assert_eq!(
            out.code, 0,
            "LetsGo failed\n--- stdout\n{}\n--- stderr\n{}",
            out.stdout, out.stderr
        );
        assert_eq!(h.refusals(), Vec::<String>::new());
        // The version was read once, by the dispatcher (issue 16, item 3).
        let reads = h.audit().iter().filter(|e| e["tool"] == "pveversion").count();
        assert_eq!(reads, 1);
        // Sibling clones of one container were among them.
        let clones: Vec<String> = h
            .audit()
            .into_iter()
            .filter(|e| e["tool"] == "pct" && e["argv"][0] == "clone" && e["exit"] == 0)
            .map(|e| e["argv"][1].as_str().unwrap().to_string())
            .collect();
        let most = clones
            .iter()
            .map(|s| clones.iter().filter(|x| *x == s).count())
            .max();
        assert!(most >= Some(3), "{clones:?}");
        for e in std::fs::read_dir(h.path("/etc/pve/lxc")).unwrap() {
            let conf = std::fs::read_to_string(e.unwrap().path()).unwrap();
            assert!(!conf.contains("\nlock:"), "still locked:\n{conf}");
        }
    }
}

phoenix_testkit::on_each_release! {
    /// Template tiers at every level of the chain (issue 16, item 10): 900, and 901 and 902
    /// cloned from it, all Proxmox templates. Each tier is made (900 from its OS template,
    /// 901/902 as linked clones of 900), its installers run, it is converted; what clones
    /// them is a linked clone (`pct clone` without `--full`), nothing is refused, and
    /// converging again changes nothing.
    fn template_tiers_work_at_every_level_of_the_chain(pve) {
        let h = Host::on(&examples(), 1, pve);
        for id in [900, 901, 902] {
            h.edit(id, |c| {
                c["is_template"] = serde_json::json!(true);
                c.as_object_mut().unwrap().remove("template_snapshot_name");
            });
        }
        let out = h.cli(&["validate", "-v"]);
        assert!(!out.stdout.contains("container 900 is cloned"), "{}", out.stdout);
        let ids: Vec<String> = h.creation_order().iter().map(ToString::to_string).collect();
        let mut args = vec!["create", "--jobs", "4"];
        args.extend(ids.iter().map(String::as_str));
        let out = h.cli(&args);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
        assert_eq!(h.refusals(), Vec::<String>::new());
        let clones: Vec<String> = h
            .mutations_since(0)
            .into_iter()
            .filter(|m| m.starts_with("pct clone"))
            .collect();
        for (from, to) in [("900", "901"), ("900", "101"), ("901", "950"), ("901", "960")] {
            let c = clones
                .iter()
                .find(|c| c.starts_with(&format!("pct clone {from} {to} ")))
                .unwrap_or_else(|| panic!("{from} -> {to}: {clones:#?}"));
            assert!(!c.contains("--full"), "{c}");
        }
        for id in [900, 901, 902] {
            let conf = h.read(&format!("/etc/pve/lxc/{id}.conf"));
            assert!(conf.contains("template: 1"), "{id}:\n{conf}");
        }
        let mark = h.mark();
        args[0] = "converge";
        h.cli(&args).ok();
        assert_eq!(h.mutations_since(mark), Vec::<String>::new());
    }
}
