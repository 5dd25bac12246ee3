//! The verbs besides converge, on a converged example VM: each observes first and does
//! nothing when there is nothing to do; templates are never started.

use crate::support::{Host, examples};
use serde_json::Value;

#[test]
fn lifecycle_verbs_are_idempotent_and_templates_stay_put() {
    let h = Host::new(&examples(), 0);
    for id in ["9000", "1001"] {
        h.vm(&["create", id]).ok();
    }

    let mark = h.mark();
    let out = h.vm(&["start", "9000"]);
    assert!(
        out.ok().contains("templates are not started"),
        "{}",
        out.stdout
    );
    h.vm(&["start", "1001"]).ok();
    assert_eq!(h.mutations_since(mark), Vec::<String>::new(), "both no-ops");

    let mark = h.mark();
    h.vm(&["stop", "1001"]).ok();
    assert_eq!(h.mutations_since(mark), ["qm shutdown 1001 --timeout 60"]);
    let mark = h.mark();
    assert!(h.vm(&["stop", "1001"]).ok().contains("already stopped"));
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());

    let mark = h.mark();
    h.vm(&["restart", "1001"]).ok();
    assert_eq!(
        h.mutations_since(mark),
        ["qm start 1001"],
        "stopped: restart starts"
    );
    let mark = h.mark();
    h.vm(&["restart", "1001"]).ok();
    assert_eq!(h.mutations_since(mark), ["qm reboot 1001"]);

    let out = h.vm(&["status", "1001", "--output", "json"]);
    let st: Value = serde_json::from_str(out.ok()).unwrap();
    assert_eq!(st["state"], "running");
    assert_eq!(st["drift"], serde_json::json!([]));
    assert_eq!(st["snapshots"], serde_json::json!(["final-form"]));
    let out = h.vm(&["status", "9000"]);
    assert!(
        out.ok().contains("vm 9000 (tmpl-ubuntu-noble): template"),
        "{}",
        out.stdout
    );

    let mark = h.mark();
    h.vm(&["reconfigure", "1001"]).ok();
    assert_eq!(
        h.mutations_since(mark),
        [
            "qm shutdown 1001 --timeout 60",
            "qm rollback 1001 final-form",
            "qm start 1001"
        ]
    );
}

#[test]
fn delete_refuses_clone_sources_and_running_vms_without_force() {
    let h = Host::new(&examples(), 0);
    for id in ["9000", "1001"] {
        h.vm(&["create", id]).ok();
    }
    let err = h.vm(&["delete", "9000"]).fails(1).to_string();
    assert!(
        err.contains("VM 9000 is the clone source of 1001, 1002"),
        "{err}"
    );
    let err = h.vm(&["delete", "1001"]).fails(1).to_string();
    assert!(
        err.contains("VM 1001 is running; stop it first, or pass --force"),
        "{err}"
    );

    let snippet = "/bulk/iso/snippets/phoenix-vm-1001-user.yml";
    assert!(h.path(snippet).is_file());
    let mark = h.mark();
    h.vm(&["delete", "1001", "--force"]).ok();
    assert_eq!(
        h.mutations_since(mark),
        ["qm shutdown 1001 --timeout 60", "qm destroy 1001"]
    );
    assert!(!h.path(snippet).exists(), "its snippet goes with it");
    assert!(
        h.vm(&["delete", "1001"])
            .ok()
            .contains("does not exist; nothing to delete")
    );
}

#[test]
fn dry_runs_of_verbs_change_nothing() {
    let h = Host::new(&examples(), 0);
    for id in ["9000", "1001"] {
        h.vm(&["create", id]).ok();
    }
    let mark = h.mark();
    for verb in ["stop", "restart", "reconfigure"] {
        let out = h.vm(&[verb, "1001", "--dry-run"]);
        assert!(
            out.ok().contains("dry run: VM 1001 is unchanged"),
            "{verb}: {}",
            out.stdout
        );
    }
    let out = h.vm(&["delete", "1001", "--force", "--dry-run"]);
    assert!(out.ok().contains("qm destroy 1001"), "{}", out.stdout);
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());
}
