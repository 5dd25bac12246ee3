//! `qm` against the simulator: the template and clone workflow of vm-manager, guest agent,
//! cloud-init, snapshots, and the refusals ../shared/spec/vm-manager.md §15.2 lists.

use crate::support::Sim;

/// A cloud image on the host (`pve-sim` reads the virtual size from its header).
fn image(sim: &Sim) -> String {
    let p = sim.path("/tmp/noble-server-cloudimg-amd64.img");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(
        &p,
        format!("pve-sim disk image, virtual size {}\n", 3584u64 << 20),
    )
    .unwrap();
    p.display().to_string()
}

/// vm-manager's template steps (§6.2) for VM 9000 on `local-zfs`.
fn template_vm(sim: &Sim) {
    sim.run(
        "qm",
        &[
            "create",
            "9000",
            "--name",
            "ubuntu-template",
            "--memory",
            "2048",
            "--net0",
            "virtio,bridge=vmbr0",
            "--serial0",
            "socket",
            "--agent",
            "1",
            "--scsihw",
            "virtio-scsi-pci",
            "--ciuser",
            "phoenix",
            "--searchdomain",
            "lab.example",
            "--ipconfig0",
            "ip=dhcp",
        ],
    )
    .ok();
    let img = image(sim);
    sim.run("qm", &["importdisk", "9000", &img, "local-zfs"])
        .ok();
    sim.run(
        "qm",
        &["set", "9000", "--scsi0", "local-zfs:vm-9000-disk-0"],
    )
    .ok();
    sim.run("qm", &["set", "9000", "--boot", "c", "--bootdisk", "scsi0"])
        .ok();
    sim.run("qm", &["resize", "9000", "scsi0", "32G"]).ok();
    sim.run("qm", &["set", "9000", "--ide2", "local-zfs:cloudinit"])
        .ok();
}

#[test]
fn create_generates_mac_meta_uuid_and_boot_order() {
    let sim = Sim::new();
    let out = sim.run(
        "qm",
        &[
            "create",
            "100",
            "--name",
            "vm1",
            "--memory",
            "2048",
            "--net0",
            "virtio,bridge=vmbr0",
            "--scsi0",
            "local-zfs:4",
            "--ide2",
            "local-zfs:cloudinit",
        ],
    );
    assert_eq!(
        out.ok(),
        "ide2: successfully created disk 'local-zfs:vm-100-cloudinit,media=cdrom'\nscsi0: successfully created disk 'local-zfs:vm-100-disk-0,size=4G'\n"
    );
    let c = sim.run("qm", &["config", "100"]).ok().to_string();
    let keys: Vec<&str> = c.lines().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "boot", "ide2", "memory", "meta", "name", "net0", "scsi0", "smbios1", "vmgenid"
        ]
    );
    assert!(c.contains("boot: order=scsi0;ide2;net0\n"), "{c}");
    assert!(c.contains("meta: creation-qemu=9.2.0,ctime="), "{c}");
    let net = c.lines().find(|l| l.starts_with("net0: ")).unwrap();
    assert!(
        net.starts_with("net0: virtio=BC:24:11:") && net.ends_with(",bridge=vmbr0"),
        "{net}"
    );
    assert!(
        c.lines()
            .any(|l| l.starts_with("smbios1: uuid=") && l.len() == "smbios1: uuid=".len() + 36)
    );
    assert_eq!(
        sim.run("qm", &["create", "100"]).fails(255),
        "unable to create VM 100 - VM 100 already exists on node 'pve'\n"
    );
    assert_eq!(sim.run("qm", &["status", "100"]).ok(), "status: stopped\n");
    assert_eq!(
        sim.run("qm", &["status", "101"]).fails(255),
        "Configuration file 'nodes/pve/qemu-server/101.conf' does not exist\n"
    );
}

#[test]
fn the_template_workflow_of_vm_manager() {
    let sim = Sim::new();
    sim.run(
        "qm",
        &[
            "create",
            "9000",
            "--name",
            "ubuntu-template",
            "--net0",
            "virtio,bridge=vmbr0",
            "--agent",
            "1",
        ],
    )
    .ok();
    let img = image(&sim);
    let imp = sim.run("qm", &["importdisk", "9000", &img, "local-zfs"]);
    let out = imp.ok();
    assert!(
        out.starts_with(&format!(
            "importing disk '{img}' to VM 9000 ...\ntransferred 0.0 B of 3.5 GiB (0.00%)\n"
        )),
        "{out}"
    );
    assert!(out.ends_with("transferred 3.5 GiB of 3.5 GiB (100.00%)\nunused0: successfully imported disk 'local-zfs:vm-9000-disk-0'\n"), "{out}");
    assert_eq!(
        sim.run("qm", &["importdisk", "9000", "/nope.img", "local-zfs"])
            .fails(255),
        "/nope.img: non-existent or non-regular file\n"
    );
    assert_eq!(
        sim.run("qm", &["importdisk", "9000", &img, "local"])
            .fails(255),
        "storage local does not support vm images\n"
    );
    sim.run(
        "qm",
        &["set", "9000", "--scsi0", "local-zfs:vm-9000-disk-0"],
    )
    .ok();
    let c = sim.run("qm", &["config", "9000"]).ok().to_string();
    assert!(
        c.contains("scsi0: local-zfs:vm-9000-disk-0,size=3584M\n") && !c.contains("unused0"),
        "the attached volume leaves unused0 and gets its size: {c}"
    );
    sim.run("qm", &["set", "9000", "--boot", "c", "--bootdisk", "scsi0"])
        .ok();
    let r = sim.run("qm", &["resize", "9000", "scsi0", "32G"]);
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (0, "", ""));
    assert_eq!(
        sim.run("qm", &["resize", "9000", "scsi0", "16G"]).ok(),
        "",
        "a failed resize task exits 0"
    );
    assert_eq!(
        sim.run("qm", &["resize", "9000", "scsi0", "16G"]).stderr,
        "shrinking disks is not supported\n"
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
                "volsize",
                "rpool/data/vm-9000-disk-0"
            ]
        )
        .ok(),
        "34359738368\n"
    );
    sim.run("qm", &["set", "9000", "--ide2", "local-zfs:cloudinit"])
        .ok();
    assert_eq!(
        sim.run("qm", &["set", "9000", "--ide0", "local-zfs:cloudinit"])
            .fails(255),
        "ide0 - cloud-init drive is already attached at 'ide2'\n"
    );
    assert_eq!(sim.run("qm", &["template", "9000"]).ok(), "");
    let c = sim.run("qm", &["config", "9000"]).ok().to_string();
    assert!(
        c.contains("scsi0: local-zfs:base-9000-disk-0,size=32G\n")
            && c.contains("template: 1\n")
            && c.contains("ide2: local-zfs:vm-9000-cloudinit,media=cdrom\n"),
        "{c}"
    );
    assert_eq!(
        sim.run("zfs", &["list", "-H", "-t", "snapshot", "-o", "name"])
            .ok(),
        "rpool/data/base-9000-disk-0@__base__\n"
    );
    assert_eq!(
        sim.run("qm", &["template", "9000"]).fails(255),
        "you can't convert a template to a template\n"
    );
    assert_eq!(
        sim.run("qm", &["start", "9000"]).fails(255),
        "you can't start a vm if it's a template\n"
    );
}

#[test]
fn full_and_linked_clones() {
    let sim = Sim::new();
    template_vm(&sim);
    sim.run("qm", &["template", "9000"]).ok();
    let full = sim.run(
        "qm",
        &["clone", "9000", "1001", "--name", "Portainer", "--full"],
    );
    assert_eq!(
        full.ok(),
        "creating a clone of VM 9000 with ID 1001\ncreate full clone of drive ide2 (local-zfs:vm-9000-cloudinit)\ncreate full clone of drive scsi0 (local-zfs:base-9000-disk-0)\ntransferred 0.0 B of 32.0 GiB (0.00%)\ntransferred 32.0 GiB of 32.0 GiB (100.00%)\n"
    );
    let c = sim.run("qm", &["config", "1001"]).ok().to_string();
    assert!(
        c.contains("scsi0: local-zfs:vm-1001-disk-0,size=32G\n")
            && c.contains("ide2: local-zfs:vm-1001-cloudinit,media=cdrom,size=4M\n")
            && c.contains("name: Portainer\n")
            && !c.contains("template"),
        "{c}"
    );
    assert_ne!(
        c.lines().find(|l| l.starts_with("net0")),
        sim.run("qm", &["config", "9000"])
            .ok()
            .lines()
            .find(|l| l.starts_with("net0")),
        "clones get new MACs"
    );
    assert_eq!(
        sim.run("qm", &["clone", "9000", "1001", "--full"])
            .fails(255),
        "unable to create VM 1001: config file already exists\n"
    );
    let linked = sim.run("qm", &["clone", "9000", "1002"]);
    assert!(
        linked
            .ok()
            .contains("create linked clone of drive scsi0 (local-zfs:base-9000-disk-0)\n"),
        "{}",
        linked.stdout
    );
    assert!(sim.run("qm", &["config", "1002"]).ok().contains("scsi0: local-zfs:base-9000-disk-0/vm-1002-disk-0,size=32G\nname: Copy-of-VM-ubuntu-template\n") || sim.read("/etc/pve/qemu-server/1002.conf").contains("name: Copy-of-VM-ubuntu-template\n"));
    assert_eq!(
        sim.run("qm", &["clone", "9000", "1003", "--storage", "local-zfs"])
            .fails(255),
        "parameter 'storage' not allowed for linked clones\n"
    );
    assert_eq!(
        sim.run("qm", &["clone", "1001", "1004", "--full", "0"])
            .fails(255),
        "Linked clone feature is not supported for 'local-zfs:vm-1001-disk-0' (scsi0)\n"
    );
    assert_eq!(
        sim.run("qm", &["destroy", "9000"]).fails(255),
        "base volume 'local-zfs:base-9000-disk-0' is still in use by linked cloned\n"
    );
}

#[test]
fn guest_agent_ping_and_exec() {
    let sim = Sim::new();
    sim.admin(&["config", "--vm-boot-secs", "10"]).ok();
    sim.run("qm", &["create", "100", "--name", "noagent"]).ok();
    assert_eq!(
        sim.run("qm", &["agent", "100", "ping"]).fails(255),
        "No QEMU guest agent configured\n"
    );
    template_vm(&sim);
    assert_eq!(
        sim.run("qm", &["agent", "9000", "ping"]).fails(255),
        "VM 9000 is not running\n"
    );
    sim.run("qm", &["start", "9000"]).ok();
    // The agent answers once the VM has booted: each failed ping waits out its 3 s timeout.
    let mut pings = 0;
    loop {
        pings += 1;
        let p = sim.run("qm", &["agent", "9000", "ping"]);
        if p.code == 0 {
            assert_eq!((p.stdout.as_str(), p.stderr.as_str()), ("", ""));
            break;
        }
        assert_eq!(p.fails(255), "QEMU guest agent is not running\n");
        assert!(pings < 10, "the agent never came up");
    }
    assert!(pings > 1);
    // A guest that does not answer yet is not a refused command.
    let last_failed = sim
        .audit()
        .into_iter()
        .rev()
        .find(|e| e["exit"] != 0)
        .unwrap();
    assert_eq!(last_failed["argv"][0], "agent");
    assert_eq!(last_failed["refused"], false);
    assert_eq!(sim.run("qm", &["guest", "cmd", "9000", "ping"]).ok(), "");
    assert!(sim.run("qm", &["guest", "cmd", "9000", "bogus"]).fails(255).starts_with("400 Parameter verification failed.\ncommand: value 'bogus' does not have a value in the enumeration 'fsfreeze-freeze, "));
    let exec = sim.run(
        "qm",
        &[
            "guest",
            "exec",
            "9000",
            "--",
            "/bin/bash",
            "-c",
            "cloud-init status --wait",
        ],
    );
    assert_eq!(
        exec.ok(),
        "{\n   \"exitcode\" : 0,\n   \"exited\" : 1,\n   \"out-data\" : \"status: done\\n\"\n}\n"
    );
    let fail = sim.run(
        "qm",
        &[
            "guest",
            "exec",
            "9000",
            "--",
            "/bin/bash",
            "-c",
            "cat /tmp/phoenix_feature_docker_exit_code",
        ],
    );
    assert_eq!(
        fail.ok(),
        "{\n   \"err-data\" : \"cat: /tmp/phoenix_feature_docker_exit_code: No such file or directory\\n\",\n   \"exitcode\" : 1,\n   \"exited\" : 1\n}\n"
    );
    // A command outliving the timeout returns its pid; exec-status reports it later.
    sim.admin(&[
        "rule",
        "add",
        "--guest",
        "9000",
        "--match",
        "*long-install*",
        "--secs",
        "12",
        "--stdout",
        "done\n",
    ])
    .ok();
    let slow = sim.run(
        "qm",
        &[
            "guest",
            "exec",
            "9000",
            "--timeout",
            "5",
            "--",
            "/usr/local/bin/long-install",
        ],
    );
    assert_eq!(slow.stderr, "timeout reached, returning pid\n");
    let pid = phoenix_core::pve::agent::parse_exec(slow.ok())
        .unwrap()
        .pid
        .unwrap()
        .to_string();
    assert_eq!(
        sim.run("qm", &["guest", "exec-status", "9000", &pid]).ok(),
        "{\n   \"exited\" : 0\n}\n"
    );
    for _ in 0..20 {
        sim.run("qm", &["agent", "9000", "ping"]).ok();
    }
    assert_eq!(
        sim.run("qm", &["guest", "exec-status", "9000", &pid]).ok(),
        "{\n   \"exitcode\" : 0,\n   \"exited\" : 1,\n   \"out-data\" : \"done\\n\"\n}\n"
    );
    assert_eq!(
        sim.run("qm", &["guest", "exec-status", "9000", "99999"])
            .fails(255),
        "Agent error: can't get exec status for '99999'\n"
    );
    assert_eq!(
        sim.run(
            "qm",
            &[
                "guest",
                "exec",
                "9000",
                "--",
                "mkdir",
                "-p",
                "/persistent-storage"
            ]
        )
        .code,
        0
    );
    assert!(
        sim.path("/var/lib/pve-sim/vmfs/9000/persistent-storage")
            .is_dir()
    );
}

#[test]
fn snapshots_and_destroy() {
    let sim = Sim::new();
    template_vm(&sim);
    std::fs::write(
        sim.path("/etc/pve/firewall/9000.fw"),
        "[OPTIONS]\n\nenable: 1\n\n",
    )
    .unwrap();
    assert_eq!(
        sim.run("qm", &["snapshot", "9000", "pending"]).fails(255),
        "unable to use snapshot name 'pending' (reserved name)\n"
    );
    assert_eq!(
        sim.run("qm", &["snapshot", "9000", "pre-features"]).ok(),
        "snapshotting 'drive-scsi0' (local-zfs:vm-9000-disk-0)\n"
    );
    sim.run(
        "qm",
        &[
            "snapshot",
            "9000",
            "post-features",
            "--description",
            "after features",
        ],
    )
    .ok();
    let tree = sim.run("qm", &["listsnapshot", "9000"]).ok().to_string();
    let parsed = phoenix_core::pve::snapshots::parse_listsnapshot(&tree).unwrap();
    assert_eq!(
        phoenix_core::pve::snapshots::snapshot_names(&parsed),
        ["pre-features", "post-features"]
    );
    assert_eq!(parsed[1].description, "after features");
    assert_eq!(
        sim.run("qm", &["template", "9000"]).fails(255),
        "unable to create template, because VM contains snapshots\n"
    );
    assert_eq!(
        sim.run("qm", &["rollback", "9000", "pre-features"])
            .fails(255),
        "can't rollback, 'pre-features' is not most recent snapshot on 'local-zfs:vm-9000-disk-0'\n"
    );
    sim.run("qm", &["rollback", "9000", "post-features"]).ok();
    sim.run("qm", &["delsnapshot", "9000", "post-features"])
        .ok();
    sim.run("qm", &["rollback", "9000", "pre-features", "--start", "1"])
        .ok();
    assert_eq!(
        sim.run("qm", &["destroy", "9000"]).fails(255),
        "VM 9000 is running - destroy failed\n"
    );
    sim.run("qm", &["stop", "9000"]).ok();
    assert_eq!(
        sim.run("qm", &["destroy", "9000", "--purge"]).ok(),
        "purging VM 9000 from related configurations..\n"
    );
    assert!(
        !sim.path("/etc/pve/qemu-server/9000.conf").exists()
            && !sim.path("/etc/pve/firewall/9000.fw").exists()
    );
    assert_eq!(
        sim.run("zfs", &["list", "-H", "-o", "name", "-r", "rpool/data"])
            .ok(),
        "rpool/data\n"
    );
}

#[test]
fn cicustom_needs_snippets() {
    let sim = Sim::new();
    sim.run("qm", &["create", "100"]).ok();
    assert_eq!(
        sim.run(
            "qm",
            &["set", "100", "--cicustom", "user=local:iso/user.yaml"]
        )
        .fails(255),
        "unable to use volume local:iso/user.yaml - content type needs to be 'snippets'\n"
    );
    sim.run(
        "pvesm",
        &["set", "local", "--content", "iso,vztmpl,backup,snippets"],
    )
    .ok();
    sim.run(
        "qm",
        &[
            "set",
            "100",
            "--cicustom",
            "user=local:snippets/user.yaml,network=local:snippets/net.yaml",
        ],
    )
    .ok();
    assert!(
        sim.run("qm", &["config", "100"])
            .ok()
            .contains("cicustom: user=local:snippets/user.yaml,network=local:snippets/net.yaml\n")
    );
    assert!(sim.run("qm", &["set", "100", "--cicustom", "user=nothing"]).fails(255).starts_with("400 Parameter verification failed.\ncicustom: invalid format - format error\ncicustom.user: invalid format - unable to parse volume ID 'nothing'\n"));
}

/// VM 9000 running with its agent up.
fn running_vm(sim: &Sim) {
    sim.admin(&["config", "--vm-boot-secs", "0"]).ok();
    template_vm(sim);
    sim.run("qm", &["start", "9000"]).ok();
    sim.run("qm", &["agent", "9000", "ping"]).ok();
}

#[test]
fn guest_exec_pass_stdin_installs_files() {
    let sim = Sim::new();
    running_vm(&sim);
    let out = sim.run_stdin(
        "qm",
        &[
            "guest",
            "exec",
            "9000",
            "--pass-stdin",
            "1",
            "--",
            "install",
            "-D",
            "-m",
            "0600",
            "/dev/stdin",
            "/etc/phoenix/secret.env",
        ],
        b"TOKEN=abc\n",
    );
    assert_eq!(out.ok(), "{\n   \"exitcode\" : 0,\n   \"exited\" : 1\n}\n");
    let file = "/var/lib/pve-sim/vmfs/9000/etc/phoenix/secret.env";
    assert_eq!(sim.read(file), "TOKEN=abc\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(sim.path(file))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o600);
    let audit = sim.audit();
    let last = audit.last().unwrap();
    assert_eq!(
        (last["effect"].as_str(), last["guest"].as_u64()),
        (Some("mutate"), Some(9000)),
        "installing a file is a change: {last}"
    );
    assert!(
        !last.to_string().contains("TOKEN"),
        "stdin is not in the audit"
    );

    // Through a shell, asynchronously, and with empty or no input.
    let out = sim.run_stdin(
        "qm",
        &[
            "guest",
            "exec",
            "9000",
            "--pass-stdin",
            "--",
            "/bin/bash",
            "-c",
            "cat > /tmp/copy",
        ],
        b"line\n",
    );
    out.ok();
    assert_eq!(sim.read("/var/lib/pve-sim/vmfs/9000/tmp/copy"), "line\n");
    let out = sim.run_stdin(
        "qm",
        &["guest", "exec", "9000", "--pass-stdin", "1", "--", "cat"],
        b"",
    );
    assert_eq!(out.ok(), "{\n   \"exitcode\" : 0,\n   \"exited\" : 1\n}\n");
    let out = sim.run(
        "qm",
        &["guest", "exec", "9000", "--pass-stdin", "1", "--", "cat"],
    );
    assert_eq!(out.ok(), "{\n   \"exitcode\" : 0,\n   \"exited\" : 1\n}\n");
    let pid = sim.run_stdin(
        "qm",
        &[
            "guest",
            "exec",
            "9000",
            "--pass-stdin",
            "1",
            "--synchronous",
            "0",
            "--",
            "cat",
        ],
        b"async\n",
    );
    let pid = phoenix_core::pve::agent::parse_exec(pid.ok())
        .unwrap()
        .pid
        .unwrap()
        .to_string();
    assert_eq!(
        sim.run("qm", &["guest", "exec-status", "9000", &pid]).ok(),
        "{\n   \"exitcode\" : 0,\n   \"exited\" : 1,\n   \"out-data\" : \"async\\n\"\n}\n"
    );
    // Without --pass-stdin the input is not read.
    let out = sim.run_stdin("qm", &["guest", "exec", "9000", "--", "cat"], b"ignored\n");
    assert_eq!(out.ok(), "{\n   \"exitcode\" : 0,\n   \"exited\" : 1\n}\n");

    // qm's refusals: more than 1 MiB, input without a command.
    let big = vec![b'x'; 1024 * 1024 + 1];
    assert_eq!(
        sim.run_stdin(
            "qm",
            &["guest", "exec", "9000", "--pass-stdin", "1", "--", "cat"],
            &big,
        )
        .fails(255),
        "'input-data' (STDIN) is limited to 1 MiB, aborting\n"
    );
    let exact = vec![b'x'; 1024 * 1024];
    sim.run_stdin(
        "qm",
        &[
            "guest",
            "exec",
            "9000",
            "--pass-stdin",
            "1",
            "--",
            "install",
            "/dev/stdin",
            "/tmp/big",
        ],
        &exact,
    )
    .ok();
    assert_eq!(
        std::fs::metadata(sim.path("/var/lib/pve-sim/vmfs/9000/tmp/big"))
            .unwrap()
            .len(),
        1024 * 1024
    );
    assert_eq!(
        sim.run_stdin("qm", &["guest", "exec", "9000", "--pass-stdin", "1"], b"x")
            .fails(255),
        "VM 9000 qmp command 'guest-exec' failed - Parameter 'path' is missing\n"
    );
    assert_eq!(
        sim.run("qm", &["guest", "exec", "9000"]).fails(255),
        "command or input-data (or both) required\n"
    );
}

#[test]
fn exec_status_polling_sees_a_long_command_finish() {
    let sim = Sim::new();
    running_vm(&sim);
    sim.admin(&[
        "rule",
        "add",
        "--guest",
        "9000",
        "--match",
        "*slow-job*",
        "--secs",
        "8",
        "--stdout",
        "finished\n",
    ])
    .ok();
    let start = sim.run(
        "qm",
        &[
            "guest",
            "exec",
            "9000",
            "--synchronous",
            "0",
            "--",
            "/usr/local/bin/slow-job",
        ],
    );
    let pid = phoenix_core::pve::agent::parse_exec(start.ok())
        .unwrap()
        .pid
        .unwrap()
        .to_string();
    let mut polls = 0;
    let last = loop {
        polls += 1;
        let out = sim
            .run("qm", &["guest", "exec-status", "9000", &pid])
            .ok()
            .to_string();
        if !out.contains("\"exited\" : 0") {
            break out;
        }
        assert!(polls < 30, "the job never finished");
    };
    assert_eq!(
        last,
        "{\n   \"exitcode\" : 0,\n   \"exited\" : 1,\n   \"out-data\" : \"finished\\n\"\n}\n"
    );
    // Each unfinished poll costs qm.exec_status_poll (1 s): about 8 of them.
    assert!((8..=10).contains(&polls), "{polls} polls");
    let audit = sim.audit();
    let status: Vec<f64> = audit
        .iter()
        .filter(|a| a["argv"][1] == "exec-status")
        .map(|a| a["secs"].as_f64().unwrap())
        .collect();
    assert_eq!(status.len(), polls);
    assert!(status[..polls - 1].iter().all(|s| *s == 1.0));
    assert!(
        status[polls - 1] < 1.0,
        "a finished job's status is a plain read"
    );
}

/// A `cicustom` user-data snippet on `local` for VM 9000.
fn snippet(sim: &Sim, name: &str, text: &str) {
    let p = sim.path(&format!("/var/lib/vz/snippets/{name}"));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn cicustom_user_data_is_applied_on_boot() {
    let sim = Sim::new();
    sim.admin(&["config", "--vm-boot-secs", "0"]).ok();
    template_vm(&sim);
    sim.run(
        "pvesm",
        &["set", "local", "--content", "iso,vztmpl,backup,snippets"],
    )
    .ok();
    let doc = concat!(
        "#cloud-config\n",
        "# rendered by vm-manager\n",
        "hostname: vm9000\n",
        "mounts: [[\"10.0.0.13:/quickOS/vm-persistent-data/9000\", \"/persistent-storage\", \"nfs\", \"defaults,nofail\", \"0\", \"0\"]]\n",
        "write_files: [{\"path\": \"/etc/phoenix/role\", \"content\": \"docker\\n\", \"permissions\": \"0640\", \"owner\": \"root:root\"}]\n",
        "packages: [\"nfs-common\", \"qemu-guest-agent\"]\n",
        "runcmd: [[\"systemctl\", \"enable\", \"--now\", \"qemu-guest-agent\"]]\n",
    );
    snippet(&sim, "vm-9000-user.yaml", doc);
    sim.run(
        "qm",
        &[
            "set",
            "9000",
            "--cicustom",
            "user=local:snippets/vm-9000-user.yaml",
        ],
    )
    .ok();
    assert_eq!(
        sim.run("qm", &["start", "9000"]).ok(),
        "generating cloud-init ISO\n"
    );
    let fs = "/var/lib/pve-sim/vmfs/9000";
    let line =
        "10.0.0.13:/quickOS/vm-persistent-data/9000 /persistent-storage nfs defaults,nofail 0 0\n";
    assert_eq!(sim.read(&format!("{fs}/etc/fstab")), line);
    assert_eq!(sim.read(&format!("{fs}/etc/phoenix/role")), "docker\n");
    assert_eq!(
        sim.read(&format!("{fs}/var/lib/pve-sim/packages")),
        "nfs-common\nqemu-guest-agent\n"
    );
    assert_eq!(
        sim.read(&format!("{fs}/var/log/pve-sim-runcmd.log")),
        "systemctl enable --now qemu-guest-agent\n"
    );
    assert!(
        sim.path(&format!("{fs}/var/lib/cloud/instance/boot-finished"))
            .is_file()
    );
    // The guest sees the mount, as after `mount -a`.
    let probe = |script: &str| {
        sim.run(
            "qm",
            &["guest", "exec", "9000", "--", "/bin/bash", "-c", script],
        )
        .ok()
        .to_string()
    };
    assert!(probe("mount | grep -q ' /persistent-storage ' && echo mounted").contains("mounted"));
    assert!(probe("cloud-init status --wait").contains("status: done"));

    // Restart with the same snippet: nothing applied twice.
    sim.run("qm", &["shutdown", "9000"]).ok();
    sim.run("qm", &["start", "9000"]).ok();
    sim.run("qm", &["reboot", "9000"]).ok();
    assert_eq!(sim.read(&format!("{fs}/etc/fstab")), line);
    assert_eq!(
        sim.read(&format!("{fs}/var/log/pve-sim-runcmd.log"))
            .lines()
            .count(),
        1
    );

    // A changed snippet is applied on the next boot (a reboot is shutdown + start).
    snippet(
        &sim,
        "vm-9000-user.yaml",
        &doc.replace("\"qemu-guest-agent\"]\n", "\"qemu-guest-agent\", \"jq\"]\n"),
    );
    sim.run("qm", &["reboot", "9000"]).ok();
    assert_eq!(sim.read(&format!("{fs}/etc/fstab")), line);
    assert_eq!(
        sim.read(&format!("{fs}/var/lib/pve-sim/packages")),
        "nfs-common\nqemu-guest-agent\njq\n"
    );
    assert_eq!(
        sim.read(&format!("{fs}/var/log/pve-sim-runcmd.log"))
            .lines()
            .count(),
        2
    );

    // `cloud-init clean` in the guest: the next boot applies it again.
    probe("cloud-init clean --logs");
    assert!(!sim.path(&format!("{fs}/var/lib/cloud/instance")).exists());
    sim.run("qm", &["reboot", "9000"]).ok();
    assert_eq!(
        sim.read(&format!("{fs}/var/log/pve-sim-runcmd.log"))
            .lines()
            .count(),
        3
    );
    assert_eq!(sim.read(&format!("{fs}/etc/fstab")), line);

    // A missing snippet fails the start (`read_cloudinit_snippets_file`).
    sim.run("qm", &["stop", "9000"]).ok();
    sim.run(
        "qm",
        &[
            "set",
            "9000",
            "--cicustom",
            "user=local:snippets/missing.yaml",
        ],
    )
    .ok();
    assert_eq!(
        sim.run("qm", &["start", "9000"]).fails(255),
        "can't find file 'local:snippets/missing.yaml'\n"
    );
    assert!(
        sim.run("qm", &["status", "9000"])
            .ok()
            .contains("status: stopped")
    );
    // Without a cloud-init drive no ISO is generated and the snippets are not read.
    sim.run("qm", &["set", "9000", "--delete", "ide2"]).ok();
    assert_eq!(sim.run("qm", &["start", "9000"]).ok(), "");
}
