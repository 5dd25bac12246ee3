//! `qm`'s options: the schema (`OPTIONS`), property-string and value validation as qemu-server checks them (`PVE/QemuServer.pm`).

use super::*;

/// Cloud-init options (applied at once on a running VM; tracked in `[special:cloudinit]`).
pub(super) const CLOUDINIT_KEYS: &[&str] = &[
    "cicustom",
    "cipassword",
    "citype",
    "ciupgrade",
    "ciuser",
    "nameserver",
    "searchdomain",
    "sshkeys",
];

/// Options applied at once to a running VM besides cloud-init ones.
pub(super) const FAST_PLUG: &[&str] = &[
    "description",
    "hookscript",
    "lock",
    "migrate_downtime",
    "migrate_speed",
    "name",
    "onboot",
    "protection",
    "shares",
    "startup",
    "tags",
    "vmstatestorage",
];

/// Scalar VM options.
pub(super) const OPTIONS: &[(&str, Kind)] = &[
    ("acpi", Kind::Bool),
    ("affinity", Kind::Value),
    ("agent", Kind::Value),
    ("args", Kind::Value),
    ("audio0", Kind::Value),
    ("autostart", Kind::Bool),
    ("balloon", Kind::Value),
    ("bios", Kind::Value),
    ("boot", Kind::Value),
    ("bootdisk", Kind::Value),
    ("cdrom", Kind::Value),
    ("cicustom", Kind::Value),
    ("cipassword", Kind::Value),
    ("citype", Kind::Value),
    ("ciupgrade", Kind::Bool),
    ("ciuser", Kind::Value),
    ("cores", Kind::Value),
    ("cpu", Kind::Value),
    ("cpulimit", Kind::Value),
    ("cpuunits", Kind::Value),
    ("description", Kind::Value),
    ("efidisk0", Kind::Value),
    ("freeze", Kind::Bool),
    ("hookscript", Kind::Value),
    ("hotplug", Kind::Value),
    ("hugepages", Kind::Value),
    ("keyboard", Kind::Value),
    ("kvm", Kind::Bool),
    ("localtime", Kind::Bool),
    ("lock", Kind::Value),
    ("machine", Kind::Value),
    ("memory", Kind::Value),
    ("migrate_downtime", Kind::Value),
    ("migrate_speed", Kind::Value),
    ("name", Kind::Value),
    ("nameserver", Kind::Value),
    ("numa", Kind::Bool),
    ("onboot", Kind::Bool),
    ("ostype", Kind::Value),
    ("protection", Kind::Bool),
    ("reboot", Kind::Bool),
    ("rng0", Kind::Value),
    ("scsihw", Kind::Value),
    ("searchdomain", Kind::Value),
    ("shares", Kind::Value),
    ("smbios1", Kind::Value),
    ("sockets", Kind::Value),
    ("sshkeys", Kind::Value),
    ("startup", Kind::Value),
    ("tablet", Kind::Bool),
    ("tags", Kind::Value),
    ("template", Kind::Bool),
    ("tpmstate0", Kind::Value),
    ("vcpus", Kind::Value),
    ("vga", Kind::Value),
    ("vmgenid", Kind::Value),
    ("vmstatestorage", Kind::Value),
    ("watchdog", Kind::Value),
];

/// Numbered options.
pub(super) fn numbered(name: &str) -> Option<Kind> {
    let (base, n) = name.split_at(name.find(|c: char| c.is_ascii_digit())?);
    let n: u32 = n.parse().ok()?;
    let max = match base {
        "ide" => 3,
        "sata" => 5,
        "scsi" => 30,
        "virtio" => 15,
        "net" | "ipconfig" => 31,
        "serial" | "parallel" => 3,
        "unused" => 255,
        "hostpci" => 15,
        "usb" => 4,
        _ => return None,
    };
    (n <= max).then_some(Kind::Value)
}

pub(super) fn exists(key: &str) -> bool {
    OPTIONS.iter().any(|(k, _)| *k == key) || numbered(key).is_some()
}

pub(super) fn is_drive(key: &str) -> bool {
    let base = key.trim_end_matches(|c: char| c.is_ascii_digit());
    matches!(base, "ide" | "sata" | "scsi" | "virtio") || key == "efidisk0" || key == "tpmstate0"
}

pub(super) const NIC_MODELS: &[&str] = &[
    "e1000",
    "e1000-82540em",
    "e1000-82544gc",
    "e1000-82545em",
    "e1000e",
    "i82551",
    "i82557b",
    "i82559er",
    "ne2k_isa",
    "ne2k_pci",
    "pcnet",
    "rtl8139",
    "virtio",
    "vmxnet3",
];

pub(super) fn propstring(
    key: &str,
    v: &str,
    default_key: Option<&str>,
    known: &[&str],
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
    Ok(ps)
}

pub(super) fn nested(
    key: &str,
    errors: Vec<(String, String)>,
) -> Result<String, Vec<(String, String)>> {
    let mut e = vec![(key.to_string(), "invalid format - format error".to_string())];
    e.extend(errors);
    Err(e)
}

pub(super) fn enumeration(
    key: &str,
    v: &str,
    values: &[&str],
) -> Result<String, Vec<(String, String)>> {
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

/// Parses a `netN` value into model, MAC and the rest (`virtio=MAC,bridge=…` or `model=…`).
pub(super) fn parse_net(v: &str) -> Result<(String, Option<String>, PropStr), String> {
    let mut model = None;
    let mut mac = None;
    let mut rest = PropStr::default();
    for (i, part) in v.split(',').enumerate().filter(|(_, p)| !p.is_empty()) {
        let (k, val) = match part.split_once('=') {
            Some((k, val)) => (k, Some(val)),
            None if i == 0 => (part, None),
            None => {
                return Err("value without key, but schema does not define a default key".into());
            }
        };
        if NIC_MODELS.contains(&k) {
            if model.is_some() {
                return Err("duplicate key in comma-separated list property: model".into());
            }
            model = Some(k.to_string());
            if let Some(m) = val {
                mac = Some(m.to_string());
            }
            continue;
        }
        match (k, val) {
            ("model", Some(m)) => {
                if model.is_some() {
                    return Err("key alias 'model' is already defined".into());
                }
                model = Some(m.to_string());
            }
            ("macaddr", Some(m)) => {
                if mac.is_some() {
                    return Err("duplicate key in comma-separated list property: macaddr".into());
                }
                mac = Some(m.to_string());
            }
            (k, Some(val)) => {
                if rest.get(k).is_some() {
                    return Err(format!(
                        "duplicate key in comma-separated list property: {k}"
                    ));
                }
                rest.set(k, val);
            }
            (k, None) => return Err(format!("invalid key in comma-separated list property: {k}")),
        }
    }
    let model = model.ok_or_else(|| "format error".to_string())?;
    Ok((model, mac, rest))
}

pub(super) fn print_net(model: &str, mac: &str, rest: &PropStr) -> String {
    let r = rest.print(&[], false);
    if r.is_empty() {
        format!("{model}={mac}")
    } else {
        format!("{model}={mac},{r}")
    }
}

/// Validates one VM option; returns the value to store (before allocation/MAC generation).
pub(super) fn validate(key: &str, v: &str) -> Result<String, Vec<(String, String)>> {
    let one = |r: Result<String, String>| r.map_err(|e| vec![(key.to_string(), e)]);
    let base = key.trim_end_matches(|c: char| c.is_ascii_digit());
    match base {
        "memory" => one(check::int(v, Some(16), None).map(|n| n.to_string())),
        "balloon" => one(check::int(v, Some(0), None).map(|n| n.to_string())),
        "cores" | "sockets" => one(check::int(v, Some(1), None).map(|n| n.to_string())),
        "vcpus" => one(check::int(v, Some(1), None).map(|n| n.to_string())),
        "cpuunits" => one(check::int(v, Some(1), Some(262_144)).map(|n| n.to_string())),
        "cpulimit" => one(check::number(v, 0.0, 128.0).map(|_| v.to_string())),
        "onboot" | "protection" | "template" | "numa" | "acpi" | "kvm" | "tablet" | "localtime"
        | "freeze" | "reboot" | "autostart" | "ciupgrade" => {
            one(check::boolean(v).map(str::to_string))
        }
        "name" => one(check::dns_name(v).map(|()| v.to_string())),
        "description" => one(if v.len() > 8192 {
            Err("value may only be 8192 characters long".into())
        } else {
            Ok(v.to_string())
        }),
        "startup" => one(check::startup(v).map(|()| v.to_string())),
        "nameserver" => one(check::ip_list(v).map(|_| v.to_string())),
        "searchdomain" | "ciuser" | "cipassword" | "hookscript" | "args" | "cpu" | "machine"
        | "affinity" | "hotplug" | "keyboard" | "audio" | "rng" | "watchdog" | "hostpci"
        | "usb" | "parallel" | "vmstatestorage" | "migrate_downtime" | "migrate_speed"
        | "shares" | "hugepages" => Ok(v.to_string()),
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
        "sshkeys" => Ok(v.to_string()),
        "citype" => enumeration(key, v, &["configdrive2", "nocloud", "opennebula"]),
        "bios" => enumeration(key, v, &["seabios", "ovmf"]),
        "ostype" => enumeration(
            key,
            v,
            &[
                "other", "wxp", "w2k", "w2k3", "w2k8", "wvista", "win7", "win8", "win10", "win11",
                "l24", "l26", "solaris",
            ],
        ),
        "scsihw" => enumeration(
            key,
            v,
            &[
                "lsi",
                "lsi53c810",
                "virtio-scsi-pci",
                "virtio-scsi-single",
                "megasas",
                "pvscsi",
            ],
        ),
        "lock" => enumeration(
            key,
            v,
            &[
                "backup",
                "clone",
                "create",
                "migrate",
                "rollback",
                "snapshot",
                "snapshot-delete",
                "suspending",
                "suspended",
            ],
        ),
        "serial" => one(
            if v == "socket" || (v.starts_with("/dev/") && v.len() > 5) {
                Ok(v.to_string())
            } else {
                Err("value does not match the regex pattern".into())
            },
        ),
        "bootdisk" => {
            let ok = ["ide", "sata", "scsi", "virtio"].iter().any(|p| {
                v.strip_prefix(p)
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            });
            one(if ok {
                Ok(v.to_string())
            } else {
                Err("value does not match the regex pattern".into())
            })
        }
        "boot" => {
            let ps = propstring(key, v, Some("legacy"), &["legacy", "order"])?;
            if let Some(l) = ps.get("legacy") {
                if l.is_empty()
                    || l.len() > 4
                    || !l.bytes().all(|b| matches!(b, b'a' | b'c' | b'd' | b'n'))
                {
                    return nested(
                        key,
                        vec![(
                            format!("{key}.legacy"),
                            "value does not match the regex pattern".into(),
                        )],
                    );
                }
            }
            if let Some(o) = ps.get("order") {
                for d in o.split([';', ',']).filter(|d| !d.is_empty()) {
                    if !(is_drive(d)
                        || d.starts_with("net")
                        || d.starts_with("hostpci")
                        || d.starts_with("usb"))
                    {
                        return nested(
                            key,
                            vec![(
                                format!("{key}.order"),
                                format!("invalid format - invalid boot device '{d}'\n"),
                            )],
                        );
                    }
                }
            }
            Ok(v.to_string())
        }
        "agent" => {
            let ps = propstring(
                key,
                v,
                Some("enabled"),
                &[
                    "enabled",
                    "fstrim_cloned_disks",
                    "freeze-fs-on-backup",
                    "guest-fsfreeze",
                    "type",
                ],
            )?;
            let mut errors = Vec::new();
            for b in [
                "enabled",
                "fstrim_cloned_disks",
                "freeze-fs-on-backup",
                "guest-fsfreeze",
            ] {
                if let Some(x) = ps.get(b) {
                    if let Err(e) = check::boolean(x) {
                        errors.push((format!("{key}.{b}"), e));
                    }
                }
            }
            if let Some(t) = ps.get("type") {
                if !matches!(t, "virtio" | "isa") {
                    errors.push((
                        format!("{key}.type"),
                        format!(
                            "value '{t}' does not have a value in the enumeration 'virtio, isa'"
                        ),
                    ));
                }
            }
            if errors.is_empty() {
                Ok(v.to_string())
            } else {
                nested(key, errors)
            }
        }
        "vga" => {
            let ps = propstring(key, v, Some("type"), &["type", "memory", "clipboard"])?;
            let types = [
                "cirrus",
                "qxl",
                "qxl2",
                "qxl3",
                "qxl4",
                "none",
                "serial0",
                "serial1",
                "serial2",
                "serial3",
                "std",
                "virtio",
                "virtio-gl",
                "vmware",
            ];
            match ps.get("type") {
                Some(t) if !types.contains(&t) => nested(
                    key,
                    vec![(
                        format!("{key}.type"),
                        format!(
                            "value '{t}' does not have a value in the enumeration '{}'",
                            types.join(", ")
                        ),
                    )],
                ),
                _ => Ok(v.to_string()),
            }
        }
        "smbios" => {
            propstring(
                key,
                v,
                None,
                &[
                    "uuid",
                    "version",
                    "serial",
                    "manufacturer",
                    "product",
                    "sku",
                    "family",
                    "base64",
                ],
            )?;
            Ok(v.to_string())
        }
        "vmgenid" => {
            let ok = v == "0"
                || v == "1"
                || (v.len() == 36
                    && v.bytes().enumerate().all(|(i, b)| {
                        if [8, 13, 18, 23].contains(&i) {
                            b == b'-'
                        } else {
                            b.is_ascii_hexdigit()
                        }
                    }));
            one(if ok {
                Ok(v.to_string())
            } else {
                Err("value does not match the regex pattern".into())
            })
        }
        "cicustom" => {
            let ps = propstring(key, v, None, &["meta", "network", "user", "vendor"])?;
            for (k, vol) in &ps.pairs {
                if split_volid(vol).is_none() {
                    return nested(
                        key,
                        vec![(
                            format!("{key}.{k}"),
                            format!("invalid format - unable to parse volume ID '{vol}'\n"),
                        )],
                    );
                }
            }
            Ok(v.to_string())
        }
        "net" => {
            let (model, mac, rest) = parse_net(v).map_err(|e| {
                if e == "format error" {
                    vec![
                        (key.to_string(), "invalid format - format error".to_string()),
                        (
                            format!("{key}.model"),
                            "property is missing and it is not optional\n".to_string(),
                        ),
                    ]
                } else {
                    vec![(key.to_string(), format!("invalid format - {e}\n"))]
                }
            })?;
            let known = [
                "bridge",
                "queues",
                "rate",
                "tag",
                "trunks",
                "firewall",
                "link_down",
                "mtu",
            ];
            if let Some((k, _)) = rest
                .pairs
                .iter()
                .find(|(k, _)| !known.contains(&k.as_str()))
            {
                return Err(vec![(
                    key.to_string(),
                    format!("invalid format - invalid key in comma-separated list property: {k}\n"),
                )]);
            }
            let mut errors = Vec::new();
            if !NIC_MODELS.contains(&model.as_str()) {
                errors.push((
                    format!("{key}.model"),
                    format!(
                        "value '{model}' does not have a value in the enumeration '{}'",
                        NIC_MODELS.join(", ")
                    ),
                ));
            }
            if let Some(m) = &mac {
                if let Err(e) = check::mac(m) {
                    errors.push((format!("{key}.macaddr"), e));
                }
            }
            for b in ["firewall", "link_down"] {
                if let Some(x) = rest.get(b) {
                    if let Err(e) = check::boolean(x) {
                        errors.push((format!("{key}.{b}"), e));
                    }
                }
            }
            if let Some(t) = rest.get("tag") {
                if let Err(e) = check::int(t, Some(1), Some(4094)) {
                    errors.push((format!("{key}.tag"), e));
                }
            }
            if let Some(t) = rest.get("mtu") {
                if let Err(e) = check::int(t, Some(1), Some(65520)) {
                    errors.push((format!("{key}.mtu"), e));
                }
            }
            if let Some(t) = rest.get("queues") {
                if let Err(e) = check::int(t, Some(0), Some(64)) {
                    errors.push((format!("{key}.queues"), e));
                }
            }
            if let Some(b) = rest.get("bridge") {
                if b.is_empty()
                    || b.len() > 15
                    || !b
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
                {
                    errors.push((
                        format!("{key}.bridge"),
                        format!("invalid format - invalid bridge ID '{b}'\n"),
                    ));
                }
            }
            if errors.is_empty() {
                Ok(v.to_string())
            } else {
                nested(key, errors)
            }
        }
        "ipconfig" => {
            let ps = propstring(key, v, None, &["ip", "gw", "ip6", "gw6"])?;
            let mut errors = Vec::new();
            if let Some(x) = ps.get("ip") {
                if let Err(e) = check::ipv4_config(x) {
                    errors.push((format!("{key}.ip"), format!("invalid format - {e}")));
                }
            }
            if let Some(x) = ps.get("ip6") {
                if let Err(e) = check::ipv6_config(x) {
                    errors.push((format!("{key}.ip6"), format!("invalid format - {e}")));
                }
            }
            if let Some(x) = ps.get("gw") {
                if let Err(e) = check::ipv4(x) {
                    errors.push((format!("{key}.gw"), format!("invalid format - {e}")));
                }
                if ps.get("ip").is_none() {
                    errors.push((
                        format!("{key}.ip"),
                        format!("missing property - '{key}.gw' requires this property"),
                    ));
                }
            }
            if let Some(x) = ps.get("gw6") {
                if x.parse::<std::net::Ipv6Addr>().is_err() {
                    errors.push((
                        format!("{key}.gw6"),
                        "invalid format - value does not look like a valid IPv6 address\n".into(),
                    ));
                }
                if ps.get("ip6").is_none() {
                    errors.push((
                        format!("{key}.ip6"),
                        format!("missing property - '{key}.gw6' requires this property"),
                    ));
                }
            }
            if errors.is_empty() {
                Ok(v.to_string())
            } else {
                nested(key, errors)
            }
        }
        "unused" => Ok(v.to_string()),
        "ide" | "sata" | "scsi" | "virtio" | "efidisk" | "tpmstate" | "cdrom" => {
            let known = [
                "file",
                "volume",
                "media",
                "size",
                "format",
                "cache",
                "discard",
                "ssd",
                "iothread",
                "backup",
                "replicate",
                "aio",
                "serial",
                "ro",
                "import-from",
                "snapshot",
                "detect_zeroes",
                "werror",
                "rerror",
                "wwn",
                "model",
                "product",
                "vendor",
                "queues",
                "shared",
                "efitype",
                "pre-enrolled-keys",
                "version",
                "mbps",
                "iops",
            ];
            let ps = propstring(key, v, Some("file"), &known)?;
            let mut errors = Vec::new();
            if ps.get("file").is_none() && ps.get("volume").is_none() {
                errors.push((
                    format!("{key}.file"),
                    "property is missing and it is not optional\n".into(),
                ));
            }
            if let Some(m) = ps.get("media") {
                if !matches!(m, "cdrom" | "disk") {
                    errors.push((
                        format!("{key}.media"),
                        format!(
                            "value '{m}' does not have a value in the enumeration 'cdrom, disk'"
                        ),
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
            if let Some(d) = ps.get("discard") {
                if !matches!(d, "ignore" | "on") {
                    errors.push((
                        format!("{key}.discard"),
                        format!(
                            "value '{d}' does not have a value in the enumeration 'ignore, on'"
                        ),
                    ));
                }
            }
            for b in [
                "ssd",
                "iothread",
                "backup",
                "replicate",
                "ro",
                "shared",
                "snapshot",
            ] {
                if let Some(x) = ps.get(b) {
                    if let Err(e) = check::boolean(x) {
                        errors.push((format!("{key}.{b}"), e));
                    }
                }
            }
            if errors.is_empty() {
                Ok(v.to_string())
            } else {
                nested(key, errors)
            }
        }
        _ => Ok(v.to_string()),
    }
}

pub(super) fn validate_all(
    p: &Parsed,
    skip: &[&str],
    u: &str,
) -> Result<BTreeMap<String, String>, Outcome> {
    let mut errors = Vec::new();
    let mut out = BTreeMap::new();
    for (k, v) in &p.opts {
        if skip.contains(&k.as_str()) {
            continue;
        }
        match validate(k, v) {
            Ok(n) => {
                out.insert(k.clone(), n);
            }
            Err(e) => errors.extend(e),
        }
    }
    if let Some(c) = out.remove("cdrom") {
        let c = if c.contains("media=") {
            c
        } else {
            format!("{c},media=cdrom")
        };
        out.insert("ide2".into(), c);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(param_error(&errors, u))
    }
}

pub(super) fn split_list(s: Option<&str>) -> Vec<String> {
    s.map(|s| {
        s.split([',', ';', ' '])
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}
