//! The VM planner and the cloud-init rendering on the repository's example configuration
//! and on the shell version's reference configuration (when `../shared/reference` is there).

use phoenix_core::config::Config;
use phoenix_core::converge::Plan;
use phoenix_core::ids::GuestId;
use phoenix_core::pve::conf::GuestConfig;

use super::*;
use crate::cloudinit;
use crate::spec;

fn etc() -> Config {
    phoenix_testkit::load_config(&phoenix_testkit::examples())
}

fn reference() -> Option<Config> {
    phoenix_testkit::reference().map(|d| phoenix_testkit::load_config(&d))
}

fn spec_of(cfg: &Config, id: u32) -> VmSpec {
    spec::spec(cfg, GuestId(id)).unwrap()
}

fn snippet(spec: &VmSpec) -> Snippet {
    Snippet {
        cicustom: format!(
            "user=local:snippets/{}",
            cloudinit::snippet_name(spec.id.get())
        ),
        text: cloudinit::user_data(cloudinit::BUILTIN_TEMPLATE, spec).unwrap(),
    }
}

/// A clone of template 9000 as Proxmox leaves it (linked clone, before any setting).
const FRESH_CLONE: &str = "agent: enabled=1
boot: order=scsi0
ciuser: phoenix
cicustom: user=local:snippets/phoenix-vm-9000-user.yml
cores: 2
ide2: tank-vm-disks:vm-1001-cloudinit,media=cdrom
ipconfig0: ip=dhcp
memory: 4096
meta: creation-qemu=8.1.5,ctime=1767225600
name: portainer
net0: virtio=BC:24:11:5E:7A:01,bridge=vmbr0
onboot: 0
ostype: l26
scsi0: tank-vm-disks:base-9000-disk-0/vm-1001-disk-0,size=3584M
scsihw: virtio-scsi-pci
searchdomain: lab.example.internal
serial0: socket
smbios1: uuid=5a7c2f4e-0000-4000-8000-000000001001
vga: serial0
vmgenid: 6b1a9d2e-0000-4000-8000-000000001001
";

fn shown(s: &Settings) -> String {
    let plan = Plan {
        resource: "settings".into(),
        changes: s.changes.clone(),
    };
    format!(
        "set: {:?}\ngrow: {:?}\ncloud_init: {}\n{plan}",
        s.set, s.grow, s.cloud_init
    )
}

#[test]
fn fresh_clone_gets_its_settings_snippet_and_firewall() {
    let cfg = etc();
    let spec = spec_of(&cfg, 1001);
    let conf = GuestConfig::parse_file(FRESH_CLONE).unwrap();
    let s = settings(&spec, &conf.main, &Observed::default(), &snippet(&spec));
    insta::assert_snapshot!(shown(&s));
    insta::assert_snapshot!("fresh_clone_firewall", s.firewall.clone().unwrap());
    assert_eq!(s.grow, Some(32), "3584M grows to disk_size_gb 32");
}

#[test]
fn converged_vm_plans_nothing_and_one_change_is_one_setting() {
    let cfg = etc();
    let spec = spec_of(&cfg, 1001);
    let conf = GuestConfig::parse_file(FRESH_CLONE).unwrap();
    let snip = snippet(&spec);
    let first = settings(&spec, &conf.main, &Observed::default(), &snip);
    // Apply what was planned to the conf and the host files.
    let mut main = conf.main.clone();
    for (k, v) in &first.set {
        main.keys.insert(k.clone(), v.clone());
    }
    main.keys.insert(
        "scsi0".into(),
        "tank-vm-disks:base-9000-disk-0/vm-1001-disk-0,size=32G".into(),
    );
    let obs = Observed {
        firewall: first.firewall.clone(),
        snippet: first.snippet.clone(),
    };
    let again = settings(&spec, &main, &obs, &snip);
    assert!(again.is_empty(), "{}", shown(&again));
    assert!(again.changes.is_empty(), "{}", shown(&again));

    let mut more = spec.clone();
    more.memory = 6144;
    let one = settings(&more, &main, &obs, &snip);
    assert_eq!(one.set, vec![("memory".to_string(), "6144".to_string())]);
    assert!(!one.cloud_init && one.firewall.is_none() && one.snippet.is_none());
}

#[test]
fn disabled_firewall_drops_the_nic_flag_and_writes_enable_0() {
    let cfg = etc();
    let mut spec = spec_of(&cfg, 1001);
    spec.firewall.as_mut().unwrap().0 = false;
    let mut main = GuestConfig::parse_file(FRESH_CLONE).unwrap().main;
    main.keys.insert(
        "net0".into(),
        "virtio=BC:24:11:5E:7A:01,bridge=vmbr0,firewall=1".into(),
    );
    let s = settings(&spec, &main, &Observed::default(), &snippet(&spec));
    let net = s.set.iter().find(|(k, _)| k == "net0").unwrap();
    assert_eq!(net.1, "virtio=BC:24:11:5E:7A:01,bridge=vmbr0");
    assert!(s.firewall.unwrap().contains("enable: 0"));
}

#[test]
fn larger_disks_are_left_with_a_note() {
    let cfg = etc();
    let spec = spec_of(&cfg, 1001);
    let mut main = GuestConfig::parse_file(FRESH_CLONE).unwrap().main;
    main.keys.insert(
        "scsi0".into(),
        "tank-vm-disks:vm-1001-disk-0,size=100G".into(),
    );
    let s = settings(&spec, &main, &Observed::default(), &snippet(&spec));
    assert_eq!(s.grow, None);
    assert!(
        s.changes.iter().any(|c| c
            .what
            .contains("larger than disk_size_gb 32; disks only grow")),
        "{}",
        shown(&s)
    );
}

#[test]
fn sizes_in_gib() {
    assert_eq!(size_gib("32G"), Some(32));
    assert_eq!(size_gib("3584M"), Some(3));
    assert_eq!(size_gib("1T"), Some(1024));
    assert_eq!(size_gib("12X"), None);
}

#[test]
fn user_data_of_the_example_vms() {
    let cfg = etc();
    for id in [9000, 1001, 1002] {
        let spec = spec_of(&cfg, id);
        insta::assert_snapshot!(
            format!("user_data_example_{id}"),
            cloudinit::user_data(cloudinit::BUILTIN_TEMPLATE, &spec).unwrap()
        );
    }
}

#[test]
fn user_data_of_the_reference_vms() {
    let Some(cfg) = reference() else { return };
    for id in [9000, 1001, 1002] {
        let spec = spec_of(&cfg, id);
        insta::assert_snapshot!(
            format!("user_data_reference_{id}"),
            cloudinit::user_data(cloudinit::BUILTIN_TEMPLATE, &spec).unwrap()
        );
    }
}

#[test]
fn reference_firewall_rules_merge_stacks_without_duplicates() {
    let Some(cfg) = reference() else { return };
    let spec = spec_of(&cfg, 1002);
    let (on, rules) = spec.firewall.clone().unwrap();
    assert!(on);
    let lines: Vec<String> = rules
        .iter()
        .map(phoenix_core::pve::firewall::format_rule)
        .collect();
    let mut unique = lines.clone();
    unique.dedup();
    assert_eq!(lines.len(), unique.len(), "{lines:#?}");
    insta::assert_snapshot!(lines.join("\n"));
}
