//! `portainer-manager` as a process: targets and configuration checked first, no pretend
//! success.

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
        .env("PHOENIX_CONFIG_DIR", "");
    match Runner::system(false).run(&cmd) {
        Ok(out) => (0, out.stderr_str()),
        Err(CmdError::Failed { code, stderr, .. }) => (code.unwrap_or(-1), stderr),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn sync_is_not_available_yet_and_says_so() {
    for args in [
        &["sync", "all"][..],
        &["sync", "stack", "qdrant", "to", "1002"],
    ] {
        let (code, err) = run(args);
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains("portainer-manager sync: not available yet"),
            "{err}"
        );
    }
}

#[test]
fn targets_are_checked_against_the_configuration() {
    let (code, err) = run(&["sync", "stack", "redis", "to", "1002"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown stack \"redis\""), "{err}");
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
