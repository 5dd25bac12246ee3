//! Where a new container comes from: an OS template (downloaded only when missing), a full
//! clone of a snapshot, a linked clone of a Proxmox template, or a source chosen by features.

use crate::support::{Host, examples};
use serde_json::json;

const TEMPLATE: &str = "ubuntu-24.04-standard_24.04-2_amd64.tar.zst";

#[test]
fn a_missing_os_template_is_downloaded_once() {
    let h = Host::new(&examples(), 1);
    let cached = h.path(&format!("/bulk/iso/template/cache/{TEMPLATE}"));
    std::fs::remove_file(&cached).unwrap();
    let plan = h.lxc(&["plan", "900"]).ok().to_string();
    assert!(
        plan.contains(&format!("    > download template {TEMPLATE} to bulk-iso\n")),
        "{plan}"
    );
    let mark = h.mark();
    h.lxc(&["create", "900"]).ok();
    let m = h.mutations_since(mark);
    assert_eq!(m[0], format!("pveam download bulk-iso {TEMPLATE}"));
    assert!(
        m[1].starts_with(&format!("pct create 900 bulk-iso:vztmpl/{TEMPLATE} ")),
        "{m:#?}"
    );
    assert!(cached.is_file());

    // Created again elsewhere: the cached template is used as it is.
    h.lxc(&["delete", "900", "--force"]).ok();
    let mark = h.mark();
    h.lxc(&["create", "900"]).ok();
    assert!(
        h.mutations_since(mark)
            .iter()
            .all(|c| !c.starts_with("pveam"))
    );
}

#[test]
fn clones_are_full_from_the_sources_snapshot() {
    let h = Host::new(&examples(), 1);
    h.lxc(&["create", "900"]).ok();
    let mark = h.mark();
    h.lxc(&["create", "902"]).ok();
    let m = h.mutations_since(mark);
    assert_eq!(
        m[0],
        "pct clone 900 902 --snapname final-form --hostname tmpl-docker --full 1 --storage tank-lxc-disks"
    );
    assert!(
        h.guest_has(902, "/opt/phoenix/base_setup"),
        "the clone has what its source installed"
    );
    assert!(
        !m.iter().any(|c| c.contains("feature-base_setup")),
        "and does not install it again: {m:#?}"
    );
}

#[test]
fn templates_are_converted_once_and_cloned_linked() {
    let h = Host::new(&examples(), 1);
    h.edit(902, |c| c["is_template"] = json!(true));
    h.edit(960, |c| c["clone_from_ctid"] = json!("902"));
    h.lxc(&["create", "900"]).ok();
    let mark = h.mark();
    let out = h.lxc(&["create", "902"]);
    assert!(
        out.ok()
            .contains("templates take no snapshots; clones of it are linked clones"),
        "{}",
        out.stdout
    );
    let m = h.mutations_since(mark);
    assert_eq!(
        m[m.len() - 2..],
        ["pct shutdown 902 --timeout 60", "pct template 902"]
    );
    assert!(h.read("/etc/pve/lxc/902.conf").contains("template: 1\n"));

    let mark = h.mark();
    let again = h.lxc(&["converge", "902"]);
    assert!(
        again
            .ok()
            .contains("is a Proxmox template: settings are checked, nothing runs inside it"),
        "{}",
        again.stdout
    );
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());
    let mark = h.mark();
    let out = h.lxc(&["start", "902"]);
    assert!(
        out.ok()
            .contains("container 902 is a Proxmox template; templates are not started"),
        "{}",
        out.stdout
    );
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());

    let mark = h.mark();
    h.lxc(&["create", "960"]).ok();
    assert_eq!(
        h.mutations_since(mark)[0],
        "pct clone 902 960 --hostname ollama",
        "linked: no --snapname, no --storage"
    );
    assert_eq!(h.refusals(), Vec::<String>::new());
}

#[test]
fn a_container_without_a_source_gets_the_template_that_fits_its_features() {
    let h = Host::new(&examples(), 1);
    h.edit(950, |c| {
        c.as_object_mut().unwrap().remove("clone_from_ctid");
    });
    for id in ["900", "901", "902"] {
        h.lxc(&["create", id]).ok();
    }
    let out = h.lxc(&["create", "950"]);
    assert!(out.ok().contains("    ! chosen source: template 901 (tmpl-gpu) already has [base_setup, nvidia]; 950 adds [vllm]\n"), "{}", out.stdout);
    assert!(
        h.read("/etc/pve/lxc/950.conf")
            .contains("dev0: /dev/nvidia0")
    );
    assert!(
        h.audit()
            .iter()
            .any(|e| e["argv"][0] == "clone" && e["argv"][1] == "901" && e["argv"][2] == "950")
    );
}
