//! `zpool`: `list`, `status`, `create`, `destroy`.
//!
//! Block devices come from the simulated host's inventory (`pve-sim init`, `state.json`
//! `disks`); a device carrying a ZFS label or a file system is refused the way `zpool create`
//! refuses it, and becomes a `zfs_member` of the new pool.

use std::collections::BTreeMap;

use crate::Ctx;
use crate::outcome::{Effect, Outcome};
use crate::state::{DsKind, Pool};
use crate::tools::getopt;
use crate::tools::zfs::nicenum_bytes;

const USAGE: &[(&str, &str)] = &[
    (
        "create",
        "create [-fnd] [-o property=value] ... \n\t    [-O file-system-property=value] ... \n\t    [-m mountpoint] [-R root] <pool> <vdev> ...",
    ),
    ("destroy", "destroy [-f] <pool>"),
    (
        "list",
        "list [-gHLpPv] [-o property[,...]] [-T d|u] [pool] ... \n\t    [interval [count]]",
    ),
    (
        "status",
        "status [-c [script1,script2,...]] [-igLpPstvxD]  [-T d|u] [pool] ... \n\t    [interval [count]]",
    ),
];

fn usage_error(cmd: &str, msg: &str) -> Outcome {
    let u = USAGE.iter().find(|(c, _)| *c == cmd).map_or("", |(_, u)| u);
    let mut o = Outcome::refuse(format!("{msg}\nusage:\n\t{u}\n"));
    o.code = 2;
    o
}

fn fail(msg: impl Into<String>) -> Outcome {
    let mut o = Outcome::refuse(msg);
    o.code = 1;
    o
}

/// Runs `zpool <args>`.
pub fn run(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let Some(cmd) = args.first() else {
        let mut s = "usage: zpool command args ...\nwhere 'command' is one of the following:\n\n"
            .to_string();
        for (_, u) in USAGE {
            s.push_str(&format!("\t{u}\n"));
        }
        let mut o = Outcome::refuse(s);
        o.code = 2;
        return o;
    };
    let rest = &args[1..];
    let r = match cmd.as_str() {
        "list" => list(ctx, rest),
        "status" => status(ctx, rest),
        "create" => create(ctx, rest),
        "destroy" => destroy(ctx, rest),
        other => {
            let mut o = Outcome::refuse(format!("unrecognized command '{other}'\n"));
            o.code = 2;
            return o;
        }
    };
    r.unwrap_or_else(|o| o)
}

type R = Result<Outcome, Outcome>;

/// Usable size of a layout over member sizes.
fn usable(layout: &str, sizes: &[u64]) -> u64 {
    let min = sizes.iter().copied().min().unwrap_or(0);
    let n = sizes.len() as u64;
    match layout {
        "mirror" => min,
        "raidz1" => min * n.saturating_sub(1),
        "raidz2" => min * n.saturating_sub(2),
        "raidz3" => min * n.saturating_sub(3),
        _ => sizes.iter().sum(),
    }
}

/// `zpool create [-f] [-o k=v] [-O k=v] [-m mp] <pool> [mirror|raidz…] <devs>…`.
fn create(ctx: &mut Ctx, args: &[String]) -> R {
    let g = getopt(args, "fndo:O:m:R:t:").map_err(|e| usage_error("create", &e))?;
    let Some((pool, vdevs)) = g.operands.split_first() else {
        return Err(usage_error("create", "missing pool name argument"));
    };
    if vdevs.is_empty() {
        return Err(usage_error("create", "missing vdev specification"));
    }
    if !pool.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) || pool.contains(['/', '@']) {
        return Err(fail(format!(
            "cannot create '{pool}': invalid character in pool name"
        )));
    }
    if ctx.state.zfs.pools.contains_key(pool.as_str()) {
        return Err(fail(format!("cannot create '{pool}': pool already exists")));
    }
    let (layout, devs): (String, &[String]) = match vdevs[0].as_str() {
        "mirror" => ("mirror".into(), &vdevs[1..]),
        "raidz" | "raidz1" => ("raidz1".into(), &vdevs[1..]),
        "raidz2" => ("raidz2".into(), &vdevs[1..]),
        "raidz3" => ("raidz3".into(), &vdevs[1..]),
        _ => ("stripe".into(), vdevs),
    };
    if let Some(k) = devs.iter().find(|d| {
        matches!(
            d.as_str(),
            "mirror" | "raidz" | "raidz1" | "raidz2" | "raidz3"
        )
    }) {
        return Err(fail(format!(
            "invalid vdev specification\nuse '-f' to override the following errors:\nmismatched replication level: both {layout} and {k} vdevs are present"
        )));
    }
    let min = match layout.as_str() {
        "mirror" => 2,
        "raidz1" => 2,
        "raidz2" => 3,
        "raidz3" => 4,
        _ => 1,
    };
    if devs.len() < min {
        return Err(fail(format!(
            "invalid vdev specification: {layout} requires at least {min} devices"
        )));
    }
    let mut resolved = Vec::new();
    for d in devs {
        let path = if d.starts_with('/') {
            d.clone()
        } else {
            format!("/dev/{d}")
        };
        if !ctx.state.disks.contains_key(&path) {
            if d.starts_with('/') {
                return Err(fail(format!("cannot resolve path '{d}'")));
            }
            return Err(fail(format!(
                "cannot open '{d}': no such device in /dev\nmust be a full path or shorthand device name"
            )));
        }
        resolved.push(path);
    }
    let mut hard = Vec::new();
    let mut soft = Vec::new();
    for p in &resolved {
        let disk = &ctx.state.disks[p];
        match (disk.signature.as_deref(), disk.label.as_deref()) {
            (Some("zfs_member"), Some(l)) if ctx.state.zfs.pools.contains_key(l) => {
                hard.push(format!("{p} is part of active pool '{l}'"))
            }
            (Some("zfs_member"), l) => soft.push(format!(
                "{p} is part of exported pool '{}'",
                l.unwrap_or("unknown")
            )),
            (Some(fs), _) => soft.push(format!("{p} contains a filesystem of type '{fs}'")),
            (None, _) => {}
        }
    }
    if !hard.is_empty() {
        return Err(fail(format!(
            "invalid vdev specification\nthe following errors must be manually repaired:\n{}",
            hard.join("\n")
        )));
    }
    if !soft.is_empty() && !g.has('f') {
        return Err(fail(format!(
            "invalid vdev specification\nuse '-f' to override the following errors:\n{}",
            soft.join("\n")
        )));
    }
    let mut pool_props = BTreeMap::new();
    for kv in g.values('o') {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| usage_error("create", "missing '=' for -o option"))?;
        if !matches!(
            k,
            "ashift"
                | "autotrim"
                | "autoexpand"
                | "autoreplace"
                | "cachefile"
                | "comment"
                | "failmode"
                | "listsnapshots"
                | "compatibility"
        ) && !k.starts_with("feature@")
        {
            return Err(fail(format!(
                "property '{k}' is not a valid pool or vdev property"
            )));
        }
        pool_props.insert(k.to_string(), v.to_string());
    }
    let mut fs_props = BTreeMap::new();
    for kv in g.values('O') {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| usage_error("create", "missing '=' for -O option"))?;
        if !crate::zfs::known_property(k) {
            return Err(fail(format!(
                "cannot create '{pool}': invalid property '{k}'"
            )));
        }
        fs_props.insert(k.to_string(), v.to_string());
    }
    if let Some(m) = g.value('m') {
        fs_props.insert("mountpoint".into(), m.to_string());
    }
    if g.has('n') {
        return Ok(Outcome::read(format!(
            "would create '{pool}' with the following layout:\n\n"
        )));
    }
    let sizes: Vec<u64> = resolved.iter().map(|p| ctx.state.disks[p].size).collect();
    let size = usable(&layout, &sizes);
    ctx.state.zfs.pools.insert(
        pool.clone(),
        Pool {
            layout,
            disks: devs.to_vec(),
            props: pool_props,
            size,
        },
    );
    if let Err(e) = ctx
        .state
        .zfs_create(&ctx.root, pool, DsKind::Filesystem, fs_props)
    {
        ctx.state.zfs.pools.remove(pool.as_str());
        return Err(fail(e));
    }
    for p in &resolved {
        if let Some(d) = ctx.state.disks.get_mut(p) {
            d.signature = Some("zfs_member".into());
            d.label = Some(pool.clone());
            d.partitions = true;
        }
    }
    Ok(Outcome::ok(Effect::Mutate).secs(ctx.knobs.cost("zpool.create")))
}

/// `zpool destroy [-f] <pool>`.
fn destroy(ctx: &mut Ctx, args: &[String]) -> R {
    let g = getopt(args, "f").map_err(|e| usage_error("destroy", &e))?;
    let [pool] = g.operands.as_slice() else {
        return Err(usage_error(
            "destroy",
            if g.operands.is_empty() {
                "missing pool argument"
            } else {
                "too many arguments"
            },
        ));
    };
    if !ctx.state.zfs.pools.contains_key(pool.as_str()) {
        return Err(fail(format!("cannot open '{pool}': no such pool")));
    }
    let names: Vec<String> = ctx
        .state
        .zfs
        .datasets
        .keys()
        .filter(|k| crate::zfs::pool_of(k) == pool)
        .cloned()
        .collect();
    for n in names.iter().rev() {
        if let Some(dir) = ctx.state.zfs_mount_dir(&ctx.root, n) {
            let _ = std::fs::remove_dir_all(dir);
        }
        ctx.state.zfs.datasets.remove(n);
    }
    let snaps: Vec<String> = ctx
        .state
        .zfs
        .snapshots
        .keys()
        .filter(|k| crate::zfs::pool_of(k) == pool)
        .cloned()
        .collect();
    for s in snaps {
        ctx.state.zfs.snapshots.remove(&s);
        let _ = std::fs::remove_dir_all(crate::zfs::snapshot_dir(&ctx.root, &s));
    }
    ctx.state.zfs.pools.remove(pool.as_str());
    for d in ctx.state.disks.values_mut() {
        if d.label.as_deref() == Some(pool.as_str()) {
            // The label stays until wiped: the disk now belongs to a destroyed (exported) pool.
            d.label = Some(pool.clone());
        }
    }
    Ok(Outcome::ok(Effect::Mutate))
}

/// `zpool list [-H] [-p] [-o props] [pool…]`.
fn list(ctx: &mut Ctx, args: &[String]) -> R {
    let g = getopt(args, "gHLpPvo:T:").map_err(|e| usage_error("list", &e))?;
    let props: Vec<String> = g.value('o').unwrap_or("name,size,allocated,free,checkpoint,expandsize,fragmentation,capacity,dedupratio,health,altroot").split(',').map(str::to_string).collect();
    let pools: Vec<String> = if g.operands.is_empty() {
        ctx.state.zfs.pools.keys().cloned().collect()
    } else {
        for p in &g.operands {
            if !ctx.state.zfs.pools.contains_key(p.as_str()) {
                return Err(fail(format!("cannot open '{p}': no such pool")));
            }
        }
        g.operands.clone()
    };
    if pools.is_empty() {
        return Ok(Outcome {
            stderr: "no pools available\n".into(),
            ..Outcome::ok(Effect::Read)
        });
    }
    let p = g.has('p');
    let size = |n: u64| if p { n.to_string() } else { nicenum_bytes(n) };
    let mut rows = Vec::new();
    for name in &pools {
        let pool = &ctx.state.zfs.pools[name];
        let alloc = ctx.state.zfs_used_total(&ctx.root, name).min(pool.size);
        let cap = (alloc * 100).checked_div(pool.size).unwrap_or(0);
        let mut row = Vec::new();
        for prop in &props {
            let v = match prop.as_str() {
                "name" => name.clone(),
                "size" => size(pool.size),
                "allocated" | "alloc" => size(alloc),
                "free" => size(pool.size - alloc),
                "checkpoint" | "ckpoint" | "expandsize" | "expandsz" | "altroot" => "-".into(),
                "fragmentation" | "frag" => {
                    if p {
                        "0".into()
                    } else {
                        "0%".into()
                    }
                }
                "capacity" | "cap" => {
                    if p {
                        cap.to_string()
                    } else {
                        format!("{cap}%")
                    }
                }
                "dedupratio" | "dedup" => {
                    if p {
                        "1.00".into()
                    } else {
                        "1.00x".into()
                    }
                }
                "health" => "ONLINE".into(),
                other => pool.props.get(other).cloned().unwrap_or_else(|| "-".into()),
            };
            row.push(v);
        }
        rows.push(row);
    }
    if g.has('H') {
        return Ok(Outcome::read(
            rows.iter().map(|r| r.join("\t") + "\n").collect::<String>(),
        ));
    }
    let headers: Vec<String> = props
        .iter()
        .map(|p| match p.as_str() {
            "allocated" => "ALLOC".into(),
            "checkpoint" => "CKPOINT".into(),
            "expandsize" => "EXPANDSZ".into(),
            "fragmentation" => "FRAG".into(),
            "capacity" => "CAP".into(),
            "dedupratio" => "DEDUP".into(),
            o => o.to_ascii_uppercase(),
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(String::len).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let right = |p: &str| {
        matches!(
            p,
            "size"
                | "allocated"
                | "free"
                | "checkpoint"
                | "expandsize"
                | "fragmentation"
                | "capacity"
                | "dedupratio"
        )
    };
    let line = |cells: &[String]| {
        let n = cells.len();
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths[i];
            let cell = if right(&props[i]) {
                format!("{c:>w$}")
            } else if i + 1 == n {
                c.clone()
            } else {
                format!("{c:<w$}")
            };
            s.push_str(&cell);
            if i + 1 < n {
                s.push_str("  ");
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(&headers);
    for r in &rows {
        out.push_str(&line(r));
    }
    Ok(Outcome::read(out))
}

/// The device name `zpool status` shows (`/dev/sdb` → `sdb`, by-id paths → their last part).
fn shown(dev: &str) -> String {
    dev.rsplit('/').next().unwrap_or(dev).to_string()
}

/// `zpool status [pool…]`.
fn status(ctx: &mut Ctx, args: &[String]) -> R {
    let g = getopt(args, "c:igLpPstvxDT:").map_err(|e| usage_error("status", &e))?;
    let pools: Vec<String> = if g.operands.is_empty() {
        ctx.state.zfs.pools.keys().cloned().collect()
    } else {
        for p in &g.operands {
            if !ctx.state.zfs.pools.contains_key(p.as_str()) {
                return Err(fail(format!("cannot open '{p}': no such pool")));
            }
        }
        g.operands.clone()
    };
    if pools.is_empty() {
        return Ok(Outcome {
            stderr: "no pools available\n".into(),
            ..Outcome::ok(Effect::Read)
        });
    }
    let mut out = String::new();
    for (i, name) in pools.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let pool = &ctx.state.zfs.pools[name];
        let grouped = pool.layout != "stripe";
        let vdev = format!("{}-0", pool.layout);
        let leaf_depth = if grouped { 4 } else { 2 };
        let mut width = name.len().max(10);
        if grouped {
            width = width.max(vdev.len() + 2);
        }
        for d in &pool.disks {
            width = width.max(shown(d).len() + leaf_depth);
        }
        let row = |depth: usize, n: &str| {
            format!(
                "\t{:depth$}{:<w$}  {:<8} {:>5} {:>5} {:>5}\n",
                "",
                n,
                "ONLINE",
                "0",
                "0",
                "0",
                w = width - depth
            )
        };
        out.push_str(&format!("  pool: {name}\n state: ONLINE\nconfig:\n\n"));
        out.push_str(&format!(
            "\t{:<width$}  {:<8} {:>5} {:>5} {:>5}\n",
            "NAME", "STATE", "READ", "WRITE", "CKSUM"
        ));
        out.push_str(&row(0, name));
        if grouped {
            out.push_str(&row(2, &vdev));
        }
        for d in &pool.disks {
            out.push_str(&row(leaf_depth, &shown(d)));
        }
        out.push_str("\nerrors: No known data errors\n");
    }
    Ok(Outcome::read(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_size_like_zfs() {
        assert_eq!(usable("mirror", &[100, 120]), 100);
        assert_eq!(usable("raidz1", &[100, 100, 100]), 200);
        assert_eq!(usable("stripe", &[100, 50]), 150);
    }
}
