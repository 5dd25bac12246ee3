//! Packages and services on the simulated host: `apt-get`, `dpkg-query`, `systemctl`, and
//! the tools that exist only once their package is installed.

use crate::support::Sim;

const FMT: &str = "${Package}\\t${Version}\\t${Status}\\t${db:Status-Status}\\n";

#[test]
fn a_fresh_host_has_the_packages_and_services_of_an_installation() {
    let sim = Sim::new();
    assert_eq!(
        sim.run("dpkg-query", &["-W", "-f", FMT, "proxmox-ve", "chrony"])
            .ok(),
        "proxmox-ve\t9.1.0\tinstall ok installed\tinstalled\nchrony\t4.3-2+deb12u1\tinstall ok installed\tinstalled\n"
    );
    let out = sim.run(
        "dpkg-query",
        &["-W", "--showformat=${Package}\\n", "sudo", "chrony:amd64"],
    );
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "chrony\n");
    assert_eq!(out.stderr, "dpkg-query: no packages found matching sudo\n");
    assert_eq!(
        sim.run("systemctl", &["is-enabled", "chrony", "nfs-common"])
            .fails(1),
        ""
    );
    assert_eq!(
        sim.run("systemctl", &["is-enabled", "chrony", "nfs-common"])
            .stdout,
        "enabled\nmasked\n"
    );
    assert_eq!(
        sim.run("systemctl", &["is-active", "chrony.service"]).ok(),
        "active\n"
    );
}

#[test]
fn installing_a_package_installs_its_files_and_starts_its_service() {
    let sim = Sim::new();
    let out = sim.run_env(
        "apt-get",
        &["install", "-y", "--no-install-recommends", "-q", "dnsmasq"],
        &[("DEBIAN_FRONTEND", "noninteractive")],
    );
    let stdout = out.ok();
    assert!(
        stdout.contains("Setting up dnsmasq (2.90-4~deb12u1) ...\n"),
        "{stdout}"
    );
    assert_eq!(out.stderr, "", "noninteractive: no debconf warnings");
    assert_eq!(
        sim.run("dpkg-query", &["-W", "--showformat=${Status}", "dnsmasq"])
            .ok(),
        "install ok installed"
    );
    assert_eq!(
        sim.run("systemctl", &["is-enabled", "dnsmasq"]).ok(),
        "enabled\n"
    );
    assert_eq!(
        sim.run("systemctl", &["is-active", "dnsmasq"]).ok(),
        "active\n"
    );
    assert!(
        sim.read("/etc/dnsmasq.conf")
            .lines()
            .all(|l| l.is_empty() || l.starts_with('#'))
    );
    assert!(sim.path("/etc/dnsmasq.d/README").is_file());
    assert_eq!(
        std::fs::read_link(sim.path("/etc/systemd/system/multi-user.target.wants/dnsmasq.service"))
            .unwrap()
            .to_str(),
        Some("/lib/systemd/system/dnsmasq.service")
    );
    // The maintainer script's system user.
    assert!(
        sim.run("getent", &["passwd", "dnsmasq"])
            .ok()
            .starts_with("dnsmasq:x:999:65534:")
    );
    // Again: nothing to do, but still a mutating command.
    let out = sim.run("apt-get", &["install", "-y", "dnsmasq"]);
    assert!(
        out.ok()
            .contains("dnsmasq is already the newest version (2.90-4~deb12u1).\n"),
        "{}",
        out.stdout
    );
    let last = sim.audit().pop().unwrap();
    assert_eq!(last["effect"], "mutate");
}

#[test]
fn an_unknown_package_installs_nothing() {
    let sim = Sim::new();
    let out = sim.run("apt-get", &["install", "-y", "sudo", "no-such-thing"]);
    assert_eq!(
        out.fails(100),
        "E: Unable to locate package no-such-thing\n"
    );
    assert_eq!(
        sim.run("dpkg-query", &["-W", "sudo"]).fails(1),
        "dpkg-query: no packages found matching sudo\n"
    );
    assert!(!sim.path("/etc/sudoers").exists());
    assert_eq!(
        sim.state()["host"]["packages"]["sudo"],
        serde_json::Value::Null
    );
}

#[test]
fn apt_asks_before_pulling_in_dependencies_and_without_a_terminal_aborts() {
    let sim = Sim::new();
    let out = sim.run("apt-get", &["install", "samba"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains(
            "The following additional packages will be installed:\n  samba-common samba-common-bin\n"
        ) && out.stdout.ends_with("Do you want to continue? [Y/n] Abort.\n"),
        "{}",
        out.stdout
    );
    assert_eq!(sim.run("dpkg-query", &["-W", "samba"]).code, 1);
    // Without DEBIAN_FRONTEND=noninteractive debconf complains (and carries on).
    let out = sim.run_env(
        "apt-get",
        &["install", "-y", "samba"],
        &[("DEBIAN_FRONTEND", "")],
    );
    assert!(
        out.stderr
            .starts_with("debconf: unable to initialize frontend: Dialog\n")
    );
    assert_eq!(out.code, 0);
    for u in ["smbd", "nmbd"] {
        assert_eq!(sim.run("systemctl", &["is-active", u]).ok(), "active\n");
    }
    let conf = sim.read("/etc/samba/smb.conf");
    for s in ["[global]", "[homes]", "[printers]", "[print$]"] {
        assert!(conf.contains(&format!("\n{s}\n")), "{s}");
    }
    // A package with no new dependencies does not ask.
    sim.run("apt-get", &["install", "jq"]).ok();
}

#[test]
fn sudo_writes_debians_sudoers() {
    let sim = Sim::new();
    sim.run("apt-get", &["install", "-y", "sudo"]).ok();
    use std::os::unix::fs::PermissionsExt;
    let sudoers = sim.read("/etc/sudoers");
    assert!(sudoers.contains("%sudo\tALL=(ALL:ALL) ALL\n"));
    assert!(sudoers.contains("@includedir /etc/sudoers.d\n"));
    let mode = std::fs::metadata(sim.path("/etc/sudoers"))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o440);
    assert!(sim.path("/etc/sudoers.d/README").is_file());
}

#[test]
fn purge_remove_and_the_guards_apt_has() {
    let sim = Sim::new();
    sim.run("apt-get", &["install", "-y", "nfs-kernel-server"])
        .ok();
    assert_eq!(
        sim.run(
            "systemctl",
            &["is-enabled", "nfs-kernel-server", "nfs-server"]
        )
        .ok(),
        "alias\nenabled\n"
    );
    // remove keeps configuration files; dpkg still knows the package.
    let out = sim.run("apt-get", &["remove", "nfs-kernel-server"]);
    assert!(
        out.stdout
            .ends_with("Do you want to continue? [Y/n] Abort.\n")
    );
    sim.run("apt-get", &["remove", "-y", "nfs-kernel-server"])
        .ok();
    assert_eq!(
        sim.run(
            "dpkg-query",
            &["-W", "-f", "${db:Status-Status}", "nfs-kernel-server"]
        )
        .ok(),
        "config-files"
    );
    assert!(sim.path("/etc/exports").is_file());
    assert_eq!(
        sim.run("systemctl", &["is-active", "nfs-server"]).fails(3),
        ""
    );
    let out = sim.run("apt-get", &["purge", "-y", "nfs-kernel-server"]);
    assert!(
        out.ok().contains(
            "Purging configuration files for nfs-kernel-server (1:2.6.2-4+deb12u1) ...\n"
        )
    );
    assert!(!sim.path("/etc/exports").exists());
    assert_eq!(sim.run("dpkg-query", &["-W", "nfs-kernel-server"]).code, 1);
    // Removing what proxmox-ve needs is refused by Proxmox's apt hook.
    let err = sim
        .run("apt-get", &["purge", "-y", "zfsutils-linux"])
        .fails(100)
        .to_string();
    assert!(
        err.contains("You are attempting to remove the meta-package 'proxmox-ve'!"),
        "{err}"
    );
    assert_eq!(sim.run("dpkg-query", &["-W", "zfsutils-linux"]).code, 0);
    assert_eq!(
        sim.run("apt-get", &["install", "-y", "jq", "--frobnicate"])
            .fails(100),
        "E: Command line option --frobnicate is not understood in combination with the other options\n"
    );
}

#[test]
fn a_tool_whose_package_is_missing_is_not_found() {
    let sim = Sim::new();
    for (tool, args, pkg) in [
        ("exportfs", vec!["-ra"], "nfs-kernel-server"),
        ("visudo", vec!["-c"], "sudo"),
        ("testparm", vec!["-s"], "samba-common-bin"),
        ("smbpasswd", vec!["-s", "-a", "root"], "samba"),
        ("pdbedit", vec!["-L"], "samba"),
        ("dnsmasq", vec!["--test"], "dnsmasq"),
        ("step", vec!["version"], "step-cli"),
    ] {
        let out = sim.run(tool, &args);
        assert_eq!(
            out.fails(127),
            format!("{tool}: command not found (pve-sim: install package {pkg})\n")
        );
    }
    let before = sim.state()["host"].clone();
    assert_eq!(
        sim.run("nvidia-smi", &[]).fails(127),
        "nvidia-smi: command not found (pve-sim: install the NVIDIA driver)\n"
    );
    assert_eq!(sim.state()["host"], before, "nothing changes");
    for e in sim.audit() {
        assert_eq!(e["effect"], "read");
    }
}

#[test]
fn restarts_and_reloads_are_counted_per_unit() {
    let sim = Sim::new();
    sim.run_env(
        "apt-get",
        &["install", "-y", "samba"],
        &[("DEBIAN_FRONTEND", "noninteractive")],
    )
    .ok();
    sim.run("systemctl", &["restart", "smbd", "nmbd", "smbd.service"])
        .ok();
    sim.run("systemctl", &["reload", "smbd"]).ok();
    sim.run("systemctl", &["reload-or-restart", "nmbd"]).ok();
    let units = &sim.state()["host"]["units"];
    assert_eq!(units["smbd.service"]["restarts"], 1);
    assert_eq!(units["smbd.service"]["reloads"], 1);
    assert_eq!(units["nmbd.service"]["restarts"], 1);
    assert_eq!(units["nmbd.service"]["reloads"], 1);
    assert_eq!(units["chrony.service"]["restarts"], 0);
    // Units systemd does not know.
    assert_eq!(
        sim.run("systemctl", &["restart", "nope"]).fails(5),
        "Failed to restart nope.service: Unit nope.service not found.\n"
    );
    assert_eq!(
        sim.run("systemctl", &["enable", "nope"]).fails(1),
        "Failed to enable unit: Unit file nope.service does not exist.\n"
    );
    assert_eq!(
        sim.run("systemctl", &["is-enabled", "nope"]).fails(1),
        "Failed to get unit file state for nope.service: No such file or directory\n"
    );
    let out = sim.run("systemctl", &["is-active", "chrony", "nope"]);
    assert_eq!((out.code, out.stdout.as_str()), (3, "active\ninactive\n"));
    assert_eq!(
        sim.run("systemctl", &["is-active", "--quiet", "nope"])
            .fails(3),
        ""
    );
    // A masked unit cannot start; a vendor mask survives unmask.
    assert_eq!(
        sim.run("systemctl", &["start", "nfs-common"]).fails(1),
        "Failed to start nfs-common.service: Unit nfs-common.service is masked.\n"
    );
    sim.run("systemctl", &["unmask", "nfs-common"]).ok();
    assert_eq!(
        sim.run("systemctl", &["is-enabled", "nfs-common"]).stdout,
        "masked\n"
    );
    sim.run("systemctl", &["mask", "chrony"]).ok();
    assert_eq!(
        sim.run("systemctl", &["is-enabled", "chrony"]).stdout,
        "masked\n"
    );
    sim.run("systemctl", &["unmask", "chrony"]).ok();
    assert_eq!(
        sim.run("systemctl", &["is-enabled", "chrony"]).ok(),
        "enabled\n"
    );
    // A unit that cannot reload.
    assert_eq!(
        sim.run("systemctl", &["reload", "pve-cluster"]).fails(1),
        "Failed to reload pve-cluster.service: Job type reload is not applicable for unit pve-cluster.service.\n"
    );
}

#[test]
fn a_bad_configuration_fails_the_service_start() {
    let sim = Sim::new();
    sim.run("apt-get", &["install", "-y", "dnsmasq"]).ok();
    std::fs::write(sim.path("/etc/dnsmasq.d/bad.conf"), "no-such-option\n").unwrap();
    let out = sim.run("systemctl", &["restart", "dnsmasq"]);
    assert_eq!(
        out.fails(1),
        "Job for dnsmasq.service failed because the control process exited with error code.\nSee \"systemctl status dnsmasq.service\" and \"journalctl -xeu dnsmasq.service\" for details.\n"
    );
    assert_eq!(sim.run("systemctl", &["is-active", "dnsmasq"]).fails(3), "");
    assert_eq!(
        sim.run("systemctl", &["is-failed", "dnsmasq"]).ok(),
        "failed\n"
    );
    std::fs::remove_file(sim.path("/etc/dnsmasq.d/bad.conf")).unwrap();
    sim.run("systemctl", &["restart", "dnsmasq"]).ok();
    assert_eq!(
        sim.run("systemctl", &["is-active", "dnsmasq"]).ok(),
        "active\n"
    );
}

const GPU_UNIT: &str = "[Unit]\nDescription=Initialize NVIDIA GPUs\nBefore=pve-guests.service\n\n[Service]\nType=oneshot\nExecStart=/usr/bin/nvidia-smi\nExecStart=/usr/bin/nvidia-modprobe -u -c=0\nRemainAfterExit=yes\n\n[Install]\nWantedBy=multi-user.target\n";

#[test]
fn local_units_warn_when_changed_without_daemon_reload() {
    let sim = Sim::init(&["--gpus", "1"]);
    std::fs::remove_file(sim.path("/dev/nvidia-uvm")).unwrap();
    std::fs::remove_file(sim.path("/dev/nvidia-uvm-tools")).unwrap();
    let unit = sim.path("/etc/systemd/system/nvidia-gpu-init.service");
    std::fs::write(&unit, GPU_UNIT).unwrap();
    assert_eq!(
        sim.run("systemctl", &["is-enabled", "nvidia-gpu-init"])
            .fails(1),
        ""
    );
    assert_eq!(
        sim.run("systemctl", &["is-enabled", "nvidia-gpu-init"])
            .stdout,
        "disabled\n"
    );
    sim.run("systemctl", &["daemon-reload"]).ok();
    let out = sim.run("systemctl", &["enable", "--now", "nvidia-gpu-init.service"]);
    assert_eq!(
        out.ok(),
        "",
        "the symlink message goes to stderr: {}",
        out.stderr
    );
    assert_eq!(
        out.stderr,
        "Created symlink /etc/systemd/system/multi-user.target.wants/nvidia-gpu-init.service \u{2192} /etc/systemd/system/nvidia-gpu-init.service.\n"
    );
    assert!(sim.path("/dev/nvidia-uvm").exists() && sim.path("/dev/nvidia-uvm-tools").exists());
    assert_eq!(
        sim.run("systemctl", &["is-active", "nvidia-gpu-init"]).ok(),
        "active\n"
    );
    // Changed on disk, restarted without a daemon-reload.
    std::fs::write(&unit, GPU_UNIT.replace("-c=0", "-c=0 -m")).unwrap();
    let out = sim.run("systemctl", &["restart", "nvidia-gpu-init"]);
    assert_eq!(
        out.stderr,
        "Warning: The unit file, source configuration file or drop-ins of nvidia-gpu-init.service changed on disk. Run 'systemctl daemon-reload' to reload units.\n"
    );
    let u = &sim.state()["host"]["units"]["nvidia-gpu-init.service"];
    assert_eq!(
        (u["stale"].as_bool(), u["stale_warnings"].as_u64()),
        (Some(true), Some(1))
    );
    assert_eq!(
        sim.run(
            "systemctl",
            &[
                "show",
                "nvidia-gpu-init",
                "-p",
                "NeedDaemonReload",
                "--value"
            ]
        )
        .ok(),
        "yes\n"
    );
    sim.run("systemctl", &["daemon-reload"]).ok();
    let out = sim.run("systemctl", &["restart", "nvidia-gpu-init"]);
    assert_eq!(out.ok(), "");
    assert_eq!(out.stderr, "");
    assert_eq!(
        sim.state()["host"]["units"]["nvidia-gpu-init.service"]["stale"],
        false
    );
}

#[test]
fn a_gpu_init_unit_fails_without_a_loaded_driver() {
    let sim = Sim::init(&["--gpus", "1", "--nvidia-driver", "none"]);
    std::fs::write(
        sim.path("/etc/systemd/system/nvidia-gpu-init.service"),
        GPU_UNIT,
    )
    .unwrap();
    let out = sim.run("systemctl", &["start", "nvidia-gpu-init"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .starts_with("Job for nvidia-gpu-init.service failed")
    );
    assert!(!sim.path("/dev/nvidia-uvm").exists());
}
