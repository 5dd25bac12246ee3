//! The fresh Proxmox VE host `pve-sim init` starts from (packages, services, accounts,
//! Proxmox users, time zone, locales, host name, AppArmor policy, CA store, NVIDIA driver)
//! and what a reboot does to it (`pve-sim reboot`).

use super::catalogue::{self, PREINSTALLED};
use super::{apparmor, misc, nvidia, pveum, systemd, users, write_file};
use crate::Ctx;
use crate::host::{Acl, Group, PveUser, Unit, User};
use crate::root::SimRoot;
use crate::state::State;

/// What `init` was asked for.
#[derive(Clone, Debug)]
pub struct InitHost {
    /// Node and host name.
    pub node: String,
    /// The host's address (`/etc/hosts`).
    pub ip: String,
    /// DNS domain.
    pub domain: String,
    /// `--gpus N`.
    pub gpus: Option<u32>,
    /// Driver version; `None` for `--nvidia-driver none`.
    pub driver: Option<String>,
    /// The Proxmox VE release (`--pve`).
    pub pve: &'static crate::profile::Profile,
}

/// Debian's `/etc/locale.gen` with only `en_US.UTF-8` enabled (shortened).
pub const LOCALE_GEN: &str = "# This file lists locales that you wish to have built. You can find a list\n# of valid supported locales at /usr/share/i18n/SUPPORTED, and you can add\n# user defined locales to /usr/local/share/i18n/SUPPORTED. If you change\n# this file, you need to rerun locale-gen.\n\n\n# aa_DJ ISO-8859-1\n# de_DE ISO-8859-1\n# de_DE.UTF-8 UTF-8\n# de_DE@euro ISO-8859-15\n# en_GB ISO-8859-1\n# en_GB.ISO-8859-15 ISO-8859-15\n# en_GB.UTF-8 UTF-8\n# en_US ISO-8859-1\n# en_US.ISO-8859-15 ISO-8859-15\nen_US.UTF-8 UTF-8\n# fr_FR.UTF-8 UTF-8\n# nl_NL.UTF-8 UTF-8\n";

const APPARMOR_FILES: &[(&str, &str)] = &[
    (
        "/etc/apparmor.d/tunables/global",
        "# ------------------------------------------------------------------\n#\n#    Copyright (C) 2006-2009 Novell/SUSE\n#\n# ------------------------------------------------------------------\n\n# All the tunables definitions that should be available to every profile\n# should be included here\n\ninclude <tunables/home>\n@{PROC}=/proc/\n@{sys}=/sys/\n@{run}=/run/ /var/run/\n@{pid}={[1-9],[1-9][0-9],[1-9][0-9][0-9],[1-9][0-9][0-9][0-9],[1-9][0-9][0-9][0-9][0-9],[1-4][0-9][0-9][0-9][0-9][0-9][0-9]}\n",
    ),
    (
        "/etc/apparmor.d/tunables/home",
        "# @{HOMEDIRS} is a space-separated list of where user home directories\n# are stored.\n@{HOMEDIRS}=/home/\n\n# @{HOME} is a space-separated list of all user home directories.\n@{HOME}=@{HOMEDIRS}/*/ /root/\n\n# Also, include files in tunables/home.d for site-specific adjustments to\n# @{HOMEDIRS}.\ninclude if exists <tunables/home.d>\n",
    ),
    (
        "/etc/apparmor.d/abstractions/base",
        "  # (Shortened.) Files every program may use.\n  /dev/null rw,\n  /dev/zero rw,\n  /dev/random r,\n  /dev/urandom r,\n  /etc/ld.so.cache r,\n  /etc/locale/** r,\n  /{usr/,}lib{,32,64}/** rm,\n  @{PROC}/sys/kernel/version r,\n",
    ),
    (
        "/etc/apparmor.d/abstractions/lxc/container-base",
        "  # Do not load this file.  Rather, load /etc/apparmor.d/lxc-containers, which\n  # will source all profiles under /etc/apparmor.d/lxc\n  # (Shortened.)\n  network,\n  capability,\n  file,\n  umount,\n  dbus,\n  signal,\n  ptrace,\n  unix,\n\n  # deny writes in /proc/sys/fs but allow binfmt_misc to be mounted\n  mount fstype=binfmt_misc -> /proc/sys/fs/binfmt_misc/,\n  deny @{PROC}/sys/fs/** wklx,\n\n  # allow efivars to be mounted, writing to it will be blocked though\n  mount fstype=efivarfs -> /sys/firmware/efi/efivars/,\n\n  # block some other dangerous paths\n  deny @{PROC}/kcore rwklx,\n  deny @{PROC}/sysrq-trigger rwklx,\n\n  # deny writes in /sys except for /sys/fs/cgroup, also allow\n  # fusectl, securityfs and debugfs to be mounted there (read-only)\n  mount fstype=fusectl -> /sys/fs/fuse/connections/,\n  mount fstype=securityfs -> /sys/kernel/security/,\n  deny /sys/firmware/efi/efivars/** rwklx,\n  deny /sys/kernel/security/** rwklx,\n  mount options=(move) /sys/fs/cgroup/cgmanager/ -> /sys/fs/cgroup/cgmanager.lower/,\n  mount options=(ro, nosuid, nodev, noexec, remount, strictatime) -> /sys/fs/cgroup/,\n",
    ),
    (
        "/etc/apparmor.d/abstractions/lxc/start-container",
        "  # (Shortened.) What lxc-start needs to start a container.\n  capability,\n  dbus,\n  file,\n  network,\n  signal,\n  ptrace,\n  unix,\n  mount,\n  umount,\n  pivot_root,\n  change_profile -> lxc-*,\n  change_profile -> unconfined,\n",
    ),
    (
        "/etc/apparmor.d/lxc/lxc-default",
        "# Do not load this file.  Rather, load /etc/apparmor.d/lxc-containers, which\n# will source all profiles under /etc/apparmor.d/lxc\n\nprofile lxc-container-default flags=(attach_disconnected,mediate_deleted) {\n  #include <abstractions/lxc/container-base>\n\n  # the container may never be allowed to mount devpts.  If it does, it\n  # will remount the host's devpts.  We could allow it to do it with\n  # the newinstance option (but, right now, we don't).\n  deny mount fstype=devpts,\n  mount fstype=cgroup -> /sys/fs/cgroup/**,\n  mount fstype=cgroup2 -> /sys/fs/cgroup/**,\n}\n",
    ),
    (
        "/etc/apparmor.d/lxc/lxc-default-cgns",
        "# Do not load this file.  Rather, load /etc/apparmor.d/lxc-containers, which\n# will source all profiles under /etc/apparmor.d/lxc\n\nprofile lxc-container-default-cgns flags=(attach_disconnected,mediate_deleted) {\n  #include <abstractions/lxc/container-base>\n\n  # the container may never be allowed to mount devpts.  If it does, it\n  # will remount the host's devpts.  We could allow it to do it with\n  # the newinstance option (but, right now, we don't).\n  deny mount fstype=devpts,\n  mount fstype=cgroup -> /sys/fs/cgroup/**,\n  mount fstype=cgroup2 -> /sys/fs/cgroup/**,\n}\n",
    ),
    (
        "/etc/apparmor.d/lxc/lxc-default-with-mounting",
        "# Do not load this file.  Rather, load /etc/apparmor.d/lxc-containers, which\n# will source all profiles under /etc/apparmor.d/lxc\n\nprofile lxc-container-default-with-mounting flags=(attach_disconnected,mediate_deleted) {\n  #include <abstractions/lxc/container-base>\n\n# allow standard blockdevtypes.\n# The concern here is in-kernel superblock parsers bringing down the\n# host with bad data.  However, we continue to disallow proc, sys, securityfs,\n# etc to nonstandard locations.\n  mount fstype=ext*,\n  mount fstype=xfs,\n  mount fstype=btrfs,\n}\n",
    ),
    (
        "/etc/apparmor.d/lxc/lxc-default-with-nesting",
        "# Do not load this file.  Rather, load /etc/apparmor.d/lxc-containers, which\n# will source all profiles under /etc/apparmor.d/lxc\n\nprofile lxc-container-default-with-nesting flags=(attach_disconnected,mediate_deleted) {\n  #include <abstractions/lxc/container-base>\n\n  # the container may never be allowed to mount devpts.  If it does, it\n  # will remount the host's devpts.  We could allow it to do it with\n  # the newinstance option (but, right now, we don't).\n  deny mount fstype=devpts,\n  mount fstype=proc -> /var/cache/lxc/**,\n  mount fstype=sysfs -> /var/cache/lxc/**,\n  mount options=(rw,bind),\n  mount fstype=cgroup -> /sys/fs/cgroup/**,\n  mount fstype=cgroup2 -> /sys/fs/cgroup/**,\n}\n",
    ),
    (
        "/etc/apparmor.d/lxc-containers",
        "#include /etc/apparmor.d/lxc\n",
    ),
    (
        "/etc/apparmor.d/usr.bin.lxc-start",
        "#include <tunables/global>\n\n/usr/bin/lxc-start flags=(attach_disconnected) {\n  #include <abstractions/lxc/start-container>\n}\n",
    ),
];

fn user(uid: u32, gid: u32, gecos: &str, home: &str, shell: &str, pw: &str, day: u64) -> User {
    User {
        uid,
        gid,
        gecos: gecos.into(),
        home: home.into(),
        shell: shell.into(),
        password: pw.into(),
        last_change: day,
    }
}

/// Lays out the host part of a fresh installation in `st` and under `root`.
pub fn init(root: &SimRoot, st: &mut State, opts: &InitHost) -> anyhow::Result<Vec<String>> {
    let e = |r: Result<(), String>| r.map_err(anyhow::Error::msg);
    let mut report = Vec::new();
    let h = &mut st.host;
    h.kernel = opts.pve.kernel.into();
    h.pve = opts.pve.name.into();
    h.timezone = "Etc/UTC".into();
    h.locales = vec!["en_US.UTF-8".into()];
    h.hostname = opts.node.clone();
    for name in PREINSTALLED {
        let p = catalogue::lookup(name, opts.pve.kernel)
            .expect("pre-installed packages are in the catalogue");
        // The release's own version of a package it ships (proxmox-ve, zfsutils-linux).
        let version = opts
            .pve
            .packages
            .iter()
            .find(|(n, _)| *n == p.name)
            .map_or_else(|| p.version.clone(), |(_, v)| (*v).to_string());
        h.packages.insert(p.name.clone(), version);
        for u in p.units {
            h.units.insert(
                u.name.to_string(),
                Unit {
                    enabled: u.enabled.into(),
                    active: if u.active { "active" } else { "inactive" }.into(),
                    ..Unit::default()
                },
            );
            if u.enabled == "enabled" {
                let target = if u.name.ends_with(".timer") {
                    "timers.target"
                } else {
                    "multi-user.target"
                };
                e(super::symlink(
                    root,
                    &format!("/etc/systemd/system/{target}.wants/{}", u.name),
                    &format!("/lib/systemd/system/{}", u.name),
                ))?;
            }
            if u.enabled == "masked" {
                e(super::symlink(
                    root,
                    &format!("/lib/systemd/system/{}", u.name),
                    "/dev/null",
                ))?;
            }
        }
    }
    // Accounts of a fresh Debian with Proxmox VE.
    let day = st.clock_ms / 86_400_000;
    let nologin = "/usr/sbin/nologin";
    let root_pw = "$y$j9T$Fk0b3Gqv1zZ8wYpL4sN2e.$7m0QhW5uYk3dJr8Zc1VtXnB2oLsA6pEiG9fHqMbRu4C";
    for (n, u) in [
        (
            "root",
            user(0, 0, "root", "/root", "/bin/bash", root_pw, day),
        ),
        (
            "daemon",
            user(1, 1, "daemon", "/usr/sbin", nologin, "*", day),
        ),
        ("bin", user(2, 2, "bin", "/bin", nologin, "*", day)),
        ("sys", user(3, 3, "sys", "/dev", nologin, "*", day)),
        (
            "www-data",
            user(33, 33, "www-data", "/var/www", nologin, "*", day),
        ),
        (
            "nobody",
            user(65534, 65534, "nobody", "/nonexistent", nologin, "*", day),
        ),
    ] {
        st.host.users.insert(n.into(), u);
    }
    for (n, gid) in [
        ("root", 0),
        ("daemon", 1),
        ("bin", 2),
        ("sys", 3),
        ("sudo", 27),
        ("www-data", 33),
        ("shadow", 42),
        ("users", 100),
        ("nogroup", 65534),
    ] {
        st.host.groups.insert(
            n.into(),
            Group {
                gid,
                members: Vec::new(),
            },
        );
    }
    st.host.pve_users.insert(
        "root@pam".into(),
        PveUser {
            enable: true,
            email: "root@localhost".into(),
            ..PveUser::default()
        },
    );
    st.host.acls.push(Acl {
        path: "/".into(),
        kind: "user".into(),
        ugid: "root@pam".into(),
        roleid: "Administrator".into(),
        propagate: true,
    });
    e(users::render(root, &st.host))?;
    e(write_file(
        root,
        "/etc/pve/user.cfg",
        pveum::render_user_cfg(&st.host).as_bytes(),
        0o640,
    ))?;
    // Names, time, locales.
    e(write_file(
        root,
        "/etc/hostname",
        format!("{}\n", opts.node).as_bytes(),
        0o644,
    ))?;
    e(write_file(
        root,
        "/etc/hosts",
        format!(
            "127.0.0.1 localhost.localdomain localhost\n{} {}.{} {}\n\n# The following lines are desirable for IPv6 capable hosts\n\n::1     ip6-localhost ip6-loopback\nfe00::0 ip6-localnet\nff00::0 ip6-mcastprefix\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\nff02::3 ip6-allhosts\n",
            opts.ip, opts.node, opts.domain, opts.node
        )
        .as_bytes(),
        0o644,
    ))?;
    e(misc::write_timezone(root, "Etc/UTC"))?;
    e(write_file(
        root,
        "/etc/locale.gen",
        LOCALE_GEN.as_bytes(),
        0o644,
    ))?;
    e(write_file(
        root,
        "/etc/default/locale",
        b"LANG=en_US.UTF-8\n",
        0o644,
    ))?;
    // Home directories and scratch space.
    for (d, mode) in [
        ("/root", 0o700),
        ("/home", 0o755),
        ("/tmp", 0o1777),
        ("/var/tmp", 0o1777),
    ] {
        use std::os::unix::fs::PermissionsExt;
        let p = root.host(d);
        std::fs::create_dir_all(&p)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))?;
    }
    // CA store, unit directory, AppArmor policy.
    std::fs::create_dir_all(root.host("/usr/local/share/ca-certificates"))?;
    std::fs::create_dir_all(root.host("/etc/systemd/system"))?;
    e(write_file(
        root,
        "/etc/ssl/certs/ca-certificates.crt",
        misc::SYSTEM_BUNDLE.as_bytes(),
        0o644,
    ))?;
    for (p, c) in APPARMOR_FILES {
        e(write_file(root, p, c.as_bytes(), 0o644))?;
    }
    std::fs::create_dir_all(root.host("/etc/apparmor.d/tunables/home.d"))?;
    std::fs::create_dir_all(root.host("/etc/apparmor.d/local"))?;
    std::fs::create_dir_all(root.host("/etc/apparmor.d/disable"))?;
    // NVIDIA: GPUs on the bus, and a loaded driver unless `--nvidia-driver none`.
    if let Some(n) = opts.gpus {
        st.host.nvidia.gpus = n;
        st.facts.insert("gpus".into(), n.to_string());
        match &opts.driver {
            Some(ver) if n > 0 => {
                st.host.nvidia.installed = Some(ver.clone());
                st.host.nvidia.loaded = Some(ver.clone());
                e(nvidia::install_tools(root))?;
                nvidia::apply_loaded(root, n, Some(ver), true);
                report.push(format!("{n} GPU(s), NVIDIA driver {ver} loaded"));
            }
            Some(_) => {
                // `--gpus 0` keeps the device nodes it always made, without a driver.
                for d in [
                    "nvidiactl",
                    "nvidia-uvm",
                    "nvidia-uvm-tools",
                    "nvidia-modeset",
                ] {
                    nvidia::node(root, d);
                }
                report.push("0 GPU(s)".into());
            }
            None => {
                nvidia::apply_loaded(root, n, None, false);
                report.push(format!("{n} GPU(s) without a driver"));
            }
        }
    }
    // The kernel loads the policy apparmor.service would.
    let mut ctx = Ctx {
        root: root.clone(),
        state: std::mem::take(st),
        knobs: crate::knobs::Knobs::default(),
        rules: Vec::new(),
        stdin: None,
    };
    let errors = apparmor::load_all(&mut ctx);
    *st = ctx.state;
    if !errors.is_empty() {
        anyhow::bail!(
            "the stock AppArmor policy does not load: {}",
            errors.join("; ")
        );
    }
    Ok(report)
}

/// What a reboot does: guests stop; `vfio-pci` takes the IDs `modprobe.d` gives it; the
/// installed NVIDIA driver is loaded; AppArmor loads
/// every policy file; systemd starts what is enabled; guests with `onboot: 1` start (by
/// `startup` order, then ID). Returns what happened, one line each.
pub fn reboot(ctx: &mut Ctx) -> Vec<String> {
    let mut report = Vec::new();
    let running: Vec<u32> = ctx
        .state
        .guests
        .iter()
        .filter(|(_, r)| r.running)
        .map(|(id, _)| *id)
        .collect();
    for id in &running {
        if ctx.root.qemu_conf(*id).is_file() {
            let _ = crate::tools::qm::stop_vm(ctx, *id);
        }
        if let Some(r) = ctx.state.guests.get_mut(id) {
            r.running = false;
        }
    }
    if !running.is_empty() {
        report.push(format!(
            "stopped {}",
            running
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let vfio = nvidia::vfio_ids_at_boot(&ctx.root);
    if !vfio.is_empty() {
        report.push(format!("vfio-pci bound {}", vfio.join(", ")));
    }
    let nv = &mut ctx.state.host.nvidia;
    nv.vfio_ids = vfio;
    nv.loaded.clone_from(&nv.installed);
    let (gpus, loaded) = (nv.gpus, nv.loaded.clone());
    nvidia::apply_loaded(&ctx.root, gpus, loaded.as_deref(), false);
    if let Some(v) = &loaded {
        report.push(format!("NVIDIA driver {v} loaded"));
    }
    ctx.state.host.apparmor.clear();
    ctx.state.host.exports.clear();
    for e in apparmor::load_all(ctx) {
        report.push(e);
    }
    for u in systemd::boot(ctx) {
        report.push(format!("{u} failed to start"));
    }
    ctx.state.clock_ms += (ctx.knobs.cost("boot") * 1000.0) as u64;
    // Guests that start on boot.
    let mut onboot: Vec<(u64, u32, bool)> = Vec::new();
    for (flavor, vm) in [
        (crate::conf::Flavor::Lxc, false),
        (crate::conf::Flavor::Qemu, true),
    ] {
        for id in crate::tools::guest::ids(&ctx.root, flavor) {
            let Ok(conf) = crate::tools::guest::load(ctx, flavor, id) else {
                continue;
            };
            if conf.main.get("onboot") != Some("1") || crate::tools::guest::is_template(&conf) {
                continue;
            }
            let order = conf
                .main
                .get("startup")
                .and_then(|s| {
                    s.split(',')
                        .find_map(|p| {
                            p.strip_prefix("order=")
                                .or(Some(p).filter(|p| !p.contains('=')))
                        })
                        .and_then(|n| n.parse().ok())
                })
                .unwrap_or(u64::MAX);
            onboot.push((order, id, vm));
        }
    }
    onboot.sort();
    for (_, id, vm) in onboot {
        let r = if vm {
            crate::tools::qm::start_vm(ctx, id)
        } else {
            crate::tools::pct::start_ct(ctx, id)
        };
        match r {
            Ok(o) => {
                ctx.state.clock_ms += (o.secs * 1000.0) as u64;
                report.push(format!("started {id}"));
            }
            Err(o) => report.push(format!("{id} failed to start: {}", o.stderr.trim_end())),
        }
    }
    let h = &mut ctx.state.host;
    h.reboot_required = false;
    h.counters.boots += 1;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stock_apparmor_profiles_parse() {
        let files: std::collections::BTreeMap<&str, &str> =
            APPARMOR_FILES.iter().copied().collect();
        let resolve = |t: &str, angle: bool, _b: &str| -> Option<Vec<(String, String)>> {
            let p = if angle {
                format!("/etc/apparmor.d/{t}")
            } else {
                t.to_string()
            };
            if let Some(c) = files.get(p.as_str()) {
                return Some(vec![(p.clone(), c.to_string())]);
            }
            let dir = format!("{p}/");
            let v: Vec<(String, String)> = files
                .iter()
                .filter(|(k, _)| k.starts_with(&dir) && !k[dir.len()..].contains('/'))
                .map(|(k, c)| (k.to_string(), c.to_string()))
                .collect();
            (!v.is_empty() || p.ends_with("home.d")).then_some(v)
        };
        let names = |f: &str| -> Vec<String> {
            apparmor::parse(f, files[f], &resolve)
                .unwrap()
                .into_iter()
                .map(|p| p.name)
                .collect()
        };
        assert_eq!(
            names("/etc/apparmor.d/lxc-containers"),
            [
                "lxc-container-default",
                "lxc-container-default-cgns",
                "lxc-container-default-with-mounting",
                "lxc-container-default-with-nesting"
            ]
        );
        assert_eq!(
            names("/etc/apparmor.d/usr.bin.lxc-start"),
            ["/usr/bin/lxc-start"]
        );
    }
}
