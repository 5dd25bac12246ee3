//! `hypervisor-manager` as a process: configuration checked first, exit statuses, help. These
//! runs have an empty `PATH`, so no host tool can run: a step that needs one fails.

use std::path::Path;

use phoenix_core::cmd::{Cmd, CmdError, Runner};

fn run(args: &[&str], config: &Path) -> (i32, String) {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let cmd = Cmd::read(env!("CARGO_BIN_EXE_hypervisor-manager"))
        .args(args)
        .args(["--config".as_ref(), config.as_os_str()])
        .env("PATH", &empty)
        .env("PHOENIX_ROOT", tmp.path())
        .env("PHOENIX_SYSROOT", tmp.path())
        .env("PHOENIX_CONFIG_DIR", "");
    match Runner::system(false).run(&cmd) {
        Ok(out) => (0, format!("{}{}", out.stdout_str(), out.stderr_str())),
        Err(CmdError::Failed {
            code,
            stdout,
            stderr,
            ..
        }) => (code.unwrap_or(-1), format!("{stdout}{stderr}")),
        Err(e) => panic!("{e}"),
    }
}

fn etc() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc")
}

#[test]
fn a_step_whose_tools_are_missing_fails_and_names_the_tool() {
    let (code, out) = run(&["setup", "--dry-run", "--step", "nvidia"], &etc());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("nvidia     failed: cannot list PCI devices: `lspci` not found on PATH"),
        "{out}"
    );
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
