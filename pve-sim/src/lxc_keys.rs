//! Which raw `lxc.*` keys pve-container keeps in a container's config, written here from
//! pve-container src/PVE/LXC/Config.pm (`$valid_lxc_conf_keys`, `$deprecated_lxc_conf_keys`,
//! `is_valid_lxc_conf_key`) — the simulator's own copy, so it judges the product
//! independently.

/// What Proxmox says about a key it does not keep, or `None` when it keeps it.
pub fn dropped(id: u32, key: &str, value: &str) -> Option<String> {
    const KEPT: &[&str] = &[
        "apparmor.profile",
        "apparmor.allow_incomplete",
        "apparmor.allow_nesting",
        "apparmor.raw",
        "selinux.context",
        "include",
        "arch",
        "uts.name",
        "signal.halt",
        "signal.reboot",
        "signal.stop",
        "init.cmd",
        "init.cwd",
        "init.uid",
        "init.gid",
        "init.groups",
        "pty.max",
        "console.logfile",
        "console.path",
        "tty.max",
        "devtty.dir",
        "hook.autodev",
        "autodev",
        "kmsg",
        "mount.fstab",
        "mount.entry",
        "mount.auto",
        "rootfs.mount",
        "cap.drop",
        "cap.keep",
        "seccomp.profile",
        "seccomp.notify.proxy",
        "seccomp.notify.cookie",
        "idmap",
        "hook.pre-start",
        "hook.pre-mount",
        "hook.mount",
        "hook.start",
        "hook.stop",
        "hook.post-stop",
        "hook.clone",
        "hook.destroy",
        "hook.version",
        "log.level",
        "log.file",
        "start.auto",
        "start.delay",
        "start.order",
        "group",
        "environment",
        "environment.runtime",
        "environment.hooks",
        "sysctl.fs.mqueue",
        "sysctl.kernel.msgmax",
        "sysctl.kernel.msgmnb",
        "sysctl.kernel.msgmni",
        "sysctl.kernel.sem",
        "sysctl.kernel.shmall",
        "sysctl.kernel.shmmax",
        "sysctl.kernel.shmmni",
        "sysctl.kernel.shm_rmid_forced",
        // Renamed with LXC 3.0: kept, with a warning.
        "aa_profile",
        "aa_allow_incomplete",
        "console",
        "devttydir",
        "haltsignal",
        "rebootsignal",
        "stopsignal",
        "id_map",
        "init_cmd",
        "loglevel",
        "logfile",
        "mount",
        "pts",
        "se_context",
        "seccomp",
        "tty",
        "utsname",
    ];
    let short = key.strip_prefix("lxc.")?;
    match short {
        "rootfs.path" => {
            return Some(format!(
                "vm {id} - {key}: lxc.rootfs.path is auto generated from rootfs"
            ));
        }
        "rootfs.options" => {
            return Some(format!(
                "vm {id} - {key}: lxc.rootfs.options is not supported, please use mount point options in the \"rootfs\" key"
            ));
        }
        _ => {}
    }
    let kept = KEPT.contains(&short)
        || [
            "limit.", "network.", "cgroup.", "cgroup2.", "prlimit.", "net.",
        ]
        .iter()
        .any(|p| short.starts_with(p));
    (!kept).then(|| format!("vm {id} - unable to parse config: {key}: {value}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_and_dropped() {
        assert!(dropped(1, "lxc.cgroup2.devices.allow", "c 195:* rwm").is_none());
        assert!(dropped(1, "lxc.mount.entry", "/a b none bind 0 0").is_none());
        assert!(dropped(1, "lxc.cgroup.devices.allow", "a").is_none());
        assert!(dropped(1, "lxc.rootfs.path", "/x").is_some());
        assert!(dropped(1, "lxc.hook.autodev.extra", "/bin/true").is_some());
    }
}
