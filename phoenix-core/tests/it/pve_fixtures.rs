//! The Proxmox output parsers on hand-written real output (shapes from Proxmox's source and
//! documentation). `pve-sim`'s tests run the same parsers on the simulator's output and check
//! that both agree.

use std::path::PathBuf;

use phoenix_core::pve::{agent, conf, pvesm, snapshots, status, zfs};

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/pve")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn pct_config_output() {
    let s = conf::parse_config_output(&fixture("pct_config.txt")).unwrap();
    assert_eq!(s.get("hostname"), Some("web"));
    assert_eq!(s.get("description"), Some("web server"));
    let net = s.prop("net0", None).unwrap();
    assert_eq!(
        (net.get("name"), net.get("hwaddr"), net.get("ip")),
        (
            Some("eth0"),
            Some("52:54:00:AA:BB:CC"),
            Some("10.0.0.200/24")
        )
    );
    assert_eq!(
        s.prop("rootfs", Some("volume")).unwrap().get("volume"),
        Some("local-zfs:subvol-101-disk-0")
    );
    assert_eq!(
        s.lxc,
        vec![("lxc.apparmor.profile".to_string(), "unconfined".to_string())]
    );
    assert!(!s.is_template());
}

#[test]
fn lxc_config_file_with_pending_and_snapshots() {
    let c = conf::GuestConfig::parse_file(&fixture("lxc_101.conf")).unwrap();
    assert_eq!(c.main.get("description"), Some("web server"));
    assert_eq!(c.main.get("parent"), Some("final-form"));
    assert_eq!(
        c.main.lxc_values("lxc.cgroup2.devices.allow"),
        ["c 195:* rwm"]
    );
    assert_eq!(c.pending_deletes(), ["nameserver"]);
    assert_eq!(c.effective().get("memory"), Some("2048"));
    assert_eq!(c.snapshots.keys().collect::<Vec<_>>(), ["final-form"]);
}

#[test]
fn status_outputs() {
    assert!(
        status::parse_status(&fixture("pct_status.txt"))
            .unwrap()
            .is_running()
    );
    let v = status::parse_verbose(&fixture("qm_status_verbose.txt")).unwrap();
    assert_eq!(v["maxmem"], "8589934592");
    assert_eq!(
        status::parse_status(&fixture("qm_status_verbose.txt")).unwrap(),
        status::RunState::Stopped
    );
}

#[test]
fn listsnapshot_tree() {
    let e = snapshots::parse_listsnapshot(&fixture("pct_listsnapshot.txt")).unwrap();
    assert_eq!(
        snapshots::snapshot_names(&e),
        ["pre-configured", "final-form"]
    );
    assert_eq!(e[1].parent.as_deref(), Some("pre-configured"));
    assert_eq!(e[1].time.as_deref(), Some("2024-11-11 09:30:00"));
    assert_eq!(e[1].description, "before templating");
    assert_eq!(
        (e[2].name.as_str(), e[2].parent.as_deref()),
        ("current", Some("final-form"))
    );
}

#[test]
fn qm_config_output() {
    let s = conf::parse_config_output(&fixture("qm_config.txt")).unwrap();
    let net = s.prop("net0", None).unwrap();
    assert_eq!(
        net.nic_model_mac(),
        Some(("virtio", Some("BC:24:11:2A:5B:9C")))
    );
    assert!(net.flag("firewall"));
    assert_eq!(
        s.prop("scsi0", Some("file")).unwrap().get("size"),
        Some("32G")
    );
    assert_eq!(
        s.prop("ide2", Some("file")).unwrap().get("media"),
        Some("cdrom")
    );
    assert_eq!(s.get("cipassword"), Some("**********"));
}

#[test]
fn guest_exec_json() {
    let ok = agent::parse_exec(&fixture("qm_guest_exec_ok.json")).unwrap();
    assert!(ok.success());
    assert_eq!(ok.out_data, "status: done\n");
    let fail = agent::parse_exec(&fixture("qm_guest_exec_fail.json")).unwrap();
    assert_eq!(fail.exitcode, Some(1));
    assert!(fail.err_data.contains("No such file"));
    let t = agent::parse_exec(&fixture("qm_guest_exec_timeout.json")).unwrap();
    assert!(t.running());
}

#[test]
fn pvesm_status_table() {
    let s = pvesm::parse_status(&fixture("pvesm_status.txt")).unwrap();
    assert_eq!(
        s.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["local", "local-zfs", "nfs-bak"]
    );
    assert_eq!(s[1].kind, "zfspool");
    assert_eq!(s[0].total_kib, 98_497_780);
    assert_eq!(s[2].status, "disabled");
}

/// PVE 9.1 (pve-storage 9.0.14, src/PVE/CLI/pvesm.pm:251-252) puts the units in the header:
/// `Total (KiB) Used (KiB) Available (KiB)`; the rows are as before.
#[test]
fn pvesm_status_table_of_pve_9_1() {
    let old = pvesm::parse_status(&fixture("pvesm_status.txt")).unwrap();
    let new = pvesm::parse_status(&fixture("pvesm_status_9.1.txt")).unwrap();
    assert_eq!(new, old);
    assert_eq!(new[0].avail_kib, 95_689_684);
}

#[test]
fn zfs_and_zpool_scripted_output() {
    assert_eq!(
        zfs::parse_names(&fixture("zfs_list_H_name.txt"))
            .unwrap()
            .len(),
        5
    );
    let g = zfs::parse_get(&fixture("zfs_get_H.txt")).unwrap();
    assert_eq!(
        (g[0].value.as_str(), g[0].source.as_str()),
        ("on", "inherited from rpool")
    );
    let p = zfs::parse_zpool_list(&fixture("zpool_list_Hp.txt")).unwrap();
    assert_eq!(
        (p[0].name.as_str(), p[0].health.as_str()),
        ("rpool", "ONLINE")
    );
}

/// Proxmox's own test fixtures (`../shared/proxmox/`, read at test time, never copied here):
/// every container and VM config file of pve-container's and qemu-server's test suites
/// parses, and where qemu-server's `parse-config-input/` has an expected result
/// (`parse-config-expected/`: the file as Proxmox writes it back after parsing), ours reads
/// the same main section, pending section and snapshots from both.
#[test]
fn proxmox_s_own_config_fixtures_parse() {
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/proxmox");
    if !base.is_dir() {
        eprintln!(
            "note: {} is absent; Proxmox's fixtures not checked",
            base.display()
        );
        return;
    }
    let mut files = Vec::new();
    let mut stack = vec![base.join("pve-container"), base.join("qemu-server")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "conf") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        if let Err(e) = conf::GuestConfig::parse_file(&text) {
            failures.push(format!("{}: {e}", f.display()));
        }
    }
    eprintln!(
        "{} of {} Proxmox config fixtures parse",
        files.len() - failures.len(),
        files.len()
    );
    assert!(files.len() > 100, "only {} fixtures found", files.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let input = base.join("qemu-server/parse-config-input");
    let expected = base.join("qemu-server/parse-config-expected");
    let mut compared = 0;
    for e in std::fs::read_dir(&expected).unwrap().flatten() {
        let name = e.file_name();
        let read = |d: &std::path::Path| {
            conf::GuestConfig::parse_file(&std::fs::read_to_string(d.join(&name)).unwrap()).unwrap()
        };
        let (mut a, b) = (read(&input), read(&expected));
        // Proxmox also drops a value its schema refuses (check_type: `numa: verify meee~ :)`
        // in cloudinit-snapshot.conf and verify-snapshot.conf); this parser reads sections and keys, not values, and
        // keeps it: the one difference allowed, each listed.
        let dropped = [
            ("cloudinit-snapshot.conf", "cloudinit", "numa"),
            ("verify-snapshot.conf", "snap", "numa"),
        ];
        for (file, snap, key) in dropped {
            if name.to_str() == Some(file) {
                if let Some(s) = a.snapshots.get_mut(snap) {
                    s.keys.remove(key);
                }
            }
        }
        assert_eq!(a.main, b.main, "{name:?}: main section");
        assert_eq!(a.pending, b.pending, "{name:?}: pending section");
        assert_eq!(a.snapshots, b.snapshots, "{name:?}: snapshots");
        compared += 1;
    }
    assert!(compared >= 4);
    // qemu-server QemuServer.pm parse_vm_config: unknown sections are skipped with a warning.
    let unknown = conf::GuestConfig::parse_file(
        &std::fs::read_to_string(input.join("unknown-sections.conf")).unwrap(),
    )
    .unwrap();
    assert!(
        unknown
            .notes
            .iter()
            .any(|n| n.contains("unknown section [:3] skipped")),
        "{:?}",
        unknown.notes
    );
}
