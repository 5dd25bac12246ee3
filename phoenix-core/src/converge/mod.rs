//! The converge engine's shared vocabulary: a [`Plan`] of [`Change`]s per resource, printed
//! terraform-style by `plan` and `--dry-run`, and the content hashes that record completed
//! feature installers.
//!
//! Managers observe (read-only commands and files), compute a plan with pure functions, print
//! it, and apply it one runner call per change. A converged guest yields an empty plan.

pub mod apply;
pub mod leftovers;
pub mod observe;
pub mod ops;
pub mod runtime;
pub mod verbs;

use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// What a change does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// Something new (`+`).
    Add,
    /// Something different (`~`).
    Change,
    /// Something removed (`-`).
    Remove,
    /// Something run (`>`): an installer, a start, a snapshot.
    Run,
    /// Information only (`!`): drift we leave, a step we skip and why.
    Note,
}

impl Op {
    /// The symbol in text plans.
    pub fn symbol(self) -> char {
        match self {
            Op::Add => '+',
            Op::Change => '~',
            Op::Remove => '-',
            Op::Run => '>',
            Op::Note => '!',
        }
    }
}

/// One line of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Kind.
    pub op: Op,
    /// The group (`create`, `settings`, `network`, `mounts`, `gpu`, `firewall`, `runtime`,
    /// `features`, `snapshots`, …).
    pub group: &'static str,
    /// The thing (`memory`, `mp0`, `feature docker`).
    pub what: String,
    /// Current value, when it matters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// New value, when it matters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl Change {
    /// A change without values.
    pub fn new(op: Op, group: &'static str, what: impl Into<String>) -> Self {
        Self {
            op,
            group,
            what: what.into(),
            from: None,
            to: None,
        }
    }

    /// With the current value.
    pub fn from(mut self, v: impl Into<String>) -> Self {
        self.from = Some(v.into());
        self
    }

    /// With the new value.
    pub fn to(mut self, v: impl Into<String>) -> Self {
        self.to = Some(v.into());
        self
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.symbol(), self.what)?;
        match (&self.from, &self.to) {
            (Some(a), Some(b)) => write!(f, ": {a} -> {b}"),
            (None, Some(b)) => write!(f, ": {b}"),
            (Some(a), None) => write!(f, " (was {a})"),
            (None, None) => Ok(()),
        }
    }
}

/// The plan for one resource (a guest, the host).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// `lxc 101 (gateway)`.
    pub resource: String,
    /// Changes in the order they will be applied.
    pub changes: Vec<Change>,
}

impl Plan {
    /// An empty plan for `resource`.
    pub fn new(resource: impl Into<String>) -> Self {
        Self {
            resource: resource.into(),
            changes: Vec::new(),
        }
    }

    /// Adds a change.
    pub fn push(&mut self, c: Change) {
        self.changes.push(c);
    }

    /// Whether anything would change (notes do not count).
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.op != Op::Note)
    }

    /// `2 to add, 1 to change, 0 to remove, 3 to run`.
    pub fn summary(&self) -> String {
        let n = |op: Op| self.changes.iter().filter(|c| c.op == op).count();
        if !self.has_changes() {
            return "no changes".to_string();
        }
        format!(
            "{} to add, {} to change, {} to remove, {} to run",
            n(Op::Add),
            n(Op::Change),
            n(Op::Remove),
            n(Op::Run)
        )
    }
}

impl fmt::Display for Plan {
    /// ```text
    /// lxc 101 (gateway): 1 to add, 2 to change, 0 to remove, 3 to run
    ///   settings
    ///     ~ memory: 1024 -> 2048
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {}", self.resource, self.summary())?;
        let mut last: Option<&str> = None;
        for c in &self.changes {
            if last != Some(c.group) {
                writeln!(f, "  {}", c.group)?;
                last = Some(c.group);
            }
            writeln!(f, "    {c}")?;
        }
        Ok(())
    }
}

/// Where a manager records that it started converging a guest and has not finished: written
/// before the first change, removed when the converge completes. `phoenix create` converges
/// an existing dependency that carries it (a run that failed half-way) instead of taking it as
/// done.
pub fn incomplete_marker(
    layout: &crate::paths::Layout,
    kind: crate::ids::GuestKind,
    id: crate::ids::GuestId,
) -> std::path::PathBuf {
    layout
        .state_dir()
        .join("incomplete")
        .join(format!("{kind}-{id}"))
}

/// Lower-case hex SHA-256 of `parts`, each length-prefixed so boundaries count.
pub fn content_hash(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of `data` in lower-case hex, as `sha256sum` prints it.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_what_sha256sum_prints() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn plans_print_grouped_with_a_summary() {
        let mut p = Plan::new("lxc 101 (gateway)");
        assert_eq!(p.to_string(), "lxc 101 (gateway): no changes\n");
        p.push(
            Change::new(Op::Change, "settings", "memory")
                .from("1024")
                .to("2048"),
        );
        p.push(Change::new(Op::Add, "mounts", "mp0").to("/srv -> /data"));
        p.push(Change::new(Op::Run, "features", "base_setup"));
        p.push(Change::new(Op::Note, "features", "docker: unchanged"));
        assert_eq!(
            p.to_string(),
            "lxc 101 (gateway): 1 to add, 1 to change, 0 to remove, 1 to run\n  settings\n    ~ memory: 1024 -> 2048\n  mounts\n    + mp0: /srv -> /data\n  features\n    > base_setup\n    ! docker: unchanged\n"
        );
    }

    #[test]
    fn hashes_are_boundary_safe() {
        assert_ne!(content_hash(&[b"ab", b"c"]), content_hash(&[b"a", b"bc"]));
        assert_eq!(content_hash(&[b"x"]).len(), 64);
    }
}

/// Why a guest cannot be specified from its configuration: a JSON pointer into the guest file
/// (`/vms/1/network_config/gw`) and the reason. Managers report it with the file name and
/// exit 2 before any host command.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{pointer}: {message}")]
pub struct SpecError {
    /// Where in the file.
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

impl SpecError {
    /// An error at `base/key` (`base` alone when `key` is empty).
    pub fn at(base: &str, key: &str, message: impl Into<String>) -> Self {
        let pointer = if key.is_empty() {
            base.to_string()
        } else {
            format!("{base}/{key}")
        };
        Self {
            pointer,
            message: message.into(),
        }
    }
}

/// How a manager ends after `e`: a [`SpecError`] (bad configuration) is exit 2, anything else
/// exit 1; the error is printed with its causes.
pub fn exit_for(e: &anyhow::Error) -> crate::exit::Exit {
    if let Some(se) = e.downcast_ref::<SpecError>() {
        eprintln!("error: {se}");
        return crate::exit::Exit::Invalid;
    }
    eprintln!("error: {e:#}");
    crate::exit::Exit::Failure
}
