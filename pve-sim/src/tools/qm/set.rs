//! `qm set`: hot-pluggable options applied, the rest pending until a restart.

use super::*;

/// `qm set <vmid> [OPTIONS]`.
pub(super) fn set(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("set");
    let mut spec: Vec<(&str, Kind)> = OPTIONS.to_vec();
    spec.extend([
        ("delete", Kind::Value),
        ("revert", Kind::Value),
        ("digest", Kind::Value),
        ("force", Kind::Bool),
        ("skiplock", Kind::Bool),
    ]);
    let p = parse_opts(args, &spec, &numbered, &u)?;
    positionals(&p, 1, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let mut values = validate_all(&p, &["delete", "revert", "digest", "force", "skiplock"], &u)?;
    let deletes: Vec<String> = split_list(p.get("delete"))
        .into_iter()
        .map(|d| if d == "cdrom" { "ide2".into() } else { d })
        .collect();
    let reverts = split_list(p.get("revert"));
    if values.is_empty() && deletes.is_empty() && reverts.is_empty() {
        return Err(die("no options specified"));
    }
    for o in &reverts {
        if !exists(o) {
            return Err(param_error(
                &[("revert".into(), format!("unknown option '{o}'"))],
                &u,
            ));
        }
    }
    for o in &deletes {
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
                    "revert".into(),
                    format!("you can't use '-delete {o}' and -revert {o}' at the same time"),
                )],
                &u,
            ));
        }
        if !exists(o) {
            return Err(param_error(
                &[("delete".into(), format!("unknown option '{o}'"))],
                &u,
            ));
        }
    }
    // The log line, as typed (cipassword hidden).
    let mut logged: Vec<(String, String)> = p
        .opts
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "digest" | "skiplock"))
        .map(|(k, v)| {
            (
                k.clone(),
                if k == "cipassword" {
                    "<hidden>".into()
                } else {
                    v.clone()
                },
            )
        })
        .collect();
    logged.sort();
    let mut conf = guest::load(ctx, F, id)?;
    if let Some(d) = p.get("digest") {
        let cur = sha1_smol::Sha1::from(conf.render(F)).digest().to_string();
        if d != cur {
            return Err(die("checksum mismatch (file change by other user?)"));
        }
    }
    if !p.flag("skiplock") {
        check_lock(&conf, F)?;
    }
    check_cicustom(ctx, values.get("cicustom"))?;
    if let Some(path) = values.get("sshkeys").cloned() {
        let keys = std::fs::read_to_string(&path)
            .map_err(|_| die(format!("unable to read file '{path}'")))?;
        values.insert("sshkeys".into(), uri_escape(&keys));
    }
    // Normalisation: MACs, vmgenid, boot order.
    let mut salt = 0;
    for (k, v) in values.clone() {
        if k.starts_with("net") {
            salt += 1;
            let (model, mac_given, rest) = parse_net(&v).map_err(die)?;
            let m = mac_given.unwrap_or_else(|| mac(ctx, u64::from(id) * 1000 + salt));
            values.insert(k, print_net(&model, &m, &rest));
        }
    }
    if values.get("vmgenid").is_some_and(|v| v == "1") {
        values.insert("vmgenid".into(), uuid(ctx, u64::from(id) + 11));
    }
    if let Some(b) = values.get("boot").cloned() {
        if let Ok(ps) = PropStr::parse(&b, Some("legacy")) {
            if let Some(order) = ps.get("order") {
                let merged = conf.with_pending();
                for dev in order.split([';', ',']).filter(|d| !d.is_empty()) {
                    if merged.get(dev).is_none() && !values.contains_key(dev) {
                        return Err(die(format!(
                            "invalid bootorder: device '{dev}' does not exist'"
                        )));
                    }
                }
                if merged.get("bootdisk").is_some() && !values.contains_key("bootdisk") {
                    conf.add_pending_delete("bootdisk");
                }
            }
        }
    }
    let cfg = StorageCfg::load(&ctx.root);
    let running = ctx.state.running(id);
    let protected = conf.main.get("protection") == Some("1");
    let mut out = format!(
        "update VM {id}: {}\n",
        logged
            .iter()
            .map(|(k, v)| format!("-{k} {v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut stderr = String::new();
    for o in &reverts {
        conf.pending.remove(o);
        conf.remove_pending_delete(o);
    }
    for o in &deletes {
        if conf.main.get(o).is_none()
            && conf.pending.get(o).is_none()
            && !(o == "description" && conf.main.description.is_some())
        {
            stderr.push_str(&format!(
                "cannot delete '{o}' - not set in current configuration!\n"
            ));
            continue;
        }
        if protected && (o.starts_with("unused") || is_drive(o)) {
            let what = if o.starts_with("unused") {
                format!("unused disk '{}'", conf.main.get(o).unwrap_or(""))
            } else {
                format!("drive '{o}'")
            };
            return Err(die(format!(
                "can't remove {what} - protection mode enabled"
            )));
        }
        if o == "description" && conf.main.get(o).is_none() {
            conf.main.description = None;
            continue;
        }
        conf.add_pending_delete(o);
    }
    for (k, v) in &values {
        if k == "cipassword" {
            let windows = conf.main.get("ostype").is_some_and(|o| o.starts_with('w'));
            let hashed = if windows
                || v.starts_with("$5$")
                || v.starts_with("$6$")
                || v.starts_with("$1$")
            {
                v.clone()
            } else {
                encrypt_pw(v, ctx.state.seq)
            };
            record_ci_change(&mut conf, k, running);
            conf.main.set(k, hashed);
            continue;
        }
        if is_drive(k) {
            if protected && conf.main.get(k).is_some() {
                return Err(die(format!(
                    "can't update drive '{k}' - protection mode enabled"
                )));
            }
            let (val, line) = prepare_drive(ctx, &cfg, id, k, v, &conf)?;
            if let Some(l) = line {
                out.push_str(&l);
            }
            conf.pending.set(k, val);
        } else if k == "description" {
            conf.pending.description = Some(v.clone());
        } else {
            conf.pending.set(k, v.clone());
        }
        conf.remove_pending_delete(k);
    }
    let modified: Vec<String> = values
        .keys()
        .cloned()
        .chain(deletes.iter().cloned())
        .collect();
    if running {
        hotplug_pending(ctx, id, &mut conf, &cfg, &modified, p.flag("force"))?;
    } else {
        apply_pending(ctx, &mut conf, &cfg, p.flag("force"))?;
    }
    guest::save(ctx, F, id, &conf)?;
    Ok(Outcome {
        stderr,
        ..Outcome::ok(Effect::Mutate)
    }
    .out(out)
    .secs(cost(ctx, "qm.set"))
    .guest(id))
}

/// Records the old value of a cloud-init relevant key in `[special:cloudinit]` while running.
pub(super) fn record_ci_change(conf: &mut GuestConf, key: &str, running: bool) {
    let relevant = CLOUDINIT_KEYS.contains(&key)
        || key == "name"
        || key.starts_with("net")
        || key.starts_with("ipconfig");
    if !running || !relevant || cloudinit_drive(&conf.main).is_none() {
        return;
    }
    let special = conf.special.entry("cloudinit".into()).or_default();
    if special.get(key).is_some()
        || special
            .get("added")
            .is_some_and(|a| a.split(',').any(|x| x == key))
    {
        return;
    }
    match conf.main.get(key) {
        Some(old) => special.set(key, old.to_string()),
        None => {
            let mut added: Vec<String> = special
                .get("added")
                .map(|a| a.split(',').map(str::to_string).collect())
                .unwrap_or_default();
            added.push(key.to_string());
            special.set("added", added.join(","));
        }
    }
}

/// `vmconfig_apply_pending`: everything takes effect (stopped VM).
pub(super) fn apply_pending(
    ctx: &mut Ctx,
    conf: &mut GuestConf,
    cfg: &StorageCfg,
    force: bool,
) -> Result<(), Outcome> {
    for k in conf.pending_deletes() {
        if let Some(old) = conf.main.get(&k).map(str::to_string) {
            if k.starts_with("unused") {
                ctx.state
                    .volume_free(&ctx.root, cfg, &old)
                    .map_err(|e| die(format!("unable to delete '{k}' - {e}")))?;
            } else if is_drive(&k) {
                let id = owner_hint(conf);
                drop_drive(ctx, conf, cfg, &old, force, id)?;
            }
        }
        if k == "description" {
            conf.main.description = None;
        }
        conf.main.remove(&k);
    }
    conf.pending.remove("delete");
    let keys: Vec<String> = conf.pending.keys.keys().cloned().collect();
    for k in keys {
        let v = conf.pending.get(&k).unwrap_or_default().to_string();
        if is_drive(&k) {
            if let Some(old) = conf.main.get(&k).map(str::to_string) {
                let (oldf, newf) = (
                    Drive::parse(&old).map(|d| d.file().to_string()),
                    Drive::parse(&v).map(|d| d.file().to_string()),
                );
                if oldf != newf {
                    let id = owner_hint(conf);
                    drop_drive(ctx, conf, cfg, &old, false, id)?;
                }
            }
        }
        conf.main.set(&k, v);
        conf.pending.remove(&k);
    }
    if let Some(d) = conf.pending.description.take() {
        conf.main.description = Some(d);
    }
    conf.pending = Section::default();
    drop_reused_unused(conf);
    Ok(())
}

/// The VMID owning this config's disks (for unused bookkeeping).
pub(super) fn owner_hint(conf: &GuestConf) -> u32 {
    drives(&conf.main)
        .iter()
        .filter_map(|(_, d)| owner_of(d.file()))
        .next()
        .unwrap_or(0)
}

/// `unusedN` entries whose volume is attached again disappear.
pub(super) fn drop_reused_unused(conf: &mut GuestConf) {
    let used: Vec<String> = drives(&conf.main)
        .into_iter()
        .map(|(_, d)| d.file().to_string())
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
}

/// `vmconfig_hotplug_pending`: what a running VM takes at once; the rest stays pending.
pub(super) fn hotplug_pending(
    ctx: &mut Ctx,
    id: u32,
    conf: &mut GuestConf,
    cfg: &StorageCfg,
    modified: &[String],
    force: bool,
) -> Result<(), Outcome> {
    let hot = |k: &str, adding: bool, conf: &GuestConf| -> bool {
        if FAST_PLUG.contains(&k)
            || CLOUDINIT_KEYS.contains(&k)
            || k.starts_with("ipconfig")
            || k.starts_with("unused")
        {
            return true;
        }
        if k.starts_with("net") {
            return true;
        }
        if k.starts_with("scsi") || k.starts_with("virtio") {
            return adding || conf.main.get(k).is_some();
        }
        if is_drive(k) {
            // CD-ROM media changes apply; other ide/sata/efidisk/tpmstate changes wait.
            return conf
                .pending
                .get(k)
                .and_then(Drive::parse)
                .is_some_and(|d| d.is_cdrom());
        }
        false
    };
    for k in conf.pending_deletes() {
        if !modified.contains(&k) || !hot(&k, false, conf) {
            continue;
        }
        record_ci_change(conf, &k, true);
        if let Some(old) = conf.main.get(&k).map(str::to_string) {
            if k.starts_with("unused") {
                ctx.state.volume_free(&ctx.root, cfg, &old).map_err(die)?;
            } else if is_drive(&k) {
                drop_drive(ctx, conf, cfg, &old, force, id)?;
            }
        }
        conf.main.remove(&k);
        conf.remove_pending_delete(&k);
    }
    let keys = conf.pending_keys();
    for k in keys {
        if !modified.contains(&k) || !hot(&k, conf.main.get(&k).is_none(), conf) {
            continue;
        }
        record_ci_change(conf, &k, true);
        let v = conf.pending.get(&k).unwrap_or_default().to_string();
        conf.main.set(&k, v);
        conf.pending.remove(&k);
    }
    if modified.iter().any(|m| m == "description") {
        if let Some(d) = conf.pending.description.take() {
            conf.main.description = Some(d);
        }
    }
    drop_reused_unused(conf);
    Ok(())
}
