//! `hypervisor-manager` as a process: configuration checked first, no pretend success.

use std::path::Path;

use phoenix_core::cmd::{Cmd, CmdError, Runner};

fn run(args: &[&str], config: &Path) -> (i32, String) {
    let tmp = tempfile::tempdir().unwrap();
    let cmd = Cmd::read(env!("CARGO_BIN_EXE_hypervisor-manager"))
        .args(args)
        .args(["--config".as_ref(), config.as_os_str()])
        .env("PHOENIX_ROOT", tmp.path())
        .env("PHOENIX_SYSROOT", tmp.path())
        .env("PHOENIX_CONFIG_DIR", "");
    match Runner::system(false).run(&cmd) {
        Ok(out) => (0, out.stderr_str()),
        Err(CmdError::Failed { code, stderr, .. }) => (code.unwrap_or(-1), stderr),
        Err(e) => panic!("{e}"),
    }
}

fn etc() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc")
}

#[test]
fn steps_not_available_yet_are_reported_skipped_and_fail_the_run() {
    let (code, err) = run(&["setup", "--dry-run", "--step", "nvidia"], &etc());
    assert_eq!(code, 1, "{err}");
}

#[test]
fn help_documents_the_reboot_required_status() {
    let cmd = Cmd::read(env!("CARGO_BIN_EXE_hypervisor-manager")).arg("--help");
    let out = Runner::system(false).run(&cmd).unwrap().stdout_str();
    assert!(
        out.contains("3  setup finished, but a change takes effect only after a reboot"),
        "{out}"
    );
}

#[test]
fn a_host_file_may_be_named_directly() {
    let (code, err) = run(&["setup"], &etc().join("phoenix_hypervisor_config.json"));
    assert_eq!(code, 1, "{err}");
    let (code, err) = run(&["setup"], &etc().join("missing.json"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("missing.json"), "{err}");
}

#[test]
fn unknown_steps_are_usage_errors() {
    let (code, err) = run(&["setup", "--step", "everything"], &etc());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("invalid value 'everything'"), "{err}");
}
