//! `pct start|stop|shutdown|reboot|status|config|pending|list|destroy|unlock`.

use super::*;

/// `pct config <vmid> [--current] [--snapshot name]`.
pub(super) fn config(ctx: &mut Ctx, args: &[String]) -> R {
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
pub(super) fn pending(ctx: &mut Ctx, args: &[String]) -> R {
    let (_, id) = opts(args, "pending", &[], 1)?;
    let conf = guest::load(ctx, F, id)?;
    Ok(Outcome::read(guest::format_pending(&conf)).guest(id))
}

/// `pct status <vmid> [--verbose]`.
pub(super) fn status(ctx: &mut Ctx, args: &[String]) -> R {
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

/// `pct start <vmid>`.
pub(super) fn start(ctx: &mut Ctx, args: &[String]) -> R {
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
pub(super) fn stop(ctx: &mut Ctx, args: &[String], cmd: &str) -> R {
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
pub(super) fn reboot(ctx: &mut Ctx, args: &[String]) -> R {
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
pub(super) fn destroy(ctx: &mut Ctx, args: &[String]) -> R {
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

/// `pct unlock <vmid>`.
pub(super) fn unlock(ctx: &mut Ctx, args: &[String]) -> R {
    let (_, id) = opts(args, "unlock", &[], 1)?;
    let mut conf = guest::load(ctx, F, id)?;
    if conf.main.remove("lock").is_none() {
        return Err(die("no lock found trying to remove any lock"));
    }
    guest::save(ctx, F, id, &conf)?;
    Ok(Outcome::ok(Effect::Mutate).guest(id))
}
