//! Guest configuration files as Proxmox writes them (`/etc/pve/lxc/<id>.conf`,
//! `/etc/pve/qemu-server/<id>.conf`).
//!
//! Layout (pve-container `write_pct_config`, qemu-server `write_vm_config`): description as
//! `#` comment lines, then every key in byte order (`key: value`), then (containers) the raw
//! `lxc.*` lines in stored order; a pending section (`[pve:pending]` for containers,
//! `[PENDING]` for VMs) when non-empty; VMs' `[special:<name>]` sections; then one `[name]`
//! section per snapshot in name order; sections separated by one blank line. The simulator
//! re-reads the file on every call (managers edit it directly) and always writes it back in
//! this canonical form.

use std::collections::BTreeMap;

/// Which writer's rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// pve-container.
    Lxc,
    /// qemu-server.
    Qemu,
}

impl Flavor {
    fn pending_header(self) -> &'static str {
        match self {
            Flavor::Lxc => "[pve:pending]",
            Flavor::Qemu => "[PENDING]",
        }
    }
}

/// One section: description, keys, and raw `lxc.*` lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Section {
    /// Decoded description (containers keep a trailing newline per `#` line).
    pub description: Option<String>,
    /// Keys in byte order.
    pub keys: BTreeMap<String, String>,
    /// Raw `lxc.*` lines in stored order.
    pub raw: Vec<(String, String)>,
}

impl Section {
    /// A key's value.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.keys.get(k).map(String::as_str)
    }

    /// Sets a key.
    pub fn set(&mut self, k: &str, v: impl Into<String>) {
        self.keys.insert(k.to_string(), v.into());
    }

    /// Removes a key.
    pub fn remove(&mut self, k: &str) -> Option<String> {
        self.keys.remove(k)
    }
}

/// A whole guest configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestConf {
    /// The current configuration.
    pub main: Section,
    /// Pending changes (`delete` lists keys to remove).
    pub pending: Section,
    /// `[special:<name>]` sections (VMs).
    pub special: BTreeMap<String, Section>,
    /// Snapshots by name.
    pub snapshots: BTreeMap<String, Section>,
    /// Lines the parser could not read (kept as warnings, as Proxmox does).
    pub warnings: Vec<String>,
}

/// Proxmox's `encode_text`: bytes outside 0x20–0x39 and 0x3B–0x7E become `%XX`.
pub fn encode_text(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if (0x20..=0x39).contains(&b) || (0x3b..=0x7e).contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Proxmox's `decode_text` (URI unescape).
pub fn decode_text(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_snapshot_header(line: &str) -> Option<&str> {
    let t = line.trim_end();
    let inner = t.strip_prefix('[')?.strip_suffix(']')?;
    let mut chars = inner.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok =
        inner.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    (first_ok && rest_ok).then_some(inner)
}

/// The raw-key regex `^(lxc\.[a-z0-9_\-\.]+)(:|\s*=)\s*(.*?)\s*$`.
fn raw_lxc(line: &str) -> Option<(String, String)> {
    if !line.starts_with("lxc.") {
        return None;
    }
    let end = line.find(|c: char| {
        !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'))
    })?;
    let key = &line[..end];
    let rest = &line[end..];
    let rest = if let Some(r) = rest.strip_prefix(':') {
        r
    } else {
        rest.trim_start_matches([' ', '\t']).strip_prefix('=')?
    };
    Some((key.to_string(), rest.trim().to_string()))
}

/// `^([a-z][a-z_]*\d*):\s*(.+?)\s*$` (containers) / `^([a-z][a-z_\-]*\d*):…` (VMs).
fn key_value(line: &str, flavor: Flavor) -> Option<(String, String)> {
    let (k, v) = line.split_once(':')?;
    let mut chars = k.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_lowercase()) {
        return None;
    }
    let body: String = k.trim_end_matches(|c: char| c.is_ascii_digit()).to_string();
    let ok = body
        .chars()
        .all(|c| c.is_ascii_lowercase() || c == '_' || (flavor == Flavor::Qemu && c == '-'));
    let v = v.trim();
    (ok && !v.is_empty()).then(|| (k.to_string(), v.to_string()))
}

impl GuestConf {
    /// Parses a config file.
    pub fn parse(text: &str, flavor: Flavor) -> Self {
        let mut c = GuestConf::default();
        // 0 = main, 1 = pending, 2 = special, 3 = snapshot
        let mut target: (u8, String) = (0, String::new());
        let mut descr = String::new();
        let flush = |c: &mut GuestConf, target: &(u8, String), descr: &mut String| {
            if descr.is_empty() {
                return;
            }
            let d = std::mem::take(descr);
            let d = if flavor == Flavor::Qemu {
                d.trim_end().to_string()
            } else {
                d
            };
            let s = c.section_mut(target);
            s.description = Some(d);
        };
        for line in text.lines() {
            if line.trim().is_empty() {
                continue;
            }
            let lower = line.trim_end().to_ascii_lowercase();
            if lower == flavor.pending_header().to_ascii_lowercase() {
                flush(&mut c, &target, &mut descr);
                target = (1, String::new());
                continue;
            }
            if flavor == Flavor::Qemu {
                if let Some(name) = line
                    .trim_end()
                    .strip_prefix("[special:")
                    .and_then(|r| r.strip_suffix(']'))
                {
                    flush(&mut c, &target, &mut descr);
                    target = (2, name.to_string());
                    c.special.entry(name.to_string()).or_default();
                    continue;
                }
            }
            if let Some(name) = is_snapshot_header(line) {
                flush(&mut c, &target, &mut descr);
                target = (3, name.to_string());
                c.snapshots.entry(name.to_string()).or_default();
                continue;
            }
            if let Some(d) = line.strip_prefix('#') {
                descr.push_str(&decode_text(d));
                descr.push('\n');
                continue;
            }
            if flavor == Flavor::Lxc {
                if let Some((k, v)) = raw_lxc(line) {
                    c.section_mut(&target).raw.push((k, v));
                    continue;
                }
            }
            match key_value(line, flavor) {
                Some((k, v)) if k == "description" => {
                    descr.push_str(&decode_text(&v));
                }
                Some((k, v)) => {
                    if k == "delete" && target.0 != 1 {
                        c.warnings.push(
                            "property 'delete' is only allowed in the pending section".to_string(),
                        );
                        continue;
                    }
                    c.section_mut(&target).keys.insert(k, v);
                }
                None => c.warnings.push(format!("unable to parse config: {line}")),
            }
        }
        flush(&mut c, &target, &mut descr);
        c
    }

    fn section_mut(&mut self, target: &(u8, String)) -> &mut Section {
        match target.0 {
            0 => &mut self.main,
            1 => &mut self.pending,
            2 => self.special.entry(target.1.clone()).or_default(),
            _ => self.snapshots.entry(target.1.clone()).or_default(),
        }
    }

    /// Writes the file in canonical form.
    pub fn render(&self, flavor: Flavor) -> String {
        let section = |s: &Section, pending: bool| -> String {
            let mut out = String::new();
            match &s.description {
                Some(d) if !d.is_empty() => {
                    for l in d.trim_end_matches('\n').split('\n') {
                        out.push('#');
                        out.push_str(&encode_text(l));
                        out.push('\n');
                    }
                }
                Some(_) if pending && flavor == Flavor::Qemu => out.push_str("#\n"),
                _ => {}
            }
            for (k, v) in &s.keys {
                out.push_str(&format!("{k}: {v}\n"));
            }
            for (k, v) in &s.raw {
                out.push_str(&format!("{k}: {v}\n"));
            }
            out
        };
        let mut out = section(&self.main, false);
        if !self.pending.keys.is_empty()
            || !self.pending.raw.is_empty()
            || self.pending.description.is_some()
        {
            out.push('\n');
            out.push_str(flavor.pending_header());
            out.push('\n');
            out.push_str(&section(&self.pending, true));
        }
        for (name, s) in &self.special {
            out.push_str(&format!("\n[special:{name}]\n"));
            out.push_str(&section(s, false));
        }
        for (name, s) in &self.snapshots {
            out.push_str(&format!("\n[{name}]\n"));
            out.push_str(&section(s, false));
        }
        out
    }

    /// The current configuration with pending values applied (what `pct config` shows).
    pub fn with_pending(&self) -> Section {
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

    /// Keys pending deletion.
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

    /// Takes a key off the pending delete list (dropping the list when it empties).
    pub fn remove_pending_delete(&mut self, key: &str) {
        let rest: Vec<String> = self
            .pending_deletes()
            .into_iter()
            .filter(|d| d != key)
            .collect();
        if rest.is_empty() {
            self.pending.remove("delete");
        } else {
            self.pending.set("delete", rest.join(","));
        }
    }

    /// Keys with a pending value (not `delete`).
    pub fn pending_keys(&self) -> Vec<String> {
        self.pending
            .keys
            .keys()
            .filter(|k| *k != "delete")
            .cloned()
            .collect()
    }

    /// Adds keys to the pending delete list (sorted, comma-separated).
    pub fn add_pending_delete(&mut self, key: &str) {
        let mut d = self.pending_deletes();
        if !d.iter().any(|x| x == key) {
            d.push(key.to_string());
        }
        d.sort();
        self.pending.set("delete", d.join(","));
    }
}

/// Prints a section as `pct config`/`qm config` do: keys in byte order (no digest), the
/// description encoded, then raw `lxc.*` lines.
pub fn print_config(s: &Section) -> String {
    let mut keys = s.keys.clone();
    if let Some(d) = &s.description {
        keys.insert("description".to_string(), encode_text(d));
    }
    let mut out = String::new();
    for (k, v) in &keys {
        out.push_str(&format!("{k}: {v}\n"));
    }
    for (k, v) in &s.raw {
        out.push_str(&format!("{k}: {v}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &str = "#web server%3A nginx
arch: amd64
cores: 2
hostname: web
memory: 1024
net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:5E:2A:01,ip=dhcp,type=veth
parent: snap1
rootfs: local-zfs:subvol-100-disk-0,size=8G
unprivileged: 1
lxc.apparmor.profile: unconfined
lxc.mount.auto = sys:rw

[pve:pending]
delete: searchdomain
nameserver: 1.1.1.1

[snap1]
arch: amd64
cores: 2
hostname: web
memory: 1024
snaptime: 1700000000
";

    #[test]
    fn round_trips_container_configs_canonically() {
        let c = GuestConf::parse(CT, Flavor::Lxc);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(c.main.description.as_deref(), Some("web server: nginx\n"));
        assert_eq!(
            c.main.raw,
            [
                ("lxc.apparmor.profile".to_string(), "unconfined".to_string()),
                ("lxc.mount.auto".to_string(), "sys:rw".to_string())
            ]
        );
        assert_eq!(c.pending_deletes(), ["searchdomain"]);
        assert_eq!(c.snapshots["snap1"].get("snaptime"), Some("1700000000"));
        let out = c.render(Flavor::Lxc);
        assert_eq!(
            out,
            CT.replace("lxc.mount.auto = sys:rw", "lxc.mount.auto: sys:rw")
        );
        assert_eq!(GuestConf::parse(&out, Flavor::Lxc), c);
    }

    #[test]
    fn config_output_merges_pending_and_encodes_the_description() {
        let c = GuestConf::parse(CT, Flavor::Lxc);
        let printed = print_config(&c.with_pending());
        assert!(
            printed.starts_with(
                "arch: amd64\ncores: 2\ndescription: web server%3A nginx%0A\nhostname: web\n"
            ),
            "{printed}"
        );
        assert!(printed.contains("nameserver: 1.1.1.1\n"));
        assert!(printed.ends_with("lxc.apparmor.profile: unconfined\nlxc.mount.auto: sys:rw\n"));
    }

    #[test]
    fn raw_lines_appended_after_snapshots_land_in_the_last_section() {
        let mut text = CT.to_string();
        text.push_str("lxc.cgroup2.devices.allow: c 195:* rwm\n");
        let c = GuestConf::parse(&text, Flavor::Lxc);
        assert_eq!(
            c.snapshots["snap1"].raw.len(),
            1,
            "the shell version's bug, reproduced faithfully"
        );
        assert_eq!(c.main.raw.len(), 2);
    }

    #[test]
    fn vm_pending_and_special_sections() {
        let vm = "agent: 1\nname: portainer\nnet0: virtio=BC:24:11:00:00:01,bridge=vmbr0\n\n[PENDING]\nmemory: 4096\n\n[special:cloudinit]\nipconfig0: ip=dhcp\n\n[base]\nname: portainer\nsnaptime: 1\n";
        let c = GuestConf::parse(vm, Flavor::Qemu);
        assert_eq!(c.pending.get("memory"), Some("4096"));
        assert_eq!(c.special["cloudinit"].get("ipconfig0"), Some("ip=dhcp"));
        assert_eq!(c.render(Flavor::Qemu), vm);
    }

    #[test]
    fn text_encoding() {
        assert_eq!(encode_text("a: b\té"), "a%3A b%09%C3%A9");
        assert_eq!(decode_text("a%3A b%09%C3%A9"), "a: b\té");
        assert_eq!(decode_text("100%"), "100%");
    }
}
