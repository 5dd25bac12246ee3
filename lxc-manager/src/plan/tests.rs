//! The planner on observed-state fixtures (real-format `.conf` and `.fw` files as the
//! simulator and the shell version leave them), with the repository's example configuration.

use std::path::Path;

use phoenix_core::config::{Config, ConfigLocation, LoadOptions};
use phoenix_core::converge::Plan;
use phoenix_core::ids::GuestId;
use phoenix_core::paths::Layout;
use phoenix_core::pve::conf::GuestConfig;

use super::*;
use crate::spec::{self, Spec};

fn etc() -> Config {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc");
    let loc = ConfigLocation::resolve(Some(&dir), None, &Layout::new("/nonexistent", "/"));
    let loaded = phoenix_core::config::load(&loc, &LoadOptions::default());
    loaded
        .config
        .unwrap_or_else(|| panic!("{:?}", loaded.report.all()))
}

fn spec_of(cfg: &Config, id: u32) -> Spec {
    let c = &cfg.lxc.lxc_configs[&id.to_string()];
    spec::spec(
        cfg,
        &Layout::new("/usr/local/phoenix_hypervisor", "/"),
        GuestId(id),
        c,
    )
    .unwrap()
}

fn conf(text: &str) -> GuestConfig {
    GuestConfig::parse_file(text).unwrap()
}

const FRESH_CLONE: &str = include_str!("../../tests/data/fresh-clone.conf");
const GPU_CLONE: &str = include_str!("../../tests/data/gpu-clone.conf");
const LEGACY_GPU: &str = include_str!("../../tests/data/legacy-gpu.conf");
const CONVERGED_101: &str = include_str!("../../tests/data/converged-101.conf");
const CONVERGED_101_FW: &str = include_str!("../../tests/data/converged-101.fw");
const STALE_FW: &str = include_str!("../../tests/data/stale.fw");

/// A host where everything the spec needs exists, owned as configured.
fn ready_host(spec: &Spec) -> HostFacts {
    HostFacts {
        dirs: spec
            .binds
            .iter()
            .map(|b| (b.host_path.clone(), Some(b.owner.unwrap_or((0, 0)))))
            .collect(),
        devices: [
            "/dev/nvidia0",
            "/dev/nvidia1",
            "/dev/nvidiactl",
            "/dev/nvidia-uvm",
            "/dev/nvidia-uvm-tools",
        ]
        .iter()
        .map(|d| (d.to_string(), true))
        .collect(),
        subuid: vec!["root:100000:65536".into()],
        subgid: vec!["root:100000:65536".into(), "root:33:1".into()],
        apparmor_current: None,
        firewall: None,
        can_chown: true,
    }
}

fn shown(title: &str, s: &Settings) -> String {
    let plan = Plan {
        resource: title.to_string(),
        changes: s.changes.clone(),
    };
    format!(
        "{plan}\nset: {:?}\ndelete: {:?}\nresize: {:?}\ncold: {}\n",
        s.set, s.delete, s.resize, s.cold
    )
}

#[test]
fn a_fresh_clone_of_the_base_gets_the_gateways_settings() {
    let cfg = etc();
    let spec = spec_of(&cfg, 101);
    let mut host = ready_host(&spec);
    host.dirs.clear(); // the log and certificate directories do not exist yet
    host.subgid.retain(|l| l != "root:33:1");
    let s = settings(&spec, &conf(FRESH_CLONE).effective(), &host).unwrap();
    insta::assert_snapshot!(shown("fresh clone -> 101", &s));
    assert!(s.cold, "new raw lines and ID maps need a restart");
    assert_eq!(
        s.dirs,
        [
            DirAction {
                path: "/tank/lxc-persistent-data/101/logs".into(),
                create: true,
                owner: Some((100_033, 33))
            },
            DirAction {
                path: "/tank/lxc-persistent-data/101/ssl".into(),
                create: true,
                owner: Some((100_000, 100_000))
            }
        ]
    );
}

#[test]
fn a_converged_container_plans_nothing() {
    let cfg = etc();
    let spec = spec_of(&cfg, 101);
    let mut host = ready_host(&spec);
    host.dirs.insert(
        "/tank/lxc-persistent-data/101/logs".into(),
        Some((100_033, 33)),
    );
    host.firewall = Some(CONVERGED_101_FW.to_string());
    let s = settings(&spec, &conf(CONVERGED_101).effective(), &host).unwrap();
    assert!(s.is_empty(), "{}", shown("101", &s));
    assert!(s.changes.is_empty(), "{}", shown("101", &s));
}

#[test]
fn one_changed_value_is_one_change() {
    let cfg = etc();
    let mut spec = spec_of(&cfg, 101);
    spec.memory = Some(3072);
    let mut host = ready_host(&spec);
    host.dirs.insert(
        "/tank/lxc-persistent-data/101/logs".into(),
        Some((100_033, 33)),
    );
    host.firewall = Some(CONVERGED_101_FW.to_string());
    let s = settings(&spec, &conf(CONVERGED_101).effective(), &host).unwrap();
    assert_eq!(s.set, [("memory".to_string(), "3072".to_string())]);
    assert!(!s.cold, "memory is applied to a running container");
    assert_eq!(s.changes.len(), 1);
}

#[test]
fn gpu_reassignment_replaces_only_the_gpu_device() {
    let cfg = etc();
    let mut spec = spec_of(&cfg, 901);
    spec.gpus = vec![1];
    let s = settings(&spec, &conf(GPU_CLONE).effective(), &ready_host(&spec)).unwrap();
    insta::assert_snapshot!(shown("901 moved to GPU 1", &s));
    assert!(s.delete.is_empty());
    assert!(
        s.set
            .contains(&("dev0".to_string(), "/dev/nvidia1".to_string()))
    );
    assert!(s.cold);
}

#[test]
fn removing_the_gpu_assignment_removes_every_nvidia_device() {
    let cfg = etc();
    let mut spec = spec_of(&cfg, 901);
    spec.gpus = Vec::new();
    let s = settings(&spec, &conf(GPU_CLONE).effective(), &ready_host(&spec)).unwrap();
    assert_eq!(s.delete, ["dev0", "dev1", "dev2", "dev3"]);
    assert!(s.set.iter().all(|(k, _)| !k.starts_with("dev")));
}

#[test]
fn legacy_gpu_lines_become_devices_in_the_main_section_only() {
    let cfg = etc();
    let spec = spec_of(&cfg, 950);
    let observed = conf(LEGACY_GPU);
    let s = settings(&spec, &observed.effective(), &ready_host(&spec)).unwrap();
    insta::assert_snapshot!(shown("shell-made GPU container -> 950", &s));
    let edited = phoenix_core::pve::conf::set_main_raw_lines(LEGACY_GPU, s.raw.as_deref().unwrap());
    insta::assert_snapshot!("legacy-gpu-edited-conf", edited);
    let after = conf(&edited);
    assert!(after.main.lxc.is_empty(), "{edited}");
    assert_eq!(
        after.snapshots["final-form"], observed.snapshots["final-form"],
        "the snapshot section is untouched"
    );
}

#[test]
fn a_missing_gpu_device_is_a_clear_error() {
    let cfg = etc();
    let spec = spec_of(&cfg, 950);
    let mut host = ready_host(&spec);
    host.devices.insert("/dev/nvidia-uvm".into(), false);
    let e = settings(&spec, &conf(GPU_CLONE).effective(), &host).unwrap_err();
    assert_eq!(
        e.to_string(),
        "GPU passthrough needs /dev/nvidia-uvm, which does not exist on this host (is the NVIDIA driver installed and loaded?)"
    );
}

#[test]
fn volumes_are_matched_by_path_and_only_grow() {
    let cfg = etc();
    let spec = spec_of(&cfg, 950);
    let base = GPU_CLONE.replace(
        "hostname: gpu\n",
        "hostname: vllm-qwen\nmp0: bulk-models:subvol-950-disk-0,mp=/models,size=100G\n",
    );
    let s = settings(&spec, &conf(&base).effective(), &ready_host(&spec)).unwrap();
    assert_eq!(
        s.resize,
        [("mp0".to_string(), 200), ("rootfs".to_string(), 64)]
    );
    assert!(
        s.set.iter().all(|(k, _)| !k.starts_with("mp")),
        "no second volume: {:?}",
        s.set
    );
    let bigger = base.replace("size=100G", "size=300G");
    let s = settings(&spec, &conf(&bigger).effective(), &ready_host(&spec)).unwrap();
    assert_eq!(s.resize, [("rootfs".to_string(), 64)]);
    insta::assert_snapshot!(shown("volume larger than configured", &s));
}

#[test]
fn a_path_mounted_differently_is_an_error_not_a_second_mount() {
    let cfg = etc();
    let spec = spec_of(&cfg, 950);
    let base = GPU_CLONE.replace(
        "hostname: gpu\n",
        "hostname: vllm-qwen\nmp0: /srv/models,mp=/models\n",
    );
    let e = settings(&spec, &conf(&base).effective(), &ready_host(&spec)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "mp0 bind-mounts /srv/models at /models, where the configuration wants a volume on bulk-models"
    );
}

#[test]
fn stale_bind_mounts_are_removed_and_volumes_kept() {
    let cfg = etc();
    let spec = spec_of(&cfg, 101);
    let mut host = ready_host(&spec);
    host.firewall = Some(CONVERGED_101_FW.to_string());
    let text = CONVERGED_101.replace("nameserver:", "mp2: /srv/old,mp=/old\nmp3: tank-lxc-disks:subvol-101-disk-1,mp=/data,size=8G\nnameserver:");
    let s = settings(&spec, &conf(&text).effective(), &host).unwrap();
    insta::assert_snapshot!(shown(
        "101 with a stale bind mount and an unconfigured volume",
        &s
    ));
    assert_eq!(s.delete, ["mp2"]);
}

#[test]
fn the_firewall_file_is_rewritten_declaratively() {
    let cfg = etc();
    let spec = spec_of(&cfg, 101);
    let mut host = ready_host(&spec);
    host.firewall = Some(STALE_FW.to_string());
    let s = settings(&spec, &conf(CONVERGED_101).effective(), &host).unwrap();
    insta::assert_snapshot!("stale-firewall-plan", shown("101 firewall", &s));
    insta::assert_snapshot!("stale-firewall-file", s.firewall.clone().unwrap());
}

#[test]
fn owners_are_reported_not_planned_without_root() {
    let cfg = etc();
    let spec = spec_of(&cfg, 101);
    let mut host = ready_host(&spec);
    host.can_chown = false;
    host.dirs
        .insert("/tank/lxc-persistent-data/101/logs".into(), Some((0, 0)));
    host.firewall = Some(CONVERGED_101_FW.to_string());
    let s = settings(&spec, &conf(CONVERGED_101).effective(), &host).unwrap();
    assert!(s.is_empty());
    assert_eq!(s.changes.len(), 1);
    assert_eq!(s.changes[0].op, Op::Note);
}

fn work(features: &[(&str, &str)]) -> Work {
    Work {
        features: features
            .iter()
            .map(|(f, h)| (f.to_string(), h.to_string()))
            .collect(),
        ..Work::default()
    }
}

fn recorded(features: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    Some(
        features
            .iter()
            .map(|(f, h)| (f.to_string(), h.to_string()))
            .collect(),
    )
}

fn steps_shown(spec: &Spec, st: &RuntimeState, w: &Work) -> String {
    match runtime(spec, st, w) {
        Ok((steps, changes)) => {
            let plan = Plan {
                resource: "runtime".into(),
                changes,
            };
            format!("{steps:?}\n{plan}")
        }
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn runtime_steps_by_situation() {
    let cfg = etc();
    let base = spec_of(&cfg, 900); // template_snapshot_name final-form
    let mut lifecycle = base.clone();
    lifecycle.lifecycle = true;
    let gateway = spec_of(&cfg, 101); // bind mounts
    let mut gateway_lc = gateway.clone();
    gateway_lc.lifecycle = true;
    let mut tmpl = base.clone();
    tmpl.is_template = true;
    let mut pre_named = lifecycle.clone();
    pre_named.template_snapshot = Some("pre-configured".into());
    let running = RuntimeState {
        running: true,
        markers: recorded(&[("base_setup", "h1")]),
        snapshots: vec!["final-form".into()],
        ..RuntimeState::default()
    };
    let cases: Vec<(&str, &Spec, RuntimeState, Work)> = vec![
        (
            "just created: start, run everything, take the snapshot",
            &base,
            RuntimeState {
                settings_changed: true,
                ..RuntimeState::default()
            },
            work(&[("base_setup", "h1")]),
        ),
        (
            "converged: nothing",
            &base,
            running.clone(),
            work(&[("base_setup", "h1")]),
        ),
        (
            "installer changed: run it, retake the snapshot",
            &base,
            running.clone(),
            work(&[("base_setup", "h2")]),
        ),
        (
            "forced",
            &base,
            running.clone(),
            Work {
                force: true,
                ..work(&[("base_setup", "h1")])
            },
        ),
        (
            "only a setting changed: the snapshot stays",
            &base,
            RuntimeState {
                settings_changed: true,
                ..running.clone()
            },
            work(&[("base_setup", "h1")]),
        ),
        (
            "lifecycle on a new feature",
            &lifecycle,
            RuntimeState {
                running: true,
                markers: recorded(&[("base_setup", "h1")]),
                ..RuntimeState::default()
            },
            work(&[("base_setup", "h1"), ("docker", "d1")]),
        ),
        (
            "lifecycle with the template snapshot named pre-configured: taken once, after the installers",
            &pre_named,
            RuntimeState {
                settings_changed: true,
                ..RuntimeState::default()
            },
            work(&[("base_setup", "h1")]),
        ),
        (
            "bind mounts: snapshots unavailable",
            &gateway_lc,
            RuntimeState {
                running: true,
                no_snapshots: Some("the container has bind mounts".into()),
                markers: recorded(&[]),
                ..RuntimeState::default()
            },
            work(&[("base_setup", "h1")]),
        ),
        (
            "to become a template",
            &tmpl,
            RuntimeState {
                running: true,
                markers: recorded(&[]),
                ..RuntimeState::default()
            },
            work(&[("base_setup", "h1")]),
        ),
        (
            "to become a template, but it has snapshots",
            &tmpl,
            RuntimeState {
                running: true,
                markers: recorded(&[]),
                snapshots: vec!["old".into()],
                ..RuntimeState::default()
            },
            work(&[("base_setup", "h1")]),
        ),
        (
            "already a template",
            &tmpl,
            RuntimeState {
                template: true,
                ..RuntimeState::default()
            },
            work(&[("base_setup", "h1")]),
        ),
        (
            "hook and app changed",
            &gateway,
            RuntimeState {
                running: true,
                markers: recorded(&[]),
                app_marker: Some("a1".into()),
                hook_marker: Some("k1".into()),
                ..RuntimeState::default()
            },
            Work {
                app: Some(("app.sh".into(), "a2".into())),
                hook: Some("k2".into()),
                health_check: true,
                ..Work::default()
            },
        ),
    ];
    let mut out = String::new();
    for (name, spec, st, w) in cases {
        out.push_str(&format!("## {name}\n{}\n", steps_shown(spec, &st, &w)));
    }
    insta::assert_snapshot!(out);
}
