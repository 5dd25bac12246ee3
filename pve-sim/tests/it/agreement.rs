//! phoenix-core's Proxmox parsers read the simulator's output exactly as they read real
//! output: each case puts the simulator in the state a hand-written real-output fixture
//! (phoenix-core/tests/data/pve) shows and checks that both parse to the same thing.

use crate::support::{Sim, repo};
use phoenix_core::pve::{agent, conf, pvesm, snapshots, status, zfs};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo().join("phoenix-core/tests/data/pve").join(name)).unwrap()
}

#[test]
fn pct_config_and_status() {
    let sim = Sim::new();
    let tpl = sim.template();
    sim.run(
        "pct",
        &[
            "create",
            "101",
            &tpl,
            "--hostname",
            "web",
            "--cores",
            "2",
            "--memory",
            "1024",
            "--features",
            "nesting=1",
            "--nameserver",
            "8.8.8.8",
            "--rootfs",
            "local-zfs:16",
            "--description",
            "web server",
            "--net0",
            "name=eth0,bridge=vmbr0,gw=10.0.0.1,hwaddr=52:54:00:AA:BB:CC,ip=10.0.0.200/24",
        ],
    )
    .ok();
    let file = sim.read("/etc/pve/lxc/101.conf");
    std::fs::write(
        sim.path("/etc/pve/lxc/101.conf"),
        format!("{file}lxc.apparmor.profile: unconfined\n"),
    )
    .unwrap();
    let real = conf::parse_config_output(&fixture("pct_config.txt")).unwrap();
    let simulated = conf::parse_config_output(sim.run("pct", &["config", "101"]).ok()).unwrap();
    assert_eq!(simulated, real);
    sim.run("pct", &["start", "101"]).ok();
    assert_eq!(
        status::parse_status(sim.run("pct", &["status", "101"]).ok()).unwrap(),
        status::parse_status(&fixture("pct_status.txt")).unwrap()
    );
}

#[test]
fn lxc_config_files() {
    let sim = Sim::new();
    let tpl = sim.template();
    sim.run(
        "pct",
        &[
            "create",
            "101",
            &tpl,
            "--hostname",
            "web",
            "--cores",
            "2",
            "--memory",
            "1024",
            "--nameserver",
            "8.8.8.8",
            "--rootfs",
            "local-zfs:16",
            "--description",
            "web server",
            "--net0",
            "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:5E:2A:01,ip=dhcp",
        ],
    )
    .ok();
    let file = sim.read("/etc/pve/lxc/101.conf");
    std::fs::write(
        sim.path("/etc/pve/lxc/101.conf"),
        format!("{file}lxc.apparmor.profile: unconfined\nlxc.cgroup2.devices.allow: c 195:* rwm\n"),
    )
    .unwrap();
    sim.run("pct", &["snapshot", "101", "final-form"]).ok();
    sim.run("pct", &["start", "101"]).ok();
    sim.run(
        "pct",
        &[
            "set",
            "101",
            "--memory",
            "2048",
            "--delete",
            "nameserver",
            "--ostype",
            "debian",
        ],
    )
    .ok();
    let real = conf::GuestConfig::parse_file(&fixture("lxc_101.conf")).unwrap();
    let simulated = conf::GuestConfig::parse_file(&sim.read("/etc/pve/lxc/101.conf")).unwrap();
    assert_eq!(
        simulated.main.get("description"),
        real.main.get("description")
    );
    assert_eq!(simulated.main.lxc, real.main.lxc);
    assert_eq!(simulated.main.get("parent"), real.main.get("parent"));
    assert_eq!(
        simulated.snapshots.keys().collect::<Vec<_>>(),
        real.snapshots.keys().collect::<Vec<_>>()
    );
    // memory applies at once on a running CT; the deletion of a non-hot key waits.
    assert_eq!(
        simulated.effective().get("memory"),
        real.effective().get("memory")
    );
    assert!(
        simulated.pending_deletes().is_empty()
            || simulated.pending_deletes() == real.pending_deletes()
    );
    assert_eq!(simulated.effective().get("nameserver"), None);
}

#[test]
fn listsnapshot_trees() {
    let sim = Sim::new();
    sim.container(101, &[]).ok();
    sim.run("pct", &["snapshot", "101", "pre-configured"]).ok();
    sim.run(
        "pct",
        &[
            "snapshot",
            "101",
            "final-form",
            "--description",
            "before templating",
        ],
    )
    .ok();
    let strip = |e: Vec<snapshots::SnapshotEntry>| {
        e.into_iter()
            .map(|x| (x.name, x.parent, x.time.is_some(), x.description))
            .collect::<Vec<_>>()
    };
    let real = strip(snapshots::parse_listsnapshot(&fixture("pct_listsnapshot.txt")).unwrap());
    let simulated = strip(
        snapshots::parse_listsnapshot(sim.run("pct", &["listsnapshot", "101"]).ok()).unwrap(),
    );
    assert_eq!(simulated, real);
}

#[test]
fn qm_config_status_and_guest_exec() {
    let sim = Sim::new();
    sim.admin(&["config", "--vm-boot-secs", "0"]).ok();
    sim.run(
        "qm",
        &[
            "create",
            "1001",
            "--name",
            "portainer",
            "--memory",
            "8192",
            "--cores",
            "4",
            "--agent",
            "1",
            "--ciuser",
            "ubuntu",
            "--cipassword",
            "x",
            "--ipconfig0",
            "ip=10.0.0.111/24,gw=10.0.0.1",
            "--nameserver",
            "10.0.0.13",
            "--net0",
            "virtio=BC:24:11:2A:5B:9C,bridge=vmbr0,firewall=1",
            "--onboot",
            "1",
            "--scsi0",
            "local-zfs:32",
            "--ide2",
            "local-zfs:cloudinit",
            "--scsihw",
            "virtio-scsi-pci",
            "--serial0",
            "socket",
            "--startup",
            "order=4,up=2",
        ],
    )
    .ok();
    let real = conf::parse_config_output(&fixture("qm_config.txt")).unwrap();
    let simulated = conf::parse_config_output(sim.run("qm", &["config", "1001"]).ok()).unwrap();
    assert_eq!(
        simulated.keys.keys().collect::<Vec<_>>(),
        real.keys.keys().collect::<Vec<_>>()
    );
    for k in [
        "agent",
        "boot",
        "cipassword",
        "ciuser",
        "cores",
        "ide2",
        "ipconfig0",
        "memory",
        "name",
        "nameserver",
        "net0",
        "onboot",
        "scsi0",
        "scsihw",
        "serial0",
        "startup",
    ] {
        assert_eq!(simulated.get(k), real.get(k), "{k}");
    }
    let real_status = status::parse_verbose(&fixture("qm_status_verbose.txt")).unwrap();
    let sim_status =
        status::parse_verbose(sim.run("qm", &["status", "1001", "--verbose"]).ok()).unwrap();
    for k in [
        "cpus",
        "maxdisk",
        "maxmem",
        "name",
        "qmpstatus",
        "status",
        "vmid",
    ] {
        assert_eq!(sim_status.get(k), real_status.get(k), "{k}");
    }
    sim.run("qm", &["start", "1001"]).ok();
    let ok = agent::parse_exec(
        sim.run(
            "qm",
            &[
                "guest",
                "exec",
                "1001",
                "--",
                "/bin/bash",
                "-c",
                "cloud-init status --wait",
            ],
        )
        .ok(),
    )
    .unwrap();
    assert_eq!(
        ok,
        agent::parse_exec(&fixture("qm_guest_exec_ok.json")).unwrap()
    );
    let fail = agent::parse_exec(
        sim.run(
            "qm",
            &[
                "guest",
                "exec",
                "1001",
                "--",
                "/bin/bash",
                "-c",
                "cat /tmp/phoenix_feature_docker_exit_code",
            ],
        )
        .ok(),
    )
    .unwrap();
    assert_eq!(
        fail,
        agent::parse_exec(&fixture("qm_guest_exec_fail.json")).unwrap()
    );
    // Non-ASCII output arrives encoded twice, as qm prints it; the parser reads it back.
    sim.admin(&["rule", "add", "--match", "*greet*", "--stdout", "Grüße ✓\n"])
        .ok();
    let raw = sim
        .run("qm", &["guest", "exec", "1001", "--", "greet"])
        .ok()
        .to_string();
    assert!(raw.contains("Gr\u{c3}\u{bc}"), "printed as qm does: {raw}");
    let greet = agent::parse_exec(&raw).unwrap();
    assert_eq!(greet.out_data, "Grüße ✓\n");
    sim.admin(&["rule", "add", "--match", "*slow*", "--secs", "100"])
        .ok();
    let t =
        agent::parse_exec(sim.run("qm", &["guest", "exec", "1001", "--", "slow"]).ok()).unwrap();
    let real_t = agent::parse_exec(&fixture("qm_guest_exec_timeout.json")).unwrap();
    assert_eq!(
        (t.running(), t.pid.is_some()),
        (real_t.running(), real_t.pid.is_some())
    );
}

#[test]
fn pvesm_status_tables() {
    let sim = Sim::new();
    sim.run(
        "pvesm",
        &[
            "add",
            "nfs",
            "nfs-bak",
            "--server",
            "10.0.0.5",
            "--export",
            "/srv/bak",
            "--content",
            "backup",
            "--disable",
            "1",
        ],
    )
    .ok();
    let real = pvesm::parse_status(&fixture("pvesm_status.txt")).unwrap();
    let simulated = pvesm::parse_status(sim.run("pvesm", &["status"]).ok()).unwrap();
    let shape = |v: &[pvesm::StorageStatus]| {
        v.iter()
            .map(|s| {
                (
                    s.name.clone(),
                    s.kind.clone(),
                    s.status.clone(),
                    s.percent.is_some(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(&simulated), shape(&real));
    let disabled = simulated.iter().find(|s| s.name == "nfs-bak").unwrap();
    assert_eq!(
        (disabled.total_kib, disabled.used_kib, disabled.avail_kib),
        (0, 0, 0)
    );
}

#[test]
fn zfs_and_zpool_scripted_forms() {
    let sim = Sim::new();
    assert_eq!(
        zfs::parse_names(sim.run("zfs", &["list", "-H", "-o", "name"]).ok()).unwrap(),
        zfs::parse_names(&fixture("zfs_list_H_name.txt")).unwrap()
    );
    assert_eq!(
        zfs::parse_get(
            sim.run(
                "zfs",
                &[
                    "get",
                    "-H",
                    "-o",
                    "name,property,value,source",
                    "compression,mountpoint",
                    "rpool/data"
                ]
            )
            .ok()
        )
        .unwrap(),
        zfs::parse_get(&fixture("zfs_get_H.txt")).unwrap()
    );
    let real = zfs::parse_zpool_list(&fixture("zpool_list_Hp.txt")).unwrap();
    let simulated = zfs::parse_zpool_list(
        sim.run(
            "zpool",
            &["list", "-H", "-p", "-o", "name,size,alloc,free,health"],
        )
        .ok(),
    )
    .unwrap();
    assert_eq!(
        simulated
            .iter()
            .map(|p| (&p.name, &p.health))
            .collect::<Vec<_>>(),
        real.iter()
            .map(|p| (&p.name, &p.health))
            .collect::<Vec<_>>()
    );
    assert!(simulated.iter().all(|p| p.size == p.alloc + p.free));
}
