//! Real VMs (issue 17): with `PHOENIX_REAL_GUESTS` naming a Debian root file system tarball
//! (`cargo xtask e2e` builds it, with cloud-init, and runs this), the simulator boots each VM
//! as a real system (systemd-nspawn) whose real cloud-init applies the product's user-data
//! from the VM's NoCloud seed (apt against Debian's archive, the `qemu-guest-agent` package,
//! `runcmd` enabling it), and `qm guest exec` goes through the real guest agent in it (see
//! pve-sim `real::agent`). So the template's first boot, its sealing (`cloud-init clean`), a
//! clone's first boot as a new instance, and the project's real VM installers all run for
//! real. Needs root. Skipped with a note without the variable.
//!
//! What the run cannot cover: a real VM is a Ubuntu 24.04 cloud image under QEMU; here it is
//! Debian 12 under systemd-nspawn (no kernel, disk or virtio devices of its own: the agent's
//! virtio port is a UNIX socket), and the VM installers that need a third-party repository
//! (`docker`, `step_cli`) can only be shown to fail cleanly (a real guest reaches nothing but
//! Debian's archive).

use std::time::Instant;

use crate::support::{self, Host, examples};

/// Stops the VM whatever happens: a booted real guest outlives the test otherwise.
struct Stop<'a>(&'a Host, &'static str);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        let _ = self.0.tool("qm", &["stop", self.1, "--skiplock"]);
    }
}

/// The first line of a plan: `vm 1002 (apps): 0 to add, … 0 to run`, or `…: no changes`.
fn summary(stdout: &str) -> &str {
    stdout.lines().next().unwrap_or_default()
}

/// The template VM 9000 is built from the image with real cloud-init and sealed; VM 1002 is
/// cloned from it and boots as a new cloud-init instance; then the real VM installers
/// `base_setup` and `trusted_ca` run in it one at a time through the real guest agent, each
/// timed; a second converge runs nothing, and `create` of both changes nothing. Prints the
/// installer table.
#[test]
fn a_real_vm_is_built_from_a_sealed_template_and_its_installers_run_through_the_agent() {
    let Some(tar) = support::real_guests_tarball() else {
        return;
    };
    let h = Host::new(&examples(), 0);
    h.install_real_setup_scripts();
    h.set_env("PVE_SIM_REAL_GUESTS", &tar);
    // 1002 without what needs other guests or the network beyond Debian's archive: NFS
    // volumes, Docker and its stacks, Portainer, Smallstep's step CLI.
    h.edit_vm(1002, |vm| {
        let o = vm.as_object_mut().unwrap();
        for k in [
            "volumes",
            "docker_stacks",
            "portainer_role",
            "portainer_environment_name",
            "portainer_agent_hostname",
            "trigger_sync_on_completion",
            "dependencies",
            "traefik_service",
        ] {
            o.remove(k);
        }
        o.insert("features".into(), serde_json::json!([]));
    });
    let _stop = (Stop(&h, "9000"), Stop(&h, "1002"));
    let mut rows: Vec<(&str, String, &'static str, f64)> = Vec::new();

    let t = Instant::now();
    let out = h.vm(&["create", "9000"]);
    assert_eq!(out.code, 0, "9000\n{}\n{}", out.stdout, out.stderr);
    rows.push((
        "9000",
        "cloud-init, agent, seal".into(),
        "ok",
        t.elapsed().as_secs_f64(),
    ));
    let conf = h.read("/etc/pve/qemu-server/9000.conf");
    assert!(conf.lines().any(|l| l == "template: 1"), "{conf}");

    let t = Instant::now();
    let out = h.vm(&["create", "1002"]);
    assert_eq!(out.code, 0, "1002\n{}\n{}", out.stdout, out.stderr);
    rows.push((
        "1002",
        "clone, cloud-init (new instance)".into(),
        "ok",
        t.elapsed().as_secs_f64(),
    ));
    // Real cloud-init made the user and installed the agent from Debian's archive; the
    // template's instance was forgotten, so the clone ran as a new one.
    assert_eq!(
        h.vm_exec(1002, &["id", "-un", "phoenix"]).1.trim(),
        "phoenix"
    );
    assert_eq!(
        h.vm_exec(1002, &["systemctl", "is-active", "qemu-guest-agent"])
            .1
            .trim(),
        "active"
    );
    let (code, status) = h.vm_exec(1002, &["cloud-init", "status"]);
    assert_eq!((code, status.trim()), (0, "status: done"));
    let (_, ids) = h.vm_exec(1002, &["cat", "/var/lib/cloud/data/instance-id"]);
    assert!(!ids.trim().is_empty());

    // The CA root where the step-ca NFS volume would bring it (no NFS here).
    let certs = tempfile::tempdir().unwrap();
    pve_sim::portainer::gen_cert(certs.path(), &["ca.lab.example.internal".into()], &[]).unwrap();
    let pem = std::fs::read_to_string(certs.path().join("ca.crt")).unwrap();
    let (code, _) = h.vm_exec(
        1002,
        &[
            "sh",
            "-c",
            &format!(
                "mkdir -p /etc/step-ca/certs && printf '%s' '{pem}' > /etc/step-ca/certs/root_ca.crt"
            ),
        ],
    );
    assert_eq!(code, 0);

    for features in [
        serde_json::json!(["base_setup"]),
        serde_json::json!(["base_setup", "trusted_ca"]),
    ] {
        let name = features
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .as_str()
            .unwrap()
            .to_string();
        h.edit_vm(1002, |vm| vm["features"] = features.clone());
        let t = Instant::now();
        let out = h.vm(&["converge", "1002"]);
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(out.code, 0, "{name}\n{}\n{}", out.stdout, out.stderr);
        // That installer alone (the first converge also takes the final-form snapshot).
        let ran: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("> ") && l.contains("(new)"))
            .collect();
        assert_eq!(ran, [format!("    > {name} (new)")], "{}", out.stdout);
        rows.push(("1002", name, "ok", secs));
    }
    let check = || {
        assert_eq!(
            h.vm_exec(
                1002,
                &["grep", "-qx", "en_US.UTF-8 UTF-8", "/etc/locale.gen"]
            )
            .0,
            0
        );
        assert_eq!(
            h.vm_exec(1002, &["test", "-s", "/etc/ssl/certs/phoenix_root_ca.pem"])
                .0,
            0
        );
        // The installers' pushed scripts and 0600 inputs are gone.
        assert_eq!(
            h.vm_exec(1002, &["ls", "/var/lib/phoenix/staging"])
                .1
                .trim(),
            ""
        );
    };
    check();
    let again = h.vm(&["converge", "1002"]);
    let stdout = again.ok();
    let unchanged = summary(stdout).ends_with(": no changes");
    let mark = h.mark();
    h.vm(&["create", "9000"]).ok();
    h.vm(&["create", "1002"]).ok();
    let quiet = h.mutations_since(mark).is_empty();
    check();

    // The installers that need a third-party repository fail at once in a real VM, naming
    // the URL they needed (it reaches only Debian's archive), and are not recorded as done.
    for (feature, url) in [
        ("docker", "https://download.docker.com/linux/ubuntu/gpg"),
        ("step_cli", "https://packages.smallstep.com/"),
    ] {
        h.edit_vm(1002, |vm| {
            vm["features"] = serde_json::json!(["base_setup", "trusted_ca", feature])
        });
        let t = Instant::now();
        let out = h.vm(&["converge", "1002"]);
        let secs = t.elapsed().as_secs_f64();
        out.fails_naming(feature, url);
        let marker = phoenix_core::converge::observe::feature_marker(feature);
        assert_ne!(
            h.vm_exec(1002, &["test", "-e", &marker]).0,
            0,
            "{feature} recorded as done"
        );
        rows.push(("1002", feature.to_string(), "failed", secs));
    }
    let rows: Vec<support::InstallerRow> = rows
        .into_iter()
        .map(|(guest, name, first, secs)| {
            let second = if first == "failed" {
                "(needs the internet)"
            } else if unchanged && quiet {
                "unchanged"
            } else {
                "RAN AGAIN"
            };
            (guest.into(), name, first, secs, second.into())
        })
        .collect();
    let table = support::installer_table(&rows);
    println!("{table}");
    assert!(unchanged, "second converge\n{stdout}");
    assert!(
        quiet,
        "a second create changed something: {:?}",
        h.mutations_since(mark)
    );
}
