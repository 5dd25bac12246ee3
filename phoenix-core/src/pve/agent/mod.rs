//! The QEMU guest agent through `qm`: the client every binary that works inside VMs uses
//! ([`client`]: waiting for the agent, running commands, writing and reading files), and the
//! results it reads — `qm guest exec` / `qm guest exec-status` print pretty JSON with
//! `exited`, `exitcode`, `out-data`, `err-data` (absent when empty), or `{"pid": N}` when the
//! command outlived the timeout.

mod client;

pub use client::{Done, Exec, check, exec, probe, read_file, wait, write_file};

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
    /// The agent cut the standard output (`1`).
    #[serde(rename = "out-truncated")]
    pub out_truncated: u8,
    /// The agent cut the standard error (`1`).
    #[serde(rename = "err-truncated")]
    pub err_truncated: u8,
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
    let mut s: ExecStatus = serde_json::from_str(text.trim())
        .map_err(|e| ParseError::new("qm guest exec", e.line(), e.to_string()))?;
    s.out_data = undo_double_encoding(&s.out_data);
    s.err_data = undo_double_encoding(&s.err_data);
    Ok(s)
}

/// The guest's output as it wrote it. qemu-server decodes the agent's base64 into bytes
/// (QemuServer/Agent.pm qemu_exec_status) and `qm` prints them with `to_json(…, utf8 => 1)`
/// (CLI/qm.pm), which encodes each byte as a character: UTF-8 output arrives encoded twice
/// (`é` as `Ã©`). A string whose characters are all below U+0100 is taken back to its bytes
/// and read as UTF-8; anything else is left as it is.
fn undo_double_encoding(s: &str) -> String {
    if s.is_ascii() || s.chars().any(|c| u32::from(c) > 0xff) {
        return s.to_string();
    }
    let bytes: Vec<u8> = s.chars().map(|c| u32::from(c) as u8).collect();
    String::from_utf8(bytes).unwrap_or_else(|_| s.to_string())
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

    /// qemu-server: base64-decoded bytes printed with `to_json(…, utf8 => 1)` (UTF-8 twice);
    /// booleans as 1/0 (Agent.pm: "convert JSON::Boolean to 1/0").
    #[test]
    fn non_ascii_output_and_truncation() {
        let twice: String = "Grüße ✓\n"
            .bytes()
            .map(|b| char::from_u32(u32::from(b)).unwrap())
            .collect();
        let json =
            serde_json::json!({"exitcode": 0, "exited": 1, "out-data": twice, "out-truncated": 1})
                .to_string();
        let s = parse_exec(&json).unwrap();
        assert_eq!(s.out_data, "Grüße ✓\n");
        assert_eq!(s.out_truncated, 1);
        let plain =
            parse_exec(r#"{"exitcode": 0, "exited": 1, "out-data": "✓ already decoded"}"#).unwrap();
        assert_eq!(plain.out_data, "✓ already decoded");
    }
}
