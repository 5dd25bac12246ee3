//! The Proxmox VE versions this product needs, read once per run from `pveversion -v`, and
//! every version-dependent decision in one place (issue 16, item 3).
//!
//! `pveversion -v` (pve-manager bin/pveversion) prints one `package: version` line per
//! package of PVE::API2::APT `versions`: `proxmox-ve: 9.1.0 (running kernel: …)`,
//! `pve-manager: 9.1.1 (running version: 9.1.1/…)`, then the rest sorted by name; a package
//! that is not installed says `not correctly installed`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::cmd::{Cmd, Runner};

/// The oldest package versions the product's commands need, and why.
pub const FLOOR: &[(&str, &str, &str)] = &[
    (
        "qemu-server",
        "8.2.7",
        "`qm disk import --target-disk` (cloud images imported straight onto their disk)",
    ),
    (
        "libpve-storage-perl",
        "8.2.8",
        "the `import` content type on directory storages",
    ),
    (
        "pve-container",
        "5.1.10",
        "Ubuntu 24.04 container templates (and `devN` device passthrough, 5.0.7)",
    ),
];

/// `pveversion -v`.
pub fn cmd() -> Cmd {
    Cmd::read("pveversion").arg("-v")
}

/// Installed package versions from `pveversion -v` (packages that are not installed, or
/// only have their config files left, are absent).
pub fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let (pkg, rest) = l.split_once(": ")?;
            let version = rest.split(" (").next()?.trim();
            let installed = !version.is_empty()
                && version.as_bytes()[0].is_ascii_digit()
                && !version.contains(' ');
            installed.then(|| (pkg.trim().to_string(), version.to_string()))
        })
        .collect()
}

/// Compares Debian version strings the way `dpkg --compare-versions` orders the ones
/// Proxmox ships (`[epoch:]upstream[-revision]`, digits compared as numbers, `~` before
/// anything, letters before other characters).
pub fn compare(a: &str, b: &str) -> Ordering {
    let split = |v: &str| -> (u64, String, String) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) if e.bytes().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
            _ => (0, v),
        };
        let (up, rev) = rest.rsplit_once('-').unwrap_or((rest, ""));
        (epoch, up.to_string(), rev.to_string())
    };
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| compare_part(&ua, &ub))
        .then_with(|| compare_part(&ra, &rb))
}

/// dpkg's `verrevcmp`.
fn compare_part(a: &str, b: &str) -> Ordering {
    let order = |c: Option<u8>| -> i32 {
        match c {
            None => 0,
            Some(b'~') => -1,
            Some(c) if c.is_ascii_digit() => 0,
            Some(c) if c.is_ascii_alphabetic() => i32::from(c),
            Some(c) => i32::from(c) + 256,
        }
    };
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let (x, y) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if x != y {
                return x.cmp(&y);
            }
            i += 1;
            j += 1;
        }
        let num = |s: &[u8], k: &mut usize| {
            let mut n: u128 = 0;
            while *k < s.len() && s[*k].is_ascii_digit() {
                n = n
                    .saturating_mul(10)
                    .saturating_add(u128::from(s[*k] - b'0'));
                *k += 1;
            }
            n
        };
        let (x, y) = (num(a, &mut i), num(b, &mut j));
        if x != y {
            return x.cmp(&y);
        }
    }
    Ordering::Equal
}

/// The host's Proxmox VE, as far as the product's decisions depend on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    /// `pve-manager`'s version.
    pub manager: String,
    /// Installed packages and versions.
    pub packages: BTreeMap<String, String>,
}

impl Host {
    /// The major release (`8`, `9`).
    pub fn major(&self) -> u32 {
        self.manager
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }
}

/// Checks the floor (pure): the host, or one line per package that is missing or too old,
/// naming the version needed and why.
pub fn check(packages: BTreeMap<String, String>) -> Result<Host, Vec<String>> {
    let mut problems = Vec::new();
    for (pkg, min, why) in FLOOR {
        match packages.get(*pkg) {
            None => problems.push(format!(
                "{pkg} is not installed; Phoenix needs {pkg} {min} or newer ({why})"
            )),
            Some(v) if compare(v, min) == Ordering::Less => problems.push(format!(
                "{pkg} is {v}; Phoenix needs {pkg} {min} or newer ({why})"
            )),
            Some(_) => {}
        }
    }
    let Some(manager) = packages.get("pve-manager").cloned() else {
        problems.push("pve-manager is not installed: this is not a Proxmox VE host".into());
        return Err(problems);
    };
    if problems.is_empty() {
        Ok(Host { manager, packages })
    } else {
        Err(problems)
    }
}

/// Reads `pveversion -v` and refuses a host older than the floor, before any change.
pub fn require(runner: &Runner) -> anyhow::Result<Host> {
    let out = runner.run(&cmd()).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the Proxmox VE version (Phoenix runs on a Proxmox VE host): {e}"
        )
    })?;
    check(parse(&out.stdout_str())).map_err(|problems| {
        anyhow::anyhow!(
            "this Proxmox VE host is too old for Phoenix; nothing was changed:\n  {}\n\nhint: upgrade the host (`apt update && apt full-upgrade`), then run again",
            problems.join("\n  ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like pve-manager bin/pveversion's `print_status` lines.
    const PVE_84: &str = "proxmox-ve: 8.4.0 (running kernel: 6.8.12-10-pve)\npve-manager: 8.4.1 (running version: 8.4.1/2a5fa54a8503f96d)\nlibpve-storage-perl: 8.3.6\nlxcfs: 6.0.0-pve2\npve-container: 5.2.6\nqemu-server: 8.3.12\nceph-fuse: not correctly installed\nzfsutils-linux: 2.2.7-pve2\n";

    #[test]
    fn reads_pveversion_verbose() {
        let p = parse(PVE_84);
        assert_eq!(p["proxmox-ve"], "8.4.0");
        assert_eq!(p["pve-manager"], "8.4.1");
        assert_eq!(p["lxcfs"], "6.0.0-pve2");
        assert!(!p.contains_key("ceph-fuse"));
        let h = check(p).unwrap();
        assert_eq!(h.major(), 8);
    }

    #[test]
    fn compares_like_dpkg() {
        use Ordering::*;
        for (a, b, want) in [
            ("8.2.7", "8.2.7", Equal),
            ("8.2.10", "8.2.8", Greater),
            ("8.3.0", "8.2.8", Greater),
            ("9.1.4.1", "9.1.4", Greater),
            ("5.1.9", "5.1.10", Less),
            ("6.0.0-pve2", "6.0.0", Greater),
            ("1:2.0", "9.0", Greater),
            ("8.2.7~rc1", "8.2.7", Less),
        ] {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
        }
    }

    /// PVE 8.2 (qemu-server 8.2.4, libpve-storage-perl 8.2.5) lacks what the product uses.
    #[test]
    fn an_older_host_is_refused_naming_each_package() {
        let text = "proxmox-ve: 8.2.0 (running kernel: 6.8.12-2-pve)\npve-manager: 8.2.7 (running version: 8.2.7/3e0176e6bb2ade3b)\nlibpve-storage-perl: 8.2.5\npve-container: 5.1.12\nqemu-server: 8.2.4\n";
        let e = check(parse(text)).unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].starts_with("qemu-server is 8.2.4; Phoenix needs qemu-server 8.2.7 or newer"));
        assert!(e[1].starts_with(
            "libpve-storage-perl is 8.2.5; Phoenix needs libpve-storage-perl 8.2.8 or newer"
        ));
        let e = check(parse("pve-container: 6.0.18\n")).unwrap_err();
        assert!(
            e.iter()
                .any(|l| l.starts_with("qemu-server is not installed"))
        );
        assert!(e.iter().any(|l| l.contains("not a Proxmox VE host")));
    }
}
