//! `pct` against the simulator: output formats byte for byte, and every refusal the LXC spec
//! lists (../shared/spec/lxc-manager.md §6.2) with Proxmox's text.

use crate::support::Sim;

#[test]
fn create_writes_the_config_and_config_prints_it_canonically() {
    let sim = Sim::new();
    let out = sim.container(
        101,
        &[
            "--cores",
            "2",
            "--nameserver",
            "8.8.8.8",
            "--features",
            "nesting=1",
            "--description",
            "web server",
        ],
    );
    assert!(
        out.ok().starts_with("extracting archive '"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Detected container architecture: amd64\n")
    );
    let conf = sim.read("/etc/pve/lxc/101.conf");
    assert_eq!(
        conf,
        "#web server\narch: amd64\ncores: 2\nfeatures: nesting=1\nhostname: web\nmemory: 1024\nnameserver: 8.8.8.8\nnet0: name=eth0,bridge=vmbr0,hwaddr=52:54:00:AA:BB:CC,ip=dhcp,type=veth\nostype: ubuntu\nrootfs: local-zfs:subvol-101-disk-0,size=8G\nswap: 512\nunprivileged: 1\n"
    );
    // A raw line appended by a manager comes back after the keys.
    std::fs::write(
        sim.path("/etc/pve/lxc/101.conf"),
        format!("{conf}lxc.apparmor.profile = unconfined\n"),
    )
    .unwrap();
    assert_eq!(
        sim.run("pct", &["config", "101"]).ok(),
        "arch: amd64\ncores: 2\ndescription: web server%0A\nfeatures: nesting=1\nhostname: web\nmemory: 1024\nnameserver: 8.8.8.8\nnet0: name=eth0,bridge=vmbr0,hwaddr=52:54:00:AA:BB:CC,ip=dhcp,type=veth\nostype: ubuntu\nrootfs: local-zfs:subvol-101-disk-0,size=8G\nswap: 512\nunprivileged: 1\nlxc.apparmor.profile: unconfined\n"
    );
    assert!(
        sim.path("/rpool/data/subvol-101-disk-0/etc/os-release")
            .is_file(),
        "the template was unpacked into the dataset"
    );
    // Without hwaddr, a Proxmox MAC is generated.
    let tpl = sim.template();
    sim.run(
        "pct",
        &[
            "create",
            "102",
            &tpl,
            "--rootfs",
            "local-zfs:4",
            "--net0",
            "name=eth0,bridge=vmbr0,ip=dhcp",
        ],
    )
    .ok();
    let net0 = sim
        .run("pct", &["config", "102"])
        .ok()
        .lines()
        .find(|l| l.starts_with("net0:"))
        .unwrap()
        .to_string();
    assert!(
        net0.starts_with("net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:"),
        "{net0}"
    );
}

#[test]
fn create_refusals() {
    let sim = Sim::new();
    sim.container(101, &[]).ok();
    assert_eq!(
        sim.container(101, &[]).fails(255),
        "CT 101 already exists on node 'pve'\n"
    );
    let tpl = sim.template();
    assert_eq!(
        sim.run("pct", &["create", "103", &tpl, "--rootfs", "local:4"])
            .fails(255),
        "400 Parameter verification failed.\nstorage: storage 'local' does not support container directories\npct create <vmid> <ostemplate> [OPTIONS]\n"
    );
    assert_eq!(
        sim.run(
            "pct",
            &[
                "create",
                "103",
                "/nonexistent.tar.zst",
                "--rootfs",
                "local-zfs:4"
            ]
        )
        .fails(255),
        "unable to create CT 103 - can't find file '/nonexistent.tar.zst'\n"
    );
    assert_eq!(
        sim.run("pct", &["create", "99", &tpl]).fails(255),
        "400 Parameter verification failed.\nvmid: invalid format - value does not look like a valid VM ID\n\npct create <vmid> <ostemplate> [OPTIONS]\n"
    );
    assert_eq!(
        sim.run("pct", &["create", "103", &tpl, "--memory", "8"])
            .fails(255),
        "400 Parameter verification failed.\nmemory: value must have a minimum value of 16\npct create <vmid> <ostemplate> [OPTIONS]\n"
    );
    assert_eq!(
        sim.run("pct", &["create", "103", &tpl, "--bogus", "1"])
            .fails(255),
        "Unknown option: bogus\n400 unable to parse option\npct create <vmid> <ostemplate> [OPTIONS]\n"
    );
    assert!(
        !sim.path("/etc/pve/lxc/103.conf").exists(),
        "nothing was created by a refused command"
    );
}

#[test]
fn status_start_stop_and_their_refusals() {
    let sim = Sim::new();
    assert_eq!(
        sim.run("pct", &["status", "101"]).fails(255),
        "Configuration file 'nodes/pve/lxc/101.conf' does not exist\n"
    );
    sim.container(101, &[]).ok();
    assert_eq!(sim.run("pct", &["status", "101"]).ok(), "status: stopped\n");
    assert_eq!(
        sim.run("pct", &["stop", "101"]).fails(255),
        "CT 101 not running\n"
    );
    sim.run("pct", &["start", "101"]).ok();
    assert_eq!(sim.run("pct", &["status", "101"]).ok(), "status: running\n");
    assert_eq!(
        sim.run("pct", &["start", "101"]).fails(255),
        "CT 101 already running\n"
    );
    let verbose = sim.run("pct", &["status", "101", "--verbose"]);
    assert!(
        verbose.ok().contains("maxmem: 1073741824\n")
            && verbose.stdout.contains("name: web\n")
            && verbose.stdout.contains("type: lxc\n")
    );
    assert_eq!(
        sim.run("pct", &["destroy", "101"]).fails(255),
        "unable to destroy CT 101 - container is running\n"
    );
    sim.run("pct", &["shutdown", "101"]).ok();
    assert_eq!(
        sim.run("pct", &["reboot", "101"]).fails(255),
        "VM 101 not running\n"
    );
    assert_eq!(
        sim.run("pct", &["restart", "101"])
            .fails(255)
            .lines()
            .next(),
        Some("ERROR: unknown command 'pct restart'")
    );
}

/// pve-container Config.pm `is_valid_lxc_conf_key`: a raw key Proxmox does not keep never
/// reaches LXC; the strict simulator refuses the start, so a product writing one is caught.
#[test]
fn raw_lxc_keys_proxmox_drops_are_refused_at_start() {
    let sim = Sim::new();
    sim.container(101, &[]).ok();
    let conf = sim.read("/etc/pve/lxc/101.conf");
    std::fs::write(
        sim.path("/etc/pve/lxc/101.conf"),
        format!(
            "{conf}lxc.cgroup2.devices.allow: c 195:* rwm\nlxc.hook.autodev.extra: /bin/true\n"
        ),
    )
    .unwrap();
    let out = sim.run("pct", &["start", "101"]);
    assert!(
        out.stderr
            .contains("vm 101 - unable to parse config: lxc.hook.autodev.extra: /bin/true"),
        "{}",
        out.stderr
    );
    assert_ne!(out.code, 0);
}

#[test]
fn apparmor_override_warning_on_start() {
    let sim = Sim::new();
    sim.container(101, &["--features", "nesting=1"]).ok();
    let conf = sim.read("/etc/pve/lxc/101.conf");
    std::fs::write(
        sim.path("/etc/pve/lxc/101.conf"),
        format!("{conf}lxc.apparmor.profile: unconfined\n"),
    )
    .unwrap();
    assert_eq!(
        sim.run("pct", &["start", "101"]).ok(),
        "explicitly configured lxc.apparmor.profile overrides the following settings: features:nesting\n"
    );
}

#[test]
fn set_applies_and_refuses_like_proxmox() {
    let sim = Sim::new();
    sim.container(101, &[]).ok();
    sim.run(
        "pct",
        &[
            "set",
            "101",
            "--memory",
            "2048",
            "--cores",
            "2",
            "--onboot",
            "1",
            "--startup",
            "order=2,up=5,down=5",
        ],
    )
    .ok();
    let c = sim.run("pct", &["config", "101"]).ok().to_string();
    assert!(
        c.contains("memory: 2048\n")
            && c.contains("onboot: 1\n")
            && c.contains("startup: order=2,up=5,down=5\n"),
        "{c}"
    );
    assert_eq!(
        sim.run("pct", &["set", "101", "--unprivileged", "0"])
            .fails(255),
        "unable to modify read-only option: 'unprivileged'\n"
    );
    assert_eq!(
        sim.run("pct", &["set", "101", "--startup", "order=,up=,down="])
            .fails(255),
        "400 Parameter verification failed.\nstartup: invalid format - unable to parse startup options\n\npct set <vmid> [OPTIONS]\n"
    );
    assert_eq!(
        sim.run("pct", &["set", "101"]).fails(255),
        "no options specified\n"
    );
    let del = sim.run("pct", &["set", "101", "--delete", "nameserver"]);
    assert_eq!(
        (del.code, del.stderr.as_str()),
        (
            0,
            "cannot delete 'nameserver' - not set in current configuration!\n"
        )
    );
    // Running: hot-pluggable keys apply, others wait in [pve:pending].
    sim.run("pct", &["start", "101"]).ok();
    sim.run(
        "pct",
        &["set", "101", "--memory", "4096", "--ostype", "debian"],
    )
    .ok();
    let file = sim.read("/etc/pve/lxc/101.conf");
    assert!(
        file.contains("memory: 4096\n") && file.contains("\n[pve:pending]\nostype: debian\n"),
        "{file}"
    );
    assert_eq!(
        sim.run("pct", &["pending", "101"])
            .ok()
            .lines()
            .filter(|l| l.contains("ostype"))
            .collect::<Vec<_>>(),
        ["cur ostype: ubuntu", "new ostype: debian"]
    );
    sim.run("pct", &["reboot", "101"]).ok();
    assert!(
        !sim.read("/etc/pve/lxc/101.conf").contains("[pve:pending]"),
        "a reboot applies pending changes"
    );
}

#[test]
fn mount_points_and_devices() {
    let sim = Sim::init(&["--gpus", "1"]);
    sim.container(101, &[]).ok();
    std::fs::create_dir_all(sim.path("/mnt/pve/shared/ssl")).unwrap();
    sim.run(
        "pct",
        &[
            "set",
            "101",
            "--mp0",
            "/mnt/pve/shared/ssl,mp=/etc/nginx/ssl",
            "--mp1",
            "local-zfs:2,mp=/data",
            "--dev0",
            "/dev/nvidia0,mode=0666",
        ],
    )
    .ok();
    let c = sim.run("pct", &["config", "101"]).ok().to_string();
    assert!(
        c.contains("mp0: /mnt/pve/shared/ssl,mp=/etc/nginx/ssl\n"),
        "{c}"
    );
    assert!(
        c.contains("mp1: local-zfs:subvol-101-disk-1,mp=/data,size=2G\n"),
        "{c}"
    );
    assert!(c.contains("dev0: /dev/nvidia0,mode=0666\n"), "{c}");
    assert_eq!(
        sim.run("pct", &["set", "101", "--dev1", "/dev/nvidia7"])
            .fails(255),
        "Device '/dev/nvidia7' does not exist\n"
    );
    // The bind mount is visible inside the running container.
    sim.run("pct", &["start", "101"]).ok();
    sim.run(
        "pct",
        &["exec", "101", "--", "touch", "/etc/nginx/ssl/cert.pem"],
    )
    .ok();
    assert!(sim.path("/mnt/pve/shared/ssl/cert.pem").is_file());
    // Bind mounts block snapshots and clones, as the spec records.
    sim.run("pct", &["stop", "101"]).ok();
    assert_eq!(
        sim.run("pct", &["snapshot", "101", "s1"]).fails(255),
        "snapshot feature is not available\n"
    );
    assert_eq!(
        sim.run("pct", &["clone", "101", "102"]).fails(255),
        "unable to clone mountpoint 'mp0' (type bind)\n"
    );
    // A missing bind source fails the start.
    std::fs::remove_dir_all(sim.path("/mnt/pve/shared/ssl")).unwrap();
    assert!(
        sim.run("pct", &["start", "101"])
            .fails(255)
            .contains("startup for container '101' failed")
    );
}

#[test]
fn exec_push_pull_act_on_the_guest_tree() {
    let sim = Sim::new();
    sim.container(101, &[]).ok();
    assert_eq!(
        sim.run("pct", &["exec", "101", "--", "test", "-d", "/etc"])
            .fails(255),
        "container '101' not running!\n"
    );
    let src = sim.path("/root/setup.sh");
    std::fs::create_dir_all(src.parent().unwrap()).unwrap();
    std::fs::write(&src, "#!/bin/sh\necho hi\n").unwrap();
    assert_eq!(
        sim.run(
            "pct",
            &["push", "101", src.to_str().unwrap(), "/tmp/setup.sh"]
        )
        .fails(255),
        "can only push files to a running CT\n"
    );
    sim.run("pct", &["start", "101"]).ok();
    sim.run("pct", &["exec", "101", "--", "mkdir", "-p", "/opt/phoenix"])
        .ok();
    assert_eq!(
        sim.run("pct", &["exec", "101", "--", "test", "-d", "/opt/phoenix"])
            .code,
        0
    );
    assert_eq!(
        sim.run(
            "pct",
            &["exec", "101", "--", "test", "-f", "/opt/phoenix/x"]
        )
        .code,
        1
    );
    sim.run(
        "pct",
        &[
            "push",
            "101",
            src.to_str().unwrap(),
            "/opt/phoenix/setup.sh",
            "--perms",
            "755",
        ],
    )
    .ok();
    assert_eq!(
        sim.run(
            "pct",
            &["exec", "101", "--", "test", "-x", "/opt/phoenix/setup.sh"]
        )
        .code,
        0
    );
    let missing_dir = sim.run(
        "pct",
        &["push", "101", src.to_str().unwrap(), "/nope/setup.sh"],
    );
    assert_eq!(
        (missing_dir.code, missing_dir.stderr.as_str()),
        (
            0,
            "failed to create file: /nope/setup.sh: No such file or directory\n"
        )
    );
    let dest = sim.path("/root/pulled.sh");
    sim.run(
        "pct",
        &[
            "pull",
            "101",
            "/opt/phoenix/setup.sh",
            dest.to_str().unwrap(),
        ],
    )
    .ok();
    assert_eq!(
        std::fs::read_to_string(dest).unwrap(),
        "#!/bin/sh\necho hi\n"
    );
    let cat = sim.run(
        "pct",
        &[
            "exec",
            "101",
            "--",
            "sh",
            "-c",
            "cat /opt/phoenix/setup.sh | grep -q hi && echo found",
        ],
    );
    assert_eq!(cat.ok(), "found\n");
    let failing = sim.run("pct", &["exec", "101", "--", "cat", "/nope"]);
    assert_eq!(
        (failing.code, failing.stderr.as_str()),
        (1, "cat: /nope: No such file or directory\n")
    );
    sim.run("pct", &["exec", "101", "--", "rm", "-rf", "/opt/phoenix"])
        .ok();
    assert!(
        !sim.path("/rpool/data/subvol-101-disk-0/opt/phoenix")
            .exists()
    );
}

#[test]
fn scripted_guest_commands() {
    let sim = Sim::new();
    sim.admin(&[
        "rule",
        "add",
        "--guest",
        "101",
        "--match",
        "nvidia-smi*",
        "--stdout",
        "580.76.05\n",
    ])
    .ok();
    sim.admin(&[
        "rule",
        "add",
        "--match",
        "*install_docker*",
        "--exit",
        "100",
        "--stderr",
        "E: broken packages\n",
        "--secs",
        "120",
    ])
    .ok();
    sim.container(101, &[]).ok();
    sim.run("pct", &["start", "101"]).ok();
    assert_eq!(
        sim.run(
            "pct",
            &[
                "exec",
                "101",
                "--",
                "nvidia-smi",
                "--query-gpu=driver_version",
                "--format=csv,noheader"
            ]
        )
        .ok(),
        "580.76.05\n"
    );
    let i = sim.run(
        "pct",
        &["exec", "101", "--", "/tmp/phoenix/install_docker.sh", "101"],
    );
    assert_eq!((i.code, i.stderr.as_str()), (100, "E: broken packages\n"));
    let last = sim.audit().pop().unwrap();
    assert!(
        last["secs"].as_f64().unwrap() >= 120.0,
        "the rule's duration is charged: {last}"
    );
    assert_eq!(
        sim.run(
            "pct",
            &["exec", "101", "--", "apt-get", "install", "-y", "curl"]
        )
        .code,
        0,
        "unscripted commands succeed"
    );
}

#[test]
fn snapshots_tree_rollback_and_delete() {
    let sim = Sim::new();
    sim.container(101, &[]).ok();
    assert_eq!(
        sim.run("pct", &["listsnapshot", "101"]).ok(),
        format!(
            "`-> current{} {:23} You are here!\n",
            " ".repeat(27 - 7),
            ""
        )
    );
    assert_eq!(
        sim.run("pct", &["snapshot", "101", "current"]).fails(255),
        "unable to use snapshot name 'current' (reserved name)\n"
    );
    assert_eq!(
        sim.run("pct", &["snapshot", "101", "1bad"]).fails(255),
        "400 Parameter verification failed.\nsnapname: invalid format - invalid configuration ID '1bad'\n\npct snapshot <vmid> <snapname> [OPTIONS]\n"
    );
    sim.run("pct", &["snapshot", "101", "pre-configured"]).ok();
    assert_eq!(
        sim.run("pct", &["snapshot", "101", "pre-configured"])
            .fails(255),
        "snapshot name 'pre-configured' already used\n"
    );
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
    let tree = sim.run("pct", &["listsnapshot", "101"]).ok().to_string();
    let lines: Vec<&str> = tree.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines[0].starts_with("`-> pre-configured              2026-01-01 00:00:"),
        "{tree}"
    );
    assert!(lines[0].ends_with("     no-description"));
    assert!(
        lines[1].starts_with(" `-> final-form                 2026-01-01 00:00:")
            && lines[1].ends_with("     before templating"),
        "{tree}"
    );
    assert_eq!(
        lines[2],
        format!(
            "  `-> current{} {:23} You are here!",
            " ".repeat(30 - 5 - 7),
            ""
        )
    );
    let file = sim.read("/etc/pve/lxc/101.conf");
    assert!(
        file.contains("parent: final-form\n")
            && file.contains("\n[final-form]\n#before templating\n")
            && file.contains("snaptime: "),
        "{file}"
    );
    assert_eq!(
        sim.run("pct", &["rollback", "101", "pre-configured"])
            .fails(255),
        "can't rollback, 'pre-configured' is not most recent snapshot on 'local-zfs:subvol-101-disk-0'\n"
    );
    // Files written after a snapshot disappear on rollback.
    sim.run("pct", &["start", "101"]).ok();
    sim.run("pct", &["exec", "101", "--", "touch", "/after"])
        .ok();
    sim.run("pct", &["rollback", "101", "final-form"]).ok();
    assert_eq!(sim.run("pct", &["status", "101"]).ok(), "status: stopped\n");
    assert!(!sim.path("/rpool/data/subvol-101-disk-0/after").exists());
    assert_eq!(
        sim.run("pct", &["delsnapshot", "101", "nope"]).fails(255),
        "snapshot 'nope' does not exist\n"
    );
    sim.run("pct", &["delsnapshot", "101", "final-form"]).ok();
    assert!(
        sim.read("/etc/pve/lxc/101.conf")
            .contains("parent: pre-configured\n")
    );
}

#[test]
fn templates_and_clones() {
    let sim = Sim::new();
    sim.container(900, &[]).ok();
    sim.run("pct", &["snapshot", "900", "final-form"]).ok();
    assert_eq!(
        sim.run("pct", &["template", "900"]).fails(255),
        "unable to create template, because CT contains snapshots\n"
    );
    // A full clone from a snapshot of a running container is allowed; without one it is not.
    sim.run("pct", &["start", "900"]).ok();
    assert_eq!(
        sim.run("pct", &["clone", "900", "901"]).fails(255),
        "Cannot do full clones on a running container without snapshots\n"
    );
    let full = sim.run(
        "pct",
        &[
            "clone",
            "900",
            "901",
            "--snapname",
            "final-form",
            "--hostname",
            "clone1",
        ],
    );
    assert_eq!(
        full.ok(),
        "create full clone of mountpoint rootfs (local-zfs:subvol-900-disk-0)\n"
    );
    assert_eq!(
        sim.run("pct", &["clone", "900", "902", "--full", "0"])
            .fails(255),
        "Linked clone feature for 'local-zfs:subvol-900-disk-0' is not available\n"
    );
    assert_eq!(
        sim.run("pct", &["clone", "900", "903", "--snapname", "nope"])
            .fails(255),
        "snapshot 'nope' does not exist\n"
    );
    assert_eq!(
        sim.run("pct", &["clone", "900", "901", "--snapname", "final-form"])
            .fails(255),
        "CT 901 already exists on node 'pve'\n"
    );
    // A template gives linked clones on ZFS.
    sim.run("pct", &["stop", "900"]).ok();
    sim.run("pct", &["delsnapshot", "900", "final-form"]).ok();
    let t = sim.run("pct", &["template", "900"]);
    assert_eq!((t.code, t.stdout.as_str(), t.stderr.as_str()), (0, "", ""));
    let conf = sim.read("/etc/pve/lxc/900.conf");
    assert!(
        conf.contains("rootfs: local-zfs:basevol-900-disk-0,size=8G\n")
            && conf.contains("template: 1\n"),
        "{conf}"
    );
    assert_eq!(
        sim.run("pct", &["template", "900"]).fails(255),
        "you can't convert a template to a template\n"
    );
    assert_eq!(
        sim.run("pct", &["start", "900"]).fails(255),
        "you can't start a CT if it's a template\n"
    );
    assert_eq!(
        sim.run("pct", &["clone", "900", "910", "--storage", "local-zfs"])
            .fails(255),
        "parameter 'storage' not allowed for linked clones\n"
    );
    let linked = sim.run("pct", &["clone", "900", "910", "--hostname", "linked"]);
    assert_eq!(
        linked.ok(),
        "create linked clone of mount point rootfs (local-zfs:basevol-900-disk-0)\n"
    );
    assert!(
        sim.read("/etc/pve/lxc/910.conf")
            .contains("rootfs: local-zfs:basevol-900-disk-0/subvol-910-disk-0,size=8G\n")
    );
    let origin = sim.run(
        "zfs",
        &[
            "get",
            "-H",
            "-o",
            "value",
            "origin",
            "rpool/data/subvol-910-disk-0",
        ],
    );
    assert_eq!(origin.ok(), "rpool/data/basevol-900-disk-0@__base__\n");
    assert!(
        sim.path("/rpool/data/subvol-910-disk-0/etc/os-release")
            .is_file(),
        "the clone carries the template's files"
    );
    assert_eq!(
        sim.run("pct", &["destroy", "900"]).fails(255),
        "base volume 'basevol-900-disk-0' is still in use by linked clones\n"
    );
}

#[test]
fn resize_grows_only() {
    let sim = Sim::new();
    sim.container(101, &[]).ok();
    assert_eq!(
        sim.run("pct", &["resize", "101", "rootfs", "8G"])
            .fails(255),
        "disk is already at specified size\n"
    );
    assert_eq!(
        sim.run("pct", &["resize", "101", "rootfs", "4G"])
            .fails(255),
        "unable to shrink disk size\n"
    );
    assert_eq!(
        sim.run("pct", &["resize", "101", "rootfs", "10GB"])
            .fails(255),
        "400 Parameter verification failed.\nsize: value does not match the regex pattern\npct resize <vmid> <disk> <size> [OPTIONS]\n"
    );
    sim.run("pct", &["resize", "101", "rootfs", "+8G"]).ok();
    assert!(
        sim.read("/etc/pve/lxc/101.conf")
            .contains("rootfs: local-zfs:subvol-101-disk-0,size=16G\n")
    );
    assert_eq!(
        sim.run(
            "zfs",
            &[
                "get",
                "-H",
                "-p",
                "-o",
                "value",
                "refquota",
                "rpool/data/subvol-101-disk-0"
            ]
        )
        .ok(),
        "17179869184\n"
    );
}

#[test]
fn destroy_frees_volumes_and_firewall() {
    let sim = Sim::new();
    sim.container(101, &[]).ok();
    std::fs::write(
        sim.path("/etc/pve/firewall/101.fw"),
        "[OPTIONS]\n\nenable: 1\n\n",
    )
    .unwrap();
    assert_eq!(
        sim.run("pct", &["destroy", "101", "--purge"]).ok(),
        "purging CT 101 from related configurations..\n"
    );
    assert!(
        !sim.path("/etc/pve/lxc/101.conf").exists()
            && !sim.path("/etc/pve/firewall/101.fw").exists()
    );
    assert!(
        !sim.run("zfs", &["list", "-H", "-o", "name"])
            .ok()
            .contains("subvol-101")
    );
    // Forced destroy of a running container.
    sim.container(102, &[]).ok();
    sim.run("pct", &["start", "102"]).ok();
    assert_eq!(
        sim.run("pct", &["destroy", "102", "--force"]).ok(),
        "forced to stop CT 102 before destroying!\n"
    );
}

#[test]
fn locks_block_changes() {
    let sim = Sim::new();
    sim.container(101, &[]).ok();
    let conf = sim.read("/etc/pve/lxc/101.conf");
    std::fs::write(
        sim.path("/etc/pve/lxc/101.conf"),
        format!("{conf}lock: backup\n"),
    )
    .unwrap();
    assert_eq!(
        sim.run("pct", &["start", "101"]).fails(255),
        "CT is locked (backup)\n"
    );
    assert_eq!(
        sim.run("pct", &["set", "101", "--memory", "2048"])
            .fails(255),
        "CT is locked (backup)\n"
    );
    sim.run("pct", &["unlock", "101"]).ok();
    assert_eq!(
        sim.run("pct", &["unlock", "101"]).fails(255),
        "no lock found trying to remove any lock\n"
    );
    sim.run("pct", &["start", "101"]).ok();
}
