//! ZFS as the simulator keeps it: pools, datasets (file systems mounted under the system
//! root, volumes), snapshots (with a copy of the file tree kept in
//! `var/lib/pve-sim/zfs-snapshots/`), clones, and property inheritance.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::root::SimRoot;
use crate::state::{Dataset, DsKind, State, ZSnapshot};

/// Default values of the properties `zfs get` reports (OpenZFS 2.2 on Linux).
pub const DEFAULTS: &[(&str, &str)] = &[
    ("atime", "on"),
    ("relatime", "on"),
    ("compression", "off"),
    ("checksum", "on"),
    ("recordsize", "128K"),
    ("sync", "standard"),
    ("quota", "none"),
    ("refquota", "none"),
    ("reservation", "none"),
    ("refreservation", "none"),
    ("canmount", "on"),
    ("xattr", "on"),
    ("acltype", "off"),
    ("readonly", "off"),
    ("copies", "1"),
    ("snapdir", "hidden"),
    ("dedup", "off"),
    ("logbias", "latency"),
    ("primarycache", "all"),
    ("secondarycache", "all"),
    ("dnodesize", "legacy"),
    ("special_small_blocks", "0"),
    ("sharenfs", "off"),
    ("sharesmb", "off"),
    ("exec", "on"),
    ("setuid", "on"),
    ("devices", "on"),
    ("volblocksize", "16K"),
];

/// Properties that are not inherited (they belong to the dataset itself).
const NOT_INHERITED: &[&str] = &[
    "quota",
    "refquota",
    "reservation",
    "refreservation",
    "volsize",
    "volblocksize",
];

/// Whether `name` is a settable or readable property the simulator knows.
pub fn known_property(name: &str) -> bool {
    DEFAULTS.iter().any(|(k, _)| *k == name)
        || matches!(
            name,
            "mountpoint"
                | "volsize"
                | "type"
                | "creation"
                | "used"
                | "available"
                | "avail"
                | "referenced"
                | "refer"
                | "origin"
                | "mounted"
                | "name"
                | "compressratio"
        )
        || name.contains(':')
}

/// A size such as `32G`, `1.4T`, `128K`, `512` in bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match unit.to_ascii_uppercase().trim_end_matches('B') {
        "" => 1.0,
        "K" => 1024.0,
        "M" => 1024f64.powi(2),
        "G" => 1024f64.powi(3),
        "T" => 1024f64.powi(4),
        "P" => 1024f64.powi(5),
        _ => return None,
    };
    (n >= 0.0).then(|| (n * mult).round() as u64)
}

/// `zfs_nicenum`-style human size: `96K`, `1.50G`, `12.3G`, `128M`.
pub fn nice(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
    if bytes < 1024 {
        return bytes.to_string();
    }
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if v.fract() == 0.0 {
        return format!("{}{}", v as u64, UNITS[i]);
    }
    for prec in [2usize, 1, 0] {
        let s = format!("{v:.prec$}");
        if s.len() <= 4 {
            return format!("{s}{}", UNITS[i]);
        }
    }
    format!("{v:.0}{}", UNITS[i])
}

/// The pool of a dataset name.
pub fn pool_of(name: &str) -> &str {
    name.split(['/', '@']).next().unwrap_or(name)
}

/// The parent of a dataset (`None` for a pool root).
pub fn parent_of(name: &str) -> Option<&str> {
    name.rsplit_once('/').map(|(p, _)| p)
}

impl State {
    /// Resolves a property: `(value, source)` where source is `local`, `default`,
    /// `inherited from <ds>` or `-`.
    pub fn zfs_prop(&self, ds: &str, prop: &str) -> Option<(String, String)> {
        let d = self.zfs.datasets.get(ds)?;
        if let Some(v) = d.props.get(prop) {
            return Some((v.clone(), "local".into()));
        }
        if prop == "mountpoint" {
            if d.kind == DsKind::Volume {
                return Some(("-".into(), "-".into()));
            }
            // Inherited mountpoints extend the ancestor's by the relative path.
            let mut cur = ds;
            while let Some(p) = parent_of(cur) {
                if let Some(v) = self
                    .zfs
                    .datasets
                    .get(p)
                    .and_then(|x| x.props.get("mountpoint"))
                {
                    let rel = &ds[p.len()..];
                    return Some((
                        format!("{}{rel}", v.trim_end_matches('/')),
                        format!("inherited from {p}"),
                    ));
                }
                cur = p;
            }
            return Some((format!("/{ds}"), "default".into()));
        }
        if !NOT_INHERITED.contains(&prop) {
            let mut cur = ds;
            while let Some(p) = parent_of(cur) {
                if let Some(v) = self.zfs.datasets.get(p).and_then(|x| x.props.get(prop)) {
                    return Some((v.clone(), format!("inherited from {p}")));
                }
                cur = p;
            }
        }
        DEFAULTS
            .iter()
            .find(|(k, _)| *k == prop)
            .map(|(_, v)| ((*v).to_string(), "default".into()))
    }

    /// The host directory a file system is mounted on (`None` for volumes).
    pub fn zfs_mount_dir(&self, root: &SimRoot, ds: &str) -> Option<PathBuf> {
        let d = self.zfs.datasets.get(ds)?;
        if d.kind == DsKind::Volume {
            return None;
        }
        let (mp, _) = self.zfs_prop(ds, "mountpoint")?;
        // The root file system (`rpool/ROOT/pve-1` on `/`) is the host itself, not a tree
        // the simulator manages.
        (mp != "none" && mp != "legacy" && mp != "/").then(|| root.host(&mp))
    }

    /// Creates a dataset (parents must exist). Returns the error text ZFS prints.
    pub fn zfs_create(
        &mut self,
        root: &SimRoot,
        name: &str,
        kind: DsKind,
        props: BTreeMap<String, String>,
    ) -> Result<(), String> {
        if self.zfs.datasets.contains_key(name) {
            return Err(format!("cannot create '{name}': dataset already exists"));
        }
        if !self.zfs.pools.contains_key(pool_of(name)) {
            return Err(format!(
                "cannot create '{name}': no such pool '{}'",
                pool_of(name)
            ));
        }
        if let Some(p) = parent_of(name) {
            if !self.zfs.datasets.contains_key(p) {
                return Err(format!("cannot create '{name}': parent does not exist"));
            }
            if self.zfs.datasets[p].kind == DsKind::Volume {
                return Err(format!(
                    "cannot create '{name}': parent is not a filesystem"
                ));
            }
        }
        let created = self.now();
        self.zfs.datasets.insert(
            name.to_string(),
            Dataset {
                kind,
                props,
                origin: None,
                created,
            },
        );
        if let Some(dir) = self.zfs_mount_dir(root, name) {
            std::fs::create_dir_all(&dir).map_err(|e| format!("cannot mount '{name}': {e}"))?;
        }
        Ok(())
    }

    /// Children and snapshots that block a non-recursive destroy.
    pub fn zfs_dependents(&self, name: &str) -> Vec<String> {
        let prefix = format!("{name}/");
        let snap_prefix = format!("{name}@");
        self.zfs
            .datasets
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .chain(
                self.zfs
                    .snapshots
                    .keys()
                    .filter(|k| k.starts_with(&snap_prefix)),
            )
            .cloned()
            .collect()
    }

    /// Clones of any snapshot of `name` (or of the snapshot itself).
    pub fn zfs_clones_of(&self, snap_or_ds: &str) -> Vec<String> {
        let snap_prefix = format!("{snap_or_ds}@");
        self.zfs
            .datasets
            .iter()
            .filter(|(_, d)| {
                d.origin
                    .as_deref()
                    .is_some_and(|o| o == snap_or_ds || o.starts_with(&snap_prefix))
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Destroys a dataset or snapshot; `recursive` also destroys children and snapshots.
    pub fn zfs_destroy(
        &mut self,
        root: &SimRoot,
        name: &str,
        recursive: bool,
    ) -> Result<(), String> {
        if name.contains('@') {
            if !self.zfs.snapshots.contains_key(name) {
                return Err(
                    "could not find any snapshots to destroy; check snapshot names.".to_string(),
                );
            }
            let clones = self.zfs_clones_of(name);
            if !clones.is_empty() {
                return Err(format!(
                    "cannot destroy '{name}': snapshot has dependent clones\nuse '-R' to destroy the following datasets:\n{}",
                    clones.join("\n")
                ));
            }
            self.zfs.snapshots.remove(name);
            let _ = std::fs::remove_dir_all(snapshot_dir(root, name));
            return Ok(());
        }
        if !self.zfs.datasets.contains_key(name) {
            return Err(format!("cannot open '{name}': dataset does not exist"));
        }
        let deps = self.zfs_dependents(name);
        if !deps.is_empty() && !recursive {
            let what = if deps.iter().any(|d| !d.contains('@')) {
                "filesystem has children"
            } else {
                "filesystem has dependent snapshots"
            };
            return Err(format!(
                "cannot destroy '{name}': {what}\nuse '-r' to destroy the following datasets:\n{}",
                deps.join("\n")
            ));
        }
        let clones: Vec<String> = std::iter::once(name.to_string())
            .chain(deps.iter().cloned())
            .flat_map(|d| self.zfs_clones_of(&d))
            .filter(|c| !c.starts_with(&format!("{name}/")))
            .collect();
        if !clones.is_empty() {
            return Err(format!(
                "cannot destroy '{name}': filesystem has dependent clones\nuse '-R' to destroy the following datasets:\n{}",
                clones.join("\n")
            ));
        }
        for d in deps.iter().rev() {
            if d.contains('@') {
                self.zfs.snapshots.remove(d);
                let _ = std::fs::remove_dir_all(snapshot_dir(root, d));
            } else {
                if let Some(dir) = self.zfs_mount_dir(root, d) {
                    let _ = std::fs::remove_dir_all(dir);
                }
                self.zfs.datasets.remove(d);
            }
        }
        if let Some(dir) = self.zfs_mount_dir(root, name) {
            let _ = std::fs::remove_dir_all(dir);
        }
        self.zfs.datasets.remove(name);
        Ok(())
    }

    /// Takes a snapshot, copying the file tree of a mounted file system.
    pub fn zfs_snapshot(&mut self, root: &SimRoot, snap: &str) -> Result<(), String> {
        let (ds, sname) = snap.split_once('@').ok_or_else(|| {
            format!("cannot create snapshot '{snap}': missing '@' delimiter in snapshot name")
        })?;
        if !self.zfs.datasets.contains_key(ds) {
            return Err(format!("cannot open '{ds}': dataset does not exist"));
        }
        if sname.is_empty() {
            return Err(format!(
                "cannot create snapshot '{snap}': empty component or misplaced '@' or '#' delimiter in name"
            ));
        }
        if self.zfs.snapshots.contains_key(snap) {
            return Err(format!(
                "cannot create snapshot '{snap}': dataset already exists"
            ));
        }
        if let Some(dir) = self.zfs_mount_dir(root, ds) {
            copy_tree(&dir, &snapshot_dir(root, snap))
                .map_err(|e| format!("cannot create snapshot '{snap}': {e}"))?;
        }
        let created = self.now();
        self.zfs.txg += 1;
        let txg = self.zfs.txg;
        self.zfs
            .snapshots
            .insert(snap.to_string(), ZSnapshot { created, txg });
        Ok(())
    }

    /// Snapshots of a dataset, oldest first.
    pub fn zfs_snapshots_of(&self, ds: &str) -> Vec<String> {
        let prefix = format!("{ds}@");
        let mut v: Vec<(u64, u64, &String)> = self
            .zfs
            .snapshots
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(k, s)| (s.created, s.txg, k))
            .collect();
        v.sort();
        v.into_iter().map(|(_, _, k)| k.clone()).collect()
    }

    /// Rolls a dataset back to a snapshot; more recent snapshots need `destroy_newer`.
    pub fn zfs_rollback(
        &mut self,
        root: &SimRoot,
        snap: &str,
        destroy_newer: bool,
    ) -> Result<(), String> {
        let (ds, _) = snap
            .split_once('@')
            .ok_or_else(|| format!("cannot open '{snap}': dataset does not exist"))?;
        if !self.zfs.snapshots.contains_key(snap) {
            return Err(format!("cannot open '{snap}': dataset does not exist"));
        }
        let all = self.zfs_snapshots_of(ds);
        let idx = all.iter().position(|s| s == snap).unwrap_or(0);
        let newer: Vec<String> = all[idx + 1..].to_vec();
        if !newer.is_empty() && !destroy_newer {
            return Err(format!(
                "cannot rollback to '{snap}': more recent snapshots or bookmarks exist\nuse '-r' to force deletion of the following snapshots and bookmarks:\n{}",
                newer.join("\n")
            ));
        }
        for n in newer {
            self.zfs_destroy(root, &n, false)?;
        }
        if let Some(dir) = self.zfs_mount_dir(root, ds) {
            let _ = std::fs::remove_dir_all(&dir);
            copy_tree(&snapshot_dir(root, snap), &dir)
                .map_err(|e| format!("cannot rollback '{ds}': {e}"))?;
        }
        Ok(())
    }

    /// Clones a snapshot into a new dataset (file tree copied).
    pub fn zfs_clone(
        &mut self,
        root: &SimRoot,
        snap: &str,
        target: &str,
        props: BTreeMap<String, String>,
    ) -> Result<(), String> {
        let (src, _) = snap
            .split_once('@')
            .ok_or_else(|| format!("cannot open '{snap}': operation only applies to snapshots"))?;
        if !self.zfs.snapshots.contains_key(snap) {
            return Err(format!("cannot open '{snap}': dataset does not exist"));
        }
        let kind = self
            .zfs
            .datasets
            .get(src)
            .map_or(DsKind::Filesystem, |d| d.kind);
        let mut p = props;
        if kind == DsKind::Volume {
            if let Some(v) = self
                .zfs
                .datasets
                .get(src)
                .and_then(|d| d.props.get("volsize"))
            {
                p.entry("volsize".into()).or_insert_with(|| v.clone());
            }
        }
        self.zfs_create(root, target, kind, p)?;
        if let Some(d) = self.zfs.datasets.get_mut(target) {
            d.origin = Some(snap.to_string());
        }
        if let Some(dir) = self.zfs_mount_dir(root, target) {
            copy_tree(&snapshot_dir(root, snap), &dir)
                .map_err(|e| format!("cannot clone '{snap}': {e}"))?;
        }
        Ok(())
    }

    /// Renames a dataset (and its snapshots and children), moving its mounted tree.
    pub fn zfs_rename(&mut self, root: &SimRoot, from: &str, to: &str) -> Result<(), String> {
        if !self.zfs.datasets.contains_key(from) {
            return Err(format!("cannot open '{from}': dataset does not exist"));
        }
        if self.zfs.datasets.contains_key(to) {
            return Err(format!("cannot rename to '{to}': dataset already exists"));
        }
        let old_dir = self.zfs_mount_dir(root, from);
        let rename = |k: &str| -> Option<String> {
            if k == from {
                Some(to.to_string())
            } else {
                k.strip_prefix(from)
                    .filter(|r| r.starts_with('/') || r.starts_with('@'))
                    .map(|r| format!("{to}{r}"))
            }
        };
        let ds: Vec<(String, Dataset)> =
            std::mem::take(&mut self.zfs.datasets).into_iter().collect();
        for (k, v) in ds {
            self.zfs.datasets.insert(rename(&k).unwrap_or(k), v);
        }
        let snaps: Vec<(String, ZSnapshot)> = std::mem::take(&mut self.zfs.snapshots)
            .into_iter()
            .collect();
        for (k, v) in snaps {
            if let Some(n) = rename(&k) {
                let _ = std::fs::rename(snapshot_dir(root, &k), snapshot_dir(root, &n));
                self.zfs.snapshots.insert(n, v);
            } else {
                self.zfs.snapshots.insert(k, v);
            }
        }
        for d in self.zfs.datasets.values_mut() {
            if let Some(o) = d.origin.clone() {
                d.origin = Some(rename(&o).unwrap_or(o));
            }
        }
        if let (Some(old), Some(new)) = (old_dir, self.zfs_mount_dir(root, to)) {
            if old.exists() {
                if let Some(p) = new.parent() {
                    let _ = std::fs::create_dir_all(p);
                }
                std::fs::rename(&old, &new).map_err(|e| format!("cannot rename '{from}': {e}"))?;
            }
        }
        Ok(())
    }

    /// Bytes used by a dataset: its file tree, or its size for a volume.
    pub fn zfs_used(&self, root: &SimRoot, ds: &str) -> u64 {
        match self.zfs.datasets.get(ds) {
            Some(d) if d.kind == DsKind::Volume => d
                .props
                .get("volsize")
                .and_then(|s| parse_size(s))
                .unwrap_or(0),
            Some(_) => self
                .zfs_mount_dir(root, ds)
                .map_or(0, |d| tree_size(&d))
                .max(96 * 1024),
            None => 0,
        }
    }
}

/// Where the file tree of a snapshot is kept.
pub fn snapshot_dir(root: &SimRoot, snap: &str) -> PathBuf {
    root.data()
        .join("zfs-snapshots")
        .join(snap.replace('/', "%"))
}

/// Copies a directory tree (files, directories, modes, symlinks).
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    std::fs::create_dir_all(to)?;
    if !from.exists() {
        return Ok(());
    }
    // Owners are kept where this process may set them (a real guest's tree: root), then the
    // mode, so set-ID bits survive the chown.
    let keep = |src: &std::fs::Metadata, dest: &Path, mode: bool| -> std::io::Result<()> {
        let _ = std::os::unix::fs::lchown(dest, Some(src.uid()), Some(src.gid()));
        if mode {
            std::fs::set_permissions(dest, src.permissions())?;
        }
        Ok(())
    };
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let t = e.file_type()?;
        let meta = std::fs::symlink_metadata(e.path())?;
        let dest = to.join(e.file_name());
        if t.is_dir() {
            copy_tree(&e.path(), &dest)?;
            keep(&meta, &dest, true)?;
        } else if t.is_symlink() {
            let target = std::fs::read_link(e.path())?;
            let _ = std::fs::remove_file(&dest);
            std::os::unix::fs::symlink(target, &dest)?;
            keep(&meta, &dest, false)?;
        } else if t.is_char_device() || t.is_block_device() || t.is_fifo() {
            // A real guest's /dev entries and FIFOs: made anew (needs root; skipped otherwise,
            // as a booted guest gets its own /dev).
            let _ = std::fs::remove_file(&dest);
            let kind = nix::sys::stat::SFlag::from_bits_truncate(meta.mode() & libc_s_ifmt());
            let perm = nix::sys::stat::Mode::from_bits_truncate(meta.mode() & 0o7777);
            if nix::sys::stat::mknod(&dest, kind, perm, meta.rdev()).is_ok() {
                keep(&meta, &dest, true)?;
            }
        } else if t.is_socket() {
            // A socket is a running program's, not content.
        } else {
            std::fs::copy(e.path(), &dest)?;
            keep(&meta, &dest, true)?;
        }
    }
    Ok(())
}

/// `S_IFMT`: the file-type bits of `st_mode`.
const fn libc_s_ifmt() -> u32 {
    0o170000
}

/// Total size of the files below `dir`.
pub fn tree_size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_size(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Pool;

    fn host() -> (tempfile::TempDir, SimRoot, State) {
        let d = tempfile::tempdir().unwrap();
        let root = SimRoot::new(d.path());
        let mut st = State::default();
        st.zfs.pools.insert(
            "tank".into(),
            Pool {
                layout: "mirror".into(),
                ..Pool::default()
            },
        );
        st.zfs_create(&root, "tank", DsKind::Filesystem, BTreeMap::new())
            .unwrap();
        (d, root, st)
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("32G"), Some(32 << 30));
        assert_eq!(
            parse_size("1.4T"),
            Some((1.4 * (1u64 << 40) as f64).round() as u64)
        );
        assert_eq!(parse_size("128K"), Some(131_072));
        assert_eq!(parse_size("x"), None);
        assert_eq!(nice(131_072), "128K");
        assert_eq!(nice(1_610_612_736), "1.50G");
        assert_eq!(nice(13_207_024_435), "12.3G");
        assert_eq!(nice(512), "512");
    }

    #[test]
    fn properties_inherit() {
        let (_d, root, mut st) = host();
        let mut p = BTreeMap::new();
        p.insert("compression".to_string(), "lz4".to_string());
        st.zfs_create(&root, "tank/data", DsKind::Filesystem, p)
            .unwrap();
        st.zfs_create(&root, "tank/data/sub", DsKind::Filesystem, BTreeMap::new())
            .unwrap();
        assert_eq!(
            st.zfs_prop("tank/data/sub", "compression"),
            Some(("lz4".into(), "inherited from tank/data".into()))
        );
        assert_eq!(
            st.zfs_prop("tank/data/sub", "mountpoint"),
            Some(("/tank/data/sub".into(), "default".into()))
        );
        assert_eq!(st.zfs_prop("tank/data", "compression").unwrap().1, "local");
        assert_eq!(
            st.zfs_prop("tank", "sync"),
            Some(("standard".into(), "default".into()))
        );
        assert!(root.host("/tank/data/sub").is_dir());
        assert_eq!(
            st.zfs_create(&root, "tank/x/y", DsKind::Filesystem, BTreeMap::new())
                .unwrap_err(),
            "cannot create 'tank/x/y': parent does not exist"
        );
    }

    #[test]
    fn snapshots_clones_and_rollbacks_carry_the_tree() {
        let (_d, root, mut st) = host();
        st.zfs_create(&root, "tank/ct", DsKind::Filesystem, BTreeMap::new())
            .unwrap();
        std::fs::write(root.host("/tank/ct/a"), "1").unwrap();
        st.zfs_snapshot(&root, "tank/ct@s1").unwrap();
        std::fs::write(root.host("/tank/ct/a"), "2").unwrap();
        st.clock_ms += 1000;
        st.zfs_snapshot(&root, "tank/ct@s2").unwrap();
        assert!(
            st.zfs_rollback(&root, "tank/ct@s1", false)
                .unwrap_err()
                .contains("more recent snapshots")
        );
        st.zfs_clone(&root, "tank/ct@s1", "tank/clone", BTreeMap::new())
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(root.host("/tank/clone/a")).unwrap(),
            "1"
        );
        assert!(
            st.zfs_destroy(&root, "tank/ct@s1", false)
                .unwrap_err()
                .contains("dependent clones")
        );
        assert!(
            st.zfs_destroy(&root, "tank/ct", false)
                .unwrap_err()
                .contains("use '-r'")
        );
        st.zfs_rollback(&root, "tank/ct@s1", true).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.host("/tank/ct/a")).unwrap(),
            "1"
        );
        assert_eq!(st.zfs_snapshots_of("tank/ct"), ["tank/ct@s1"]);
        st.zfs_destroy(&root, "tank/clone", false).unwrap();
        st.zfs_destroy(&root, "tank/ct", true).unwrap();
        assert!(!root.host("/tank/ct").exists());
    }

    #[test]
    fn renames_move_trees_and_snapshots() {
        let (_d, root, mut st) = host();
        st.zfs_create(
            &root,
            "tank/subvol-900-disk-0",
            DsKind::Filesystem,
            BTreeMap::new(),
        )
        .unwrap();
        std::fs::write(root.host("/tank/subvol-900-disk-0/f"), "x").unwrap();
        st.zfs_snapshot(&root, "tank/subvol-900-disk-0@__base__")
            .unwrap();
        st.zfs_rename(&root, "tank/subvol-900-disk-0", "tank/basevol-900-disk-0")
            .unwrap();
        assert!(root.host("/tank/basevol-900-disk-0/f").is_file());
        assert!(
            st.zfs
                .snapshots
                .contains_key("tank/basevol-900-disk-0@__base__")
        );
    }
}
