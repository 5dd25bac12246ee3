//! `qm create`.

use super::*;

/// `cicustom` volumes must be snippets on a storage that holds them.
pub(super) fn check_cicustom(ctx: &Ctx, v: Option<&String>) -> Result<(), Outcome> {
    let Some(v) = v else { return Ok(()) };
    let cfg = StorageCfg::load(&ctx.root);
    for (_, volid) in PropStr::parse(v, None).unwrap_or_default().pairs {
        let Some((sid, name)) = split_volid(&volid) else {
            continue;
        };
        let Some(st) = cfg.get(sid) else {
            return Err(die(format!("storage '{sid}' does not exist")));
        };
        if !name.starts_with("snippets/") || !st.has_content("snippets") {
            return Err(die(format!(
                "unable to use volume {volid} - content type needs to be 'snippets'"
            )));
        }
    }
    Ok(())
}

/// The `cicustom` snippets as `vm_start` reads them while generating the cloud-init ISO
/// (`read_cloudinit_snippets_file`, in the order network, user, meta, vendor): each must be
/// a file in its storage's `snippets/` directory. Returns the user-data snippet's text.
pub(super) fn cicustom_user_data(
    ctx: &Ctx,
    cfg: &StorageCfg,
    conf: &Section,
) -> Result<Option<String>, Outcome> {
    let Some(v) = conf.get("cicustom") else {
        return Ok(None);
    };
    let pairs = PropStr::parse(v, None).unwrap_or_default().pairs;
    let mut user = None;
    for key in ["network", "user", "meta", "vendor"] {
        let Some((_, volid)) = pairs.iter().find(|(k, _)| k == key) else {
            continue;
        };
        let Some((sid, name)) = split_volid(volid) else {
            return Err(die(format!("unable to parse volume ID '{volid}'")));
        };
        if cfg.get(sid).is_none() {
            return Err(die(format!("storage '{sid}' does not exist")));
        }
        if !name.starts_with("snippets/") {
            return Err(die(format!("{volid} is not in the snippets directory")));
        }
        let text = ctx
            .state
            .volume_path(&ctx.root, cfg, volid)
            .filter(|p| p.is_file())
            .and_then(|p| std::fs::read(p).ok())
            .ok_or_else(|| die(format!("can't find file '{volid}'")))?;
        if key == "user" {
            user = Some(String::from_utf8_lossy(&text).into_owned());
        }
    }
    Ok(user)
}

/// Options `qm create` takes besides the config keys.
pub(super) const CREATE_EXTRA: &[(&str, Kind)] = &[
    ("archive", Kind::Value),
    ("bwlimit", Kind::Value),
    ("force", Kind::Bool),
    ("live-restore", Kind::Bool),
    ("pool", Kind::Value),
    ("start", Kind::Bool),
    ("storage", Kind::Value),
    ("unique", Kind::Bool),
];

pub(super) fn uri_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A `$5$` crypt-looking hash (deterministic; the simulator never needs to verify it).
pub(super) fn encrypt_pw(pw: &str, salt_seed: u64) -> String {
    const CHARS: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let h = sha1_smol::Sha1::from(format!("{salt_seed}:{pw}"))
        .digest()
        .bytes();
    let h2 = sha1_smol::Sha1::from(format!("{pw}:{salt_seed}"))
        .digest()
        .bytes();
    let bytes: Vec<u8> = h.iter().chain(h2.iter()).chain(h.iter()).copied().collect();
    let salt: String = bytes[..8]
        .iter()
        .map(|b| CHARS[(*b as usize) % 64] as char)
        .collect();
    let body: String = bytes[8..51]
        .iter()
        .map(|b| CHARS[(*b as usize) % 64] as char)
        .collect();
    format!("$5${salt}${body}")
}

/// `qm create <vmid> [OPTIONS]`.
pub(super) fn create(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("create");
    let mut spec: Vec<(&str, Kind)> = OPTIONS.to_vec();
    spec.extend_from_slice(CREATE_EXTRA);
    let p = parse_opts(args, &spec, &numbered, &u)?;
    positionals(&p, 1, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let mut values = validate_all(
        &p,
        &CREATE_EXTRA.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        &u,
    )?;
    if let Some(k) = guest::existing_kind(ctx, id) {
        return Err(die(format!(
            "unable to create VM {id} - {k} {id} already exists on node '{}'",
            ctx.state.node
        )));
    }
    check_cicustom(ctx, values.get("cicustom"))?;
    if let Some(path) = values.get("sshkeys").cloned() {
        let keys = std::fs::read_to_string(&path)
            .map_err(|_| die(format!("unable to read file '{path}'")))?;
        values.insert("sshkeys".into(), uri_escape(&keys));
    }
    let cfg = StorageCfg::load(&ctx.root);
    let mut conf = GuestConf::default();
    let mut out = String::new();
    // MACs are added before the worker, drives allocated inside it.
    let mut salt = 0;
    for (k, v) in values.clone() {
        if k.starts_with("net") {
            salt += 1;
            let (model, mac_given, rest) = parse_net(&v).map_err(die)?;
            let m = mac_given.unwrap_or_else(|| mac(ctx, u64::from(id) * 100 + salt));
            values.insert(k, print_net(&model, &m, &rest));
        }
    }
    let mut allocated: Vec<String> = Vec::new();
    for (k, v) in &values {
        if k == "description" {
            conf.main.description = Some(v.clone());
            continue;
        }
        if is_drive(k) {
            match prepare_drive(ctx, &cfg, id, k, v, &conf) {
                Ok((val, line)) => {
                    if let Some(l) = line {
                        out.push_str(&l);
                        if let Some(d) = Drive::parse(&val) {
                            allocated.push(d.file().to_string());
                        }
                    }
                    conf.main.set(k, val);
                }
                Err(e) => {
                    for vol in &allocated {
                        let _ = ctx.state.volume_free(&ctx.root, &cfg, vol);
                    }
                    let msg = e.stderr.trim_end().to_string();
                    return Err(Outcome {
                        stdout: out,
                        ..die(format!("unable to create VM {id} - {msg}"))
                    });
                }
            }
            continue;
        }
        conf.main.set(k, v.clone());
    }
    let now = ctx.state.now();
    conf.main
        .set("meta", format!("creation-qemu=9.2.0,ctime={now}"));
    if conf.main.get("smbios1").is_none() {
        conf.main
            .set("smbios1", format!("uuid={}", uuid(ctx, u64::from(id))));
    }
    if conf.main.get("vmgenid").is_none_or(|v| v == "1") {
        conf.main.set("vmgenid", uuid(ctx, u64::from(id) + 7));
    }
    if conf.main.get("vmgenid") == Some("0") {
        conf.main.remove("vmgenid");
    }
    if conf.main.get("boot").is_none() {
        conf.main.set("boot", default_boot_order(&conf.main));
    }
    guest::save(ctx, F, id, &conf)?;
    let mut o = Outcome::ok(Effect::Mutate)
        .out(out)
        .secs(cost(ctx, "qm.create"))
        .guest(id);
    if p.flag("start") {
        o.stdout.push_str("Execute autostart\n");
        let s = start_vm(ctx, id)?;
        o.stdout.push_str(&s.stdout);
        o.secs += s.secs;
    }
    Ok(o)
}

/// `get_default_bootdevices` + `print_bootorder`.
pub(super) fn default_boot_order(s: &Section) -> String {
    let mut devs = Vec::new();
    let ds = drives(s);
    let order = |k: &str| -> (u8, u32) {
        let base = k.trim_end_matches(|c: char| c.is_ascii_digit());
        let n = k[base.len()..].parse().unwrap_or(0);
        (
            ["ide", "scsi", "virtio", "sata"]
                .iter()
                .position(|b| *b == base)
                .unwrap_or(9) as u8,
            n,
        )
    };
    let mut disks: Vec<&(String, Drive)> = ds
        .iter()
        .filter(|(k, d)| !d.is_cdrom() && k != "efidisk0" && k != "tpmstate0")
        .collect();
    disks.sort_by_key(|(k, _)| order(k));
    if let Some((k, _)) = disks.first() {
        devs.push(k.clone());
    }
    let mut cds: Vec<&(String, Drive)> = ds.iter().filter(|(_, d)| d.is_cdrom()).collect();
    cds.sort_by_key(|(k, _)| order(k));
    if let Some((k, _)) = cds.first() {
        devs.push(k.clone());
    }
    let mut nets: Vec<&String> = s.keys.keys().filter(|k| k.starts_with("net")).collect();
    nets.sort_by_key(|k| k[3..].parse::<u32>().unwrap_or(0));
    if let Some(n) = nets.first() {
        devs.push((*n).clone());
    }
    if devs.is_empty() {
        String::new()
    } else {
        format!("order={}", devs.join(";"))
    }
}
