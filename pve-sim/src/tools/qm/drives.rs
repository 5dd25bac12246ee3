//! Disks: drive keys, volume allocation and import, `qm disk import`, `qm resize`, a VM's file tree.

use super::*;

pub(super) fn drives(s: &Section) -> Vec<(String, Drive)> {
    s.keys
        .iter()
        .filter(|(k, _)| is_drive(k))
        .filter_map(|(k, v)| Drive::parse(v).map(|d| (k.clone(), d)))
        .collect()
}

pub(super) fn cloudinit_drive(s: &Section) -> Option<(String, Drive)> {
    drives(s).into_iter().find(|(_, d)| d.is_cloudinit())
}

/// Allocates a new VM disk (`vm-<id>-disk-N`) or cloud-init volume on a storage.
pub(super) fn alloc_vm_volume(
    ctx: &mut Ctx,
    cfg: &StorageCfg,
    sid: &str,
    id: u32,
    size: u64,
    cloudinit: bool,
) -> Result<String, String> {
    let st = cfg
        .get(sid)
        .ok_or_else(|| format!("storage '{sid}' does not exist"))?
        .clone();
    if st.disabled() {
        return Err(format!("storage '{sid}' is disabled"));
    }
    if !st.has_content("images") {
        return Err(format!("storage '{sid}' does not support vm images"));
    }
    if !cloudinit {
        return ctx.state.alloc_disk(&ctx.root, cfg, sid, id, false, size);
    }
    match st.kind.as_str() {
        "zfspool" => {
            let pool = st.pool().unwrap_or_default();
            let name = format!("vm-{id}-cloudinit");
            let mut props = BTreeMap::new();
            props.insert("volsize".to_string(), "4M".to_string());
            ctx.state
                .zfs_create(
                    &ctx.root,
                    &format!("{pool}/{name}"),
                    crate::state::DsKind::Volume,
                    props,
                )
                .map_err(|e| format!("zfs error: {e}"))?;
            Ok(format!("{sid}:{name}"))
        }
        _ => {
            let dir = ctx
                .root
                .host(st.path().unwrap_or("/"))
                .join("images")
                .join(id.to_string());
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let name = format!("vm-{id}-cloudinit.qcow2");
            std::fs::write(dir.join(&name), b"").map_err(|e| e.to_string())?;
            crate::root::write_atomic(
                &dir.join(format!("{name}.size")),
                (4u64 << 20).to_string().as_bytes(),
            )
            .map_err(|e| format!("{e:#}"))?;
            Ok(format!("{sid}:{id}/{name}"))
        }
    }
}

/// `STORAGE:SIZE` / `STORAGE:cloudinit` / an existing volume / a path / `none`: turns a drive
/// parameter into what is stored, allocating when asked. Returns the value and a creation line.
pub(super) fn prepare_drive(
    ctx: &mut Ctx,
    cfg: &StorageCfg,
    id: u32,
    key: &str,
    v: &str,
    conf: &GuestConf,
) -> Result<(String, Option<String>), Outcome> {
    let mut d = Drive::parse(v).ok_or_else(|| {
        param_error(
            &[(key.to_string(), "invalid format - format error".into())],
            &usage("set"),
        )
    })?;
    let file = d.file().to_string();
    if file == "none" || file == "cdrom" || file.starts_with("/dev/") {
        return Ok((d.print(), None));
    }
    let new_disk = file
        .split_once(':')
        .and_then(|(s, n)| n.parse::<f64>().ok().map(|n| (s.to_string(), n)));
    if let Some((sid, gb)) = new_disk {
        let bytes = (gb * f64::from(1u32 << 30)).round() as u64;
        let volid = alloc_vm_volume(ctx, cfg, &sid, id, bytes, false)
            .map_err(|e| die(format!("unable to create disk '{key}' - {e}")))?;
        d.ps.set("file", volid);
        d.ps.set("size", format_size(bytes));
        let printed = d.print();
        return Ok((
            printed.clone(),
            Some(format!("{key}: successfully created disk '{printed}'\n")),
        ));
    }
    if let Some((sid, "cloudinit")) = file.split_once(':') {
        if let Some((ci_key, _)) = cloudinit_drive(&conf.with_pending()) {
            if ci_key != key {
                return Err(die(format!(
                    "{key} - cloud-init drive is already attached at '{ci_key}'"
                )));
            }
        }
        let volid = alloc_vm_volume(ctx, cfg, sid, id, 4 << 20, true)
            .map_err(|e| die(format!("unable to create disk '{key}' - {e}")))?;
        d.ps.set("file", volid);
        d.ps.set("media", "cdrom");
        let printed = d.print();
        return Ok((
            printed.clone(),
            Some(format!("{key}: successfully created disk '{printed}'\n")),
        ));
    }
    let Some((sid, vname)) = split_volid(&file) else {
        return Err(die(format!("unable to parse volume ID '{file}'")));
    };
    if cfg.get(sid).is_none() {
        return Err(die(format!("storage '{sid}' does not exist")));
    }
    if vname.starts_with("iso/") {
        if !d.is_cdrom() {
            return Err(param_error(
                &[(
                    key.to_string(),
                    "explicit 'media=cdrom' is required for iso images".into(),
                )],
                &usage("set"),
            ));
        }
        if ctx
            .state
            .volume_path(&ctx.root, cfg, &file)
            .is_none_or(|p| !p.exists())
        {
            return Err(die(format!("volume '{file}' does not exist")));
        }
        return Ok((d.print(), None));
    }
    let Some(size) = ctx.state.volume_size(&ctx.root, cfg, &file).filter(|_| {
        ctx.state
            .volume_path(&ctx.root, cfg, &file)
            .is_some_and(|p| p.exists() || p.starts_with(ctx.root.host("/dev/zvol")))
    }) else {
        return Err(die(format!("volume '{file}' does not exist")));
    };
    if !d.is_cdrom() {
        d.ps.set("size", format_size(size));
    }
    Ok((d.print(), None))
}

pub(super) fn add_unused(conf: &mut GuestConf, volid: &str) -> String {
    if let Some((k, _)) = conf
        .main
        .keys
        .iter()
        .find(|(k, v)| k.starts_with("unused") && *v == volid)
    {
        return k.clone();
    }
    let idx = (0..256)
        .find(|i| conf.main.get(&format!("unused{i}")).is_none())
        .unwrap_or(255);
    let key = format!("unused{idx}");
    conf.main.set(&key, volid);
    key
}

pub(super) fn owner_of(volid: &str) -> Option<u32> {
    split_volid(volid)
        .and_then(|(_, n)| parse_volname(n))
        .map(|v| v.vmid)
}

pub(super) fn vm_fs(ctx: &Ctx, id: u32) -> GuestFs {
    let root = ctx.root.data().join("vmfs").join(id.to_string());
    if !root.exists() {
        for d in [
            "etc",
            "root",
            "tmp",
            "var/log",
            "usr/local/bin",
            "opt",
            "run",
        ] {
            let _ = std::fs::create_dir_all(root.join(d));
        }
        let _ = std::fs::write(
            root.join("etc/os-release"),
            "ID=ubuntu\nVERSION_ID=\"24.04\"\nPRETTY_NAME=\"Ubuntu 24.04 LTS (pve-sim)\"\n",
        );
        let _ = std::fs::write(root.join("etc/fstab"), "");
    }
    GuestFs {
        root,
        mounts: Vec::new(),
    }
}

pub(super) fn vmfs_dir(ctx: &Ctx, id: u32) -> PathBuf {
    ctx.root.data().join("vmfs").join(id.to_string())
}

pub(super) fn vmfs_snapshot_dir(ctx: &Ctx, id: u32, snap: &str) -> PathBuf {
    ctx.root
        .data()
        .join("vmfs-snapshots")
        .join(format!("{id}@{snap}"))
}

/// The virtual size of an image file: a `pve-sim disk image, virtual size N` header, or the
/// file's length.
pub(super) fn image_size(path: &std::path::Path) -> Option<u64> {
    let meta = std::fs::metadata(path).ok()?;
    let head = std::fs::read(path)
        .ok()
        .map(|b| String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned())
        .unwrap_or_default();
    let declared = head
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("pve-sim disk image, virtual size "))
        .and_then(|n| n.trim().parse().ok());
    Some(declared.unwrap_or_else(|| meta.len().div_ceil(1 << 20) << 20))
}

pub(super) fn render_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v > 1023.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", units[i])
}

/// `qm disk import <vmid> <source> <storage> [--format] [--target-disk]`.
pub(super) fn import_disk(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("disk import");
    let p = parse_opts(
        args,
        &[("format", Kind::Value), ("target-disk", Kind::Value)],
        &|_| None,
        &u,
    )?;
    positionals(&p, 3, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let (source, sid) = (p.positional[1].clone(), p.positional[2].clone());
    if let Some(f) = p.get("format") {
        if !matches!(f, "raw" | "qcow2" | "vmdk") {
            return Err(param_error(
                &[(
                    "format".into(),
                    format!(
                        "value '{f}' does not have a value in the enumeration 'raw, qcow2, vmdk'"
                    ),
                )],
                &u,
            ));
        }
    }
    let src = std::path::Path::new(&source);
    if !src.is_file() {
        return Err(die(format!("{source}: non-existent or non-regular file")));
    }
    let mut conf = guest::load(ctx, F, id)?;
    check_lock(&conf, F)?;
    let cfg = StorageCfg::load(&ctx.root);
    let Some(st) = cfg.get(&sid) else {
        return Err(die(format!("storage '{sid}' does not exist")));
    };
    if !st.has_content("images") {
        return Err(die(format!("storage {sid} does not support vm images")));
    }
    if let Some(t) = p.get("target-disk") {
        if conf.main.get(t).is_some() {
            return Err(die(format!(
                "cowardly refusing to overwrite existing entry: {t}"
            )));
        }
    }
    let size = image_size(src).unwrap_or(0);
    let mut out = format!("importing disk '{source}' to VM {id} ...\n");
    let mut stderr = String::new();
    if st.kind == "zfspool" && p.get("format").is_some_and(|f| f != "raw") {
        stderr.push_str(&format!(
            "format '{}' is not supported by the target storage - using 'raw' instead\n",
            p.get("format").unwrap_or("")
        ));
    }
    let volid = alloc_vm_volume(ctx, &cfg, &sid, id, size, false)
        .map_err(|e| die(format!("unable to import disk - {e}")))?;
    for pct in [0u64, 25, 50, 75, 100] {
        out.push_str(&format!(
            "transferred {} of {} ({pct}.00%)\n",
            render_bytes(size * pct / 100),
            render_bytes(size)
        ));
    }
    let key = match p.get("target-disk") {
        Some(t) => {
            // Proxmox records the imported volume with its size.
            conf.main
                .set(t, format!("{volid},size={}", format_size(size)));
            t.to_string()
        }
        None => add_unused(&mut conf, &volid),
    };
    out.push_str(&format!("{key}: successfully imported disk '{volid}'\n"));
    guest::save(ctx, F, id, &conf)?;
    let secs = cost(ctx, "qm.importdisk_per_gb") * size as f64 / f64::from(1u32 << 30);
    Ok(Outcome {
        stderr,
        ..Outcome::ok(Effect::Mutate)
    }
    .out(out)
    .secs(secs.max(0.1))
    .guest(id)
    .storage(sid))
}

/// Removes a drive's volume from the config: owned volumes become `unusedN` (or are freed
/// with `force`/for cloud-init drives), others are simply dropped.
pub(super) fn drop_drive(
    ctx: &mut Ctx,
    conf: &mut GuestConf,
    cfg: &StorageCfg,
    old: &str,
    force: bool,
    id: u32,
) -> Result<(), Outcome> {
    let Some(d) = Drive::parse(old) else {
        return Ok(());
    };
    let file = d.file().to_string();
    if d.is_cloudinit() {
        ctx.state.volume_free(&ctx.root, cfg, &file).map_err(die)?;
        conf.special.remove("cloudinit");
        return Ok(());
    }
    if d.is_cdrom() || split_volid(&file).is_none() {
        return Ok(());
    }
    if owner_of(&file) == Some(id)
        && !conf
            .snapshots
            .values()
            .any(|s| s.keys.values().any(|v| v.contains(&file)))
    {
        if force {
            ctx.state.volume_free(&ctx.root, cfg, &file).map_err(die)?;
        } else {
            add_unused(conf, &file);
        }
    } else if owner_of(&file) == Some(id) {
        add_unused(conf, &file);
    }
    Ok(())
}

/// `qm disk resize <vmid> <disk> <size>`: grow only; task errors exit 0.
pub(super) fn resize(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("disk resize");
    let p = parse_opts(
        args,
        &[("digest", Kind::Value), ("skiplock", Kind::Bool)],
        &|_| None,
        &u,
    )?;
    positionals(&p, 3, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let (disk, sizestr) = (p.positional[1].clone(), p.positional[2].clone());
    if !is_drive(&disk) || numbered(&disk).is_none() && disk != "efidisk0" && disk != "tpmstate0" {
        let mut names: Vec<String> = Vec::new();
        for (b, n) in [("ide", 4), ("scsi", 31), ("virtio", 16), ("sata", 6)] {
            names.extend((0..n).map(|i| format!("{b}{i}")));
        }
        names.extend(["efidisk0".to_string(), "tpmstate0".to_string()]);
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
            && num.bytes().all(|b| b.is_ascii_digit() || b == b'.')
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
    let task = |msg: String| Ok(task_error_exit0(msg, Effect::Read).guest(id));
    let mut conf = match guest::load(ctx, F, id) {
        Ok(c) => c,
        Err(o) => return task(o.stderr.trim_end().to_string()),
    };
    if !p.flag("skiplock") {
        if let Err(o) = check_lock(&conf, F) {
            return task(o.stderr.trim_end().to_string());
        }
    }
    let Some(v) = conf.main.get(&disk).map(str::to_string) else {
        return task(format!("disk '{disk}' does not exist"));
    };
    let Some(mut d) = Drive::parse(&v) else {
        return task(format!("disk '{disk}' has no associated volume"));
    };
    if d.is_cdrom() {
        return task("you can't resize a cdrom".into());
    }
    let cfg = StorageCfg::load(&ctx.root);
    let volid = d.file().to_string();
    let Some(size) = ctx.state.volume_size(&ctx.root, &cfg, &volid) else {
        return task(format!(
            "Could not determine current size of volume '{volid}'"
        ));
    };
    let ext = sizestr.starts_with('+');
    let req = disk_size(sizestr.trim_start_matches('+')).unwrap_or(0);
    let new = if ext { size + req } else { req };
    if new < size {
        return task("shrinking disks is not supported".into());
    }
    if new == size {
        return Ok(Outcome::ok(Effect::Read).guest(id));
    }
    if let Err(e) = ctx.state.volume_resize(&ctx.root, &cfg, &volid, new) {
        return task(e);
    }
    d.ps.set("size", format_size(new));
    conf.main.set(&disk, d.print());
    guest::save(ctx, F, id, &conf)?;
    let sid = split_volid(&volid)
        .map(|(s, _)| s.to_string())
        .unwrap_or_default();
    Ok(Outcome::ok(Effect::Mutate)
        .secs(cost(ctx, "qm.resize"))
        .guest(id)
        .storage(sid))
}
