//! Guest configurations: the files in `/etc/pve/lxc/` and `/etc/pve/qemu-server/`, and what
//! `pct config` / `qm config` print.
//!
//! A file has a main section (description as `#` lines, `key: value` lines, for containers
//! raw `lxc.*` lines), an optional pending section (`[pve:pending]` for containers,
//! `[PENDING]` for VMs), VM `[special:…]` sections, and one `[name]` section per snapshot.
//! `pct config` prints the main section with pending values merged, the description as a
//! `description:` line (URI-encoded), then the `lxc.*` lines.

use std::collections::BTreeMap;

use super::ParseError;
use super::propstr::PropertyString;

/// One section of a guest config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Section {
    /// Keys and values (the description decoded, under `description`).
    pub keys: BTreeMap<String, String>,
    /// Raw `lxc.*` lines in file order (containers only).
    pub lxc: Vec<(String, String)>,
}

impl Section {
    /// A value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.keys.get(key).map(String::as_str)
    }

    /// A value as a property string (`default_key` for a first part without `=`).
    pub fn prop(&self, key: &str, default_key: Option<&str>) -> Option<PropertyString> {
        self.get(key)
            .and_then(|v| PropertyString::parse(v, default_key).ok())
    }

    /// Whether the guest is a template.
    pub fn is_template(&self) -> bool {
        self.get("template") == Some("1")
    }

    /// The storage volumes it holds, as `(key, volume ID)`: a container's `rootfs` and `mpN`
    /// that are not bind mounts (pve-container `foreach_volume`), a VM's drives (`ideN`,
    /// `sataN`, `scsiN`, `virtioN`, `efidisk0`, `tpmstate0`) that are neither CD-ROMs nor
    /// `none` (qemu-server `foreach_volume`, as `snapshot` checks them).
    pub fn volumes(&self) -> Vec<(&str, &str)> {
        let numbered = |k: &str, p: &str| {
            k.strip_prefix(p)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        };
        self.keys
            .iter()
            .filter(|(k, v)| {
                let ct = k.as_str() == "rootfs" || numbered(k, "mp");
                let vm = ["ide", "sata", "scsi", "virtio", "efidisk", "tpmstate"]
                    .iter()
                    .any(|p| numbered(k, p))
                    && !v.split(',').any(|p| p == "media=cdrom");
                ct || vm
            })
            .filter_map(|(k, v)| {
                let vol = v.split(',').next()?;
                let vol = vol
                    .strip_prefix("volume=")
                    .or_else(|| vol.strip_prefix("file="))
                    .unwrap_or(vol);
                (!vol.is_empty() && vol != "none" && !vol.starts_with('/') && vol.contains(':'))
                    .then_some((k.as_str(), vol))
            })
            .collect()
    }

    /// Values of a raw `lxc.*` key, in order.
    pub fn lxc_values(&self, key: &str) -> Vec<&str> {
        self.lxc
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A whole config file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestConfig {
    /// The current configuration.
    pub main: Section,
    /// Pending changes (`delete` lists keys to be removed).
    pub pending: Section,
    /// Snapshots by name.
    pub snapshots: BTreeMap<String, Section>,
    /// What Proxmox warns about and skips, and so does this parser: unknown sections (their
    /// lines too), a section given twice (the later one counts).
    pub notes: Vec<String>,
}

/// `%XX` decoding (Proxmox's `decode_text`).
pub fn decode_text(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn raw_lxc(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix("lxc.")?;
    let end = rest
        .find(|c: char| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'))
        })
        .map_or(rest.len(), |e| e);
    let key = format!("lxc.{}", &rest[..end]);
    let after = &rest[end..];
    let value = after
        .strip_prefix(':')
        .or_else(|| after.trim_start().strip_prefix('='))?;
    Some((key, value.trim().to_string()))
}

fn key_value(line: &str) -> Option<(String, String)> {
    let (k, v) = line.split_once(':')?;
    let ok = k.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && k.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    ok.then(|| (k.to_string(), v.trim().to_string()))
}

fn section_header(line: &str) -> Option<&str> {
    let inner = line.trim_end().strip_prefix('[')?.strip_suffix(']')?;
    Some(inner)
}

impl GuestConfig {
    /// Parses a config file. Lines that fit no rule are errors (Proxmox warns and skips them;
    /// a manager should not act on a file it cannot read fully).
    pub fn parse_file(text: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "guest config file";
        let mut c = GuestConfig::default();
        #[derive(PartialEq)]
        enum Target {
            Main,
            Pending,
            Special,
            Snapshot(String),
            /// An unknown section: its lines are skipped (qemu-server QemuServer.pm
            /// parse_vm_config: "skipping unknown section").
            Skip,
        }
        let mut target = Target::Main;
        let mut seen_pending = false;
        let mut descr = String::new();
        let flush = |c: &mut GuestConfig, target: &Target, descr: &mut String| {
            if descr.is_empty() {
                return;
            }
            let d = std::mem::take(descr);
            let d = d.strip_suffix('\n').unwrap_or(&d).to_string();
            match target {
                Target::Main => c.main.keys.insert("description".into(), d),
                Target::Pending => c.pending.keys.insert("description".into(), d),
                Target::Special | Target::Skip => None,
                Target::Snapshot(n) => c
                    .snapshots
                    .entry(n.clone())
                    .or_default()
                    .keys
                    .insert("description".into(), d),
            };
        };
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            if let Some(h) = section_header(line) {
                flush(&mut c, &target, &mut descr);
                // The section names qemu-server's parse_vm_config and pve-container's
                // parse_pct_config know: `[PENDING]`/`[pve:pending]`, `[special:cloudinit]`,
                // `[special:fleecing]`, snapshots `[a-z][a-z0-9_-]+` (any case).
                let lower = h.to_ascii_lowercase();
                let snapshot = {
                    let mut ch = h.chars();
                    ch.next().is_some_and(|c| c.is_ascii_alphabetic())
                        && h.len() >= 2
                        && ch.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                };
                target = match lower.as_str() {
                    "pve:pending" | "pending" => {
                        if seen_pending {
                            c.notes.push(format!(
                                "line {}: section [{h}] is given twice; the later one counts",
                                i + 1
                            ));
                            c.pending = Section::default();
                        }
                        seen_pending = true;
                        Target::Pending
                    }
                    "special:cloudinit" | "special:fleecing" => Target::Special,
                    _ if snapshot => {
                        if c.snapshots.contains_key(h) {
                            c.notes.push(format!(
                                "line {}: section [{h}] is given twice; the later one counts",
                                i + 1
                            ));
                        }
                        c.snapshots.insert(h.to_string(), Section::default());
                        Target::Snapshot(h.to_string())
                    }
                    _ => {
                        c.notes
                            .push(format!("line {}: unknown section [{h}] skipped", i + 1));
                        Target::Skip
                    }
                };
                continue;
            }
            if target == Target::Skip {
                continue;
            }
            if let Some(d) = line.strip_prefix('#') {
                descr.push_str(&decode_text(d));
                descr.push('\n');
                continue;
            }
            let section = match &target {
                Target::Main => &mut c.main,
                Target::Pending => &mut c.pending,
                Target::Special | Target::Skip => continue,
                Target::Snapshot(n) => c.snapshots.entry(n.clone()).or_default(),
            };
            if let Some((k, v)) = raw_lxc(line) {
                section.lxc.push((k, v));
            } else if let Some((k, v)) = key_value(line) {
                section.keys.insert(k, v);
            } else {
                return Err(ParseError::new(
                    WHAT,
                    i + 1,
                    format!("not a `key: value` line: {line}"),
                ));
            }
        }
        flush(&mut c, &target, &mut descr);
        Ok(c)
    }

    /// Keys the pending section deletes.
    pub fn pending_deletes(&self) -> Vec<String> {
        self.pending
            .get("delete")
            .map(|d| {
                d.split([',', ';', ' '])
                    .filter(|x| !x.is_empty())
                    .map(|x| x.trim_start_matches('!').to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The configuration with pending changes applied (what `pct config`/`qm config` show).
    pub fn effective(&self) -> Section {
        let mut s = self.main.clone();
        for (k, v) in &self.pending.keys {
            if k != "delete" {
                s.keys.insert(k.clone(), v.clone());
            }
        }
        for k in self.pending_deletes() {
            s.keys.remove(&k);
        }
        s
    }
}

/// Parses `pct config <id>` / `qm config <id>` output: `key: value` lines (the description
/// URI-decoded), then raw `lxc.*` lines.
pub fn parse_config_output(text: &str) -> Result<Section, ParseError> {
    const WHAT: &str = "pct/qm config";
    let mut s = Section::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some((k, v)) = raw_lxc(line) {
            s.lxc.push((k, v));
        } else if let Some((k, v)) = key_value(line) {
            let v = if k == "description" {
                decode_text(&v).trim_end_matches('\n').to_string()
            } else {
                v
            };
            s.keys.insert(k, v);
        } else {
            return Err(ParseError::new(
                WHAT,
                i + 1,
                format!("not a `key: value` line: {line}"),
            ));
        }
    }
    Ok(s)
}

/// Replaces the raw `lxc.*` lines of the **main** section of a container config file with
/// `lines` (in that order), leaving every other line and every other section (pending,
/// snapshots) byte for byte as it was. The new lines go where the main section ends.
///
/// This is the fix for the shell version's appends that landed in the last snapshot section
/// and its `sed` deletions that hit every section.
pub fn set_main_raw_lines(text: &str, lines: &[(String, String)]) -> String {
    let mut main: Vec<&str> = Vec::new();
    let mut rest: Vec<&str> = Vec::new();
    let mut in_main = true;
    for line in text.lines() {
        if in_main && section_header(line).is_some() {
            in_main = false;
        }
        if in_main {
            if raw_lxc(line).is_none() {
                main.push(line);
            }
        } else {
            rest.push(line);
        }
    }
    while main.last().is_some_and(|l| l.trim().is_empty()) {
        main.pop();
    }
    let mut out = String::new();
    for l in main {
        out.push_str(l);
        out.push('\n');
    }
    for (k, v) in lines {
        out.push_str(&format!("{k}: {v}\n"));
    }
    if !rest.is_empty() {
        out.push('\n');
        for l in rest {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// Parses one raw line as an LXC option (`key=value`, `key: value`, `key:value`), as Proxmox
/// and the shell version accept them in `lxc_options`.
pub fn parse_raw_option(s: &str) -> Option<(String, String)> {
    let s = s.trim();
    if !s.starts_with("lxc.") {
        return None;
    }
    let end = s.find([':', '=', ' ']).unwrap_or(s.len());
    let key = s[..end].trim().to_string();
    let rest = s[end..].trim_start();
    let value = rest
        .strip_prefix([':', '='])
        .unwrap_or(rest)
        .trim()
        .to_string();
    (!key.is_empty()).then_some((key, value))
}

/// What Proxmox does with a raw `lxc.*` key in a container's config (pve-container
/// src/PVE/LXC/Config.pm `is_valid_lxc_conf_key` and its two tables).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LxcKey {
    /// Kept.
    Valid,
    /// Kept, with a warning (the message).
    Deprecated(String),
    /// Refused with this message (`lxc.rootfs.path`, `lxc.rootfs.options`).
    Refused(String),
    /// Dropped with a warning: Proxmox does not pass it to LXC.
    Unknown,
}

/// The keys Proxmox keeps (`$valid_lxc_conf_keys`), besides `lxc.cgroup2.*`, `lxc.prlimit.*`
/// and `lxc.net.*`.
const VALID_LXC_KEYS: &[&str] = &[
    "lxc.apparmor.profile",
    "lxc.apparmor.allow_incomplete",
    "lxc.apparmor.allow_nesting",
    "lxc.apparmor.raw",
    "lxc.selinux.context",
    "lxc.include",
    "lxc.arch",
    "lxc.uts.name",
    "lxc.signal.halt",
    "lxc.signal.reboot",
    "lxc.signal.stop",
    "lxc.init.cmd",
    "lxc.init.cwd",
    "lxc.init.uid",
    "lxc.init.gid",
    "lxc.init.groups",
    "lxc.pty.max",
    "lxc.console.logfile",
    "lxc.console.path",
    "lxc.tty.max",
    "lxc.devtty.dir",
    "lxc.hook.autodev",
    "lxc.autodev",
    "lxc.kmsg",
    "lxc.mount.fstab",
    "lxc.mount.entry",
    "lxc.mount.auto",
    "lxc.rootfs.mount",
    "lxc.cap.drop",
    "lxc.cap.keep",
    "lxc.seccomp.profile",
    "lxc.seccomp.notify.proxy",
    "lxc.seccomp.notify.cookie",
    "lxc.idmap",
    "lxc.hook.pre-start",
    "lxc.hook.pre-mount",
    "lxc.hook.mount",
    "lxc.hook.start",
    "lxc.hook.stop",
    "lxc.hook.post-stop",
    "lxc.hook.clone",
    "lxc.hook.destroy",
    "lxc.hook.version",
    "lxc.log.level",
    "lxc.log.file",
    "lxc.start.auto",
    "lxc.start.delay",
    "lxc.start.order",
    "lxc.group",
    "lxc.environment",
    "lxc.environment.runtime",
    "lxc.environment.hooks",
    "lxc.sysctl.fs.mqueue",
    "lxc.sysctl.kernel.msgmax",
    "lxc.sysctl.kernel.msgmnb",
    "lxc.sysctl.kernel.msgmni",
    "lxc.sysctl.kernel.sem",
    "lxc.sysctl.kernel.shmall",
    "lxc.sysctl.kernel.shmmax",
    "lxc.sysctl.kernel.shmmni",
    "lxc.sysctl.kernel.shm_rmid_forced",
];

/// Keys renamed with LXC 3.0 (`$deprecated_lxc_conf_keys`): old name, new name.
const RENAMED_LXC_KEYS: &[(&str, &str)] = &[
    ("lxc.aa_profile", "lxc.apparmor.profile"),
    ("lxc.aa_allow_incomplete", "lxc.apparmor.allow_incomplete"),
    ("lxc.console", "lxc.console.path"),
    ("lxc.devttydir", "lxc.tty.dir"),
    ("lxc.haltsignal", "lxc.signal.halt"),
    ("lxc.rebootsignal", "lxc.signal.reboot"),
    ("lxc.stopsignal", "lxc.signal.stop"),
    ("lxc.id_map", "lxc.idmap"),
    ("lxc.init_cmd", "lxc.init.cmd"),
    ("lxc.loglevel", "lxc.log.level"),
    ("lxc.logfile", "lxc.log.file"),
    ("lxc.mount", "lxc.mount.fstab"),
    ("lxc.network.type", "lxc.net.INDEX.type"),
    ("lxc.network.flags", "lxc.net.INDEX.flags"),
    ("lxc.network.link", "lxc.net.INDEX.link"),
    ("lxc.network.mtu", "lxc.net.INDEX.mtu"),
    ("lxc.network.name", "lxc.net.INDEX.name"),
    ("lxc.network.hwaddr", "lxc.net.INDEX.hwaddr"),
    ("lxc.network.ipv4", "lxc.net.INDEX.ipv4.address"),
    ("lxc.network.ipv4.gateway", "lxc.net.INDEX.ipv4.gateway"),
    ("lxc.network.ipv6", "lxc.net.INDEX.ipv6.address"),
    ("lxc.network.ipv6.gateway", "lxc.net.INDEX.ipv6.gateway"),
    ("lxc.network.script.up", "lxc.net.INDEX.script.up"),
    ("lxc.network.script.down", "lxc.net.INDEX.script.down"),
    ("lxc.pts", "lxc.pty.max"),
    ("lxc.se_context", "lxc.selinux.context"),
    ("lxc.seccomp", "lxc.seccomp.profile"),
    ("lxc.tty", "lxc.tty.max"),
    ("lxc.utsname", "lxc.uts.name"),
];

/// What Proxmox does with raw key `key` (see [`LxcKey`]), in `is_valid_lxc_conf_key`'s order.
pub fn lxc_key(key: &str) -> LxcKey {
    if key.starts_with("lxc.limit.") {
        return LxcKey::Deprecated(format!("{key}: lxc.limit.* was renamed to lxc.prlimit.*"));
    }
    if let Some((_, new)) = RENAMED_LXC_KEYS.iter().find(|(old, _)| *old == key) {
        return LxcKey::Deprecated(format!("{key} is deprecated and was renamed to {new}"));
    }
    match key {
        "lxc.rootfs.path" => {
            return LxcKey::Refused("lxc.rootfs.path is auto generated from rootfs".into());
        }
        "lxc.rootfs.options" => {
            return LxcKey::Refused(
                "lxc.rootfs.options is not supported, please use mount point options in the \"rootfs\" key"
                    .into(),
            );
        }
        _ => {}
    }
    if VALID_LXC_KEYS.contains(&key) {
        return LxcKey::Valid;
    }
    if key.starts_with("lxc.cgroup.") {
        return LxcKey::Deprecated(format!(
            "{key} is deprecated (cgroup v1), this will be a hard error in the future; use lxc.cgroup2.*"
        ));
    }
    if ["lxc.cgroup2.", "lxc.prlimit.", "lxc.net."]
        .iter()
        .any(|p| key.starts_with(p))
    {
        return LxcKey::Valid;
    }
    LxcKey::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pve-container src/PVE/LXC/Config.pm `is_valid_lxc_conf_key`.
    #[test]
    fn raw_keys_as_proxmox_judges_them() {
        assert_eq!(lxc_key("lxc.apparmor.profile"), LxcKey::Valid);
        assert_eq!(lxc_key("lxc.cgroup2.devices.allow"), LxcKey::Valid);
        assert_eq!(lxc_key("lxc.mount.entry"), LxcKey::Valid);
        assert_eq!(lxc_key("lxc.net.0.type"), LxcKey::Valid);
        assert!(matches!(
            lxc_key("lxc.cgroup.devices.allow"),
            LxcKey::Deprecated(_)
        ));
        assert!(
            matches!(lxc_key("lxc.aa_profile"), LxcKey::Deprecated(m) if m.contains("lxc.apparmor.profile"))
        );
        assert!(matches!(lxc_key("lxc.limit.nofile"), LxcKey::Deprecated(_)));
        assert!(matches!(lxc_key("lxc.rootfs.path"), LxcKey::Refused(_)));
        assert!(matches!(lxc_key("lxc.rootfs.options"), LxcKey::Refused(_)));
        assert_eq!(lxc_key("lxc.hook.autodev.mine"), LxcKey::Unknown);
        assert_eq!(lxc_key("lxc.apparmor.profilex"), LxcKey::Unknown);
    }

    #[test]
    fn files_with_pending_snapshots_and_raw_lines() {
        let text = "#web%3A nginx\narch: amd64\nhostname: web\nparent: snap1\nrootfs: local-zfs:subvol-100-disk-0,size=8G\nlxc.apparmor.profile: unconfined\nlxc.mount.auto = sys:rw\n\n[pve:pending]\ndelete: nameserver\nmemory: 2048\n\n[snap1]\nhostname: web\nsnaptime: 1700000000\n";
        let c = GuestConfig::parse_file(text).unwrap();
        assert_eq!(c.main.get("description"), Some("web: nginx"));
        assert_eq!(c.main.lxc_values("lxc.mount.auto"), ["sys:rw"]);
        assert_eq!(c.pending_deletes(), ["nameserver"]);
        assert_eq!(c.effective().get("memory"), Some("2048"));
        assert_eq!(c.snapshots["snap1"].get("snaptime"), Some("1700000000"));
        assert_eq!(
            c.main.prop("rootfs", Some("volume")).unwrap().get("size"),
            Some("8G")
        );
        assert!(
            GuestConfig::parse_file("arch amd64\n")
                .unwrap_err()
                .to_string()
                .contains("line 1")
        );
    }

    #[test]
    fn raw_lines_are_edited_in_the_main_section_only() {
        let text = "arch: amd64\nhostname: web\nlxc.apparmor.profile: unconfined\nlxc.mount.auto = sys:rw\n\n[pve:pending]\nmemory: 2048\n\n[snap]\nhostname: web\nlxc.apparmor.profile: unconfined\nsnaptime: 1\n";
        let lines = vec![
            ("lxc.apparmor.profile".to_string(), "unconfined".to_string()),
            ("lxc.idmap".to_string(), "u 0 100000 65536".to_string()),
        ];
        let out = set_main_raw_lines(text, &lines);
        assert_eq!(
            out,
            "arch: amd64\nhostname: web\nlxc.apparmor.profile: unconfined\nlxc.idmap: u 0 100000 65536\n\n[pve:pending]\nmemory: 2048\n\n[snap]\nhostname: web\nlxc.apparmor.profile: unconfined\nsnaptime: 1\n"
        );
        let parsed = GuestConfig::parse_file(&out).unwrap();
        assert_eq!(parsed.main.lxc, lines);
        assert_eq!(parsed.snapshots["snap"].lxc.len(), 1);
        assert_eq!(
            set_main_raw_lines("arch: amd64\nlxc.a: 1\n", &[]),
            "arch: amd64\n"
        );
        assert_eq!(
            parse_raw_option("lxc.apparmor.profile=unconfined"),
            Some(("lxc.apparmor.profile".into(), "unconfined".into()))
        );
        assert_eq!(
            parse_raw_option("lxc.mount.auto:sys:rw"),
            Some(("lxc.mount.auto".into(), "sys:rw".into()))
        );
        assert_eq!(
            parse_raw_option("lxc.cgroup2.devices.allow: c 195:* rwm"),
            Some(("lxc.cgroup2.devices.allow".into(), "c 195:* rwm".into()))
        );
        assert_eq!(parse_raw_option("memory: 1"), None);
    }

    #[test]
    fn config_output_decodes_the_description() {
        let s = parse_config_output(
            "arch: amd64\ndescription: two%0Alines%0A\nlxc.idmap: u 0 100000 65536\n",
        )
        .unwrap();
        assert_eq!(s.get("description"), Some("two\nlines"));
        assert_eq!(s.lxc_values("lxc.idmap"), ["u 0 100000 65536"]);
        assert_eq!(decode_text("100%"), "100%");
    }
}
