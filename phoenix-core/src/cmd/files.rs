//! Host file operations through the [`Runner`]: directories, owners, modes, links, writes
//! (atomic, optionally validated first), removals — recorded, not done, in a dry run.

use std::io::Write;
use std::path::Path;

use super::*;

/// How a file write ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The file already had this content and mode; nothing was written.
    Unchanged,
    /// The file was (re)written.
    Written,
    /// Dry run: recorded, not written.
    JournalEntry,
}

/// Mode and owner of a file to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileSpec {
    /// Permission bits (e.g. `0o644`, `0o600` for secrets).
    pub mode: u32,
    /// Owner uid/gid; `None` keeps the writer's.
    pub owner: Option<(u32, u32)>,
}

impl FileSpec {
    /// A file with the given mode, owned by the writer.
    pub fn mode(mode: u32) -> Self {
        Self { mode, owner: None }
    }
}

/// Validates a file's new content (in its temporary file) before it replaces the old one.
pub type Check<'a> = &'a dyn Fn(&Path) -> anyhow::Result<()>;

impl Runner {
    /// Creates a directory (and parents) with `mode` for the directories it creates.
    pub fn ensure_dir(&self, path: &Path, mode: u32) -> anyhow::Result<WriteOutcome> {
        use anyhow::Context as _;
        use std::os::unix::fs::DirBuilderExt;
        if path.is_dir() {
            return Ok(WriteOutcome::Unchanged);
        }
        if self.dry_run {
            self.record(JournalEntry::Mkdir {
                path: path.to_path_buf(),
            });
            return Ok(WriteOutcome::JournalEntry);
        }
        tracing::info!(path = %path.display(), "creating directory");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(path)
            .with_context(|| format!("failed to create directory {}", path.display()))?;
        // The process umask narrows `mode` (0770 becomes 0750 under 022): the directory asked
        // for gets exactly its mode.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("failed to set the mode of {}", path.display()))?;
        Ok(WriteOutcome::Written)
    }

    /// Gives `path` (not recursively) to `uid:gid`. Nothing happens when it already belongs to
    /// them; a dry run records the change. Only root can give files away: without it the
    /// change is skipped with a warning (a Proxmox host runs us as root).
    pub fn set_owner(&self, path: &Path, uid: u32, gid: u32) -> anyhow::Result<WriteOutcome> {
        use anyhow::Context as _;
        use std::os::unix::fs::MetadataExt;
        if let Ok(m) = std::fs::metadata(path) {
            if m.uid() == uid && m.gid() == gid {
                return Ok(WriteOutcome::Unchanged);
            }
        }
        if self.dry_run {
            self.record(JournalEntry::Chown {
                path: path.to_path_buf(),
                uid,
                gid,
            });
            return Ok(WriteOutcome::JournalEntry);
        }
        if !can_chown() {
            tracing::warn!(path = %path.display(), "not root: leaving the owner of {} as it is (wanted {uid}:{gid})", path.display());
            return Ok(WriteOutcome::Unchanged);
        }
        tracing::info!(path = %path.display(), "changing owner to {uid}:{gid}");
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).with_context(|| {
            format!(
                "failed to change the owner of {} to {uid}:{gid}",
                path.display()
            )
        })?;
        Ok(WriteOutcome::Written)
    }

    /// Removes the file `path`; nothing happens when it is absent. A dry run records it.
    pub fn remove_file(&self, path: &Path) -> anyhow::Result<WriteOutcome> {
        use anyhow::Context as _;
        if std::fs::symlink_metadata(path).is_err() {
            return Ok(WriteOutcome::Unchanged);
        }
        if self.dry_run {
            self.record(JournalEntry::Remove {
                path: path.to_path_buf(),
            });
            return Ok(WriteOutcome::JournalEntry);
        }
        tracing::debug!(path = %path.display(), "removing file");
        std::fs::remove_file(path)
            .with_context(|| format!("failed to remove {}", path.display()))?;
        Ok(WriteOutcome::Written)
    }

    /// Removes the directory `path` with everything in it (symbolic links are removed, not
    /// followed); nothing happens when it is absent. A dry run records it. For data the
    /// operator asked to delete (`sync --reset-portainer`), never for anything inferred.
    pub fn remove_tree(&self, path: &Path) -> anyhow::Result<WriteOutcome> {
        use anyhow::Context as _;
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return Ok(WriteOutcome::Unchanged);
        };
        if !meta.is_dir() {
            anyhow::bail!("{} is not a directory; not removed", path.display());
        }
        if self.dry_run {
            self.record(JournalEntry::Remove {
                path: path.to_path_buf(),
            });
            return Ok(WriteOutcome::JournalEntry);
        }
        tracing::info!(path = %path.display(), "removing directory and its contents");
        std::fs::remove_dir_all(path)
            .with_context(|| format!("failed to remove {}", path.display()))?;
        Ok(WriteOutcome::Written)
    }

    /// Writes `value` into an existing kernel parameter file (`/sys/module/zfs/parameters/…`,
    /// `/proc/sys/…`) in place: such files cannot be replaced by a rename. Skipped when the
    /// value is already there; planned in a dry run.
    pub fn write_kernel_param(&self, path: &Path, value: &str) -> anyhow::Result<WriteOutcome> {
        use anyhow::Context as _;
        let current = crate::files::read_to_string(path)?;
        if current.trim() == value.trim() {
            return Ok(WriteOutcome::Unchanged);
        }
        if self.dry_run {
            self.record(JournalEntry::Write {
                path: path.to_path_buf(),
                bytes: value.len(),
                mode: 0,
            });
            return Ok(WriteOutcome::JournalEntry);
        }
        tracing::info!(path = %path.display(), value, "writing kernel parameter");
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)
            .and_then(|mut f| f.write_all(value.as_bytes()))
            .with_context(|| format!("cannot write {value} to {}", path.display()))?;
        Ok(WriteOutcome::Written)
    }

    /// Writes `contents` to `path` atomically (temp file in the same directory, fsync,
    /// rename) with `spec`'s mode and owner. Does nothing when the file already has this
    /// content and mode. The parent directory must exist.
    pub fn write_file(
        &self,
        path: &Path,
        contents: &[u8],
        spec: FileSpec,
    ) -> anyhow::Result<WriteOutcome> {
        self.write_inner(path, contents, spec, None)
    }

    /// Like [`Runner::write_file`], but `check` sees the new content in the temporary file
    /// (same directory, hidden name, final mode) before it replaces `path`; an error from
    /// `check` leaves `path` as it was and removes the temporary file. This is how files a
    /// daemon reads are validated first (`visudo -c -f`, `dnsmasq --test`, `testparm`). A dry
    /// run records the write and does not run the check.
    pub fn write_checked(
        &self,
        path: &Path,
        contents: &[u8],
        spec: FileSpec,
        check: Check<'_>,
    ) -> anyhow::Result<WriteOutcome> {
        self.write_inner(path, contents, spec, Some(check))
    }

    fn write_inner(
        &self,
        path: &Path,
        contents: &[u8],
        spec: FileSpec,
        check: Option<Check<'_>>,
    ) -> anyhow::Result<WriteOutcome> {
        use anyhow::Context as _;
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};

        if let Ok(meta) = std::fs::metadata(path) {
            let same_mode = meta.permissions().mode() & 0o7777 == spec.mode;
            let same_owner = spec
                .owner
                .is_none_or(|(u, g)| meta.uid() == u && meta.gid() == g);
            if same_mode && same_owner && crate::files::read(path).is_ok_and(|old| old == contents)
            {
                return Ok(WriteOutcome::Unchanged);
            }
        }
        if self.dry_run {
            self.record(JournalEntry::Write {
                path: path.to_path_buf(),
                bytes: contents.len(),
                mode: spec.mode,
            });
            return Ok(WriteOutcome::JournalEntry);
        }
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.phoenix-tmp.{}", std::process::id()));
        tracing::info!(path = %path.display(), mode = format!("{:04o}", spec.mode), "writing file");
        let result = (|| -> anyhow::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(spec.mode)
                .open(&tmp)
                .with_context(|| format!("failed to create {}", tmp.display()))?;
            f.write_all(contents)
                .with_context(|| format!("failed to write {}", tmp.display()))?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(spec.mode))
                .with_context(|| format!("failed to set the mode of {}", tmp.display()))?;
            if let Some((u, g)) = spec.owner {
                std::os::unix::fs::chown(&tmp, Some(u), Some(g))
                    .with_context(|| format!("failed to set the owner of {}", tmp.display()))?;
            }
            f.sync_all()
                .with_context(|| format!("failed to sync {}", tmp.display()))?;
            if let Some(check) = check {
                check(&tmp).with_context(|| {
                    format!(
                        "the new {} was rejected; the file was left as it was",
                        path.display()
                    )
                })?;
            }
            std::fs::rename(&tmp, path)
                .with_context(|| format!("failed to replace {}", path.display()))?;
            // The directory is opened only to fsync the rename, never read.
            if let Ok(d) = std::fs::OpenOptions::new().read(true).open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map(|()| WriteOutcome::Written)
    }

    /// Sets the permission bits of an existing `path` (not recursively); nothing happens when
    /// they already are `mode`. A dry run records the change.
    pub fn set_mode(&self, path: &Path, mode: u32) -> anyhow::Result<WriteOutcome> {
        use anyhow::Context as _;
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)
            .with_context(|| format!("cannot change the mode of {}", path.display()))?;
        if meta.permissions().mode() & 0o7777 == mode {
            return Ok(WriteOutcome::Unchanged);
        }
        if self.dry_run {
            self.record(JournalEntry::Chmod {
                path: path.to_path_buf(),
                mode,
            });
            return Ok(WriteOutcome::JournalEntry);
        }
        tracing::info!(path = %path.display(), mode = format!("{mode:04o}"), "changing mode");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).with_context(
            || {
                format!(
                    "failed to change the mode of {} to {mode:04o}",
                    path.display()
                )
            },
        )?;
        Ok(WriteOutcome::Written)
    }

    /// Makes `link` a symbolic link to `target`. A link pointing elsewhere is replaced
    /// (atomically, by renaming a new link over it); anything else at `link` — a file, a
    /// directory — is never replaced: that is an error naming it. A dry run records the
    /// change.
    pub fn symlink(&self, target: &Path, link: &Path) -> anyhow::Result<WriteOutcome> {
        use anyhow::{Context as _, bail};
        match std::fs::symlink_metadata(link) {
            Ok(m) if m.file_type().is_symlink() => {
                if std::fs::read_link(link).is_ok_and(|t| t == target) {
                    return Ok(WriteOutcome::Unchanged);
                }
            }
            Ok(_) => bail!(
                "{} exists and is not a symbolic link; it was left alone",
                link.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", link.display())),
        }
        if self.dry_run {
            self.record(JournalEntry::Symlink {
                link: link.to_path_buf(),
                target: target.to_path_buf(),
            });
            return Ok(WriteOutcome::JournalEntry);
        }
        tracing::info!(link = %link.display(), target = %target.display(), "linking");
        let name = link
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = link.with_file_name(format!(".{name}.phoenix-tmp.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(target, &tmp)
            .with_context(|| format!("failed to create the link {}", tmp.display()))?;
        std::fs::rename(&tmp, link).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            anyhow::Error::new(e).context(format!("failed to replace {}", link.display()))
        })?;
        Ok(WriteOutcome::Written)
    }
}
