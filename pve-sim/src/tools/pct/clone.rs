//! `pct clone` and `pct template`.

use super::*;

/// `pct clone <vmid> <newid>`.
pub(super) fn clone(ctx: &mut Ctx, args: &[String]) -> R {
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

/// `pct template <vmid>`: renames volumes to `basevol-`, snapshots `@__base__`.
pub(super) fn template(ctx: &mut Ctx, args: &[String]) -> R {
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
