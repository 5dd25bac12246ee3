//! Files phoenix owns on the host: planned by comparing the text (and mode, and owner) we
//! want with what is there, so a converged file plans nothing. Plan lines say what changes
//! without printing the content (some files hold hashes or keys).

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use crate::converge::{Change, Op};
use crate::host::accounts;

use super::{Ctx, HostAction, Owner, StepPlan};

/// A file to converge.
#[derive(Clone, Debug)]
pub struct Managed {
    /// Plan group.
    pub group: &'static str,
    /// Host path.
    pub path: String,
    /// Wanted content.
    pub text: String,
    /// Wanted mode.
    pub mode: u32,
    /// Wanted owner (`None`: left as written, root).
    pub owner: Option<Owner>,
    /// Validation argv with `{}` for the new file.
    pub check: Option<Vec<String>>,
}

impl Managed {
    /// A root-owned file with `mode`.
    pub fn new(
        group: &'static str,
        path: impl Into<String>,
        text: impl Into<String>,
        mode: u32,
    ) -> Self {
        Self {
            group,
            path: path.into(),
            text: text.into(),
            mode,
            owner: None,
            check: None,
        }
    }

    /// Validated by `argv` (`{}` is the new file) before it replaces the old one.
    pub fn checked(mut self, argv: &[&str]) -> Self {
        self.check = Some(argv.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Owned by `owner`.
    pub fn owned(mut self, owner: Owner) -> Self {
        self.owner = Some(owner);
        self
    }
}

/// A secret from a root-only file named in the configuration (`key`): its first line. A
/// missing or empty file is an error naming the key, the path and what it holds (`holds`);
/// a file others can read is warned about. The value is never logged.
pub fn read_secret(
    layout: &crate::paths::Layout,
    key: &str,
    path: &str,
    holds: &str,
) -> anyhow::Result<String> {
    use anyhow::Context as _;
    let host = layout.host(path);
    let text = crate::files::read_to_string(&host)
        .with_context(|| format!("{key}: cannot read {path} (it holds {holds})"))?;
    let value = text
        .lines()
        .next()
        .unwrap_or("")
        .trim_end_matches('\r')
        .to_string();
    if value.trim().is_empty() {
        anyhow::bail!("{key}: {path} is empty (it should hold {holds})");
    }
    if let Ok(m) = std::fs::metadata(&host)
        && m.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            "{key}: {path} is readable by others (mode {:04o}); make it root-only: chmod 600 {path}",
            m.permissions().mode() & 0o7777
        );
    }
    Ok(value)
}

/// How many lines differ between two texts (added plus removed, as a set comparison of
/// lines in order; enough for a plan line).
pub fn changed_lines(old: &str, new: &str) -> usize {
    let o: Vec<&str> = old.lines().collect();
    let n: Vec<&str> = new.lines().collect();
    let added = n.iter().filter(|l| !o.contains(l)).count();
    let removed = o.iter().filter(|l| !n.contains(l)).count();
    if added + removed == 0 && old != new {
        1
    } else {
        added + removed
    }
}

/// Plans one managed file: nothing when it already has this content, mode and owner.
/// Returns whether it changes.
pub fn plan(ctx: &Ctx<'_>, f: Managed, out: &mut StepPlan<HostAction>) -> anyhow::Result<bool> {
    let current = ctx.read(&f.path)?;
    let meta = std::fs::metadata(ctx.layout.host(&f.path)).ok();
    let mode_now = meta.as_ref().map(|m| m.permissions().mode() & 0o7777);
    let owner_differs = match (&f.owner, &meta) {
        (Some(o), Some(m)) => {
            let want = match o {
                Owner::Ids(u, g) => Some((*u, *g)),
                Owner::User(name) => accounts::user(ctx.runner, name)?.map(|p| (p.uid, p.gid)),
                // A user or group planned earlier in this run does not exist yet.
                Owner::UserGroup(..) => super::resolve_owner(ctx.runner, o).ok(),
            };
            want != Some((m.uid(), m.gid()))
        }
        _ => false,
    };
    let change = match current.as_deref() {
        None => Some(Change::new(Op::Add, f.group, f.path.clone())),
        Some(old) if old != f.text => Some(
            Change::new(Op::Change, f.group, f.path.clone())
                .to(format!("{} line(s) changed", changed_lines(old, &f.text))),
        ),
        Some(_) if mode_now != Some(f.mode) => Some(
            Change::new(Op::Change, f.group, format!("mode of {}", f.path))
                .from(format!("{:04o}", mode_now.unwrap_or(0)))
                .to(format!("{:04o}", f.mode)),
        ),
        Some(_) if owner_differs => Some(Change::new(
            Op::Change,
            f.group,
            format!("owner of {}", f.path),
        )),
        Some(_) => None,
    };
    let Some(change) = change else {
        return Ok(false);
    };
    out.push(
        change,
        HostAction::Write {
            path: f.path,
            text: f.text.into_bytes(),
            mode: f.mode,
            owner: f.owner,
            check: f.check,
        },
    );
    Ok(true)
}

/// Plans the removal of a file phoenix no longer wants; returns whether it exists.
pub fn plan_absent(
    ctx: &Ctx<'_>,
    group: &'static str,
    path: &str,
    why: &str,
    out: &mut StepPlan<HostAction>,
) -> bool {
    if std::fs::symlink_metadata(ctx.layout.host(path)).is_err() {
        return false;
    }
    out.push(
        Change::new(Op::Remove, group, path).from(why.to_string()),
        HostAction::Remove(path.to_string()),
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_lines_count_additions_and_removals() {
        assert_eq!(changed_lines("a\nb\n", "a\nb\n"), 0);
        assert_eq!(changed_lines("a\nb\n", "a\nc\n"), 2);
        assert_eq!(changed_lines("a\n", "a\nb\n"), 1);
        assert_eq!(changed_lines("a\nb\n", "b\na\n"), 1, "order only");
    }

    #[test]
    fn secrets_are_the_first_line_and_named_when_missing_or_empty() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = tempfile::tempdir().unwrap();
        let layout = crate::paths::Layout::new(d.path().join("root"), d.path());
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        let f = d.path().join("etc/secret");
        std::fs::write(&f, "s3cret value\nignored\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            read_secret(&layout, "x.password_file", "/etc/secret", "a password").unwrap(),
            "s3cret value"
        );
        std::fs::write(&f, "\n").unwrap();
        let e = read_secret(&layout, "x.password_file", "/etc/secret", "a password").unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.password_file: /etc/secret is empty (it should hold a password)"
        );
        let e = read_secret(&layout, "x.password_file", "/etc/none", "a password").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("x.password_file: cannot read /etc/none"),
            "{e}"
        );
    }

    #[test]
    fn owners_parse_as_chown_takes_them() {
        use super::super::Owner;
        assert_eq!(
            Owner::parse("root:www-data"),
            Some(Owner::UserGroup("root".into(), "www-data".into()))
        );
        assert_eq!(Owner::parse("nobody"), Some(Owner::User("nobody".into())));
        assert_eq!(Owner::parse("nobody:"), Some(Owner::User("nobody".into())));
        assert_eq!(Owner::parse(" "), None);
    }
}
