//! `pvesm`, `pveam` and `pvesh` against the simulator.

mod support;

use support::Sim;

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

#[test]
fn pvesm_alloc_list_free() {
    let sim = Sim::new();
    assert_eq!(
        sim.run(
            "pvesm",
            &["alloc", "local-zfs", "99999", "vm-99999-disk-models", "10G"]
        )
        .ok(),
        "successfully created 'local-zfs:vm-99999-disk-models'\n"
    );
    assert_eq!(
        sim.run("pvesm", &["alloc", "local-zfs", "99999", "disk-x", "1G"])
            .fails(255),
        "illegal name 'disk-x' - should be 'vm-99999-*'\n"
    );
    assert_eq!(
        sim.run(
            "pvesm",
            &[
                "alloc",
                "local-zfs",
                "99999",
                "vm-99999-disk-models",
                "10GB"
            ]
        )
        .fails(255),
        "400 Parameter verification failed.\nsize: value does not match the regex pattern\npvesm alloc <storage> <vmid> <filename> <size> [OPTIONS]\n"
    );
    assert_eq!(
        sim.run(
            "pvesm",
            &["alloc", "local-zfs", "99999", "vm-99999-disk-models", "1G"]
        )
        .fails(255),
        "zfs error: cannot create 'rpool/data/vm-99999-disk-models': dataset already exists\n"
    );
    assert_eq!(
        sim.run("pvesm", &["list", "local-zfs"]).ok(),
        "Volid                          Format  Type             Size VMID\nlocal-zfs:vm-99999-disk-models raw     images    10737418240 99999\n"
    );
    let tpl = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst";
    let size = std::fs::metadata(sim.template()).unwrap().len().to_string();
    let w = size.len();
    assert_eq!(
        sim.run("pvesm", &["list", "local"]).ok(),
        format!(
            "{:<56} {:<7} {:<9} {:>w$} VMID\n{tpl} {:<7} {:<9} {size}\n",
            "Volid", "Format", "Type", "Size", "tzst", "vztmpl"
        )
    );
    assert_eq!(
        sim.run("pvesm", &["free", "local-zfs:vm-99999-disk-models"])
            .ok(),
        "Removed volume 'local-zfs:vm-99999-disk-models'\n"
    );
    assert_eq!(
        sim.run("pvesm", &["list", "local-zfs"]).ok(),
        "Volid Format  Type      Size VMID\n"
    );
    assert_eq!(
        sim.run("pvesm", &["free", "nothing"]).fails(255),
        "400 Parameter verification failed.\nvolume: no storage specified - incomplete volume ID\npvesm free <volume> [OPTIONS]\n"
    );
    sim.container(101, &[]).ok();
    assert_eq!(
        sim.run("pvesm", &["path", "local-zfs:subvol-101-disk-0"])
            .ok(),
        "/rpool/data/subvol-101-disk-0\n"
    );
}

#[test]
fn pveam_lists_and_downloads_templates() {
    let sim = Sim::new();
    assert!(
        sim.run("pveam", &["available"])
            .ok()
            .contains("system          debian-12-standard_12.7-1_amd64.tar.zst\n")
    );
    let d = sim.run(
        "pveam",
        &[
            "download",
            "local",
            "debian-12-standard_12.7-1_amd64.tar.zst",
        ],
    );
    assert!(d.ok().ends_with("download of 'http://download.proxmox.com/images/system/debian-12-standard_12.7-1_amd64.tar.zst' to '/var/lib/vz/template/cache/debian-12-standard_12.7-1_amd64.tar.zst' finished\n"), "{}", d.stdout);
    assert!(
        sim.path("/var/lib/vz/template/cache/debian-12-standard_12.7-1_amd64.tar.zst")
            .is_file()
    );
    assert_eq!(
        sim.run(
            "pveam",
            &[
                "download",
                "local",
                "debian-12-standard_12.7-1_amd64.tar.zst"
            ]
        )
        .ok(),
        "calculating checksum of existing file...OK, got correct file already, no need to download\n"
    );
    assert_eq!(
        sim.run("pveam", &["download", "local", "nope.tar.zst"])
            .fails(255),
        "400 Parameter verification failed.\ntemplate: no such template\npveam download <storage> <template>\n"
    );
    assert_eq!(
        sim.run(
            "pveam",
            &[
                "download",
                "local-zfs",
                "debian-12-standard_12.7-1_amd64.tar.zst"
            ]
        )
        .fails(255),
        "storage 'local-zfs' does not support templates\n"
    );
    let list = sim.run("pveam", &["list", "local"]).ok().to_string();
    assert!(
        list.starts_with(&format!("{:<60} {:<6}\n", "NAME", "SIZE")),
        "{list}"
    );
    assert!(list.contains("local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"));
}

#[test]
fn pvesh_firewall_rules_for_containers() {
    let sim = Sim::new();
    sim.container(101, &[]).ok();
    let base = "/nodes/pve/lxc/101/firewall/rules";
    assert_eq!(
        sim.run("pvesh", &["get", base, "--output-format=json"])
            .ok(),
        "[]\n"
    );
    assert_eq!(
        sim.run(
            "pvesh",
            &[
                "create",
                base,
                "--type",
                "in",
                "--action",
                "ACCEPT",
                "--enable",
                "1",
                "--source",
                "10.0.0.0/24",
                "--proto",
                "icmp",
                "--comment",
                "Allow ICMP from internal network"
            ]
        )
        .ok(),
        ""
    );
    sim.run(
        "pvesh",
        &[
            "create", base, "--type", "in", "--action", "ACCEPT", "--proto", "tcp", "--dport", "22",
        ],
    )
    .ok();
    assert_eq!(
        sim.read("/etc/pve/firewall/101.fw"),
        "[RULES]\n\n|IN ACCEPT -p tcp -dport 22\nIN ACCEPT -source 10.0.0.0/24 -p icmp # Allow ICMP from internal network\n\n",
        "new rules go first; without --enable 1 they are disabled"
    );
    let json = sim
        .run("pvesh", &["get", base, "--output-format", "json"])
        .ok()
        .to_string();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["pos"], 0);
    assert_eq!(v[0]["enable"], 0);
    assert_eq!(v[0]["dport"], "22");
    assert_eq!(v[1]["ipversion"], 4);
    assert_eq!(v[0]["digest"], v[1]["digest"]);
    sim.run("pvesh", &["delete", &format!("{base}/0")]).ok();
    assert_eq!(
        sim.run("pvesh", &["delete", &format!("{base}/5")])
            .fails(255),
        "no rule at position 5\n"
    );
    assert_eq!(
        sim.run(
            "pvesh",
            &[
                "create", base, "--type", "in", "--action", "ACCEPT", "--dport", "80"
            ]
        )
        .fails(255),
        "400 Parameter verification failed.\nproto: missing property - 'dport' requires this property\npvesh create <api_path> --action <string> --type <string> [OPTIONS] [FORMAT_OPTIONS]\n"
    );
    assert_eq!(
        sim.run("pvesh", &["create", base, "--action", "ACCEPT"])
            .fails(255),
        "400 Parameter verification failed.\ntype: property is missing and it is not optional\npvesh create <api_path> --action <string> --type <string> [OPTIONS] [FORMAT_OPTIONS]\n"
    );
    assert!(
        sim.run(
            "pvesh",
            &["create", base, "--type", "in", "--action", "ALLOW"]
        )
        .fails(255)
        .contains("action: unknown action 'ALLOW'\n")
    );
    assert_eq!(
        sim.run("pvesh", &["get", "/nodes/pve/lxc/102/firewall/rules"])
            .fails(255),
        "Configuration file 'nodes/pve/lxc/102.conf' does not exist\n"
    );
    // Options.
    sim.run(
        "pvesh",
        &[
            "set",
            "/nodes/pve/lxc/101/firewall/options",
            "--enable",
            "1",
            "--policy_in",
            "DROP",
        ],
    )
    .ok();
    assert!(
        sim.read("/etc/pve/firewall/101.fw")
            .starts_with("[OPTIONS]\n\nenable: 1\npolicy_in: DROP\n\n[RULES]\n")
    );
    let opts = sim
        .run(
            "pvesh",
            &[
                "get",
                "/nodes/pve/lxc/101/firewall/options",
                "--output-format",
                "json",
            ],
        )
        .ok()
        .to_string();
    assert!(
        opts.starts_with("{\"digest\":\"")
            && opts.ends_with("\"enable\":1,\"policy_in\":\"DROP\"}\n"),
        "{opts}"
    );
    assert_eq!(
        sim.run("pvesh", &["get", "/nodes/pve/lxc/101/firewall/options"])
            .ok(),
        "┌───────────┬───────┐\n│ key       │ value │\n╞═══════════╪═══════╡\n│ enable    │ 1     │\n├───────────┼───────┤\n│ policy_in │ DROP  │\n└───────────┴───────┘\n"
    );
}

#[test]
fn pvesh_node_and_cluster_paths() {
    let sim = Sim::new();
    sim.container(101, &[]).ok();
    let nodes: serde_json::Value = serde_json::from_str(
        sim.run("pvesh", &["get", "/nodes", "--output-format", "json"])
            .ok(),
    )
    .unwrap();
    assert_eq!(nodes[0]["node"], "pve");
    assert_eq!(nodes[0]["status"], "online");
    let res: serde_json::Value = serde_json::from_str(
        sim.run(
            "pvesh",
            &[
                "get",
                "/cluster/resources",
                "--type",
                "vm",
                "--output-format",
                "json",
            ],
        )
        .ok(),
    )
    .unwrap();
    assert_eq!(res[0]["id"], "lxc/101");
    assert_eq!(res[0]["status"], "stopped");
    assert_eq!(
        sim.run("pvesh", &["get", "/nodes/other/status"]).fails(255),
        "no such cluster node 'other'\n"
    );
    assert_eq!(
        sim.run("pvesh", &["get", "/nope"]).fails(255),
        "no such resource '/nope'\n"
    );
    assert_eq!(
        sim.run("pvesh", &["set", "/nodes/pve/status"]).fails(1),
        "No 'set' handler defined for '/nodes/pve/status'\n"
    );
}
