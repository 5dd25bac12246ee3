//! `pct status <id>` / `qm status <id> [--verbose]`.

use std::collections::BTreeMap;

use super::ParseError;

/// A guest's run state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunState {
    /// `running`.
    Running,
    /// `stopped`.
    Stopped,
    /// `paused` (VMs), `suspended`, or anything else Proxmox reports.
    Other(String),
}

impl RunState {
    /// Whether the guest runs.
    pub fn is_running(&self) -> bool {
        *self == RunState::Running
    }
}

/// Parses `status: running` (first line of either form).
pub fn parse_status(text: &str) -> Result<RunState, ParseError> {
    let kv = parse_verbose(text)?;
    match kv
        .get("qmpstatus")
        .or_else(|| kv.get("status"))
        .map(String::as_str)
    {
        Some("running") => Ok(RunState::Running),
        Some("stopped") => Ok(RunState::Stopped),
        Some(other) => Ok(RunState::Other(other.to_string())),
        None => Err(ParseError::new("pct/qm status", 0, "no `status:` line")),
    }
}

/// Parses `--verbose` output: one `key: value` per line (nested values, TAB-indented, are
/// skipped).
pub fn parse_verbose(text: &str) -> Result<BTreeMap<String, String>, ParseError> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('\t') {
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            return Err(ParseError::new(
                "pct/qm status",
                i + 1,
                format!("not a `key: value` line: {line}"),
            ));
        };
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states() {
        assert_eq!(
            parse_status("status: running\n").unwrap(),
            RunState::Running
        );
        assert_eq!(
            parse_status("status: stopped\n").unwrap(),
            RunState::Stopped
        );
        assert_eq!(
            parse_status("cpus: 2\nqmpstatus: paused\nstatus: running\n").unwrap(),
            RunState::Other("paused".into())
        );
        assert!(parse_status("").is_err());
        assert!(parse_status("garbage").is_err());
    }
}
