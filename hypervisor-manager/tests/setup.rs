//! `hypervisor-manager setup` against the simulator (strict): the host `pve-sim init
//! --from-config` makes is already converged for the zfs and storage steps; one changed
//! property or a lost storage changes only that; storages the configuration does not
//! manage survive; dry runs change nothing.

mod support;

use serde_json::json;
use support::{Host, examples, reference};

const STEPS: [&str; 4] = ["--step", "zfs", "--step", "storage"];

fn setup(h: &Host, extra: &[&str]) -> support::Out {
    let mut args = vec!["setup"];
    args.extend(STEPS);
    args.extend(extra);
    h.hv(&args)
}

#[test]
fn the_host_pve_sim_made_needs_only_the_arc_limit_then_nothing() {
    for etc in [Some(examples()), reference()].into_iter().flatten() {
        let h = Host::new(&etc, 0);
        // The simulated installer left no ARC limit: the first run persists it (a file, no
        // Proxmox command); everything else already matches.
        let out = setup(&h, &[]);
        let stdout = out.ok();
        assert!(
            stdout.contains("~ /etc/modprobe.d/zfs.conf: zfs_arc_max="),
            "{stdout}"
        );
        assert!(stdout.contains("  storage    ok\n"), "{stdout}");
        assert_eq!(
            h.mutations_since(0),
            Vec::<String>::new(),
            "{}",
            etc.display()
        );
        assert!(
            h.read("/etc/modprobe.d/zfs.conf")
                .starts_with("options zfs zfs_arc_max=")
        );
        let out = setup(&h, &[]);
        let stdout = out.ok();
        assert!(stdout.contains("  zfs        ok\n"), "{stdout}");
        assert!(stdout.contains("  storage    ok\n"), "{stdout}");
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
    let out = setup(&h, &["--dry-run"]);
    assert!(
        out.ok()
            .contains(&format!("~ {name} sync: standard -> disabled")),
        "{}",
        out.stdout
    );
    assert_eq!(h.mutations_since(0), Vec::<String>::new(), "dry run");
    let out = setup(&h, &[]);
    assert!(
        out.ok().contains("  zfs        changed\n"),
        "{}",
        out.stdout
    );
    assert_eq!(
        h.mutations_since(0),
        [format!("zfs set sync=disabled {name}")]
    );
    let mark = h.mark();
    setup(&h, &[]).ok();
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
    let out = setup(&h, &[]);
    assert!(
        out.ok().contains("  storage    changed\n"),
        "{}",
        out.stdout
    );
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
fn a_pool_on_a_missing_disk_fails_the_step_and_skips_the_rest() {
    let h = Host::new(&examples(), 0);
    h.edit_host(|v| {
        v["zfs"]["pools"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "fresh", "raid_level": "single", "disks": ["/dev/sdz"]}));
    });
    let out = setup(&h, &[]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("  zfs        failed: pool fresh is not created: /dev/sdz does not exist"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("  storage    skipped: an earlier step failed"),
        "{}",
        out.stdout
    );
    assert_eq!(h.mutations_since(0), Vec::<String>::new());
}

#[test]
fn the_datacenter_firewall_is_written_once_from_the_host_rules() {
    for (label, etc) in [("example", Some(examples())), ("reference", reference())] {
        let Some(etc) = etc else { continue };
        let h = Host::new(&etc, 0);
        let out = h.hv(&["setup", "--step", "firewall", "--dry-run"]);
        assert!(
            out.ok().contains("  firewall   changed\n"),
            "{}",
            out.stdout
        );
        assert!(
            !h.path("/etc/pve/firewall/cluster.fw").exists(),
            "dry run wrote nothing"
        );
        let out = h.hv(&["setup", "--step", "firewall"]);
        assert!(
            out.ok().contains("  firewall   changed\n"),
            "{}",
            out.stdout
        );
        let fw = h.read("/etc/pve/firewall/cluster.fw");
        insta::assert_snapshot!(format!("cluster_fw_{label}"), fw);
        let out = h.hv(&["setup", "--step", "firewall"]);
        assert!(out.ok().contains("  firewall   ok\n"), "{}", out.stdout);
        assert_eq!(
            h.mutations_since(0),
            Vec::<String>::new(),
            "no Proxmox command"
        );
    }
}

/// Puts a recording `exportfs` on the host's PATH (the NFS server is not part of the
/// simulator); returns the file it records its calls in.
fn fake_exportfs(h: &Host) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let log = h.path("/var/log/exportfs.calls");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let script = h.bin().join("exportfs");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"exportfs $*\" >> '{}'\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    log
}

#[test]
fn nfs_exports_are_declarative_and_reexported_only_on_change() {
    for (label, etc) in [("example", Some(examples())), ("reference", reference())] {
        let Some(etc) = etc else { continue };
        let h = Host::new(&etc, 0);
        let calls = fake_exportfs(&h);
        let out = h.hv(&["setup", "--step", "shares"]);
        assert!(
            out.stdout.contains("  shares     changed\n")
                || out
                    .stdout
                    .contains("  shares     skipped: NFS exports converged; Samba"),
            "{}",
            out.stdout
        );
        let exports = h.read("/etc/exports.d/phoenix.exports");
        insta::assert_snapshot!(format!("exports_{label}"), exports);
        assert_eq!(std::fs::read_to_string(&calls).unwrap(), "exportfs -ra\n");
        h.hv(&["setup", "--step", "shares"]);
        assert_eq!(
            std::fs::read_to_string(&calls).unwrap(),
            "exportfs -ra\n",
            "unchanged exports are not re-exported"
        );
    }
}
