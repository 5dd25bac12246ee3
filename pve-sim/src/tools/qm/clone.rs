//! `qm clone` and `qm template`.

use super::*;

/// `qm clone <vmid> <newid>`.
pub(super) fn clone(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("clone");
    let spec = [
        ("full", Kind::Bool),
        ("name", Kind::Value),
        ("description", Kind::Value),
        ("snapname", Kind::Value),
        ("storage", Kind::Value),
        ("format", Kind::Value),
        ("target", Kind::Value),
        ("pool", Kind::Value),
        ("bwlimit", Kind::Value),
    ];
    let p = parse_opts(args, &spec, &|_| None, &u)?;
    positionals(&p, 2, &u)?;
    let src = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let new = check::vmid(&p.positional[1]).map_err(|e| param_error(&[("newid".into(), e)], &u))?;
    if let Some(n) = p.get("name") {
        check::dns_name(n).map_err(|e| param_error(&[("name".into(), e)], &u))?;
    }
    if let Some(s) = p.get("snapname") {
        check::snapname(s).map_err(|e| param_error(&[("snapname".into(), e)], &u))?;
    }
    let conf = guest::load(ctx, F, src)?;
    let cfg = StorageCfg::load(&ctx.root);
    if let Some(s) = p.get("storage") {
        match cfg.get(s) {
            None => return Err(die(format!("storage '{s}' does not exist"))),
            Some(st) if !st.has_content("images") => {
                return Err(param_error(
                    &[(
                        "storage".into(),
                        format!("storage '{s}' does not support vm images"),
                    )],
                    &u,
                ));
            }
            _ => {}
        }
    }
    check_lock(&conf, F)?;
    let snapname = p.get("snapname").map(str::to_string);
    let source = match &snapname {
        Some(s) => conf
            .snapshots
            .get(s)
            .cloned()
            .ok_or_else(|| die(format!("snapshot '{s}' does not exist")))?,
        None => conf.main.clone(),
    };
    let full = p.get("full").map_or(!is_template(&conf), |f| f == "1");
    if !full && p.has("storage") {
        return Err(die("parameter 'storage' not allowed for linked clones"));
    }
    if !full && p.has("format") {
        return Err(die("parameter 'format' not allowed for linked clones"));
    }
    if let Some(k) = guest::existing_kind(ctx, new) {
        if k == "CT" {
            return Err(die(format!(
                "CT {new} already exists on node '{}'",
                ctx.state.node
            )));
        }
        return Err(die(format!(
            "unable to create VM {new}: config file already exists"
        )));
    }
    // Which disks can be cloned how.
    for (k, d) in drives(&source) {
        if d.is_cdrom() && !d.is_cloudinit() {
            continue;
        }
        if d.is_cloudinit() || k == "tpmstate0" {
            continue;
        }
        let file = d.file();
        let Some((sid, vname)) = split_volid(file) else {
            continue;
        };
        let st = cfg.get(sid);
        let snap_msg = if snapname.is_some() {
            " a snapshot of"
        } else {
            ""
        };
        if full {
            if snapname.is_some() && st.is_some_and(|s| s.kind != "zfspool") {
                return Err(die(format!(
                    "Full clone feature is not supported for{snap_msg} '{file}' ({k})"
                )));
            }
        } else {
            // pve-storage ZFSPoolPlugin.pm parse_volname: a base volume is one whose own name
            // is `base-…`, also below another base (a template made from a linked clone).
            let base = parse_volname(vname).is_some_and(|v| v.prefix == "base");
            if !base || st.is_none_or(|s| s.kind != "zfspool") {
                return Err(die(format!(
                    "Linked clone feature is not supported for{snap_msg} '{file}' ({k})"
                )));
            }
        }
    }
    let mut out = format!("creating a clone of VM {src} with ID {new}\n");
    let mut stderr = String::new();
    if !conf.pending.keys.is_empty() && snapname.is_none() {
        for k in conf.pending.keys.keys() {
            stderr.push_str(&format!(
                "found pending changes for '{k}', discarding for clone\n"
            ));
        }
    }
    let mut newconf = GuestConf::default();
    let mut secs = 0.0;
    let mut lock_storage = None;
    for (k, v) in &source.keys {
        if k.starts_with("unused")
            || matches!(
                k.as_str(),
                "parent"
                    | "snaptime"
                    | "vmstate"
                    | "snapstate"
                    | "runningcpu"
                    | "runningmachine"
                    | "running-nets-host-mtu"
                    | "template"
                    | "lock"
            )
        {
            continue;
        }
        if is_drive(k) {
            let Some(mut d) = Drive::parse(v) else {
                continue;
            };
            if d.is_cdrom() && !d.is_cloudinit() || split_volid(d.file()).is_none() {
                newconf.main.set(k, v.clone());
                continue;
            }
            let file = d.file().to_string();
            let sid = split_volid(&file)
                .map(|(a, _)| a.to_string())
                .unwrap_or_default();
            let target = p.get("storage").map_or(sid.clone(), str::to_string);
            let is_ci = d.is_cloudinit();
            let clone_full = full || is_ci;
            out.push_str(&format!(
                "create {} clone of drive {k} ({file})\n",
                if clone_full { "full" } else { "linked" }
            ));
            let size = ctx.state.volume_size(&ctx.root, &cfg, &file).unwrap_or(0);
            let new_volid = if is_ci {
                let vid = alloc_vm_volume(ctx, &cfg, &target, new, 4 << 20, true)
                    .map_err(|e| die(format!("clone failed: {e}")))?;
                d.ps.set("size", "4M");
                vid
            } else if clone_full {
                let vid = alloc_vm_volume(ctx, &cfg, &target, new, size, false)
                    .map_err(|e| die(format!("clone failed: {e}")))?;
                for pct in [0u64, 100] {
                    out.push_str(&format!(
                        "transferred {} of {} ({pct}.00%)\n",
                        render_bytes(size * pct / 100),
                        render_bytes(size)
                    ));
                }
                secs += cost(ctx, "qm.clone.full_per_gb") * size as f64 / f64::from(1u32 << 30);
                d.ps.set("size", format_size(size));
                vid
            } else {
                let volid = ctx
                    .state
                    .clone_image(&ctx.root, &cfg, &file, new, false)
                    .map_err(|e| die(format!("clone failed: {e}")))?;
                secs += cost(ctx, "qm.clone.linked");
                volid
            };
            lock_storage = Some(target);
            d.ps.set("file", new_volid);
            newconf.main.set(k, d.print());
        } else if k.starts_with("net") {
            let (model, _, rest) = parse_net(v).map_err(die)?;
            let salt =
                u64::from(new) * 100 + k.trim_start_matches("net").parse::<u64>().unwrap_or(0);
            let m = mac(ctx, salt);
            newconf.main.set(k, print_net(&model, &m, &rest));
        } else if k == "smbios1" {
            let mut ps = PropStr::parse(v, None).unwrap_or_default();
            ps.set("uuid", uuid(ctx, u64::from(new)));
            newconf.main.set(k, ps.print(&[], false));
        } else if k == "vmgenid" {
            newconf.main.set(k, uuid(ctx, u64::from(new) + 7));
        } else {
            newconf.main.set(k, v.clone());
        }
    }
    newconf.main.description = source.description.clone();
    newconf.main.set(
        "name",
        p.get("name").map_or_else(
            || {
                format!(
                    "Copy-of-VM-{}",
                    source.get("name").map_or(src.to_string(), str::to_string)
                )
            },
            str::to_string,
        ),
    );
    if let Some(d) = p.get("description") {
        newconf.main.description = Some(d.to_string());
    }
    if newconf.main.get("smbios1").is_none() {
        newconf
            .main
            .set("smbios1", format!("uuid={}", uuid(ctx, u64::from(new))));
    }
    // qemu-server src/PVE/API2/Qemu.pm `clone_vm`: the new VM is written with `lock: clone`
    // (removed when the copy is done) and the source's config flock is held throughout,
    // shared when it is stopped, exclusive when it runs (`$lock_source_vm`).
    newconf.main.set("lock", "clone");
    guest::save(ctx, F, new, &newconf)?;
    let fw = ctx.root.firewall(src);
    if fw.is_file() {
        let _ = std::fs::copy(&fw, ctx.root.firewall(new));
    }
    // The guest's file system comes along.
    let from = match &snapname {
        Some(s) => vmfs_snapshot_dir(ctx, src, s),
        None => vmfs_dir(ctx, src),
    };
    if from.is_dir() {
        crate::zfs::copy_tree(&from, &vmfs_dir(ctx, new))
            .map_err(|e| die(format!("clone failed: {e}")))?;
    }
    let mut o = Outcome {
        stderr,
        ..Outcome::ok(Effect::Mutate)
    }
    .out(out)
    .secs(secs.max(cost(ctx, "qm.clone.linked")))
    .guest(new)
    .hold(crate::state::Hold {
        vm: true,
        guest: new,
        lock: Some("clone".into()),
        ..Default::default()
    })
    .hold(crate::state::Hold {
        vm: true,
        guest: src,
        flock_shared: Some(!ctx.state.running(src)),
        ..Default::default()
    });
    if let Some(s) = lock_storage {
        o = o.storage(s);
    }
    Ok(o)
}

/// `qm template <vmid>`: disks become `base-…` with `@__base__`; task errors exit 0.
pub(super) fn template(ctx: &mut Ctx, args: &[String]) -> R {
    let (p, id) = opts(args, "template", &[("disk", Kind::Value)], 1)?;
    let mut conf = guest::load(ctx, F, id)?;
    check_lock(&conf, F)?;
    if !conf.snapshots.is_empty() {
        return Err(die(
            "unable to create template, because VM contains snapshots",
        ));
    }
    if is_template(&conf) && !p.has("disk") {
        return Err(die("you can't convert a template to a template"));
    }
    if ctx.state.running(id) {
        return Err(die("you can't convert a VM to template if VM is running"));
    }
    let cfg = StorageCfg::load(&ctx.root);
    conf.main.set("template", "1");
    for (k, mut d) in drives(&conf.main) {
        if d.is_cdrom() || p.get("disk").is_some_and(|x| x != k) {
            continue;
        }
        let file = d.file().to_string();
        let Some((sid, vname)) = split_volid(&file) else {
            continue;
        };
        let Some(st) = cfg.get(sid) else { continue };
        if parse_volname(vname).is_some_and(|v| v.prefix == "base") {
            continue;
        }
        let mut newname = vname.replacen("vm-", "base-", 1);
        match st.kind.as_str() {
            "zfspool" => {
                let pool = st.pool().unwrap_or_default().to_string();
                let Some((name, newds, newvol)) = crate::storage::create_base_names(vname) else {
                    continue;
                };
                newname = newvol;
                if let Err(e) = ctx.state.zfs_rename(
                    &ctx.root,
                    &format!("{pool}/{name}"),
                    &format!("{pool}/{newds}"),
                ) {
                    guest::save(ctx, F, id, &conf)?;
                    return Ok(
                        task_error_exit0(format!("zfs error: {e}"), Effect::Mutate).guest(id)
                    );
                }
                ctx.state
                    .zfs_snapshot(&ctx.root, &format!("{pool}/{newds}@__base__"))
                    .map_err(die)?;
            }
            _ => {
                let Some(old_path) = ctx.state.volume_path(&ctx.root, &cfg, &file) else {
                    continue;
                };
                let new_file = format!("{sid}:{newname}");
                if let Some(new_path) = ctx.state.volume_path(&ctx.root, &cfg, &new_file) {
                    let _ = std::fs::rename(&old_path, &new_path);
                    let _ = std::fs::rename(
                        old_path.with_extension(format!(
                            "{}.size",
                            old_path
                                .extension()
                                .map(|e| e.to_string_lossy().into_owned())
                                .unwrap_or_default()
                        )),
                        new_path.with_extension(format!(
                            "{}.size",
                            new_path
                                .extension()
                                .map(|e| e.to_string_lossy().into_owned())
                                .unwrap_or_default()
                        )),
                    );
                }
            }
        }
        d.ps.set("file", format!("{sid}:{newname}"));
        conf.main.set(&k, d.print());
    }
    guest::save(ctx, F, id, &conf)?;
    Ok(Outcome::ok(Effect::Mutate)
        .secs(cost(ctx, "qm.template"))
        .guest(id))
}
