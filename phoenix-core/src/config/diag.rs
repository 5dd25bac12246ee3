//! Diagnostics: what is wrong with a configuration, where, and how bad it is.
//!
//! Every finding names the file, the JSON pointer and (when the file parsed) the line and
//! column. Errors stop the run with exit status 2 before any host command; warnings and notes
//! are reported and the run goes on. A warning may also *block* work on one object
//! ([`Blocks`]): `validate` accepts it, and a verb that would do that work fails for that
//! object alone (exit 1), naming the finding (see docs/decisions.md, "The load policy").

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::json::Pos;
use crate::ids::GuestId;

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The configuration cannot be acted on.
    Error,
    /// Probably a mistake, but the run can proceed.
    Warning,
    /// Information: an alias or legacy shape that was understood.
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        })
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// How serious it is.
    pub severity: Severity,
    /// The file it is about.
    pub file: PathBuf,
    /// JSON pointer inside the file (`""` = the whole document).
    pub pointer: String,
    /// Line and column, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Column, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
    /// How to fix it, when we know.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The guest the finding concerns, when it concerns one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guest: Option<GuestId>,
    /// The work this finding makes impossible, when it concerns one object only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Blocks>,
}

/// An object of the estate a finding can concern alone.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Subject {
    /// A container or VM.
    Guest(GuestId),
    /// A Docker stack, by name.
    Stack(String),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Guest(id) => write!(f, "guest {id}"),
            Subject::Stack(name) => write!(f, "stack {name}"),
        }
    }
}

/// Work on an object that a finding can block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Work {
    /// Creating, converging or planning a guest (what runs its installers, scripts, checks).
    Converge,
    /// Starting a guest (`start`, `restart`, LetsGo's start phase), besides converging it.
    Run,
    /// Deploying a stack (`sync stack`, the stack in `sync all`).
    Deploy,
}

impl Work {
    /// The verbs that do this work, as shown to the operator.
    pub fn verbs(self) -> &'static str {
        match self {
            Work::Converge => "create/converge/plan",
            Work::Run => "start/restart",
            Work::Deploy => "sync",
        }
    }
}

/// What a finding blocks: `work` on `subject`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Blocks {
    /// The object.
    pub subject: Subject,
    /// The work on it that cannot be done until the finding is fixed.
    pub work: Vec<Work>,
}

impl Blocks {
    /// `work` on `subject`.
    pub fn new(subject: Subject, work: &[Work]) -> Self {
        Self {
            subject,
            work: work.to_vec(),
        }
    }

    /// Whether this blocks `work` on `subject`.
    pub fn covers(&self, subject: &Subject, work: Work) -> bool {
        self.subject == *subject && self.work.contains(&work)
    }
}

impl Diagnostic {
    /// A finding without position; see [`Diagnostic::at`].
    pub fn new(
        severity: Severity,
        file: &Path,
        pointer: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity,
            file: file.to_path_buf(),
            pointer: pointer.into(),
            line: None,
            column: None,
            message: message.into(),
            hint: None,
            guest: None,
            blocks: None,
        }
    }

    /// Sets the position.
    pub fn at(mut self, pos: Option<Pos>) -> Self {
        self.line = pos.map(|p| p.line);
        self.column = pos.map(|p| p.col);
        self
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Tags the guest the finding concerns.
    pub fn guest(mut self, id: GuestId) -> Self {
        self.guest = Some(id);
        self
    }

    /// Marks the finding as blocking `work` on `subject` (and that object alone).
    pub fn blocking(mut self, subject: Subject, work: &[Work]) -> Self {
        self.blocks = Some(Blocks::new(subject, work));
        self
    }

    /// The pointer as printed: `/` stands for the whole document.
    pub fn pointer_display(&self) -> &str {
        if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        }
    }
}

impl fmt::Display for Diagnostic {
    /// ```text
    /// error: unknown guest 1003 in dependencies
    ///   --> etc/phoenix_lxc_configs.json:83:17 at /lxc_configs/901/dependencies/0
    ///   hint: define guest 1003 or remove it from the list
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {}", self.severity, self.message)?;
        write!(f, "  --> {}", self.file.display())?;
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, ":{l}:{c}")?;
        }
        // A pointer names keys as written; a control character in one is shown escaped,
        // never sent to the terminal.
        let pointer: String = self
            .pointer_display()
            .chars()
            .map(|c| {
                if super::json::is_forbidden_char(c) {
                    c.escape_debug().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect();
        write!(f, " at {pointer}")?;
        if let Some(b) = &self.blocks {
            let work: Vec<&str> = b.work.iter().map(|w| w.verbs()).collect();
            write!(f, "\n  blocks: {} of {} only", work.join(", "), b.subject)?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// All findings of one load, in the order they were found.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(transparent)]
pub struct Report {
    diags: Vec<Diagnostic>,
}

impl Report {
    /// Adds a finding.
    pub fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// The finding pushed last, to add a hint or guest tag.
    pub fn last_mut(&mut self) -> Option<&mut Diagnostic> {
        self.diags.last_mut()
    }

    /// Every finding.
    pub fn all(&self) -> &[Diagnostic] {
        &self.diags
    }

    /// Findings of one severity.
    pub fn of(&self, severity: Severity) -> impl Iterator<Item = &Diagnostic> {
        self.diags.iter().filter(move |d| d.severity == severity)
    }

    /// Number of findings of one severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.of(severity).count()
    }

    /// Whether anything stops the run.
    pub fn has_errors(&self) -> bool {
        self.count(Severity::Error) > 0
    }

    /// Sorts errors first, then by file and position, keeping discovery order for ties.
    pub fn sort(&mut self) {
        self.diags.sort_by(|a, b| {
            (
                a.severity,
                &a.file,
                a.line.unwrap_or(u32::MAX),
                a.column.unwrap_or(0),
            )
                .cmp(&(
                    b.severity,
                    &b.file,
                    b.line.unwrap_or(u32::MAX),
                    b.column.unwrap_or(0),
                ))
        });
    }

    /// Merges another report in.
    pub fn extend(&mut self, other: Report) {
        self.diags.extend(other.diags);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_message_location_pointer_and_hint() {
        let d = Diagnostic::new(
            Severity::Error,
            Path::new("etc/phoenix_lxc_configs.json"),
            "/lxc_configs/901/dependencies/0",
            "unknown guest 1003 in dependencies",
        )
        .at(Some(Pos { line: 83, col: 17 }))
        .hint("define guest 1003 or remove it from the list");
        assert_eq!(
            d.to_string(),
            "error: unknown guest 1003 in dependencies\n  --> etc/phoenix_lxc_configs.json:83:17 at /lxc_configs/901/dependencies/0\n  hint: define guest 1003 or remove it from the list"
        );
        let root = Diagnostic::new(Severity::Warning, Path::new("f.json"), "", "x");
        assert_eq!(root.to_string(), "warning: x\n  --> f.json at /");
    }

    #[test]
    fn sorts_errors_first_then_by_position() {
        let mut r = Report::default();
        let f = Path::new("a.json");
        r.push(Diagnostic::new(Severity::Warning, f, "/w", "w").at(Some(Pos { line: 1, col: 1 })));
        r.push(Diagnostic::new(Severity::Error, f, "/e2", "e2").at(Some(Pos { line: 9, col: 1 })));
        r.push(Diagnostic::new(Severity::Error, f, "/e1", "e1").at(Some(Pos { line: 2, col: 1 })));
        r.sort();
        let order: Vec<_> = r.all().iter().map(|d| d.message.as_str()).collect();
        assert_eq!(order, ["e1", "e2", "w"]);
        assert!(r.has_errors());
        assert_eq!(r.count(Severity::Warning), 1);
    }
}
