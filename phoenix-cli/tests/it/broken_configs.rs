//! At least thirty broken configurations; each must exit 2 before any host command, with the
//! right file and JSON pointer in the message.

use serde_json::{Value, json};

use crate::support::Env;

const HOST: &str = "phoenix_hypervisor_config.json";
const LXC: &str = "phoenix_lxc_configs.json";
const VM: &str = "phoenix_vm_configs.json";

/// How a case breaks the example configuration.
enum Break {
    /// Sets the value at a pointer (creating the last key).
    Set(&'static str, &'static str, Value),
    /// Removes the value at a pointer.
    Remove(&'static str, &'static str),
    /// Replaces text in the file (for malformed JSON).
    Text(&'static str, &'static str, &'static str),
    /// Deletes a file under the installation root.
    DeleteFile(&'static str),
    /// Replaces a configuration file by a symbolic link to `target`.
    Link(&'static str, &'static str),
    /// Makes a configuration file `n` bytes long (NUL bytes after its JSON).
    Grow(&'static str, u64),
}

struct Case {
    name: &'static str,
    breaks: Vec<Break>,
    file: &'static str,
    pointer: &'static str,
    message: &'static str,
}

fn apply(env: &Env, b: &Break) {
    match b {
        Break::Set(file, ptr, v) => {
            let mut doc = env.read_json(file);
            let (parent, key) = ptr.rsplit_once('/').unwrap();
            let target = doc
                .pointer_mut(parent)
                .unwrap_or_else(|| panic!("no {parent} in {file}"));
            match target {
                Value::Object(m) => {
                    m.insert(key.replace("~1", "/").replace("~0", "~"), v.clone());
                }
                Value::Array(a) => {
                    let i: usize = key.parse().unwrap();
                    if i == a.len() {
                        a.push(v.clone());
                    } else {
                        a[i] = v.clone();
                    }
                }
                _ => panic!("{parent} in {file} is not a container"),
            }
            env.write_json(file, &doc);
        }
        Break::Remove(file, ptr) => {
            let mut doc = env.read_json(file);
            let (parent, key) = ptr.rsplit_once('/').unwrap();
            match doc.pointer_mut(parent).unwrap() {
                Value::Object(m) => {
                    m.remove(key)
                        .unwrap_or_else(|| panic!("no {ptr} in {file}"));
                }
                Value::Array(a) => {
                    a.remove(key.parse::<usize>().unwrap());
                }
                _ => panic!(),
            }
            env.write_json(file, &doc);
        }
        Break::Text(file, from, to) => {
            let path = env.etc().join(file);
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.contains(from), "{from:?} not in {file}");
            std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        }
        Break::DeleteFile(rel) => std::fs::remove_file(env.root().join(rel)).unwrap(),
        Break::Link(file, target) => {
            let p = env.etc().join(file);
            std::fs::remove_file(&p).unwrap();
            std::os::unix::fs::symlink(target, &p).unwrap();
        }
        Break::Grow(file, n) => {
            let p = env.etc().join(file);
            let f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
            f.set_len(*n).unwrap();
        }
    }
}

fn cases() -> Vec<Case> {
    use Break::*;
    let c = |name, breaks, file, pointer, message| Case {
        name,
        breaks,
        file,
        pointer,
        message,
    };
    vec![
        // Malformed JSON.
        c(
            "trailing comma",
            vec![Text(LXC, "\"cores\": 1,", "\"cores\": 1,,")],
            LXC,
            "/lxc_configs/103",
            "malformed JSON",
        ),
        c(
            "unterminated host file",
            vec![Text(
                HOST,
                "\"timezone\": \"Etc/UTC\",",
                "\"timezone\": \"Etc/UTC",
            )],
            HOST,
            "/timezone",
            "malformed JSON",
        ),
        c(
            "unquoted key",
            vec![Text(VM, "\"vm_defaults\"", "vm_defaults")],
            VM,
            "/",
            "expected a key in double quotes",
        ),
        c(
            "bare word value",
            vec![Text(LXC, "\"unprivileged\": true", "\"unprivileged\": yes")],
            LXC,
            "/lxc_configs/900/unprivileged",
            "strings need double quotes",
        ),
        // Wrong types and ranges (schema).
        c(
            "memory is a string",
            vec![Set(LXC, "/lxc_configs/103/memory_mb", json!("lots"))],
            LXC,
            "/lxc_configs/103/memory_mb",
            "integer",
        ),
        c(
            "zero cores",
            vec![Set(LXC, "/lxc_configs/103/cores", json!(0))],
            LXC,
            "/lxc_configs/103/cores",
            "minimum",
        ),
        c(
            "vmid is a word",
            vec![Set(VM, "/vms/1/vmid", json!("portainer"))],
            VM,
            "/vms/1/vmid",
            "portainer",
        ),
        c(
            "missing name",
            vec![Remove(LXC, "/lxc_configs/103/name")],
            LXC,
            "/lxc_configs/103",
            "\"name\" is a required property",
        ),
        c(
            "firewall action",
            vec![Set(
                LXC,
                "/lxc_configs/103/firewall/rules/0/action",
                json!("ALLOW"),
            )],
            LXC,
            "/lxc_configs/103/firewall/rules/0/action",
            "ALLOW",
        ),
        c(
            "firewall direction",
            vec![Set(VM, "/vms/1/firewall/rules/0/type", json!("inbound"))],
            VM,
            "/vms/1/firewall/rules/0/type",
            "inbound",
        ),
        c(
            "raid level",
            vec![Set(HOST, "/zfs/pools/0/raid_level", json!("raid5"))],
            HOST,
            "/zfs/pools/0/raid_level",
            "raid5",
        ),
        c(
            "non-numeric CTID",
            vec![Set(LXC, "/lxc_configs/web", json!({}))],
            LXC,
            "/lxc_configs",
            "web",
        ),
        c(
            "relative container path",
            vec![Set(
                LXC,
                "/lxc_configs/101/mount_points/0/container_path",
                json!("var/log/nginx"),
            )],
            LXC,
            "/lxc_configs/101/mount_points/0/container_path",
            "is not an absolute path",
        ),
        c(
            "malformed VFIO device ID",
            vec![Set(
                HOST,
                "/vfio",
                json!({"enabled": true, "pci_ids": ["10de 2204"]}),
            )],
            HOST,
            "/vfio/pci_ids/0",
            "does not match",
        ),
        c(
            "locale with a space",
            vec![Set(HOST, "/locale", json!("en US"))],
            HOST,
            "/locale",
            "does not match",
        ),
        c(
            "plain-HTTP CA URL",
            vec![Set(
                HOST,
                "/step_ca/ca_url",
                json!("http://10.20.0.10:9000"),
            )],
            HOST,
            "/step_ca/ca_url",
            "does not match",
        ),
        c(
            "time zone with a space",
            vec![Set(HOST, "/timezone", json!("New York"))],
            HOST,
            "/timezone",
            "is not a time zone name",
        ),
        c(
            "DNS server without upstream servers",
            vec![Set(HOST, "/dns_server/upstream_servers", json!([]))],
            HOST,
            "/dns_server/upstream_servers",
            "has no upstream servers",
        ),
        c(
            "NVIDIA runfile over plain HTTP",
            vec![Set(
                HOST,
                "/nvidia_driver/runfile_url",
                json!("http://example.com/NVIDIA-Linux-x86_64-580.76.05.run"),
            )],
            HOST,
            "/nvidia_driver/runfile_url",
            "is not an https:// URL",
        ),
        c(
            "Samba share named like a reserved section",
            vec![Set(HOST, "/samba/shares/0/name", json!("homes"))],
            HOST,
            "/samba/shares/0/name",
            "is reserved by Samba",
        ),
        c(
            "inline password that is not a hash",
            vec![Set(HOST, "/users/password_hash", json!("hunter2"))],
            HOST,
            "/users/password_hash",
            "not a crypt(3) hash",
        ),
        c(
            "node name with a domain",
            vec![Set(HOST, "/network/hostname", json!("pve.lab.example"))],
            HOST,
            "/network/hostname",
            "a Proxmox node name is one label",
        ),
        // References, cycles, duplicates.
        c(
            "unknown dependency",
            vec![Set(LXC, "/lxc_configs/102/dependencies/0", json!("104"))],
            LXC,
            "/lxc_configs/102/dependencies/0",
            "unknown guest 104",
        ),
        c(
            "unknown clone source",
            vec![Set(LXC, "/lxc_configs/103/clone_from_ctid", json!("905"))],
            LXC,
            "/lxc_configs/103/clone_from_ctid",
            "unknown guest 905",
        ),
        c(
            "container cloned from a VM",
            vec![Set(LXC, "/lxc_configs/103/clone_from_ctid", json!("9000"))],
            LXC,
            "/lxc_configs/103/clone_from_ctid",
            "which is a VM",
        ),
        c(
            "VM cloned from a container",
            vec![Set(VM, "/vms/1/clone_from_vmid", json!(900))],
            VM,
            "/vms/1/clone_from_vmid",
            "which is a container",
        ),
        c(
            "clone source without snapshot",
            vec![Remove(LXC, "/lxc_configs/900/template_snapshot_name")],
            LXC,
            "/lxc_configs/101/clone_from_ctid",
            "no template_snapshot_name",
        ),
        c(
            "cycle",
            vec![Set(LXC, "/lxc_configs/103/dependencies", json!(["101"]))],
            LXC,
            "/lxc_configs/101/dependencies/0",
            "dependency cycle: 101 -> 103 -> 101",
        ),
        c(
            "self dependency",
            vec![Set(LXC, "/lxc_configs/960/dependencies", json!(["960"]))],
            LXC,
            "/lxc_configs/960/dependencies/0",
            "dependency cycle: 960 -> 960",
        ),
        c(
            "cycle across kinds",
            vec![Set(LXC, "/lxc_configs/102/dependencies/1", json!("1002"))],
            LXC,
            "/lxc_configs/102/dependencies/1",
            "dependency cycle: 102 -> 1002 -> 1001 -> 102",
        ),
        c(
            "duplicate ID across kinds",
            vec![Set(VM, "/vms/1/vmid", json!(101))],
            VM,
            "/vms/1/vmid",
            "ID 101 is already used by a container",
        ),
        c(
            "duplicate VMID",
            vec![Set(VM, "/vms/2/vmid", json!(1001))],
            VM,
            "/vms/2/vmid",
            "already used by another VM",
        ),
        c(
            "CTID below 100",
            vec![Set(
                LXC,
                "/lxc_configs/99",
                json!({"name": "x", "memory_mb": 512, "cores": 1, "storage_pool": "tank-lxc-disks", "storage_size_gb": 8, "network_config": {"name": "eth0", "bridge": "vmbr0", "ip": "dhcp"}, "clone_from_ctid": "900"}),
            )],
            LXC,
            "/lxc_configs/99",
            "outside the Proxmox ID range",
        ),
        // Formats.
        c(
            "CIDR prefix",
            vec![Set(
                LXC,
                "/lxc_configs/103/network_config/ip",
                json!("10.20.0.10/33"),
            )],
            LXC,
            "/lxc_configs/103/network_config/ip",
            "prefix length",
        ),
        c(
            "address without prefix",
            vec![Set(VM, "/vms/1/network_config/ip", json!("10.20.0.31"))],
            VM,
            "/vms/1/network_config/ip",
            "CIDR notation",
        ),
        c(
            "gateway octet",
            vec![Set(
                LXC,
                "/lxc_configs/101/network_config/gw",
                json!("10.20.0.256"),
            )],
            LXC,
            "/lxc_configs/101/network_config/gw",
            "not an IPv4 address",
        ),
        c(
            "short MAC",
            vec![Set(
                LXC,
                "/lxc_configs/101/mac_address",
                json!("52:54:00:20:01"),
            )],
            LXC,
            "/lxc_configs/101/mac_address",
            "not a MAC address",
        ),
        c(
            "multicast MAC",
            vec![Set(
                LXC,
                "/lxc_configs/101/mac_address",
                json!("01:54:00:20:01:01"),
            )],
            LXC,
            "/lxc_configs/101/mac_address",
            "multicast",
        ),
        c(
            "GPU assignment",
            vec![Set(LXC, "/lxc_configs/950/gpu_assignment", json!("gpu0"))],
            LXC,
            "/lxc_configs/950/gpu_assignment",
            "not a GPU assignment",
        ),
        c(
            "GPU listed twice",
            vec![Set(LXC, "/lxc_configs/950/gpu_assignment", json!("0, 0"))],
            LXC,
            "/lxc_configs/950/gpu_assignment",
            "listed twice",
        ),
        c(
            "port out of range",
            vec![Set(
                LXC,
                "/lxc_configs/103/firewall/rules/1/port",
                json!("70000"),
            )],
            LXC,
            "/lxc_configs/103/firewall/rules/1/port",
            "not a port number",
        ),
        c(
            "port without tcp or udp",
            vec![Set(VM, "/vms/2/firewall/rules/0/proto", json!("icmp"))],
            VM,
            "/vms/2/firewall/rules/0/port",
            "needs \"proto\" tcp or udp",
        ),
        c(
            "source prefix",
            vec![Set(
                LXC,
                "/lxc_configs/900/firewall/rules/0/source",
                json!("10.20.0.0/40"),
            )],
            LXC,
            "/lxc_configs/900/firewall/rules/0/source",
            "prefix length",
        ),
        c(
            "port mapping",
            vec![Set(LXC, "/lxc_configs/950/ports", json!(["8000"]))],
            LXC,
            "/lxc_configs/950/ports/0",
            "not a port mapping",
        ),
        c(
            "host name",
            vec![Set(LXC, "/lxc_configs/101/name", json!("my_gateway"))],
            LXC,
            "/lxc_configs/101/name",
            "not a valid host name",
        ),
        c(
            "nameserver",
            vec![Set(
                LXC,
                "/lxc_configs/101/network_config/nameservers",
                json!("dns.example"),
            )],
            LXC,
            "/lxc_configs/101/network_config/nameservers",
            "not an IP address",
        ),
        c(
            "host address",
            vec![Set(HOST, "/network/interfaces/address", json!("10.20.0.2"))],
            HOST,
            "/network/interfaces/address",
            "CIDR notation",
        ),
        c(
            "mirror of one disk",
            vec![Remove(HOST, "/zfs/pools/0/disks/1")],
            HOST,
            "/zfs/pools/0/disks",
            "needs at least 2 disks",
        ),
        c(
            "two volumes at one path",
            vec![Set(
                LXC,
                "/lxc_configs/950/mount_points",
                json!([{"host_path": "/bulk/x", "container_path": "/models"}]),
            )],
            LXC,
            "/lxc_configs/950/zfs_volumes/0/mount_point",
            "mounts two volumes",
        ),
        c(
            "conflicting alias",
            vec![Set(
                LXC,
                "/lxc_configs/950/volumes",
                json!([{"name": "other", "pool": "local-zfs", "size_gb": 1, "mount_point": "/other"}]),
            )],
            LXC,
            "/lxc_configs/950/volumes",
            "disagree",
        ),
        // Guests that cannot be built.
        c(
            "VM template without image",
            vec![Remove(VM, "/vms/0/template_image")],
            VM,
            "/vms/0",
            "needs \"template_image\"",
        ),
        c(
            "VM without source",
            vec![Remove(VM, "/vms/1/clone_from_vmid")],
            VM,
            "/vms/1",
            "nothing to be created from",
        ),
        c(
            "NFS export option exportfs refuses",
            vec![Set(HOST, "/nfs/exports/0/options/3", json!("noatime"))],
            HOST,
            "/nfs/exports/0/options/3",
            "not an NFS export option",
        ),
        // Line injection (issue 15): a control character in any value or key, whatever file
        // it would land in, refuses the configuration where it is written.
        c(
            "newline in a container firewall comment",
            vec![Set(
                LXC,
                "/lxc_configs/101/firewall/rules/0/comment",
                json!("web\n[OPTIONS]\nenable: 0\n[RULES]\nIN ACCEPT"),
            )],
            LXC,
            "/lxc_configs/101/firewall/rules/0/comment",
            "control character (U+000A)",
        ),
        c(
            "newline in a VM firewall comment",
            vec![Set(
                VM,
                "/vms/1/firewall/rules/0/comment",
                json!("ui\nIN ACCEPT -source 0.0.0.0/0"),
            )],
            VM,
            "/vms/1/firewall/rules/0/comment",
            "control character (U+000A)",
        ),
        c(
            "carriage return in a stack firewall comment",
            vec![Set(
                "../stacks/webapp/phoenix.json",
                "/environments/production/firewall_rules/0/comment",
                json!("app\rIN ACCEPT"),
            )],
            "stacks/webapp/phoenix.json",
            "/environments/production/firewall_rules/0/comment",
            "control character (U+000D)",
        ),
        c(
            "newline in a host firewall comment",
            vec![Set(
                HOST,
                "/firewall/global_firewall_rules/0/comment",
                json!("ssh\n[OPTIONS]\nenable: 0"),
            )],
            HOST,
            "/firewall/global_firewall_rules/0/comment",
            "control character (U+000A)",
        ),
        c(
            "newline in an lxc_options line",
            vec![Set(
                LXC,
                "/lxc_configs/101/lxc_options",
                json!([
                    "lxc.cgroup2.devices.allow: c 195:* rwm\nlxc.mount.entry: / host none rbind 0 0"
                ]),
            )],
            LXC,
            "/lxc_configs/101/lxc_options/0",
            "control character (U+000A)",
        ),
        c(
            "tab in a key",
            vec![Set(LXC, "/lxc_configs/101/mtu\tx", json!(1500))],
            LXC,
            "/lxc_configs/101/mtu\\tx",
            "the key holds a control character (U+0009)",
        ),
        c(
            "line separator in a Samba share name",
            vec![Set(HOST, "/samba/shares/0/name", json!("data\u{2028}x"))],
            HOST,
            "/samba/shares/0/name",
            "control character (U+2028)",
        ),
        // Host directories given away (issue 15): paths are normalised once, at load; `..`,
        // relative paths and the host's system trees are refused.
        c(
            "bind mount of the host's root",
            vec![Set(
                LXC,
                "/lxc_configs/103/mount_points/0/host_path",
                json!("/"),
            )],
            LXC,
            "/lxc_configs/103/mount_points/0/host_path",
            "/ is a system directory of the host",
        ),
        c(
            "bind mount of /etc",
            vec![Set(
                LXC,
                "/lxc_configs/103/mount_points/0/host_path",
                json!("/etc/"),
            )],
            LXC,
            "/lxc_configs/103/mount_points/0/host_path",
            "in the host's system tree /etc",
        ),
        c(
            "bind mount through ..",
            vec![Set(
                LXC,
                "/lxc_configs/103/mount_points/0/host_path",
                json!("/tank/../etc"),
            )],
            LXC,
            "/lxc_configs/103/mount_points/0/host_path",
            "has a \"..\" component",
        ),
        c(
            "relative bind mount",
            vec![Set(
                LXC,
                "/lxc_configs/103/mount_points/0/host_path",
                json!("tank/ssl"),
            )],
            LXC,
            "/lxc_configs/103/mount_points/0/host_path",
            "is not an absolute path",
        ),
        c(
            "bind mount over the container's root",
            vec![Set(
                LXC,
                "/lxc_configs/103/mount_points/0/container_path",
                json!("/"),
            )],
            LXC,
            "/lxc_configs/103/mount_points/0/container_path",
            "system directory of the guest",
        ),
        c(
            "NFS export of /",
            vec![Set(HOST, "/nfs/exports/0/path", json!("/"))],
            HOST,
            "/nfs/exports/0/path",
            "/ is a system directory of the host",
        ),
        c(
            "Samba share of etc",
            vec![Set(HOST, "/samba/shares/0/path", json!("etc"))],
            HOST,
            "/samba/shares/0/path",
            "in the host's system tree /etc",
        ),
        c(
            "OS template through ..",
            vec![Set(
                LXC,
                "/lxc_configs/900/template",
                json!("../../../../etc/shadow"),
            )],
            LXC,
            "/lxc_configs/900/template",
            "has a \"..\" component",
        ),
        c(
            "cloud image through ..",
            vec![Set(VM, "/vms/0/template_image", json!("../../etc/shadow"))],
            VM,
            "/vms/0/template_image",
            "is not a file name",
        ),
        // What sync uses.
        c(
            "Portainer URL with a path",
            vec![Set(
                HOST,
                "/portainer_api/url",
                json!("https://portainer_lab:9443"),
            )],
            HOST,
            "/portainer_api/url",
            "portainer_lab",
        ),
        c(
            "Portainer address that is a name",
            vec![Set(
                HOST,
                "/portainer_api/connect_address",
                json!("portainer.lab"),
            )],
            HOST,
            "/portainer_api/connect_address",
            "is not an IP address",
        ),
        c(
            "post-renewal command with an open quote",
            vec![Set(
                "certificate-manifest.json",
                "/0/post_renewal_command",
                json!("pct exec 101 -- sh -c 'systemctl reload nginx"),
            )],
            "certificate-manifest.json",
            "/0/post_renewal_command",
            "unbalanced quotes",
        ),
        c(
            "certificate mode that is not octal",
            vec![Set(
                "certificate-manifest.json",
                "/1/permissions",
                json!("rw-r"),
            )],
            "certificate-manifest.json",
            "/1/permissions",
            "does not match",
        ),
        // Raw lxc keys Proxmox drops or refuses (pve-container Config.pm
        // is_valid_lxc_conf_key).
        c(
            "raw lxc key Proxmox drops",
            vec![Set(
                LXC,
                "/lxc_configs/101/lxc_options",
                json!(["lxc.hook.autodev.extra: /bin/true"]),
            )],
            LXC,
            "/lxc_configs/101/lxc_options/0",
            "Proxmox drops lxc.hook.autodev.extra",
        ),
        c(
            "raw lxc key Proxmox refuses",
            vec![Set(
                LXC,
                "/lxc_configs/101/lxc_options",
                json!(["lxc.rootfs.path: /var/lib/other"]),
            )],
            LXC,
            "/lxc_configs/101/lxc_options/0",
            "lxc.rootfs.path is auto generated from rootfs",
        ),
        // Unbounded reads (issue 15): a configuration file that is a device or huge is refused
        // before it is read.
        c(
            "LXC file linked to /dev/zero",
            vec![Link(LXC, "/dev/zero")],
            LXC,
            "/",
            "is not a regular file (a character device)",
        ),
        c(
            "VM file of 9 MiB",
            vec![Grow(VM, 9 << 20)],
            VM,
            "/",
            "is larger than 8 MiB",
        ),
        c(
            "missing host file",
            vec![DeleteFile("etc/phoenix_hypervisor_config.json")],
            HOST,
            "/",
            "cannot read the file",
        ),
    ]
}

/// Problems that concern one guest or stack only: `validate` accepts them (exit 0) with a
/// warning at the file and pointer that says what it blocks; the rest of the estate acts.
/// (What a verb on the blocked object does is tested where the real managers run:
/// `lxc-manager/tests/it/changes.rs`, `portainer-manager/tests/it/sync.rs`.)
fn object_findings() -> Vec<Case> {
    use Break::*;
    let c = |name, breaks, file, pointer, message| Case {
        name,
        breaks,
        file,
        pointer,
        message,
    };
    vec![
        c(
            "duplicate MAC",
            vec![Set(
                LXC,
                "/lxc_configs/960/mac_address",
                json!("52:54:00:20:09:50"),
            )],
            LXC,
            "/lxc_configs/960/mac_address",
            "already used by guest 950",
        ),
        c(
            "unknown stack",
            vec![Set(VM, "/vms/2/docker_stacks/0", json!("redis"))],
            VM,
            "/vms/2/docker_stacks/0",
            "stack \"redis\"",
        ),
        c(
            "unknown stack environment",
            vec![Set(
                VM,
                "/vms/2/docker_stacks/1",
                json!({"name": "webapp", "environment": "qa"}),
            )],
            VM,
            "/vms/2/docker_stacks/1",
            "no environment \"qa\"",
        ),
        c(
            "missing stack file",
            vec![DeleteFile("stacks/webapp/configs/staging.env")],
            "stacks/webapp/phoenix.json",
            "/environments/staging/files/0/source",
            "does not exist",
        ),
    ]
}

#[test]
fn object_findings_are_warnings_that_block_only_their_object() {
    let mut failures = Vec::new();
    for case in &object_findings() {
        let env = Env::with_examples();
        env.fake_managers();
        for b in &case.breaks {
            apply(&env, b);
        }
        let run = env.run(["validate"], &[]);
        let at = format!(" at {}", case.pointer);
        let located = run.stderr.lines().any(|l| {
            l.trim_start().starts_with("-->")
                && l.contains(&format!("/{}", case.file))
                && l.contains(&at)
        });
        let problems: Vec<String> = [
            (run.code != 0).then(|| format!("exit status {} (want 0)", run.code)),
            (!located).then(|| format!("no location `{}…{at}`", case.file)),
            (!run.stderr.contains(case.message)).then(|| format!("no `{}`", case.message)),
            (!run.stderr.contains("warning: ")).then(|| "no warning".to_string()),
            (!run.stderr.contains("  blocks: ")).then(|| "no `blocks:` line".to_string()),
            (!run.stdout.contains("\nblocked        ")).then(|| "no `blocked` summary".to_string()),
        ]
        .into_iter()
        .flatten()
        .collect();
        // Creating a guest the finding does not concern goes ahead.
        let create = env.run(["create", "101"], &[]);
        let problems: Vec<String> = problems
            .into_iter()
            .chain((create.code != 0).then(|| format!("create 101 exited {}", create.code)))
            .collect();
        if !problems.is_empty() {
            failures.push(format!(
                "case `{}`: {}\n--- stderr\n{}",
                case.name,
                problems.join("; "),
                run.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_broken_configuration_exits_2_naming_file_and_pointer() {
    let all = cases();
    assert!(
        all.len() >= 30,
        "the suite needs at least 30 cases, has {}",
        all.len()
    );
    let mut failures = Vec::new();
    for case in &all {
        let env = Env::with_examples();
        env.fake_managers();
        for b in &case.breaks {
            apply(&env, b);
        }
        // A mutating verb: the managers must never be reached.
        let run = env.run(["create", "101"], &[]);
        // `  --> <dir>/<file>:<line>:<col> at <pointer>`
        let at = format!(" at {}", case.pointer);
        let located = run.stderr.lines().any(|l| {
            l.trim_start().starts_with("-->")
                && l.contains(&format!("/{}", case.file))
                && l.contains(&at)
        });
        let problems: Vec<String> = [
            (run.code != 2).then(|| format!("exit status {} (want 2)", run.code)),
            (!located).then(|| format!("no location `{}…{at}`", case.file)),
            (!run.stderr.contains(case.message)).then(|| format!("no `{}`", case.message)),
            (!env.calls().is_empty()).then(|| format!("managers ran: {:?}", env.calls())),
            (!run.stdout.is_empty()).then(|| "stdout not empty".to_string()),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !problems.is_empty() {
            failures.push(format!(
                "case `{}`: {}\n--- stderr\n{}",
                case.name,
                problems.join("; "),
                run.stderr
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        all.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_unbroken_examples_are_valid() {
    let env = Env::with_examples();
    let run = env.run(["validate"], &[]);
    run.expect_code(0);
    assert!(
        run.stderr.is_empty(),
        "the examples should load without findings:\n{}",
        run.stderr
    );
}

#[test]
fn warnings_do_not_stop_a_run() {
    let env = Env::with_examples();
    // An unknown key and a duplicate key are warnings, not errors.
    let path = env.etc().join(LXC);
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replacen(
        "\"cores\": 1,",
        "\"cores\": 1, \"memroy_mb\": 100, \"cores\": 1,",
        1,
    );
    std::fs::write(&path, text).unwrap();
    let run = env.run(["validate"], &[]);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("warning: unknown key \"memroy_mb\" (ignored)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: did you mean \"memory_mb\"?"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("warning: duplicate key; the value at line"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("at /lxc_configs/103/cores"),
        "{}",
        run.stderr
    );
}

#[test]
fn legacy_files_are_refused_naming_the_file_unless_allowed() {
    let env = Env::with_examples();
    env.fake_managers();
    let mut lxc = env.read_json(LXC);
    let ct = lxc
        .pointer_mut("/lxc_configs/103")
        .unwrap()
        .as_object_mut()
        .unwrap();
    let src = ct.remove("clone_from_ctid").unwrap();
    ct.insert("clone_from_template_ctid".into(), src);
    env.write_json(LXC, &lxc);
    let v = env.run(["validate"], &[]);
    v.expect_code(2);
    assert!(
        v.stderr.contains(
            "error: legacy format: phoenix_lxc_configs.json is a file of the shell version's v1 era"
        ),
        "{}",
        v.stderr
    );
    assert!(
        v.stderr
            .contains("at /lxc_configs/103/clone_from_template_ctid"),
        "{}",
        v.stderr
    );
    assert!(v.stderr.contains("--allow-legacy"), "{}", v.stderr);
    let v = env.run(["validate", "--allow-legacy"], &[]);
    v.expect_code(0);
    assert!(
        v.stderr
            .contains("warning: legacy format: clone_from_template_ctid"),
        "{}",
        v.stderr
    );
    assert!(v.stdout.contains("LEGACY"), "{}", v.stdout);
    let c = env.run(["create", "103"], &[]);
    c.expect_code(2);
    assert!(env.calls().is_empty());
    env.run(["create", "103", "--allow-legacy", "-j", "1"], &[])
        .expect_code(0);
    let etc = env.etc().display().to_string();
    assert_eq!(
        env.calls(),
        [
            format!("lxc-manager create 900 --config {etc} --allow-legacy"),
            format!("lxc-manager create 103 --config {etc} --allow-legacy")
        ]
    );
}
