//! What converging a container does on the host itself: the per-CTID hook, a custom
//! AppArmor profile, the sub-ID ranges a custom ID map needs.

use std::os::unix::fs::PermissionsExt;

use crate::support::{Host, examples};
use serde_json::json;

fn executable(path: &std::path::Path, body: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn the_host_hook_runs_once_per_version_and_a_failure_fails_the_container() {
    let h = Host::new(&examples(), 1);
    let hook = h.root().join("bin/phoenix_hypervisor_setup_900.sh");
    executable(
        &hook,
        "#!/bin/sh\nset -eu\necho \"args=$* ctid=$PHOENIX_CTID dry=$PHOENIX_DRY_RUN config=$PHOENIX_CONFIG_DIR\" >> \"$PHOENIX_SYSROOT/hook.log\"\n",
    );
    h.lxc(&["create", "900"]).ok();
    let log = h.read("/hook.log");
    assert_eq!(
        log,
        format!("args=900 ctid=900 dry=0 config={}\n", h.etc().display())
    );

    h.lxc(&["converge", "900"]).ok();
    assert_eq!(h.read("/hook.log").lines().count(), 1, "not run again");

    executable(&hook, "#!/bin/sh\necho 'cannot reach the CA' >&2\nexit 4\n");
    let out = h.lxc(&["converge", "900"]);
    let err = out.fails(1);
    assert!(
        err.contains(&format!(
            "error: container 900: host hook: the host hook {} failed for container 900",
            hook.display()
        )),
        "{err}"
    );

    // The legacy name is honoured too.
    std::fs::remove_file(&hook).unwrap();
    executable(
        &h.root().join("bin/phoenix_hypervisor_lxc_900.sh"),
        "#!/bin/sh\necho legacy >> \"$PHOENIX_SYSROOT/hook.log\"\n",
    );
    h.lxc(&["converge", "900"]).ok();
    assert!(h.read("/hook.log").ends_with("legacy\n"));
}

#[test]
fn a_custom_apparmor_profile_is_installed_and_loaded_once() {
    let h = Host::new(&examples(), 1);
    let profile = "profile phoenix-nesting flags=(attach_disconnected,mediate_deleted) {\n  #include <abstractions/lxc/container-base>\n}\n";
    std::fs::create_dir_all(h.etc().join("apparmor")).unwrap();
    std::fs::write(h.etc().join("apparmor/phoenix-nesting"), profile).unwrap();
    executable(
        &h.bin().join("apparmor_parser"),
        "#!/bin/sh\necho \"$*\" >> \"$PHOENIX_SYSROOT/apparmor.log\"\n",
    );
    h.edit(902, |c| {
        c["apparmor_profile"] = json!("phoenix-nesting");
        c["apparmor_manages_nesting"] = json!(true);
    });
    h.lxc(&["create", "900"]).ok();
    h.lxc(&["create", "902"]).ok();
    assert_eq!(h.read("/etc/apparmor.d/phoenix-nesting"), profile);
    assert_eq!(
        h.read("/apparmor.log"),
        format!(
            "-r {}\n",
            h.path("/etc/apparmor.d/phoenix-nesting").display()
        )
    );
    let conf = h.read("/etc/pve/lxc/902.conf");
    let main = conf.split("\n[").next().unwrap();
    assert!(main.ends_with("lxc.apparmor.profile: phoenix-nesting\nlxc.apparmor.allow_nesting: 1\nlxc.include: /usr/share/lxc/config/nesting.conf\n"), "{conf}");

    let mark = h.mark();
    h.lxc(&["converge", "902"]).ok();
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());
    assert_eq!(h.read("/apparmor.log").lines().count(), 1);

    h.edit(902, |c| c["apparmor_profile"] = json!("missing-profile"));
    let err = h.lxc(&["converge", "902"]).fails(1).to_string();
    assert!(
        err.contains("AppArmor profile missing-profile is not shipped"),
        "{err}"
    );
}

#[test]
fn the_shipped_docker_profile_loads_before_setup_ran_and_setup_then_agrees() {
    let h = Host::new(&examples(), 1);
    h.edit(902, |c| {
        c["apparmor_profile"] = json!("lxc-phoenix-v2");
        c["apparmor_manages_nesting"] = json!(true);
    });
    h.lxc(&["create", "900"]).ok();
    h.lxc(&["create", "902"]).ok();
    assert!(
        h.read("/etc/apparmor.d/tunables/phoenix")
            .contains("@{phoenix_docker_root}")
    );
    assert!(
        h.read("/sys/kernel/security/apparmor/profiles")
            .contains("lxc-phoenix-v2 (enforce)")
    );
    let mark = h.mark();
    let out = h.hv(&["setup", "--step", "apparmor"]);
    assert!(out.ok().contains("  apparmor   ok\n"), "{}", out.stdout);
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());
}

#[test]
fn id_maps_get_their_host_ranges_and_owners() {
    let h = Host::new(&examples(), 1);
    h.lxc(&["create", "900"]).ok();
    h.lxc(&["create", "103"]).ok();
    h.lxc(&["create", "102"]).ok();
    h.lxc(&["create", "101"]).ok();
    let subgid = h.read("/etc/subgid");
    assert_eq!(subgid.matches("root:33:1").count(), 1, "{subgid}");
    let conf = h.read("/etc/pve/lxc/101.conf");
    assert!(conf.contains("lxc.idmap: u 0 100000 65536\nlxc.idmap: g 0 100000 33\nlxc.idmap: g 33 33 1\nlxc.idmap: g 34 100034 65502\n"), "{conf}");
    if phoenix_core::cmd::can_chown() {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(h.path("/tank/lxc-persistent-data/101/logs")).unwrap();
        assert_eq!(
            (m.uid(), m.gid()),
            (100_033, 33),
            "owner_uid 33 maps through the default range, gid 33 through the custom map"
        );
    }
}

#[test]
fn the_shell_versions_health_checks_run_as_argv_on_the_host() {
    let h = Host::new(&examples(), 1);
    executable(
        &h.root().join("bin/health_checks/check_base.sh"),
        "#!/bin/sh\necho \"$* ctid=$PHOENIX_CTID\" >> \"$PHOENIX_SYSROOT/checks.log\"\n",
    );
    h.edit(
        900,
        |c| {
            c["health_checks"] =
                json!([{"name": "base", "script": "check_base.sh", "args": "900 'two words'"}])
        },
    );
    h.lxc(&["create", "900"]).ok();
    assert_eq!(
        h.read("/checks.log"),
        "900 two words ctid=900\n",
        "run after the create"
    );
    h.lxc(&["health-check", "900"]).ok();
    assert_eq!(h.read("/checks.log").lines().count(), 2);

    h.edit(900, |c| {
        c["health_checks"] = json!([{"name": "gone", "script": "check_gone.sh"}])
    });
    // A missing check is a finding on 900 (load policy): converging it fails with it.
    let err = h.lxc(&["converge", "900"]).fails(1).to_string();
    assert!(
        err.contains("cannot converge container 900: health check program")
            && err.contains("bin/health_checks/check_gone.sh of container 900 does not exist"),
        "{err}"
    );
    assert!(
        err.contains("at /lxc_configs/900/health_checks/0/script"),
        "{err}"
    );
}
