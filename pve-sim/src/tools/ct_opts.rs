//! Container configuration options (pve-container `$confdesc`): which `pct create`/`pct set`
//! accept, and their validation with Proxmox's messages.

use crate::args::Kind;
use crate::propstr::PropStr;
use crate::tools::check;

/// Scalar options of the container schema.
pub const OPTIONS: &[(&str, Kind)] = &[
    ("arch", Kind::Value),
    ("cmode", Kind::Value),
    ("console", Kind::Bool),
    ("cores", Kind::Value),
    ("cpulimit", Kind::Value),
    ("cpuunits", Kind::Value),
    ("debug", Kind::Bool),
    ("description", Kind::Value),
    ("entrypoint", Kind::Value),
    ("features", Kind::Value),
    ("hookscript", Kind::Value),
    ("hostname", Kind::Value),
    ("lock", Kind::Value),
    ("memory", Kind::Value),
    ("nameserver", Kind::Value),
    ("onboot", Kind::Bool),
    ("ostype", Kind::Value),
    ("protection", Kind::Bool),
    ("rootfs", Kind::Value),
    ("searchdomain", Kind::Value),
    ("startup", Kind::Value),
    ("swap", Kind::Value),
    ("tags", Kind::Value),
    ("template", Kind::Bool),
    ("timezone", Kind::Value),
    ("tty", Kind::Value),
    ("unprivileged", Kind::Bool),
];

/// Numbered options: `netN` (0–31), `mpN`/`unusedN`/`devN` (0–255).
pub fn numbered(name: &str) -> Option<Kind> {
    let (base, n) = name.split_at(name.find(|c: char| c.is_ascii_digit())?);
    let n: u32 = n.parse().ok()?;
    match base {
        "net" if n < 32 => Some(Kind::Value),
        "mp" | "unused" | "dev" if n < 256 => Some(Kind::Value),
        _ => None,
    }
}

/// Whether `key` is a container option.
pub fn exists(key: &str) -> bool {
    OPTIONS.iter().any(|(k, _)| *k == key) || numbered(key).is_some()
}

/// `disk-size` → bytes (no unit = bytes).
pub fn disk_size(v: &str) -> Option<u64> {
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let n: f64 = num.parse().ok()?;
    let m: u64 = match unit {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return None,
    };
    Some((n * m as f64) as u64)
}

/// pve-common `format_size`: the largest exact unit.
pub fn format_size(size: u64) -> String {
    let kb = size / 1024;
    if kb * 1024 != size {
        return size.to_string();
    }
    let mb = kb / 1024;
    if mb * 1024 != kb {
        return format!("{kb}K");
    }
    let gb = mb / 1024;
    if gb * 1024 != mb {
        return format!("{mb}M");
    }
    let tb = gb / 1024;
    if tb * 1024 != gb {
        return format!("{gb}G");
    }
    format!("{tb}T")
}

fn bool_key(ps: &PropStr, k: &str, key: &str, errors: &mut Vec<(String, String)>) {
    if let Some(v) = ps.get(k) {
        if let Err(e) = check::boolean(v) {
            errors.push((format!("{key}.{k}"), e));
        }
    }
}

/// Validates a property string against known keys; returns nested errors Proxmox-style.
fn propstring(
    key: &str,
    v: &str,
    default_key: Option<&str>,
    known: &[&str],
    required: &[&str],
) -> Result<PropStr, Vec<(String, String)>> {
    let ps = PropStr::parse(v, default_key)
        .map_err(|e| vec![(key.to_string(), format!("invalid format - {e}\n"))])?;
    for (k, _) in &ps.pairs {
        if !known.contains(&k.as_str()) {
            return Err(vec![(
                key.to_string(),
                format!("invalid format - invalid key in comma-separated list property: {k}\n"),
            )]);
        }
    }
    let missing: Vec<(String, String)> = required
        .iter()
        .filter(|r| ps.get(r).is_none())
        .map(|r| {
            (
                format!("{key}.{r}"),
                "property is missing and it is not optional\n".to_string(),
            )
        })
        .collect();
    if !missing.is_empty() {
        let mut e = vec![(key.to_string(), "invalid format - format error".to_string())];
        e.extend(missing);
        return Err(e);
    }
    Ok(ps)
}

/// Validates and normalises one option value. Errors are `(parameter path, message)`.
pub fn validate(key: &str, v: &str) -> Result<String, Vec<(String, String)>> {
    let one = |r: Result<String, String>| r.map_err(|e| vec![(key.to_string(), e)]);
    let base = key.trim_end_matches(|c: char| c.is_ascii_digit());
    match base {
        "memory" => one(check::int(v, Some(16), None).map(|n| n.to_string())),
        "swap" => one(check::int(v, Some(0), None).map(|n| n.to_string())),
        "cores" => one(check::int(v, Some(1), Some(8192)).map(|n| n.to_string())),
        "cpulimit" => one(check::number(v, 0.0, 8192.0).map(|_| v.to_string())),
        "cpuunits" => one(check::int(v, Some(0), Some(500_000)).map(|n| n.to_string())),
        "tty" => one(check::int(v, Some(0), Some(6)).map(|n| n.to_string())),
        "onboot" | "console" | "protection" | "debug" | "template" | "unprivileged" => {
            one(check::boolean(v).map(str::to_string))
        }
        "hostname" => one(if v.len() > 255 {
            Err("value may only be 255 characters long".into())
        } else {
            check::dns_name(v).map(|()| v.to_string())
        }),
        "description" => one(if v.len() > 8192 {
            Err("value may only be 8192 characters long".into())
        } else {
            Ok(v.to_string())
        }),
        "nameserver" => one(check::ip_list(v)),
        "searchdomain" => {
            let items: Vec<&str> = v.split([',', ';', ' ']).filter(|s| !s.is_empty()).collect();
            for i in &items {
                one(check::dns_name(i).map(|()| String::new()))?;
            }
            Ok(items.join(" "))
        }
        "startup" => one(check::startup(v).map(|()| v.to_string())),
        "arch" => enumeration(
            key,
            v,
            &["amd64", "i386", "arm64", "armhf", "riscv32", "riscv64"],
        ),
        "ostype" => enumeration(
            key,
            v,
            &[
                "debian",
                "devuan",
                "ubuntu",
                "centos",
                "fedora",
                "opensuse",
                "archlinux",
                "alpine",
                "gentoo",
                "nixos",
                "unmanaged",
            ],
        ),
        "cmode" => enumeration(key, v, &["shell", "console", "tty"]),
        "lock" => enumeration(
            key,
            v,
            &[
                "backup",
                "create",
                "destroyed",
                "disk",
                "fstrim",
                "migrate",
                "mounted",
                "rollback",
                "snapshot",
                "snapshot-delete",
            ],
        ),
        "features" => {
            let ps = propstring(
                key,
                v,
                None,
                &[
                    "mount",
                    "nesting",
                    "keyctl",
                    "fuse",
                    "mknod",
                    "force_rw_sys",
                ],
                &[],
            )?;
            let mut errors = Vec::new();
            for k in ["nesting", "keyctl", "fuse", "mknod", "force_rw_sys"] {
                bool_key(&ps, k, key, &mut errors);
            }
            if errors.is_empty() {
                Ok(v.to_string())
            } else {
                Err(errors)
            }
        }
        "tags" => {
            let mut tags: Vec<String> = v
                .split([',', ';', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_ascii_lowercase)
                .collect();
            tags.sort();
            tags.dedup();
            Ok(tags.join(";"))
        }
        "net" => {
            let known = [
                "type",
                "name",
                "bridge",
                "hwaddr",
                "mtu",
                "ip",
                "gw",
                "ip6",
                "gw6",
                "firewall",
                "tag",
                "trunks",
                "rate",
                "link_down",
                "host-managed",
            ];
            let ps = propstring(key, v, None, &known, &["name"])?;
            let mut errors = Vec::new();
            let sub = |k: &str| format!("{key}.{k}");
            if let Some(n) = ps.get("name") {
                if n.is_empty()
                    || !n
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
                {
                    errors.push((
                        sub("name"),
                        "value does not match the regex pattern".to_string(),
                    ));
                }
            }
            if let Some(t) = ps.get("type") {
                if t != "veth" {
                    errors.push((
                        sub("type"),
                        format!("value '{t}' does not have a value in the enumeration 'veth'"),
                    ));
                }
            }
            if let Some(m) = ps.get("hwaddr") {
                if let Err(e) = check::mac(m) {
                    errors.push((sub("hwaddr"), e));
                }
            }
            if let Some(ip) = ps.get("ip") {
                if let Err(e) = check::ipv4_config(ip) {
                    errors.push((sub("ip"), e));
                }
            }
            if let Some(ip) = ps.get("ip6") {
                if let Err(e) = check::ipv6_config(ip) {
                    errors.push((sub("ip6"), e));
                }
            }
            if let Some(gw) = ps.get("gw") {
                if let Err(e) = check::ipv4(gw) {
                    errors.push((sub("gw"), e));
                }
            }
            if let Some(t) = ps.get("tag") {
                if let Err(e) = check::int(t, Some(1), Some(4094)) {
                    errors.push((sub("tag"), e));
                }
            }
            if let Some(t) = ps.get("mtu") {
                if let Err(e) = check::int(t, Some(64), Some(65535)) {
                    errors.push((sub("mtu"), e));
                }
            }
            bool_key(&ps, "firewall", key, &mut errors);
            bool_key(&ps, "link_down", key, &mut errors);
            if errors.is_empty() {
                Ok(v.to_string())
            } else {
                Err(errors)
            }
        }
        "rootfs" | "mp" => {
            let mut known = vec![
                "volume",
                "size",
                "acl",
                "mountoptions",
                "ro",
                "quota",
                "replicate",
                "shared",
            ];
            let mut required = vec![];
            if base == "mp" {
                known.extend(["mp", "backup"]);
                required.push("mp");
            }
            let ps = propstring(key, v, Some("volume"), &known, &required)?;
            let mut errors = Vec::new();
            for p in [ps.get("volume"), ps.get("mp")].into_iter().flatten() {
                if p.contains("/../")
                    || p.contains("/./")
                    || p.ends_with("/..")
                    || p.ends_with("/.")
                    || p.starts_with("../")
                {
                    errors.push((
                        key.to_string(),
                        format!("invalid format - {p} contains illegal character sequences\n"),
                    ));
                }
            }
            if let Some(s) = ps.get("size") {
                if disk_size(s).is_none() {
                    errors.push((
                        format!("{key}.size"),
                        format!(
                            "invalid format - value does not look like a valid disk size: {s}\n"
                        ),
                    ));
                }
            }
            for b in ["acl", "ro", "quota", "replicate", "shared", "backup"] {
                bool_key(&ps, b, key, &mut errors);
            }
            if errors.is_empty() {
                Ok(v.to_string())
            } else {
                Err(errors)
            }
        }
        "dev" => {
            let ps = propstring(
                key,
                v,
                Some("path"),
                &["path", "mode", "uid", "gid", "deny-write"],
                &[],
            )?;
            let mut errors = Vec::new();
            match ps.get("path") {
                Some(p) if p.starts_with("/dev/") && !p.contains("/../") && !p.ends_with("/..") => {
                }
                Some(p) => errors.push((
                    key.to_string(),
                    format!("invalid format - {p} is not a valid device path\n"),
                )),
                None => errors.push((
                    key.to_string(),
                    "invalid format - Path has to be defined\n".to_string(),
                )),
            }
            if let Some(m) = ps.get("mode") {
                if !(m.len() == 4
                    && m.starts_with('0')
                    && m[1..].bytes().all(|b| (b'0'..=b'7').contains(&b)))
                {
                    errors.push((
                        format!("{key}.mode"),
                        "value does not match the regex pattern".to_string(),
                    ));
                }
            }
            for k in ["uid", "gid"] {
                if let Some(x) = ps.get(k) {
                    if let Err(e) = check::int(x, Some(0), None) {
                        errors.push((format!("{key}.{k}"), e));
                    }
                }
            }
            bool_key(&ps, "deny-write", key, &mut errors);
            if errors.is_empty() {
                Ok(v.to_string())
            } else {
                Err(errors)
            }
        }
        _ => Ok(v.to_string()),
    }
}

fn enumeration(key: &str, v: &str, values: &[&str]) -> Result<String, Vec<(String, String)>> {
    if values.contains(&v) {
        Ok(v.to_string())
    } else {
        Err(vec![(
            key.to_string(),
            format!(
                "value '{v}' does not have a value in the enumeration '{}'",
                values.join(", ")
            ),
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_proxmox_units() {
        assert_eq!(disk_size("8G"), Some(8 << 30));
        assert_eq!(disk_size("512"), Some(512));
        assert_eq!(format_size(8 << 30), "8G");
        assert_eq!(format_size(2252 << 20), "2252M");
        assert_eq!(format_size(4 << 20), "4M");
        assert_eq!(format_size(1 << 40), "1T");
        assert_eq!(format_size(1000), "1000");
    }

    #[test]
    fn validation_messages() {
        assert_eq!(
            validate("memory", "8").unwrap_err()[0].1,
            "value must have a minimum value of 16"
        );
        assert_eq!(
            validate("hostname", "a_b").unwrap_err()[0].1,
            "invalid format - value does not look like a valid DNS name\n"
        );
        let e = validate("net0", "bridge=vmbr0").unwrap_err();
        assert_eq!(
            e,
            vec![
                (
                    "net0".to_string(),
                    "invalid format - format error".to_string()
                ),
                (
                    "net0.name".to_string(),
                    "property is missing and it is not optional\n".to_string()
                )
            ]
        );
        assert!(validate("net0", "name=eth0,bridge=vmbr0,ip=10.0.0.5/24,gw=10.0.0.1,hwaddr=52:54:00:AA:BB:CC,firewall=1").is_ok());
        assert_eq!(
            validate("features", "nesting=1,foo=1").unwrap_err()[0].1,
            "invalid format - invalid key in comma-separated list property: foo\n"
        );
        assert_eq!(
            validate("nameserver", "1.1.1.1,8.8.8.8").unwrap(),
            "1.1.1.1 8.8.8.8"
        );
        assert_eq!(validate("tags", "Web,prod web").unwrap(), "prod;web");
        assert!(validate("mp0", "local-zfs:8").unwrap_err()[1].0 == "mp0.mp");
        assert!(validate("dev0", "/dev/nvidia0,mode=0666").is_ok());
        assert!(validate("dev0", "/tmp/x").is_err());
        assert!(
            numbered("net31").is_some()
                && numbered("net32").is_none()
                && numbered("mp255").is_some()
        );
    }
}
