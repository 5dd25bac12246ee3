//! `pct set` (hot-pluggable options applied, the rest pending) and `pct resize`.

use super::*;

/// Options that apply to a running container at once (`$LXC_FASTPLUG_OPTIONS` plus the
/// hot-pluggable ones).
pub(super) const FASTPLUG: &[&str] = &[
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
pub(super) fn set(ctx: &mut Ctx, args: &[String]) -> R {
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
pub(super) fn apply_pending(
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

pub(super) fn add_unused(conf: &mut GuestConf, volid: &str) {
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

/// `pct resize <vmid> <disk> <size>`: grow only.
pub(super) fn resize(ctx: &mut Ctx, args: &[String]) -> R {
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
