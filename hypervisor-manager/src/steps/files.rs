//! Files phoenix owns on the host: planned by comparing the text (and mode, and owner) we
//! want with what is there, so a converged file plans nothing. Plan lines say what changes
//! without printing the content (some files hold hashes or keys).

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use phoenix_core::converge::{Change, Op};
use phoenix_core::host::accounts;

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
}
