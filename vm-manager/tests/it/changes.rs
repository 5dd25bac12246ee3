//! One change in the configuration changes only that on the next run; failures inside the
//! guest and an agent that never answers fail with a clear message.

use crate::support::{Host, VM_TRUSTED_CA, examples};
use serde_json::json;

/// The example host with 9000 and 1001 converged.
fn converged() -> Host {
    let h = Host::new(&examples(), 0);
    h.write_vm_feature("trusted_ca", VM_TRUSTED_CA);
    for id in ["9000", "1001"] {
        h.vm(&["create", id]).ok();
    }
    h
}

fn pve_calls(m: &[String]) -> Vec<&String> {
    m.iter()
        .filter(|c| !c.starts_with("qm guest exec"))
        .collect()
}

#[test]
fn memory_is_one_set_and_a_reboot() {
    let h = converged();
    h.edit_vm(1001, |v| v["memory_mb"] = json!(6144));
    let mark = h.mark();
    let out = h.vm(&["converge", "1001"]);
    let stdout = out.ok();
    assert!(stdout.contains("~ memory: 4096 -> 6144"), "{stdout}");
    let m = h.mutations_since(mark);
    assert_eq!(
        pve_calls(&m),
        ["qm set 1001 --memory 6144", "qm reboot 1001"],
        "{m:#?}"
    );
    assert!(
        m.iter().all(|c| !c.contains("feature-")),
        "no feature re-runs: {m:#?}"
    );
}

#[test]
fn a_firewall_rule_is_the_fw_file_only() {
    let h = converged();
    h.edit_vm(1001, |v| {
        v["firewall"]["rules"].as_array_mut().unwrap().push(
            json!({"type": "in", "action": "ACCEPT", "proto": "tcp", "port": "22", "source": "10.20.0.2", "comment": "ssh from the host"}),
        );
    });
    let mark = h.mark();
    h.vm(&["converge", "1001"]).ok();
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());
    let fw = h.read("/etc/pve/firewall/1001.fw");
    assert!(
        fw.contains("IN ACCEPT -source 10.20.0.2 -p tcp -dport 22 # ssh from the host"),
        "{fw}"
    );
    assert!(fw.contains("enable: 1"), "{fw}");
}

#[test]
fn a_volume_is_the_snippet_and_a_reboot_and_then_mounted() {
    let h = converged();
    h.edit_vm(1001, |v| {
        v["volumes"].as_array_mut().unwrap().push(json!({
            "type": "nfs", "name": "models", "path": "/tank/models",
            "mount_point": "/models", "server": "10.20.0.2"
        }));
    });
    let mark = h.mark();
    let out = h.vm(&["converge", "1001"]);
    let stdout = out.ok();
    assert!(
        stdout.contains("user-data bulk-iso:snippets/phoenix-vm-1001-user.yml"),
        "{stdout}"
    );
    let m = h.mutations_since(mark);
    assert_eq!(pve_calls(&m), ["qm reboot 1001"], "{m:#?}");
    let snippet = h.read("/bulk/iso/snippets/phoenix-vm-1001-user.yml");
    assert!(
        snippet.contains("\"10.20.0.2:/tank/models\",\"/models\",\"nfs\""),
        "{snippet}"
    );
    let (_, mounts) = h.vm_exec(1001, &["cat", "/proc/mounts"]);
    assert!(
        mounts.contains("10.20.0.2:/tank/models /models nfs"),
        "{mounts}"
    );
    h.vm(&["health-check", "1001"]).ok();
}

/// A new CA root on the host (what the CA's NFS export brings the VM) runs `trusted_ca`
/// again, and no other installer.
#[test]
fn a_new_ca_root_reruns_only_trusted_ca() {
    let h = converged();
    let cfg = phoenix_testkit::load_config(&examples());
    let root = phoenix_core::mesh::ca_root_file(&cfg).unwrap();
    let pem = |n: u32| format!("-----BEGIN CERTIFICATE-----\nMIIB{n}\n-----END CERTIFICATE-----\n");
    h.write_host_file(&root, &pem(1), 0o644);
    h.vm(&["converge", "1001"]).ok();
    let mark = h.mark();
    h.vm(&["converge", "1001"]).ok();
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());
    h.write_host_file(&root, &pem(2), 0o644);
    let mark = h.mark();
    let out = h.vm(&["converge", "1001"]);
    let stdout = out.ok();
    let ran: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("> ") && !l.contains("final-form"))
        .collect();
    assert_eq!(
        ran,
        ["    > trusted_ca (script or inputs changed)"],
        "{stdout}"
    );
    let m = h.mutations_since(mark);
    let installers: Vec<&String> = m
        .iter()
        .filter(|c| c.contains("/bin/bash /var/lib/phoenix/staging/feature-"))
        .collect();
    assert_eq!(installers.len(), 1, "{m:#?}");
    assert!(installers[0].contains("feature-trusted_ca.sh"), "{m:#?}");
}

#[test]
fn a_changed_feature_script_reruns_only_that_feature() {
    let h = converged();
    h.write_vm_feature(
        "step_cli",
        "#!/bin/bash\nset -euo pipefail\necho step_cli v2\ntouch /opt/phoenix/step-v2\n",
    );
    let mark = h.mark();
    let out = h.vm(&["converge", "1001"]);
    let stdout = out.ok();
    assert!(
        stdout.contains("> step_cli (script or inputs changed)"),
        "{stdout}"
    );
    let m = h.mutations_since(mark);
    let ran: Vec<&String> = m
        .iter()
        .filter(|c| c.contains("/bin/bash /var/lib/phoenix/staging/feature-"))
        .collect();
    assert_eq!(ran.len(), 1, "{m:#?}");
    assert!(ran[0].contains("feature-step_cli.sh"), "{m:#?}");
    assert!(h.vm_has(1001, "/opt/phoenix/step-v2"));
    assert_eq!(
        pve_calls(&m),
        [
            "qm delsnapshot 1001 final-form",
            "qm snapshot 1001 final-form"
        ],
        "the snapshot follows the content: {m:#?}"
    );
}

/// cloud-init failing in the template: the error carries what `cloud-init status --long`
/// says failed (cloud-init's own `status --wait` prints only `status: error`).
#[test]
fn a_failed_cloud_init_is_reported_with_what_failed() {
    let h = Host::new(&examples(), 0);
    for (cmd, exit, stdout) in [
        ("cloud-init status --wait", "1", "status: error\n"),
        (
            "cloud-init status --long",
            "1",
            "status: error\ndetail:\n('package-update-upgrade-install', ProcessExecutionError('apt-get install qemu-guest-agent: exit 100'))\n",
        ),
    ] {
        h.sim(&[
            "rule", "add", "--match", cmd, "--guest", "9000", "--exit", exit, "--stdout", stdout,
            "--read",
        ])
        .ok();
    }
    let err = h.vm(&["create", "9000"]).fails(1).to_string();
    assert!(
        err.contains("cloud-init failed in VM 9000 (exit 1)"),
        "{err}"
    );
    assert!(
        err.contains("package-update-upgrade-install") && err.contains("qemu-guest-agent"),
        "{err}"
    );
}

#[test]
fn a_failing_guest_command_fails_the_vm_with_the_guest_stderr() {
    let h = Host::new(&examples(), 0);
    h.vm(&["create", "9000"]).ok();
    h.sim(&[
        "rule",
        "add",
        "--match",
        "env *feature-docker.sh*",
        "--guest",
        "1001",
        "--exit",
        "3",
        "--stderr",
        "docker: cannot reach download.docker.com",
    ])
    .ok();
    let out = h.vm(&["create", "1001"]);
    let err = out.fails(1);
    assert!(
        err.contains("feature docker failed in VM 1001 (exit 3)"),
        "{err}"
    );
    assert!(
        err.contains("docker: cannot reach download.docker.com"),
        "{err}"
    );
    assert!(
        h.vm_has(1001, "/var/lib/phoenix/features/step_cli.sha256"),
        "earlier features are recorded"
    );
    assert!(!h.vm_has(1001, "/var/lib/phoenix/features/docker.sha256"));

    // The next run resumes at docker.
    h.sim(&["rule", "clear"]).ok();
    let mark = h.mark();
    h.vm(&["create", "1001"]).ok();
    let m = h.mutations_since(mark);
    let ran: Vec<&String> = m
        .iter()
        .filter(|c| c.contains("/bin/bash /var/lib/phoenix/staging/feature-"))
        .collect();
    assert_eq!(ran.len(), 1, "{m:#?}");
    assert!(ran[0].contains("feature-docker.sh"), "{m:#?}");
}

#[test]
fn an_agent_that_never_answers_times_out_within_the_deadline() {
    let h = Host::new(&examples(), 0);
    h.edit_vm(9000, |v| v["agent_timeout_secs"] = json!(2));
    h.sim(&["config", "--vm-boot-secs", "1000000"]).ok();
    let out = h.vm(&["create", "9000"]);
    let err = out.fails(1);
    assert!(
        err.contains(
            "the QEMU guest agent of VM 9000 did not answer within 2s (agent_timeout_secs)"
        ),
        "{err}"
    );
}

#[test]
fn bad_configuration_is_exit_2_before_any_command() {
    let h = Host::new(&examples(), 0);
    h.edit_vm(1001, |v| {
        v["network_config"].as_object_mut().unwrap().remove("gw");
    });
    let mark = h.mark();
    let out = h.vm(&["create", "1001"]);
    let err = out.fails(2);
    assert!(err.contains("phoenix_vm_configs.json"), "{err}");
    assert!(
        err.contains("/vms/1/network_config/gw: a static address (10.20.0.31/24) needs a gateway"),
        "{err}"
    );
    assert_eq!(h.mark(), mark, "no tool ran");
}

#[test]
fn a_guest_command_that_outlives_one_call_is_read_from_exec_status() {
    let h = Host::new(&examples(), 0);
    h.vm(&["create", "9000"]).ok();
    h.sim(&[
        "rule",
        "add",
        "--match",
        "env *feature-docker.sh*",
        "--guest",
        "1001",
        "--exit",
        "4",
        "--secs",
        "65",
        "--stderr",
        "docker: late failure",
    ])
    .ok();
    let mark = h.mark();
    let err = h.vm(&["create", "1001"]).fails(1).to_string();
    assert!(
        err.contains("feature docker failed in VM 1001 (exit 4)"),
        "{err}"
    );
    assert!(err.contains("docker: late failure"), "{err}");
    let polled = h
        .audit()
        .into_iter()
        .skip(mark)
        .filter(|e| e["argv"][1] == "exec-status")
        .count();
    assert!(polled > 0, "the result came from qm guest exec-status");
}

/// Out-of-range sizes (issue 15, case 6): `disk_size_gb: 10^15` is refused at load (exit 2,
/// pointer, no tool run); a disk the storage has no room for is refused by the plan (exit 1)
/// before `qm create`.
#[test]
fn disk_sizes_are_bounded_at_load_and_checked_against_the_storage_in_the_plan() {
    let h = Host::new(&examples(), 1);
    h.edit_vm(9000, |v| {
        v["disk_size_gb"] = json!(1_000_000_000_000_000_u64)
    });
    let before = h.audit().len();
    let err = h.vm(&["create", "9000"]).fails(2).to_string();
    assert!(err.contains("at /vms/0/disk_size_gb"), "{err}");
    assert_eq!(h.audit().len(), before, "no tool ran");

    h.edit_vm(9000, |v| v["disk_size_gb"] = json!(500_000));
    let mark = h.mark();
    let err = h.vm(&["create", "9000"]).fails(1).to_string();
    assert!(
        err.contains("GiB available, and the disk of VM 9000 needs 500000 GiB"),
        "{err}"
    );
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());
    assert!(!h.path("/etc/pve/qemu-server/9000.conf").exists());
}

/// The system disk of `id`: `(scsi0, boot)` of its config file.
fn system_disk(h: &Host, id: u32) -> (Option<String>, Option<String>) {
    let conf = h.read(&format!("/etc/pve/qemu-server/{id}.conf"));
    let main = conf.split("\n[").next().unwrap_or_default().to_string();
    let get = |k: &str| {
        main.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}: ")).map(str::to_string))
    };
    (get("scsi0"), get("boot"))
}

/// Diskless VMs (issue 15, case 3): a fault at `qm disk import` of the template, or at its
/// boot-order `qm set`, fails that run; the next run repairs the VM (imports the disk again,
/// sets the boot order) before it becomes a template, and the clones made from it then have
/// their disks.
#[test]
fn a_template_whose_disk_import_or_boot_order_failed_is_repaired_by_the_next_run() {
    for (sub, nth) in [("disk import", "1"), ("set", "1")] {
        let h = Host::new(&examples(), 0);
        h.write_vm_feature("trusted_ca", VM_TRUSTED_CA);
        h.sim(&[
            "fault",
            "add",
            "--tool",
            "qm",
            "--sub",
            sub,
            "--id",
            "9000",
            "--nth",
            nth,
            "--message",
            "injected",
            "--exit",
            "1",
        ])
        .ok();
        let err = h.vm(&["create", "9000"]).fails(1).to_string();
        assert!(err.contains("VM 9000"), "{sub}: {err}");
        h.sim(&["fault", "clear"]).ok();
        let out = h.vm(&["create", "9000"]);
        out.ok();
        let (scsi0, boot) = system_disk(&h, 9000);
        assert!(
            scsi0.is_some_and(|d| d.contains("base-9000-disk-0")),
            "{sub}"
        );
        assert_eq!(boot.as_deref(), Some("order=scsi0"), "{sub}");
        h.vm(&["create", "1001"]).ok();
        let (scsi0, boot) = system_disk(&h, 1001);
        assert!(scsi0.is_some(), "{sub}: the clone has a disk");
        assert_eq!(boot.as_deref(), Some("order=scsi0"), "{sub}");
        let mark = h.mark();
        h.vm(&["converge", "9000"]).ok();
        h.vm(&["converge", "1001"]).ok();
        assert_eq!(
            pve_calls(&h.mutations_since(mark)),
            Vec::<&String>::new(),
            "{sub}: converged"
        );
    }
}

/// A template left without its system disk by a run that never completed (its incomplete
/// marker is there) is destroyed and built again before anything is cloned from it; a clone
/// of it is refused until then.
#[test]
fn an_incomplete_template_without_a_disk_is_rebuilt_and_not_cloned_from_until_then() {
    let h = Host::new(&examples(), 0);
    h.write_vm_feature("trusted_ca", VM_TRUSTED_CA);
    h.tool(
        "qm",
        &["create", "9000", "--name", "ubuntu-2404-cloud-template"],
    )
    .ok();
    h.tool("qm", &["template", "9000"]).ok();
    h.write_host_file(
        "/var/lib/phoenix_hypervisor/incomplete/vm-9000",
        "converge started\n",
        0o644,
    );
    let err = h.vm(&["create", "1001"]).fails(1).to_string();
    assert!(err.contains("VM 9000, which has no system disk"), "{err}");
    let out = h.vm(&["create", "9000"]);
    assert!(
        out.ok()
            .contains("its creation never completed and it has no system disk"),
        "{}",
        out.stdout
    );
    let (scsi0, boot) = system_disk(&h, 9000);
    assert!(scsi0.is_some());
    assert_eq!(boot.as_deref(), Some("order=scsi0"));
    assert!(
        !h.path("/var/lib/phoenix_hypervisor/incomplete/vm-9000")
            .exists()
    );
    h.vm(&["create", "1001"]).ok();
}

/// A run killed while the template was built (issue 15, case 4) leaves it started, its
/// agent not answering yet: the next run waits for the agent and cloud-init before it seals
/// and converts the template, and converges at the first try.
#[test]
fn a_template_left_booting_by_a_killed_run_is_sealed_once_its_agent_answers() {
    let h = Host::new(&examples(), 0);
    h.write_vm_feature("trusted_ca", VM_TRUSTED_CA);
    h.sim(&[
        "fault",
        "add",
        "--tool",
        "qm",
        "--sub",
        "start",
        "--id",
        "9000",
        "--message",
        "killed",
        "--exit",
        "137",
    ])
    .ok();
    h.vm(&["create", "9000"]).fails(1);
    h.sim(&["fault", "clear"]).ok();
    // What the killed run did last: start the VM. Its agent answers 30 simulated seconds
    // later.
    h.tool("qm", &["start", "9000"]).ok();
    let out = h.vm(&["create", "9000"]);
    out.ok();
    let seq: Vec<String> = h
        .audit()
        .into_iter()
        .filter_map(|e| {
            e["argv"].as_array().map(|a| {
                a.iter()
                    .map(|x| x.as_str().unwrap_or("").to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
        })
        .collect();
    let ping = seq
        .iter()
        .rposition(|c| c.contains("agent 9000 ping") || c.contains("guest cmd 9000 ping"));
    let clean = seq.iter().position(|c| c.contains("cloud-init clean"));
    assert!(
        matches!((ping, clean), (Some(p), Some(c)) if p < c),
        "the agent is waited for before sealing: {seq:#?}"
    );
    assert!(
        h.read("/etc/pve/qemu-server/9000.conf")
            .contains("template: 1")
    );
}

/// Growing a VM's disk beyond what its storage has available is refused by the plan, before
/// any change.
#[test]
fn growing_a_vm_disk_beyond_the_storage_is_refused_by_the_plan() {
    let h = converged();
    h.edit_vm(1001, |v| v["disk_size_gb"] = json!(500_000));
    let mark = h.mark();
    let err = h.vm(&["converge", "1001"]).fails(1).to_string();
    assert!(
        err.contains("GiB available, and growing scsi0 of VM 1001 to 500000 GiB needs"),
        "{err}"
    );
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());
}

/// `qm disk resize` exits 0 when its task failed (qemu-server src/PVE/CLI/qm.pm: no
/// `upid_exit`; even "shrinking disks is not supported" is raised inside the task): the run
/// checks the new size and fails clearly.
#[test]
fn a_disk_resize_that_silently_fails_is_caught() {
    let h = converged();
    h.edit_vm(1001, |v| v["disk_size_gb"] = json!(64));
    h.sim(&[
        "fault",
        "add",
        "--tool",
        "qm",
        "--sub",
        "disk resize",
        "--exit",
        "0",
        "--message",
        "TASK ERROR: injected",
    ])
    .ok();
    let err = h.vm(&["converge", "1001"]).fails(1).to_string();
    assert!(
        err.contains(
            "growing scsi0 to 64G of VM 1001 reported success, but its config file does not show it"
        ),
        "{err}"
    );
    h.sim(&["fault", "clear"]).ok();
    h.vm(&["converge", "1001"]).ok();
}

/// A VM whose disk sits on a storage that cannot snapshot it (a raw image on a `dir` storage;
/// pve-storage Plugin.pm `volume_has_feature`: only qcow2 snapshots there, and qemu-server
/// checks every drive but CD-ROMs) converges without snapshots: the plan says why, the run
/// never fails at the snapshot step (issue 16, item 5).
#[test]
fn a_vm_on_a_storage_without_snapshots_is_noted_not_failed() {
    let h = Host::new(&examples(), 0);
    h.write_vm_feature("trusted_ca", VM_TRUSTED_CA);
    h.edit_vm(1001, |v| {
        v["storage_pool"] = json!("tank-vm-persistent-data")
    });
    h.vm(&["create", "9000"]).ok();
    let plan = h.vm(&["plan", "1001"]).ok().to_string();
    assert!(
        plan.contains("final-form: snapshots unavailable (scsi0 (tank-vm-persistent-data:")
            && plan.contains("is on a storage that cannot snapshot it)"),
        "{plan}"
    );
    let mark = h.mark();
    h.vm(&["create", "1001"]).ok();
    let m = h.mutations_since(mark);
    assert!(
        m.iter().any(|c| c.starts_with("qm clone 9000 1001")),
        "{m:#?}"
    );
    assert!(m.iter().all(|c| !c.contains("snapshot")), "{m:#?}");
    let conf = h.read("/etc/pve/qemu-server/1001.conf");
    assert!(conf.contains("tank-vm-persistent-data:"), "{conf}");
}
