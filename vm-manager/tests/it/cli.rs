//! `vm-manager` as a process: it checks its configuration and target before anything.

/// Runs the binary on no host (`phoenix_testkit::run_without_a_host`): (exit code, stderr).
fn run(args: &[&str]) -> (i32, String) {
    phoenix_testkit::run_without_a_host(
        std::path::Path::new(env!("CARGO_BIN_EXE_vm-manager")),
        args,
    )
}

#[test]
fn converging_a_missing_vm_says_how_to_create_it() {
    let (code, err) = run(&["converge", "1001", "--dry-run"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("VM 1001 does not exist; `vm-manager create 1001` creates it"),
        "{err}"
    );
}

/// This machine is no Proxmox VE host: a run that would change it says so, instead of
/// answering as if the guest were missing (issue 16, item 3: the version is read first).
#[test]
fn a_run_on_a_machine_without_proxmox_says_so() {
    let (code, err) = run(&["converge", "1001"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cannot read the Proxmox VE version (Phoenix runs on a Proxmox VE host)")
            && err.contains("`pveversion` not found on PATH"),
        "{err}"
    );
}

#[test]
fn the_target_must_be_a_configured_vm() {
    let (code, err) = run(&["start", "101"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("guest 101 is a container, not a VM"), "{err}");
    let (code, err) = run(&["start", "4242"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("guest 4242 is not defined in"), "{err}");
    let (code, err) = run(&["start", "web"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("\"web\" is not a guest ID"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let (code, err) = run(&["frobnicate", "1001"]);
    assert_eq!(code, 2, "{err}");
    let (code, err) = run(&["create"]);
    assert_eq!(code, 2, "{err}");
}
