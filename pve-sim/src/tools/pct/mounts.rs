//! A container's mount points and its file tree (root filesystem and mounts), as `pct` sees them.

use super::*;

pub(super) fn mountpoints(s: &Section) -> Vec<Mp> {
    let mut v: Vec<(u32, Mp)> = s
        .keys
        .iter()
        .filter_map(|(k, val)| {
            let order = if k == "rootfs" {
                0
            } else {
                k.strip_prefix("mp")?.parse::<u32>().ok()? + 1
            };
            let ps = PropStr::parse(val, Some("volume")).ok()?;
            let volume = ps.get("volume")?.to_string();
            Some((
                order,
                Mp {
                    key: k.clone(),
                    ps,
                    volume,
                },
            ))
        })
        .collect();
    v.sort_by_key(|(o, _)| *o);
    v.into_iter().map(|(_, m)| m).collect()
}

/// The file tree behind a volume.
pub(super) fn volume_tree(ctx: &Ctx, cfg: &StorageCfg, volid: &str) -> Option<PathBuf> {
    let p = ctx.state.volume_path(&ctx.root, cfg, volid)?;
    if p.is_dir() || p.extension().is_some_and(|e| e == "subvol") {
        return Some(p);
    }
    Some(
        ctx.root
            .data()
            .join("rawfs")
            .join(volid.replace(['/', ':'], "%")),
    )
}

/// The container's file system: rootfs plus its mount points.
pub(super) fn guest_fs(ctx: &Ctx, conf: &Section) -> Result<GuestFs, String> {
    let cfg = StorageCfg::load(&ctx.root);
    let mps = mountpoints(conf);
    let root_mp = mps
        .iter()
        .find(|m| m.key == "rootfs")
        .ok_or("container has no rootfs")?;
    let root = match root_mp.kind() {
        MpKind::Volume => volume_tree(ctx, &cfg, &root_mp.volume)
            .ok_or_else(|| format!("volume '{}' does not exist", root_mp.volume))?,
        _ => ctx.root.host(&root_mp.volume),
    };
    let mut mounts = Vec::new();
    for m in mps.iter().filter(|m| m.key != "rootfs") {
        let Some(path) = m.ps.get("mp") else { continue };
        let dir = match m.kind() {
            MpKind::Volume => volume_tree(ctx, &cfg, &m.volume),
            MpKind::Bind => Some(ctx.root.host(&m.volume)),
            MpKind::Device => None,
        };
        if let Some(d) = dir {
            mounts.push((path.to_string(), d));
        }
    }
    Ok(GuestFs { root, mounts })
}

/// Normalises a `netN` value the way `parse_lxc_network`+`print_lxc_network` do.
pub(super) fn normalize_net(ctx: &mut Ctx, v: &str, salt: u64) -> String {
    let mut ps = PropStr::parse(v, None).unwrap_or_default();
    ps.set("type", "veth");
    if ps.get("hwaddr").is_none() {
        let mac = random_mac(ctx, salt);
        ps.set("hwaddr", mac);
    }
    ps.print(&["name"], false)
}

pub(super) fn ostype_of(template: &str) -> &'static str {
    let t = template
        .rsplit('/')
        .next()
        .unwrap_or(template)
        .to_ascii_lowercase();
    for (needle, os) in [
        ("ubuntu", "ubuntu"),
        ("debian", "debian"),
        ("alpine", "alpine"),
        ("centos", "centos"),
        ("rocky", "centos"),
        ("alma", "centos"),
        ("fedora", "fedora"),
        ("archlinux", "archlinux"),
        ("opensuse", "opensuse"),
        ("devuan", "devuan"),
        ("gentoo", "gentoo"),
        ("nixos", "nixos"),
    ] {
        if t.contains(needle) {
            return os;
        }
    }
    "unmanaged"
}
