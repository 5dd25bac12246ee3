//! `pvesm` (pve-storage): `status`, `list`, `alloc`, `free`, `add`, `set`, `remove`, `path`,
//! `scan zfs`, over `/etc/pve/storage.cfg` and the simulated ZFS pools and directories.

use crate::Ctx;
use crate::args::Kind;
use crate::outcome::{Effect, Outcome};
use crate::storage::{Storage, StorageCfg, TYPES, optional_keys};
use crate::tools::{die, param_error, parse_opts, positionals, resolve};
use crate::zfs::tree_size;

const COMMANDS: &[(&str, &str)] = &[
    ("add", "<type> <storage> [OPTIONS]"),
    ("alloc", "<storage> <vmid> <filename> <size> [OPTIONS]"),
    ("free", "<volume> [OPTIONS]"),
    ("list", "<storage> [OPTIONS]"),
    ("path", "<volume>"),
    ("remove", "<storage>"),
    ("scan", "zfs"),
    ("set", "<storage> [OPTIONS]"),
    ("status", " [OPTIONS]"),
];

fn usage(cmd: &str) -> String {
    let u = COMMANDS
        .iter()
        .find(|(c, _)| *c == cmd)
        .map_or("", |(_, u)| u);
    format!("pvesm {cmd} {u}")
}

/// Every option a storage type can take (the union schema of `pvesm add`).
const STORAGE_OPTS: &[(&str, Kind)] = &[
    ("blocksize", Kind::Value),
    ("bwlimit", Kind::Value),
    ("content", Kind::Value),
    ("content-dirs", Kind::Value),
    ("create-base-path", Kind::Bool),
    ("create-subdirs", Kind::Bool),
    ("disable", Kind::Bool),
    ("export", Kind::Value),
    ("format", Kind::Value),
    ("is_mountpoint", Kind::Value),
    ("max-protected-backups", Kind::Value),
    ("mkdir", Kind::Bool),
    ("mountpoint", Kind::Value),
    ("nodes", Kind::Value),
    ("options", Kind::Value),
    ("path", Kind::Value),
    ("pool", Kind::Value),
    ("preallocation", Kind::Value),
    ("prune-backups", Kind::Value),
    ("server", Kind::Value),
    ("shared", Kind::Bool),
    ("sparse", Kind::Bool),
];

/// All storage types Proxmox knows (for the enumeration message).
const ALL_TYPES: &[&str] = &[
    "btrfs",
    "cephfs",
    "cifs",
    "dir",
    "esxi",
    "glusterfs",
    "iscsi",
    "iscsidirect",
    "lvm",
    "lvmthin",
    "nfs",
    "pbs",
    "rbd",
    "zfs",
    "zfspool",
];

/// Content types per storage type.
fn content_types(kind: &str) -> &'static [&'static str] {
    match kind {
        "zfspool" => &["images", "rootdir"],
        _ => &[
            "backup", "images", "import", "iso", "rootdir", "snippets", "vztmpl",
        ],
    }
}

/// Runs `pvesm <args>`.
pub fn run(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let cmd = match resolve("pvesm", args.first().map(String::as_str), COMMANDS) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let rest = &args[1..];
    let r = match cmd {
        "status" => status(ctx, rest),
        "add" => add(ctx, rest),
        "set" => set(ctx, rest),
        "remove" => remove(ctx, rest),
        other => Err(die(format!("pvesm {other}: not simulated"))),
    };
    let mut o = r.unwrap_or_else(|o| o);
    if o.effect == Effect::Mutate && o.secs == 0.0 {
        o.secs = ctx.knobs.cost("pvesm.write");
    }
    o
}

type R = Result<Outcome, Outcome>;

/// `(total, used, avail, active)` of a storage in bytes, or a warning.
fn usage_of(ctx: &Ctx, st: &Storage) -> Result<(u64, u64, u64), String> {
    match st.kind.as_str() {
        "zfspool" => {
            let pool = st.pool().unwrap_or_default();
            if !ctx.state.zfs.datasets.contains_key(pool) {
                return Err(format!(
                    "zfs error: cannot open '{pool}': dataset does not exist"
                ));
            }
            let used = ctx.state.zfs_used_total(&ctx.root, pool);
            let avail = ctx.state.zfs_available(&ctx.root, pool);
            Ok((used + avail, used, avail))
        }
        _ => {
            let p = st.path().unwrap_or("/");
            let host = ctx.root.host(p);
            if !host.is_dir() {
                return Err(format!(
                    "unable to activate storage '{}' - directory '{p}' does not exist",
                    st.id
                ));
            }
            // The file system holding the path: a mounted dataset, or the root file system.
            let mut best: Option<(usize, String)> = None;
            for ds in ctx.state.zfs.datasets.keys() {
                if let Some(dir) = ctx.state.zfs_mount_dir(&ctx.root, ds) {
                    if host.starts_with(&dir)
                        && best
                            .as_ref()
                            .is_none_or(|(l, _)| dir.as_os_str().len() > *l)
                    {
                        best = Some((dir.as_os_str().len(), ds.clone()));
                    }
                }
            }
            if st.kind == "nfs" {
                let total: u64 = ctx
                    .state
                    .facts
                    .get("nfs_size")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1 << 40);
                let used = tree_size(&host).min(total);
                return Ok((total, used, total - used));
            }
            match best {
                Some((_, ds)) => {
                    let used = ctx.state.zfs_used(&ctx.root, &ds);
                    let avail = ctx.state.zfs_available(&ctx.root, &ds);
                    Ok((used + avail, used, avail))
                }
                None => {
                    let total: u64 = ctx
                        .state
                        .facts
                        .get("rootfs_size")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(100 << 30);
                    let used = ((2u64 << 30) + tree_size(&host)).min(total);
                    Ok((total, used, total - used))
                }
            }
        }
    }
}

/// `pvesm status [--storage] [--content] [--enabled]`.
fn status(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("status");
    let p = parse_opts(
        args,
        &[
            ("storage", Kind::Value),
            ("content", Kind::Value),
            ("enabled", Kind::Bool),
            ("target", Kind::Value),
            ("format", Kind::Bool),
        ],
        &|_| None,
        &u,
    )?;
    positionals(&p, 0, &u)?;
    let cfg = StorageCfg::load(&ctx.root);
    if let Some(s) = p.get("storage") {
        if cfg.get(s).is_none() {
            return Err(param_error(
                &[("storage".into(), "No such storage.\n".into())],
                &u,
            ));
        }
    }
    let mut rows: Vec<&Storage> = cfg
        .entries
        .iter()
        .filter(|s| p.get("storage").is_none_or(|x| x == s.id))
        .filter(|s| p.get("content").is_none_or(|c| s.has_content(c)))
        .filter(|s| !(p.flag("enabled") && s.disabled()))
        .collect();
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    let maxlen = cfg
        .entries
        .iter()
        .filter(|s| rows.iter().any(|r| r.id == s.id))
        .map(|s| s.id.len())
        .max()
        .unwrap_or(0)
        + 1;
    // pve-storage 9.x (PVE/CLI/pvesm.pm `print_status`) names the unit in its headers.
    let (total_h, used_h, avail_h) = if crate::profile::of(&ctx.state).pvesm_kib_header {
        ("Total (KiB)", "Used (KiB)", "Available (KiB)")
    } else {
        ("Total", "Used", "Available")
    };
    let mut out = format!(
        "{:<maxlen$} {:>10} {:>10} {:>15} {:>15} {:>15} {:>8}\n",
        "Name", "Type", "Status", total_h, used_h, avail_h, "%"
    );
    let mut stderr = String::new();
    for s in rows {
        let (mut total, mut used, mut avail, mut active) = (0, 0, 0, "inactive");
        if !s.disabled() {
            match usage_of(ctx, s) {
                Ok((t, u, a)) => {
                    (total, used, avail, active) = (t, u, a, "active");
                }
                Err(w) => stderr.push_str(&format!("{w}\n")),
            }
        }
        let per = if s.disabled() {
            format!("{:>8}", "N/A")
        } else {
            let v = if total > 0 {
                used as f64 * 100.0 / total as f64
            } else {
                0.0
            };
            format!("{v:>7.2}%")
        };
        let active = if s.disabled() { "disabled" } else { active };
        out.push_str(&format!(
            "{:<maxlen$} {:>10} {:>10} {:>15} {:>15} {:>15} {per}\n",
            s.id,
            s.kind,
            active,
            total / 1024,
            used / 1024,
            avail / 1024
        ));
    }
    Ok(Outcome {
        stderr,
        ..Outcome::read(out)
    })
}

fn valid_storage_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Checks and normalises the options of a storage of `kind`.
fn check_options(
    kind: &str,
    p: &crate::args::Parsed,
    skip: &[&str],
) -> Result<Vec<(String, String)>, Outcome> {
    let fixed: &[&str] = match kind {
        "dir" => &["path"],
        "zfspool" => &["pool"],
        "nfs" => &["export", "path", "server"],
        _ => &[],
    };
    let mut out = Vec::new();
    for k in &p.order {
        if skip.contains(&k.as_str()) || out.iter().any(|(x, _): &(String, String)| x == k) {
            continue;
        }
        if !fixed.contains(&k.as_str()) && !optional_keys(kind).contains(&k.as_str()) {
            return Err(die(format!("unexpected property '{k}'")));
        }
        let v = p.get(k).unwrap_or_default().to_string();
        let v = match k.as_str() {
            "content" => {
                let mut items: Vec<&str> =
                    v.split([',', ';', ' ']).filter(|x| !x.is_empty()).collect();
                for c in &items {
                    if *c != "none" && !content_types(kind).contains(c) {
                        return Err(die(format!("storage does not support content type '{c}'")));
                    }
                }
                items.sort();
                items.dedup();
                if items.is_empty() {
                    "none".to_string()
                } else {
                    items.join(",")
                }
            }
            "path" if kind == "dir" => {
                let ok = v.starts_with('/')
                    && v.len() > 1
                    && v.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/' | b'_' | b'.' | b'@')
                    });
                if !ok {
                    return Err(die(format!("illegal path for directory storage: {v}")));
                }
                v
            }
            _ => v,
        };
        out.push((k.clone(), v));
    }
    Ok(out)
}

/// `pvesm add <type> <storage> [OPTIONS]`.
fn add(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("add");
    let p = parse_opts(args, STORAGE_OPTS, &|_| None, &u)?;
    positionals(&p, 2, &u)?;
    let (kind, id) = (
        p.positional[0].to_ascii_lowercase(),
        p.positional[1].clone(),
    );
    let mut errors = Vec::new();
    if !ALL_TYPES.contains(&kind.as_str()) {
        errors.push((
            "type".to_string(),
            format!(
                "value '{kind}' does not have a value in the enumeration '{}'",
                ALL_TYPES.join(", ")
            ),
        ));
    }
    if !valid_storage_id(&id) {
        errors.push((
            "storage".to_string(),
            format!("invalid format - storage ID '{id}' contains illegal characters\n"),
        ));
    }
    if !errors.is_empty() {
        return Err(param_error(&errors, &u));
    }
    if !TYPES.contains(&kind.as_str()) {
        return Err(die(format!(
            "storage type '{kind}' is not supported by pve-sim"
        )));
    }
    let mut props = check_options(&kind, &p, &[])?;
    for req in match kind.as_str() {
        "dir" => &["path"][..],
        "zfspool" => &["pool"][..],
        "nfs" => &["server", "export"][..],
        _ => &[][..],
    } {
        if !props.iter().any(|(k, _)| k == req) {
            return Err(die(format!("missing value for required option '{req}'")));
        }
    }
    let mut cfg = StorageCfg::load(&ctx.root);
    if cfg.get(&id).is_some() {
        return Err(die(format!(
            "create storage failed: storage ID '{id}' already defined"
        )));
    }
    let get = |props: &Vec<(String, String)>, k: &str| {
        props.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone())
    };
    let mut stderr = String::new();
    match kind.as_str() {
        "zfspool" => {
            let pool = get(&props, "pool").unwrap_or_default();
            let current = ctx.state.zfs_prop(&pool, "mountpoint").map(|(v, _)| v);
            match (get(&props, "mountpoint"), current) {
                (None, Some(mp)) => props.push(("mountpoint".into(), mp)),
                (Some(given), Some(mp)) if given != mp => {
                    stderr.push_str(&format!("warning for {id} - mountpoint: {given} does not match current mount point: {mp}\n"));
                }
                _ => {}
            }
        }
        "nfs" => {
            if get(&props, "path").is_none() {
                props.push(("path".into(), format!("/mnt/pve/{id}")));
            }
            let path = get(&props, "path").unwrap_or_default();
            std::fs::create_dir_all(ctx.root.host(&path)).map_err(|e| die(e.to_string()))?;
        }
        _ => {
            let path = get(&props, "path").unwrap_or_default();
            if get(&props, "mkdir").as_deref() != Some("0")
                && get(&props, "create-base-path").as_deref() != Some("0")
            {
                std::fs::create_dir_all(ctx.root.host(&path)).map_err(|e| die(e.to_string()))?;
            }
        }
    }
    if !props.iter().any(|(k, _)| k == "content") {
        let default = if kind == "nfs" {
            "images"
        } else {
            "images,rootdir"
        };
        props.push(("content".into(), default.into()));
    }
    cfg.entries.push(Storage {
        kind: kind.clone(),
        id: id.clone(),
        props,
    });
    cfg.save(&ctx.root)
        .map_err(|e| die(format!("create storage failed: {e:#}")))?;
    Ok(Outcome {
        stderr,
        ..Outcome::ok(Effect::Mutate)
    })
}

/// `pvesm set <storage> [OPTIONS] [--delete a,b]`.
fn set(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("set");
    let mut spec = STORAGE_OPTS.to_vec();
    spec.extend([("delete", Kind::Value), ("digest", Kind::Value)]);
    let p = parse_opts(args, &spec, &|_| None, &u)?;
    positionals(&p, 1, &u)?;
    let id = p.positional[0].clone();
    let mut cfg = StorageCfg::load(&ctx.root);
    let Some(st) = cfg.get(&id).cloned() else {
        return Err(die(format!(
            "update storage failed: storage '{id}' does not exist"
        )));
    };
    let fixed: &[&str] = match st.kind.as_str() {
        "dir" => &["path"],
        "zfspool" => &["pool"],
        "nfs" => &["export", "path", "server"],
        _ => &[],
    };
    for k in &p.order {
        if fixed.contains(&k.as_str()) {
            return Err(die(format!(
                "update storage failed: can't change value of fixed parameter '{k}'"
            )));
        }
    }
    let updates = check_options(&st.kind, &p, &["delete", "digest"])?;
    let deletes: Vec<String> = p
        .get("delete")
        .map(|d| {
            d.split([',', ';', ' '])
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    for d in &deletes {
        if updates.iter().any(|(k, _)| k == d) {
            return Err(die(format!(
                "update storage failed: cannot set and delete property '{d}' at the same time!"
            )));
        }
        if fixed.contains(&d.as_str()) {
            return Err(die(
                "update storage failed: unable to delete fixed option".to_string()
            ));
        }
        if !optional_keys(&st.kind).contains(&d.as_str()) {
            return Err(die("update storage failed: no such option".to_string()));
        }
    }
    let entry = cfg.get_mut(&id).expect("checked above");
    for (k, v) in updates {
        if k == "disable" && v == "0" {
            entry.props.retain(|(x, _)| x != "disable");
            continue;
        }
        entry.set(&k, v);
    }
    entry.props.retain(|(k, _)| !deletes.contains(k));
    cfg.save(&ctx.root)
        .map_err(|e| die(format!("update storage failed: {e:#}")))?;
    Ok(Outcome::ok(Effect::Mutate))
}

/// `pvesm remove <storage>`.
fn remove(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("remove");
    let p = parse_opts(args, &[], &|_| None, &u)?;
    positionals(&p, 1, &u)?;
    let id = &p.positional[0];
    let mut cfg = StorageCfg::load(&ctx.root);
    if cfg.get(id).is_none() {
        return Err(die(format!(
            "delete storage failed: storage '{id}' does not exist"
        )));
    }
    cfg.entries.retain(|s| &s.id != id);
    cfg.save(&ctx.root)
        .map_err(|e| die(format!("delete storage failed: {e:#}")))?;
    Ok(Outcome::ok(Effect::Mutate))
}
