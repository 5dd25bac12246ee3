//! `/etc/pve/storage.cfg`: storage sections (`dir: local` then tab-indented `key value`
//! lines), read to find where templates and images live.

/// One storage definition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Storage {
    /// `dir`, `zfspool`, `nfs`, …
    pub kind: String,
    /// Storage ID.
    pub id: String,
    /// Properties in file order (`disable` has the value `1`).
    pub props: Vec<(String, String)>,
}

impl Storage {
    /// A property.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(x, _)| x == k)
            .map(|(_, v)| v.as_str())
    }

    /// Content types (Proxmox's defaults when the line is absent).
    pub fn content(&self) -> Vec<&str> {
        match self.get("content") {
            Some(c) => c
                .split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty() && *x != "none")
                .collect(),
            None => match self.kind.as_str() {
                "nfs" => vec!["images"],
                _ => vec!["images", "rootdir"],
            },
        }
    }

    /// Whether it holds a content type.
    pub fn has_content(&self, c: &str) -> bool {
        self.content().contains(&c)
    }

    /// Whether it is disabled.
    pub fn disabled(&self) -> bool {
        self.get("disable").is_some_and(|v| v != "0")
    }

    /// Directory of a path-based storage.
    pub fn path(&self) -> Option<&str> {
        self.get("path")
    }
}

/// Whether the volume `volid` (`storage:name`) can take a snapshot, as pve-storage decides
/// (`volume_has_feature(…, 'snapshot', …)`): ZFS, RBD, LVM-thin and Btrfs storages snapshot any
/// volume; the file-based plugins (`dir`, `nfs`, `cifs`, …) and thick LVM only qcow2 images
/// (src/PVE/Storage/Plugin.pm and LVMPlugin.pm `volume_has_feature`). `None` when the storage
/// is not configured.
pub fn snapshot_capable(storages: &[Storage], volid: &str) -> Option<bool> {
    let (sid, name) = volid.split_once(':')?;
    let st = storages.iter().find(|s| s.id == sid)?;
    Some(match st.kind.as_str() {
        "zfspool" | "zfs" | "rbd" | "lvmthin" | "btrfs" => true,
        _ => name.ends_with(".qcow2"),
    })
}

/// Why the guest `conf` cannot take a snapshot, as Proxmox decides it before it tries
/// (pve-guest-common AbstractConfig.pm `__snapshot_prepare` asks `has_feature('snapshot')` of
/// every volume and dies "snapshot feature is not available"; pve-container
/// src/test/snapshot-test.pm tests that message): the
/// first volume whose storage cannot snapshot it. `None` when all can (or their storage is
/// not configured here, which the snapshot itself then reports).
pub fn snapshot_blocker(storages: &[Storage], conf: &crate::pve::conf::Section) -> Option<String> {
    conf.volumes().into_iter().find_map(|(k, vol)| {
        (snapshot_capable(storages, vol) == Some(false))
            .then(|| format!("{k} ({vol}) is on a storage that cannot snapshot it"))
    })
}

/// Storage types that keep volumes as files (pve-storage: the plugins built on Plugin.pm's
/// path-based volumes); their volume names are `<vmid>/<name>.<format>`.
const FILE_BASED: &[&str] = &["dir", "nfs", "cifs", "glusterfs", "cephfs", "btrfs"];

/// The volume a full copy of `src` (a volume ID) onto storage `target` becomes: how
/// qemu-server (`clone_disk` / `resolve_dst_disk_format`: the source's format when the target
/// supports it, else the target's default) and pve-container (`copy_volume`: raw images on
/// file-based storages, subvolumes on ZFS) name it. A prediction for planning: the storage
/// and format are exact, the disk number is the `n` given.
pub fn copied_volume(
    storages: &[Storage],
    src: &str,
    target: &str,
    vmid: u32,
    n: usize,
    container: bool,
) -> String {
    let kind = storages
        .iter()
        .find(|s| s.id == target)
        .map(|s| s.kind.as_str())
        .unwrap_or("");
    if FILE_BASED.contains(&kind) {
        let fmt = if !container && src.ends_with(".qcow2") {
            "qcow2"
        } else {
            "raw"
        };
        format!("{target}:{vmid}/vm-{vmid}-disk-{n}.{fmt}")
    } else if container && matches!(kind, "zfspool" | "zfs") {
        format!("{target}:subvol-{vmid}-disk-{n}")
    } else {
        format!("{target}:vm-{vmid}-disk-{n}")
    }
}

/// A full copy moves every volume of `main` onto `target` (`qm clone --storage`, `pct clone
/// --storage`: qemu-server and pve-container allocate each copied volume there).
pub fn move_volumes(
    main: &mut crate::pve::conf::Section,
    storages: &[Storage],
    target: &str,
    id: u32,
    ct: bool,
) {
    let moved: Vec<(String, String, String)> = main
        .volumes()
        .into_iter()
        .enumerate()
        .map(|(n, (k, vol))| {
            let to = copied_volume(storages, vol, target, id, n, ct);
            (k.to_string(), vol.to_string(), to)
        })
        .collect();
    for (k, from, to) in moved {
        if let Some(v) = main.keys.get_mut(&k) {
            *v = v.replacen(&from, &to, 1);
        }
    }
}

/// Parses the file.
pub fn parse(text: &str) -> Vec<Storage> {
    let mut out: Vec<Storage> = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(s) = out.last_mut() {
                let t = line.trim();
                let (k, v) = t
                    .split_once(char::is_whitespace)
                    .map_or((t, ""), |(k, v)| (k, v.trim()));
                s.props.push((
                    k.to_string(),
                    if v.is_empty() {
                        "1".into()
                    } else {
                        v.to_string()
                    },
                ));
            }
        } else if let Some((kind, id)) = line.split_once(':') {
            out.push(Storage {
                kind: kind.trim().to_ascii_lowercase(),
                id: id.trim().to_string(),
                props: Vec::new(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_installer_file() {
        let s = parse(
            "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\nzfspool: local-zfs\n\tpool rpool/data\n\tsparse\n\tcontent images,rootdir\n",
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].path(), Some("/var/lib/vz"));
        assert!(s[0].has_content("vztmpl") && !s[0].has_content("rootdir"));
        assert_eq!(s[1].get("sparse"), Some("1"));
        assert!(!s[1].disabled());
    }

    /// pve-storage Plugin.pm / ZFSPoolPlugin.pm `volume_has_feature(snapshot)`.
    #[test]
    fn snapshots_follow_the_storage_type_and_format() {
        let st = parse("dir: local\n\tpath /var/lib/vz\n\nzfspool: tank\n\tpool tank\n");
        assert_eq!(snapshot_capable(&st, "tank:subvol-100-disk-0"), Some(true));
        assert_eq!(
            snapshot_capable(&st, "local:100/vm-100-disk-0.raw"),
            Some(false)
        );
        assert_eq!(
            snapshot_capable(&st, "local:100/vm-100-disk-0.qcow2"),
            Some(true)
        );
        assert_eq!(snapshot_capable(&st, "other:vm-100-disk-0"), None);
        assert_eq!(
            copied_volume(&st, "tank:vm-9-disk-0", "local", 101, 0, false),
            "local:101/vm-101-disk-0.raw"
        );
        assert_eq!(
            copied_volume(&st, "local:9/vm-9-disk-0.qcow2", "local", 101, 1, false),
            "local:101/vm-101-disk-1.qcow2"
        );
        assert_eq!(
            copied_volume(&st, "local:9/vm-9-disk-0.raw", "tank", 101, 0, true),
            "tank:subvol-101-disk-0"
        );
        assert_eq!(
            copied_volume(&st, "tank:subvol-9-disk-0", "tank", 101, 0, false),
            "tank:vm-101-disk-0"
        );
    }
}
