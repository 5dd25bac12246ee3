//! The verbs besides converge, on the simulator: each observes first, does nothing when
//! there is nothing to do, and refuses what would destroy without being asked.

use crate::support::{Host, examples};
use phoenix_core::paths::Layout;
use serde_json::json;

fn with_base() -> Host {
    let h = Host::new(&examples(), 1);
    h.lxc(&["create", "900"]).ok();
    h
}

#[test]
fn start_stop_restart_are_idempotent() {
    let h = with_base();
    let mark = h.mark();
    h.lxc(&["stop", "900"]).ok();
    assert!(
        h.lxc(&["stop", "900"])
            .ok()
            .contains("container 900 is already stopped")
    );
    assert_eq!(h.mutations_since(mark), ["pct shutdown 900 --timeout 60"]);

    let mark = h.mark();
    h.lxc(&["start", "900"]).ok();
    assert!(
        h.lxc(&["start", "900"])
            .ok()
            .contains("container 900 is already running")
    );
    assert_eq!(h.mutations_since(mark), ["pct start 900"]);

    let mark = h.mark();
    h.lxc(&["restart", "900"]).ok();
    assert_eq!(h.mutations_since(mark), ["pct reboot 900"]);
    h.lxc(&["stop", "900"]).ok();
    let mark = h.mark();
    assert!(
        h.lxc(&["restart", "900"])
            .ok()
            .contains("was stopped; started")
    );
    assert_eq!(h.mutations_since(mark), ["pct start 900"]);
}

#[test]
fn a_shutdown_that_times_out_falls_back_to_stop() {
    let h = with_base();
    h.sim(&[
        "fault",
        "add",
        "--tool",
        "pct",
        "--sub",
        "shutdown",
        "--message",
        "shutdown timed out",
        "--exit",
        "1",
    ])
    .ok();
    let mark = h.mark();
    h.lxc(&["stop", "900"]).ok();
    let faulted: Vec<_> = h
        .audit()
        .into_iter()
        .skip(mark)
        .filter(|e| e["fault"] == true)
        .collect();
    assert_eq!(faulted.len(), 1);
    assert_eq!(
        faulted[0]["argv"],
        json!(["shutdown", "900", "--timeout", "60"])
    );
    assert_eq!(
        h.mutations_since(mark),
        ["pct stop 900"],
        "the failed shutdown changed nothing"
    );
}

#[test]
fn status_reports_state_address_snapshots_and_drift() {
    let h = with_base();
    let out = h.lxc(&["status", "900", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(out.ok()).unwrap();
    assert_eq!(v["state"], "running");
    assert_eq!(v["ip"], "10.20.0.200/24");
    assert_eq!(v["snapshots"], json!(["final-form"]));
    assert_eq!(v["drift"], json!([]));

    h.edit(900, |c| c["cores"] = json!(3));
    let mark = h.mark();
    let text = h.lxc(&["status", "900"]).ok().to_string();
    assert!(text.contains("  state:     running\n"), "{text}");
    assert!(text.contains("  drift:     1 change(s); `lxc-manager plan 900` shows them\n    settings: ~ cores: 2 -> 3\n"), "{text}");
    assert_eq!(
        h.mutations_since(mark),
        Vec::<String>::new(),
        "status only reads"
    );

    let missing = h.lxc(&["status", "103", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(missing.ok()).unwrap();
    assert_eq!(v["state"], "missing");
}

#[test]
fn plan_prints_and_changes_nothing() {
    let h = with_base();
    h.edit(900, |c| c["memory_mb"] = json!(4096));
    let mark = h.mark();
    let out = h.lxc(&["plan", "900"]);
    assert_eq!(
        out.ok(),
        "lxc 900 (tmpl-base): 0 to add, 1 to change, 0 to remove, 0 to run\n  settings\n    ~ memory: 2048 -> 4096\n"
    );
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());
    assert!(h.read("/etc/pve/lxc/900.conf").contains("memory: 2048\n"));
}

#[test]
fn delete_refuses_clone_sources_and_running_containers_without_force() {
    let h = with_base();
    h.lxc(&["create", "902"]).ok();
    let err = h.lxc(&["delete", "900"]).fails(1).to_string();
    assert!(err.contains("container 900 is the clone source of 101, 102, 103, 901, 902; deleting it means they cannot be created again. Pass --force"), "{err}");
    let err = h.lxc(&["delete", "902"]).fails(1).to_string();
    assert!(
        err.contains("container 902 is running; stop it first, or pass --force"),
        "{err}"
    );
    assert!(
        h.path("/etc/pve/lxc/902.conf").exists(),
        "nothing was deleted"
    );

    let mark = h.mark();
    h.lxc(&["delete", "902", "--force", "--purge"]).ok();
    assert_eq!(
        h.mutations_since(mark),
        ["pct shutdown 902 --timeout 60", "pct destroy 902 --purge"]
    );
    assert!(!h.path("/etc/pve/lxc/902.conf").exists());
    assert!(
        h.lxc(&["delete", "902"])
            .ok()
            .contains("container 902 does not exist; nothing to delete")
    );
}

#[test]
fn reconfigure_rolls_back_to_final_form_and_starts() {
    let h = with_base();
    h.tool("pct", &["exec", "900", "--", "touch", "/root/drift"])
        .ok();
    let mark = h.mark();
    h.lxc(&["reconfigure", "900"]).ok();
    assert_eq!(
        h.mutations_since(mark),
        [
            "pct shutdown 900 --timeout 60",
            "pct rollback 900 final-form",
            "pct start 900"
        ]
    );
    assert!(
        !h.guest_has(900, "/root/drift"),
        "the guest is back at final-form"
    );

    h.lxc(&["create", "103"]).ok();
    let err = h.lxc(&["reconfigure", "103"]).fails(1).to_string();
    assert!(
        err.contains("container 103 has no final-form snapshot"),
        "{err}"
    );
}

#[test]
fn health_check_runs_the_configured_command() {
    let h = with_base();
    h.lxc(&["create", "103"]).ok();
    assert!(
        h.lxc(&["health-check", "103"])
            .ok()
            .contains("container 103: health check passed")
    );
    h.sim(&[
        "rule",
        "add",
        "--match",
        "step ca health *",
        "--guest",
        "103",
        "--exit",
        "1",
        "--stderr",
        "connection refused",
        "--read",
    ])
    .ok();
    h.edit(103, |c| c["health_check"] = json!({"command": "step ca health --ca-url https://10.20.0.10:9000", "retries": 2, "interval": 0}));
    let err = h.lxc(&["health-check", "103"]).fails(1).to_string();
    assert!(
        err.contains("health check of container 103 failed after 2 attempt(s)"),
        "{err}"
    );
    assert!(
        h.lxc(&["health-check", "900"])
            .ok()
            .contains("no health_check configured")
    );
}

#[test]
fn tests_run_inside_the_guest_with_a_summary() {
    let h = with_base();
    h.edit(900, |c| {
        c["tests"] = json!({"integration_tests": [
            {"name": "smoke", "type": "script", "path": "smoke/ok.sh"},
            {"name": "broken", "type": "script", "path": "smoke/bad.sh"},
        ]});
    });
    let dir = h.root().join("tests/smoke");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ok.sh"), "#!/bin/sh\ntest -d /etc\n").unwrap();
    std::fs::write(dir.join("bad.sh"), "#!/bin/sh\ntest -d /nowhere\n").unwrap();
    let out = h.cli(&["test", "900"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("PASS integration_tests/smoke"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("FAIL integration_tests/broken"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("container 900: 1 passed, 1 failed"),
        "{}",
        out.stdout
    );
    std::fs::write(dir.join("bad.sh"), "#!/bin/sh\ntest -d /root\n").unwrap();
    h.lxc(&["test", "900", "--suite", "integration_tests"]).ok();
}

#[test]
fn a_container_another_run_holds_is_left_alone() {
    let h = with_base();
    let layout = Layout::new(h.root(), h.sys());
    let lock = phoenix_core::lock::guest_path(&layout, phoenix_core::ids::GuestId(900));
    let _held = phoenix_core::lock::acquire(&lock, "test", std::time::Duration::ZERO).unwrap();
    let mark = h.mark();
    let err = h.lxc(&["stop", "900"]).fails(1).to_string();
    assert!(err.contains("another run working on guest 900"), "{err}");
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());
    h.lxc(&["status", "900"]).ok();
}

#[test]
fn dry_runs_of_the_verbs_say_what_would_run_and_change_nothing() {
    let h = with_base();
    let mark = h.mark();
    let out = h.lxc(&["delete", "900", "--force", "--dry-run"]);
    let text = out.ok();
    assert!(text.contains("dry run: container 900 is unchanged; this would run:\n  run `pct shutdown 900 --timeout 60`\n  run `pct destroy 900`\n"), "{text}");
    let stop = h.lxc(&["stop", "900", "--dry-run"]);
    assert!(
        stop.ok().contains("run `pct shutdown 900 --timeout 60`"),
        "{}",
        stop.stdout
    );
    h.lxc(&["reconfigure", "900", "--dry-run"]).ok();
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());
    assert!(h.path("/etc/pve/lxc/900.conf").exists());
}
