//! `pct snapshot|listsnapshot|delsnapshot|rollback`.

use super::*;

pub(super) fn snapshot_tree_dir(
    ctx: &Ctx,
    cfg: &StorageCfg,
    volid: &str,
    snap: &str,
) -> Option<PathBuf> {
    let ds = crate::state::State::volume_dataset(cfg, volid)?;
    Some(crate::zfs::snapshot_dir(&ctx.root, &format!("{ds}@{snap}")))
}

/// Whether every mount point can be snapshotted (zfspool volumes only).
pub(super) fn snapshot_supported(ctx: &Ctx, conf: &Section) -> bool {
    let cfg = StorageCfg::load(&ctx.root);
    mountpoints(conf).iter().all(|m| {
        m.kind() == MpKind::Volume && crate::state::State::volume_dataset(&cfg, &m.volume).is_some()
    })
}

/// `pct snapshot <vmid> <snapname> [--description]`.
pub(super) fn snapshot(ctx: &mut Ctx, args: &[String]) -> R {
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
pub(super) fn listsnapshot(ctx: &mut Ctx, args: &[String]) -> R {
    let (_, id) = opts(args, "listsnapshot", &[], 1)?;
    let conf = guest::load(ctx, F, id)?;
    Ok(Outcome::read(guest::snapshot_tree(&conf)).guest(id))
}

/// `pct delsnapshot <vmid> <snapname> [--force]`.
pub(super) fn delsnapshot(ctx: &mut Ctx, args: &[String]) -> R {
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
pub(super) fn rollback(ctx: &mut Ctx, args: &[String]) -> R {
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
