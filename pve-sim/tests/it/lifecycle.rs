//! A container and a VM through their whole lifecycle with plain commands, on the host the
//! repository's example configuration describes: the files Proxmox would write, the
//! simulator's bookkeeping, the audit log, the cost model and an injected fault.

use crate::support::Sim;
use serde_json::Value;

fn mutations(audit: &[Value]) -> usize {
    audit.iter().filter(|a| a["effect"] == "mutate").count()
}

#[test]
fn container_lifecycle() {
    let sim = Sim::example();
    // The example config's storages exist, with the template where the LXC config names it.
    let storages =
        phoenix_core::pve::pvesm::parse_status(sim.run("pvesm", &["status"]).ok()).unwrap();
    let names: Vec<&str> = storages.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"tank-lxc-disks") && names.contains(&"bulk-iso"),
        "{names:?}"
    );
    let tpl = sim.path("/bulk/iso/template/cache/ubuntu-24.04-standard_24.04-2_amd64.tar.zst");
    assert!(
        tpl.is_file(),
        "init --from-config places the templates the LXC config names"
    );
    let tpl = tpl.display().to_string();

    let before = sim.audit().len();
    sim.run(
        "pct",
        &[
            "create",
            "900",
            &tpl,
            "--hostname",
            "base",
            "--memory",
            "2048",
            "--cores",
            "2",
            "--storage",
            "tank-lxc-disks",
            "--rootfs",
            "tank-lxc-disks:16",
            "--net0",
            "name=eth0,bridge=vmbr0,ip=10.0.0.200/24,gw=10.0.0.1,hwaddr=52:54:00:AA:BB:CC",
            "--unprivileged",
            "1",
        ],
    )
    .ok();
    assert!(
        sim.read("/etc/pve/lxc/900.conf")
            .contains("rootfs: tank-lxc-disks:subvol-900-disk-0,size=16G\n")
    );
    assert!(
        sim.path("/etc/pve/nodes/pve/lxc/900.conf").is_file(),
        "the node directory holds the config, as on a real host"
    );
    sim.run("pct", &["start", "900"]).ok();
    assert_eq!(sim.state()["guests"]["900"]["running"], true);
    sim.run("pct", &["exec", "900", "--", "mkdir", "-p", "/opt/app"])
        .ok();
    sim.run("pct", &["stop", "900"]).ok();
    sim.run("pct", &["snapshot", "900", "final-form"]).ok();
    let conf = phoenix_core::pve::conf::GuestConfig::parse_file(&sim.read("/etc/pve/lxc/900.conf"))
        .unwrap();
    assert_eq!(conf.main.get("parent"), Some("final-form"));
    assert!(conf.snapshots["final-form"].get("snaptime").is_some());
    assert_eq!(
        sim.run("zfs", &["list", "-H", "-t", "snapshot", "-o", "name"])
            .ok(),
        "tank/lxc-disks/subvol-900-disk-0@final-form\n"
    );
    // Clone from the snapshot, then tear down.
    sim.run(
        "pct",
        &[
            "clone",
            "900",
            "901",
            "--snapname",
            "final-form",
            "--hostname",
            "app",
            "--storage",
            "tank-lxc-disks",
        ],
    )
    .ok();
    assert!(
        sim.path("/tank/lxc-disks/subvol-901-disk-0/opt/app")
            .is_dir(),
        "the clone has the snapshot's files"
    );
    sim.run("pct", &["destroy", "901"]).ok();
    sim.run("pct", &["delsnapshot", "900", "final-form"]).ok();
    sim.run("pct", &["destroy", "900"]).ok();
    assert!(!sim.path("/etc/pve/lxc/900.conf").exists());
    assert_eq!(
        sim.run("zfs", &["list", "-H", "-o", "name", "-r", "tank/lxc-disks"])
            .ok(),
        "tank/lxc-disks\n"
    );

    let audit: Vec<Value> = sim.audit().split_off(before);
    assert_eq!(mutations(&audit), 9, "{audit:#?}");
    for a in &audit {
        for k in [
            "seq", "clock", "tool", "argv", "effect", "exit", "refused", "fault", "secs",
        ] {
            assert!(a.get(k).is_some(), "audit line without {k}: {a}");
        }
    }
    assert_eq!(
        audit
            .iter()
            .map(|a| a["tool"].as_str().unwrap())
            .filter(|t| *t == "pct")
            .count(),
        9
    );
}

#[test]
fn vm_lifecycle() {
    let sim = Sim::example();
    sim.admin(&["config", "--vm-boot-secs", "5"]).ok();
    sim.run(
        "qm",
        &[
            "create",
            "9000",
            "--name",
            "tmpl",
            "--memory",
            "2048",
            "--net0",
            "virtio,bridge=vmbr0",
            "--agent",
            "1",
            "--scsihw",
            "virtio-scsi-pci",
            "--ipconfig0",
            "ip=dhcp",
        ],
    )
    .ok();
    let img = sim.path("/var/lib/pve-sim/images/noble-server-cloudimg-amd64.img");
    assert!(
        img.is_file(),
        "init --from-config provides the cloud image the VM config names"
    );
    sim.run(
        "qm",
        &["importdisk", "9000", img.to_str().unwrap(), "tank-vm-disks"],
    )
    .ok();
    sim.run(
        "qm",
        &[
            "set",
            "9000",
            "--scsi0",
            "tank-vm-disks:vm-9000-disk-0",
            "--ide2",
            "tank-vm-disks:cloudinit",
            "--boot",
            "order=scsi0",
        ],
    )
    .ok();
    sim.run("qm", &["resize", "9000", "scsi0", "32G"]).ok();
    sim.run("qm", &["template", "9000"]).ok();
    sim.run("qm", &["clone", "9000", "1001", "--name", "app", "--full"])
        .ok();
    sim.run(
        "qm",
        &[
            "set",
            "1001",
            "--cores",
            "4",
            "--memory",
            "8192",
            "--ipconfig0",
            "ip=10.0.0.111/24,gw=10.0.0.1",
        ],
    )
    .ok();
    sim.run("qm", &["start", "1001"]).ok();
    while sim.run("qm", &["agent", "1001", "ping"]).code != 0 {}
    let r = phoenix_core::pve::agent::parse_exec(
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
    assert!(r.success() && r.out_data == "status: done\n");
    sim.run("qm", &["snapshot", "1001", "post-features"]).ok();
    sim.run("qm", &["stop", "1001"]).ok();
    let conf =
        phoenix_core::pve::conf::parse_config_output(sim.run("qm", &["config", "1001"]).ok())
            .unwrap();
    assert_eq!(conf.get("cores"), Some("4"));
    assert_eq!(
        conf.prop("scsi0", Some("file")).unwrap().get("file"),
        Some("tank-vm-disks:vm-1001-disk-0")
    );
    assert_eq!(sim.state()["guests"]["1001"]["starts"], 1);
    sim.run("qm", &["delsnapshot", "1001", "post-features"])
        .ok();
    sim.run("qm", &["destroy", "1001"]).ok();
    sim.run("qm", &["destroy", "9000"]).ok();
    assert_eq!(
        sim.run("zfs", &["list", "-H", "-o", "name", "-r", "tank/vm-disks"])
            .ok(),
        "tank/vm-disks\n"
    );
    assert!(!sim.path("/etc/pve/qemu-server/1001.conf").exists());
}

#[test]
fn cost_accounting_and_the_clock() {
    let sim = Sim::new();
    let clock = |sim: &Sim| sim.state()["clock_ms"].as_u64().unwrap();
    let t0 = clock(&sim);
    sim.container(101, &[]).ok();
    let create = sim.audit().pop().unwrap();
    assert_eq!(create["secs"], 9.0, "pct create costs 9 s by default");
    assert_eq!(clock(&sim) - t0, 9000);
    sim.run("pct", &["status", "101"]).ok();
    assert_eq!(
        sim.audit().pop().unwrap()["secs"],
        0.01,
        "reads cost the read default"
    );
    sim.admin(&["config", "--cost", "pct.create=2.5", "--ct-boot-secs", "0"])
        .ok();
    sim.container(102, &[]).ok();
    assert_eq!(sim.audit().pop().unwrap()["secs"], 2.5);
    sim.run("pct", &["start", "102"]).ok();
    assert_eq!(
        sim.audit().pop().unwrap()["secs"],
        0.5,
        "start = 0.5 s plus a boot time of 0"
    );
    // A linked ZFS clone is cheap, a full clone scales with the volume.
    sim.run("pct", &["stop", "102"]).ok();
    sim.run("pct", &["template", "102"]).ok();
    sim.run("pct", &["clone", "102", "103"]).ok();
    assert_eq!(sim.audit().pop().unwrap()["secs"], 0.07);
    sim.run("pct", &["clone", "102", "104", "--full"]).ok();
    assert_eq!(
        sim.audit().pop().unwrap()["secs"],
        8.0 * 0.25,
        "8 GiB at 0.25 s/GiB"
    );
    let summary = sim.admin(&["audit", "--summary"]).ok().to_string();
    assert!(
        summary.starts_with("TOOL       CALLS  MUTATING  REFUSED  FAULTS  SIM-SECONDS\npct "),
        "{summary}"
    );
    assert!(summary.lines().last().unwrap().starts_with("total "));
    assert_eq!(
        sim.admin(&["config", "--cost", "pct.nothing=1"]).fails(2),
        "pve-sim: --cost: unknown operation `pct.nothing` (see `pve-sim --help`)\n"
    );
}

#[test]
fn injected_faults_fail_without_touching_the_host() {
    let sim = Sim::new();
    sim.admin(&[
        "fault",
        "add",
        "--tool",
        "pct",
        "--sub",
        "start",
        "--id",
        "101",
        "--nth",
        "2",
        "--message",
        "startup for container '101' failed",
    ])
    .ok();
    sim.container(101, &[]).ok();
    sim.run("pct", &["start", "101"]).ok();
    sim.run("pct", &["stop", "101"]).ok();
    assert_eq!(
        sim.run("pct", &["start", "101"]).fails(255),
        "startup for container '101' failed\n"
    );
    assert_eq!(
        sim.run("pct", &["status", "101"]).ok(),
        "status: stopped\n",
        "the failed call changed nothing"
    );
    let last_start = sim
        .audit()
        .into_iter()
        .rev()
        .find(|a| a["argv"][0] == "start")
        .unwrap();
    assert_eq!(
        (last_start["fault"].as_bool(), last_start["exit"].as_i64()),
        (Some(true), Some(255))
    );
    sim.run("pct", &["start", "101"]).ok();
    // `--always` keeps failing from the nth call on; a custom exit status is honoured.
    sim.admin(&[
        "fault",
        "add",
        "--tool",
        "qm",
        "--sub",
        "guest exec",
        "--always",
        "--exit",
        "1",
        "--message",
        "QEMU guest agent is not running",
    ])
    .ok();
    for _ in 0..2 {
        assert_eq!(
            sim.run("qm", &["guest", "exec", "1001", "--", "true"])
                .fails(1),
            "QEMU guest agent is not running\n"
        );
    }
    sim.admin(&["fault", "clear"]).ok();
    assert_eq!(
        sim.run("qm", &["guest", "exec", "1001", "--", "true"])
            .fails(255),
        "Configuration file 'nodes/pve/qemu-server/1001.conf' does not exist\n"
    );
}

#[test]
fn lenient_mode_lets_unknown_options_through_and_says_so() {
    let sim = Sim::new();
    sim.run("qm", &["create", "100"]).ok();
    assert_eq!(
        sim.run("qm", &["set", "100", "--firewall", "0", "--cores", "2"])
            .fails(255),
        "Unknown option: firewall\n400 unable to parse option\nqm set <vmid> [OPTIONS]\n"
    );
    assert_eq!(sim.audit().pop().unwrap()["refused"], true);
    sim.run_env(
        "qm",
        &["set", "100", "--firewall", "0", "--cores", "2"],
        &[("PVE_SIM_STRICT", "0")],
    )
    .ok();
    let a = sim.audit().pop().unwrap();
    assert_eq!(a["lenient"][0], "unknown option --firewall ignored");
    assert!(
        sim.read("/etc/pve/qemu-server/100.conf")
            .contains("cores: 2\n")
    );
}

#[test]
fn operations_on_one_storage_hold_its_lock_in_turn() {
    let sim = Sim::new();
    sim.container(101, &[]).ok();
    sim.container(102, &[]).ok();
    // 8 GiB full clones at 0.25 s/GiB, slept at 1/40 of real time: 50 ms each, in parallel.
    let env = [("PVE_SIM_TIME_SCALE", "0.025")];
    std::thread::scope(|s| {
        let a = s.spawn(|| sim.run_env("pct", &["clone", "101", "201", "--full"], &env));
        let b = s.spawn(|| sim.run_env("pct", &["clone", "102", "202", "--full"], &env));
        a.join().unwrap().ok();
        b.join().unwrap().ok();
    });
    let holds: Vec<Value> = sim
        .read("/var/lib/pve-sim/storage-locks.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(holds.len(), 2, "{holds:?}");
    let span = |h: &Value| {
        (
            h["start_ns"].as_u64().unwrap(),
            h["end_ns"].as_u64().unwrap(),
        )
    };
    let (a, b) = (span(&holds[0]), span(&holds[1]));
    assert!(holds.iter().all(|h| h["storage"] == "local-zfs"));
    assert!(
        a.1 <= b.0 || b.1 <= a.0,
        "the two clones held local-zfs's lock at the same time: {holds:?}"
    );
}

/// Waits (bounded) until `path` on the simulated host contains `needle`.
fn wait_for(sim: &Sim, path: &str, needle: &str) {
    for _ in 0..2000 {
        if std::fs::read_to_string(sim.path(path)).is_ok_and(|t| t.contains(needle)) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("{path} never contained {needle:?}");
}

/// pve-container src/PVE/API2/LXC.pm `clone_vm`: `set_lock($vmid, 'disk')` on the source and
/// `lock: create` on the target until the copy is done; meanwhile a second clone and a start
/// of the source die in `check_lock` with "CT is locked (disk)" (pve-guest-common
/// AbstractConfig.pm `check_lock`).
#[test]
fn a_container_clone_locks_its_source_until_the_copy_is_done() {
    let sim = Sim::new();
    sim.container(101, &[]).ok();
    // 8 GiB at 0.25 s/GiB = 2 s simulated, slept at half speed: 1 s of wall time.
    let env = [("PVE_SIM_TIME_SCALE", "0.5")];
    std::thread::scope(|s| {
        let first = s.spawn(|| sim.run_env("pct", &["clone", "101", "201", "--full"], &env));
        wait_for(&sim, "/etc/pve/lxc/101.conf", "lock: disk");
        assert!(sim.read("/etc/pve/lxc/201.conf").contains("lock: create"));
        let second = sim.run("pct", &["clone", "101", "202", "--full"]);
        assert!(
            second.fails(255).contains("CT is locked (disk)"),
            "{second:?}"
        );
        assert!(
            sim.run("pct", &["start", "101"])
                .fails(255)
                .contains("CT is locked (disk)")
        );
        first.join().unwrap().ok();
    });
    assert!(!sim.read("/etc/pve/lxc/101.conf").contains("lock:"));
    assert!(!sim.read("/etc/pve/lxc/201.conf").contains("lock:"));
    sim.run("pct", &["clone", "101", "202", "--full"]).ok();
}

/// qemu-server src/PVE/API2/Qemu.pm `clone_vm`: a stopped source's config flock is held
/// shared for the whole copy (sibling clones of a template run together), the new VM says
/// `lock: clone`, and a command that needs the source's flock exclusively fails after its
/// wait with pve-common's `can't lock file … - got timeout`.
#[test]
fn a_vm_clone_holds_its_source_shared() {
    let sim = Sim::example();
    sim.run(
        "qm",
        &[
            "create",
            "9000",
            "--name",
            "tmpl",
            "--scsi0",
            "tank-vm-disks:8",
        ],
    )
    .ok();
    let env = [("PVE_SIM_TIME_SCALE", "0.25")];
    std::thread::scope(|s| {
        let first = s.spawn(|| sim.run_env("qm", &["clone", "9000", "1001", "--full"], &env));
        wait_for(&sim, "/etc/pve/qemu-server/1001.conf", "lock: clone");
        sim.run("qm", &["clone", "9000", "1002", "--full"]).ok();
        let set = sim.run("qm", &["set", "9000", "--memory", "4096"]);
        assert!(
            set.fails(255)
                .contains("can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout"),
            "{set:?}"
        );
        first.join().unwrap().ok();
    });
    assert!(!sim.read("/etc/pve/qemu-server/1001.conf").contains("lock:"));
    sim.run("qm", &["set", "9000", "--memory", "4096"]).ok();
}
