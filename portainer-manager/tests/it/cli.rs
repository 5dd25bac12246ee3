//! `portainer-manager` as a process: targets, configuration and confirmation checked before
//! anything runs.

use std::path::Path;

use phoenix_core::cmd::{Cmd, CmdError, Runner};

fn run(args: &[&str]) -> (i32, String) {
    let tmp = tempfile::tempdir().unwrap();
    let etc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc");
    let cmd = Cmd::read(env!("CARGO_BIN_EXE_portainer-manager"))
        .args(args)
        .args(["--config".as_ref(), etc.as_os_str()])
        .env("PHOENIX_ROOT", tmp.path())
        .env("PHOENIX_SYSROOT", tmp.path())
        .env("PHOENIX_CONFIG_DIR", "")
        .env("PATH", tmp.path());
    match Runner::system(false).run(&cmd) {
        Ok(out) => (0, out.stderr_str()),
        Err(CmdError::Failed { code, stderr, .. }) => (code.unwrap_or(-1), stderr),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_reset_needs_confirmation_before_anything_runs() {
    // No terminal here: without --yes the reset is refused, with exit 2, before any host
    // command (none of the simulator's tools is even on PATH).
    let (code, err) = run(&["sync", "all", "--reset-portainer"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("confirm with --yes"), "{err}");
}

#[test]
fn targets_are_checked_against_the_configuration() {
    let (code, err) = run(&["sync", "stack", "redis", "to", "1002"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown stack \"redis\""), "{err}");
    let (code, err) = run(&["sync", "stack", "qdrant", "to", "1001"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("VM 1001 has no Portainer agent"), "{err}");
    let (code, err) = run(&["sync", "stack", "qdrant", "to", "101"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("guest 101 is a container"), "{err}");
    let (code, err) = run(&["sync", "everything"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("expected `all`, `certificates` or `stack NAME to VMID`"),
        "{err}"
    );
}
