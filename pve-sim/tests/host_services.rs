//! Services and settings on the simulated host: NFS exports, Samba, dnsmasq, time zone,
//! locales, host name, CA certificates and `step` (real certificates from the simulated step
//! CA, checked with x509-parser); faults on host tools; and the audit log's read/mutate
//! split.

mod support;

use support::Sim;

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
fn time_zone_locales_host_name_and_kernel() {
    let sim = Sim::init(&["--node", "pve1"]);
    assert_eq!(
        sim.run("timedatectl", &["show", "--property=Timezone", "--value"])
            .ok(),
        "Etc/UTC\n"
    );
    sim.run("timedatectl", &["set-timezone", "America/New_York"])
        .ok();
    assert_eq!(
        sim.run("timedatectl", &["show", "-p", "Timezone", "--value"])
            .ok(),
        "America/New_York\n"
    );
    assert_eq!(sim.read("/etc/timezone"), "America/New_York\n");
    assert_eq!(
        std::fs::read_link(sim.path("/etc/localtime"))
            .unwrap()
            .to_str(),
        Some("/usr/share/zoneinfo/America/New_York")
    );
    assert_eq!(
        sim.run("timedatectl", &["set-timezone", "Moon/Crater"])
            .fails(1),
        "Failed to set time zone: Invalid or not installed time zone 'Moon/Crater'\n"
    );
    assert_eq!(
        sim.run("locale", &["-a"]).ok(),
        "C\nC.utf8\nPOSIX\nen_US.utf8\n"
    );
    let locale_gen = sim
        .read("/etc/locale.gen")
        .replace("# de_DE.UTF-8 UTF-8", "de_DE.UTF-8 UTF-8");
    std::fs::write(sim.path("/etc/locale.gen"), locale_gen).unwrap();
    assert_eq!(
        sim.run("locale-gen", &[]).ok(),
        "Generating locales (this might take a while)...\n  de_DE.UTF-8... done\n  en_US.UTF-8... done\nGeneration complete.\n"
    );
    assert_eq!(
        sim.run("locale", &["-a"]).ok(),
        "C\nC.utf8\nPOSIX\nde_DE.utf8\nen_US.utf8\n"
    );
    assert_eq!(sim.run("hostnamectl", &["hostname"]).ok(), "pve1\n");
    assert_eq!(sim.read("/etc/hostname"), "pve1\n");
    assert!(
        sim.read("/etc/hosts")
            .contains("\n192.168.1.10 pve1.localdomain pve1\n")
    );
    sim.run("hostnamectl", &["set-hostname", "pve2"]).ok();
    assert_eq!(sim.read("/etc/hostname"), "pve2\n");
    assert_eq!(
        sim.run("hostnamectl", &["set-hostname", "not_valid"])
            .fails(1),
        "Invalid hostname 'not_valid'\n"
    );
    assert_eq!(sim.run("uname", &["-r"]).ok(), "6.17.2-1-pve\n");
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
        let status = sim
            .run(
                "pvesh",
                &["get", "/nodes/pve/status", "--output-format", "json"],
            )
            .ok()
            .to_string();
        assert!(
            status.contains(&format!("\"pveversion\":\"pve-manager/{manager}/")),
            "{status}"
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

/// The DER of each certificate in a PEM file, in order.
fn chain(pem: &[u8]) -> Vec<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(pem)
        .map(|p| p.expect("valid PEM").contents)
        .collect()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The SANs of a certificate: DNS names as they are, IPs as `ip:ADDR`.
fn sans(cert: &x509_parser::certificate::X509Certificate<'_>) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let ext = cert.subject_alternative_name().unwrap().expect("SANs");
    ext.value
        .general_names
        .iter()
        .map(|g| match g {
            GeneralName::DNSName(n) => n.to_string(),
            GeneralName::IPAddress(b) if b.len() == 4 => {
                format!("ip:{}", std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]))
            }
            other => format!("{other:?}"),
        })
        .collect()
}

fn cn(name: &x509_parser::x509::X509Name<'_>) -> String {
    name.iter_common_name()
        .next()
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn step_ca_certificate_issues_real_certificates() {
    use std::os::unix::fs::PermissionsExt;
    use x509_parser::prelude::{FromDer, X509Certificate};
    let sim = Sim::new();
    noninteractive(&sim, &["step-cli"]);
    std::fs::create_dir_all(sim.path("/etc/phoenix/certs")).unwrap();
    let crt = "/etc/phoenix/certs/portainer.crt";
    let key = "/etc/phoenix/certs/portainer.key";
    let pw = "/root/.step/provisioner.pw";
    let issue = |extra: &[&str]| {
        let mut a = vec![
            "ca",
            "certificate",
            "portainer.lab.example.internal",
            crt,
            key,
            "--provisioner",
            "admin@phoenix",
            "--provisioner-password-file",
            pw,
        ];
        a.extend_from_slice(extra);
        sim.run("step", &a)
    };
    // No password file: refused, nothing written, no CA made.
    assert_eq!(
        issue(&[]).fails(1),
        "open /root/.step/provisioner.pw: no such file or directory\n"
    );
    assert!(!sim.path(crt).exists() && !sim.path(key).exists());
    assert!(!sim.path("/var/lib/pve-sim/step-ca").exists());
    std::fs::create_dir_all(sim.path("/root/.step")).unwrap();
    std::fs::write(sim.path(pw), "s3cret\n").unwrap();
    // Without --san the SAN is the subject; 24 hours by default.
    let out = issue(&[
        "--ca-url",
        "https://ca.lab.example.internal:9000",
        "--kty",
        "EC",
        "--curve",
        "P-256",
    ]);
    let stderr = out.stderr.clone();
    assert_eq!(out.ok(), "");
    assert!(
        stderr.starts_with("✔ Provisioner: admin@phoenix (JWK) [kid: ")
            && stderr.ends_with(&format!(
                "]\n✔ CA: https://ca.lab.example.internal:9000\n✔ Certificate: {crt}\n✔ Private Key: {key}\n"
            )),
        "{stderr}"
    );
    let now = unix_now();
    let pem = std::fs::read(sim.path(crt)).unwrap();
    let ders = chain(&pem);
    assert_eq!(ders.len(), 2, "leaf, then the CA");
    let (_, leaf) = X509Certificate::from_der(&ders[0]).unwrap();
    let (_, ca) = X509Certificate::from_der(&ders[1]).unwrap();
    assert_eq!(cn(leaf.subject()), "portainer.lab.example.internal");
    assert_eq!(sans(&leaf), ["portainer.lab.example.internal"]);
    assert!(!leaf.is_ca() && ca.is_ca());
    assert_eq!(leaf.issuer(), ca.subject());
    leaf.verify_signature(Some(ca.public_key()))
        .expect("signed by the simulated CA");
    ca.verify_signature(None).expect("a self-signed root");
    let v = leaf.validity();
    let (nb, na) = (v.not_before.timestamp(), v.not_after.timestamp());
    assert!(
        (now - 120..=now).contains(&nb),
        "not before {nb}, now {now}"
    );
    assert!(
        (now + 86_400 - 60..=now + 86_400).contains(&na),
        "not after {na}, now {now}"
    );
    for f in [crt, key] {
        let mode = std::fs::metadata(sim.path(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o600, "{f}");
    }
    assert!(sim.read(key).starts_with("-----BEGIN PRIVATE KEY-----\n"));
    // The admin command prints that CA's root.
    let root = sim.admin(&["step-ca-root"]).ok().to_string();
    assert_eq!(chain(root.as_bytes()), [ders[1].clone()]);
    assert_eq!(root, sim.read("/var/lib/pve-sim/step-ca/root_ca.crt"));

    // Existing files are not overwritten without --force: nothing changes.
    let key_before = sim.read(key);
    assert_eq!(
        issue(&["--san", "other.example"]).fails(1),
        format!("open {crt}: file already exists\n")
    );
    assert_eq!(std::fs::read(sim.path(crt)).unwrap(), pem);
    assert_eq!(sim.read(key), key_before);
    // Bad durations are refused like step does.
    assert!(
        issue(&["--force", "--not-after", "7d"])
            .fails(1)
            .contains("time: unknown unit \"d\" in duration \"7d\"")
    );
    assert_eq!(std::fs::read(sim.path(crt)).unwrap(), pem);

    // --force, SANs exactly the --san values (IPs as IP SANs), 30 days; flags anywhere.
    let real_crt = sim.path(crt);
    let out = sim.run(
        "step",
        &[
            "ca",
            "certificate",
            "--force",
            "--san=portainer.lab.example.internal",
            "portainer",
            real_crt.to_str().unwrap(),
            "--san",
            "10.0.0.99",
            key,
            "--not-after=720h",
            "--provisioner-password-file",
            pw,
        ],
    );
    out.ok();
    assert!(!out.stderr.contains("Provisioner"), "{}", out.stderr);
    let pem2 = std::fs::read(sim.path(crt)).unwrap();
    let ders2 = chain(&pem2);
    let (_, leaf2) = X509Certificate::from_der(&ders2[0]).unwrap();
    assert_eq!(cn(leaf2.subject()), "portainer");
    assert_eq!(
        sans(&leaf2),
        ["portainer.lab.example.internal", "ip:10.0.0.99"]
    );
    let na = leaf2.validity().not_after.timestamp();
    let now = unix_now();
    assert!((now + 720 * 3600 - 60..=now + 720 * 3600).contains(&na));
    leaf2
        .verify_signature(Some(ca.public_key()))
        .expect("the same CA signs again");
    assert_ne!(sim.read(key), key_before, "a new key");

    // The audit log: issuing mutates; refusals are refused reads.
    let audit = sim.audit();
    let step: Vec<(String, bool)> = audit
        .iter()
        .filter(|e| e["tool"] == "step")
        .map(|e| {
            (
                e["effect"].as_str().unwrap().to_string(),
                e["refused"].as_bool().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, bool)> = [
        ("read", true),
        ("mutate", false),
        ("read", true),
        ("read", true),
        ("mutate", false),
    ]
    .iter()
    .map(|(e, r)| (e.to_string(), *r))
    .collect();
    assert_eq!(step, want);
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

#[test]
fn probes_read_and_changes_mutate() {
    let sim = Sim::init(&["--gpus", "1"]);
    std::fs::create_dir_all(sim.path("/usr/local/share/ca-certificates")).unwrap();
    let reads: &[&[&str]] = &[
        &[
            "lsblk",
            "--json",
            "--bytes",
            "--nodeps",
            "--output",
            "NAME,PATH,SIZE,TYPE,TRAN,FSTYPE,PTTYPE",
            "/dev/sda",
        ],
        &["wipefs", "--no-act", "--json", "/dev/sda"],
        &["dpkg-query", "-W", "-f=${Status}", "chrony"],
        &["systemctl", "is-enabled", "chrony"],
        &["systemctl", "is-active", "chrony"],
        &["timedatectl", "show", "--property=Timezone", "--value"],
        &["locale", "-a"],
        &["hostnamectl", "hostname"],
        &["uname", "-r"],
        &["getent", "passwd", "root"],
        &["id", "-nG", "root"],
        &["pveum", "user", "list", "--output-format", "json"],
        &["pveum", "acl", "list", "--output-format", "json"],
        &["lspci", "-Dnn"],
        &["modinfo", "-F", "version", "nvidia"],
        &[
            "nvidia-smi",
            "--query-gpu=driver_version",
            "--format=csv,noheader",
        ],
    ];
    let writes: &[&[&str]] = &[
        &["apt-get", "update"],
        &[
            "apt-get",
            "install",
            "-y",
            "sudo",
            "nfs-kernel-server",
            "dnsmasq",
            "step-cli",
        ],
        &["systemctl", "restart", "chrony"],
        &["systemctl", "daemon-reload"],
        &["timedatectl", "set-timezone", "Europe/Berlin"],
        &["locale-gen"],
        &["hostnamectl", "set-hostname", "pve"],
        &["useradd", "-m", "heads"],
        &["groupadd", "shared"],
        &["usermod", "-aG", "shared", "heads"],
        &["gpasswd", "-d", "heads", "shared"],
        &["pveum", "user", "add", "heads@pam"],
        &[
            "pveum",
            "acl",
            "modify",
            "/",
            "--users",
            "heads@pam",
            "--roles",
            "PVEAuditor",
        ],
        &["exportfs", "-ra"],
        &["update-initramfs", "-u"],
        &["update-ca-certificates"],
        &["nvidia-modprobe", "-u"],
    ];
    let probes_after: &[&[&str]] = &[
        &["visudo", "-c", "-q"],
        &["exportfs", "-v"],
        &["dnsmasq", "--test"],
        &["step", "certificate", "fingerprint", "/etc/hostname"],
    ];
    for argv in reads {
        let out = sim.run(argv[0], &argv[1..]);
        assert_eq!(out.code, 0, "{argv:?}: {}", out.stderr);
    }
    for argv in writes {
        let out = sim.run(argv[0], &argv[1..]);
        assert_eq!(out.code, 0, "{argv:?}: {}", out.stderr);
    }
    for argv in probes_after {
        let out = sim.run(argv[0], &argv[1..]);
        assert_eq!(out.code, 0, "{argv:?}: {}", out.stderr);
    }
    let audit = sim.audit();
    let effects: Vec<&str> = audit
        .iter()
        .map(|e| e["effect"].as_str().unwrap())
        .collect();
    let mut want = vec!["read"; reads.len()];
    want.extend(vec!["mutate"; writes.len()]);
    want.extend(vec!["read"; probes_after.len()]);
    assert_eq!(effects, want);
}
