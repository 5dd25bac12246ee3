//! The Proxmox VE simulator: one multi-call binary installed as `pct`, `qm`, `pvesm`,
//! `pvesh`, `zfs` and `zpool` in a test's `bin/`, keeping its state under `$PHOENIX_SYSROOT`.
//!
//! This build only knows its tool names; the simulator itself arrives with issue #3. Every
//! invocation fails loudly so nothing can mistake it for a working Proxmox.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

/// The tools this binary will answer as.
pub const TOOLS: [&str; 6] = ["pct", "qm", "pvesm", "pvesh", "zfs", "zpool"];

/// The name the binary was invoked as (`pct` through a link), or `pve-sim`.
pub fn invoked_as(argv0: &OsString) -> String {
    Path::new(argv0).file_name().map_or_else(
        || "pve-sim".to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Entry point.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let mut args = args.into_iter();
    let name = args
        .next()
        .map_or_else(|| "pve-sim".to_string(), |a| invoked_as(&a));
    eprintln!(
        "{name}: the Proxmox simulator is not available yet in this build (arrives with issue #3)"
    );
    ExitCode::from(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_its_names() {
        assert_eq!(invoked_as(&OsString::from("/tmp/t/bin/pct")), "pct");
        assert!(TOOLS.contains(&"zpool"));
    }
}
