//! `pct create` from an OS template.

use super::*;

/// Creates the skeleton a template tarball unpacks to.
pub(super) fn unpack_template(
    tree: &std::path::Path,
    template: &str,
    hostname: &str,
) -> std::io::Result<()> {
    for d in [
        "etc",
        "root",
        "tmp",
        "usr/bin",
        "usr/local/bin",
        "var/log",
        "opt",
        "home",
    ] {
        std::fs::create_dir_all(tree.join(d))?;
    }
    let name = template.rsplit('/').next().unwrap_or(template);
    let os = ostype_of(name);
    let version = name
        .split(['-', '_'])
        .find(|p| p.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .unwrap_or("");
    std::fs::write(
        tree.join("etc/os-release"),
        format!("ID={os}\nVERSION_ID=\"{version}\"\nPRETTY_NAME=\"{os} {version} (pve-sim)\"\n"),
    )?;
    std::fs::write(tree.join("etc/hostname"), format!("{hostname}\n"))?;
    std::fs::write(tree.join("etc/fstab"), "")?;
    Ok(())
}

/// Options `pct create` takes besides the config keys.
pub(super) const CREATE_EXTRA: &[(&str, Kind)] = &[
    ("password", Kind::Value),
    ("storage", Kind::Value),
    ("force", Kind::Bool),
    ("restore", Kind::Bool),
    ("unique", Kind::Bool),
    ("pool", Kind::Value),
    ("ignore-unpack-errors", Kind::Bool),
    ("ssh-public-keys", Kind::Value),
    ("bwlimit", Kind::Value),
    ("start", Kind::Bool),
    ("ha-managed", Kind::Bool),
];

pub(super) fn validate_all(
    p: &Parsed,
    skip: &[&str],
    u: &str,
) -> Result<BTreeMap<String, String>, Outcome> {
    let mut errors = Vec::new();
    let mut out = BTreeMap::new();
    for (k, v) in &p.opts {
        if skip.contains(&k.as_str()) {
            continue;
        }
        match ct_opts::validate(k, v) {
            Ok(n) => {
                out.insert(k.clone(), n);
            }
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(param_error(&errors, u))
    }
}

/// `pct create <vmid> <ostemplate>`.
pub(super) fn create(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("create");
    let mut spec: Vec<(&str, Kind)> = ct_opts::OPTIONS.to_vec();
    spec.extend_from_slice(CREATE_EXTRA);
    let p = parse_opts(args, &spec, &ct_opts::numbered, &u)?;
    positionals(&p, 2, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let ostemplate = p.positional[1].clone();
    let mut values = validate_all(
        &p,
        &CREATE_EXTRA.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        &u,
    )?;
    if let Some(k) = guest::existing_kind(ctx, id) {
        return Err(die(format!(
            "{k} {id} already exists on node '{}'",
            ctx.state.node
        )));
    }
    let cfg = StorageCfg::load(&ctx.root);
    let storage = p.get("storage").unwrap_or("local").to_string();
    // rootfs: `STORAGE:SIZE`, a bare size on --storage, a path, or `STORAGE:4` by default.
    let rootfs_raw = values
        .remove("rootfs")
        .unwrap_or_else(|| format!("{storage}:4"));
    let mut root_ps = PropStr::parse(&rootfs_raw, Some("volume"))
        .map_err(|e| param_error(&[("rootfs".into(), format!("invalid format - {e}\n"))], &u))?;
    let vol = root_ps.get("volume").unwrap_or_default().to_string();
    let vol = if vol.parse::<f64>().is_ok() {
        format!("{storage}:{vol}")
    } else {
        vol
    };
    let (root_sid, size_gb) = match vol.split_once(':') {
        Some((s, n)) if n.parse::<f64>().is_ok() => {
            (s.to_string(), n.parse::<f64>().unwrap_or(4.0))
        }
        _ if vol.starts_with('/') => (String::new(), 0.0),
        _ => {
            return Err(param_error(
                &[(
                    "rootfs".into(),
                    format!("invalid format - unable to parse volume '{vol}'\n"),
                )],
                &u,
            ));
        }
    };
    if !root_sid.is_empty() {
        match cfg.get(&root_sid) {
            None => return Err(die(format!("storage '{root_sid}' does not exist"))),
            Some(st) if !st.has_content("rootdir") => {
                return Err(param_error(
                    &[(
                        "storage".into(),
                        format!("storage '{root_sid}' does not support container directories"),
                    )],
                    &u,
                ));
            }
            Some(st) if st.disabled() => {
                return Err(die(format!("storage '{root_sid}' is disabled")));
            }
            _ => {}
        }
    }
    // The template: a volume ID on a vztmpl storage, or an absolute path (a CLI file argument).
    let archive: Option<PathBuf> = if ostemplate.starts_with('/') {
        Some(PathBuf::from(&ostemplate))
    } else {
        match split_volid(&ostemplate) {
            Some((sid, _)) if cfg.get(sid).is_none() => {
                return Err(die(format!("storage '{sid}' does not exist")));
            }
            Some(_) => ctx.state.volume_path(&ctx.root, &cfg, &ostemplate),
            None => return Err(die(format!("unable to parse volume ID '{ostemplate}'"))),
        }
    };
    let Some(archive) = archive.filter(|a| a.is_file()) else {
        return Err(die(format!(
            "unable to create CT {id} - can't find file '{ostemplate}'"
        )));
    };
    // Allocate the root disk and unpack.
    let root_volid = if root_sid.is_empty() {
        vol.clone()
    } else {
        let bytes = (size_gb * 1024.0 * 1024.0).round() as u64 * 1024;
        ctx.state
            .alloc_disk(&ctx.root, &cfg, &root_sid, id, true, bytes)
            .map_err(|e| die(format!("unable to create CT {id} - {e}")))?
    };
    root_ps.set("volume", root_volid.clone());
    if !root_sid.is_empty() {
        root_ps.set(
            "size",
            format_size((size_gb * 1024.0 * 1024.0 * 1024.0).round() as u64),
        );
    }
    let hostname = values
        .get("hostname")
        .cloned()
        .unwrap_or_else(|| format!("CT{id}"));
    let tree = if root_sid.is_empty() {
        ctx.root.host(&vol)
    } else {
        volume_tree(ctx, &cfg, &root_volid).unwrap_or_default()
    };
    // A real guest is the real system the tarball holds (its /etc/os-release included); the
    // host name is what Proxmox's setup writes (pve-container LXC/Setup/Base.pm set_hostname).
    match crate::real::tarball() {
        Some(tar) => crate::real::populate(&tree, &tar)
            .and_then(|()| {
                std::fs::write(tree.join("etc/hostname"), format!("{hostname}\n"))
                    .map_err(|e| e.to_string())
            })
            .map_err(|e| die(format!("unable to create CT {id} - {e}")))?,
        None => unpack_template(&tree, &archive.to_string_lossy(), &hostname)
            .map_err(|e| die(format!("unable to create CT {id} - {e}")))?,
    }

    let mut conf = GuestConf::default();
    let m = &mut conf.main;
    m.set(
        "arch",
        values.remove("arch").unwrap_or_else(|| "amd64".into()),
    );
    m.set("hostname", hostname.clone());
    m.set(
        "memory",
        values.remove("memory").unwrap_or_else(|| "512".into()),
    );
    m.set(
        "swap",
        values.remove("swap").unwrap_or_else(|| "512".into()),
    );
    m.set(
        "ostype",
        values
            .remove("ostype")
            .unwrap_or_else(|| ostype_of(&ostemplate).to_string()),
    );
    m.set("rootfs", root_ps.print(&["volume"], true));
    let unpriv = values.remove("unprivileged").unwrap_or_else(|| "1".into());
    if unpriv == "1" {
        m.set("unprivileged", "1");
    }
    if let Some(d) = values.remove("description") {
        m.description = Some(format!("{d}\n"));
    }
    let mut salt = 0;
    for (k, v) in values {
        if k.starts_with("net") {
            salt += 1;
            let n = normalize_net(ctx, &v, u64::from(id) * 100 + salt);
            conf.main.set(&k, n);
        } else if k.starts_with("unused") {
            continue;
        } else if k.starts_with("mp") {
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
                    .alloc_disk(&ctx.root, &cfg, sid, id, true, bytes)
                    .map_err(|e| die(format!("unable to create CT {id} - {e}")))?;
                ps.set("volume", volid);
                ps.set("size", format_size(bytes));
            }
            conf.main.set(
                &k,
                Mp {
                    key: k.clone(),
                    volume: ps.get("volume").unwrap_or_default().to_string(),
                    ps,
                }
                .render(false),
            );
        } else {
            conf.main.set(&k, v);
        }
    }
    guest::save(ctx, F, id, &conf)?;
    let path = archive.display();
    let mut out = format!(
        "extracting archive '{path}'\nTotal bytes read: 519987200 (496MiB, 91MiB/s)\nDetected container architecture: amd64\n"
    );
    for key in ["rsa", "dsa", "ecdsa", "ed25519"] {
        out.push_str(&format!("Creating SSH host key 'ssh_host_{key}_key' - this may take some time ...\ndone: SHA256:pvesim{id}{key} root@{hostname}\n"));
    }
    let mut o = Outcome::ok(Effect::Mutate)
        .out(out)
        .secs(cost(ctx, "pct.create"))
        .guest(id);
    if !root_sid.is_empty() {
        o = o.storage(root_sid);
    }
    if p.flag("start") {
        let s = start_ct(ctx, id)?;
        o.stdout.push_str(&s.stdout);
        o.secs += s.secs;
    }
    Ok(o)
}
