//! Proxmox storages: `/etc/pve/storage.cfg` (pve-common SectionConfig format) and volumes on
//! them (zfspool datasets and zvols, dir-storage files), named the way pve-storage names them.

use std::path::PathBuf;

use crate::root::{SimRoot, write_atomic};
use crate::state::{DsKind, State};
use crate::zfs::{nice, parse_size};

/// One storage definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Storage {
    /// `dir`, `zfspool`, `nfs`, …
    pub kind: String,
    /// Storage ID.
    pub id: String,
    /// Properties in file order (`disable` has an empty value).
    pub props: Vec<(String, String)>,
}

/// The whole `storage.cfg`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorageCfg {
    /// Sections in file order.
    pub entries: Vec<Storage>,
}

/// Fixed (required) keys per type, written first.
fn fixed_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "dir" => &["path"],
        "zfspool" => &["pool"],
        "nfs" => &["export", "path", "server"],
        _ => &[],
    }
}

/// Keys a type accepts besides its fixed keys.
pub fn optional_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "dir" => &[
            "content",
            "content-dirs",
            "create-base-path",
            "create-subdirs",
            "disable",
            "format",
            "is_mountpoint",
            "max-protected-backups",
            "maxfiles",
            "mkdir",
            "nodes",
            "preallocation",
            "prune-backups",
            "shared",
            "bwlimit",
        ],
        "zfspool" => &[
            "blocksize",
            "bwlimit",
            "content",
            "disable",
            "mountpoint",
            "nodes",
            "sparse",
        ],
        "nfs" => &[
            "content",
            "disable",
            "format",
            "nodes",
            "options",
            "preallocation",
            "prune-backups",
            "max-protected-backups",
            "bwlimit",
        ],
        _ => &[],
    }
}

/// Storage types the simulator supports.
pub const TYPES: &[&str] = &["dir", "nfs", "zfspool"];

impl Storage {
    /// A property.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(x, _)| x == k)
            .map(|(_, v)| v.as_str())
    }

    /// Sets a property.
    pub fn set(&mut self, k: &str, v: impl Into<String>) {
        let v = v.into();
        match self.props.iter_mut().find(|(x, _)| x == k) {
            Some(p) => p.1 = v,
            None => self.props.push((k.to_string(), v)),
        }
    }

    /// Content types.
    pub fn content(&self) -> Vec<String> {
        match self.get("content") {
            Some(c) => c
                .split(',')
                .filter(|x| !x.is_empty() && *x != "none")
                .map(str::to_string)
                .collect(),
            None => vec!["images".into(), "rootdir".into()],
        }
    }

    /// Whether a content type is allowed.
    pub fn has_content(&self, c: &str) -> bool {
        self.content().iter().any(|x| x == c)
    }

    /// Whether the storage is disabled.
    pub fn disabled(&self) -> bool {
        self.props.iter().any(|(k, v)| k == "disable" && v != "0")
    }

    /// Directory of a path-based storage.
    pub fn path(&self) -> Option<&str> {
        self.get("path")
    }

    /// Pool dataset of a zfspool storage.
    pub fn pool(&self) -> Option<&str> {
        self.get("pool")
    }

    fn render(&self) -> String {
        let mut out = format!("{}: {}\n", self.kind, self.id);
        if self.disabled() {
            out.push_str("\tdisable\n");
        }
        let fixed = fixed_keys(&self.kind);
        let mut fixed_props: Vec<&(String, String)> = self
            .props
            .iter()
            .filter(|(k, _)| fixed.contains(&k.as_str()))
            .collect();
        fixed_props.sort();
        let mut rest: Vec<&(String, String)> = self
            .props
            .iter()
            .filter(|(k, _)| !fixed.contains(&k.as_str()) && k != "disable")
            .collect();
        rest.sort();
        for (k, v) in fixed_props.into_iter().chain(rest) {
            out.push_str(&format!("\t{k} {v}\n"));
        }
        out.push('\n');
        out
    }
}

impl StorageCfg {
    /// Parses `storage.cfg`.
    pub fn parse(text: &str) -> Self {
        let mut entries: Vec<Storage> = Vec::new();
        let mut cur: Option<Storage> = None;
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            if line.trim().is_empty() {
                if let Some(s) = cur.take() {
                    entries.push(s);
                }
                continue;
            }
            if line.starts_with([' ', '\t']) {
                if let Some(s) = cur.as_mut() {
                    let t = line.trim();
                    let (k, v) = t
                        .split_once(char::is_whitespace)
                        .map_or((t, ""), |(k, v)| (k, v.trim()));
                    let v = if v.is_empty() { "1" } else { v };
                    s.props.push((k.to_string(), v.to_string()));
                }
                continue;
            }
            if let Some((kind, id)) = line.split_once(':') {
                if let Some(s) = cur.take() {
                    entries.push(s);
                }
                cur = Some(Storage {
                    kind: kind.trim().to_ascii_lowercase(),
                    id: id.trim().to_string(),
                    props: Vec::new(),
                });
            }
        }
        if let Some(s) = cur.take() {
            entries.push(s);
        }
        Self { entries }
    }

    /// Writes `storage.cfg` (SectionConfig writer: blank line after every section).
    pub fn render(&self) -> String {
        self.entries.iter().map(Storage::render).collect()
    }

    /// Loads it from the simulated host.
    pub fn load(root: &SimRoot) -> Self {
        Self::parse(&std::fs::read_to_string(root.storage_cfg()).unwrap_or_default())
    }

    /// Saves it.
    pub fn save(&self, root: &SimRoot) -> anyhow::Result<()> {
        write_atomic(&root.storage_cfg(), self.render().as_bytes())
    }

    /// A storage by ID.
    pub fn get(&self, id: &str) -> Option<&Storage> {
        self.entries.iter().find(|s| s.id == id)
    }

    /// A storage by ID, mutable.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Storage> {
        self.entries.iter_mut().find(|s| s.id == id)
    }
}

/// A volume ID split into storage and volume name.
pub fn split_volid(volid: &str) -> Option<(&str, &str)> {
    let (s, v) = volid.split_once(':')?;
    (!s.is_empty() && !v.is_empty()).then_some((s, v))
}

/// Facts about a guest volume name (`subvol-101-disk-0`, `base-9000-disk-0/vm-101-disk-0`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolName {
    /// The dataset/file name (without any `base…/` prefix).
    pub name: String,
    /// Owner VMID.
    pub vmid: u32,
    /// `subvol`, `basevol`, `vm`, `base`.
    pub prefix: String,
    /// Base volume of a linked clone.
    pub base: Option<String>,
}

/// Parses a guest volume name (pve-storage `parse_volname` for zfspool).
pub fn parse_volname(v: &str) -> Option<VolName> {
    let (base, name) = match v.split_once('/') {
        Some((b, n)) if !b.chars().all(|c| c.is_ascii_digit()) => (Some(b.to_string()), n),
        Some((_, n)) => (None, n),
        None => (None, v),
    };
    let name = name
        .trim_end_matches(".raw")
        .trim_end_matches(".qcow2")
        .trim_end_matches(".subvol");
    let mut parts = name.splitn(3, '-');
    let prefix = parts.next()?;
    let vmid: u32 = parts.next()?.parse().ok()?;
    parts.next()?;
    matches!(prefix, "subvol" | "basevol" | "vm" | "base").then(|| VolName {
        name: name.to_string(),
        vmid,
        prefix: prefix.to_string(),
        base,
    })
}

/// What converting a zfspool volume into a template base does to its name (pve-storage
/// `ZFSPoolPlugin::create_base`): the dataset `<name>` is renamed `subvol-`→`basevol-` or
/// `vm-`→`base-`, and a linked clone keeps its base prefix in the volume name
/// (`basevol-900-disk-0/subvol-901-disk-0` → dataset `subvol-901-disk-0` renamed
/// `basevol-901-disk-0`, volume `basevol-900-disk-0/basevol-901-disk-0`). Returns
/// `(old dataset name, new dataset name, new volume name)`, or `None` for a base already.
pub fn create_base_names(vname: &str) -> Option<(String, String, String)> {
    let v = parse_volname(vname)?;
    let newname = match v.prefix.as_str() {
        "subvol" => v.name.replacen("subvol-", "basevol-", 1),
        "vm" => v.name.replacen("vm-", "base-", 1),
        _ => return None,
    };
    let newvol = match &v.base {
        Some(b) => format!("{b}/{newname}"),
        None => newname.clone(),
    };
    Some((v.name, newname, newvol))
}

/// Volume naming and allocation on the simulated storages.
impl State {
    /// The dataset of a zfspool volume name.
    pub fn volume_dataset(cfg: &StorageCfg, volid: &str) -> Option<String> {
        let (sid, vname) = split_volid(volid)?;
        let st = cfg.get(sid)?;
        if st.kind != "zfspool" {
            return None;
        }
        let name = vname.rsplit('/').next()?;
        Some(format!("{}/{name}", st.pool()?))
    }

    /// Host path of a volume: the mount point of a zfspool file system, a dir-storage file or
    /// directory, `/dev/zvol/…` for a zvol, or the file of an ISO/template/snippet.
    pub fn volume_path(&self, root: &SimRoot, cfg: &StorageCfg, volid: &str) -> Option<PathBuf> {
        let (sid, vname) = split_volid(volid)?;
        let st = cfg.get(sid)?;
        match st.kind.as_str() {
            "zfspool" => {
                let ds = Self::volume_dataset(cfg, volid)?;
                match self.zfs.datasets.get(&ds)?.kind {
                    DsKind::Filesystem => self.zfs_mount_dir(root, &ds),
                    DsKind::Volume => Some(root.host(format!("/dev/zvol/{ds}"))),
                }
            }
            _ => {
                let base = root.host(st.path()?);
                let (kind, rest) = vname.split_once('/')?;
                let sub = match kind {
                    "iso" => "template/iso",
                    "vztmpl" => "template/cache",
                    "snippets" => "snippets",
                    "import" => "import",
                    "backup" => "dump",
                    k if k.chars().all(|c| c.is_ascii_digit()) => {
                        return Some(base.join("images").join(k).join(rest));
                    }
                    _ => return None,
                };
                Some(base.join(sub).join(rest))
            }
        }
    }

    /// Names in use for a VMID on a storage (`…-<vmid>-disk-N`).
    fn used_disk_indices(
        &self,
        root: &SimRoot,
        cfg: &StorageCfg,
        sid: &str,
        vmid: u32,
    ) -> Vec<u32> {
        let mut used = Vec::new();
        let Some(st) = cfg.get(sid) else { return used };
        let names: Vec<String> = match st.kind.as_str() {
            "zfspool" => {
                let prefix = format!("{}/", st.pool().unwrap_or_default());
                self.zfs
                    .datasets
                    .keys()
                    .filter_map(|k| k.strip_prefix(&prefix))
                    .filter(|k| !k.contains('/'))
                    .map(str::to_string)
                    .collect()
            }
            _ => std::fs::read_dir(
                root.host(st.path().unwrap_or("/nonexistent"))
                    .join("images")
                    .join(vmid.to_string()),
            )
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default(),
        };
        for n in names {
            if let Some(v) = parse_volname(&n) {
                if v.vmid == vmid {
                    if let Some(i) = v.name.rsplit('-').next().and_then(|i| i.parse().ok()) {
                        used.push(i);
                    }
                }
            }
        }
        used
    }

    /// Allocates a new guest disk: `subvol-<vmid>-disk-N` (file system with refquota) or
    /// `vm-<vmid>-disk-N` (zvol) on zfspool; a file or directory on a dir storage.
    /// Returns the volume ID.
    pub fn alloc_disk(
        &mut self,
        root: &SimRoot,
        cfg: &StorageCfg,
        sid: &str,
        vmid: u32,
        subvol: bool,
        size: u64,
    ) -> Result<String, String> {
        let st = cfg
            .get(sid)
            .ok_or_else(|| format!("storage '{sid}' does not exist"))?
            .clone();
        let used = self.used_disk_indices(root, cfg, sid, vmid);
        let idx = (0..).find(|i| !used.contains(i)).unwrap_or(0);
        match st.kind.as_str() {
            "zfspool" => {
                let pool = st.pool().unwrap_or_default();
                let (name, kind, prop) = if subvol {
                    (
                        format!("subvol-{vmid}-disk-{idx}"),
                        DsKind::Filesystem,
                        (
                            "refquota",
                            if size == 0 {
                                "none".to_string()
                            } else {
                                nice(size)
                            },
                        ),
                    )
                } else {
                    (
                        format!("vm-{vmid}-disk-{idx}"),
                        DsKind::Volume,
                        ("volsize", nice(size)),
                    )
                };
                let mut props = std::collections::BTreeMap::new();
                props.insert(prop.0.to_string(), prop.1);
                if subvol {
                    props.insert("acltype".into(), "posixacl".into());
                    props.insert("xattr".into(), "sa".into());
                }
                self.zfs_create(root, &format!("{pool}/{name}"), kind, props)
                    .map_err(|e| format!("zfs error: {e}"))?;
                Ok(format!("{sid}:{name}"))
            }
            "dir" | "nfs" => {
                let dir = root
                    .host(st.path().unwrap_or("/"))
                    .join("images")
                    .join(vmid.to_string());
                std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                let (name, is_dir) = if subvol {
                    (format!("subvol-{vmid}-disk-{idx}.subvol"), true)
                } else {
                    (format!("vm-{vmid}-disk-{idx}.raw"), false)
                };
                let p = dir.join(&name);
                if is_dir {
                    std::fs::create_dir_all(&p).map_err(|e| e.to_string())?;
                } else {
                    std::fs::write(&p, format!("pve-sim raw image, size {size}\n"))
                        .map_err(|e| e.to_string())?;
                    write_atomic(&p.with_extension("raw.size"), size.to_string().as_bytes())
                        .map_err(|e| e.to_string())?;
                }
                Ok(format!("{sid}:{vmid}/{name}"))
            }
            other => Err(format!(
                "storage type '{other}' is not supported by pve-sim"
            )),
        }
    }

    /// A linked clone of a base volume (`zfs clone <base>@__base__`), named like pve-storage's
    /// `clone_image`: `sid:base-9000-disk-0/vm-9001-disk-0` (`subvol-…` for containers).
    pub fn clone_image(
        &mut self,
        root: &SimRoot,
        cfg: &StorageCfg,
        base_volid: &str,
        vmid: u32,
        subvol: bool,
    ) -> Result<String, String> {
        let (sid, vname) = split_volid(base_volid)
            .ok_or_else(|| format!("unable to parse volume ID '{base_volid}'"))?;
        let st = cfg
            .get(sid)
            .ok_or_else(|| format!("storage '{sid}' does not exist"))?;
        let pool = st
            .pool()
            .ok_or_else(|| format!("storage '{sid}' cannot make linked clones"))?
            .to_string();
        let prefix = if subvol { "subvol" } else { "vm" };
        let idx = (0..)
            .find(|i| {
                !self
                    .zfs
                    .datasets
                    .contains_key(&format!("{pool}/{prefix}-{vmid}-disk-{i}"))
            })
            .unwrap_or(0);
        let child = format!("{prefix}-{vmid}-disk-{idx}");
        // pve-storage ZFSPoolPlugin.pm clone_image: the clone's volume name is the base's own
        // name (the last component) over the new dataset.
        let base = parse_volname(vname)
            .map(|v| v.name)
            .ok_or_else(|| format!("unable to parse zfs volume name '{vname}'"))?;
        self.zfs_clone(
            root,
            &format!("{pool}/{base}@__base__"),
            &format!("{pool}/{child}"),
            std::collections::BTreeMap::new(),
        )?;
        Ok(format!("{sid}:{base}/{child}"))
    }

    /// Size of a volume in bytes.
    pub fn volume_size(&self, root: &SimRoot, cfg: &StorageCfg, volid: &str) -> Option<u64> {
        if let Some(ds) = Self::volume_dataset(cfg, volid) {
            let d = self.zfs.datasets.get(&ds)?;
            let key = if d.kind == DsKind::Volume {
                "volsize"
            } else {
                "refquota"
            };
            return Some(d.props.get(key).and_then(|v| parse_size(v)).unwrap_or(0));
        }
        let p = self.volume_path(root, cfg, volid)?;
        if let Ok(s) = std::fs::read_to_string(p.with_extension("raw.size")) {
            return s.trim().parse().ok();
        }
        std::fs::metadata(p).ok().map(|m| m.len())
    }

    /// Sets the size of a volume.
    pub fn volume_resize(
        &mut self,
        root: &SimRoot,
        cfg: &StorageCfg,
        volid: &str,
        size: u64,
    ) -> Result<(), String> {
        if let Some(ds) = Self::volume_dataset(cfg, volid) {
            let d = self
                .zfs
                .datasets
                .get_mut(&ds)
                .ok_or_else(|| format!("volume '{volid}' does not exist"))?;
            let key = if d.kind == DsKind::Volume {
                "volsize"
            } else {
                "refquota"
            };
            d.props.insert(key.to_string(), nice(size));
            return Ok(());
        }
        let p = self
            .volume_path(root, cfg, volid)
            .ok_or_else(|| format!("volume '{volid}' does not exist"))?;
        write_atomic(&p.with_extension("raw.size"), size.to_string().as_bytes())
            .map_err(|e| e.to_string())
    }

    /// Frees a volume.
    pub fn volume_free(
        &mut self,
        root: &SimRoot,
        cfg: &StorageCfg,
        volid: &str,
    ) -> Result<(), String> {
        if let Some(ds) = Self::volume_dataset(cfg, volid) {
            if !self.zfs.datasets.contains_key(&ds) {
                return Ok(());
            }
            let clones = self.zfs_clones_of(&ds);
            if !clones.is_empty() {
                let name = split_volid(volid).map_or(volid, |(_, v)| v);
                return Err(format!(
                    "base volume '{name}' is still in use by linked clones"
                ));
            }
            return self.zfs_destroy(root, &ds, true);
        }
        if let Some(p) = self.volume_path(root, cfg, volid) {
            let _ = std::fs::remove_file(p.with_extension("raw.size"));
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTALLER: &str = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\nzfspool: local-zfs\n\tpool rpool/data\n\tsparse\n\tcontent images,rootdir\n";

    #[test]
    fn parses_the_installer_file_and_writes_it_canonically() {
        let c = StorageCfg::parse(INSTALLER);
        assert_eq!(c.entries.len(), 2);
        assert_eq!(c.get("local-zfs").unwrap().pool(), Some("rpool/data"));
        assert!(c.get("local").unwrap().has_content("vztmpl"));
        assert_eq!(
            c.render(),
            "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\nzfspool: local-zfs\n\tpool rpool/data\n\tcontent images,rootdir\n\tsparse 1\n\n"
        );
        assert_eq!(StorageCfg::parse(&c.render()).render(), c.render());
    }

    #[test]
    fn volume_names() {
        assert_eq!(parse_volname("subvol-101-disk-0").unwrap().vmid, 101);
        let l = parse_volname("basevol-900-disk-0/subvol-101-disk-0").unwrap();
        assert_eq!(
            (l.name.as_str(), l.base.as_deref()),
            ("subvol-101-disk-0", Some("basevol-900-disk-0"))
        );
        assert_eq!(
            parse_volname("101/vm-101-disk-1.raw").unwrap().name,
            "vm-101-disk-1"
        );
        assert!(parse_volname("vztmpl/x.tar.zst").is_none());
    }

    /// pve-storage src/PVE/Storage/ZFSPoolPlugin.pm `create_base`: the dataset is renamed,
    /// a linked clone keeps its base in the volume name.
    #[test]
    fn create_base_renames_the_dataset_and_keeps_a_linked_clone_s_base() {
        assert_eq!(
            create_base_names("subvol-900-disk-0"),
            Some((
                "subvol-900-disk-0".into(),
                "basevol-900-disk-0".into(),
                "basevol-900-disk-0".into()
            ))
        );
        assert_eq!(
            create_base_names("basevol-900-disk-0/subvol-901-disk-0"),
            Some((
                "subvol-901-disk-0".into(),
                "basevol-901-disk-0".into(),
                "basevol-900-disk-0/basevol-901-disk-0".into()
            ))
        );
        assert_eq!(
            create_base_names("base-9000-disk-0/vm-101-disk-0").map(|n| n.2),
            Some("base-9000-disk-0/base-101-disk-0".into())
        );
        assert_eq!(create_base_names("basevol-900-disk-0"), None);
    }
}
