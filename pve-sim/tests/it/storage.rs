//! `pvesm`, `pveam` and `pvesh` against the simulator.

use crate::support::Sim;

#[test]
fn pvesm_status_has_proxmox_columns() {
    // PVE 8 (pve-storage 8.x) prints bare column names.
    let old = Sim::init(&["--pve", "8.4"]);
    let out = old.run("pvesm", &["status"]).ok().to_string();
    assert_eq!(
        out.lines().next().unwrap(),
        "Name             Type     Status           Total            Used       Available        %"
    );
    assert_eq!(
        phoenix_core::pve::pvesm::parse_status(&out).unwrap().len(),
        2
    );
    // PVE 9 (pve-storage src/PVE/CLI/pvesm.pm) names the unit.
    let sim = Sim::new();
    let out = sim.run("pvesm", &["status"]).ok().to_string();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "Name             Type     Status     Total (KiB)      Used (KiB) Available (KiB)        %"
    );
    assert_eq!(lines.len(), 3);
    // `%-{maxlen+1}s %10s %10s %15d %15d %15d % 7.2f%%`
    let row = lines[2];
    assert!(
        row.starts_with("local-zfs     zfspool     active "),
        "{row}"
    );
    assert_eq!(
        row.len(),
        lines[0].len(),
        "rows align with the header: {out}"
    );
    assert!(row.ends_with('%'));
    let parsed = phoenix_core::pve::pvesm::parse_status(&out).unwrap();
    assert_eq!(
        parsed.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["local", "local-zfs"]
    );
    assert!(
        parsed
            .iter()
            .all(|s| s.active() && s.total_kib > 0 && s.total_kib == s.used_kib + s.avail_kib)
    );
    assert_eq!(
        sim.run("pvesm", &["status", "--storage", "nope"])
            .fails(255),
        "400 Parameter verification failed.\nstorage: No such storage.\n\npvesm status  [OPTIONS]\n"
    );
    sim.run("pvesm", &["set", "local", "--disable", "1"]).ok();
    let disabled = sim.run("pvesm", &["status"]).ok().to_string();
    assert!(
        disabled
            .lines()
            .any(|l| l.starts_with("local ") && l.contains("disabled") && l.ends_with("     N/A")),
        "{disabled}"
    );
}

#[test]
fn pvesm_add_set_remove_write_storage_cfg() {
    let sim = Sim::new();
    sim.run("zfs", &["create", "-o", "mountpoint=/tank/vm", "rpool/vm"])
        .ok();
    sim.run(
        "pvesm",
        &[
            "add",
            "zfspool",
            "tank-vm",
            "-pool",
            "rpool/vm",
            "-content",
            "rootdir,images",
        ],
    )
    .ok();
    sim.run(
        "pvesm",
        &[
            "add",
            "dir",
            "backup",
            "--path",
            "/mnt/backup",
            "--content",
            "backup",
            "--shared",
            "1",
        ],
    )
    .ok();
    sim.run(
        "pvesm",
        &[
            "add",
            "nfs",
            "nas",
            "--server",
            "10.0.0.5",
            "--export",
            "/srv/nfs",
            "--content",
            "images,iso",
            "--options",
            "vers=4.2",
        ],
    )
    .ok();
    let cfg = sim.read("/etc/pve/storage.cfg");
    assert!(cfg.ends_with(
        "zfspool: tank-vm\n\tpool rpool/vm\n\tcontent images,rootdir\n\tmountpoint /tank/vm\n\ndir: backup\n\tpath /mnt/backup\n\tcontent backup\n\tshared 1\n\nnfs: nas\n\texport /srv/nfs\n\tpath /mnt/pve/nas\n\tserver 10.0.0.5\n\tcontent images,iso\n\toptions vers=4.2\n\n"
    ), "{cfg}");
    assert!(sim.path("/mnt/backup").is_dir());
    assert_eq!(
        sim.run("pvesm", &["add", "dir", "backup", "--path", "/x"])
            .fails(255),
        "create storage failed: storage ID 'backup' already defined\n"
    );
    assert_eq!(
        sim.run("pvesm", &["add", "zfspool", "z1"]).fails(255),
        "missing value for required option 'pool'\n"
    );
    assert_eq!(
        sim.run(
            "pvesm",
            &["add", "dir", "d1", "--path", "/x", "--pool", "tank"]
        )
        .fails(255),
        "unexpected property 'pool'\n"
    );
    assert_eq!(
        sim.run("pvesm", &["add", "dir", "d1", "--path", "relative"])
            .fails(255),
        "illegal path for directory storage: relative\n"
    );
    assert!(sim.run("pvesm", &["add", "foo", "d1"]).fails(255).starts_with("400 Parameter verification failed.\ntype: value 'foo' does not have a value in the enumeration 'btrfs, cephfs, cifs, dir, "));
    assert_eq!(
        sim.run("pvesm", &["set", "tank-vm", "--pool", "other"])
            .fails(255),
        "update storage failed: can't change value of fixed parameter 'pool'\n"
    );
    sim.run("pvesm", &["set", "tank-vm", "--content", "images"])
        .ok();
    assert!(
        sim.read("/etc/pve/storage.cfg")
            .contains("zfspool: tank-vm\n\tpool rpool/vm\n\tcontent images\n")
    );
    sim.run("pvesm", &["remove", "nas"]).ok();
    assert_eq!(
        sim.run("pvesm", &["remove", "nas"]).fails(255),
        "delete storage failed: storage 'nas' does not exist\n"
    );
    assert!(!sim.read("/etc/pve/storage.cfg").contains("nfs: nas"));
}
