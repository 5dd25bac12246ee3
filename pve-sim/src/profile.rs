//! Proxmox VE releases the simulator can be (`pve-sim init --pve 8.2|8.4|9.1`, default 9.1):
//! each profile's package versions (what `pveversion -v` prints), running kernel and output
//! formats. Every release-dependent answer reads its profile from here.
//!
//! Versions are those of the releases' packages, checked in the `debian/changelog` of
//! pve-manager, qemu-server, pve-container and pve-storage (8.2 as of its last point release,
//! 8.4 and 9.1 as first released), and the running version's commit is pve-manager's "bump
//! version" commit. `pveversion -v` lists only those packages (the real one lists about 40);
//! the kernels are the releases' default kernels.

/// One release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profile {
    /// `8.4`, `9.1`.
    pub name: &'static str,
    /// `uname -r`.
    pub kernel: &'static str,
    /// The kernel's build line (`uname -v`, `pvesh get /nodes/<node>/status`).
    pub kernel_build: &'static str,
    /// pve-manager's `version_text` (`pveversion`: `pve-manager/<this>`).
    pub manager_text: &'static str,
    /// `pveversion -v`: package and version, proxmox-ve and pve-manager first, the rest
    /// sorted by name (pve-manager PVE/API2/APT.pm `versions`).
    pub packages: &'static [(&'static str, &'static str)],
    /// `pvesm status` headers say `Total (KiB)` etc. (pve-storage 9.x `PVE/CLI/pvesm.pm`).
    pub pvesm_kib_header: bool,
}

/// The releases, oldest first.
pub const PROFILES: &[Profile] = &[
    Profile {
        name: "8.2",
        kernel: "6.8.12-2-pve",
        kernel_build: "#1 SMP PREEMPT_DYNAMIC PMX 6.8.12-2 (2024-09-05T10:03Z)",
        manager_text: "8.2.7/3e0176e6bb2ade3b",
        packages: &[
            ("proxmox-ve", "8.2.0"),
            ("pve-manager", "8.2.7"),
            ("libpve-storage-perl", "8.2.5"),
            ("pve-container", "5.1.12"),
            ("qemu-server", "8.2.4"),
        ],
        pvesm_kib_header: false,
    },
    Profile {
        name: "8.4",
        kernel: "6.8.12-10-pve",
        kernel_build: "#1 SMP PREEMPT_DYNAMIC PMX 6.8.12-10 (2025-04-18T07:39Z)",
        manager_text: "8.4.1/2a5fa54a8503f96d",
        packages: &[
            ("proxmox-ve", "8.4.0"),
            ("pve-manager", "8.4.1"),
            ("libpve-storage-perl", "8.3.6"),
            ("pve-container", "5.2.6"),
            ("qemu-server", "8.3.12"),
        ],
        pvesm_kib_header: false,
    },
    Profile {
        name: "9.1",
        kernel: "6.17.2-1-pve",
        kernel_build: "#1 SMP PREEMPT_DYNAMIC PMX 6.17.2-1 (2025-10-21T11:55Z)",
        manager_text: "9.1.1/f4d3f125ffae50e9",
        packages: &[
            ("proxmox-ve", "9.1.0"),
            ("pve-manager", "9.1.1"),
            ("libpve-storage-perl", "9.1.0"),
            ("pve-container", "6.0.18"),
            ("qemu-server", "9.1.0"),
        ],
        pvesm_kib_header: true,
    },
];

/// The release `pve-sim init` makes without `--pve`.
pub const DEFAULT: &str = "9.1";

/// A profile by name.
pub fn get(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}

/// The profile of a host (hosts made before profiles existed are the default).
pub fn of(state: &crate::state::State) -> &'static Profile {
    get(&state.host.pve)
        .or_else(|| get(DEFAULT))
        .expect("the default profile exists")
}

/// `pveversion -v` (pve-manager bin/pveversion `print_status`).
pub fn pveversion_verbose(p: &Profile) -> String {
    let mut out = String::new();
    for (pkg, v) in p.packages {
        match *pkg {
            "proxmox-ve" => out.push_str(&format!("{pkg}: {v} (running kernel: {})\n", p.kernel)),
            "pve-manager" => out.push_str(&format!(
                "{pkg}: {v} (running version: {})\n",
                p.manager_text
            )),
            _ => out.push_str(&format!("{pkg}: {v}\n")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_lists_proxmox_ve_then_pve_manager_then_the_rest_sorted() {
        for p in PROFILES {
            assert_eq!(p.packages[0].0, "proxmox-ve");
            assert_eq!(p.packages[1].0, "pve-manager");
            let rest: Vec<&str> = p.packages[2..].iter().map(|x| x.0).collect();
            let mut sorted = rest.clone();
            sorted.sort_unstable();
            assert_eq!(rest, sorted, "{}", p.name);
            assert!(p.manager_text.starts_with(p.packages[1].1));
        }
        assert!(get(DEFAULT).is_some());
    }
}
