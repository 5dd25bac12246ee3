//! The package catalogue of this Debian 12 / Proxmox VE 8 host: what it can install (name,
//! version, dependencies, the systemd units a package ships and the files it writes; the
//! files' stock contents are under `pve-sim/data/package-files/`), kernel headers by kernel.
//! Data and lookups only: `apt-get`, `dpkg-query` and `systemctl` read it.

/// A systemd unit a package ships.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnitDef {
    /// Full unit name.
    pub name: &'static str,
    /// Unit file state after installation (`enabled`, `static`, `masked`).
    pub enabled: &'static str,
    /// Running after installation (and after boot when enabled).
    pub active: bool,
    /// Has `ExecReload`.
    pub reload: bool,
    /// Alias names (`nfs-kernel-server.service`).
    pub aliases: &'static [&'static str],
}

const fn unit(name: &'static str, enabled: &'static str, active: bool, reload: bool) -> UnitDef {
    UnitDef {
        name,
        enabled,
        active,
        reload,
        aliases: &[],
    }
}

/// One package as the catalogue knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// `amd64` or `all`.
    pub arch: &'static str,
    /// Packages it depends on.
    pub depends: Vec<String>,
    /// Units it ships.
    pub units: &'static [UnitDef],
    /// Files it writes: host path, content, mode.
    pub files: Vec<(String, String, u32)>,
    /// Asks debconf questions when configured.
    pub debconf: bool,
}

struct Entry {
    name: &'static str,
    version: &'static str,
    arch: &'static str,
    depends: &'static [&'static str],
    units: &'static [UnitDef],
    files: &'static [(&'static str, &'static str, u32)],
    debconf: bool,
}

const fn e(name: &'static str, version: &'static str) -> Entry {
    Entry {
        name,
        version,
        arch: "amd64",
        depends: &[],
        units: &[],
        files: &[],
        debconf: false,
    }
}

/// Packages a fresh Proxmox VE 8 installation has.
pub const PREINSTALLED: &[&str] = &[
    "proxmox-ve",
    "zfsutils-linux",
    "nfs-common",
    "chrony",
    "locales",
    "logrotate",
    "apparmor",
    "ca-certificates",
    "curl",
    "pciutils",
    "kmod",
    "systemd",
    "pve-firewall",
    "openssh-server",
    "initramfs-tools",
];

/// Debian's `/etc/sudoers` (sudo 1.9.13, bookworm).
pub const SUDOERS: &str = include_str!("../../../data/package-files/etc/sudoers");

const SUDOERS_README: &str = include_str!("../../../data/package-files/etc/sudoers.d/README");

/// Debian's `/etc/samba/smb.conf` (samba 4.17, bookworm), shortened where it is only
/// comments.
pub const SMB_CONF: &str = include_str!("../../../data/package-files/etc/samba/smb.conf");

/// Debian's `/etc/dnsmasq.conf`: every option commented out (shortened).
pub const DNSMASQ_CONF: &str = include_str!("../../../data/package-files/etc/dnsmasq.conf");

const DNSMASQ_README: &str = include_str!("../../../data/package-files/etc/dnsmasq.d/README");

const EXPORTS: &str = include_str!("../../../data/package-files/etc/exports");

const STEP_BIN: &str = include_str!("../../../data/package-files/usr/bin/step");

const CATALOGUE: &[Entry] = &[
    Entry {
        depends: &[
            "zfsutils-linux",
            "pve-firewall",
            "openssh-server",
            "systemd",
        ],
        units: &[
            unit("pve-cluster.service", "enabled", true, false),
            unit("pvedaemon.service", "enabled", true, true),
            unit("pveproxy.service", "enabled", true, true),
            unit("pvestatd.service", "enabled", true, true),
            unit("pvescheduler.service", "enabled", true, true),
            unit("pve-guests.service", "enabled", true, false),
            unit("networking.service", "enabled", true, true),
        ],
        ..e("proxmox-ve", "8.4.0")
    },
    Entry {
        units: &[
            unit("zfs-import-cache.service", "enabled", true, false),
            unit("zfs-mount.service", "enabled", true, false),
            unit("zfs.target", "enabled", true, false),
        ],
        ..e("zfsutils-linux", "2.2.8-pve1")
    },
    Entry {
        units: &[
            unit("nfs-common.service", "masked", false, false),
            unit("rpc-statd.service", "static", false, false),
            unit("nfs-client.target", "enabled", true, false),
        ],
        ..e("nfs-common", "1:2.6.2-4+deb12u1")
    },
    Entry {
        units: &[unit("chrony.service", "enabled", true, true)],
        ..e("chrony", "4.3-2+deb12u1")
    },
    e("locales", "2.36-9+deb12u10"),
    Entry {
        units: &[
            unit("logrotate.timer", "enabled", true, false),
            unit("logrotate.service", "static", false, false),
        ],
        ..e("logrotate", "3.21.0-1")
    },
    Entry {
        units: &[unit("apparmor.service", "enabled", true, true)],
        ..e("apparmor", "3.0.8-3")
    },
    Entry {
        arch: "all",
        ..e("ca-certificates", "20230311+deb12u1")
    },
    e("curl", "7.88.1-10+deb12u12"),
    e("pciutils", "1:3.9.0-4"),
    e("kmod", "30+20221128-1"),
    Entry {
        units: &[unit("systemd-journald.service", "static", true, false)],
        ..e("systemd", "252.38-1~deb12u1")
    },
    Entry {
        units: &[unit("pve-firewall.service", "enabled", true, true)],
        ..e("pve-firewall", "5.1.2")
    },
    Entry {
        units: &[UnitDef {
            aliases: &["sshd.service"],
            ..unit("ssh.service", "enabled", true, true)
        }],
        ..e("openssh-server", "1:9.2p1-2+deb12u6")
    },
    Entry {
        arch: "all",
        ..e("initramfs-tools", "0.142+deb12u3")
    },
    Entry {
        files: &[
            ("/etc/sudoers", SUDOERS, 0o440),
            ("/etc/sudoers.d/README", SUDOERS_README, 0o440),
        ],
        ..e("sudo", "1.9.13p3-1+deb12u1")
    },
    Entry {
        depends: &["nfs-common"],
        units: &[UnitDef {
            aliases: &["nfs-kernel-server.service"],
            ..unit("nfs-server.service", "enabled", true, true)
        }],
        files: &[("/etc/exports", EXPORTS, 0o644)],
        ..e("nfs-kernel-server", "1:2.6.2-4+deb12u1")
    },
    Entry {
        depends: &["samba-common-bin", "samba-common"],
        units: &[
            unit("smbd.service", "enabled", true, true),
            unit("nmbd.service", "enabled", true, true),
        ],
        files: &[("/etc/samba/smb.conf", SMB_CONF, 0o644)],
        debconf: true,
        ..e("samba", "2:4.17.12+dfsg-0+deb12u1")
    },
    Entry {
        depends: &["samba-common"],
        ..e("samba-common-bin", "2:4.17.12+dfsg-0+deb12u1")
    },
    Entry {
        arch: "all",
        debconf: true,
        ..e("samba-common", "2:4.17.12+dfsg-0+deb12u1")
    },
    Entry {
        depends: &["samba-common"],
        ..e("smbclient", "2:4.17.12+dfsg-0+deb12u1")
    },
    Entry {
        units: &[unit("dnsmasq.service", "enabled", true, true)],
        files: &[
            ("/etc/dnsmasq.conf", DNSMASQ_CONF, 0o644),
            ("/etc/dnsmasq.d/README", DNSMASQ_README, 0o644),
        ],
        arch: "all",
        ..e("dnsmasq", "2.90-4~deb12u1")
    },
    Entry {
        arch: "all",
        ..e("dkms", "3.0.10-8+deb12u1")
    },
    e("build-essential", "12.9"),
    e("pkg-config", "1.8.1-1"),
    Entry {
        arch: "all",
        ..e("proxmox-default-headers", "1.1.0")
    },
    e("jq", "1.6-2.1"),
    Entry {
        arch: "all",
        ..e("yq", "3.1.0-3")
    },
    Entry {
        files: &[("/usr/bin/step", STEP_BIN, 0o755)],
        ..e("step-cli", "0.28.7-1")
    },
    e("nvtop", "3.0.1-1"),
    e("libguestfs-tools", "1:1.48.6-2"),
    Entry {
        arch: "all",
        ..e("s-tui", "1.1.4-2")
    },
    Entry {
        depends: &["nvidia-kernel-dkms"],
        debconf: true,
        ..e("nvidia-driver", "535.247.01-1~deb12u1")
    },
    Entry {
        depends: &["dkms"],
        ..e("nvidia-kernel-dkms", "535.247.01-1~deb12u1")
    },
];

/// The driver version Debian's `nvidia-kernel-dkms` builds.
pub const DEBIAN_NVIDIA: &str = "535.247.01";

/// Whether a kernel release looks like Proxmox's (`6.8.12-4-pve`).
fn pve_kernel(k: &str) -> Option<&str> {
    let v = k.strip_suffix("-pve")?;
    let (base, abi) = v.rsplit_once('-')?;
    let ok = base.split('.').count() == 3
        && base
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && !abi.is_empty()
        && abi.bytes().all(|b| b.is_ascii_digit());
    ok.then_some(v)
}

/// A package by name, for a host running `kernel`: catalogue entries and the kernel headers
/// patterns (`proxmox-headers-<kernel>`, `pve-headers-<kernel>`, `proxmox-headers-<x.y>`).
pub fn lookup(name: &str, kernel: &str) -> Option<Package> {
    if let Some(entry) = CATALOGUE.iter().find(|e| e.name == name) {
        let mut depends: Vec<String> = entry.depends.iter().map(|s| s.to_string()).collect();
        if name == "proxmox-default-headers" {
            let series: Vec<&str> = kernel.split('.').take(2).collect();
            depends.push(format!("proxmox-headers-{}", series.join(".")));
        }
        return Some(Package {
            name: entry.name.into(),
            version: entry.version.into(),
            arch: entry.arch,
            depends,
            units: entry.units,
            files: entry
                .files
                .iter()
                .map(|(p, c, m)| (p.to_string(), c.to_string(), *m))
                .collect(),
            debconf: entry.debconf,
        });
    }
    let headers = |k: &str, version: String, depends: Vec<String>| Package {
        name: name.to_string(),
        version,
        arch: "amd64",
        depends,
        units: &[],
        files: vec![(
            format!("/usr/src/linux-headers-{k}/Makefile"),
            format!("# Linux kernel {k} headers (pve-sim stand-in)\n"),
            0o644,
        )],
        debconf: false,
    };
    if let Some(k) = name.strip_prefix("proxmox-headers-") {
        if let Some(v) = pve_kernel(k) {
            return Some(headers(k, v.to_string(), Vec::new()));
        }
        // The series meta-package (`proxmox-headers-6.8`) pulls the running kernel's.
        let series: Vec<&str> = kernel.split('.').take(2).collect();
        if k == series.join(".") {
            let mut p = headers(kernel, pve_kernel(kernel)?.to_string(), Vec::new());
            p.files.clear();
            p.depends = vec![format!("proxmox-headers-{kernel}")];
            return Some(p);
        }
        return None;
    }
    if let Some(k) = name.strip_prefix("pve-headers-") {
        let v = pve_kernel(k)?;
        let mut p = headers(k, v.to_string(), vec![format!("proxmox-headers-{k}")]);
        p.files.clear();
        return Some(p);
    }
    None
}

/// The headers package names that cover the running kernel.
pub fn headers_for(kernel: &str) -> [String; 3] {
    [
        format!("proxmox-headers-{kernel}"),
        format!("pve-headers-{kernel}"),
        "proxmox-default-headers".to_string(),
    ]
}
