//! `zfs` and `zpool` against the simulator.

use crate::support::{Sim, repo};

#[test]
fn a_fresh_host_has_the_installer_layout() {
    let sim = Sim::new();
    assert_eq!(
        sim.run("zfs", &["list", "-H", "-o", "name"]).ok(),
        "rpool\nrpool/ROOT\nrpool/ROOT/pve-1\nrpool/data\nrpool/var-lib-vz\n"
    );
    assert_eq!(
        sim.run("zpool", &["list", "-H", "-o", "name"]).ok(),
        "rpool\n"
    );
    let list = sim.run("zfs", &["list"]).ok().to_string();
    let lines: Vec<&str> = list.lines().collect();
    assert!(
        lines[0].starts_with("NAME ") && lines[0].ends_with("  MOUNTPOINT"),
        "{list}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("rpool/var-lib-vz") && l.ends_with("  /var/lib/vz")),
        "{list}"
    );
    assert_eq!(
        sim.run(
            "zfs",
            &[
                "get",
                "-H",
                "-o",
                "name,property,value,source",
                "compression,mountpoint",
                "rpool/data"
            ]
        )
        .ok(),
        "rpool/data\tcompression\ton\tinherited from rpool\nrpool/data\tmountpoint\t/rpool/data\tdefault\n"
    );
    let get = sim
        .run("zfs", &["get", "compression", "rpool"])
        .ok()
        .to_string();
    assert_eq!(
        get,
        "NAME   PROPERTY     VALUE  SOURCE\nrpool  compression  on     local\n"
    );
}

#[test]
fn create_set_get_destroy() {
    let sim = Sim::new();
    sim.run(
        "zfs",
        &[
            "create",
            "-o",
            "mountpoint=/rpool/models",
            "-o",
            "recordsize=1M",
            "-o",
            "compression=lz4",
            "-o",
            "quota=800G",
            "rpool/models",
        ],
    )
    .ok();
    assert!(sim.path("/rpool/models").is_dir());
    assert_eq!(
        sim.run(
            "zfs",
            &[
                "get",
                "-H",
                "-o",
                "property,value",
                "recordsize,compression,quota,sync",
                "rpool/models"
            ]
        )
        .ok(),
        "recordsize\t1M\ncompression\tlz4\nquota\t800G\nsync\tstandard\n"
    );
    assert_eq!(
        sim.run(
            "zfs",
            &["get", "-H", "-p", "-o", "value", "quota", "rpool/models"]
        )
        .ok(),
        "858993459200\n"
    );
    assert_eq!(
        sim.run("zfs", &["create", "rpool/models"]).fails(1),
        "cannot create 'rpool/models': dataset already exists\n"
    );
    assert_eq!(
        sim.run("zfs", &["create", "rpool/a/b"]).fails(1),
        "cannot create 'rpool/a/b': parent does not exist\n"
    );
    assert_eq!(
        sim.run("zfs", &["create", "nopool/x"]).fails(1),
        "cannot create 'nopool/x': no such pool 'nopool'\n"
    );
    assert_eq!(
        sim.run("zfs", &["create", "-o", "bogus=1", "rpool/x"])
            .fails(1),
        "cannot create 'rpool/x': invalid property 'bogus'\n"
    );
    sim.run("zfs", &["create", "-p", "rpool/a/b"]).ok();
    sim.run(
        "zfs",
        &["set", "compression=zstd", "sync=always", "rpool/models"],
    )
    .ok();
    assert_eq!(
        sim.run(
            "zfs",
            &[
                "get",
                "-H",
                "-o",
                "value,source",
                "compression",
                "rpool/models"
            ]
        )
        .ok(),
        "zstd\tlocal\n"
    );
    assert_eq!(
        sim.run("zfs", &["set", "atime=maybe", "rpool/models"])
            .fails(1),
        "cannot set property for 'rpool/models': 'atime' must be one of 'on | off'\n"
    );
    assert_eq!(
        sim.run("zfs", &["set", "atime=off"])
            .fails(2)
            .lines()
            .next(),
        Some("missing dataset name(s)")
    );
    assert_eq!(
        sim.run("zfs", &["set", "atime=off", "rpool/nope"]).fails(1),
        "cannot open 'rpool/nope': dataset does not exist\n"
    );
    assert_eq!(
        sim.run("zfs", &["destroy", "rpool/a"]).fails(1),
        "cannot destroy 'rpool/a': filesystem has children\nuse '-r' to destroy the following datasets:\nrpool/a/b\n"
    );
    assert_eq!(
        sim.run("zfs", &["destroy", "rpool"]).fails(1),
        "cannot destroy 'rpool': operation does not apply to pools\nuse 'zfs destroy -r rpool' to destroy all datasets in the pool\nuse 'zpool destroy rpool' to destroy the pool itself\n"
    );
    sim.run("zfs", &["destroy", "-r", "rpool/a"]).ok();
    assert_eq!(
        sim.run("zfs", &["list", "rpool/a"]).fails(1),
        "cannot open 'rpool/a': dataset does not exist\n"
    );
    assert_eq!(
        sim.run("zfs", &["frobnicate"]).fails(2).lines().next(),
        Some("unrecognized command 'frobnicate'")
    );
    assert_eq!(
        sim.run("zfs", &["list", "-Q"]).fails(2).lines().next(),
        Some("invalid option 'Q'")
    );
}

#[test]
fn volumes_snapshots_clones() {
    let sim = Sim::new();
    sim.run(
        "zfs",
        &["create", "-s", "-V", "10G", "rpool/data/vm-100-disk-0"],
    )
    .ok();
    assert_eq!(
        sim.run(
            "zfs",
            &[
                "get",
                "-H",
                "-p",
                "-o",
                "name,property,value,source",
                "volsize,volblocksize",
                "rpool/data/vm-100-disk-0"
            ]
        )
        .ok(),
        "rpool/data/vm-100-disk-0\tvolsize\t10737418240\tlocal\nrpool/data/vm-100-disk-0\tvolblocksize\t16384\tdefault\n"
    );
    assert_eq!(
        sim.run(
            "zfs",
            &[
                "get",
                "-H",
                "-o",
                "value",
                "mountpoint",
                "rpool/data/vm-100-disk-0"
            ]
        )
        .ok(),
        "-\n"
    );
    assert_eq!(
        sim.run("zfs", &["create", "-V", "0", "rpool/data/v0"])
            .fails(1),
        "cannot create 'rpool/data/v0': volume size cannot be zero\n"
    );
    sim.run("zfs", &["create", "rpool/data/ct"]).ok();
    std::fs::write(sim.path("/rpool/data/ct/a"), "1").unwrap();
    sim.run("zfs", &["snapshot", "rpool/data/ct@s1"]).ok();
    assert_eq!(
        sim.run("zfs", &["snapshot", "rpool/data/ct@s1"]).fails(1),
        "cannot create snapshot 'rpool/data/ct@s1': dataset already exists\n"
    );
    std::fs::write(sim.path("/rpool/data/ct/a"), "2").unwrap();
    sim.run("zfs", &["snapshot", "rpool/data/ct@s2"]).ok();
    assert_eq!(
        sim.run("zfs", &["list", "-H", "-t", "snapshot", "-o", "name"])
            .ok(),
        "rpool/data/ct@s1\nrpool/data/ct@s2\n"
    );
    sim.run("zfs", &["clone", "rpool/data/ct@s1", "rpool/data/clone"])
        .ok();
    assert_eq!(
        std::fs::read_to_string(sim.path("/rpool/data/clone/a")).unwrap(),
        "1"
    );
    assert_eq!(
        sim.run(
            "zfs",
            &["get", "-H", "-o", "value", "origin", "rpool/data/clone"]
        )
        .ok(),
        "rpool/data/ct@s1\n"
    );
    assert_eq!(
        sim.run("zfs", &["destroy", "rpool/data/ct@s1"]).fails(1),
        "cannot destroy 'rpool/data/ct@s1': snapshot has dependent clones\nuse '-R' to destroy the following datasets:\nrpool/data/clone\n"
    );
    assert_eq!(
        sim.run("zfs", &["rollback", "rpool/data/ct@s1"]).fails(1),
        "cannot rollback to 'rpool/data/ct@s1': more recent snapshots or bookmarks exist\nuse '-r' to force deletion of the following snapshots and bookmarks:\nrpool/data/ct@s2\n"
    );
    sim.run("zfs", &["rollback", "-r", "rpool/data/ct@s1"]).ok();
    assert_eq!(
        std::fs::read_to_string(sim.path("/rpool/data/ct/a")).unwrap(),
        "1"
    );
    sim.run("zfs", &["destroy", "-R", "rpool/data/ct"]).ok();
    assert_eq!(
        sim.run("zfs", &["list", "-H", "-o", "name", "-r", "rpool/data"])
            .ok(),
        "rpool/data\nrpool/data/vm-100-disk-0\n"
    );
}

#[test]
fn zpool_create_status_and_refusals() {
    let etc = repo().join("etc");
    let sim = Sim::init(&["--from-config", etc.to_str().unwrap(), "--bare"]);
    assert_eq!(
        sim.run("zpool", &["list", "-H", "-o", "name"]).ok(),
        "rpool\n",
        "--bare leaves the pools to `setup`"
    );
    let d1 = "/dev/disk/by-id/nvme-EXAMPLE_SSD_2TB_SERIAL0001";
    let d2 = "/dev/disk/by-id/nvme-EXAMPLE_SSD_2TB_SERIAL0002";
    assert_eq!(
        sim.run("zpool", &["create", "tank", "mirror", d1]).fails(1),
        "invalid vdev specification: mirror requires at least 2 devices\n"
    );
    assert_eq!(
        sim.run("zpool", &["create", "tank", "/dev/sdz"]).fails(1),
        "cannot resolve path '/dev/sdz'\n"
    );
    assert_eq!(
        sim.run("zpool", &["create", "tank", "/dev/sda"]).fails(1),
        "invalid vdev specification\nthe following errors must be manually repaired:\n/dev/sda is part of active pool 'rpool'\n"
    );
    sim.run(
        "zpool",
        &[
            "create",
            "-o",
            "autotrim=on",
            "-O",
            "compression=lz4",
            "-O",
            "atime=off",
            "tank",
            "mirror",
            d1,
            d2,
        ],
    )
    .ok();
    assert_eq!(
        sim.run("zpool", &["create", "tank", d1]).fails(1),
        "cannot create 'tank': pool already exists\n"
    );
    assert_eq!(
        sim.run("zpool", &["status", "tank"]).ok(),
        "  pool: tank\n state: ONLINE\nconfig:\n\n\tNAME                                 STATE     READ WRITE CKSUM\n\ttank                                 ONLINE       0     0     0\n\t  mirror-0                           ONLINE       0     0     0\n\t    nvme-EXAMPLE_SSD_2TB_SERIAL0001  ONLINE       0     0     0\n\t    nvme-EXAMPLE_SSD_2TB_SERIAL0002  ONLINE       0     0     0\n\nerrors: No known data errors\n"
    );
    assert_eq!(
        sim.run(
            "zfs",
            &["get", "-H", "-o", "value,source", "compression", "tank"]
        )
        .ok(),
        "lz4\tlocal\n"
    );
    let pools = phoenix_core::pve::zfs::parse_zpool_list(
        sim.run(
            "zpool",
            &["list", "-H", "-p", "-o", "name,size,alloc,free,health"],
        )
        .ok(),
    )
    .unwrap();
    let tank = pools.iter().find(|p| p.name == "tank").unwrap();
    assert_eq!(
        (tank.size, tank.health.as_str()),
        (2_000_000_000_000, "ONLINE")
    );
    assert_eq!(
        sim.run("zpool", &["status", "nope"]).fails(1),
        "cannot open 'nope': no such pool\n"
    );
    let human = sim.run("zpool", &["list", "tank"]).ok().to_string();
    assert!(human.starts_with("NAME   SIZE  ALLOC   FREE  CKPOINT  EXPANDSZ  FRAG  CAP  DEDUP  HEALTH  ALTROOT\ntank  1.82T "), "{human}");
    // A disk that carried another pool needs -f.
    sim.run("zpool", &["destroy", "tank"]).ok();
    assert_eq!(
        sim.run("zpool", &["create", "tank2", d1]).fails(1),
        format!(
            "invalid vdev specification\nuse '-f' to override the following errors:\n{d1} is part of exported pool 'tank'\n"
        )
    );
    sim.run("zpool", &["create", "-f", "tank2", d1]).ok();
}
