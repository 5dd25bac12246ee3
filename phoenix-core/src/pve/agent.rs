//! `qm guest exec` / `qm guest exec-status` results: pretty JSON with `exited`, `exitcode`,
//! `out-data`, `err-data` (absent when empty), or `{"pid": N}` when the command outlived the
//! timeout.

use serde::Deserialize;

use super::ParseError;

/// What a guest command did, as far as the agent reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ExecStatus {
    /// `1` once the command finished.
    pub exited: u8,
    /// Its exit code (when exited).
    pub exitcode: Option<i64>,
    /// Standard output.
    #[serde(rename = "out-data")]
    pub out_data: String,
    /// Standard error.
    #[serde(rename = "err-data")]
    pub err_data: String,
    /// The agent's PID when the command is still running (timeout reached).
    pub pid: Option<u64>,
    /// Killed by a signal.
    pub signal: Option<i64>,
}

impl ExecStatus {
    /// Finished with exit code 0.
    pub fn success(&self) -> bool {
        self.exited == 1 && self.exitcode == Some(0)
    }

    /// Still running (`{"pid": N}` or `exited: 0`).
    pub fn running(&self) -> bool {
        self.exited == 0
    }
}

/// Parses the JSON `qm guest exec` prints on stdout.
pub fn parse_exec(text: &str) -> Result<ExecStatus, ParseError> {
    serde_json::from_str(text.trim())
        .map_err(|e| ParseError::new("qm guest exec", e.line(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results() {
        let ok = parse_exec("{\n   \"exitcode\" : 0,\n   \"exited\" : 1,\n   \"out-data\" : \"status: done\\n\"\n}\n").unwrap();
        assert!(ok.success());
        assert_eq!(ok.out_data, "status: done\n");
        let fail = parse_exec("{\n   \"err-data\" : \"cat: x: No such file or directory\\n\",\n   \"exitcode\" : 1,\n   \"exited\" : 1\n}\n").unwrap();
        assert!(!fail.success() && !fail.running());
        let pending = parse_exec("{\n   \"pid\" : 1234\n}\n").unwrap();
        assert!(pending.running());
        assert_eq!(pending.pid, Some(1234));
        assert!(parse_exec("VM 100 is not running").is_err());
    }
}
