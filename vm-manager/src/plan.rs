//! Planning (pure): what closes the gap between a [`VmSpec`] and the VM's `.conf` (main
//! section with pending values applied), its firewall file and its cloud-init snippet.
//! Returns the `qm set` options, a disk to grow, the files to write, whether cloud-init
//! inputs changed (they take effect at the next boot), and the human plan lines.

use std::collections::BTreeMap;

use phoenix_core::converge::{Change, Op};
use phoenix_core::pve::conf::Section;
use phoenix_core::pve::firewall::{self, FwFile};
use phoenix_core::pve::propstr::PropertyString;

use crate::spec::VmSpec;

/// What the host has besides the `.conf`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// `/etc/pve/firewall/<id>.fw`.
    pub firewall: Option<String>,
    /// The VM's cloud-init snippet as it is on the snippets storage.
    pub snippet: Option<String>,
}

/// What the cloud-init snippet should be.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snippet {
    /// `cicustom` value (`user=local:snippets/phoenix-vm-1001-user.yml`).
    pub cicustom: String,
    /// Rendered user-data.
    pub text: String,
}

/// Settings to apply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// `qm set` options, in key order.
    pub set: Vec<(String, String)>,
    /// Grow scsi0 to this many GiB.
    pub grow: Option<u64>,
    /// The firewall file to write.
    pub firewall: Option<String>,
    /// The snippet to write.
    pub snippet: Option<String>,
    /// Cloud-init inputs changed: regenerate the drive; a running VM needs a reboot.
    pub cloud_init: bool,
    /// Plan lines.
    pub changes: Vec<Change>,
}

impl Settings {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
            && self.grow.is_none()
            && self.firewall.is_none()
            && self.snippet.is_none()
    }
}

/// Cloud-init keys: they reach the guest only when the drive is regenerated at boot.
const CLOUD_INIT_KEYS: &[&str] = &[
    "ciuser",
    "cicustom",
    "ipconfig0",
    "nameserver",
    "searchdomain",
];

fn props(v: Option<&str>, default_key: Option<&str>) -> BTreeMap<String, String> {
    v.and_then(|v| PropertyString::parse(v, default_key).ok())
        .map(|p| p.pairs.into_iter().collect())
        .unwrap_or_default()
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

/// A Proxmox size (`32G`, `2048M`, `1T`) in whole GiB (rounded down).
pub fn size_gib(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = num.parse().ok()?;
    let gib = match unit {
        "T" => n * 1024.0,
        "G" | "" => n,
        "M" => n / 1024.0,
        "K" => n / 1024.0 / 1024.0,
        _ => return None,
    };
    Some(gib.floor() as u64)
}

/// Whether two property strings mean the same (order-insensitive; `model=virtio` and a bare
/// `virtio` are the same).
fn same_props(a: Option<&str>, b: &str, default_key: Option<&str>) -> bool {
    a.is_some_and(|a| props(Some(a), default_key) == props(Some(b), default_key))
}

/// The settings of the VM in `main` compared with `spec`.
pub fn settings(spec: &VmSpec, main: &Section, obs: &Observed, snippet: &Snippet) -> Settings {
    let mut s = Settings::default();
    let mut want: Vec<(&str, String)> = vec![
        ("name", spec.name.clone()),
        ("cores", spec.cores.to_string()),
        ("memory", spec.memory.to_string()),
        ("onboot", if spec.onboot { "1" } else { "0" }.into()),
    ];
    if let Some(st) = &spec.startup {
        want.push(("startup", st.clone()));
    }
    want.push(("agent", "enabled=1".into()));
    want.push(("ciuser", spec.user.clone()));
    want.push(("ipconfig0", spec.ipconfig0.clone()));
    if let Some(ns) = &spec.nameserver {
        want.push(("nameserver", ns.clone()));
    }
    if let Some(sd) = &spec.searchdomain {
        want.push(("searchdomain", sd.clone()));
    }
    want.push(("cicustom", snippet.cicustom.clone()));
    want.push(("net0", net0(main.get("net0"), spec)));
    // The VM boots from its system disk (what `qm create` + `qm disk import` + `qm set
    // --boot` make); a run killed between them leaves `order=ide2;net0`.
    if main.get("scsi0").is_some() {
        want.push(("boot", "order=scsi0".into()));
    }
    for (k, v) in want {
        let have = main.get(k);
        let same = match k {
            "agent" => main
                .prop("agent", Some("enabled"))
                .is_some_and(|p| p.flag("enabled")),
            "net0" => same_props(have, &v, Some("model")),
            "ipconfig0" | "startup" | "cicustom" | "boot" => same_props(have, &v, None),
            "onboot" => have.unwrap_or("0") == v,
            _ => have == Some(v.as_str()),
        };
        if same {
            continue;
        }
        let group = if CLOUD_INIT_KEYS.contains(&k) {
            s.cloud_init = true;
            "cloud-init"
        } else if k == "net0" {
            "network"
        } else {
            "settings"
        };
        let c = match have {
            Some(h) => Change::new(Op::Change, group, k).from(h).to(v.clone()),
            None => Change::new(Op::Add, group, k).to(v.clone()),
        };
        s.changes.push(c);
        s.set.push((k.to_string(), v));
    }
    if let Some(gb) = spec.disk_gb {
        let cur = main
            .prop("scsi0", Some("file"))
            .and_then(|p| p.get("size").and_then(size_gib));
        match cur {
            Some(have) if have < gb => {
                s.changes.push(
                    Change::new(Op::Change, "disk", "scsi0 size")
                        .from(format!("{have}G"))
                        .to(format!("{gb}G")),
                );
                s.grow = Some(gb);
            }
            Some(have) if have > gb => s.changes.push(Change::new(
                Op::Note,
                "disk",
                format!("scsi0 is {have}G, larger than disk_size_gb {gb}; disks only grow"),
            )),
            _ => {}
        }
    }
    if obs.snippet.as_deref() != Some(snippet.text.as_str()) {
        s.changes.push(Change::new(
            if obs.snippet.is_some() {
                Op::Change
            } else {
                Op::Add
            },
            "cloud-init",
            format!("user-data {}", snippet.cicustom.trim_start_matches("user=")),
        ));
        s.snippet = Some(snippet.text.clone());
        s.cloud_init = true;
    }
    if let Some((enabled, rules)) = &spec.firewall {
        let cur = obs.firewall.as_deref();
        let want = firewall::desired(&FwFile::parse(cur.unwrap_or("")), *enabled, rules);
        if let Some(p) = firewall::plan(cur, &want) {
            s.changes.extend(p.changes);
            s.firewall = Some(p.text);
        }
    }
    const ORDER: &[&str] = &["settings", "cloud-init", "network", "disk", "firewall"];
    s.changes.sort_by_key(|c| {
        ORDER
            .iter()
            .position(|g| *g == c.group)
            .unwrap_or(ORDER.len())
    });
    s
}

#[cfg(test)]
mod tests;
