//! `qm start|stop|shutdown|reboot|status|config|pending|list|destroy|unlock`.

use super::*;

/// `qm start <vmid>`.
pub(super) fn start(ctx: &mut Ctx, args: &[String]) -> R {
    let spec = [
        ("skiplock", Kind::Bool),
        ("timeout", Kind::Value),
        ("machine", Kind::Value),
        ("forcecpu", Kind::Value),
        ("migratedfrom", Kind::Value),
        ("stateuri", Kind::Value),
    ];
    let (p, id) = opts(args, "start", &spec, 1)?;
    if let Some(t) = p.get("timeout") {
        check::int(t, Some(0), Some(86400))
            .map_err(|e| param_error(&[("timeout".into(), e)], &usage("start")))?;
    }
    if p.flag("skiplock") {
        let mut conf = guest::load(ctx, F, id)?;
        if conf.main.remove("lock").is_some() {
            let s = start_vm_unlocked(ctx, id, &mut conf);
            return s;
        }
    }
    start_vm(ctx, id)
}

pub(super) fn start_vm_unlocked(ctx: &mut Ctx, id: u32, conf: &mut GuestConf) -> R {
    let lock = conf.main.get("lock").map(str::to_string);
    guest::save(ctx, F, id, conf)?;
    let r = start_vm(ctx, id);
    if let (Some(l), Ok(mut c)) = (lock, guest::load(ctx, F, id)) {
        c.main.set("lock", l);
        guest::save(ctx, F, id, &c)?;
    }
    r
}

/// `qm stop|shutdown <vmid>`.
pub(super) fn stop(ctx: &mut Ctx, args: &[String], cmd: &str) -> R {
    let spec: &[(&str, Kind)] = if cmd == "stop" {
        &[
            ("skiplock", Kind::Bool),
            ("timeout", Kind::Value),
            ("keepActive", Kind::Bool),
            ("overrule-shutdown", Kind::Bool),
            ("migratedfrom", Kind::Value),
        ]
    } else {
        &[
            ("skiplock", Kind::Bool),
            ("timeout", Kind::Value),
            ("keepActive", Kind::Bool),
            ("forceStop", Kind::Bool),
        ]
    };
    let (p, id) = opts(args, cmd, spec, 1)?;
    if let Some(t) = p.get("timeout") {
        check::int(t, Some(0), None)
            .map_err(|e| param_error(&[("timeout".into(), e)], &usage(cmd)))?;
    }
    let conf = guest::load(ctx, F, id)?;
    if !p.flag("skiplock") {
        check_lock(&conf, F)?;
    }
    if !ctx.state.running(id) {
        // A real guest a killed run left booted goes too.
        crate::real::stop(&ctx.root.data(), id);
        let stderr = if cmd == "shutdown" {
            format!("VM {id} not running\n\n")
        } else {
            String::new()
        };
        return Ok(Outcome {
            stderr,
            ..Outcome::ok(Effect::Read)
        }
        .guest(id));
    }
    stop_vm(ctx, id)?;
    Ok(Outcome::ok(Effect::Mutate)
        .secs(cost(ctx, &format!("qm.{cmd}")))
        .guest(id))
}

/// `qm reboot <vmid>`: shutdown and start (pending changes applied).
pub(super) fn reboot(ctx: &mut Ctx, args: &[String]) -> R {
    let (_, id) = opts(args, "reboot", &[("timeout", Kind::Value)], 1)?;
    guest::load(ctx, F, id)?;
    if !ctx.state.running(id) {
        return Err(die(format!("VM {id} not running\n\nVM {id} not running")));
    }
    stop_vm(ctx, id)?;
    let o = start_vm(ctx, id)?;
    Ok(Outcome {
        stdout: String::new(),
        secs: cost(ctx, "qm.reboot") + o.secs,
        ..o
    })
}

/// `qm status <vmid> [--verbose]`.
pub(super) fn status(ctx: &mut Ctx, args: &[String]) -> R {
    let (p, id) = opts(args, "status", &[("verbose", Kind::Bool)], 1)?;
    let conf = guest::load(ctx, F, id)?;
    let running = ctx.state.running(id);
    let st = if running { "running" } else { "stopped" };
    if !p.flag("verbose") {
        return Ok(Outcome::read(format!("status: {st}\n")).guest(id));
    }
    let m = &conf.main;
    let cfg = StorageCfg::load(&ctx.root);
    let mut kv: BTreeMap<&str, String> = BTreeMap::new();
    let sockets: u64 = m.get("sockets").and_then(|x| x.parse().ok()).unwrap_or(1);
    let cores: u64 = m.get("cores").and_then(|x| x.parse().ok()).unwrap_or(1);
    kv.insert("cpus", (sockets * cores).to_string());
    kv.insert("disk", "0".into());
    kv.insert("diskread", "0".into());
    kv.insert("diskwrite", "0".into());
    let maxdisk = boot_disk(m)
        .and_then(|d| m.get(&d).and_then(Drive::parse))
        .and_then(|d| ctx.state.volume_size(&ctx.root, &cfg, d.file()))
        .unwrap_or(0);
    kv.insert("maxdisk", maxdisk.to_string());
    let mem: u64 = m
        .get("memory")
        .and_then(|x| {
            x.split(',')
                .next()
                .and_then(|v| v.trim_start_matches("current=").parse().ok())
        })
        .unwrap_or(512);
    kv.insert("maxmem", (mem << 20).to_string());
    kv.insert(
        "mem",
        if running {
            ((mem << 20) / 4).to_string()
        } else {
            "0".into()
        },
    );
    kv.insert("memhost", "0".into());
    kv.insert(
        "name",
        m.get("name").map_or(format!("VM {id}"), str::to_string),
    );
    kv.insert("netin", "0".into());
    kv.insert("netout", "0".into());
    kv.insert("qmpstatus", st.into());
    kv.insert("status", st.into());
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
    if m.keys.keys().any(|k| k.starts_with("serial")) {
        kv.insert("serial", "1".into());
    }
    if let Some(l) = m.get("lock") {
        kv.insert("lock", l.into());
    }
    if let Some(t) = m.get("tags") {
        kv.insert("tags", t.into());
    }
    if running {
        kv.insert("pid", (20_000 + id).to_string());
        kv.insert("running-machine", "pc-i440fx-9.2+pve1".into());
        kv.insert("running-qemu", "9.2.0".into());
    }
    Ok(Outcome::read(
        kv.iter()
            .map(|(k, v)| format!("{k}: {v}\n"))
            .collect::<String>(),
    )
    .guest(id))
}

/// The boot disk: the first drive of `boot: order=…`, else the legacy `bootdisk`.
pub(super) fn boot_disk(s: &Section) -> Option<String> {
    let order = s
        .get("boot")
        .and_then(|b| PropStr::parse(b, Some("legacy")).ok())
        .and_then(|ps| ps.get("order").map(str::to_string));
    match order {
        Some(o) => o.split(';').find(|d| is_drive(d)).map(str::to_string),
        None => s.get("bootdisk").map(str::to_string),
    }
}

pub(super) fn mask_password(s: &mut Section) {
    if s.get("cipassword").is_some() {
        s.set("cipassword", "**********");
    }
}

/// `qm config <vmid> [--current] [--snapshot]`.
pub(super) fn config(ctx: &mut Ctx, args: &[String]) -> R {
    let (p, id) = opts(
        args,
        "config",
        &[("current", Kind::Bool), ("snapshot", Kind::Value)],
        1,
    )?;
    if p.flag("current") && p.has("snapshot") {
        let msg = "cannot use 'snapshot' parameter with 'current'".to_string();
        return Err(param_error(
            &[("current".into(), msg.clone()), ("snapshot".into(), msg)],
            &usage("config"),
        ));
    }
    let conf = guest::load(ctx, F, id)?;
    let mut section = match p.get("snapshot") {
        Some(s) => conf
            .snapshots
            .get(s)
            .cloned()
            .ok_or_else(|| die(format!("snapshot '{s}' does not exist")))?,
        None if p.flag("current") => conf.main.clone(),
        None => {
            let mut s = conf.with_pending();
            if conf.pending.description.is_some() {
                s.description = conf.pending.description.clone();
            }
            s
        }
    };
    mask_password(&mut section);
    Ok(Outcome::read(print_config(&section)).guest(id))
}

/// `qm destroy <vmid> [--purge] [--skiplock] [--destroy-unreferenced-disks]`.
pub(super) fn destroy(ctx: &mut Ctx, args: &[String]) -> R {
    let (p, id) = opts(
        args,
        "destroy",
        &[
            ("purge", Kind::Bool),
            ("skiplock", Kind::Bool),
            ("destroy-unreferenced-disks", Kind::Bool),
        ],
        1,
    )?;
    let conf = guest::load(ctx, F, id)?;
    if conf.main.get("protection") == Some("1") {
        return Err(die(format!(
            "can't remove VM {id} - protection mode enabled"
        )));
    }
    if !p.flag("skiplock") {
        check_lock(&conf, F)?;
    }
    if ctx.state.running(id) {
        return Err(die(format!("VM {id} is running - destroy failed")));
    }
    let cfg = StorageCfg::load(&ctx.root);
    let mut vols: Vec<String> = Vec::new();
    for s in std::iter::once(&conf.main)
        .chain(std::iter::once(&conf.pending))
        .chain(conf.snapshots.values())
    {
        for (_, d) in drives(s) {
            if (d.is_cloudinit() || !d.is_cdrom()) && split_volid(d.file()).is_some() {
                vols.push(d.file().to_string());
            }
        }
        vols.extend(
            s.keys
                .iter()
                .filter(|(k, _)| k.starts_with("unused"))
                .map(|(_, v)| v.clone()),
        );
    }
    vols.sort();
    vols.dedup();
    // A template whose base volumes have linked clones cannot go.
    for v in &vols {
        if let Some(ds) = crate::state::State::volume_dataset(&cfg, v) {
            if !ctx.state.zfs_clones_of(&ds).is_empty() {
                return Err(die(format!(
                    "base volume '{v}' is still in use by linked cloned"
                )));
            }
        }
    }
    let mut out = String::new();
    let mut stderr = String::new();
    for v in vols {
        if owner_of(&v) != Some(id) {
            continue;
        }
        if let Err(e) = ctx.state.volume_free(&ctx.root, &cfg, &v) {
            stderr.push_str(&format!(
                "Could not remove disk '{v}', check manually: {e}\n"
            ));
        }
    }
    let _ = std::fs::remove_file(ctx.root.firewall(id));
    if p.flag("purge") {
        out.push_str(&format!("purging VM {id} from related configurations..\n"));
    }
    let _ = std::fs::remove_file(guest::conf_path(ctx, F, id));
    let _ = std::fs::remove_dir_all(vmfs_dir(ctx, id));
    let snaps = ctx.root.data().join("vmfs-snapshots");
    if let Ok(rd) = std::fs::read_dir(&snaps) {
        for e in rd.filter_map(Result::ok) {
            if e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{id}@"))
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    ctx.state.guests.remove(&id);
    ctx.state
        .exec_jobs
        .retain(|k, _| !k.starts_with(&format!("{id}:")));
    Ok(Outcome {
        stderr,
        ..Outcome::ok(Effect::Mutate)
    }
    .out(out)
    .secs(cost(ctx, "qm.destroy"))
    .guest(id))
}
