//! `qm snapshot|listsnapshot|delsnapshot|rollback`.

use super::*;

/// Disks that take part in snapshots (no CD-ROMs, no cloud-init).
pub(super) fn snapshot_disks(s: &Section) -> Vec<(String, Drive)> {
    drives(s)
        .into_iter()
        .filter(|(_, d)| !d.is_cdrom() && split_volid(d.file()).is_some())
        .collect()
}

/// `qm snapshot <vmid> <snapname> [--vmstate] [--description]`.
pub(super) fn snapshot(ctx: &mut Ctx, args: &[String]) -> R {
    let (p, id, name) = guest::vmid_and_snapname(
        args,
        &[("description", Kind::Value), ("vmstate", Kind::Bool)],
        &usage("snapshot"),
    )?;
    if name == "current" {
        return Err(die("unable to use snapshot name 'current' (reserved name)"));
    }
    if name.eq_ignore_ascii_case("pending") {
        return Err(die("unable to use snapshot name 'pending' (reserved name)"));
    }
    let mut conf = guest::load(ctx, F, id)?;
    if is_template(&conf) {
        return Err(die("you can't take a snapshot if it's a template"));
    }
    check_lock(&conf, F)?;
    if conf.snapshots.contains_key(&name) {
        return Err(die(format!("snapshot name '{name}' already used")));
    }
    let cfg = StorageCfg::load(&ctx.root);
    let disks = snapshot_disks(&conf.main);
    for (_, d) in &disks {
        let file = d.file();
        let ok =
            crate::state::State::volume_dataset(&cfg, file).is_some() || file.ends_with(".qcow2");
        if !ok {
            return Err(die("snapshot feature is not available"));
        }
    }
    let mut out = String::new();
    for (k, d) in &disks {
        out.push_str(&format!("snapshotting 'drive-{k}' ({})\n", d.file()));
        if let Some(ds) = crate::state::State::volume_dataset(&cfg, d.file()) {
            ctx.state
                .zfs_snapshot(&ctx.root, &format!("{ds}@{name}"))
                .map_err(|e| die(format!("snapshot create failed: starting cleanup\n{e}")))?;
        }
    }
    let fs = vmfs_dir(ctx, id);
    if fs.is_dir() {
        crate::zfs::copy_tree(&fs, &vmfs_snapshot_dir(ctx, id, &name))
            .map_err(|e| die(e.to_string()))?;
    }
    let now = ctx.state.now();
    let mut main = conf.main.clone();
    main.description = None;
    let section = guest::snapshot_section(&main, now, p.get("description"));
    let mut section = section;
    if let Some(d) = section.description.as_mut() {
        *d = d.trim_end().to_string();
    }
    conf.snapshots.insert(name.clone(), section);
    conf.main.set("parent", name);
    guest::save(ctx, F, id, &conf)?;
    Ok(Outcome::ok(Effect::Mutate)
        .out(out)
        .secs(cost(ctx, "qm.snapshot"))
        .guest(id))
}

/// `qm listsnapshot <vmid>`.
pub(super) fn listsnapshot(ctx: &mut Ctx, args: &[String]) -> R {
    let (_, id) = opts(args, "listsnapshot", &[], 1)?;
    let conf = guest::load(ctx, F, id)?;
    Ok(Outcome::read(guest::snapshot_tree(&conf)).guest(id))
}

/// `qm delsnapshot <vmid> <snapname> [--force]`.
pub(super) fn delsnapshot(ctx: &mut Ctx, args: &[String]) -> R {
    let (p, id, name) =
        guest::vmid_and_snapname(args, &[("force", Kind::Bool)], &usage("delsnapshot"))?;
    let mut conf = guest::load(ctx, F, id)?;
    if !conf.snapshots.contains_key(&name) {
        return Err(die(format!("snapshot '{name}' does not exist")));
    }
    if is_template(&conf) {
        return Err(die("you can't delete a snapshot if vm is a template"));
    }
    check_lock(&conf, F)?;
    let cfg = StorageCfg::load(&ctx.root);
    for (_, d) in snapshot_disks(&conf.snapshots[&name].clone()) {
        if let Some(ds) = crate::state::State::volume_dataset(&cfg, d.file()) {
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
    let _ = std::fs::remove_dir_all(vmfs_snapshot_dir(ctx, id, &name));
    guest::remove_snapshot(&mut conf, &name);
    guest::save(ctx, F, id, &conf)?;
    Ok(Outcome::ok(Effect::Mutate)
        .secs(cost(ctx, "qm.snapshot"))
        .guest(id))
}

/// `qm rollback <vmid> <snapname> [--start]`.
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
    check_lock(&conf, F)?;
    let cfg = StorageCfg::load(&ctx.root);
    for (_, d) in snapshot_disks(&snap) {
        let Some(ds) = crate::state::State::volume_dataset(&cfg, d.file()) else {
            continue;
        };
        let all = ctx.state.zfs_snapshots_of(&ds);
        let target = format!("{ds}@{name}");
        if all.last() != Some(&target) {
            return Err(die(format!(
                "can't rollback, '{name}' is not most recent snapshot on '{}'",
                d.file()
            )));
        }
    }
    if ctx.state.running(id) {
        if let Some(rt) = ctx.state.guests.get_mut(&id) {
            rt.running = false;
        }
    }
    for (_, d) in snapshot_disks(&snap) {
        if let Some(ds) = crate::state::State::volume_dataset(&cfg, d.file()) {
            ctx.state
                .zfs_rollback(&ctx.root, &format!("{ds}@{name}"), false)
                .map_err(die)?;
        }
    }
    let saved = vmfs_snapshot_dir(ctx, id, &name);
    if saved.is_dir() {
        let _ = std::fs::remove_dir_all(vmfs_dir(ctx, id));
        crate::zfs::copy_tree(&saved, &vmfs_dir(ctx, id)).map_err(|e| die(e.to_string()))?;
    }
    let mut newconf = GuestConf {
        snapshots: conf.snapshots.clone(),
        special: conf.special.clone(),
        ..GuestConf::default()
    };
    newconf.main.keys = snap
        .keys
        .iter()
        .filter(|(k, _)| *k != "snaptime")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    newconf.main.description = conf.main.description.clone();
    for (k, v) in conf
        .main
        .keys
        .iter()
        .filter(|(k, _)| k.starts_with("unused"))
    {
        newconf.main.set(k, v.clone());
    }
    if newconf.main.get("vmgenid").is_some() {
        newconf.main.set("vmgenid", uuid(ctx, u64::from(id) + 13));
    }
    newconf.main.set("parent", name);
    guest::save(ctx, F, id, &newconf)?;
    let mut o = Outcome::ok(Effect::Mutate)
        .secs(cost(ctx, "qm.snapshot"))
        .guest(id);
    if p.flag("start") {
        let s = start_vm(ctx, id)?;
        o.stdout.push_str(&s.stdout);
        o.secs += s.secs;
    }
    Ok(o)
}
