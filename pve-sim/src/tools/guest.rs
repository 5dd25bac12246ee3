//! What `pct` and `qm` share: loading and saving guest configs, locks, snapshot sections and
//! the snapshot tree printer (pve-guest-common `AbstractConfig`, `GuestHelpers`).

use crate::Ctx;
use crate::conf::{Flavor, GuestConf, Section, encode_text};
use crate::outcome::Outcome;

/// `CT`/`VM` and the cfs directory.
pub fn names(flavor: Flavor) -> (&'static str, &'static str) {
    match flavor {
        Flavor::Lxc => ("CT", "lxc"),
        Flavor::Qemu => ("VM", "qemu-server"),
    }
}

/// The config path of a guest.
pub fn conf_path(ctx: &Ctx, flavor: Flavor, id: u32) -> std::path::PathBuf {
    match flavor {
        Flavor::Lxc => ctx.root.lxc_conf(id),
        Flavor::Qemu => ctx.root.qemu_conf(id),
    }
}

/// `Configuration file 'nodes/<node>/<dir>/<id>.conf' does not exist`.
pub fn missing(ctx: &Ctx, flavor: Flavor, id: u32) -> Outcome {
    let (_, dir) = names(flavor);
    Outcome::refuse(format!(
        "Configuration file 'nodes/{}/{dir}/{id}.conf' does not exist",
        ctx.state.node
    ))
}

/// Loads a guest config (re-read every call: managers edit the file directly).
pub fn load(ctx: &Ctx, flavor: Flavor, id: u32) -> Result<GuestConf, Outcome> {
    match std::fs::read_to_string(conf_path(ctx, flavor, id)) {
        Ok(t) => Ok(GuestConf::parse(&t, flavor)),
        Err(_) => Err(missing(ctx, flavor, id)),
    }
}

/// Writes a guest config in canonical form.
pub fn save(ctx: &Ctx, flavor: Flavor, id: u32, conf: &GuestConf) -> Result<(), Outcome> {
    crate::root::write_atomic(&conf_path(ctx, flavor, id), conf.render(flavor).as_bytes())
        .map_err(|e| Outcome::refuse(format!("{e:#}")))
}

/// The IDs of all guests of one kind, ascending (the `.conf` files in their directory).
pub fn ids(root: &crate::root::SimRoot, flavor: Flavor) -> Vec<u32> {
    let dir = match flavor {
        Flavor::Lxc => root.host("/etc/pve/lxc"),
        Flavor::Qemu => root.host("/etc/pve/qemu-server"),
    };
    let mut ids: Vec<u32> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .strip_suffix(".conf")
                        .and_then(|n| n.parse().ok())
                })
                .collect()
        })
        .unwrap_or_default();
    ids.sort_unstable();
    ids
}

/// Parses `<vmid> <snapname> [OPTIONS]` (snapshot, delsnapshot, rollback of pct and qm).
pub fn vmid_and_snapname(
    args: &[String],
    spec: &[(&str, crate::args::Kind)],
    usage: &str,
) -> Result<(crate::args::Parsed, u32, String), Outcome> {
    use crate::tools::{check, param_error, parse_opts, positionals};
    let p = parse_opts(args, spec, &|_| None, usage)?;
    positionals(&p, 2, usage)?;
    let id =
        check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], usage))?;
    let name = p.positional[1].clone();
    check::snapname(&name).map_err(|e| param_error(&[("snapname".into(), e)], usage))?;
    Ok((p, id, name))
}

/// Whether a guest with this ID exists (as either kind): `CT`/`VM` for the message.
pub fn existing_kind(ctx: &Ctx, id: u32) -> Option<&'static str> {
    if ctx.root.lxc_conf(id).exists() {
        Some("CT")
    } else if ctx.root.qemu_conf(id).exists() {
        Some("VM")
    } else {
        None
    }
}

/// `qm` subcommands that take the VM's config flock exclusively (qemu-server: the API calls
/// behind them run under `lock_config`, which waits 10 s: `lock_config_full($vmid, 10, …)`
/// in pve-guest-common AbstractConfig.pm). Reads (`config`, `status`, `pending`, `list`),
/// the agent (`guest`, `agent`) and `clone` (see [`flock_conflict`]) are not among them.
const QM_EXCLUSIVE: &[&str] = &[
    "set",
    "start",
    "stop",
    "shutdown",
    "reboot",
    "destroy",
    "snapshot",
    "delsnapshot",
    "rollback",
    "template",
    "resize",
    "disk import",
    "disk resize",
    "disk move",
    "importdisk",
    "unlock",
    "cloudinit update",
];

/// What real Proxmox answers when a command needs a VM config flock that a running command
/// holds (a clone of that VM): after its wait, `can't lock file '…' - got timeout`
/// (pve-common src/PVE/Tools.pm `lock_file_full`). The simulator does not wait: a clone
/// holds the lock far longer than the 10 s a waiter gives it.
pub fn flock_conflict(
    tool: &str,
    sub: &str,
    id: &str,
    state: &crate::state::State,
) -> Option<Outcome> {
    if tool != "qm" {
        return None;
    }
    let id: u32 = id.parse().ok()?;
    let held: Vec<bool> = state
        .holds
        .iter()
        .filter(|h| h.vm && h.guest == id)
        .filter_map(|h| h.flock_shared)
        .collect();
    if held.is_empty() {
        return None;
    }
    let blocked = if sub == "clone" {
        // A clone of a stopped source shares the lock; of a running one, it is exclusive.
        !state.running(id) && held.iter().all(|s| *s)
    } else {
        !QM_EXCLUSIVE.contains(&sub)
    };
    (!blocked).then(|| {
        Outcome::refuse(format!(
            "can't lock file '/var/lock/qemu-server/lock-{id}.conf' - got timeout"
        ))
    })
}

/// Removes `lock: <value>` from a guest's config when it still says that (the end of a
/// command that held it).
pub fn remove_lock(
    root: &crate::root::SimRoot,
    vm: bool,
    id: u32,
    value: &str,
) -> anyhow::Result<()> {
    let (flavor, path) = if vm {
        (Flavor::Qemu, root.qemu_conf(id))
    } else {
        (Flavor::Lxc, root.lxc_conf(id))
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let mut conf = GuestConf::parse(&text, flavor);
    if conf.main.get("lock") != Some(value) {
        return Ok(());
    }
    conf.main.remove("lock");
    crate::root::write_atomic(&path, conf.render(flavor).as_bytes())
}

/// `check_lock`: `CT is locked (<lock>)`.
pub fn check_lock(conf: &GuestConf, flavor: Flavor) -> Result<(), Outcome> {
    match conf.main.get("lock") {
        Some(l) => Err(Outcome::refuse(format!(
            "{} is locked ({l})",
            names(flavor).0
        ))),
        None => Ok(()),
    }
}

/// Whether the guest is a template.
pub fn is_template(conf: &GuestConf) -> bool {
    conf.main.get("template") == Some("1")
}

/// A snapshot section: the current config minus `snapshots snapstate snaptime vmstate lock
/// digest description unusedN`, plus `snaptime` and the description as a comment.
pub fn snapshot_section(main: &Section, snaptime: u64, description: Option<&str>) -> Section {
    let mut s = Section {
        description: description.map(|d| format!("{d}\n")),
        keys: Default::default(),
        raw: main.raw.clone(),
    };
    for (k, v) in &main.keys {
        if matches!(
            k.as_str(),
            "snapstate" | "snaptime" | "vmstate" | "lock" | "digest" | "description"
        ) || k.starts_with("unused")
        {
            continue;
        }
        s.keys.insert(k.clone(), v.clone());
    }
    s.keys.insert("snaptime".into(), snaptime.to_string());
    s
}

/// Removes a snapshot section and re-points every `parent: <it>` to its own parent.
pub fn remove_snapshot(conf: &mut GuestConf, name: &str) {
    let parent = conf
        .snapshots
        .get(name)
        .and_then(|s| s.get("parent").map(str::to_string));
    let relink = |s: &mut Section| {
        if s.get("parent") == Some(name) {
            match &parent {
                Some(p) => s.set("parent", p.clone()),
                None => {
                    s.remove("parent");
                }
            }
        }
    };
    relink(&mut conf.main);
    conf.snapshots.remove(name);
    for s in conf.snapshots.values_mut() {
        relink(s);
    }
}

/// `print_snapshot_tree`: one line per snapshot plus `current`, children indented, sorted by
/// snaptime (`current` last), `%s %-{30-len(prefix)}s %-23s %s`.
pub fn snapshot_tree(conf: &GuestConf) -> String {
    struct Node {
        name: String,
        time: Option<u64>,
        description: String,
        parent: Option<String>,
    }
    let mut nodes: Vec<Node> = conf
        .snapshots
        .iter()
        .map(|(n, s)| Node {
            name: n.clone(),
            time: Some(s.get("snaptime").and_then(|t| t.parse().ok()).unwrap_or(0)),
            description: s.description.clone().unwrap_or_default(),
            parent: s.get("parent").map(str::to_string),
        })
        .collect();
    nodes.push(Node {
        name: "current".into(),
        time: None,
        description: "You are here!".into(),
        parent: conf.main.get("parent").map(str::to_string),
    });
    let exists = |n: &str| conf.snapshots.contains_key(n);
    let key = |n: &Node| (n.time.is_none(), n.time.unwrap_or(0));
    let mut out = String::new();
    fn emit(
        out: &mut String,
        prefix: &str,
        idx: usize,
        nodes: &[Node],
        children: &dyn Fn(&str) -> Vec<usize>,
    ) {
        let n = &nodes[idx];
        let d = if n.description.trim().is_empty() {
            "no-description".to_string()
        } else {
            n.description.lines().next().unwrap_or("").to_string()
        };
        let time = n.time.map(crate::clock::format).unwrap_or_default();
        let len = 30usize.saturating_sub(prefix.len());
        out.push_str(&format!("{prefix} {:<len$} {:<23} {d}\n", n.name, time));
        let p = format!(" {prefix}");
        for c in children(&n.name) {
            emit(out, &p, c, nodes, children);
        }
    }
    let order = |mut v: Vec<usize>| {
        v.sort_by_key(|i| key(&nodes[*i]));
        v
    };
    let children = |name: &str| {
        order(
            (0..nodes.len())
                .filter(|i| nodes[*i].parent.as_deref() == Some(name) && exists(name))
                .collect(),
        )
    };
    let roots = order(
        (0..nodes.len())
            .filter(|i| nodes[*i].parent.as_deref().is_none_or(|p| !exists(p)))
            .collect(),
    );
    for r in roots {
        emit(&mut out, "`->", r, &nodes, &children);
    }
    out
}

/// `format_pending`: `cur`/`new`/`del` lines sorted by key.
pub fn format_pending(conf: &GuestConf) -> String {
    let mut keys: std::collections::BTreeSet<String> = conf.main.keys.keys().cloned().collect();
    keys.extend(conf.pending.keys.keys().filter(|k| *k != "delete").cloned());
    let deletes = conf.pending_deletes();
    let mut out = String::new();
    let enc = |k: &str, v: &str| {
        if k == "description" {
            encode_text(v)
        } else {
            v.to_string()
        }
    };
    let mut all: Vec<String> = keys.into_iter().collect();
    if conf.main.description.is_some() || conf.pending.description.is_some() {
        all.push("description".into());
        all.sort();
    }
    for k in all {
        let cur = if k == "description" {
            conf.main.description.clone()
        } else {
            conf.main.get(&k).map(str::to_string)
        };
        let new = if k == "description" {
            conf.pending.description.clone()
        } else {
            conf.pending.get(&k).map(str::to_string)
        };
        match (cur, new) {
            (Some(v), _) if deletes.contains(&k) => {
                out.push_str(&format!("del {k}: {}\n", enc(&k, &v)))
            }
            (Some(v), Some(p)) => out.push_str(&format!(
                "cur {k}: {}\nnew {k}: {}\n",
                enc(&k, &v),
                enc(&k, &p)
            )),
            (Some(v), None) => out.push_str(&format!("cur {k}: {}\n", enc(&k, &v))),
            (None, Some(p)) => out.push_str(&format!("new {k}: {}\n", enc(&k, &p))),
            (None, None) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::EPOCH_START;

    #[test]
    fn snapshot_trees_match_proxmox_layout() {
        let mut c = GuestConf::default();
        assert_eq!(
            snapshot_tree(&c),
            format!(
                "`-> current{} {:<23} You are here!\n",
                " ".repeat(27 - 7),
                ""
            )
        );
        let mut s1 = Section::default();
        s1.set("snaptime", EPOCH_START.to_string());
        let mut s2 = Section::default();
        s2.set("snaptime", (EPOCH_START + 3600).to_string());
        s2.set("parent", "pre-configured");
        s2.description = Some("before upgrade\n".into());
        c.snapshots.insert("pre-configured".into(), s1);
        c.snapshots.insert("final-form".into(), s2);
        c.main.set("parent", "final-form");
        let t = snapshot_tree(&c);
        let expected = "`-> pre-configured              2026-01-01 00:00:00     no-description\n `-> final-form                 2026-01-01 01:00:00     before upgrade\n  `-> current                                           You are here!\n";
        assert_eq!(t, expected);
    }

    #[test]
    fn deleting_a_snapshot_relinks_parents() {
        let mut c = GuestConf::default();
        let mut a = Section::default();
        a.set("snaptime", "1");
        let mut b = Section::default();
        b.set("parent", "a");
        b.set("snaptime", "2");
        c.snapshots.insert("a".into(), a);
        c.snapshots.insert("b".into(), b);
        c.main.set("parent", "b");
        remove_snapshot(&mut c, "b");
        assert_eq!(c.main.get("parent"), Some("a"));
        remove_snapshot(&mut c, "a");
        assert_eq!(c.main.get("parent"), None);
    }
}
