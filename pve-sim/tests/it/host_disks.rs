//! Block devices on the simulated host: `lsblk`, `wipefs`, the `disk` admin command, and
//! `zpool create` on a wiped disk.

use crate::support;

use crate::support::Sim;
use serde_json::Value;

const COLS: &str = "NAME,PATH,SIZE,TYPE,TRAN,FSTYPE,PTTYPE";

fn lsblk(sim: &Sim, dev: &str) -> support::Out {
    sim.run(
        "lsblk",
        &["--json", "--bytes", "--nodeps", "--output", COLS, dev],
    )
}

#[test]
fn clean_dirty_and_pool_disks() {
    let sim = Sim::new();
    sim.admin(&["disk", "add", "/dev/sdb", "--size", "1000204886016"])
        .ok();
    sim.admin(&[
        "disk",
        "add",
        "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S7U6",
        "--tran",
        "nvme",
    ])
    .ok();
    assert_eq!(
        lsblk(&sim, "/dev/sdb").ok(),
        "{\n   \"blockdevices\": [\n      {\n         \"name\": \"sdb\",\n         \"path\": \"/dev/sdb\",\n         \"size\": 1000204886016,\n         \"type\": \"disk\",\n         \"tran\": \"sata\",\n         \"fstype\": null,\n         \"pttype\": null\n      }\n   ]\n}\n"
    );
    let v: Value = serde_json::from_str(
        lsblk(
            &sim,
            "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S7U6",
        )
        .ok(),
    )
    .unwrap();
    let d = &v["blockdevices"][0];
    assert_eq!(d["name"], "nvme-Samsung_SSD_990_EVO_Plus_2TB_S7U6");
    assert_eq!(d["tran"], "nvme");
    assert_eq!(d["size"], 2_000_000_000_000u64);
    // A clean disk: wipefs prints nothing at all.
    assert_eq!(
        sim.run("wipefs", &["--no-act", "--json", "/dev/sdb"]).ok(),
        ""
    );
    // An unknown device.
    assert_eq!(
        lsblk(&sim, "/dev/sdz").fails(32),
        "lsblk: /dev/sdz: not a block device\n"
    );
    // A dirty disk: an old file system on a partition table.
    sim.admin(&[
        "disk",
        "set",
        "/dev/sdb",
        "--signature",
        "ext4",
        "--label",
        "old",
        "--partitions",
        "1",
    ])
    .ok();
    let v: Value = serde_json::from_str(lsblk(&sim, "/dev/sdb").ok()).unwrap();
    assert_eq!(v["blockdevices"][0]["fstype"], "ext4");
    assert_eq!(v["blockdevices"][0]["pttype"], "gpt");
    let w: Value =
        serde_json::from_str(sim.run("wipefs", &["--no-act", "--json", "/dev/sdb"]).ok()).unwrap();
    let sigs: Vec<(&str, &str)> = w["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["type"].as_str().unwrap(), s["offset"].as_str().unwrap()))
        .collect();
    assert_eq!(
        sigs,
        [
            ("ext4", "0x438"),
            ("gpt", "0x200"),
            ("gpt", "0xe8e0db5e00"),
            ("PMBR", "0x1fe")
        ]
    );
    assert_eq!(w["signatures"][0]["label"], "old");
    assert_eq!(w["signatures"][0]["device"], "sdb");
    // The installer's pool disk is busy.
    let w: Value = serde_json::from_str(sim.run("wipefs", &["-n", "-J", "/dev/sda"]).ok()).unwrap();
    assert_eq!(w["signatures"][0]["type"], "zfs_member");
    assert_eq!(w["signatures"][0]["label"], "rpool");
    assert_eq!(
        sim.run("wipefs", &["-a", "/dev/sda"]).fails(1),
        "wipefs: error: /dev/sda: probing initialization failed: Device or resource busy\n"
    );
    // Wiping the dirty disk, then creating a pool on it.
    assert_eq!(
        sim.run("wipefs", &["--all", "/dev/sdb"]).ok(),
        "/dev/sdb: 2 bytes were erased at offset 0x00000438 (ext4): 53 ef\n/dev/sdb: 8 bytes were erased at offset 0x00000200 (gpt): 45 46 49 20 50 41 52 54\n/dev/sdb: 8 bytes were erased at offset 0xe8e0db5e00 (gpt): 45 46 49 20 50 41 52 54\n/dev/sdb: 2 bytes were erased at offset 0x000001fe (PMBR): 55 aa\n/dev/sdb: calling ioctl to re-read partition table: Success\n"
    );
    assert_eq!(
        sim.run("wipefs", &["--no-act", "--json", "/dev/sdb"]).ok(),
        ""
    );
    sim.run("zpool", &["create", "-o", "ashift=12", "tank", "/dev/sdb"])
        .ok();
    let v: Value = serde_json::from_str(lsblk(&sim, "/dev/sdb").ok()).unwrap();
    assert_eq!(v["blockdevices"][0]["fstype"], "zfs_member");
    assert_eq!(
        sim.run("wipefs", &["-a", "/dev/sdb"]).fails(1),
        "wipefs: error: /dev/sdb: probing initialization failed: Device or resource busy\n"
    );
    // Probes read, the wipe mutates.
    let audit = sim.audit();
    let effects: Vec<(&str, &str)> = audit
        .iter()
        .map(|e| (e["tool"].as_str().unwrap(), e["effect"].as_str().unwrap()))
        .filter(|(t, _)| *t == "lsblk" || *t == "wipefs")
        .collect();
    assert!(
        effects
            .iter()
            .filter(|(t, _)| *t == "lsblk")
            .all(|(_, e)| *e == "read")
    );
    assert_eq!(
        effects
            .iter()
            .filter(|(t, e)| *t == "wipefs" && *e == "mutate")
            .count(),
        1
    );
}

#[test]
fn disk_admin_refuses_nonsense() {
    let sim = Sim::new();
    assert!(
        sim.admin(&["disk", "add", "sdb"])
            .fails(2)
            .contains("is not a device path under /dev")
    );
    assert!(
        sim.admin(&["disk", "set", "/dev/sdq", "--signature", "ext4"])
            .fails(2)
            .contains("is not a disk of this host")
    );
    assert!(
        sim.admin(&["disk", "add", "/dev/sda"])
            .fails(2)
            .contains("already exists")
    );
}
