//! `pve-sim` itself: setting up, inspecting and steering the simulated host, and refusing to
//! touch anything outside `$PHOENIX_SYSROOT`.

use crate::support::{Sim, repo};
use phoenix_core::cmd::{Cmd, CmdError, Runner};

fn raw(args: &[&str], sysroot: Option<&str>) -> (i32, String) {
    let mut c = Cmd::read(env!("CARGO_BIN_EXE_pve-sim"))
        .args(args)
        .env("PHOENIX_SYSROOT", sysroot.unwrap_or(""));
    if let Some(s) = sysroot {
        c = c.env("PHOENIX_SYSROOT", s);
    }
    match Runner::system(false).run(&c) {
        Ok(o) => (0, o.stdout_str()),
        Err(CmdError::Failed { code, stderr, .. }) => (code.unwrap_or(-1), stderr),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn refuses_a_missing_or_real_root() {
    let (code, err) = raw(&["init"], None);
    assert_eq!(code, 2);
    assert!(err.contains("PHOENIX_SYSROOT is not set"), "{err}");
    let (code, err) = raw(&["init"], Some("/"));
    assert_eq!(code, 2);
    assert!(err.contains("refuses to simulate on a real root"), "{err}");
    let (code, err) = raw(&["pct", "list"], Some("/"));
    assert_eq!(code, 2, "{err}");
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = raw(&["pct", "list"], Some(dir.path().to_str().unwrap()));
    assert_eq!(code, 2);
    assert!(
        err.contains("is not initialised; run `pve-sim init` first"),
        "{err}"
    );
}

#[test]
fn help_documents_the_commands_and_costs() {
    let (code, out) = raw(&["--help"], None);
    assert_eq!(code, 0);
    for want in [
        "init [--node NAME] [--from-config DIR]",
        "fault add --tool T",
        "rule add --match GLOB",
        "audit [--summary]",
        "pct.clone.linked",
        "0.07",
        "PVE_SIM_STRICT",
        "--nvidia-driver VER|none",
        "disk add <PATH> [--size BYTES] [--tran nvme|sata]",
        "disk set <PATH> [--signature TYPE|none]",
        "    reboot\n",
        "    step-ca-root\n",
        "step ca certificate SUBJECT CRT KEY [--san NAME]...",
        "docker compose up|down|ps -q|ls",
        "HOST TOOLS",
        "apparmor_parser",
        "apt.install_per_pkg",
        "command not found",
    ] {
        assert!(out.contains(want), "--help lacks {want:?}");
    }
}

#[test]
fn init_lays_out_a_real_looking_host() {
    let sim = Sim::init(&["--node", "pve1", "--gpus", "2"]);
    assert!(sim.path("/etc/pve/nodes/pve1/lxc").is_dir());
    assert_eq!(
        std::fs::read_link(sim.path("/etc/pve/lxc"))
            .unwrap()
            .to_str(),
        Some("nodes/pve1/lxc")
    );
    assert_eq!(
        std::fs::read_link(sim.path("/etc/pve/qemu-server"))
            .unwrap()
            .to_str(),
        Some("nodes/pve1/qemu-server")
    );
    assert_eq!(
        sim.read("/etc/pve/storage.cfg"),
        "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\nzfspool: local-zfs\n\tpool rpool/data\n\tcontent images,rootdir\n\tsparse 1\n\n"
    );
    assert!(sim.path("/dev/nvidia1").exists() && sim.path("/dev/nvidiactl").exists());
    for t in ["pct", "qm", "pvesm", "pveam", "zfs", "zpool"] {
        assert!(sim.bin().join(t).exists(), "{t} is linked");
    }
    // A test that replaces a tool with its own script writes the script, not the simulator.
    let pct = sim.bin().join("pct");
    assert!(!pct.symlink_metadata().unwrap().file_type().is_symlink());
    assert!(
        std::fs::read_to_string(&pct)
            .unwrap()
            .contains("pve-sim' pct \"$@\"")
    );
    assert_eq!(
        sim.run("pct", &["status", "100"]).fails(255),
        "Configuration file 'nodes/pve1/lxc/100.conf' does not exist\n"
    );
    assert_eq!(
        sim.admin(&["init"])
            .fails(2)
            .lines()
            .next()
            .map(|l| l.ends_with("already holds a simulated host; use --force to start over")),
        Some(true)
    );
    sim.container(101, &[]).ok();
    sim.admin(&["init", "--force"]).ok();
    assert!(!sim.path("/etc/pve/lxc/101.conf").exists());
}

#[test]
fn init_from_the_reference_configuration() {
    let etc = repo().parent().unwrap().join("shared/reference/etc");
    if !etc.is_dir() {
        eprintln!(
            "note: {} is absent; skipping the reference host",
            etc.display()
        );
        return;
    }
    let sim = Sim::init(&["--from-config", etc.to_str().unwrap()]);
    let names =
        phoenix_core::pve::zfs::parse_names(sim.run("zpool", &["list", "-H", "-o", "name"]).ok())
            .unwrap();
    assert_eq!(names, ["fastData", "quickOS", "rpool"]);
    let storages =
        phoenix_core::pve::pvesm::parse_status(sim.run("pvesm", &["status"]).ok()).unwrap();
    assert!(
        storages
            .iter()
            .any(|s| s.name == "quickOS-lxc-disks" && s.kind == "zfspool" && s.active())
    );
    assert!(
        sim.path("/fastData/shared-iso/template/cache/ubuntu-24.04-standard_24.04-2_amd64.tar.zst")
            .is_file()
    );
    let status = sim.run("zpool", &["status", "quickOS"]).ok().to_string();
    assert!(
        status.contains("mirror-0")
            && status.contains("nvme-Samsung_SSD_990_EVO_Plus_2TB_S7U6NJ0Y320880M"),
        "{status}"
    );
}

#[test]
fn state_dump_shows_guests_storages_and_zfs() {
    let sim = Sim::new();
    sim.container(101, &[]).ok();
    sim.run("pct", &["snapshot", "101", "base"]).ok();
    sim.run("pct", &["start", "101"]).ok();
    sim.run("qm", &["create", "9000", "--name", "tmpl"]).ok();
    let out = sim.admin(&["state"]).ok().to_string();
    assert!(
        out.starts_with("node pve  clock 2026-01-01 00:00:"),
        "{out}"
    );
    assert!(
        out.contains("  101    ct  running  web                      snapshots: base\n"),
        "{out}"
    );
    assert!(out.contains("  9000   vm  stopped  tmpl"), "{out}");
    assert!(
        out.contains("local-zfs")
            && out.contains("rpool/data/subvol-101-disk-0")
            && out.contains("@base"),
        "{out}"
    );
    let json: serde_json::Value =
        serde_json::from_str(sim.admin(&["state", "--json"]).ok()).unwrap();
    assert_eq!(json["guests"]["101"]["running"], true);
    assert_eq!(json["host"]["packages"]["proxmox-ve"], "9.1.0");
    for want in [
        "\nhost: pve  kernel 6.17.2-1-pve  time zone Etc/UTC  locales en_US.UTF-8\n",
        "    chrony.service                   enabled   active",
        "    root             uid 0",
        "  proxmox users: root@pam\n",
        "    acl / user root@pam Administrator (propagate)\n",
        "    lxc-container-default                    enforce  from /etc/apparmor.d/lxc-containers\n",
        "  nvidia: 0 GPU(s), installed none, loaded none\n",
        "  reboot required: no\n",
        "boots 0\n",
    ] {
        assert!(out.contains(want), "state lacks {want:?}:\n{out}");
    }
}

#[test]
fn knobs_faults_and_rules_are_listed_and_validated() {
    let sim = Sim::new();
    assert!(
        sim.admin(&["config", "--time-scale", "0.01"])
            .ok()
            .contains("\"time_scale\": 0.01")
    );
    assert_eq!(
        sim.admin(&["config", "--time-scale", "-1"]).fails(2),
        "pve-sim: --time-scale must not be negative\n"
    );
    assert_eq!(
        sim.admin(&["fault", "add", "--tool", "apt"]).fails(2),
        "pve-sim: --tool `apt` is not a simulated tool (see `pve-sim --help`)\n"
    );
    sim.admin(&["fault", "add", "--tool", "zfs", "--sub", "create"])
        .ok();
    assert!(
        sim.admin(&["fault", "list"])
            .ok()
            .contains("\"tool\": \"zfs\"")
    );
    assert_eq!(
        sim.run("zfs", &["create", "rpool/x"]).fails(255),
        "injected fault in `zfs create`\n"
    );
    sim.admin(&[
        "rule",
        "add",
        "--match",
        "nvidia-smi*",
        "--stdout",
        "ok\n",
        "--file",
        "/tmp/x=1",
    ])
    .ok();
    assert!(
        sim.admin(&["rule", "list"])
            .ok()
            .contains("\"/tmp/x\": \"1\"")
    );
    assert_eq!(
        sim.admin(&["rule", "add"]).fails(2),
        "pve-sim: rule add needs --match\n"
    );
    assert_eq!(
        sim.admin(&["frobnicate"]).fails(2),
        "pve-sim: unknown command `frobnicate`; see `pve-sim --help`\n"
    );
}
