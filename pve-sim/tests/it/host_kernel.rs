//! The simulated host's kernel side: AppArmor profiles (`apparmor_parser`) and the NVIDIA
//! driver (`lspci`, `curl` of the runfile, the installer, `modinfo`, `nvidia-smi`,
//! `update-initramfs`, and what `pve-sim reboot` loads).

use std::os::unix::fs::PermissionsExt;

use crate::support::Sim;

const PROFILE: &str = "#include <tunables/global>\n\nprofile phoenix-nesting flags=(attach_disconnected,mediate_deleted) {\n  #include <abstractions/lxc/container-base>\n  mount fstype=cgroup -> /sys/fs/cgroup/**,\n}\n";

fn profiles(sim: &Sim) -> String {
    sim.read("/sys/kernel/security/apparmor/profiles")
}

#[test]
fn a_fresh_host_has_the_lxc_profiles_loaded() {
    let sim = Sim::new();
    assert_eq!(
        profiles(&sim),
        "/usr/bin/lxc-start (enforce)\nlxc-container-default (enforce)\nlxc-container-default-cgns (enforce)\nlxc-container-default-with-mounting (enforce)\nlxc-container-default-with-nesting (enforce)\n"
    );
    assert_eq!(
        sim.state()["host"]["apparmor"]["lxc-container-default"]["source"],
        "/etc/apparmor.d/lxc-containers"
    );
}

#[test]
fn load_replace_add_twice_and_remove() {
    let sim = Sim::new();
    let file = sim.path("/etc/apparmor.d/phoenix-nesting");
    std::fs::write(&file, PROFILE).unwrap();
    let f = file.to_str().unwrap();
    assert_eq!(
        sim.run("apparmor_parser", &["-N", "-Q", f]).ok(),
        "phoenix-nesting\n"
    );
    assert!(
        !profiles(&sim).contains("phoenix-nesting"),
        "-Q loads nothing"
    );
    sim.run("apparmor_parser", &["-r", "-W", f]).ok();
    assert!(profiles(&sim).contains("phoenix-nesting (enforce)\n"));
    let loaded = &sim.state()["host"]["apparmor"]["phoenix-nesting"];
    assert_eq!(loaded["source"], "/etc/apparmor.d/phoenix-nesting");
    assert_eq!(
        loaded["sha256"].as_str().unwrap().len(),
        64,
        "the content it came from"
    );
    sim.run("apparmor_parser", &["--replace", f]).ok();
    assert_eq!(
        sim.run("apparmor_parser", &["-a", f]).fails(1),
        format!(
            "apparmor_parser: Unable to add \"phoenix-nesting\".  Profile already exists\nERROR processing policy for {f}\n"
        )
    );
    sim.run("apparmor_parser", &["-R", f]).ok();
    assert!(!profiles(&sim).contains("phoenix-nesting"));
    assert!(
        sim.run("apparmor_parser", &["--remove", f])
            .fails(1)
            .contains("Profile doesn't exist")
    );
    sim.run("apparmor_parser", &["--add", f]).ok();
    let audit = sim.audit();
    let effects: Vec<&str> = audit
        .iter()
        .map(|e| e["effect"].as_str().unwrap())
        .collect();
    assert_eq!(
        effects,
        [
            "read", "mutate", "mutate", "read", "mutate", "read", "mutate"
        ]
    );
}

#[test]
fn parse_errors_name_file_and_line() {
    let sim = Sim::new();
    let file = sim.path("/etc/apparmor.d/broken");
    let f = file.to_str().unwrap();
    std::fs::write(
        &file,
        "profile broken {\n  #include <abstractions/lxc/missing>\n}\n",
    )
    .unwrap();
    assert_eq!(
        sim.run("apparmor_parser", &["-r", f]).fails(1),
        format!(
            "AppArmor parser error for {f} in profile {f} at line 2: Could not open 'abstractions/lxc/missing'\n"
        )
    );
    std::fs::write(
        &file,
        "profile broken {\n  include if exists <local/broken>\n  network,\n",
    )
    .unwrap();
    assert!(
        sim.run("apparmor_parser", &["-r", f])
            .fails(1)
            .contains("syntax error, unexpected $end")
    );
    // apparmor.service loads every policy file: a broken one fails the reload.
    assert_eq!(
        sim.run("systemctl", &["reload", "apparmor"]).fails(1),
        "Job for apparmor.service failed because the control process exited with error code.\nSee \"systemctl status apparmor.service\" and \"journalctl -xeu apparmor.service\" for details.\n"
    );
    assert_eq!(
        sim.run("systemctl", &["is-active", "apparmor"]).ok(),
        "active\n"
    );
    std::fs::write(&file, "network,\nprofile broken {\n}\n").unwrap();
    assert_eq!(
        sim.run("apparmor_parser", &["-r", f]).fails(1),
        format!(
            "AppArmor parser error for {f} in profile {f} at line 1: syntax error, unexpected TOK_ID, expecting $end\n"
        )
    );
    assert!(!profiles(&sim).contains("broken"));
    std::fs::remove_file(&file).unwrap();
    sim.run("systemctl", &["reload", "apparmor"]).ok();
}

const URL: &str = "https://us.download.nvidia.com/XFree86/Linux-x86_64/580.82.07/NVIDIA-Linux-x86_64-580.82.07.run";

fn runfile(ver: &str) -> String {
    format!(
        "#!/bin/sh\n# NVIDIA Accelerated Graphics Driver for Linux-x86_64 {ver} (pve-sim stand-in)\nexec nvidia-installer --pve-sim-version {ver} \"$@\"\n"
    )
}

#[test]
fn curl_fetches_only_nvidia_runfiles() {
    let sim = Sim::init(&["--gpus", "1"]);
    let out = sim.path("/root/NVIDIA-Linux-x86_64-580.82.07.run");
    let o = out.to_str().unwrap();
    sim.run(
        "curl",
        &[
            "--fail",
            "--silent",
            "--show-error",
            "--location",
            "--proto",
            "=https",
            "--output",
            o,
            URL,
        ],
    )
    .ok();
    let body = std::fs::read_to_string(&out).unwrap();
    assert_eq!(body, runfile("580.82.07"));
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o644
    );
    assert_eq!(
        sim.run(
            "curl",
            &[
                "-fsSL",
                "--proto",
                "=https",
                "-o",
                o,
                &URL.replace("https", "http")
            ]
        )
        .fails(1),
        "curl: (1) Protocol \"http\" disabled\n"
    );
    assert_eq!(
        sim.run(
            "curl",
            &["-fsSL", "-o", o, "https://deb.nodesource.com/setup_20.x"]
        )
        .fails(6),
        "curl: (6) Could not resolve host: deb.nodesource.com\n"
    );
    assert!(
        sim.run("curl", &["-fsSL", "-o", "/tmp/outside.run", URL])
            .fails(23)
            .contains("is outside $PHOENIX_SYSROOT")
    );
    assert!(
        sim.run("curl", &["--frobnicate", URL])
            .fails(2)
            .starts_with("curl: option --frobnicate: is unknown\n")
    );
}

#[test]
fn debians_driver_package_blocks_the_runfile() {
    let sim = Sim::init(&["--gpus", "1", "--nvidia-driver", "none"]);
    assert!(!sim.path("/dev/nvidia0").exists());
    assert!(!sim.path("/proc/driver/nvidia/version").exists());
    assert_eq!(
        sim.run("modinfo", &["-F", "version", "nvidia"]).fails(1),
        "modinfo: ERROR: Module nvidia not found.\n"
    );
    assert!(sim.run("lspci", &["-Dnn"]).ok().contains("[10de:2684]"));
    sim.run_env(
        "apt-get",
        &["install", "-y", "proxmox-default-headers", "nvidia-driver"],
        &[("DEBIAN_FRONTEND", "noninteractive")],
    )
    .ok();
    assert_eq!(
        sim.run("modinfo", &["-F", "version", "nvidia"]).ok(),
        "535.247.01\n"
    );
    let run = sim.path("/root/driver.run");
    std::fs::write(&run, runfile("580.82.07")).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(
        sim.run_path(run.to_str().unwrap(), &["-s", "--dkms"])
            .fails(1),
        "ERROR: An NVIDIA kernel module 'nvidia' appears to be already loaded/installed by a package\n"
    );
}

#[test]
fn onboot_guests_start_after_a_reboot() {
    let sim = Sim::new();
    sim.container(101, &["--onboot", "1"]).ok();
    sim.container(102, &[]).ok();
    sim.run("pct", &["start", "102"]).ok();
    let out = sim.admin(&["reboot"]).ok().to_string();
    assert!(
        out.contains("stopped 102") && out.contains("started 101"),
        "{out}"
    );
    assert_eq!(sim.run("pct", &["status", "101"]).ok(), "status: running\n");
    assert_eq!(sim.run("pct", &["status", "102"]).ok(), "status: stopped\n");
}
