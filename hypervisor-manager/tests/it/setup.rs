//! `hypervisor-manager setup` against the simulator (strict), with only the simulator's tools
//! on `PATH`: a first run converges a host `setup` never ran on, a second run changes
//! nothing (no mutating command in the audit log, not one file different), dry runs change
//! nothing; disks with data are refused, single changes change only themselves, a missing
//! driver means `reboot required`, validated files are never replaced by rejected ones, and
//! secrets never reach argv or logs. Rendered files are insta snapshots.

use std::path::Path;

use crate::support::{self, Host, examples, reference, sibling};
use serde_json::json;

/// A crypt(3) hash (yescrypt) for the example's admin.
const ADMIN_HASH: &str =
    "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7";
/// The example config's hash file.
const ADMIN_HASH_FILE: &str = "/etc/phoenix_hypervisor/secrets/admin_password.hash";
/// The example config's Samba password file.
const SAMBA_PASSWORD_FILE: &str = "/etc/phoenix_hypervisor/secrets/samba_password";

/// Every configuration under test: the project's example and, when present, the shell
/// version's.
fn configs() -> Vec<(&'static str, std::path::PathBuf)> {
    let mut v = vec![("example", examples())];
    if let Some(r) = reference() {
        v.push(("reference", r));
    }
    v
}

/// A host `setup` never ran on: the configuration's disks, clean; one GPU with the
/// configured driver loaded; the secrets the configuration names.
fn bare(etc: &Path) -> Host {
    let h = Host::with_init(etc, &["--bare", "--gpus", "1"]);
    h.write_host_file(ADMIN_HASH_FILE, &format!("{ADMIN_HASH}\n"), 0o600);
    h.write_host_file(SAMBA_PASSWORD_FILE, "example samba password\n", 0o600);
    h
}

/// `setup <args>`.
fn setup(h: &Host, args: &[&str]) -> support::Out {
    let mut a = vec!["setup"];
    a.extend_from_slice(args);
    h.hv(&a)
}

/// The summary line of `step`.
fn outcome<'a>(stdout: &'a str, step: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{step} ")))
        .map(|l| l.trim_start()[step.len()..].trim())
        .unwrap_or_else(|| panic!("no summary line for {step} in\n{stdout}"))
}

/// What a rendered file looks like on every machine (the binaries' directory replaced).
fn portable(text: &str) -> String {
    let bin = sibling("hypervisor-manager");
    text.replace(&bin.parent().unwrap().display().to_string(), "[BIN]")
}

const STEPS: [&str; 9] = [
    "system", "zfs", "storage", "users", "shares", "firewall", "apparmor", "nvidia", "dns",
];

#[test]
fn a_bare_host_converges_in_one_run_and_a_second_run_changes_nothing() {
    for (label, etc) in configs() {
        let h = bare(&etc);
        let before = h.tree();
        let out = setup(&h, &["--dry-run"]);
        let stdout = out.ok();
        assert!(stdout.contains("dry run: nothing was changed"), "{stdout}");
        assert_eq!(
            h.mutations_since(0),
            Vec::<String>::new(),
            "{label}: dry run"
        );
        assert_eq!(
            Host::tree_changes(&before, &h.tree()),
            Vec::<String>::new(),
            "{label}: a dry run writes no file"
        );

        let out = setup(&h, &[]);
        let stdout = out.ok().to_string();
        for s in STEPS {
            let o = outcome(&stdout, s);
            assert!(o == "changed" || o == "ok", "{label}: {s} is {o}\n{stdout}");
        }
        let first = h.mutations_since(0);
        assert!(
            first.iter().any(|m| m.starts_with("zpool create")),
            "{first:#?}"
        );
        assert!(
            !first
                .iter()
                .any(|m| m.contains("dist-upgrade") || m.contains("wipefs")),
            "{label}: no upgrade, no wipe of clean disks: {first:#?}"
        );

        let mark = h.mark();
        let converged = h.tree();
        let out = setup(&h, &[]);
        let stdout = out.ok().to_string();
        for s in STEPS {
            assert_eq!(outcome(&stdout, s), "ok", "{label}: {s}\n{stdout}");
        }
        assert_eq!(h.mutations_since(mark), Vec::<String>::new(), "{label}");
        assert_eq!(h.refusals(), Vec::<String>::new(), "{label}");
        assert_eq!(
            Host::tree_changes(&converged, &h.tree()),
            Vec::<String>::new(),
            "{label}: the second run wrote nothing"
        );

        for (name, path) in [
            ("exports", "/etc/exports.d/phoenix.exports"),
            ("cluster_fw", "/etc/pve/firewall/cluster.fw"),
            ("logrotate", "/etc/logrotate.d/phoenix_hypervisor"),
            ("apparmor_profile", "/etc/apparmor.d/lxc-phoenix-v2"),
            ("apparmor_tunables", "/etc/apparmor.d/tunables/phoenix"),
            ("dnsmasq", "/etc/dnsmasq.d/phoenix.conf"),
            ("resolv_conf", "/etc/resolv.conf"),
            (
                "gpu_init_unit",
                "/etc/systemd/system/nvidia-gpu-init.service",
            ),
            (
                "renewal_service",
                "/etc/systemd/system/phoenix-cert-renewal.service",
            ),
            (
                "renewal_timer",
                "/etc/systemd/system/phoenix-cert-renewal.timer",
            ),
        ] {
            insta::assert_snapshot!(format!("{name}_{label}"), portable(&h.read(path)));
        }
        insta::assert_snapshot!(format!("sudoers_{label}"), h.read("/etc/sudoers.d/phoenix"));
        insta::assert_snapshot!(format!("smb_conf_{label}"), h.read("/etc/samba/smb.conf"));
    }
}

#[test]
fn the_host_pve_sim_made_needs_only_the_arc_limit_then_nothing() {
    for (label, etc) in configs() {
        let h = Host::new(&etc, 0);
        // The simulated installer left no ARC limit: the first run persists it (a file, no
        // Proxmox command); everything else already matches.
        let out = setup(&h, &["--step", "zfs", "--step", "storage"]);
        let stdout = out.ok();
        assert!(
            stdout.contains("~ /etc/modprobe.d/zfs.conf: zfs_arc_max="),
            "{stdout}"
        );
        assert_eq!(outcome(stdout, "storage"), "ok", "{label}");
        assert_eq!(h.mutations_since(0), Vec::<String>::new(), "{label}");
        let out = setup(&h, &["--step", "zfs", "--step", "storage"]);
        let stdout = out.ok();
        assert_eq!(outcome(stdout, "zfs"), "ok");
        assert_eq!(h.mutations_since(0), Vec::<String>::new());
        assert_eq!(h.refusals(), Vec::<String>::new());
    }
}

#[test]
fn one_changed_property_is_one_zfs_set() {
    let h = Host::new(&examples(), 0);
    h.edit_host(|v| {
        let ds = &mut v["zfs"]["datasets"][0];
        let props = ds["properties"]
            .as_str()
            .unwrap()
            .replace("sync=standard", "sync=disabled");
        ds["properties"] = json!(props);
    });
    let ds = &h.host_config()["zfs"]["datasets"][0];
    let name = format!(
        "{}/{}",
        ds["pool"].as_str().unwrap(),
        ds["name"].as_str().unwrap()
    );
    let zfs = ["--step", "zfs", "--step", "storage"];
    let out = setup(&h, &[&zfs[..], &["--dry-run"]].concat());
    assert!(
        out.ok()
            .contains(&format!("~ {name} sync: standard -> disabled")),
        "{}",
        out.stdout
    );
    assert_eq!(h.mutations_since(0), Vec::<String>::new(), "dry run");
    let out = setup(&h, &zfs);
    assert_eq!(outcome(out.ok(), "zfs"), "changed");
    assert_eq!(
        h.mutations_since(0),
        [format!("zfs set sync=disabled {name}")]
    );
    let mark = h.mark();
    setup(&h, &zfs).ok();
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());
}

#[test]
fn a_lost_storage_is_added_again_and_unmanaged_storages_survive() {
    let h = Host::new(&examples(), 0);
    h.tool("pvesm", &["remove", "tank-vm-disks"]).ok();
    h.tool(
        "pvesm",
        &[
            "add",
            "dir",
            "scratch",
            "--path",
            "/srv/scratch",
            "--content",
            "iso",
        ],
    )
    .ok();
    let mark = h.mark();
    let out = setup(&h, &["--step", "storage"]);
    assert_eq!(outcome(out.ok(), "storage"), "changed");
    let m = h.mutations_since(mark);
    assert_eq!(m.len(), 1, "{m:#?}");
    assert!(
        m[0].starts_with("pvesm add zfspool tank-vm-disks --pool tank/vm-disks"),
        "{m:#?}"
    );
    assert!(
        h.read("/etc/pve/storage.cfg").contains("dir: scratch"),
        "left alone"
    );
}

#[test]
fn a_disk_with_data_is_refused_unless_named_with_wipe_disks() {
    let h = bare(&examples());
    let disk = h.host_config()["zfs"]["pools"][1]["disks"][0]
        .as_str()
        .unwrap()
        .to_string();
    h.sim(&[
        "disk",
        "set",
        &disk,
        "--signature",
        "ext4",
        "--partitions",
        "1",
    ])
    .ok();
    let out = setup(&h, &["--step", "zfs", "--step", "storage"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let zfs = outcome(&out.stdout, "zfs");
    assert!(
        zfs.starts_with("failed: pool bulk is not created:"),
        "{zfs}"
    );
    assert!(
        zfs.contains(&disk) && zfs.contains("ext4") && zfs.contains("--wipe-disks"),
        "{zfs}"
    );
    assert_eq!(
        outcome(&out.stdout, "storage"),
        "skipped: an earlier step failed"
    );
    assert_eq!(
        h.mutations_since(0),
        Vec::<String>::new(),
        "nothing touched, not even the clean pool's disks"
    );

    let out = setup(&h, &["--step", "zfs", "--wipe-disks", &disk]);
    assert_eq!(outcome(out.ok(), "zfs"), "changed");
    let m = h.mutations_since(0);
    assert_eq!(
        m.iter()
            .filter(|c| c.starts_with("wipefs"))
            .collect::<Vec<_>>(),
        [&format!("wipefs -a {disk}")],
        "only the named disk is wiped"
    );
    assert!(
        m.iter()
            .any(|c| c.starts_with("zpool create") && c.contains(" bulk ")),
        "{m:#?}"
    );
    // Naming it again is harmless: a disk of an existing pool is never wiped.
    let mark = h.mark();
    let out = setup(&h, &["--step", "zfs", "--wipe-disks", &disk]);
    assert_eq!(outcome(out.ok(), "zfs"), "ok");
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());
    let out = setup(&h, &["--step", "zfs"]);
    assert_eq!(outcome(out.ok(), "zfs"), "ok");
}

#[test]
fn a_pool_on_a_missing_disk_fails_the_step_and_skips_the_rest() {
    let h = Host::new(&examples(), 0);
    h.edit_host(|v| {
        v["zfs"]["pools"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "fresh", "raid_level": "single", "disks": ["/dev/sdz"]}));
    });
    let out = setup(&h, &["--step", "zfs", "--step", "storage"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(
        outcome(&out.stdout, "zfs"),
        "failed: pool fresh is not created: /dev/sdz does not exist"
    );
    assert_eq!(
        outcome(&out.stdout, "storage"),
        "skipped: an earlier step failed"
    );
    assert_eq!(h.mutations_since(0), Vec::<String>::new());
}

/// The sha256 of the runfile pve-sim serves for `version` (its documented content).
fn sim_runfile_sha(version: &str) -> String {
    let text = format!(
        "#!/bin/sh\n# NVIDIA Accelerated Graphics Driver for Linux-x86_64 {version} (pve-sim stand-in)\nexec nvidia-installer --pve-sim-version {version} \"$@\"\n"
    );
    phoenix_core::converge::sha256_hex(text.as_bytes())
}

#[test]
fn a_missing_driver_is_installed_then_reboot_required_until_the_host_reboots() {
    let h = Host::with_init(&examples(), &["--gpus", "1", "--nvidia-driver", "none"]);
    let version = h.host_config()["nvidia_driver"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    h.edit_host(|v| v["nvidia_driver"]["runfile_sha256"] = json!(sim_runfile_sha(&version)));
    let nvidia = ["--step", "nvidia"];
    let out = setup(&h, &[&nvidia[..], &["--dry-run"]].concat());
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert_eq!(outcome(&out.stdout, "nvidia"), "reboot required");
    assert_eq!(h.mutations_since(0), Vec::<String>::new());

    let out = setup(&h, &nvidia);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "reboot required: the NVIDIA driver {version} loads at the next boot"
        )),
        "{}",
        out.stdout
    );
    let m = h.mutations_since(0);
    let runfile = format!("NVIDIA-Linux-x86_64-{version}.run");
    assert!(
        m.iter().any(|c| c.starts_with("apt-get install")
            && c.contains("dkms")
            && c.contains("proxmox-headers-")),
        "{m:#?}"
    );
    assert!(
        m.iter()
            .any(|c| c.starts_with("curl") && c.contains(&runfile)),
        "{m:#?}"
    );
    assert!(
        m.iter()
            .any(|c| c.starts_with("nvidia-installer") && c.contains("--dkms")),
        "{m:#?}"
    );
    assert!(
        !m.iter()
            .any(|c| c.contains("purge") || c.contains("reboot")),
        "{m:#?}"
    );

    let mark = h.mark();
    let out = setup(&h, &nvidia);
    assert_eq!(out.code, 3, "still waiting for the reboot: {}", out.stdout);
    assert!(
        out.stdout.contains(&format!(
            "the NVIDIA driver {version} is installed but none is loaded"
        )),
        "{}",
        out.stdout
    );
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());

    // `phoenix setup` passes the status on.
    let out = h.cli_sim_only(&["setup", "--step", "nvidia"]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);

    h.sim(&["reboot"]).ok();
    let out = setup(&h, &nvidia);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        h.path("/dev/nvidia-uvm").exists(),
        "device nodes initialised"
    );
    let mark = h.mark();
    let out = setup(&h, &nvidia);
    assert_eq!(outcome(out.ok(), "nvidia"), "ok");
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());
}

#[test]
fn a_runfile_with_the_wrong_checksum_is_deleted_and_never_run() {
    let h = Host::with_init(&examples(), &["--gpus", "1", "--nvidia-driver", "none"]);
    h.edit_host(|v| v["nvidia_driver"]["runfile_sha256"] = json!("0".repeat(64)));
    let out = setup(&h, &["--step", "nvidia"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let o = outcome(&out.stdout, "nvidia");
    assert!(
        o.contains("is not nvidia_driver.runfile_sha256") && o.contains("nothing was installed"),
        "{o}"
    );
    let m = h.mutations_since(0);
    assert!(
        !m.iter().any(|c| c.starts_with("nvidia-installer")),
        "{m:#?}"
    );
    let cache = h.path("/var/cache/phoenix_hypervisor/nvidia");
    assert_eq!(
        std::fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0),
        0,
        "deleted"
    );
}

#[test]
fn a_sudoers_file_visudo_rejects_never_replaces_the_old_one() {
    let h = bare(&examples());
    setup(&h, &["--step", "system", "--step", "users"]).ok();
    let good = h.read("/etc/sudoers.d/phoenix");
    h.edit_host(|v| v["users"]["username"] = json!("ops"));
    h.sim(&[
        "fault",
        "add",
        "--tool",
        "visudo",
        "--exit",
        "1",
        "--message",
        "/etc/sudoers.d/.phoenix.phoenix-tmp: syntax error near line 3",
    ])
    .ok();
    let out = setup(&h, &["--step", "users"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        outcome(&out.stdout, "users").contains("was rejected"),
        "{}",
        out.stdout
    );
    assert_eq!(h.read("/etc/sudoers.d/phoenix"), good, "the old file stays");
    let leftovers: Vec<_> = std::fs::read_dir(h.path("/etc/sudoers.d"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("phoenix-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left behind");
}

#[test]
fn secrets_reach_commands_on_stdin_only() {
    let etc = reference().unwrap_or_else(examples);
    let h = bare(&etc);
    let password = "correct horse battery staple";
    h.write_host_file(
        "/etc/phoenix_hypervisor/secrets/samba",
        &format!("{password}\n"),
        0o600,
    );
    h.edit_host(|v| {
        v["users"]["password_hash_file"] = json!(ADMIN_HASH_FILE);
        v["samba"] = json!({
            "user": "heads",
            "password_file": "/etc/phoenix_hypervisor/secrets/samba",
            "shares": [{"name": "data", "path": "tank/data", "valid_users": ["heads"]}]
        });
    });
    let out = setup(
        &h,
        &["--step", "system", "--step", "users", "--step", "shares"],
    );
    let stdout = out.ok().to_string();
    assert!(
        stdout
            .contains("+ Samba account heads: password from /etc/phoenix_hypervisor/secrets/samba"),
        "{stdout}"
    );
    let m = h.mutations_since(0);
    assert!(m.iter().any(|c| c == "smbpasswd -s -a heads"), "{m:#?}");
    assert!(m.iter().any(|c| c == "chpasswd --encrypted"), "{m:#?}");
    let audit = std::fs::read_to_string(h.path("/var/lib/pve-sim/audit.jsonl")).unwrap();
    let log = h.log_text();
    assert!(
        log.contains("smbpasswd -s -a heads") && log.contains("chpasswd --encrypted"),
        "the commands are logged, without their input: {log}"
    );
    for (what, text) in [
        ("audit", &audit),
        ("log", &log),
        ("stdout", &stdout),
        ("stderr", &out.stderr),
    ] {
        assert!(
            !text.contains(password),
            "the Samba password is in the {what}"
        );
        assert!(
            !text.contains(ADMIN_HASH),
            "the admin's hash is in the {what}"
        );
    }
    let mark = h.mark();
    setup(&h, &["--step", "users", "--step", "shares"]).ok();
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());
}

#[test]
fn dnsmasq_restarts_only_when_its_file_changes() {
    let h = bare(&examples());
    setup(&h, &["--step", "system", "--step", "dns"]).ok();
    let restarts = || {
        h.mutations_since(0)
            .iter()
            .filter(|m| m.starts_with("systemctl restart dnsmasq"))
            .count()
    };
    // Installing dnsmasq started it with Debian's defaults: one restart reads our file.
    assert_eq!(restarts(), 1);
    setup(&h, &["--step", "dns"]).ok();
    assert_eq!(restarts(), 1, "unchanged: not restarted");
    h.edit_host(|v| v["dns_server"]["upstream_servers"] = json!(["9.9.9.9"]));
    let out = setup(&h, &["--step", "dns"]);
    assert_eq!(outcome(out.ok(), "dns"), "changed");
    assert_eq!(restarts(), 2);
    let conf = h.read("/etc/dnsmasq.d/phoenix.conf");
    assert!(
        conf.contains("server=9.9.9.9\n") && !conf.contains("server=1.1.1.1\n"),
        "{conf}"
    );
}

#[test]
fn the_ca_is_trusted_once_its_guest_wrote_the_root_and_step_is_bootstrapped() {
    let h = bare(&examples());
    setup(&h, &["--step", "system"]).ok();
    let out = setup(&h, &["--step", "dns"]);
    assert!(
        out.ok()
            .contains("does not exist yet (the CA guest writes it)"),
        "{}",
        out.stdout
    );
    let root = h.host_config()["step_ca"]["root_ca_file"]
        .as_str()
        .unwrap()
        .to_string();
    let pem = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIQ\n-----END CERTIFICATE-----\n";
    h.write_host_file(&root, pem, 0o644);
    let mark = h.mark();
    let out = setup(&h, &["--step", "dns"]);
    assert!(
        out.ok()
            .contains("the step CLI (package step-cli) is not installed"),
        "{}",
        out.stdout
    );
    assert_eq!(
        h.read("/usr/local/share/ca-certificates/phoenix_root_ca.crt"),
        pem
    );
    assert_eq!(h.mutations_since(mark), ["update-ca-certificates"]);
    h.tool("apt-get", &["install", "-y", "step-cli"]).ok();
    let mark = h.mark();
    setup(&h, &["--step", "dns"]).ok();
    let m = h.mutations_since(mark);
    assert_eq!(m.len(), 1, "{m:#?}");
    assert!(
        m[0].starts_with("step ca bootstrap --ca-url https://10.20.0.10:9000 --fingerprint "),
        "{m:#?}"
    );
    let mark = h.mark();
    let out = setup(&h, &["--step", "dns"]);
    assert_eq!(outcome(out.ok(), "dns"), "ok");
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());
}

#[test]
fn the_host_is_renamed_only_when_fresh_and_unclustered() {
    let h = bare(&examples());
    h.edit_host(|v| v["network"]["hostname"] = json!("phoenix-01"));
    let out = setup(&h, &["--step", "system"]);
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert!(
        h.mutations_since(0)
            .contains(&"hostnamectl set-hostname phoenix-01".to_string())
    );

    let h = Host::new(&examples(), 0);
    h.lxc(&["create", "900"]).ok();
    h.edit_host(|v| v["network"]["hostname"] = json!("phoenix-01"));
    let mark = h.mark();
    let out = setup(&h, &["--step", "system"]);
    assert!(
        out.stdout
            .contains("a node holding guests is never renamed"),
        "{}",
        out.stdout
    );
    assert!(
        !h.mutations_since(mark)
            .iter()
            .any(|m| m.starts_with("hostnamectl"))
    );

    let h = bare(&examples());
    h.write_host_file(
        "/etc/pve/corosync.conf",
        "totem {\n  cluster_name: lab\n}\n",
        0o640,
    );
    h.edit_host(|v| v["network"]["hostname"] = json!("phoenix-01"));
    let out = setup(&h, &["--step", "system"]);
    assert!(
        out.ok().contains("a clustered node is never renamed"),
        "{}",
        out.stdout
    );
    assert!(
        !h.mutations_since(0)
            .iter()
            .any(|m| m.starts_with("hostnamectl"))
    );
}

#[test]
fn vfio_binds_the_configured_devices_at_the_next_boot() {
    let h = Host::new(&examples(), 1);
    h.edit_host(|v| {
        v["nvidia_driver"]["install"] = json!(false);
        v["vfio"] = json!({"enabled": true, "pci_ids": ["10de:2684", "10DE:22BA"]});
    });
    let nvidia = ["--step", "nvidia"];
    let out = setup(&h, &nvidia);
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert!(
        out.stdout.contains("reboot required: 0000:01:00.0 (10de:2684) is bound to nvidia; vfio-pci takes it at the next boot"),
        "{}",
        out.stdout
    );
    insta::assert_snapshot!("vfio_modprobe", h.read("/etc/modprobe.d/phoenix-vfio.conf"));
    assert_eq!(
        h.read("/etc/modules-load.d/phoenix-vfio.conf")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>(),
        ["vfio", "vfio_iommu_type1", "vfio_pci"]
    );
    assert_eq!(h.mutations_since(0), ["update-initramfs -u -k all"]);
    let mark = h.mark();
    assert_eq!(setup(&h, &nvidia).code, 3, "bound only after a reboot");
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());

    h.sim(&["reboot"]).ok();
    let out = setup(&h, &nvidia);
    assert_eq!(outcome(out.ok(), "nvidia"), "ok");
    assert!(
        h.tool("lspci", &["-Dnnk"])
            .ok()
            .contains("Kernel driver in use: vfio-pci")
    );

    h.edit_host(|v| v["vfio"]["enabled"] = json!(false));
    let mark = h.mark();
    let out = setup(&h, &nvidia);
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert!(!h.path("/etc/modprobe.d/phoenix-vfio.conf").exists());
    assert_eq!(h.mutations_since(mark), ["update-initramfs -u -k all"]);
}

/// The drop-in promise for the host: `setup` converges a bare host made from every
/// dispatcher-era configuration set of the historical corpus
/// (`phoenix-core/tests/data/history/`: dataset properties as objects or `""`, `nfs.shares`,
/// nameless Samba shares, `arc_max` in bytes, …), and a second run changes nothing.
#[test]
fn every_historical_host_configuration_converges_then_changes_nothing() {
    let corpus = support::repo().join("phoenix-core/tests/data/history");
    let mut sets: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.join("expect.json").is_file()
                && !p
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("legacy")
        })
        .collect();
    sets.sort();
    assert!(sets.len() >= 25);
    for set in sets {
        let name = set.file_name().unwrap().to_string_lossy().into_owned();
        let h = Host::with_init(&set.join("etc"), &["--bare", "--gpus", "1"]);
        let out = setup(&h, &[]);
        assert!(
            out.code == 0 || out.code == 3,
            "{name}: setup exited {}\n{}\n{}",
            out.code,
            out.stdout,
            out.stderr
        );
        let mark = h.mark();
        let again = setup(&h, &[]);
        assert!(
            again.code == 0 || again.code == 3,
            "{name}: {}",
            again.stderr
        );
        assert_eq!(h.mutations_since(mark), Vec::<String>::new(), "{name}");
        assert_eq!(h.refusals(), Vec::<String>::new(), "{name}");
    }
}

/// Host directories given away (issue 15, case 2): setup gives a Samba share's directory to
/// the Samba user only when it made that directory in this run; an existing directory keeps
/// its owner and mode, and the plan says so.
#[test]
fn an_existing_share_directory_keeps_its_owner_and_a_new_one_is_the_samba_users() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let h = bare(&examples());
    h.write_host_file("/srv/team/notes.txt", "keep me\n", 0o644);
    std::fs::set_permissions(h.path("/srv/team"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = std::fs::metadata(h.path("/srv/team")).unwrap();
    h.edit_host(|v| {
        v["samba"]["shares"] = json!([
            {"name": "team", "path": "srv/team", "valid_users": ["share"]},
            {"name": "fresh", "path": "srv/fresh", "valid_users": ["share"]}
        ]);
    });
    let out = setup(
        &h,
        &["--step", "system", "--step", "users", "--step", "shares"],
    );
    let stdout = out.ok().to_string();
    assert!(
        stdout.contains(&format!(
            "! /srv/team is owned by {}:{}, not share: left as it is",
            before.uid(),
            before.gid()
        )),
        "{stdout}"
    );
    let after = std::fs::metadata(h.path("/srv/team")).unwrap();
    assert_eq!(
        (after.uid(), after.gid(), after.mode() & 0o7777),
        (before.uid(), before.gid(), 0o755)
    );
    let fresh = std::fs::metadata(h.path("/srv/fresh")).unwrap();
    assert_eq!(fresh.mode() & 0o7777, 0o770);
    let share = h.tool("getent", &["passwd", "share"]);
    let uid: u32 = share.ok().split(':').nth(2).unwrap().parse().unwrap();
    assert_eq!(
        fresh.uid(),
        uid,
        "the directory setup made is the Samba user's"
    );
    // Converged: the note stays a note, nothing changes.
    let mark = h.mark();
    let out = setup(&h, &["--step", "shares"]);
    assert!(out.ok().contains("left as it is"));
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());
}

/// Every file `setup` writes that a Debian package can check passes that real checker
/// (issue 17, item 3): dnsmasq's (`dnsmasq --test`), Samba's (`testparm -s`), the sudoers
/// drop-in (`visudo -c -f`), the AppArmor profiles (`apparmor_parser -Q -K`, with LXC's
/// abstractions from liblxc-common), the systemd units (`systemd-analyze verify`) and the
/// logrotate stanza (`logrotate -d`). A checker that is not installed skips with a note
/// (CI installs them all).
#[test]
fn every_file_setup_writes_passes_its_real_checker() {
    use phoenix_testkit::validate;
    for (label, etc) in configs() {
        let h = bare(&etc);
        setup(&h, &[]).ok();
        let file = |p: &str| h.path(p);
        let state = h.path("/tmp/logrotate.state").display().to_string();
        let host_ad = file("/etc/apparmor.d").display().to_string();
        // (checker, its Debian package, the file setup wrote, the checker's arguments before
        // it, how the file is passed)
        let checks: [(&str, &str, &str, Vec<&str>, &str); 5] = [
            (
                "dnsmasq",
                "dnsmasq-base",
                "/etc/dnsmasq.d/phoenix.conf",
                vec!["--test"],
                "--conf-file=",
            ),
            (
                "testparm",
                "samba-common-bin",
                "/etc/samba/smb.conf",
                vec!["-s", "--suppress-prompt"],
                "",
            ),
            (
                "visudo",
                "sudo",
                "/etc/sudoers.d/phoenix",
                vec!["-c", "-f"],
                "",
            ),
            (
                "apparmor_parser",
                "apparmor liblxc-common",
                "/etc/apparmor.d/lxc-phoenix-v2",
                vec!["-Q", "-K", "-I", &host_ad, "-I", "/etc/apparmor.d"],
                "",
            ),
            (
                "logrotate",
                "logrotate",
                "/etc/logrotate.d/phoenix_hypervisor",
                vec!["-d", "-s", &state],
                "",
            ),
        ];
        for (program, package, written, before, how) in checks {
            let Some(bin) = validate::program(program, package) else {
                continue;
            };
            let target = file(written);
            assert!(target.is_file(), "{label}: setup wrote no {written}");
            let mut args: Vec<String> = before.iter().map(|a| a.to_string()).collect();
            args.push(format!("{how}{}", target.display()));
            if let Err(e) = validate::run(&bin, &args) {
                panic!("{label}: {program} refuses {written}:\n{e}");
            }
        }
        // The units phoenix owns.
        if let Some(bin) = validate::program("systemd-analyze", "systemd") {
            let units: Vec<std::path::PathBuf> = std::fs::read_dir(file("/etc/systemd/system"))
                .unwrap()
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && std::fs::read_to_string(p)
                            .is_ok_and(|t| t.contains("Managed by phoenix"))
                })
                .collect();
            assert!(!units.is_empty(), "{label}: no unit written");
            let mut args: Vec<std::ffi::OsString> = vec!["verify".into(), "--man=no".into()];
            args.extend(units.iter().map(|u| u.clone().into_os_string()));
            // systemd-analyze checks that ExecStart's program exists on this machine; the
            // simulated host's programs (nvidia-smi) exist in its system root instead.
            if let Err(e) = validate::run(&bin, &args) {
                let real = e
                    .lines()
                    .skip(1)
                    .filter(|l| !l.trim().is_empty())
                    .filter(|l| {
                        let missing = l
                            .split_once("Command ")
                            .and_then(|(_, r)| r.split_once(" is not executable: No such file"))
                            .map(|(p, _)| p);
                        !missing.is_some_and(|p| h.path(p).is_file())
                    });
                let real: Vec<&str> = real.collect();
                assert!(
                    real.is_empty(),
                    "{label}: systemd-analyze verify refuses {units:?}:\n{e}"
                );
            }
        }
    }
}
