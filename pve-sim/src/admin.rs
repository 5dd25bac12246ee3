//! `pve-sim` itself: set up, inspect and steer the simulated host (`init`, `state`,
//! `install`, `disk`, `reboot`, `config`, `fault`, `rule`, `audit`, `step-ca-root`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::knobs::{self, Fault, Knobs, Rule};
use crate::root::{SimRoot, write_atomic};
use crate::state::{Disk, DsKind, Pool, State};
use crate::storage::{Storage, StorageCfg};

/// `pve-sim --help`.
pub const HELP: &str = "\
pve-sim: a strict Proxmox VE simulator to test and demo against

USAGE:
    pve-sim <COMMAND> [ARGS]
    pct|qm|pvesm|pveam|pveversion|zfs|zpool ... (through the links `pve-sim install` makes)
    <host tool> ...                            (likewise; see HOST TOOLS)
    pve-sim <tool> ...                         (the same, without links)

Everything lives under $PHOENIX_SYSROOT (required, never `/`): real-format files where Proxmox
keeps them (etc/pve/lxc/<id>.conf, etc/pve/qemu-server/<id>.conf, etc/pve/firewall/<id>.fw,
etc/pve/storage.cfg, dataset mount points, storage directories) and the simulator's own
bookkeeping in var/lib/pve-sim/ (state.json, config.json, faults.json, rules.json, audit.jsonl).

COMMANDS:
    init [--node NAME] [--from-config DIR] [--bare] [--gpus N] [--nvidia-driver VER|none]
         [--pve 8.2|8.4|9.1] [--force]
        Create a fresh host: the installer's rpool, storages `local` (dir) and `local-zfs`
        (zfspool), a system disk, the standard container template, and a fresh Proxmox VE
        host of the release --pve names (default 9.1: its package versions in `pveversion
        -v`, its kernel, its output formats; 8.2 is older than Phoenix supports) (the
        packages of an installation, their services enabled and running, root and the system
        accounts, root@pam, time zone Etc/UTC, en_US.UTF-8, /etc/hostname and /etc/hosts,
        the stock LXC AppArmor profiles loaded). With
        --from-config, also the pools, datasets and storages of
        DIR/phoenix_hypervisor_config.json (the host after `setup`), its pool disks, its
        address and domain in /etc/hosts, and the templates and cloud images the LXC and VM
        configs name. --bare creates the config's disks but no pools, datasets or storages
        (for testing `setup` itself). --gpus N puts N NVIDIA GPUs on the PCI bus with the
        driver --nvidia-driver VER (default 580.76.05) installed and loaded: /dev/nvidia*,
        /proc/driver/nvidia/version, nvidia-smi. --nvidia-driver none: GPUs without a driver.
    state [--json]
        Print the host: guests with status and snapshots, storages, pools and datasets, and
        the host itself (packages, services, users, Proxmox users and ACLs, AppArmor, NVIDIA,
        NFS exports, reboot required, counters).
    install <BIN_DIR>
        Put every tool (Proxmox's and the host tools) in BIN_DIR: small scripts that exec
        this binary, so a test may replace one with its own script safely.
    disk add <PATH> [--size BYTES] [--tran nvme|sata]
    disk set <PATH> [--signature TYPE|none] [--label L] [--partitions 0|1]
        Add a block device, or put a signature (zfs_member, ext4, …), a label and a
        partition table on one (what lsblk and wipefs then report).
    reboot
        Reboot the host: running guests stop; the installed NVIDIA driver is loaded; every
        profile in /etc/apparmor.d is loaded; enabled services start (running what they
        run), the others are stopped; guests with `onboot: 1` start; `reboot required`
        clears and the boot counter grows.
    step-ca-root
        Print the root certificate (PEM) of the simulated step CA that signs what `step ca
        certificate` issues, creating the CA (var/lib/pve-sim/step-ca/root_ca.{crt,key}) if
        it does not exist yet; trust it to verify those certificates.
    config [--strict 0|1] [--time-scale F] [--cost OP=SECS]... [--vm-boot-secs N]
           [--ct-boot-secs N]
        Show or change the knobs (var/lib/pve-sim/config.json). PVE_SIM_STRICT and
        PVE_SIM_TIME_SCALE override them per process. Time scale 0 (the default) never
        sleeps; 0.01 sleeps 1/100 of each operation's simulated duration.
    fault add --tool T|* [--sub S] [--id ID] [--nth N] [--always] [--message M] [--exit CODE]
              [--kill NAME]
    fault list | fault clear
        Fail the Nth call matching tool+subcommand(+object) (`*`: any tool), once or from then
        on, with a message (stderr) and exit status (default 255). The host is not touched.
        With --kill NAME the call instead kills the run making it: SIGKILL to the simulator's
        ancestors up to the first process named NAME (e.g. phoenix-cli), and to itself. The
        subcommand is the first argument that is not an option (`install` of `apt-get
        install -y jq`, `restart` of `systemctl restart smbd`), the object the next one.
    rule add --match GLOB [--guest ID] [--exit CODE] [--stdout S] [--stderr S] [--secs F]
             [--file PATH=CONTENT]... [--read]
    rule list | rule clear
        Script what a command run inside a guest (pct exec, qm guest exec) does: first rule
        whose glob matches the command line wins; --read marks a probe (the audit counts it
        as a read, not a change). Without a rule, file probes (test, cat,
        mkdir, rm, touch, chmod, install, grep, echo, mount -a, cloud-init status|clean, sh -c
        of those) act on the guest's file tree, docker run|inspect|rm|start|stop|restart,
        docker compose up|down|ps -q|ls and docker volume create|inspect|rm|ls act on a
        minimal engine kept in the guest (/var/lib/pve-sim/docker.json), and anything else
        succeeds silently.
    audit [--summary]
        Print the audit log: one JSON line per tool invocation (seq, simulated clock, tool,
        argv, effect read|mutate, exit, refused, fault, secs, guest). --summary counts
        invocations, mutations, refusals and simulated seconds per tool.

HOST TOOLS (a Debian / Proxmox VE host, stateful; probes are reads, the rest mutate):
    lsblk --json --bytes --nodeps --output COLS DEV; wipefs [--no-act --json | -a] DEV
    apt-get update|install|reinstall|remove|purge|upgrade|dist-upgrade|autoremove [-y] [-q]
    dpkg-query -W [-f FORMAT] PKG... | -s PKG...
    systemctl is-enabled|is-active|status|show|start|stop|restart|reload|reload-or-restart|
              enable|disable [--now]|mask|unmask|daemon-reload UNIT...
    timedatectl show|set-timezone; locale-gen; locale -a; hostnamectl hostname|set-hostname;
    uname -r
    getent passwd|group|shadow|hosts; id; useradd; usermod; groupadd; gpasswd; chpasswd [-e]
    visudo -c [-q] [-f FILE]; pveum user list|add|delete|modify, acl list|modify|delete
    apparmor_parser [-r|-a|-R] [-Q] [-N] FILE...
    lspci -Dnn; modinfo -F version nvidia; curl -fsSL --proto =https -o PATH URL (NVIDIA
    runfiles only); nvidia-installer (what the runfile runs); nvidia-smi; nvidia-modprobe;
    update-initramfs -u [-k all|VER]
    exportfs -ra|-v|-s; testparm -s FILE; pdbedit -L; smbpasswd -s -a USER; dnsmasq --test
    [-C FILE]; update-ca-certificates; step certificate fingerprint FILE; step ca bootstrap;
    step ca certificate SUBJECT CRT KEY [--san NAME]... [--not-after 24h] [--provisioner P]
    [--provisioner-password-file F] [--force] (a real certificate signed by the simulated CA)
    A tool whose package is not installed answers `<tool>: command not found`, exit 127.

COST MODEL (simulated seconds; override with `config --cost`):
";

/// Entry for the admin commands.
pub fn main(args: &[String]) -> ExitCode {
    match run(args) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pve-sim: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn help() -> String {
    let mut s = HELP.to_string();
    for (k, v) in knobs::DEFAULT_COSTS {
        s.push_str(&format!("    {k:<28} {v}\n"));
    }
    s
}

fn run(args: &[String]) -> anyhow::Result<String> {
    let Some(cmd) = args.first().map(String::as_str) else {
        return Ok(help());
    };
    let rest = &args[1..];
    match cmd {
        "-h" | "--help" | "help" => Ok(help()),
        "init" => init(rest),
        "state" => state(rest),
        "install" => install(rest),
        "config" => config(rest),
        "fault" => fault(rest),
        "rule" => rule(rest),
        "audit" => audit(rest),
        "disk" => disk(rest),
        "reboot" => reboot(rest),
        "archive-proxy" => archive_proxy(rest),
        other => bail!("unknown command `{other}`; see `pve-sim --help`"),
    }
}

/// `--key value` pairs and flags.
struct Flags {
    values: Vec<(String, String)>,
    flags: Vec<String>,
    positional: Vec<String>,
}

impl Flags {
    fn parse(args: &[String], with_value: &[&str], flags: &[&str]) -> anyhow::Result<Self> {
        let mut f = Flags {
            values: Vec::new(),
            flags: Vec::new(),
            positional: Vec::new(),
        };
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            if let Some(name) = a.strip_prefix("--") {
                let (name, inline) = match name.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (name, None),
                };
                if flags.contains(&name) {
                    f.flags.push(name.to_string());
                } else if with_value.contains(&name) {
                    let v = match inline {
                        Some(v) => v,
                        None => {
                            i += 1;
                            args.get(i)
                                .cloned()
                                .with_context(|| format!("--{name} needs a value"))?
                        }
                    };
                    f.values.push((name.to_string(), v));
                } else {
                    bail!("unknown option --{name}");
                }
            } else {
                f.positional.push(a.clone());
            }
            i += 1;
        }
        Ok(f)
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, k: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn has(&self, k: &str) -> bool {
        self.flags.iter().any(|f| f == k)
    }
}

fn parse_num<T: std::str::FromStr>(f: &Flags, k: &str) -> anyhow::Result<Option<T>> {
    f.get(k)
        .map(|v| {
            v.parse::<T>()
                .map_err(|_| anyhow::anyhow!("--{k}: `{v}` is not a number"))
        })
        .transpose()
}

// ---------------------------------------------------------------------------------------
// init

const TIB: u64 = 1 << 40;

/// The disk size a device name suggests (`…_2TB_…` → 2 TB), else 1 TiB.
fn disk_size_from_name(name: &str) -> u64 {
    for part in name.split(['_', '-']) {
        let up = part.to_ascii_uppercase();
        for (suffix, mult) in [("TB", 1_000_000_000_000u64), ("GB", 1_000_000_000)] {
            if let Some(n) = up.strip_suffix(suffix).and_then(|n| n.parse::<u64>().ok()) {
                return n * mult;
            }
        }
    }
    TIB
}

fn add_disk(st: &mut State, root: &SimRoot, path: &str, size: u64) -> anyhow::Result<()> {
    let transport = if path.contains("nvme") {
        "nvme"
    } else {
        "sata"
    };
    st.disks.insert(
        path.to_string(),
        Disk {
            size,
            transport: transport.into(),
            ..Disk::default()
        },
    );
    let host = root.host(path);
    if let Some(p) = host.parent() {
        std::fs::create_dir_all(p).with_context(|| format!("cannot create {}", p.display()))?;
    }
    std::fs::write(&host, b"")
        .with_context(|| format!("cannot create device node {}", host.display()))?;
    Ok(())
}

fn create_pool(
    st: &mut State,
    root: &SimRoot,
    name: &str,
    layout: &str,
    disks: &[String],
    fs_props: BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let sizes: Vec<u64> = disks
        .iter()
        .map(|d| st.disks.get(d).map_or(TIB, |x| x.size))
        .collect();
    let min = sizes.iter().copied().min().unwrap_or(0);
    let size = match layout {
        "mirror" => min,
        "raidz1" => min * (sizes.len() as u64).saturating_sub(1),
        _ => sizes.iter().sum(),
    };
    st.zfs.pools.insert(
        name.to_string(),
        Pool {
            layout: layout.to_string(),
            disks: disks.to_vec(),
            props: BTreeMap::from([("autotrim".to_string(), "on".to_string())]),
            size,
        },
    );
    st.zfs_create(root, name, DsKind::Filesystem, fs_props)
        .map_err(anyhow::Error::msg)?;
    for d in disks {
        if let Some(x) = st.disks.get_mut(d) {
            x.signature = Some("zfs_member".into());
            x.label = Some(name.to_string());
            x.partitions = true;
        }
    }
    Ok(())
}

fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// A template tarball stand-in.
fn write_template(path: &Path, name: &str) -> anyhow::Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).with_context(|| format!("cannot create {}", p.display()))?;
    }
    std::fs::write(path, format!("pve-sim template {name}\n"))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Reads an operator's configuration file (`init --from-config`); a UTF-8 byte-order mark at
/// its start is skipped, as phoenix's loader does.
fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .with_context(|| format!("cannot parse {}", path.display()))
}

fn init(args: &[String]) -> anyhow::Result<String> {
    let f = Flags::parse(
        args,
        &["node", "from-config", "gpus", "nvidia-driver", "pve"],
        &["bare", "force"],
    )?;
    let pve_name = f.get("pve").unwrap_or(crate::profile::DEFAULT);
    let pve = crate::profile::get(pve_name).with_context(|| {
        let all: Vec<&str> = crate::profile::PROFILES.iter().map(|p| p.name).collect();
        format!(
            "--pve `{pve_name}` is not a simulated Proxmox VE release (one of {})",
            all.join(", ")
        )
    })?;
    let root = SimRoot::from_env()?;
    if root.initialised() && !f.has("force") {
        bail!(
            "{} already holds a simulated host; use --force to start over",
            root.sysroot().display()
        );
    }
    if f.has("force") {
        // Everything the host part of `init` and the host tools write, too.
        for d in [
            "/etc",
            "/var/lib/pve-sim",
            "/proc",
            "/sys/kernel/security",
            "/home",
            "/root",
            "/boot",
            "/usr/bin",
            "/usr/src",
            "/usr/local/share/ca-certificates",
            "/var/lib/nfs",
        ] {
            let d = root.host(d);
            if d.exists() {
                std::fs::remove_dir_all(&d)
                    .with_context(|| format!("cannot remove {}", d.display()))?;
            }
        }
        if let Ok(rd) = std::fs::read_dir(root.host("/dev")) {
            for e in rd.filter_map(Result::ok) {
                if e.file_name().to_string_lossy().starts_with("nvidia") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
    let driver = match f.get("nvidia-driver") {
        None => Some(crate::tools::host::nvidia::DEFAULT_DRIVER.to_string()),
        Some("none") => None,
        Some(v)
            if v.split('.').count() >= 2
                && v.split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) =>
        {
            Some(v.to_string())
        }
        Some(v) => {
            bail!("--nvidia-driver `{v}` is not a driver version (like 580.76.05) or `none`")
        }
    };
    let node = f.get("node").unwrap_or("pve").to_string();
    if node.is_empty() || !node.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        bail!("--node `{node}` is not a valid host name");
    }
    // /etc/pve, with the node directory and the `lxc`/`qemu-server` links of a real node.
    let node_dir = root.host(format!("/etc/pve/nodes/{node}"));
    for d in ["lxc", "qemu-server"] {
        std::fs::create_dir_all(node_dir.join(d))
            .with_context(|| format!("cannot create {}", node_dir.display()))?;
        let link = root.host(format!("/etc/pve/{d}"));
        if !link.exists() {
            std::os::unix::fs::symlink(format!("nodes/{node}/{d}"), &link)
                .with_context(|| format!("cannot link {}", link.display()))?;
        }
    }
    let local = root.host("/etc/pve/local");
    if !local.exists() {
        std::os::unix::fs::symlink(format!("nodes/{node}"), &local)
            .with_context(|| format!("cannot link {}", local.display()))?;
    }
    std::fs::create_dir_all(root.host("/etc/pve/firewall"))?;
    std::fs::create_dir_all(root.data())?;

    let mut st = State {
        node: node.clone(),
        clock_ms: crate::clock::EPOCH_START * 1000,
        next_pid: 1000,
        ..State::default()
    };
    // The ZFS module is loaded (root is on ZFS): its ARC limit, 0 meaning the default.
    let arc = root.host("/sys/module/zfs/parameters/zfs_arc_max");
    std::fs::create_dir_all(arc.parent().expect("a parent"))?;
    std::fs::write(&arc, "0\n").with_context(|| format!("cannot write {}", arc.display()))?;
    // The installer's layout.
    add_disk(&mut st, &root, "/dev/sda", 500_000_000_000)?;
    create_pool(
        &mut st,
        &root,
        "rpool",
        "stripe",
        &["/dev/sda".to_string()],
        props(&[("compression", "on"), ("atime", "on"), ("relatime", "on")]),
    )?;
    st.zfs_create(&root, "rpool/ROOT", DsKind::Filesystem, BTreeMap::new())
        .map_err(anyhow::Error::msg)?;
    st.zfs_create(
        &root,
        "rpool/ROOT/pve-1",
        DsKind::Filesystem,
        props(&[("mountpoint", "/")]),
    )
    .map_err(anyhow::Error::msg)?;
    st.zfs_create(&root, "rpool/data", DsKind::Filesystem, BTreeMap::new())
        .map_err(anyhow::Error::msg)?;
    st.zfs_create(
        &root,
        "rpool/var-lib-vz",
        DsKind::Filesystem,
        props(&[("mountpoint", "/var/lib/vz")]),
    )
    .map_err(anyhow::Error::msg)?;
    let mut cfg = StorageCfg::parse(
        "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\nzfspool: local-zfs\n\tpool rpool/data\n\tsparse\n\tcontent images,rootdir\n",
    );
    for sub in [
        "template/cache",
        "template/iso",
        "dump",
        "snippets",
        "images",
    ] {
        std::fs::create_dir_all(root.host("/var/lib/vz").join(sub))?;
    }
    let standard = "ubuntu-24.04-standard_24.04-2_amd64.tar.zst";
    write_template(
        &root.host(format!("/var/lib/vz/template/cache/{standard}")),
        standard,
    )?;
    let mut report = vec![
        format!("node {node}"),
        "pool rpool (stripe of /dev/sda)".to_string(),
        "storages local, local-zfs".to_string(),
    ];

    let gpus = parse_num::<u32>(&f, "gpus")?;
    if gpus.is_none() && f.get("nvidia-driver").is_some() {
        bail!("--nvidia-driver needs --gpus N");
    }
    let (mut ip, mut domain) = ("192.168.1.10".to_string(), "localdomain".to_string());

    if let Some(dir) = f.get("from-config") {
        let dir = PathBuf::from(dir);
        let host = read_json(&dir.join(phoenix_paths::config_files::HYPERVISOR))?;
        if let Some(a) = host
            .pointer("/network/interfaces/address")
            .and_then(Value::as_str)
        {
            ip = a.split('/').next().unwrap_or(a).to_string();
        }
        if let Some(d) = host.get("domain_name").and_then(Value::as_str) {
            domain = d.to_string();
        }
        let pools = host
            .pointer("/zfs/pools")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for p in &pools {
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .context("a zfs pool without `name`")?;
            let disks: Vec<String> = p
                .get("disks")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            for d in &disks {
                add_disk(&mut st, &root, d, disk_size_from_name(d))?;
            }
            if f.has("bare") {
                continue;
            }
            let layout = match p.get("raid_level").and_then(Value::as_str).unwrap_or("") {
                "mirror" => "mirror",
                "RAIDZ1" | "raidz1" => "raidz1",
                _ => "stripe",
            };
            create_pool(
                &mut st,
                &root,
                name,
                layout,
                &disks,
                props(&[("compression", "lz4"), ("atime", "off")]),
            )?;
            report.push(format!("pool {name} ({layout} of {})", disks.join(", ")));
        }
        if !f.has("bare") {
            let ids = host
                .get("proxmox_storage_ids")
                .cloned()
                .unwrap_or(Value::Null);
            let datasets = host
                .pointer("/zfs/datasets")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut added = Vec::new();
            for d in &datasets {
                let (Some(name), Some(pool)) = (
                    d.get("name").and_then(Value::as_str),
                    d.get("pool").and_then(Value::as_str),
                ) else {
                    continue;
                };
                let full = format!("{pool}/{name}");
                let mut p = props(&[("mountpoint", &format!("/{full}"))]);
                for kv in d
                    .get("properties")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .split(',')
                    .filter(|s| !s.is_empty())
                {
                    if let Some((k, v)) = kv.split_once('=') {
                        p.insert(k.to_string(), v.to_string());
                    }
                }
                if st.zfs.pools.contains_key(pool) && !st.zfs.datasets.contains_key(&full) {
                    st.zfs_create(&root, &full, DsKind::Filesystem, p)
                        .map_err(anyhow::Error::msg)?;
                }
                let key = format!("{pool}_{}", name.replace('-', "_"));
                let id = ids
                    .get(&key)
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("{pool}-{name}"), str::to_string);
                let content = d
                    .get("proxmox_content_type")
                    .and_then(Value::as_str)
                    .unwrap_or("none")
                    .to_string();
                let storage = match d.get("proxmox_storage_type").and_then(Value::as_str) {
                    Some("zfspool") => Storage {
                        kind: "zfspool".into(),
                        id: id.clone(),
                        props: vec![
                            ("pool".into(), full.clone()),
                            ("content".into(), content),
                            ("mountpoint".into(), format!("/{full}")),
                        ],
                    },
                    Some("dir") => {
                        for sub in [
                            "template/cache",
                            "template/iso",
                            "dump",
                            "snippets",
                            "images",
                        ] {
                            std::fs::create_dir_all(root.host(format!("/{full}/{sub}")))?;
                        }
                        Storage {
                            kind: "dir".into(),
                            id: id.clone(),
                            props: vec![
                                ("path".into(), format!("/{full}")),
                                ("content".into(), content),
                                ("shared".into(), "1".into()),
                            ],
                        }
                    }
                    _ => continue,
                };
                if cfg.get(&id).is_none() {
                    cfg.entries.push(storage);
                    added.push(id);
                }
            }
            if !added.is_empty() {
                report.push(format!("storages {}", added.join(", ")));
            }
        }
        // Templates and images the guest configs name.
        if let Ok(lxc) = read_json(&dir.join(phoenix_paths::config_files::LXC)) {
            let vztmpl_dir = cfg
                .entries
                .iter()
                .filter(|s| s.has_content("vztmpl"))
                .filter_map(|s| s.path())
                .next_back()
                .unwrap_or("/var/lib/vz")
                .to_string();
            let mut done = Vec::new();
            for c in lxc
                .get("lxc_configs")
                .and_then(Value::as_object)
                .map(|m| m.values().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
            {
                let Some(t) = c.get("template").and_then(Value::as_str) else {
                    continue;
                };
                let file = t.rsplit('/').next().unwrap_or(t);
                let path = if t.starts_with('/') {
                    root.host(t)
                } else {
                    root.host(format!("{vztmpl_dir}/template/cache/{file}"))
                };
                if !done.contains(&path) {
                    write_template(&path, file)?;
                    done.push(path);
                }
            }
            if !done.is_empty() {
                report.push(format!("{} container template(s)", done.len()));
            }
        }
        if let Ok(vm) = read_json(&dir.join(phoenix_paths::config_files::VM)) {
            let images = root.data().join("images");
            std::fs::create_dir_all(&images)?;
            for v in vm
                .get("vms")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
            {
                if let Some(img) = v
                    .get("template_image")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                {
                    std::fs::write(
                        images.join(img),
                        format!("pve-sim disk image, virtual size {}\n", 3584 * (1u64 << 20)),
                    )
                    .with_context(|| format!("cannot write image {img}"))?;
                    report.push(format!("cloud image {img} in {}", images.display()));
                }
            }
        }
    }
    report.extend(crate::tools::host::base::init(
        &root,
        &mut st,
        &crate::tools::host::base::InitHost {
            node: node.clone(),
            ip,
            domain,
            gpus,
            driver,
            pve,
        },
    )?);
    cfg.save(&root)?;
    st.save(&root)?;
    write_atomic(
        &root.data_file("config.json"),
        serde_json::to_string_pretty(&Knobs::default())?.as_bytes(),
    )?;
    for f in ["faults.json", "rules.json"] {
        write_atomic(&root.data_file(f), b"[]")?;
    }
    std::fs::write(root.data_file("audit.jsonl"), b"")?;
    Ok(format!(
        "initialised a simulated Proxmox host at {}: {}\n",
        root.sysroot().display(),
        report.join("; ")
    ))
}

// ---------------------------------------------------------------------------------------
// state

fn state(args: &[String]) -> anyhow::Result<String> {
    let f = Flags::parse(args, &[], &["json"])?;
    let root = SimRoot::from_env()?;
    let st = State::load(&root)?;
    if f.has("json") {
        return Ok(format!("{}\n", serde_json::to_string_pretty(&st)?));
    }
    let cfg = StorageCfg::load(&root);
    let mut out = format!(
        "node {}  clock {}  invocations {}\n",
        st.node,
        crate::clock::format(st.now()),
        st.seq
    );
    out.push_str("\nguests:\n");
    let mut any = false;
    for (flavor, dir, kind) in [
        (crate::conf::Flavor::Lxc, "/etc/pve/lxc", "ct"),
        (crate::conf::Flavor::Qemu, "/etc/pve/qemu-server", "vm"),
    ] {
        let ids = crate::tools::guest::ids(&root, flavor);
        for id in ids {
            any = true;
            let text =
                std::fs::read_to_string(root.host(format!("{dir}/{id}.conf"))).unwrap_or_default();
            let conf = crate::conf::GuestConf::parse(&text, flavor);
            let name = conf
                .main
                .get(if kind == "ct" { "hostname" } else { "name" })
                .unwrap_or("-");
            let status = if st.running(id) { "running" } else { "stopped" };
            let mut extra = Vec::new();
            if conf.main.get("template") == Some("1") {
                extra.push("template".to_string());
            }
            if let Some(l) = conf.main.get("lock") {
                extra.push(format!("lock={l}"));
            }
            if !conf.pending.keys.is_empty() {
                extra.push(format!(
                    "pending: {}",
                    conf.pending
                        .keys
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(",")
                ));
            }
            if !conf.snapshots.is_empty() {
                extra.push(format!(
                    "snapshots: {}",
                    conf.snapshots
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if root.firewall(id).is_file() {
                extra.push("firewall".into());
            }
            out.push_str(&format!(
                "  {id:<6} {kind}  {status:<8} {name:<24} {}\n",
                extra.join("  ")
            ));
        }
    }
    if !any {
        out.push_str("  (none)\n");
    }
    out.push_str("\nstorages:\n");
    for s in &cfg.entries {
        let at = s.pool().or(s.path()).or(s.get("server")).unwrap_or("-");
        let state = if s.disabled() { "disabled" } else { "enabled" };
        out.push_str(&format!(
            "  {:<28} {:<8} {:<9} {:<32} {}\n",
            s.id,
            s.kind,
            state,
            at,
            s.content().join(",")
        ));
    }
    out.push_str("\nzfs:\n");
    for (name, p) in &st.zfs.pools {
        let used = st.zfs_used_total(&root, name);
        out.push_str(&format!(
            "  pool {name}: {} of {}, {} used\n",
            p.layout,
            p.disks.join(" "),
            crate::tools::zfs::nicenum_bytes(used)
        ));
    }
    for (name, d) in &st.zfs.datasets {
        if !name.contains('/') {
            continue;
        }
        let kind = if d.kind == DsKind::Volume {
            "volume"
        } else {
            "fs"
        };
        let mut extra: Vec<String> = d
            .props
            .iter()
            .filter(|(k, _)| matches!(k.as_str(), "quota" | "refquota" | "volsize" | "mountpoint"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if let Some(o) = &d.origin {
            extra.push(format!("origin={o}"));
        }
        let snaps: Vec<String> = st
            .zfs_snapshots_of(name)
            .into_iter()
            .map(|s| s.split('@').nth(1).unwrap_or("").to_string())
            .collect();
        if !snaps.is_empty() {
            extra.push(format!("@{}", snaps.join(",@")));
        }
        out.push_str(&format!("  {name:<48} {kind:<6} {}\n", extra.join(" ")));
    }
    let free: Vec<&String> = st
        .disks
        .iter()
        .filter(|(_, d)| d.signature.is_none())
        .map(|(k, _)| k)
        .collect();
    if !free.is_empty() {
        out.push_str(&format!(
            "\nunused disks: {}\n",
            free.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.push_str(&host_section(&st.host));
    Ok(out)
}

/// The host part of `pve-sim state`.
fn host_section(h: &crate::host::HostState) -> String {
    let mut out = format!(
        "\nhost: {}  kernel {}  time zone {}  locales {}\n",
        h.hostname,
        h.kernel,
        h.timezone,
        h.locales.join(",")
    );
    out.push_str(&format!(
        "  packages: {}\n",
        h.packages
            .iter()
            .map(|(n, v)| format!("{n} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if !h.config_files.is_empty() {
        out.push_str(&format!(
            "  removed, configuration kept: {}\n",
            h.config_files
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.push_str("  services:\n");
    for (n, u) in &h.units {
        let mut extra = Vec::new();
        for (k, v) in [
            ("starts", u.starts),
            ("stops", u.stops),
            ("restarts", u.restarts),
            ("reloads", u.reloads),
        ] {
            if v > 0 {
                extra.push(format!("{k}={v}"));
            }
        }
        if u.stale {
            extra.push("changed on disk (daemon-reload needed)".into());
        }
        out.push_str(&format!(
            "    {n:<32} {:<9} {:<9} {}\n",
            u.enabled,
            u.active,
            extra.join(" ")
        ));
    }
    out.push_str("  users:\n");
    let mut users: Vec<(&String, &crate::host::User)> = h.users.iter().collect();
    users.sort_by_key(|(_, u)| u.uid);
    for (n, u) in users {
        let groups = h.supplementary(n);
        out.push_str(&format!(
            "    {n:<16} uid {:<6} gid {:<6} {:<12} {}{}\n",
            u.uid,
            u.gid,
            u.shell,
            if u.password.starts_with('$') {
                "password set"
            } else {
                "no password"
            },
            if groups.is_empty() {
                String::new()
            } else {
                format!("  groups {}", groups.join(","))
            }
        ));
    }
    out.push_str(&format!(
        "  proxmox users: {}\n",
        h.pve_users.keys().cloned().collect::<Vec<_>>().join(", ")
    ));
    for a in &h.acls {
        out.push_str(&format!(
            "    acl {} {} {} {}{}\n",
            a.path,
            a.kind,
            a.ugid,
            a.roleid,
            if a.propagate { " (propagate)" } else { "" }
        ));
    }
    if !h.samba_users.is_empty() {
        out.push_str(&format!(
            "  samba users: {}\n",
            h.samba_users.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    out.push_str("  apparmor:\n");
    for (n, p) in &h.apparmor {
        out.push_str(&format!("    {n:<40} {:<8} from {}\n", p.mode, p.source));
    }
    let nv = &h.nvidia;
    out.push_str(&format!(
        "  nvidia: {} GPU(s), installed {}, loaded {}\n",
        nv.gpus,
        nv.installed.as_deref().unwrap_or("none"),
        nv.loaded.as_deref().unwrap_or("none")
    ));
    if h.exports.is_empty() {
        out.push_str("  exports: none\n");
    } else {
        out.push_str("  exports:\n");
        for e in &h.exports {
            out.push_str(&format!(
                "    {} {}({})\n",
                e.path,
                e.client,
                e.options.join(",")
            ));
        }
    }
    let c = &h.counters;
    out.push_str(&format!(
        "  reboot required: {}\n  counters: apt updates {}, upgrades {}, dist-upgrades {}, initramfs updates {}, daemon-reloads {}, locale-gens {}, CA updates {}, boots {}\n",
        if h.reboot_required { "yes" } else { "no" },
        c.apt_updates,
        c.upgrades,
        c.dist_upgrades,
        c.initramfs_updates,
        c.daemon_reloads,
        c.locale_gens,
        c.ca_updates,
        c.boots
    ));
    out
}

// ---------------------------------------------------------------------------------------
// install, config, fault, rule, audit

fn install(args: &[String]) -> anyhow::Result<String> {
    let [dir] = args else {
        bail!("usage: pve-sim install <BIN_DIR>")
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let exe = std::env::current_exe().context("cannot locate the pve-sim binary")?;
    let exe = exe.to_string_lossy().replace('\'', "'\\''");
    for t in crate::tools() {
        let link = dir.join(t);
        if link.symlink_metadata().is_ok() {
            std::fs::remove_file(&link)
                .with_context(|| format!("cannot replace {}", link.display()))?;
        }
        // A script rather than a symbolic link: a test that writes its own `exportfs` over
        // this one replaces the script, never the simulator binary behind a link.
        write_script(&link, &format!("#!/bin/sh\nexec '{exe}' {t} \"$@\"\n"))?;
    }
    Ok(format!(
        "linked {} in {}\n",
        crate::tools().collect::<Vec<_>>().join(", "),
        dir.display()
    ))
}

/// Writes an executable script (0755).
fn write_script(path: &Path, body: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, body).with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", path.display()))
}

// ---------------------------------------------------------------------------------------
// disk, reboot

fn disk(args: &[String]) -> anyhow::Result<String> {
    let root = SimRoot::from_env()?;
    let (sub, rest) = match args.split_first() {
        Some((s, r)) => (s.as_str(), r),
        None => bail!("usage: pve-sim disk add|set <PATH> [...]"),
    };
    let _lock = root.lock()?;
    let mut st = State::load(&root)?;
    let out = match sub {
        "add" => {
            let f = Flags::parse(rest, &["size", "tran"], &[])?;
            let [path] = f.positional.as_slice() else {
                bail!("usage: pve-sim disk add <PATH> [--size BYTES] [--tran nvme|sata]");
            };
            if !path.starts_with("/dev/") {
                bail!("`{path}` is not a device path under /dev");
            }
            if st.disks.contains_key(path) {
                bail!("{path} already exists");
            }
            let size = parse_num::<u64>(&f, "size")?.unwrap_or_else(|| disk_size_from_name(path));
            add_disk(&mut st, &root, path, size)?;
            if let Some(t) = f.get("tran") {
                if !matches!(t, "nvme" | "sata" | "sas" | "usb") {
                    bail!("--tran `{t}`: expected nvme, sata, sas or usb");
                }
                if let Some(d) = st.disks.get_mut(path.as_str()) {
                    d.transport = t.to_string();
                }
            }
            format!("added {path}\n")
        }
        "set" => {
            let f = Flags::parse(rest, &["signature", "label", "partitions"], &[])?;
            let [path] = f.positional.as_slice() else {
                bail!(
                    "usage: pve-sim disk set <PATH> [--signature TYPE|none] [--label L] [--partitions 0|1]"
                );
            };
            let Some(d) = st.disks.get_mut(path.as_str()) else {
                bail!("{path} is not a disk of this host (see `pve-sim state`)");
            };
            if let Some(sig) = f.get("signature") {
                d.signature = (sig != "none" && !sig.is_empty()).then(|| sig.to_string());
                if d.signature.is_none() {
                    d.label = None;
                }
            }
            if let Some(l) = f.get("label") {
                d.label = (!l.is_empty()).then(|| l.to_string());
            }
            if let Some(p) = f.get("partitions") {
                d.partitions = match p {
                    "1" | "yes" | "true" => true,
                    "0" | "no" | "false" => false,
                    other => bail!("--partitions `{other}`: expected 0 or 1"),
                };
            }
            format!("{path}: {:?}\n", d)
        }
        other => bail!("unknown disk command `{other}` (add, set)"),
    };
    st.save(&root)?;
    Ok(out)
}

fn reboot(args: &[String]) -> anyhow::Result<String> {
    if !args.is_empty() {
        bail!("usage: pve-sim reboot");
    }
    let root = SimRoot::from_env()?;
    let _lock = root.lock()?;
    let state = State::load(&root)?;
    let knobs = Knobs::load(&root);
    crate::args::set_strict(knobs.strict);
    let mut ctx = crate::Ctx {
        root: root.clone(),
        state,
        knobs,
        rules: knobs::rules(&root),
        stdin: None,
    };
    let report = crate::tools::host::base::reboot(&mut ctx);
    ctx.state.save(&root)?;
    let mut out = format!(
        "rebooted {} (boot {})\n",
        ctx.state.node, ctx.state.host.counters.boots
    );
    for l in report {
        out.push_str(&format!("  {l}\n"));
    }
    Ok(out)
}

/// `archive-proxy <netns file>` (internal: a real guest's way to Debian's archive, started
/// with the guest; see `real::archive`).
fn archive_proxy(args: &[String]) -> anyhow::Result<String> {
    let [netns] = args else {
        bail!("usage: pve-sim archive-proxy <guest network namespace file>");
    };
    crate::real::archive::run(std::path::Path::new(netns)).map_err(anyhow::Error::msg)?;
    Ok(String::new())
}

fn config(args: &[String]) -> anyhow::Result<String> {
    let f = Flags::parse(
        args,
        &[
            "strict",
            "time-scale",
            "cost",
            "vm-boot-secs",
            "ct-boot-secs",
        ],
        &[],
    )?;
    let root = SimRoot::from_env()?;
    let path = root.data_file("config.json");
    let mut k: Knobs = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    if let Some(s) = f.get("strict") {
        k.strict = !matches!(s, "0" | "false" | "no" | "off");
    }
    if let Some(t) = parse_num::<f64>(&f, "time-scale")? {
        if t < 0.0 {
            bail!("--time-scale must not be negative");
        }
        k.time_scale = t;
    }
    if let Some(n) = parse_num(&f, "vm-boot-secs")? {
        k.vm_boot_secs = n;
    }
    if let Some(n) = parse_num(&f, "ct-boot-secs")? {
        k.ct_boot_secs = n;
    }
    for c in f.all("cost") {
        let (op, secs) = c
            .split_once('=')
            .with_context(|| format!("--cost `{c}`: expected OP=SECS"))?;
        if !knobs::DEFAULT_COSTS.iter().any(|(k, _)| *k == op) {
            bail!("--cost: unknown operation `{op}` (see `pve-sim --help`)");
        }
        k.costs.insert(
            op.to_string(),
            secs.parse()
                .with_context(|| format!("--cost `{c}`: not a number"))?,
        );
    }
    let text = serde_json::to_string_pretty(&k)?;
    if !f.values.is_empty() {
        write_atomic(&path, text.as_bytes())?;
    }
    Ok(format!("{text}\n"))
}

fn load_list<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn fault(args: &[String]) -> anyhow::Result<String> {
    let root = SimRoot::from_env()?;
    let path = root.data_file("faults.json");
    match args.first().map(String::as_str) {
        Some("add") => {
            let f = Flags::parse(
                &args[1..],
                &["tool", "sub", "id", "nth", "message", "exit", "kill"],
                &["always"],
            )?;
            let tool = f.get("tool").context("fault add needs --tool")?.to_string();
            if tool != "*" && !crate::is_tool(&tool) {
                bail!("--tool `{tool}` is not a simulated tool (see `pve-sim --help`)");
            }
            let fault = Fault {
                tool,
                sub: f.get("sub").unwrap_or("").to_string(),
                id: f.get("id").unwrap_or("").to_string(),
                nth: parse_num(&f, "nth")?.unwrap_or(1),
                always: f.has("always"),
                message: f.get("message").unwrap_or("").to_string(),
                exit: parse_num(&f, "exit")?,
                kill: f.get("kill").map(str::to_string),
            };
            let mut list: Vec<Fault> = load_list(&path);
            list.push(fault);
            write_atomic(&path, serde_json::to_string_pretty(&list)?.as_bytes())?;
            Ok(format!("{} fault(s)\n", list.len()))
        }
        Some("clear") => {
            write_atomic(&path, b"[]")?;
            let mut st = State::load(&root)?;
            st.fault_hits.clear();
            st.save(&root)?;
            Ok(String::new())
        }
        Some("list") | None => Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&load_list::<Fault>(&path))?
        )),
        Some(other) => bail!("unknown fault command `{other}` (add, list, clear)"),
    }
}

fn rule(args: &[String]) -> anyhow::Result<String> {
    let root = SimRoot::from_env()?;
    let path = root.data_file("rules.json");
    match args.first().map(String::as_str) {
        Some("add") => {
            let f = Flags::parse(
                &args[1..],
                &["match", "guest", "exit", "stdout", "stderr", "secs", "file"],
                &["read"],
            )?;
            let mut files = BTreeMap::new();
            for kv in f.all("file") {
                let (p, c) = kv
                    .split_once('=')
                    .with_context(|| format!("--file `{kv}`: expected PATH=CONTENT"))?;
                files.insert(p.to_string(), c.to_string());
            }
            let r = Rule {
                guest: parse_num(&f, "guest")?,
                pattern: f
                    .get("match")
                    .context("rule add needs --match")?
                    .to_string(),
                exit: parse_num(&f, "exit")?.unwrap_or(0),
                stdout: f.get("stdout").unwrap_or("").to_string(),
                stderr: f.get("stderr").unwrap_or("").to_string(),
                secs: parse_num(&f, "secs")?.unwrap_or(0.0),
                files,
                read: f.has("read"),
            };
            let mut list: Vec<Rule> = load_list(&path);
            list.push(r);
            write_atomic(&path, serde_json::to_string_pretty(&list)?.as_bytes())?;
            Ok(format!("{} rule(s)\n", list.len()))
        }
        Some("clear") => {
            write_atomic(&path, b"[]")?;
            Ok(String::new())
        }
        Some("list") | None => Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&load_list::<Rule>(&path))?
        )),
        Some(other) => bail!("unknown rule command `{other}` (add, list, clear)"),
    }
}

fn audit(args: &[String]) -> anyhow::Result<String> {
    let f = Flags::parse(args, &[], &["summary"])?;
    let root = SimRoot::from_env()?;
    let text = std::fs::read_to_string(root.data_file("audit.jsonl")).unwrap_or_default();
    if !f.has("summary") {
        return Ok(text);
    }
    #[derive(Default)]
    struct Row {
        calls: u64,
        mutating: u64,
        refused: u64,
        faults: u64,
        secs: f64,
    }
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value =
            serde_json::from_str(line).with_context(|| format!("bad audit line: {line}"))?;
        let tool = v
            .get("tool")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        for key in [tool, "total".to_string()] {
            let r = rows.entry(key).or_default();
            r.calls += 1;
            r.mutating += u64::from(v.get("effect").and_then(Value::as_str) == Some("mutate"));
            r.refused += u64::from(v.get("refused").and_then(Value::as_bool) == Some(true));
            r.faults += u64::from(v.get("fault").and_then(Value::as_bool) == Some(true));
            r.secs += v.get("secs").and_then(Value::as_f64).unwrap_or(0.0);
        }
    }
    let mut out = format!(
        "{:<8} {:>7} {:>9} {:>8} {:>7} {:>12}\n",
        "TOOL", "CALLS", "MUTATING", "REFUSED", "FAULTS", "SIM-SECONDS"
    );
    let total = rows.remove("total");
    let total_key = "total".to_string();
    for (k, r) in rows.iter().chain(total.iter().map(|t| (&total_key, t))) {
        out.push_str(&format!(
            "{:<8} {:>7} {:>9} {:>8} {:>7} {:>12.2}\n",
            k, r.calls, r.mutating, r.refused, r.faults, r.secs
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_sizes_from_model_names() {
        assert_eq!(
            disk_size_from_name(
                "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S7U6NJ0Y320880M"
            ),
            2_000_000_000_000
        );
        assert_eq!(disk_size_from_name("/dev/sdb"), TIB);
    }
}
