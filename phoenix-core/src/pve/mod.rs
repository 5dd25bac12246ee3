//! Pure parsers for what Proxmox's tools print and the files they keep: guest configs
//! (`pct config`, `qm config`, `/etc/pve/{lxc,qemu-server}/<id>.conf`), property strings,
//! `pct|qm status`, `pct|qm listsnapshot`, `qm guest exec` JSON, `pvesm status`, and the
//! tab-separated `zfs`/`zpool` `-H` listings.
//!
//! Nothing here runs a command: managers run tools through [`crate::cmd`] and hand the output
//! to these functions, which are tested on real output (hand-written fixtures from Proxmox's
//! documentation and source) and on the simulator's output.

pub mod access;
pub mod agent;
pub mod conf;
pub mod firewall;
pub mod locks;
pub mod propstr;
pub mod pvesm;
pub mod snapshots;
pub mod status;
pub mod storage;
pub mod tool;
pub mod version;
pub mod zfs;

/// Why output could not be parsed: which tool, which line, what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse `{what}` output, line {line}: {message}")]
pub struct ParseError {
    /// The command whose output this is (`pvesm status`).
    pub what: &'static str,
    /// 1-based line number (0 = the whole text).
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

impl ParseError {
    /// A parse error.
    pub fn new(what: &'static str, line: usize, message: impl Into<String>) -> Self {
        Self {
            what,
            line,
            message: message.into(),
        }
    }
}
