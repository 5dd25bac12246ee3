//! Planning (pure): what closes the gap between a [`VmSpec`] and the VM's `.conf` (main
//! section with pending values applied), its firewall file and its cloud-init snippet.
//! Returns the `qm set` options, a disk to grow, the files to write, whether cloud-init
//! inputs changed (they take effect at the next boot), and the human plan lines.

use phoenix_core::converge::{Change, Op};
use phoenix_core::pve::conf::Section;
use phoenix_core::pve::firewall::{self, FwFile};

use crate::options;
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
    /// `qm set` options, in the plan's order.
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

/// The plan groups, in the order the plan shows them.
const ORDER: &[&str] = &["settings", "cloud-init", "network", "disk", "firewall"];

/// The settings of the VM in `main` compared with `spec`.
pub fn settings(spec: &VmSpec, main: &Section, obs: &Observed, snippet: &Snippet) -> Settings {
    let mut s = Settings::default();
    // The options (`options::table`), group by group as the plan shows them.
    let table = options::table(spec, &snippet.cicustom);
    for o in ORDER
        .iter()
        .flat_map(|g| table.iter().filter(|o| o.group == *g))
    {
        let Some(v) = o.wanted(main) else { continue };
        s.cloud_init |= o.group == "cloud-init";
        let c = match main.get(o.key) {
            Some(h) => Change::new(Op::Change, o.group, o.key)
                .from(h)
                .to(v.clone()),
            None => Change::new(Op::Add, o.group, o.key).to(v.clone()),
        };
        s.changes.push(c);
        s.set.push((o.key.to_string(), v));
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
