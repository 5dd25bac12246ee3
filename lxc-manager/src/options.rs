//! The container's options, spelled once: [`table`] lists each one with its value, whether
//! `pct create` is given it and how converge compares it with the `.conf`. [`argv`] turns
//! the table into `pct create` options, [`written`] into the main section Proxmox then
//! writes, and [`Opt::wanted`] is the settings planner's comparison.

use std::collections::BTreeMap;

use phoenix_core::ids::GuestId;
use phoenix_core::pve::conf::Section;
use phoenix_core::pve::propstr::PropertyString;

use crate::spec::{NetSpec, Spec, normalize_features, normalize_list};

/// How converge compares an option with the `.conf`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp<'a> {
    /// The same text.
    Exact,
    /// The same number.
    Number,
    /// The same addresses, however separated.
    List,
    /// The same properties, in any order (`default_key` names a first part without `=`).
    Props(&'static str),
    /// The same features, in any order (the spec's are normalised already).
    Features,
    /// The same boolean, absent meaning off.
    Flag,
    /// A NIC: name, bridge, address, gateway, MAC and firewall flag from the spec; any other
    /// key Proxmox keeps (rate, tag, mtu) as it is.
    Nic(&'a NetSpec),
}

/// One option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opt<'a> {
    /// The `.conf` key (and `pct` option name).
    pub key: &'static str,
    /// The value the spec gives it.
    pub value: String,
    /// `pct create` is given it.
    pub create: bool,
    /// Converge keeps it, comparing so (`None`: given at creation only).
    pub keep: Option<Cmp<'a>>,
    /// A change takes effect on a running container only after a restart.
    pub cold: bool,
}

impl Opt<'_> {
    /// The plan group its changes are shown under.
    pub fn group(&self) -> &'static str {
        match self.keep {
            Some(Cmp::Nic(_)) => "network",
            _ => "settings",
        }
    }

    /// The value to set when the `.conf` `main` differs from the spec; `None` when they agree
    /// or converge does not keep the option.
    pub fn wanted(&self, main: &Section) -> Option<String> {
        let have = main.get(self.key);
        let v = self.value.as_str();
        let same = match self.keep? {
            Cmp::Exact => have == Some(v),
            Cmp::Number => have.and_then(|h| h.parse::<u64>().ok()) == v.parse().ok(),
            Cmp::List => have.map(normalize_list) == Some(normalize_list(v)),
            Cmp::Props(dk) => have.map(|h| prop_map(h, Some(dk))) == Some(prop_map(v, Some(dk))),
            Cmp::Features => have.map(normalize_features).as_deref() == Some(v),
            Cmp::Flag => (have == Some("1")) == (v == "1"),
            Cmp::Nic(n) => return nic_wanted(have, n),
        };
        (!same).then(|| self.value.clone())
    }
}

/// A property string as a map (empty when it does not parse).
pub fn prop_map(v: &str, default_key: Option<&str>) -> BTreeMap<String, String> {
    PropertyString::parse(v, default_key)
        .map(|p| p.pairs.into_iter().collect())
        .unwrap_or_default()
}

/// Renders a property map with `first` keys first, the rest sorted.
fn render_props(m: &BTreeMap<String, String>, first: &[&str]) -> String {
    let mut parts: Vec<String> = first
        .iter()
        .filter_map(|k| m.get(*k).map(|v| format!("{k}={v}")))
        .collect();
    parts.extend(
        m.iter()
            .filter(|(k, _)| !first.contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={v}")),
    );
    parts.join(",")
}

/// The value a NIC is created with.
fn nic_value(n: &NetSpec) -> String {
    let mut parts = vec![format!("name={}", n.name), format!("bridge={}", n.bridge)];
    if n.firewall == Some(true) {
        parts.push("firewall=1".into());
    }
    if let Some(gw) = &n.gw {
        parts.push(format!("gw={gw}"));
    }
    if let Some(m) = &n.hwaddr {
        parts.push(format!("hwaddr={m}"));
    }
    if let Some(ip) = &n.ip {
        parts.push(format!("ip={ip}"));
    }
    parts.push("type=veth".into());
    parts.join(",")
}

/// The NIC `have` with the spec's keys applied, when that differs from `have` (a firewall
/// flag of 0 is no flag; MACs compare case-insensitively).
fn nic_wanted(have: Option<&str>, n: &NetSpec) -> Option<String> {
    let cur = have.map(|h| prop_map(h, Some("name"))).unwrap_or_default();
    let mut new = cur.clone();
    let mut put = |k: &str, v: Option<&str>| match v {
        Some(v) => {
            new.insert(k.into(), v.into());
        }
        None => {
            new.remove(k);
        }
    };
    put("name", Some(&n.name));
    put("bridge", Some(&n.bridge));
    put("ip", n.ip.as_deref());
    put("gw", n.gw.as_deref());
    if n.hwaddr.is_some() {
        put("hwaddr", n.hwaddr.as_deref());
    }
    if let Some(on) = n.firewall {
        put("firewall", on.then_some("1"));
    }
    put("type", Some("veth"));
    let norm = |m: &BTreeMap<String, String>| {
        let mut m = m.clone();
        if m.get("firewall").is_some_and(|v| v == "0") {
            m.remove("firewall");
        }
        if let Some(h) = m.get_mut("hwaddr") {
            *h = h.to_ascii_uppercase();
        }
        m
    };
    (norm(&cur) != norm(&new)).then(|| render_props(&new, &["name"]))
}

/// The container's options, in `pct create`'s argument order. `root` is the storage and size
/// (GiB) of a new root disk; the settings planner passes `None` (it grows the disk itself).
pub fn table<'a>(spec: &'a Spec, root: Option<(&str, u64)>) -> Vec<Opt<'a>> {
    let opt = |key, value: String, create, keep, cold| Opt {
        key,
        value,
        create,
        keep,
        cold,
    };
    let both = |key, value, cmp| opt(key, value, true, Some(cmp), false);
    let create_only = |key, value| opt(key, value, true, None, false);
    let mut t = vec![both("hostname", spec.hostname.clone(), Cmp::Exact)];
    for (key, v) in [
        ("memory", spec.memory),
        ("swap", spec.swap),
        ("cores", spec.cores.map(u64::from)),
    ] {
        t.extend(v.map(|v| both(key, v.to_string(), Cmp::Number)));
    }
    if let Some((storage, gb)) = root {
        t.push(create_only("storage", storage.to_string()));
        t.push(create_only("rootfs", format!("{storage}:{gb}")));
    }
    for (key, n) in [("net0", &spec.net0), ("net1", &spec.net1)] {
        t.extend(n.as_ref().map(|n| both(key, nic_value(n), Cmp::Nic(n))));
    }
    // Given even when 0: `pct create` makes unprivileged containers by default since
    // pve-container 6.0.6 (`$unprivileged = 1 if !defined($unprivileged)` in
    // `src/PVE/API2/LXC.pm`, commit 103068a), privileged ones before.
    let flag = |b: bool| if b { "1" } else { "0" }.to_string();
    t.push(create_only("unprivileged", flag(spec.unprivileged)));
    if let Some(ns) = &spec.nameserver {
        t.push(opt("nameserver", ns.clone(), true, Some(Cmp::List), true));
    }
    // Given only when set; off is Proxmox's default.
    t.push(opt(
        "onboot",
        flag(spec.onboot),
        spec.onboot,
        Some(Cmp::Flag),
        false,
    ));
    if let Some(st) = &spec.startup {
        t.push(both("startup", st.clone(), Cmp::Props("order")));
    }
    if let Some(f) = &spec.pct_features {
        t.push(opt("features", f.clone(), true, Some(Cmp::Features), true));
    }
    t
}

/// The `pct create` options (`--key value …`) of `table`.
pub fn argv(table: &[Opt]) -> Vec<String> {
    table
        .iter()
        .filter(|o| o.create)
        .flat_map(|o| [format!("--{}", o.key), o.value.clone()])
        .collect()
}

/// The main section `pct create` writes for container `id` given `table`'s options, as
/// pve-container's `src/PVE/API2/LXC.pm` (`create_vm`) makes it:
/// - `storage` is a parameter, not a setting (`extract_param($param, 'storage')`);
/// - a `rootfs` of `<storage>:<GiB>` is allocated by `PVE::LXC::create_disks` (`alloc_disk`
///   in `src/PVE/LXC.pm`); on a ZFS pool, the storage type the estate uses, that is the
///   volume `subvol-<id>-disk-0` (a directory storage would make `<id>/vm-<id>-disk-0.raw`);
/// - `unprivileged` is written only when set (`$conf->{unprivileged} = 1 if $unprivileged`);
/// - the other options are written as given (`update_pct_config`);
/// - then "set some defaults": `memory ||= 512`, `swap //= 512`;
/// - `arch` is detected from the template, `amd64` when detection fails
///   (`src/PVE/LXC/Setup.pm`, `new`); the templates here are amd64.
pub fn written(table: &[Opt], id: GuestId) -> Section {
    let mut m = Section::default();
    let mut put = |k: &str, v: String| {
        m.keys.insert(k.to_string(), v);
    };
    put("arch", "amd64".into());
    for o in table.iter().filter(|o| o.create) {
        match (o.key, o.value.split_once(':')) {
            ("storage", _) => {}
            ("rootfs", Some((storage, gb))) if gb.parse::<u64>().is_ok() => {
                put("rootfs", format!("{storage}:subvol-{id}-disk-0,size={gb}G"));
            }
            ("unprivileged", _) if o.value != "1" => {}
            _ => put(o.key, o.value.clone()),
        }
    }
    for k in ["memory", "swap"] {
        m.keys.entry(k.into()).or_insert_with(|| "512".into());
    }
    m
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use phoenix_core::config::{Config, ConfigLocation, LoadOptions};
    use phoenix_core::paths::Layout;

    use super::*;
    use crate::plan::{HostFacts, gpu_devices, settings};
    use crate::spec::{self, Source};

    fn etc() -> Config {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc");
        let loc = ConfigLocation::resolve(Some(&dir), None, &Layout::new("/nonexistent", "/"));
        let loaded = phoenix_core::config::load(&loc, &LoadOptions::default());
        loaded
            .config
            .unwrap_or_else(|| panic!("{:?}", loaded.report.all()))
    }

    /// Every container of the example configuration.
    fn specs() -> Vec<Spec> {
        let cfg = etc();
        let layout = Layout::new("/usr/local/phoenix_hypervisor", "/");
        cfg.lxc
            .lxc_configs
            .iter()
            .map(|(id, c)| spec::spec(&cfg, &layout, GuestId(id.parse().unwrap()), c).unwrap())
            .collect()
    }

    /// The option changes `settings` plans for `main` (keys and values), on a host that
    /// has every device and profile the spec needs.
    fn option_changes(spec: &Spec, main: &Section) -> Vec<(String, String)> {
        let host = HostFacts {
            devices: gpu_devices(&spec.gpus)
                .into_iter()
                .map(|d| (d, true))
                .collect(),
            apparmor_current: Some(true),
            ..HostFacts::default()
        };
        let s = settings(spec, main, &host).unwrap();
        let keys: Vec<&str> = table(spec, None).iter().map(|o| o.key).collect();
        s.set
            .into_iter()
            .filter(|(k, _)| keys.contains(&k.as_str()))
            .collect()
    }

    #[test]
    fn a_container_created_from_the_table_plans_no_setting_change() {
        let specs = specs();
        assert!(specs.len() > 3);
        for spec in &specs {
            let t = table(spec, Some(("tank-lxc-disks", 8)));
            let main = written(&t, spec.id);
            assert_eq!(option_changes(spec, &main), [], "container {}", spec.id);
            for o in t.iter().filter(|o| o.keep.is_some()) {
                assert_eq!(o.wanted(&main), None, "{} {}", spec.id, o.key);
            }
        }
    }

    #[test]
    fn each_kept_option_differing_is_one_change() {
        for spec in specs() {
            let t = table(&spec, Some(("tank-lxc-disks", 8)));
            let created = written(&t, spec.id);
            for o in t.iter().filter(|o| o.keep.is_some()) {
                let mut main = created.clone();
                main.keys.insert(o.key.into(), "0".into());
                let want = o.wanted(&main).unwrap_or_default();
                let expect = (!want.is_empty()).then(|| (o.key.to_string(), want));
                assert_eq!(
                    option_changes(&spec, &main),
                    Vec::from_iter(expect),
                    "{} {}",
                    spec.id,
                    o.key
                );
            }
        }
    }

    #[test]
    fn pct_create_options_in_order() {
        let mut spec = specs()
            .into_iter()
            .find(|s| matches!(s.source, Source::Template(_)) && s.net0.is_some())
            .unwrap();
        spec.memory = Some(2048);
        spec.swap = Some(1024);
        spec.cores = Some(2);
        spec.nameserver = Some("10.20.0.2".into());
        spec.onboot = true;
        spec.startup = Some("order=1".into());
        spec.pct_features = Some("nesting=1".into());
        let t = table(&spec, Some(("tank", 8)));
        let keys: Vec<String> = argv(&t)
            .into_iter()
            .filter_map(|a| a.strip_prefix("--").map(str::to_string))
            .collect();
        assert_eq!(
            keys,
            [
                "hostname",
                "memory",
                "swap",
                "cores",
                "storage",
                "rootfs",
                "net0",
                "unprivileged",
                "nameserver",
                "onboot",
                "startup",
                "features"
            ]
        );
        let main = written(&t, spec.id);
        let written: Vec<&String> = main.keys.keys().collect();
        let unprivileged = spec.unprivileged.then_some("unprivileged");
        let mut want = vec![
            "arch",
            "cores",
            "features",
            "hostname",
            "memory",
            "nameserver",
            "net0",
            "onboot",
            "rootfs",
            "startup",
            "swap",
        ];
        want.extend(unprivileged);
        want.sort();
        assert_eq!(written, want);
    }

    #[test]
    fn proxmox_defaults_and_flags() {
        let mut spec = specs().remove(0);
        spec.memory = None;
        spec.swap = None;
        spec.unprivileged = false;
        spec.onboot = false;
        let t = table(&spec, Some(("tank", 16)));
        let args = argv(&t).join(" ");
        assert!(args.contains("--storage tank --rootfs tank:16"), "{args}");
        assert!(args.contains("--unprivileged 0"), "{args}");
        assert!(!args.contains("--onboot"), "{args}");
        let main = written(&t, spec.id);
        let id = spec.id;
        assert_eq!(main.get("memory"), Some("512"));
        assert_eq!(main.get("swap"), Some("512"));
        assert_eq!(main.get("arch"), Some("amd64"));
        assert_eq!(
            main.get("rootfs"),
            Some(format!("tank:subvol-{id}-disk-0,size=16G").as_str())
        );
        for k in ["storage", "unprivileged", "onboot"] {
            assert_eq!(main.get(k), None, "{k}");
        }
        // Converge turns a container started at boot back off.
        let mut on = main.clone();
        on.keys.insert("onboot".into(), "1".into());
        assert_eq!(
            option_changes(&spec, &on),
            [("onboot".to_string(), "0".to_string())]
        );
        spec.unprivileged = true;
        let main = written(&table(&spec, Some(("tank", 16))), spec.id);
        assert_eq!(main.get("unprivileged"), Some("1"));
    }
}
