//! `pct`: containers (pve-container), as the simulator runs them.
//!
//! Every refusal prints Proxmox's text and exits 255 (see the notes in each function);
//! `template`, `resize`, `push` and `pull` exit 0 when their task fails, as the real CLI does.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::Ctx;
use crate::args::{Kind, Parsed};
use crate::conf::{Flavor, GuestConf, Section, print_config};
use crate::guestfs::GuestFs;
use crate::outcome::{Effect, Outcome};
use crate::propstr::PropStr;
use crate::storage::{StorageCfg, parse_volname, split_volid};
use crate::tools::ct_opts::{self, disk_size, format_size};
use crate::tools::guest::{self, check_lock, is_template};
use crate::tools::{
    check, die, param_error, parse_opts, positionals, random_mac, resolve, task_error_exit0,
};

const F: Flavor = Flavor::Lxc;

const COMMANDS: &[(&str, &str)] = &[
    ("clone", "<vmid> <newid> [OPTIONS]"),
    ("config", "<vmid> [OPTIONS]"),
    ("create", "<vmid> <ostemplate> [OPTIONS]"),
    ("delsnapshot", "<vmid> <snapname> [OPTIONS]"),
    ("destroy", "<vmid> [OPTIONS]"),
    ("exec", "<vmid> [<extra-args>] [OPTIONS]"),
    ("list", ""),
    ("listsnapshot", "<vmid>"),
    ("pending", "<vmid>"),
    ("pull", "<vmid> <path> <destination> [OPTIONS]"),
    ("push", "<vmid> <file> <destination> [OPTIONS]"),
    ("reboot", "<vmid> [OPTIONS]"),
    ("resize", "<vmid> <disk> <size> [OPTIONS]"),
    ("rollback", "<vmid> <snapname> [OPTIONS]"),
    ("set", "<vmid> [OPTIONS]"),
    ("shutdown", "<vmid> [OPTIONS]"),
    ("snapshot", "<vmid> <snapname> [OPTIONS]"),
    ("start", "<vmid> [OPTIONS]"),
    ("status", "<vmid> [OPTIONS]"),
    ("stop", "<vmid> [OPTIONS]"),
    ("template", "<vmid>"),
    ("unlock", "<vmid>"),
];

fn usage(cmd: &str) -> String {
    let u = COMMANDS
        .iter()
        .find(|(c, _)| *c == cmd)
        .map_or("", |(_, u)| u);
    if u.is_empty() {
        format!("pct {cmd} ")
    } else {
        format!("pct {cmd} {u}")
    }
}

/// Runs `pct <args>`.
pub fn run(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let cmd = match resolve("pct", args.first().map(String::as_str), COMMANDS) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let rest = &args[1..];
    let out = match cmd {
        "create" => create(ctx, rest),
        "clone" => clone(ctx, rest),
        "set" => set(ctx, rest),
        "config" => config(ctx, rest),
        "pending" => pending(ctx, rest),
        "status" => status(ctx, rest),
        "list" => list(ctx, rest),
        "start" => start(ctx, rest),
        "stop" | "shutdown" => stop(ctx, rest, cmd),
        "reboot" => reboot(ctx, rest),
        "destroy" => destroy(ctx, rest),
        "template" => template(ctx, rest),
        "resize" => resize(ctx, rest),
        "snapshot" => snapshot(ctx, rest),
        "listsnapshot" => listsnapshot(ctx, rest),
        "delsnapshot" => delsnapshot(ctx, rest),
        "rollback" => rollback(ctx, rest),
        "push" => push(ctx, rest),
        "pull" => pull(ctx, rest),
        "exec" => exec(ctx, rest),
        "unlock" => unlock(ctx, rest),
        _ => Err(die(format!("pct {cmd}: not simulated"))),
    };
    out.unwrap_or_else(|o| o)
}

type R = Result<Outcome, Outcome>;

/// Parses options and the VMID (first positional).
fn opts(
    args: &[String],
    cmd: &str,
    spec: &[(&str, Kind)],
    n_pos: usize,
) -> Result<(Parsed, u32), Outcome> {
    let u = usage(cmd);
    let p = parse_opts(args, spec, &|_| None, &u)?;
    positionals(&p, n_pos, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    Ok((p, id))
}

fn cost(ctx: &Ctx, op: &str) -> f64 {
    ctx.knobs.cost(op)
}

/// A mount point of the config (`rootfs` or `mpN`).
#[derive(Clone, Debug)]
struct Mp {
    key: String,
    ps: PropStr,
    volume: String,
}

#[derive(PartialEq)]
enum MpKind {
    Volume,
    Bind,
    Device,
}

impl Mp {
    fn kind(&self) -> MpKind {
        if self.volume.starts_with("/dev/") {
            MpKind::Device
        } else if self.volume.starts_with('/') {
            MpKind::Bind
        } else {
            MpKind::Volume
        }
    }

    fn kind_name(&self) -> &'static str {
        match self.kind() {
            MpKind::Volume => "volume",
            MpKind::Bind => "bind",
            MpKind::Device => "device",
        }
    }

    fn render(&self, rootfs: bool) -> String {
        let mut ps = self.ps.clone();
        ps.set("volume", self.volume.clone());
        let first: &[&str] = if rootfs {
            &["volume"]
        } else {
            &["volume", "mp"]
        };
        ps.print(first, true)
    }
}

fn mountpoints(s: &Section) -> Vec<Mp> {
    let mut v: Vec<(u32, Mp)> = s
        .keys
        .iter()
        .filter_map(|(k, val)| {
            let order = if k == "rootfs" {
                0
            } else {
                k.strip_prefix("mp")?.parse::<u32>().ok()? + 1
            };
            let ps = PropStr::parse(val, Some("volume")).ok()?;
            let volume = ps.get("volume")?.to_string();
            Some((
                order,
                Mp {
                    key: k.clone(),
                    ps,
                    volume,
                },
            ))
        })
        .collect();
    v.sort_by_key(|(o, _)| *o);
    v.into_iter().map(|(_, m)| m).collect()
}

/// The file tree behind a volume.
fn volume_tree(ctx: &Ctx, cfg: &StorageCfg, volid: &str) -> Option<PathBuf> {
    let p = ctx.state.volume_path(&ctx.root, cfg, volid)?;
    if p.is_dir() || p.extension().is_some_and(|e| e == "subvol") {
        return Some(p);
    }
    Some(
        ctx.root
            .data()
            .join("rawfs")
            .join(volid.replace(['/', ':'], "%")),
    )
}

/// The container's file system: rootfs plus its mount points.
fn guest_fs(ctx: &Ctx, conf: &Section) -> Result<GuestFs, String> {
    let cfg = StorageCfg::load(&ctx.root);
    let mps = mountpoints(conf);
    let root_mp = mps
        .iter()
        .find(|m| m.key == "rootfs")
        .ok_or("container has no rootfs")?;
    let root = match root_mp.kind() {
        MpKind::Volume => volume_tree(ctx, &cfg, &root_mp.volume)
            .ok_or_else(|| format!("volume '{}' does not exist", root_mp.volume))?,
        _ => ctx.root.host(&root_mp.volume),
    };
    let mut mounts = Vec::new();
    for m in mps.iter().filter(|m| m.key != "rootfs") {
        let Some(path) = m.ps.get("mp") else { continue };
        let dir = match m.kind() {
            MpKind::Volume => volume_tree(ctx, &cfg, &m.volume),
            MpKind::Bind => Some(ctx.root.host(&m.volume)),
            MpKind::Device => None,
        };
        if let Some(d) = dir {
            mounts.push((path.to_string(), d));
        }
    }
    Ok(GuestFs { root, mounts })
}

/// Normalises a `netN` value the way `parse_lxc_network`+`print_lxc_network` do.
fn normalize_net(ctx: &mut Ctx, v: &str, salt: u64) -> String {
    let mut ps = PropStr::parse(v, None).unwrap_or_default();
    ps.set("type", "veth");
    if ps.get("hwaddr").is_none() {
        let mac = random_mac(ctx, salt);
        ps.set("hwaddr", mac);
    }
    ps.print(&["name"], false)
}

fn ostype_of(template: &str) -> &'static str {
    let t = template
        .rsplit('/')
        .next()
        .unwrap_or(template)
        .to_ascii_lowercase();
    for (needle, os) in [
        ("ubuntu", "ubuntu"),
        ("debian", "debian"),
        ("alpine", "alpine"),
        ("centos", "centos"),
        ("rocky", "centos"),
        ("alma", "centos"),
        ("fedora", "fedora"),
        ("archlinux", "archlinux"),
        ("opensuse", "opensuse"),
        ("devuan", "devuan"),
        ("gentoo", "gentoo"),
        ("nixos", "nixos"),
    ] {
        if t.contains(needle) {
            return os;
        }
    }
    "unmanaged"
}

/// Creates the skeleton a template tarball unpacks to.
fn unpack_template(tree: &std::path::Path, template: &str, hostname: &str) -> std::io::Result<()> {
    for d in [
        "etc",
        "root",
        "tmp",
        "usr/bin",
        "usr/local/bin",
        "var/log",
        "opt",
        "home",
    ] {
        std::fs::create_dir_all(tree.join(d))?;
    }
    let name = template.rsplit('/').next().unwrap_or(template);
    let os = ostype_of(name);
    let version = name
        .split(['-', '_'])
        .find(|p| p.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .unwrap_or("");
    std::fs::write(
        tree.join("etc/os-release"),
        format!("ID={os}\nVERSION_ID=\"{version}\"\nPRETTY_NAME=\"{os} {version} (pve-sim)\"\n"),
    )?;
    std::fs::write(tree.join("etc/hostname"), format!("{hostname}\n"))?;
    std::fs::write(tree.join("etc/fstab"), "")?;
    Ok(())
}

/// Options `pct create` takes besides the config keys.
const CREATE_EXTRA: &[(&str, Kind)] = &[
    ("password", Kind::Value),
    ("storage", Kind::Value),
    ("force", Kind::Bool),
    ("restore", Kind::Bool),
    ("unique", Kind::Bool),
    ("pool", Kind::Value),
    ("ignore-unpack-errors", Kind::Bool),
    ("ssh-public-keys", Kind::Value),
    ("bwlimit", Kind::Value),
    ("start", Kind::Bool),
    ("ha-managed", Kind::Bool),
];

fn validate_all(p: &Parsed, skip: &[&str], u: &str) -> Result<BTreeMap<String, String>, Outcome> {
    let mut errors = Vec::new();
    let mut out = BTreeMap::new();
    for (k, v) in &p.opts {
        if skip.contains(&k.as_str()) {
            continue;
        }
        match ct_opts::validate(k, v) {
            Ok(n) => {
                out.insert(k.clone(), n);
            }
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(param_error(&errors, u))
    }
}

/// `pct create <vmid> <ostemplate>`.
fn create(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("create");
    let mut spec: Vec<(&str, Kind)> = ct_opts::OPTIONS.to_vec();
    spec.extend_from_slice(CREATE_EXTRA);
    let p = parse_opts(args, &spec, &ct_opts::numbered, &u)?;
    positionals(&p, 2, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let ostemplate = p.positional[1].clone();
    let mut values = validate_all(
        &p,
        &CREATE_EXTRA.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        &u,
    )?;
    if let Some(k) = guest::existing_kind(ctx, id) {
        return Err(die(format!(
            "{k} {id} already exists on node '{}'",
            ctx.state.node
        )));
    }
    let cfg = StorageCfg::load(&ctx.root);
    let storage = p.get("storage").unwrap_or("local").to_string();
    // rootfs: `STORAGE:SIZE`, a bare size on --storage, a path, or `STORAGE:4` by default.
    let rootfs_raw = values
        .remove("rootfs")
        .unwrap_or_else(|| format!("{storage}:4"));
    let mut root_ps = PropStr::parse(&rootfs_raw, Some("volume"))
        .map_err(|e| param_error(&[("rootfs".into(), format!("invalid format - {e}\n"))], &u))?;
    let vol = root_ps.get("volume").unwrap_or_default().to_string();
    let vol = if vol.parse::<f64>().is_ok() {
        format!("{storage}:{vol}")
    } else {
        vol
    };
    let (root_sid, size_gb) = match vol.split_once(':') {
        Some((s, n)) if n.parse::<f64>().is_ok() => {
            (s.to_string(), n.parse::<f64>().unwrap_or(4.0))
        }
        _ if vol.starts_with('/') => (String::new(), 0.0),
        _ => {
            return Err(param_error(
                &[(
                    "rootfs".into(),
                    format!("invalid format - unable to parse volume '{vol}'\n"),
                )],
                &u,
            ));
        }
    };
    if !root_sid.is_empty() {
        match cfg.get(&root_sid) {
            None => return Err(die(format!("storage '{root_sid}' does not exist"))),
            Some(st) if !st.has_content("rootdir") => {
                return Err(param_error(
                    &[(
                        "storage".into(),
                        format!("storage '{root_sid}' does not support container directories"),
                    )],
                    &u,
                ));
            }
            Some(st) if st.disabled() => {
                return Err(die(format!("storage '{root_sid}' is disabled")));
            }
            _ => {}
        }
    }
    // The template: a volume ID on a vztmpl storage, or an absolute path (a CLI file argument).
    let archive: Option<PathBuf> = if ostemplate.starts_with('/') {
        Some(PathBuf::from(&ostemplate))
    } else {
        match split_volid(&ostemplate) {
            Some((sid, _)) if cfg.get(sid).is_none() => {
                return Err(die(format!("storage '{sid}' does not exist")));
            }
            Some(_) => ctx.state.volume_path(&ctx.root, &cfg, &ostemplate),
            None => return Err(die(format!("unable to parse volume ID '{ostemplate}'"))),
        }
    };
    let Some(archive) = archive.filter(|a| a.is_file()) else {
        return Err(die(format!(
            "unable to create CT {id} - can't find file '{ostemplate}'"
        )));
    };
    // Allocate the root disk and unpack.
    let root_volid = if root_sid.is_empty() {
        vol.clone()
    } else {
        let bytes = (size_gb * 1024.0 * 1024.0).round() as u64 * 1024;
        ctx.state
            .alloc_disk(&ctx.root, &cfg, &root_sid, id, true, bytes)
            .map_err(|e| die(format!("unable to create CT {id} - {e}")))?
    };
    root_ps.set("volume", root_volid.clone());
    if !root_sid.is_empty() {
        root_ps.set(
            "size",
            format_size((size_gb * 1024.0 * 1024.0 * 1024.0).round() as u64),
        );
    }
    let hostname = values
        .get("hostname")
        .cloned()
        .unwrap_or_else(|| format!("CT{id}"));
    let tree = if root_sid.is_empty() {
        ctx.root.host(&vol)
    } else {
        volume_tree(ctx, &cfg, &root_volid).unwrap_or_default()
    };
    // A real guest is the real system the tarball holds (its /etc/os-release included); the
    // host name is what Proxmox's setup writes (pve-container LXC/Setup/Base.pm set_hostname).
    match crate::real::tarball() {
        Some(tar) => crate::real::populate(&tree, &tar)
            .and_then(|()| {
                std::fs::write(tree.join("etc/hostname"), format!("{hostname}\n"))
                    .map_err(|e| e.to_string())
            })
            .map_err(|e| die(format!("unable to create CT {id} - {e}")))?,
        None => unpack_template(&tree, &archive.to_string_lossy(), &hostname)
            .map_err(|e| die(format!("unable to create CT {id} - {e}")))?,
    }

    let mut conf = GuestConf::default();
    let m = &mut conf.main;
    m.set(
        "arch",
        values.remove("arch").unwrap_or_else(|| "amd64".into()),
    );
    m.set("hostname", hostname.clone());
    m.set(
        "memory",
        values.remove("memory").unwrap_or_else(|| "512".into()),
    );
    m.set(
        "swap",
        values.remove("swap").unwrap_or_else(|| "512".into()),
    );
    m.set(
        "ostype",
        values
            .remove("ostype")
            .unwrap_or_else(|| ostype_of(&ostemplate).to_string()),
    );
    m.set("rootfs", root_ps.print(&["volume"], true));
    let unpriv = values.remove("unprivileged").unwrap_or_else(|| "1".into());
    if unpriv == "1" {
        m.set("unprivileged", "1");
    }
    if let Some(d) = values.remove("description") {
        m.description = Some(format!("{d}\n"));
    }
    let mut salt = 0;
    for (k, v) in values {
        if k.starts_with("net") {
            salt += 1;
            let n = normalize_net(ctx, &v, u64::from(id) * 100 + salt);
            conf.main.set(&k, n);
        } else if k.starts_with("unused") {
            continue;
        } else if k.starts_with("mp") {
            let mut ps = PropStr::parse(&v, Some("volume")).unwrap_or_default();
            let vol = ps.get("volume").unwrap_or_default().to_string();
            if let Some((sid, n)) = vol
                .split_once(':')
                .filter(|(_, n)| n.parse::<f64>().is_ok())
            {
                let bytes =
                    (n.parse::<f64>().unwrap_or(0.0) * 1024.0 * 1024.0 * 1024.0).round() as u64;
                let volid = ctx
                    .state
                    .alloc_disk(&ctx.root, &cfg, sid, id, true, bytes)
                    .map_err(|e| die(format!("unable to create CT {id} - {e}")))?;
                ps.set("volume", volid);
                ps.set("size", format_size(bytes));
            }
            conf.main.set(
                &k,
                Mp {
                    key: k.clone(),
                    volume: ps.get("volume").unwrap_or_default().to_string(),
                    ps,
                }
                .render(false),
            );
        } else {
            conf.main.set(&k, v);
        }
    }
    guest::save(ctx, F, id, &conf)?;
    let path = archive.display();
    let mut out = format!(
        "extracting archive '{path}'\nTotal bytes read: 519987200 (496MiB, 91MiB/s)\nDetected container architecture: amd64\n"
    );
    for key in ["rsa", "dsa", "ecdsa", "ed25519"] {
        out.push_str(&format!("Creating SSH host key 'ssh_host_{key}_key' - this may take some time ...\ndone: SHA256:pvesim{id}{key} root@{hostname}\n"));
    }
    let mut o = Outcome::ok(Effect::Mutate)
        .out(out)
        .secs(cost(ctx, "pct.create"))
        .guest(id);
    if !root_sid.is_empty() {
        o = o.storage(root_sid);
    }
    if p.flag("start") {
        let s = start_ct(ctx, id)?;
        o.stdout.push_str(&s.stdout);
        o.secs += s.secs;
    }
    Ok(o)
}

/// `pct clone <vmid> <newid>`.
fn clone(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("clone");
    let spec = [
        ("full", Kind::Bool),
        ("snapname", Kind::Value),
        ("storage", Kind::Value),
        ("hostname", Kind::Value),
        ("description", Kind::Value),
        ("pool", Kind::Value),
        ("target", Kind::Value),
        ("bwlimit", Kind::Value),
    ];
    let p = parse_opts(args, &spec, &|_| None, &u)?;
    positionals(&p, 2, &u)?;
    let src = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let new = check::vmid(&p.positional[1]).map_err(|e| param_error(&[("newid".into(), e)], &u))?;
    if let Some(h) = p.get("hostname") {
        ct_opts::validate("hostname", h).map_err(|e| param_error(&e, &u))?;
    }
    if let Some(s) = p.get("snapname") {
        check::snapname(s).map_err(|e| param_error(&[("snapname".into(), e)], &u))?;
    }
    let conf = guest::load(ctx, F, src)?;
    check_lock(&conf, F)?;
    if let Some(k) = guest::existing_kind(ctx, new) {
        return Err(die(format!(
            "{k} {new} already exists on node '{}'",
            ctx.state.node
        )));
    }
    let running = ctx.state.running(src);
    let full = p.get("full").map_or(!is_template(&conf), |f| f == "1");
    if p.has("storage") && !full {
        return Err(die("parameter 'storage' not allowed for linked clones"));
    }
    let snapname = p.get("snapname").map(str::to_string);
    let source: Section = match &snapname {
        Some(s) => conf
            .snapshots
            .get(s)
            .cloned()
            .ok_or_else(|| die(format!("snapshot '{s}' does not exist")))?,
        None => conf.main.clone(),
    };
    let cfg = StorageCfg::load(&ctx.root);
    let mps = mountpoints(&source);
    for m in &mps {
        match m.kind() {
            MpKind::Volume if full => {
                if running && snapname.is_none() {
                    return Err(die(
                        "Cannot do full clones on a running container without snapshots",
                    ));
                }
            }
            MpKind::Volume => {
                // pve-storage ZFSPoolPlugin.pm parse_volname/volume_has_feature: `clone` needs
                // a base volume, which a template made from a linked clone
                // (`basevol-900-disk-0/basevol-901-disk-0`) is too.
                let base = parse_volname(split_volid(&m.volume).map_or("", |(_, v)| v))
                    .is_some_and(|v| v.prefix == "basevol" || v.prefix == "base");
                if !base {
                    return Err(die(format!(
                        "Linked clone feature for '{}' is not available",
                        m.volume
                    )));
                }
            }
            _ => {
                return Err(die(format!(
                    "unable to clone mountpoint '{}' (type {})",
                    m.key,
                    m.kind_name()
                )));
            }
        }
    }
    // Copy the volumes.
    let mut out = String::new();
    let mut newconf = GuestConf::default();
    let mut secs = 0.0;
    let mut lock_storage = None;
    for (k, v) in &source.keys {
        if k.starts_with("unused")
            || matches!(
                k.as_str(),
                "parent" | "snaptime" | "snapstate" | "template" | "lock"
            )
        {
            continue;
        }
        if k == "rootfs" || k.starts_with("mp") {
            let Some(m) = mps.iter().find(|m| m.key == *k) else {
                continue;
            };
            let (sid, _) = split_volid(&m.volume).unwrap_or_default();
            let size = ctx
                .state
                .volume_size(&ctx.root, &cfg, &m.volume)
                .unwrap_or(0);
            let new_volid = if full {
                out.push_str(&format!(
                    "create full clone of mountpoint {k} ({})\n",
                    m.volume
                ));
                let target = p.get("storage").unwrap_or(sid).to_string();
                let volid = ctx
                    .state
                    .alloc_disk(&ctx.root, &cfg, &target, new, true, size)
                    .map_err(|e| die(format!("clone failed: {e}")))?;
                let from = match &snapname {
                    Some(s) => snapshot_tree_dir(ctx, &cfg, &m.volume, s),
                    None => volume_tree(ctx, &cfg, &m.volume),
                };
                if let (Some(from), Some(to)) = (from, volume_tree(ctx, &cfg, &volid)) {
                    crate::zfs::copy_tree(&from, &to)
                        .map_err(|e| die(format!("clone failed: {e}")))?;
                }
                secs += (size as f64 / f64::from(1u32 << 30)) * cost(ctx, "pct.clone.full_per_gb");
                lock_storage = Some(target);
                volid
            } else {
                out.push_str(&format!(
                    "create linked clone of mount point {k} ({})\n",
                    m.volume
                ));
                let volid = ctx
                    .state
                    .clone_image(&ctx.root, &cfg, &m.volume, new, true)
                    .map_err(|e| die(format!("clone failed: {e}")))?;
                secs += cost(ctx, "pct.clone.linked");
                lock_storage = Some(sid.to_string());
                volid
            };
            let mut nm = m.clone();
            nm.volume = new_volid;
            if size > 0 {
                nm.ps.set("size", format_size(size));
            }
            newconf.main.set(k, nm.render(k == "rootfs"));
        } else if k.starts_with("net") {
            let mut ps = PropStr::parse(v, None).unwrap_or_default();
            let salt =
                u64::from(new) * 100 + k.trim_start_matches("net").parse::<u64>().unwrap_or(0);
            ps.set("hwaddr", random_mac(ctx, salt));
            newconf.main.set(k, ps.print(&["name"], false));
        } else {
            newconf.main.set(k, v.clone());
        }
    }
    newconf.main.raw = source.raw.clone();
    newconf.main.description = source.description.clone();
    if let Some(h) = p.get("hostname") {
        newconf.main.set("hostname", h);
    }
    if let Some(d) = p.get("description") {
        newconf.main.description = Some(format!("{d}\n"));
    }
    // pve-container src/PVE/API2/LXC.pm `clone_vm`: the source carries `lock: disk` and the
    // new container `lock: create` until the copy is done (`remove_lock` in `$realcmd`); a
    // second clone of the source meanwhile dies in `set_lock` with "CT is locked (disk)".
    newconf.main.set("lock", "create");
    guest::save(ctx, F, new, &newconf)?;
    let mut source_conf = guest::load(ctx, F, src)?;
    source_conf.main.set("lock", "disk");
    guest::save(ctx, F, src, &source_conf)?;
    // clone_vmfw_conf
    let fw = ctx.root.firewall(src);
    if fw.is_file() {
        let _ = std::fs::copy(&fw, ctx.root.firewall(new));
    }
    let hold = |guest: u32, lock: &str| crate::state::Hold {
        guest,
        lock: Some(lock.to_string()),
        ..Default::default()
    };
    let mut o = Outcome::ok(Effect::Mutate)
        .out(out)
        .secs(secs.max(cost(ctx, "pct.clone.linked")))
        .guest(new)
        .hold(hold(src, "disk"))
        .hold(hold(new, "create"));
    if let Some(s) = lock_storage {
        o = o.storage(s);
    }
    Ok(o)
}

fn snapshot_tree_dir(ctx: &Ctx, cfg: &StorageCfg, volid: &str, snap: &str) -> Option<PathBuf> {
    let ds = crate::state::State::volume_dataset(cfg, volid)?;
    Some(crate::zfs::snapshot_dir(&ctx.root, &format!("{ds}@{snap}")))
}

/// Options that apply to a running container at once (`$LXC_FASTPLUG_OPTIONS` plus the
/// hot-pluggable ones).
const FASTPLUG: &[&str] = &[
    "description",
    "onboot",
    "startup",
    "protection",
    "hostname",
    "hookscript",
    "cores",
    "tags",
    "lock",
    "memory",
    "swap",
    "cpulimit",
    "cpuunits",
];

/// `pct set <vmid> [OPTIONS]`.
fn set(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("set");
    let mut spec: Vec<(&str, Kind)> = ct_opts::OPTIONS.to_vec();
    spec.extend([
        ("delete", Kind::Value),
        ("revert", Kind::Value),
        ("digest", Kind::Value),
    ]);
    let p = parse_opts(args, &spec, &ct_opts::numbered, &u)?;
    positionals(&p, 1, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let values = validate_all(&p, &["delete", "revert", "digest"], &u)?;
    if values.is_empty() && !p.has("delete") && !p.has("revert") {
        return Err(die("no options specified"));
    }
    let mut conf = guest::load(ctx, F, id)?;
    check_lock(&conf, F)?;
    let split = |s: Option<&str>| -> Vec<String> {
        s.map(|s| {
            s.split([',', ';', ' '])
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
    };
    let deletes = split(p.get("delete"));
    let reverts = split(p.get("revert"));
    for o in &reverts {
        if !ct_opts::exists(o) {
            return Err(param_error(
                &[("revert".into(), format!("unknown option '{o}'"))],
                &u,
            ));
        }
        if values.contains_key(o) {
            return Err(param_error(
                &[(
                    "revert".into(),
                    format!("you can't use '-{o}' and '-revert {o}' at the same time"),
                )],
                &u,
            ));
        }
    }
    for o in &deletes {
        if !ct_opts::exists(o) {
            return Err(param_error(
                &[("delete".into(), format!("unknown option '{o}'"))],
                &u,
            ));
        }
        if values.contains_key(o) {
            return Err(param_error(
                &[(
                    "delete".into(),
                    format!("you can't use '-{o}' and -delete {o}' at the same time"),
                )],
                &u,
            ));
        }
        if reverts.contains(o) {
            return Err(param_error(
                &[(
                    "delete".into(),
                    format!("you can't use '-delete {o}' and '-revert {o}' at the same time"),
                )],
                &u,
            ));
        }
    }
    let running = ctx.state.running(id);
    let mut stderr = String::new();
    for o in &reverts {
        conf.pending.remove(o);
        conf.remove_pending_delete(o);
    }
    for o in &deletes {
        if conf.main.get(o).is_none() && conf.pending.get(o).is_none() {
            stderr.push_str(&format!(
                "cannot delete '{o}' - not set in current configuration!\n"
            ));
            continue;
        }
        match o.as_str() {
            "memory" | "rootfs" | "ostype" => {
                return Err(die(format!("unable to delete required option '{o}'")));
            }
            "unprivileged" => return Err(die(format!("unable to delete read-only option: '{o}'"))),
            _ => {}
        }
        conf.add_pending_delete(o);
    }
    if values.contains_key("unprivileged") {
        return Err(die("unable to modify read-only option: 'unprivileged'"));
    }
    let cfg = StorageCfg::load(&ctx.root);
    for (k, v) in &values {
        if (k.starts_with("mp") || k == "rootfs") && conf.main.get("protection") == Some("1") {
            return Err(die(format!(
                "can't update CT {id} drive '{k}' - protection mode enabled"
            )));
        }
        if let Some(vol) = PropStr::parse(v, Some("volume"))
            .ok()
            .filter(|_| k.starts_with("mp") || k == "rootfs")
            .and_then(|ps| ps.get("volume").map(str::to_string))
        {
            if let Some((sid, _)) = split_volid(&vol) {
                match cfg.get(sid) {
                    None => return Err(die(format!("storage '{sid}' does not exist"))),
                    Some(st) if !st.has_content("rootdir") => {
                        return Err(die(format!(
                            "storage '{sid}' does not allow content type 'rootdir' (Container)"
                        )));
                    }
                    _ => {}
                }
            }
        }
        if k.starts_with("dev") {
            let ps = PropStr::parse(v, Some("path")).unwrap_or_default();
            let path = ps.get("path").unwrap_or_default();
            if !ctx.root.host(path).exists() {
                return Err(die(format!("Device '{path}' does not exist")));
            }
        }
        conf.pending.set(k, v.clone());
        conf.remove_pending_delete(k);
    }
    // cleanup_pending: drop pending values equal to the current ones.
    let same: Vec<String> = conf
        .pending
        .keys
        .iter()
        .filter(|(k, v)| conf.main.get(k) == Some(v.as_str()))
        .map(|(k, _)| k.clone())
        .collect();
    for k in same {
        conf.pending.remove(&k);
    }
    let modified: Vec<String> = values
        .keys()
        .cloned()
        .chain(deletes.iter().cloned())
        .collect();
    let mut out = String::new();
    apply_pending(ctx, id, &mut conf, &cfg, running, Some(&modified), &mut out)?;
    guest::save(ctx, F, id, &conf)?;
    Ok(Outcome {
        stderr,
        ..Outcome::ok(Effect::Mutate)
    }
    .out(out)
    .secs(cost(ctx, "pct.set"))
    .guest(id))
}

/// `vmconfig_apply_pending` (stopped) or `vmconfig_hotplug_pending` (running).
fn apply_pending(
    ctx: &mut Ctx,
    id: u32,
    conf: &mut GuestConf,
    cfg: &StorageCfg,
    running: bool,
    selection: Option<&[String]>,
    _out: &mut String,
) -> Result<(), Outcome> {
    let selected = |k: &str| selection.is_none_or(|s| s.iter().any(|x| x == k));
    // Deletions.
    for k in conf.pending_deletes() {
        if !selected(&k) {
            continue;
        }
        let hot = FASTPLUG.contains(&k.as_str())
            || k.starts_with("unused")
            || k == "swap"
            || (k.starts_with("net") && k.len() == 4);
        if running && !hot {
            continue;
        }
        if let Some(v) = conf.main.get(&k).map(str::to_string) {
            if k.starts_with("mp") {
                if let Ok(ps) = PropStr::parse(&v, Some("volume")) {
                    let vol = ps.get("volume").unwrap_or_default().to_string();
                    if !vol.starts_with('/') {
                        add_unused(conf, &vol);
                    }
                }
            } else if k.starts_with("unused") {
                ctx.state
                    .volume_free(&ctx.root, cfg, &v)
                    .map_err(|e| die(format!("unable to apply pending change {k} : {e}")))?;
            }
        }
        conf.main.remove(&k);
        conf.remove_pending_delete(&k);
    }
    // Additions and changes.
    let keys = conf.pending_keys();
    for k in keys {
        if !selected(&k) {
            continue;
        }
        let v = conf.pending.get(&k).unwrap_or_default().to_string();
        let mut value = v.clone();
        if k.starts_with("net") {
            if running && !FASTPLUG.contains(&k.as_str()) {
                // network hotplug applies at once
            }
            let salt =
                u64::from(id) * 100 + k.trim_start_matches("net").parse::<u64>().unwrap_or(0);
            value = normalize_net(ctx, &v, salt);
        } else if k.starts_with("mp") {
            if running && conf.main.get(&k).is_some() {
                continue; // "don't try to hotplug over existing mp"
            }
            let mut ps = PropStr::parse(&v, Some("volume")).unwrap_or_default();
            let vol = ps.get("volume").unwrap_or_default().to_string();
            if let Some((sid, n)) = vol
                .split_once(':')
                .filter(|(_, n)| n.parse::<f64>().is_ok())
            {
                let bytes =
                    (n.parse::<f64>().unwrap_or(0.0) * 1024.0 * 1024.0 * 1024.0).round() as u64;
                let volid = ctx
                    .state
                    .alloc_disk(&ctx.root, cfg, sid, id, true, bytes)
                    .map_err(|e| die(format!("unable to apply pending change {k} : {e}")))?;
                ps.set("volume", volid);
                ps.set("size", format_size(bytes));
            }
            value = Mp {
                key: k.clone(),
                volume: ps.get("volume").unwrap_or_default().to_string(),
                ps,
            }
            .render(false);
            if let Some(old) = conf.main.get(&k).map(str::to_string) {
                if let Ok(ops) = PropStr::parse(&old, Some("volume")) {
                    let ov = ops.get("volume").unwrap_or_default().to_string();
                    if !ov.starts_with('/') && !value.starts_with(&format!("{ov},")) && value != ov
                    {
                        add_unused(conf, &ov);
                    }
                }
            }
        } else if k.starts_with("dev") {
            if running && conf.main.get(&k).is_some() {
                continue;
            }
        } else if running && !FASTPLUG.contains(&k.as_str()) {
            continue; // stays in [pve:pending]
        }
        conf.main.set(&k, value);
        conf.pending.remove(&k);
    }
    // unusedN whose volume is used again disappear.
    let used: Vec<String> = mountpoints(&conf.main)
        .into_iter()
        .map(|m| m.volume)
        .collect();
    let stale: Vec<String> = conf
        .main
        .keys
        .iter()
        .filter(|(k, v)| k.starts_with("unused") && used.contains(v))
        .map(|(k, _)| k.clone())
        .collect();
    for k in stale {
        conf.main.remove(&k);
    }
    Ok(())
}

fn add_unused(conf: &mut GuestConf, volid: &str) {
    if conf
        .main
        .keys
        .iter()
        .any(|(k, v)| k.starts_with("unused") && v == volid)
    {
        return;
    }
    let idx = (0..256)
        .find(|i| conf.main.get(&format!("unused{i}")).is_none())
        .unwrap_or(255);
    conf.main.set(&format!("unused{idx}"), volid);
}

/// `pct config <vmid> [--current] [--snapshot name]`.
fn config(ctx: &mut Ctx, args: &[String]) -> R {
    let (p, id) = opts(
        args,
        "config",
        &[("current", Kind::Bool), ("snapshot", Kind::Value)],
        1,
    )?;
    if p.flag("current") && p.has("snapshot") {
        return Err(param_error(
            &[
                (
                    "current".into(),
                    "cannot use 'snapshot' parameter with 'current'".into(),
                ),
                (
                    "snapshot".into(),
                    "cannot use 'snapshot' parameter with 'current'".into(),
                ),
            ],
            &usage("config"),
        ));
    }
    let conf = guest::load(ctx, F, id)?;
    let section = match p.get("snapshot") {
        Some(s) => conf
            .snapshots
            .get(s)
            .cloned()
            .ok_or_else(|| die(format!("snapshot '{s}' does not exist")))?,
        None if p.flag("current") => conf.main.clone(),
        None => conf.with_pending(),
    };
    Ok(Outcome::read(print_config(&section)).guest(id))
}

/// `pct pending <vmid>`.
fn pending(ctx: &mut Ctx, args: &[String]) -> R {
    let (_, id) = opts(args, "pending", &[], 1)?;
    let conf = guest::load(ctx, F, id)?;
    Ok(Outcome::read(guest::format_pending(&conf)).guest(id))
}

/// `pct status <vmid> [--verbose]`.
fn status(ctx: &mut Ctx, args: &[String]) -> R {
    let (p, id) = opts(args, "status", &[("verbose", Kind::Bool)], 1)?;
    let conf = guest::load(ctx, F, id)?;
    let running = ctx.state.running(id);
    let st = if running { "running" } else { "stopped" };
    if !p.flag("verbose") {
        return Ok(Outcome::read(format!("status: {st}\n")).guest(id));
    }
    let m = &conf.main;
    let mut kv: BTreeMap<&str, String> = BTreeMap::new();
    let rootsize = mountpoints(m)
        .iter()
        .find(|x| x.key == "rootfs")
        .and_then(|r| r.ps.get("size").and_then(disk_size))
        .unwrap_or(4 << 30);
    kv.insert("cpus", m.get("cores").unwrap_or("1").to_string());
    kv.insert("disk", "0".into());
    kv.insert("diskread", "0".into());
    kv.insert("diskwrite", "0".into());
    kv.insert("maxdisk", rootsize.to_string());
    kv.insert(
        "maxmem",
        (m.get("memory")
            .and_then(|x| x.parse::<u64>().ok())
            .unwrap_or(512)
            << 20)
            .to_string(),
    );
    kv.insert(
        "maxswap",
        (m.get("swap")
            .and_then(|x| x.parse::<u64>().ok())
            .unwrap_or(0)
            << 20)
            .to_string(),
    );
    kv.insert("mem", "0".into());
    kv.insert(
        "name",
        m.get("hostname").map_or(format!("CT{id}"), str::to_string),
    );
    kv.insert("netin", "0".into());
    kv.insert("netout", "0".into());
    kv.insert("status", st.into());
    kv.insert("swap", "0".into());
    kv.insert("type", "lxc".into());
    let rt = ctx.state.runtime(id);
    kv.insert(
        "uptime",
        if running {
            ctx.state.now().saturating_sub(rt.started_at).to_string()
        } else {
            "0".into()
        },
    );
    kv.insert("vmid", id.to_string());
    if is_template(&conf) {
        kv.insert("template", "1".into());
    }
    if let Some(l) = m.get("lock") {
        kv.insert("lock", l.into());
    }
    if let Some(t) = m.get("tags") {
        kv.insert("tags", t.into());
    }
    if running {
        kv.insert("pid", (10_000 + id).to_string());
    }
    Ok(Outcome::read(
        kv.iter()
            .map(|(k, v)| format!("{k}: {v}\n"))
            .collect::<String>(),
    )
    .guest(id))
}

/// `pct list`.
fn list(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("list");
    let p = parse_opts(args, &[], &|_| None, &u)?;
    positionals(&p, 0, &u)?;
    let ids = guest::ids(&ctx.root, F);
    if ids.is_empty() {
        return Ok(Outcome::read(""));
    }
    let mut out = format!(
        "{:<10} {:<10} {:<12} {:<20}\n",
        "VMID", "Status", "Lock", "Name"
    );
    for id in ids {
        let conf = guest::load(ctx, F, id)?;
        let st = if ctx.state.running(id) {
            "running"
        } else {
            "stopped"
        };
        let name = conf
            .main
            .get("hostname")
            .map_or(format!("CT{id}"), str::to_string);
        out.push_str(&format!(
            "{:<10} {:<10} {:<12} {:<20}\n",
            id,
            st,
            conf.main.get("lock").unwrap_or(""),
            name
        ));
    }
    Ok(Outcome::read(out))
}

/// Starts a loaded container (`vm_start`): applies pending changes, checks bind mounts.
pub(crate) fn start_ct(ctx: &mut Ctx, id: u32) -> R {
    let mut conf = guest::load(ctx, F, id)?;
    if is_template(&conf) {
        return Err(die("you can't start a CT if it's a template"));
    }
    if conf.main.get("lock").is_some_and(|l| l != "mounted") {
        check_lock(&conf, F)?;
    }
    // Raw lxc.* keys pve-container drops or refuses (Config.pm is_valid_lxc_conf_key) never
    // reach LXC: Proxmox warns and starts without them. Strict mode refuses, so a product that
    // writes one is caught.
    for (k, v) in &conf.main.raw {
        if let Some(why) = crate::lxc_keys::dropped(id, k, v) {
            if crate::args::is_strict() {
                return Err(Outcome::refuse(format!("{why}\n")));
            }
        }
    }
    let cfg = StorageCfg::load(&ctx.root);
    if !conf.pending.keys.is_empty() {
        let mut out = String::new();
        apply_pending(ctx, id, &mut conf, &cfg, false, None, &mut out)?;
        guest::save(ctx, F, id, &conf)?;
    }
    for m in mountpoints(&conf.main) {
        match m.kind() {
            MpKind::Bind | MpKind::Device if !ctx.root.host(&m.volume).exists() => {
                return Err(die(format!(
                    "lxc-start: {id}: ../src/lxc/conf.c: mount_entry: Failed to mount \"{}\" on \"{}\"\nstartup for container '{id}' failed",
                    m.volume,
                    m.ps.get("mp").unwrap_or("/")
                )));
            }
            MpKind::Volume if ctx.state.volume_path(&ctx.root, &cfg, &m.volume).is_none() => {
                return Err(die(format!(
                    "startup for container '{id}' failed: volume '{}' does not exist",
                    m.volume
                )));
            }
            _ => {}
        }
    }
    for (k, v) in conf.main.keys.iter().filter(|(k, _)| k.starts_with("dev")) {
        let ps = PropStr::parse(v, Some("path")).unwrap_or_default();
        if !ctx.root.host(ps.get("path").unwrap_or("/")).exists() {
            return Err(die(format!(
                "startup for container '{id}' failed: device of {k} does not exist"
            )));
        }
    }
    let mut out = String::new();
    let nesting = conf
        .main
        .get("features")
        .is_some_and(|f| f.contains("nesting=1"));
    if nesting
        && conf
            .main
            .raw
            .iter()
            .any(|(k, _)| k == "lxc.apparmor.profile")
    {
        out.push_str("explicitly configured lxc.apparmor.profile overrides the following settings: features:nesting\n");
    }
    if crate::real::tarball().is_some() {
        let fs = guest_fs(ctx, &conf.main).map_err(die)?;
        // Its interfaces as pve-container names them: `name` and `hwaddr` of each netN.
        let nics: Vec<(String, String)> = conf
            .main
            .keys
            .iter()
            .filter(|(k, _)| k.starts_with("net") && k[3..].parse::<u32>().is_ok())
            .filter_map(|(_, v)| {
                let ps = PropStr::parse(v, None).ok()?;
                Some((ps.get("name")?.to_string(), ps.get("hwaddr")?.to_string()))
            })
            .collect();
        crate::real::boot(
            &ctx.root.data(),
            id,
            &crate::real::Machine {
                root: &fs.root,
                binds: &fs.mounts,
                nics: &nics,
                wait: crate::real::Wait::Up,
            },
        )
        .map_err(|e| die(format!("startup for container '{id}' failed: {e}")))?;
    }
    let now = ctx.state.now();
    let boot = ctx.knobs.ct_boot_secs;
    let rt = ctx.state.guests.entry(id).or_default();
    rt.running = true;
    rt.started_at = now;
    rt.ready_at = now + boot;
    rt.starts += 1;
    Ok(Outcome::ok(Effect::Mutate)
        .out(out)
        .secs(cost(ctx, "pct.start") + boot as f64)
        .guest(id))
}

/// `pct start <vmid>`.
fn start(ctx: &mut Ctx, args: &[String]) -> R {
    let (p, id) = opts(
        args,
        "start",
        &[("skiplock", Kind::Bool), ("debug", Kind::Bool)],
        1,
    )?;
    if ctx.state.running(id) {
        return Err(die(format!("CT {id} already running")));
    }
    // pve-container src/PVE/API2/LXC/Status.pm `vm_start`: check_lock unless skiplock or
    // the lock is `mounted`.
    let conf = guest::load(ctx, F, id)?;
    if !p.has("skiplock") && conf.main.get("lock") != Some("mounted") {
        check_lock(&conf, F)?;
    }
    start_ct(ctx, id)
}

/// `pct stop|shutdown <vmid>`.
fn stop(ctx: &mut Ctx, args: &[String], cmd: &str) -> R {
    let spec: &[(&str, Kind)] = if cmd == "stop" {
        &[("skiplock", Kind::Bool), ("overrule-shutdown", Kind::Bool)]
    } else {
        &[("timeout", Kind::Value), ("forceStop", Kind::Bool)]
    };
    let (p, id) = opts(args, cmd, spec, 1)?;
    if let Some(t) = p.get("timeout") {
        check::int(t, Some(0), None)
            .map_err(|e| param_error(&[("timeout".into(), e)], &usage(cmd)))?;
    }
    if !ctx.state.running(id) {
        return Err(die(format!("CT {id} not running")));
    }
    let conf = guest::load(ctx, F, id)?;
    if conf.main.get("lock").is_some_and(|l| l != "mounted") {
        check_lock(&conf, F)?;
    }
    crate::real::stop(&ctx.root.data(), id);
    if let Some(rt) = ctx.state.guests.get_mut(&id) {
        rt.running = false;
    }
    Ok(Outcome::ok(Effect::Mutate)
        .secs(cost(ctx, &format!("pct.{cmd}")))
        .guest(id))
}

/// `pct reboot <vmid>` (applies pending changes).
fn reboot(ctx: &mut Ctx, args: &[String]) -> R {
    let (_, id) = opts(args, "reboot", &[("timeout", Kind::Value)], 1)?;
    if !ctx.state.running(id) {
        return Err(die(format!("VM {id} not running")));
    }
    crate::real::stop(&ctx.root.data(), id);
    if let Some(rt) = ctx.state.guests.get_mut(&id) {
        rt.running = false;
    }
    let o = start_ct(ctx, id)?;
    Ok(Outcome {
        secs: cost(ctx, "pct.reboot") + o.secs,
        ..o
    })
}

/// `pct destroy <vmid> [--force] [--purge]`.
fn destroy(ctx: &mut Ctx, args: &[String]) -> R {
    let (p, id) = opts(
        args,
        "destroy",
        &[
            ("force", Kind::Bool),
            ("purge", Kind::Bool),
            ("destroy-unreferenced-disks", Kind::Bool),
        ],
        1,
    )?;
    let conf = guest::load(ctx, F, id)?;
    if conf.main.get("protection") == Some("1") {
        return Err(die(format!(
            "can't remove CT {id} - protection mode enabled"
        )));
    }
    check_lock(&conf, F)?;
    let mut out = String::new();
    if ctx.state.running(id) {
        if !p.flag("force") {
            return Err(die(format!(
                "unable to destroy CT {id} - container is running"
            )));
        }
        out.push_str(&format!("forced to stop CT {id} before destroying!\n"));
        crate::real::stop(&ctx.root.data(), id);
        if let Some(rt) = ctx.state.guests.get_mut(&id) {
            rt.running = false;
        }
    }
    let cfg = StorageCfg::load(&ctx.root);
    let mut vols: Vec<String> = Vec::new();
    for s in [&conf.main, &conf.pending] {
        for m in mountpoints(s) {
            if m.kind() == MpKind::Volume {
                vols.push(m.volume);
            }
        }
        vols.extend(
            s.keys
                .iter()
                .filter(|(k, _)| k.starts_with("unused"))
                .map(|(_, v)| v.clone()),
        );
    }
    for v in vols {
        let owner = split_volid(&v)
            .and_then(|(_, n)| parse_volname(n))
            .map(|x| x.vmid);
        if owner != Some(id) {
            out.push_str(&format!(
                "ignore deletion of '{v}', CT {id} isn't the owner!\n"
            ));
            continue;
        }
        ctx.state
            .volume_free(&ctx.root, &cfg, &v)
            .map_err(|e| Outcome {
                stdout: out.clone(),
                ..die(e)
            })?;
    }
    let _ = std::fs::remove_file(ctx.root.firewall(id));
    if p.flag("purge") {
        out.push_str(&format!("purging CT {id} from related configurations..\n"));
    }
    let _ = std::fs::remove_file(guest::conf_path(ctx, F, id));
    ctx.state.guests.remove(&id);
    Ok(Outcome::ok(Effect::Mutate)
        .out(out)
        .secs(cost(ctx, "pct.destroy"))
        .guest(id))
}

/// `pct template <vmid>`: renames volumes to `basevol-`, snapshots `@__base__`.
fn template(ctx: &mut Ctx, args: &[String]) -> R {
    let (_, id) = opts(args, "template", &[], 1)?;
    let mut conf = guest::load(ctx, F, id)?;
    check_lock(&conf, F)?;
    if !conf.snapshots.is_empty() {
        return Err(die(
            "unable to create template, because CT contains snapshots",
        ));
    }
    if is_template(&conf) {
        return Err(die("you can't convert a template to a template"));
    }
    if ctx.state.running(id) {
        return Err(die(
            "you can't convert a CT to template if the CT is running",
        ));
    }
    let cfg = StorageCfg::load(&ctx.root);
    let mps = mountpoints(&conf.main);
    for m in &mps {
        if m.kind() != MpKind::Volume
            || crate::state::State::volume_dataset(&cfg, &m.volume).is_none()
        {
            return Ok(task_error_exit0(
                format!("Template feature is not available for '{}'", m.volume),
                Effect::Read,
            )
            .guest(id));
        }
    }
    for m in mps {
        let (sid, vname) = split_volid(&m.volume).unwrap_or_default();
        let pool = cfg
            .get(sid)
            .and_then(|s| s.pool())
            .unwrap_or_default()
            .to_string();
        let Some((name, newname, newvol)) = crate::storage::create_base_names(vname) else {
            return Err(die("create_base not possible with base image"));
        };
        ctx.state
            .zfs_rename(
                &ctx.root,
                &format!("{pool}/{name}"),
                &format!("{pool}/{newname}"),
            )
            .map_err(die)?;
        ctx.state
            .zfs_snapshot(&ctx.root, &format!("{pool}/{newname}@__base__"))
            .map_err(die)?;
        let mut nm = m.clone();
        nm.volume = format!("{sid}:{newvol}");
        conf.main.set(&m.key, nm.render(m.key == "rootfs"));
    }
    conf.main.set("template", "1");
    guest::save(ctx, F, id, &conf)?;
    Ok(Outcome::ok(Effect::Mutate)
        .secs(cost(ctx, "pct.template"))
        .guest(id))
}

/// `pct resize <vmid> <disk> <size>`: grow only.
fn resize(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("resize");
    let p = parse_opts(args, &[("digest", Kind::Value)], &|_| None, &u)?;
    positionals(&p, 3, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let disk = p.positional[1].clone();
    let sizestr = p.positional[2].clone();
    let valid_disk = disk == "rootfs"
        || disk
            .strip_prefix("mp")
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n < 256);
    if !valid_disk {
        let mut names = vec!["rootfs".to_string()];
        names.extend((0..256).map(|i| format!("mp{i}")));
        return Err(param_error(
            &[(
                "disk".into(),
                format!(
                    "value '{disk}' does not have a value in the enumeration '{}'",
                    names.join(", ")
                ),
            )],
            &u,
        ));
    }
    let pat_ok = {
        let s = sizestr.strip_prefix('+').unwrap_or(&sizestr);
        let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
        !num.is_empty()
            && num.parse::<f64>().is_ok()
            && !num.starts_with('.')
            && matches!(unit, "" | "K" | "M" | "G" | "T")
    };
    if !pat_ok {
        return Err(param_error(
            &[(
                "size".into(),
                "value does not match the regex pattern".into(),
            )],
            &u,
        ));
    }
    let mut conf = guest::load(ctx, F, id)?;
    check_lock(&conf, F)?;
    let Some(m) = mountpoints(&conf.main).into_iter().find(|m| m.key == disk) else {
        return Err(die(format!(
            "unable to parse volume ID '{}'",
            conf.main.get(&disk).unwrap_or("")
        )));
    };
    let cfg = StorageCfg::load(&ctx.root);
    let owner = split_volid(&m.volume)
        .and_then(|(_, n)| parse_volname(n))
        .map(|v| v.vmid);
    if owner.is_some_and(|o| o != id) {
        return Err(die(format!(
            "can't resize mount point owned by another container ({}) at /usr/share/perl5/PVE/API2/LXC.pm line 2301.",
            owner.unwrap_or(0)
        )));
    }
    let cur = ctx
        .state
        .volume_size(&ctx.root, &cfg, &m.volume)
        .ok_or_else(|| {
            die(format!(
                "Could not determine current size of volume '{}'",
                m.volume
            ))
        })?;
    let ext = sizestr.starts_with('+');
    let req = disk_size(sizestr.trim_start_matches('+')).unwrap_or(0);
    let new = if ext { cur + req } else { req };
    if new < cur {
        return Err(die("unable to shrink disk size"));
    }
    if new == cur {
        return Err(die("disk is already at specified size"));
    }
    ctx.state
        .volume_resize(&ctx.root, &cfg, &m.volume, new)
        .map_err(die)?;
    let mut nm = m.clone();
    nm.ps.set("size", format_size(new));
    conf.main.set(&disk, nm.render(disk == "rootfs"));
    guest::save(ctx, F, id, &conf)?;
    let sid = split_volid(&m.volume)
        .map(|(s, _)| s.to_string())
        .unwrap_or_default();
    Ok(Outcome::ok(Effect::Mutate)
        .secs(cost(ctx, "pct.resize"))
        .guest(id)
        .storage(sid))
}

/// Whether every mount point can be snapshotted (zfspool volumes only).
fn snapshot_supported(ctx: &Ctx, conf: &Section) -> bool {
    let cfg = StorageCfg::load(&ctx.root);
    mountpoints(conf).iter().all(|m| {
        m.kind() == MpKind::Volume && crate::state::State::volume_dataset(&cfg, &m.volume).is_some()
    })
}

/// `pct snapshot <vmid> <snapname> [--description]`.
fn snapshot(ctx: &mut Ctx, args: &[String]) -> R {
    let (p, id, name) =
        guest::vmid_and_snapname(args, &[("description", Kind::Value)], &usage("snapshot"))?;
    if name == "current" || name == "vzdump" {
        return Err(die(format!(
            "unable to use snapshot name '{name}' (reserved name)"
        )));
    }
    let mut conf = guest::load(ctx, F, id)?;
    if is_template(&conf) {
        return Err(die("you can't take a snapshot if it's a template"));
    }
    check_lock(&conf, F)?;
    if conf.snapshots.contains_key(&name) {
        return Err(die(format!("snapshot name '{name}' already used")));
    }
    if !snapshot_supported(ctx, &conf.main) {
        return Err(die("snapshot feature is not available"));
    }
    let cfg = StorageCfg::load(&ctx.root);
    for m in mountpoints(&conf.main) {
        let ds = crate::state::State::volume_dataset(&cfg, &m.volume).unwrap_or_default();
        ctx.state
            .zfs_snapshot(&ctx.root, &format!("{ds}@{name}"))
            .map_err(|e| die(format!("snapshot create failed: starting cleanup\n{e}")))?;
    }
    let now = ctx.state.now();
    let section = guest::snapshot_section(&conf.main, now, p.get("description"));
    conf.snapshots.insert(name.clone(), section);
    conf.main.set("parent", name);
    guest::save(ctx, F, id, &conf)?;
    Ok(Outcome::ok(Effect::Mutate)
        .secs(cost(ctx, "pct.snapshot"))
        .guest(id))
}

/// `pct listsnapshot <vmid>`.
fn listsnapshot(ctx: &mut Ctx, args: &[String]) -> R {
    let (_, id) = opts(args, "listsnapshot", &[], 1)?;
    let conf = guest::load(ctx, F, id)?;
    Ok(Outcome::read(guest::snapshot_tree(&conf)).guest(id))
}

/// `pct delsnapshot <vmid> <snapname> [--force]`.
fn delsnapshot(ctx: &mut Ctx, args: &[String]) -> R {
    let (p, id, name) =
        guest::vmid_and_snapname(args, &[("force", Kind::Bool)], &usage("delsnapshot"))?;
    let mut conf = guest::load(ctx, F, id)?;
    if !conf.snapshots.contains_key(&name) {
        return Err(die(format!("snapshot '{name}' does not exist")));
    }
    check_lock(&conf, F)?;
    if is_template(&conf) {
        return Err(die("you can't delete a snapshot if vm is a template"));
    }
    let cfg = StorageCfg::load(&ctx.root);
    let snap = conf.snapshots[&name].clone();
    for m in mountpoints(&snap) {
        if let Some(ds) = crate::state::State::volume_dataset(&cfg, &m.volume) {
            let s = format!("{ds}@{name}");
            if ctx.state.zfs.snapshots.contains_key(&s) {
                // `--force` drops the config entry even when a volume refuses.
                if let Err(e) = ctx.state.zfs_destroy(&ctx.root, &s, false) {
                    if !p.flag("force") {
                        return Err(die(e));
                    }
                }
            }
        }
    }
    guest::remove_snapshot(&mut conf, &name);
    guest::save(ctx, F, id, &conf)?;
    Ok(Outcome::ok(Effect::Mutate)
        .secs(cost(ctx, "pct.delsnapshot"))
        .guest(id))
}

/// `pct rollback <vmid> <snapname> [--start]`: ZFS only to the most recent snapshot.
fn rollback(ctx: &mut Ctx, args: &[String]) -> R {
    let (p, id, name) =
        guest::vmid_and_snapname(args, &[("start", Kind::Bool)], &usage("rollback"))?;
    let conf = guest::load(ctx, F, id)?;
    if is_template(&conf) {
        return Err(die("you can't rollback if vm is a template"));
    }
    let Some(snap) = conf.snapshots.get(&name).cloned() else {
        return Err(die(format!("snapshot '{name}' does not exist")));
    };
    let cfg = StorageCfg::load(&ctx.root);
    for m in mountpoints(&snap) {
        let Some(ds) = crate::state::State::volume_dataset(&cfg, &m.volume) else {
            continue;
        };
        let all = ctx.state.zfs_snapshots_of(&ds);
        let target = format!("{ds}@{name}");
        if !all.contains(&target) {
            return Err(die(format!(
                "can't rollback, snapshot '{name}' does not exist on '{}'",
                m.volume
            )));
        }
        if all.last() != Some(&target) {
            return Err(die(format!(
                "can't rollback, '{name}' is not most recent snapshot on '{}'",
                m.volume
            )));
        }
    }
    check_lock(&conf, F)?;
    crate::real::stop(&ctx.root.data(), id);
    if let Some(rt) = ctx.state.guests.get_mut(&id) {
        rt.running = false;
    }
    for m in mountpoints(&snap) {
        if let Some(ds) = crate::state::State::volume_dataset(&cfg, &m.volume) {
            ctx.state
                .zfs_rollback(&ctx.root, &format!("{ds}@{name}"), false)
                .map_err(die)?;
        }
    }
    let mut newconf = GuestConf {
        snapshots: conf.snapshots.clone(),
        ..GuestConf::default()
    };
    newconf.main.keys = snap
        .keys
        .iter()
        .filter(|(k, _)| *k != "snaptime")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    newconf.main.raw = snap.raw.clone();
    newconf.main.description = conf.main.description.clone();
    for (k, v) in conf
        .main
        .keys
        .iter()
        .filter(|(k, _)| k.starts_with("unused"))
    {
        newconf.main.set(k, v.clone());
    }
    newconf.main.set("parent", name);
    guest::save(ctx, F, id, &newconf)?;
    let mut o = Outcome::ok(Effect::Mutate)
        .secs(cost(ctx, "pct.rollback"))
        .guest(id);
    if p.flag("start") {
        let s = start_ct(ctx, id)?;
        o.stdout.push_str(&s.stdout);
        o.secs += s.secs;
    }
    Ok(o)
}

fn perms_mode(perms: Option<&str>) -> Result<u32, String> {
    match perms {
        None => Ok(0o644),
        Some(p) => {
            let p = if p.starts_with('0') {
                p.to_string()
            } else {
                format!("0{p}")
            };
            let r = if let Some(h) = p.strip_prefix("0x") {
                u32::from_str_radix(h, 16)
            } else {
                u32::from_str_radix(&p, 8)
            };
            r.map_err(|_| format!("invalid mode: '{p}'"))
        }
    }
}

/// `pct push <vmid> <file> <destination>` (the source is a path on the host).
fn push(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("push");
    let p = parse_opts(
        args,
        &[
            ("perms", Kind::Value),
            ("user", Kind::Value),
            ("group", Kind::Value),
        ],
        &|_| None,
        &u,
    )?;
    positionals(&p, 3, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let (file, dest) = (p.positional[1].clone(), p.positional[2].clone());
    let conf = guest::load(ctx, F, id)?;
    if !ctx.state.running(id) {
        return Err(die("can only push files to a running CT"));
    }
    let data = match std::fs::read(&file) {
        Ok(d) => d,
        Err(_) => {
            return Ok(task_error_exit0(
                format!("failed to open {file} for reading"),
                Effect::Read,
            )
            .guest(id));
        }
    };
    let mode = match perms_mode(p.get("perms")) {
        Ok(m) => m,
        Err(e) => return Ok(task_error_exit0(e, Effect::Read).guest(id)),
    };
    let fs = guest_fs(ctx, &conf.main).map_err(die)?;
    // A booted real guest has its own mounts (a tmpfs on /tmp): pct writes through the
    // container's view of its file system, as pve-container does for a running CT.
    let target =
        crate::real::view(&ctx.root.data(), id, &dest).unwrap_or_else(|| fs.host_path(&dest));
    use std::os::unix::fs::PermissionsExt;
    if let Err(e) = std::fs::write(&target, &data)
        .and_then(|()| std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode)))
    {
        let reason = if e.kind() == std::io::ErrorKind::NotFound {
            "No such file or directory"
        } else {
            "Permission denied"
        };
        return Ok(task_error_exit0(
            format!("failed to create file: {dest}: {reason}"),
            Effect::Read,
        )
        .guest(id));
    }
    Ok(Outcome::ok(Effect::Mutate)
        .secs(cost(ctx, "pct.push"))
        .guest(id))
}

/// `pct pull <vmid> <path> <destination>` (the destination is a path on the host).
fn pull(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("pull");
    let p = parse_opts(
        args,
        &[
            ("perms", Kind::Value),
            ("user", Kind::Value),
            ("group", Kind::Value),
        ],
        &|_| None,
        &u,
    )?;
    positionals(&p, 3, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let (path, dest) = (p.positional[1].clone(), p.positional[2].clone());
    let conf = guest::load(ctx, F, id)?;
    if !ctx.state.running(id) {
        return Err(die(
            "can only pull files from a running VM at /usr/share/perl5/PVE/CLI/pct.pm line 493.",
        ));
    }
    let fs = guest_fs(ctx, &conf.main).map_err(die)?;
    let from =
        crate::real::view(&ctx.root.data(), id, &path).unwrap_or_else(|| fs.host_path(&path));
    let data = match std::fs::read(from) {
        Ok(d) => d,
        Err(_) => {
            return Ok(task_error_exit0(
                format!("failed to open {path}: No such file or directory"),
                Effect::Read,
            )
            .guest(id));
        }
    };
    if let Err(e) = std::fs::write(&dest, &data) {
        let reason = if e.kind() == std::io::ErrorKind::NotFound {
            "No such file or directory"
        } else {
            "Permission denied"
        };
        return Ok(task_error_exit0(
            format!("failed to create file: {dest}: {reason}"),
            Effect::Read,
        )
        .guest(id));
    }
    Ok(Outcome::ok(Effect::Read)
        .secs(cost(ctx, "pct.pull"))
        .guest(id))
}

/// `pct exec <vmid> -- <command>`: the command's own status and output.
fn exec(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("exec");
    let p = parse_opts(args, &[("keep-env", Kind::Bool)], &|_| None, &u)?;
    if p.positional.is_empty() {
        return Err(Outcome::refuse(format!("400 not enough arguments\n{u}\n")));
    }
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let mut cmd: Vec<String> = p.positional[1..].to_vec();
    cmd.extend(p.rest.iter().cloned());
    let conf = guest::load(ctx, F, id)?;
    if !ctx.state.running(id) {
        return Err(die(format!("container '{id}' not running!")));
    }
    if cmd.is_empty() {
        return Err(die(
            "missing command at /usr/share/perl5/PVE/CLI/pct.pm line 260.",
        ));
    }
    if crate::real::tarball().is_some() {
        let (code, stdout, stderr) = crate::real::exec(&ctx.root.data(), id, &cmd).map_err(die)?;
        return Ok(Outcome {
            code,
            stdout,
            stderr,
            effect: if crate::real::reads_only(&cmd) {
                Effect::Read
            } else {
                Effect::Mutate
            },
            secs: cost(ctx, "pct.exec"),
            guest: Some(id),
            ..Outcome::ok(Effect::Read)
        });
    }
    let fs = guest_fs(ctx, &conf.main).map_err(die)?;
    let r = fs.exec(&cmd, &ctx.rules, id);
    let effect = if r.mutates {
        Effect::Mutate
    } else {
        Effect::Read
    };
    Ok(Outcome {
        code: r.code,
        stdout: r.stdout,
        stderr: r.stderr,
        effect,
        refused: false,
        secs: cost(ctx, "pct.exec") + r.secs,
        guest: Some(id),
        storage: None,
        holds: Vec::new(),
    })
}

/// `pct unlock <vmid>`.
fn unlock(ctx: &mut Ctx, args: &[String]) -> R {
    let (_, id) = opts(args, "unlock", &[], 1)?;
    let mut conf = guest::load(ctx, F, id)?;
    if conf.main.remove("lock").is_none() {
        return Err(die("no lock found trying to remove any lock"));
    }
    guest::save(ctx, F, id, &conf)?;
    Ok(Outcome::ok(Effect::Mutate).guest(id))
}
