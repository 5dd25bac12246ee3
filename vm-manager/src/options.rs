//! The VM's options, spelled once: [`table`] lists each one with its value, when the
//! creation gives it and how converge compares it with the `.conf`. The creation reads it
//! for `qm create` and the `qm set` after the disk import ([`given`]) and for the config it
//! predicts ([`written`]); the settings planner for the comparison ([`Opt::wanted`]).

use std::collections::BTreeMap;

use phoenix_core::pve::conf::Section;
use phoenix_core::pve::propstr::PropertyString;

use crate::spec::VmSpec;

/// When the creation of a VM from a cloud image gives an option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Given {
    /// To `qm create`.
    Create,
    /// With `qm set`, after the cloud image is imported (it names the imported disk).
    AfterImport,
}

/// How converge compares an option with the `.conf`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp<'a> {
    /// The same text.
    Exact,
    /// The same text, absent meaning this.
    Default(&'static str),
    /// The same properties, in any order.
    Props,
    /// The flag of this name is set (the first part without `=` is the flag).
    Flag(&'static str),
    /// `net0`: the current value (model, MAC and other options kept) with the configured
    /// bridge and firewall flag ([`net0`]); `model=virtio` and a bare `virtio` are the same.
    Nic(&'a VmSpec),
}

/// One option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opt<'a> {
    /// The `.conf` key (and `qm` option name).
    pub key: &'static str,
    /// The value the spec gives it.
    pub value: String,
    /// When the creation gives it.
    pub given: Given,
    /// Converge keeps it, comparing so (`None`: given at creation only).
    pub keep: Option<Cmp<'a>>,
    /// Converge keeps it only when the `.conf` has this key.
    pub needs: Option<&'static str>,
    /// The plan group its changes are shown under: `settings`, `cloud-init` (the guest sees
    /// the change when the drive is regenerated at boot) or `network`.
    pub group: &'static str,
}

impl Opt<'_> {
    /// The value to set when the `.conf` `main` differs from the spec; `None` when they agree
    /// or converge does not keep the option.
    pub fn wanted(&self, main: &Section) -> Option<String> {
        if self.needs.is_some_and(|k| main.get(k).is_none()) {
            return None;
        }
        let have = main.get(self.key);
        let v = self.value.as_str();
        let (same, v) = match self.keep? {
            Cmp::Exact => (have == Some(v), self.value.clone()),
            Cmp::Default(d) => (have.unwrap_or(d) == v, self.value.clone()),
            Cmp::Props => (same_props(have, v, None), self.value.clone()),
            Cmp::Flag(f) => (
                main.prop(self.key, Some(f)).is_some_and(|p| p.flag(f)),
                self.value.clone(),
            ),
            Cmp::Nic(spec) => {
                let v = net0(have, spec);
                (same_props(have, &v, Some("model")), v)
            }
        };
        (!same).then_some(v)
    }
}

fn props(v: &str, default_key: Option<&str>) -> BTreeMap<String, String> {
    PropertyString::parse(v, default_key)
        .map(|p| p.pairs.into_iter().collect())
        .unwrap_or_default()
}

/// Whether two property strings mean the same (order-insensitive).
fn same_props(a: Option<&str>, b: &str, default_key: Option<&str>) -> bool {
    a.is_some_and(|a| props(a, default_key) == props(b, default_key))
}

/// `net0` as it should be: the current value (model, MAC and other options kept) with the
/// configured bridge and the firewall flag following the firewall block.
pub fn net0(current: Option<&str>, spec: &VmSpec) -> String {
    let fw = spec.firewall.as_ref().is_some_and(|(on, _)| *on);
    let mut pairs: Vec<(String, String)> = current
        .and_then(|v| PropertyString::parse(v, Some("model")).ok())
        .map(|p| p.pairs)
        .unwrap_or_else(|| vec![("model".into(), "virtio".into())]);
    let set = |pairs: &mut Vec<(String, String)>, k: &str, v: Option<&str>| match (
        pairs.iter().position(|(x, _)| x == k),
        v,
    ) {
        (Some(i), Some(v)) => pairs[i].1 = v.to_string(),
        (None, Some(v)) => pairs.push((k.to_string(), v.to_string())),
        (Some(i), None) => {
            pairs.remove(i);
        }
        (None, None) => {}
    };
    set(&mut pairs, "bridge", Some(&spec.bridge));
    set(&mut pairs, "firewall", fw.then_some("1"));
    pairs
        .iter()
        .map(|(k, v)| {
            if k == "model" {
                v.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The VM's options, in `qm create`'s argument order; `cicustom` names its cloud-init
/// snippet.
pub fn table<'a>(spec: &'a VmSpec, cicustom: &str) -> Vec<Opt<'a>> {
    let opt = |key, value: String, given, keep, group| Opt {
        key,
        value,
        given,
        keep,
        needs: None,
        group,
    };
    let setting = |key, value, cmp| opt(key, value, Given::Create, Some(cmp), "settings");
    let cloud_init = |key, value, cmp| opt(key, value, Given::Create, Some(cmp), "cloud-init");
    let create_only = |key, value: &str| opt(key, value.into(), Given::Create, None, "settings");
    let mut t = vec![
        setting("name", spec.name.clone(), Cmp::Exact),
        setting("memory", spec.memory.to_string(), Cmp::Exact),
        setting("cores", spec.cores.to_string(), Cmp::Exact),
        create_only("ostype", "l26"),
        create_only("scsihw", "virtio-scsi-pci"),
        opt(
            "net0",
            net0(None, spec),
            Given::Create,
            Some(Cmp::Nic(spec)),
            "network",
        ),
        create_only("serial0", "socket"),
        create_only("vga", "serial0"),
        setting("agent", "enabled=1".into(), Cmp::Flag("enabled")),
        create_only("ide2", &format!("{}:cloudinit", spec.storage)),
        cloud_init("ciuser", spec.user.clone(), Cmp::Exact),
        cloud_init("ipconfig0", spec.ipconfig0.clone(), Cmp::Props),
        cloud_init("cicustom", cicustom.to_string(), Cmp::Props),
        setting(
            "onboot",
            if spec.onboot { "1" } else { "0" }.into(),
            Cmp::Default("0"),
        ),
    ];
    if let Some(ns) = &spec.nameserver {
        t.push(cloud_init("nameserver", ns.clone(), Cmp::Exact));
    }
    if let Some(sd) = &spec.searchdomain {
        t.push(cloud_init("searchdomain", sd.clone(), Cmp::Exact));
    }
    if let Some(st) = &spec.startup {
        t.push(setting("startup", st.clone(), Cmp::Props));
    }
    // The VM boots from its system disk. `qm create` writes the default order, disk, CD-ROM,
    // first NIC (`get_default_bootdevices` in qemu-server's `src/PVE/QemuServer.pm`): with no
    // disk yet `order=ide2;net0`, which a run killed before this `qm set` leaves.
    t.push(Opt {
        needs: Some("scsi0"),
        ..opt(
            "boot",
            "order=scsi0".into(),
            Given::AfterImport,
            Some(Cmp::Props),
            "settings",
        )
    });
    t
}

/// The options `table` gives at `when`, in order.
pub fn given(table: &[Opt], when: Given) -> Vec<(String, String)> {
    table
        .iter()
        .filter(|o| o.given == when)
        .map(|o| (o.key.to_string(), o.value.clone()))
        .collect()
}

/// The main section a VM built from a cloud image has: `qm create` writes the options it is
/// given as they are (qemu-server's `src/PVE/API2/Qemu.pm`, `create_vm`: `my $conf =
/// $param`; it also adds `meta`, `smbios1`, `vmgenid` and `boot`, and allocates the
/// cloud-init drive `ide2` names, none of which a setting compares, so they are left out or
/// as given), the import adds the system disk (`size=2G`: the cloud image's) and the `qm set`
/// after it the rest.
pub fn written(table: &[Opt], spec: &VmSpec) -> Section {
    let mut main = Section::default();
    for (k, v) in given(table, Given::Create) {
        main.keys.insert(k, v);
    }
    main.keys.insert(
        "scsi0".into(),
        format!("{}:vm-{}-disk-0,size=2G", spec.storage, spec.id),
    );
    for (k, v) in given(table, Given::AfterImport) {
        main.keys.insert(k, v);
    }
    main
}

#[cfg(test)]
mod tests {
    use phoenix_core::config::Config;
    use phoenix_core::ids::GuestId;

    use super::*;
    use crate::plan::{Observed, Snippet, settings};
    use crate::spec;

    fn specs() -> Vec<VmSpec> {
        let cfg: Config = phoenix_testkit::load_config(&phoenix_testkit::examples());
        [9000, 1001, 1002]
            .into_iter()
            .map(|id| spec::spec(&cfg, GuestId(id)).unwrap())
            .collect()
    }

    const CICUSTOM: &str = "user=local:snippets/phoenix-vm-9000-user.yml";

    /// The option changes `settings` plans for `main`.
    fn option_changes(spec: &VmSpec, main: &Section) -> Vec<(String, String)> {
        let snippet = Snippet {
            cicustom: CICUSTOM.into(),
            text: String::new(),
        };
        settings(spec, main, &Observed::default(), &snippet).set
    }

    #[test]
    fn a_vm_created_from_the_table_plans_no_setting_change() {
        for spec in specs() {
            let t = table(&spec, CICUSTOM);
            let main = written(&t, &spec);
            assert_eq!(option_changes(&spec, &main), [], "VM {}", spec.id);
            for o in &t {
                assert_eq!(o.wanted(&main), None, "{} {}", spec.id, o.key);
            }
        }
    }

    #[test]
    fn each_kept_option_differing_is_one_change() {
        for spec in specs() {
            let t = table(&spec, CICUSTOM);
            let created = written(&t, &spec);
            for o in t.iter().filter(|o| o.keep.is_some()) {
                let mut main = created.clone();
                main.keys.insert(o.key.into(), "x=0".into());
                let want = o.wanted(&main).expect(o.key);
                assert_eq!(
                    option_changes(&spec, &main),
                    [(o.key.to_string(), want)],
                    "{} {}",
                    spec.id,
                    o.key
                );
            }
        }
    }

    #[test]
    fn qm_create_options_in_order_then_boot_after_the_import() {
        let mut spec = specs().remove(0);
        spec.nameserver = Some("10.20.0.2".into());
        spec.searchdomain = Some("lab".into());
        spec.startup = Some("order=1".into());
        let t = table(&spec, CICUSTOM);
        let keys: Vec<String> = given(&t, Given::Create)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            keys,
            [
                "name",
                "memory",
                "cores",
                "ostype",
                "scsihw",
                "net0",
                "serial0",
                "vga",
                "agent",
                "ide2",
                "ciuser",
                "ipconfig0",
                "cicustom",
                "onboot",
                "nameserver",
                "searchdomain",
                "startup"
            ]
        );
        assert_eq!(
            given(&t, Given::AfterImport),
            [("boot".to_string(), "order=scsi0".to_string())]
        );
    }

    #[test]
    fn boot_is_kept_only_with_a_system_disk_and_onboot_defaults_to_off() {
        let mut spec = specs().remove(0);
        spec.onboot = false;
        let t = table(&spec, CICUSTOM);
        let mut main = written(&t, &spec);
        main.keys.remove("onboot");
        main.keys.insert("boot".into(), "order=ide2;net0".into());
        assert_eq!(
            option_changes(&spec, &main),
            [("boot".to_string(), "order=scsi0".to_string())]
        );
        main.keys.remove("scsi0");
        assert_eq!(option_changes(&spec, &main), []);
    }
}
