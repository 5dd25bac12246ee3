//! Services and settings on the simulated host: NFS exports, Samba, dnsmasq, time zone,
//! locales, host name, CA certificates and `step` (real certificates from the simulated step
//! CA, checked with x509-parser); faults on host tools; and the audit log's read/mutate
//! split.

use crate::support::Sim;

fn noninteractive(sim: &Sim, pkgs: &[&str]) {
    let mut a = vec!["install", "-y"];
    a.extend_from_slice(pkgs);
    sim.run_env("apt-get", &a, &[("DEBIAN_FRONTEND", "noninteractive")])
        .ok();
}

#[test]
fn exportfs_checks_every_export() {
    let sim = Sim::new();
    noninteractive(&sim, &["nfs-kernel-server"]);
    std::fs::create_dir_all(sim.path("/tank/shared")).unwrap();
    std::fs::create_dir_all(sim.path("/etc/exports.d")).unwrap();
    std::fs::write(
        sim.path("/etc/exports.d/phoenix.exports"),
        "/tank/shared 10.20.0.31(rw,sync,no_subtree_check,root_squash) 10.20.0.32(ro,sync,no_subtree_check)\n/tank/missing 10.20.0.31(rw,sync,no_subtree_check)\n",
    )
    .unwrap();
    assert_eq!(
        sim.run("exportfs", &["-ra"]).fails(1),
        "exportfs: Failed to stat /tank/missing: No such file or directory\n"
    );
    std::fs::write(
        sim.path("/etc/exports.d/phoenix.exports"),
        "/tank/shared 10.20.0.31(rw,sync,no_subtree_check,root_squash) 10.20.0.32(ro,sync,no_subtree_check)\n",
    )
    .unwrap();
    assert_eq!(sim.run("exportfs", &["-ra"]).ok(), "");
    assert_eq!(
        sim.run("exportfs", &["-v"]).ok(),
        "/tank/shared  \t10.20.0.31(sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,root_squash,no_all_squash)\n/tank/shared  \t10.20.0.32(sync,wdelay,hide,no_subtree_check,sec=sys,ro,secure,root_squash,no_all_squash)\n"
    );
    std::fs::write(
        sim.path("/etc/exports.d/phoenix.exports"),
        "/tank/shared 10.20.0.31(rw,sync,no_subtree_check,frobnicate)\n",
    )
    .unwrap();
    assert_eq!(
        sim.run("exportfs", &["-ra"]).fails(1),
        "exportfs: /etc/exports.d/phoenix.exports:1: unknown keyword \"frobnicate\"\n"
    );
    // Without a running NFS server there is nothing to export to.
    sim.run("systemctl", &["stop", "nfs-server"]).ok();
    assert_eq!(
        sim.run("exportfs", &["-ra"]).fails(1),
        "exportfs: could not open /proc/fs/nfs/exports for locking: errno 2 (No such file or directory)\n"
    );
    assert_eq!(sim.run("exportfs", &["-s"]).ok(), "");
}

#[test]
fn samba_configuration_and_passwords() {
    let sim = Sim::new();
    noninteractive(&sim, &["samba", "smbclient"]);
    let conf = sim.path("/etc/samba/smb.conf");
    let c = conf.to_str().unwrap();
    let out = sim.run("testparm", &["-s", "--suppress-prompt", c]);
    assert!(out.ok().starts_with("# Global parameters\n[global]\n"));
    assert!(out.stdout.contains("\n[homes]\n\tbrowseable = No\n"));
    assert_eq!(
        out.stderr,
        format!(
            "Load smb config files from {c}\nLoaded services file OK.\nServer role: ROLE_STANDALONE\n\n"
        )
    );
    std::fs::write(
        &conf,
        "[global]\n   workgroup = LAB\n   frobnicate = yes\n[shared]\n   path = /tank/shared\n   writeable = yes\n",
    )
    .unwrap();
    let out = sim.run("testparm", &["-s", c]);
    assert!(
        out.ok()
            .contains("[shared]\n\tpath = /tank/shared\n\tread only = No\n"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains(
        "Unknown parameter encountered: \"frobnicate\"\nIgnoring unknown parameter \"frobnicate\"\n"
    ));
    std::fs::write(&conf, "[global\n").unwrap();
    assert!(
        sim.run("testparm", &["-s", c])
            .fails(1)
            .ends_with("Error loading services.\n")
    );
    // smbd will not start on that.
    assert_eq!(sim.run("systemctl", &["restart", "smbd"]).code, 1);
    // Passwords: read twice from stdin; only a hash is kept.
    sim.run("useradd", &["-c", "Heads", "heads"]).ok();
    assert_eq!(
        sim.run_stdin("smbpasswd", &["-s", "-a", "heads"], b"one\ntwo\n")
            .fails(1),
        "Mismatch - password unchanged.\nUnable to get new password.\n"
    );
    assert_eq!(
        sim.run_stdin("smbpasswd", &["-s", "-a", "ghost"], b"s3cret\ns3cret\n")
            .fails(1),
        "Failed to add entry for user ghost.\n"
    );
    assert_eq!(sim.run("pdbedit", &["-L"]).ok(), "");
    assert_eq!(
        sim.run_stdin("smbpasswd", &["-s", "-a", "heads"], b"s3cret\ns3cret\n")
            .ok(),
        "Added user heads.\n"
    );
    assert_eq!(sim.run("pdbedit", &["-L"]).ok(), "heads:1000:Heads\n");
    for f in ["var/lib/pve-sim/state.json", "var/lib/pve-sim/audit.jsonl"] {
        assert!(
            !std::fs::read_to_string(sim.sysroot().join(f))
                .unwrap()
                .contains("s3cret"),
            "{f}"
        );
    }
}

#[test]
fn dnsmasq_test_checks_options_and_addresses() {
    let sim = Sim::new();
    noninteractive(&sim, &["dnsmasq"]);
    assert_eq!(
        sim.run("dnsmasq", &["--test"]).stderr,
        "dnsmasq: syntax check OK.\n"
    );
    let conf = sim.path("/etc/dnsmasq.conf");
    std::fs::write(
        &conf,
        "# phoenix\nport=53\ndomain-needed\nbogus-priv\nstrict-order\nno-resolv\nexpand-hosts\ndomain=lab.example.internal\nlocal=/lab.example.internal/\nlisten-address=127.0.0.1,10.20.0.2\nbind-interfaces\nconf-dir=/etc/dnsmasq.d,*.conf\nserver=1.1.1.1\n",
    )
    .unwrap();
    std::fs::write(
        sim.path("/etc/dnsmasq.d/00-phoenix.conf"),
        "address=/portainer.lab.example.internal/10.20.0.31\nhost-record=pve.lab.example.internal,10.20.0.2\n",
    )
    .unwrap();
    assert_eq!(sim.run("dnsmasq", &["--test"]).ok(), "");
    std::fs::write(
        sim.path("/etc/dnsmasq.d/01-bad.conf"),
        "# x\ncache-szie=1000\n",
    )
    .unwrap();
    assert_eq!(
        sim.run("dnsmasq", &["--test"]).fails(1),
        "dnsmasq: bad option at line 2 of /etc/dnsmasq.d/01-bad.conf\n"
    );
    std::fs::write(
        sim.path("/etc/dnsmasq.d/01-bad.conf"),
        "address=portainer.lab/10.0.0.1\n",
    )
    .unwrap();
    let c = conf.to_str().unwrap();
    assert_eq!(
        sim.run("dnsmasq", &["--test", &format!("--conf-file={c}")])
            .fails(1),
        "dnsmasq: bad address at line 1 of /etc/dnsmasq.d/01-bad.conf\n"
    );
    std::fs::write(sim.path("/tmp/alone.conf"), "frobnicate\n").unwrap();
    let alone = sim.path("/tmp/alone.conf");
    let a = alone.to_str().unwrap();
    assert_eq!(
        sim.run("dnsmasq", &["--test", "-C", a]).fails(1),
        format!("dnsmasq: bad option at line 1 of {a}\n")
    );
}

#[test]
fn init_from_config_names_the_host() {
    let sim = Sim::example();
    assert!(
        sim.read("/etc/hosts")
            .contains("\n10.20.0.2 pve.lab.example.internal pve\n"),
        "{}",
        sim.read("/etc/hosts")
    );
}

#[test]
fn ca_certificates_and_step() {
    let sim = Sim::new();
    std::fs::create_dir_all(sim.path("/usr/local/share/ca-certificates/phoenix")).unwrap();
    let crt = sim.path("/usr/local/share/ca-certificates/phoenix/root_ca.crt");
    std::fs::write(
        &crt,
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let out = sim.run("update-ca-certificates", &[]);
    assert!(
        out.ok()
            .starts_with("Updating certificates in /etc/ssl/certs...\n")
            && out.stdout.contains("1 added, 0 removed; done.\n"),
        "{}",
        out.stdout
    );
    assert!(
        sim.run("update-ca-certificates", &[])
            .ok()
            .contains("0 added, 0 removed; done.\n")
    );
    assert!(
        sim.read("/etc/ssl/certs/ca-certificates.crt")
            .contains("MIIB")
    );
    std::fs::remove_file(&crt).unwrap();
    assert!(
        sim.run("update-ca-certificates", &[])
            .ok()
            .contains("0 added, 1 removed; done.\n")
    );
    // step: the fingerprint is the SHA-256 of the file.
    std::fs::write(&crt, "root\n").unwrap();
    let c = crt.to_str().unwrap();
    assert_eq!(
        sim.run("step", &["certificate", "fingerprint", c]).code,
        127
    );
    noninteractive(&sim, &["step-cli"]);
    let fp = "5d7c7c6f8a1e5b3f7a0b1f8d7e3c4b2a19f0e6d5c4b3a29180f7e6d5c4b3a291";
    assert_eq!(
        sim.run("step", &["certificate", "fingerprint", c]).ok(),
        format!("{}\n", sha256_of("root\n"))
    );
    sim.run(
        "step",
        &[
            "ca",
            "bootstrap",
            "--ca-url",
            "https://ca.lab.example.internal:9000",
            "--fingerprint",
            fp,
        ],
    )
    .ok();
    assert_eq!(
        sim.read("/root/.step/config/defaults.json"),
        format!(
            "{{\n  \"ca-url\": \"https://ca.lab.example.internal:9000\",\n  \"fingerprint\": \"{fp}\",\n  \"root\": \"/root/.step/certs/root_ca.crt\"\n}}\n"
        )
    );
    assert!(
        sim.read("/root/.step/certs/root_ca.crt")
            .starts_with("-----BEGIN CERTIFICATE-----\n")
    );
    assert_eq!(
        sim.run(
            "step",
            &[
                "ca",
                "bootstrap",
                "--ca-url",
                "https://ca:9000",
                "--fingerprint",
                fp
            ]
        )
        .fails(1),
        "open /root/.step/config/defaults.json: file already exists\n"
    );
    sim.run(
        "step",
        &[
            "ca",
            "bootstrap",
            "--ca-url",
            "https://ca:9000",
            "--fingerprint",
            fp,
            "--force",
            "--install",
        ],
    )
    .ok();
    assert!(
        sim.read("/root/.step/config/defaults.json")
            .contains("https://ca:9000")
    );
}

fn sha256_of(s: &str) -> String {
    use std::fmt::Write;
    let d = <sha2::Sha256 as sha2::Digest>::digest(s.as_bytes());
    d.iter().fold(String::new(), |mut o, b| {
        let _ = write!(o, "{b:02x}");
        o
    })
}

#[test]
fn faults_fail_host_tools_without_touching_the_host() {
    let sim = Sim::new();
    sim.admin(&[
        "fault",
        "add",
        "--tool",
        "apt-get",
        "--sub",
        "install",
        "--message",
        "E: Could not get lock /var/lib/dpkg/lock-frontend",
        "--exit",
        "100",
    ])
    .ok();
    assert_eq!(
        sim.run("apt-get", &["install", "-y", "sudo"]).fails(100),
        "E: Could not get lock /var/lib/dpkg/lock-frontend\n"
    );
    assert_eq!(sim.run("dpkg-query", &["-W", "sudo"]).code, 1);
    sim.run("apt-get", &["install", "-y", "sudo"]).ok();
    sim.admin(&[
        "fault",
        "add",
        "--tool",
        "systemctl",
        "--sub",
        "restart",
        "--id",
        "chrony",
        "--always",
    ])
    .ok();
    assert_eq!(sim.run("systemctl", &["restart", "chrony"]).code, 255);
    assert_eq!(sim.run("systemctl", &["restart", "chrony"]).code, 255);
    assert_eq!(
        sim.state()["host"]["units"]["chrony.service"]["restarts"],
        0
    );
    let faults: Vec<bool> = sim
        .audit()
        .iter()
        .map(|e| e["fault"].as_bool().unwrap())
        .collect();
    assert_eq!(faults, [true, false, false, true, true]);
}

/// `pve-sim init --pve 8.4|9.1`: each release's kernel and package versions, as
/// `pveversion -v` (pve-manager bin/pveversion) and `pvesh get /nodes/<node>/status` say.
#[test]
fn each_release_profile_reports_its_versions() {
    for (pve, kernel, manager, qemu) in [
        ("8.4", "6.8.12-10-pve", "8.4.1", "8.3.12"),
        ("9.1", "6.17.2-1-pve", "9.1.1", "9.1.0"),
    ] {
        let sim = Sim::init(&["--pve", pve]);
        assert_eq!(sim.run("uname", &["-r"]).ok(), format!("{kernel}\n"));
        let v = sim.run("pveversion", &["-v"]).ok().to_string();
        assert!(
            v.starts_with(&format!("proxmox-ve: {pve}.0 (running kernel: {kernel})\npve-manager: {manager} (running version: {manager}/")),
            "{v}"
        );
        let parsed = phoenix_core::pve::version::parse(&v);
        assert_eq!(parsed["qemu-server"], qemu);
        assert!(phoenix_core::pve::version::check(parsed).is_ok(), "{pve}");
        assert!(
            sim.run("pveversion", &[])
                .ok()
                .starts_with(&format!("pve-manager/{manager}/"))
        );
    }
    let old = Sim::init(&["--pve", "8.2"]);
    let e = phoenix_core::pve::version::check(phoenix_core::pve::version::parse(
        old.run("pveversion", &["-v"]).ok(),
    ))
    .unwrap_err();
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        old.admin(&["init", "--force", "--pve", "7.4"])
            .fails(2)
            .contains("--pve `7.4` is not a simulated Proxmox VE release (one of 8.2, 8.4, 9.1)")
    );
}
