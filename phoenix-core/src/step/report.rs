//! How each setup step ended, and the summary printed after a run (pure).

use std::fmt;

/// How a step ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do: the host already matches.
    Ok,
    /// Changes were made (or, in a dry run, would be).
    Changed,
    /// Changes were made that take effect after a reboot (never rebooted by itself).
    RebootRequired,
    /// The step failed; later steps are skipped.
    Failed(String),
    /// Not run: an earlier step failed.
    Skipped(String),
    /// Not run because what it works on is not there yet (a guest missing or stopped);
    /// not a failure: a later run does it.
    NotReady(String),
}

impl Outcome {
    /// The word in the summary.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Changed => "changed",
            Outcome::RebootRequired => "reboot required",
            Outcome::Failed(_) => "failed",
            Outcome::Skipped(_) => "skipped",
            Outcome::NotReady(_) => "not ready",
        }
    }
}

/// The run's summary: one line per step, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// What ran (`setup`, `sync`).
    pub title: &'static str,
    /// `(step, outcome)`.
    pub steps: Vec<(&'static str, Outcome)>,
}

impl Default for Report {
    fn default() -> Self {
        Self::titled("setup")
    }
}

impl Report {
    /// An empty summary for `title`.
    pub fn titled(title: &'static str) -> Self {
        Self {
            title,
            steps: Vec::new(),
        }
    }

    /// The exit status: 0 when every step is ok or changed, 3 when a reboot is required (and
    /// nothing failed), 1 when a step failed or could not run.
    pub fn exit_code(&self) -> u8 {
        if self
            .steps
            .iter()
            .any(|(_, o)| matches!(o, Outcome::Failed(_) | Outcome::Skipped(_)))
        {
            1
        } else if self
            .steps
            .iter()
            .any(|(_, o)| *o == Outcome::RebootRequired)
        {
            3
        } else {
            0
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} summary:", self.title)?;
        for (name, o) in &self.steps {
            match o {
                Outcome::Failed(why) | Outcome::Skipped(why) | Outcome::NotReady(why) => {
                    writeln!(f, "  {name:<10} {}: {why}", o.word())?
                }
                _ => writeln!(f, "  {name:<10} {}", o.word())?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_worst_step() {
        let mut r = Report::default();
        r.steps.push(("zfs", Outcome::Ok));
        r.steps.push(("storage", Outcome::Changed));
        assert_eq!(r.exit_code(), 0);
        r.steps.push(("nvidia", Outcome::RebootRequired));
        assert_eq!(r.exit_code(), 3);
        r.steps
            .push(("dns", Outcome::NotReady("CT 103 is stopped".into())));
        assert_eq!(r.exit_code(), 3, "waiting for a guest is not a failure");
        r.steps.push(("users", Outcome::Failed("x".into())));
        assert_eq!(r.exit_code(), 1);
        assert_eq!(
            r.to_string(),
            "setup summary:\n  zfs        ok\n  storage    changed\n  nvidia     reboot required\n  dns        not ready: CT 103 is stopped\n  users      failed: x\n"
        );
    }
}
