//! `qm`: virtual machines (qemu-server), as the simulator runs them.
//!
//! Refusals print Proxmox's text and exit 255; `template` and `disk resize` exit 0 when their
//! task fails, as the real CLI does. A VM's file system (for `qm guest exec`, whose
//! `--pass-stdin` forwards qm's stdin) lives in `var/lib/pve-sim/vmfs/<vmid>/`; the guest
//! agent answers `vm_boot_secs` after a start. Starting a VM with a cloud-init drive reads its
//! `cicustom` snippets and applies the user-data to that tree ([`crate::cloudinit`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value, json};

use crate::Ctx;
use crate::args::{Kind, Parsed};
use crate::conf::{Flavor, GuestConf, Section, print_config};
use crate::guestfs::GuestFs;
use crate::outcome::{Effect, Outcome};
use crate::propstr::PropStr;
use crate::state::ExecJob;
use crate::storage::{StorageCfg, parse_volname, split_volid};
use crate::tools::ct_opts::{disk_size, format_size};
use crate::tools::guest::{self, check_lock, is_template};
use crate::tools::{check, die, param_error, parse_opts, perljson, positionals, task_error_exit0};

const F: Flavor = Flavor::Qemu;

/// Top-level commands and their usage; `disk`, `guest` and `cloudinit` have subcommands.
const COMMANDS: &[(&str, &str)] = &[
    ("agent", "<vmid> <command>"),
    ("clone", "<vmid> <newid> [OPTIONS]"),
    ("cloudinit", "<dump|pending|update> <vmid> ..."),
    ("config", "<vmid> [OPTIONS]"),
    ("create", "<vmid> [OPTIONS]"),
    ("delsnapshot", "<vmid> <snapname> [OPTIONS]"),
    ("destroy", "<vmid> [OPTIONS]"),
    ("disk", "<import|resize> ..."),
    ("guest", "<cmd|exec|exec-status> ..."),
    ("importdisk", "<vmid> <source> <storage> [OPTIONS]"),
    ("list", "[OPTIONS]"),
    ("listsnapshot", "<vmid>"),
    ("pending", "<vmid>"),
    ("reboot", "<vmid> [OPTIONS]"),
    ("resize", "<vmid> <disk> <size> [OPTIONS]"),
    ("rollback", "<vmid> <snapname> [OPTIONS]"),
    ("set", "<vmid> [OPTIONS]"),
    ("shutdown", "<vmid> [OPTIONS]"),
    ("snapshot", "<vmid> <snapname> [OPTIONS]"),
    ("start", "<vmid> [OPTIONS]"),
    ("status", "<vmid> [OPTIONS]"),
    ("stop", "<vmid> [OPTIONS]"),
    ("template", "<vmid> [OPTIONS]"),
    ("unlock", "<vmid>"),
];

const SUBCOMMANDS: &[(&str, &[(&str, &str)])] = &[
    (
        "disk",
        &[
            ("import", "<vmid> <source> <storage> [OPTIONS]"),
            ("resize", "<vmid> <disk> <size> [OPTIONS]"),
        ],
    ),
    (
        "guest",
        &[
            ("cmd", "<vmid> <command>"),
            ("exec", "<vmid> [<extra-args>] [OPTIONS]"),
            ("exec-status", "<vmid> <pid>"),
        ],
    ),
    (
        "cloudinit",
        &[
            ("dump", "<vmid> <type>"),
            ("pending", "<vmid>"),
            ("update", "<vmid>"),
        ],
    ),
];

fn usage(cmd: &str) -> String {
    let (group, sub) = cmd.split_once(' ').unwrap_or((cmd, ""));
    let u = if sub.is_empty() {
        COMMANDS
            .iter()
            .find(|(c, _)| *c == group)
            .map_or("", |(_, u)| u)
    } else {
        SUBCOMMANDS
            .iter()
            .find(|(g, _)| *g == group)
            .and_then(|(_, s)| s.iter().find(|(c, _)| *c == sub))
            .map_or("", |(_, u)| u)
    };
    format!("qm {cmd} {u}")
}

/// Cloud-init options (applied at once on a running VM; tracked in `[special:cloudinit]`).
const CLOUDINIT_KEYS: &[&str] = &[
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
const FAST_PLUG: &[&str] = &[
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
const OPTIONS: &[(&str, Kind)] = &[
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
fn numbered(name: &str) -> Option<Kind> {
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

fn exists(key: &str) -> bool {
    OPTIONS.iter().any(|(k, _)| *k == key) || numbered(key).is_some()
}

fn is_drive(key: &str) -> bool {
    let base = key.trim_end_matches(|c: char| c.is_ascii_digit());
    matches!(base, "ide" | "sata" | "scsi" | "virtio") || key == "efidisk0" || key == "tpmstate0"
}

const NIC_MODELS: &[&str] = &[
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

type R = Result<Outcome, Outcome>;

fn cost(ctx: &Ctx, op: &str) -> f64 {
    ctx.knobs.cost(op)
}

/// Runs `qm <args>`.
pub fn run(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let cmd = match crate::tools::resolve("qm", args.first().map(String::as_str), COMMANDS) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let mut rest = &args[1..];
    // Aliases: `importdisk` = `disk import`, `resize` = `disk resize`, `agent` = `guest cmd`.
    let full = match cmd {
        "importdisk" => "disk import".to_string(),
        "resize" => "disk resize".to_string(),
        "agent" => "guest cmd".to_string(),
        "disk" | "guest" | "cloudinit" => {
            let subs = subcommands(cmd);
            let Some(sub) = rest.first() else {
                return Outcome::refuse(format!(
                    "ERROR: incomplete command 'qm {cmd}'\nUSAGE: qm <COMMAND> [ARGS] [OPTIONS]\n"
                ));
            };
            let Some(name) = subcommand(subs, sub) else {
                return Outcome::refuse(format!(
                    "ERROR: unknown command 'qm {cmd} {sub}'\nUSAGE: qm <COMMAND> [ARGS] [OPTIONS]\n"
                ));
            };
            rest = &rest[1..];
            format!("{cmd} {name}")
        }
        c => c.to_string(),
    };
    let out = match full.as_str() {
        "create" => create(ctx, rest),
        "disk import" => import_disk(ctx, rest),
        "set" => set(ctx, rest),
        "disk resize" => resize(ctx, rest),
        "clone" => clone(ctx, rest),
        "template" => template(ctx, rest),
        "start" => start(ctx, rest),
        "stop" | "shutdown" => stop(ctx, rest, &full),
        "reboot" => reboot(ctx, rest),
        "status" => status(ctx, rest),
        "config" => config(ctx, rest),
        "pending" => pending(ctx, rest),
        "list" => list(ctx, rest),
        "snapshot" => snapshot(ctx, rest),
        "listsnapshot" => listsnapshot(ctx, rest),
        "delsnapshot" => delsnapshot(ctx, rest),
        "rollback" => rollback(ctx, rest),
        "guest exec" => guest_exec(ctx, rest),
        "guest exec-status" => exec_status(ctx, rest),
        "guest cmd" => guest_cmd(ctx, rest),
        "cloudinit update" => cloudinit_update(ctx, rest),
        "cloudinit dump" => cloudinit_dump(ctx, rest),
        "cloudinit pending" => cloudinit_pending(ctx, rest),
        "destroy" => destroy(ctx, rest),
        "unlock" => unlock(ctx, rest),
        other => Err(die(format!("qm {other}: not simulated"))),
    };
    out.unwrap_or_else(|o| o)
}

/// The subcommands of `disk`, `guest` or `cloudinit`.
fn subcommands(group: &str) -> &'static [(&'static str, &'static str)] {
    SUBCOMMANDS
        .iter()
        .find(|(g, _)| *g == group)
        .map_or(&[][..], |(_, s)| *s)
}

/// A subcommand by exact name or unique prefix.
fn subcommand(subs: &[(&'static str, &str)], sub: &str) -> Option<&'static str> {
    subs.iter()
        .find(|(c, _)| *c == sub)
        .or_else(|| {
            let m: Vec<&(&str, &str)> = subs.iter().filter(|(c, _)| c.starts_with(sub)).collect();
            if m.len() == 1 { Some(m[0]) } else { None }
        })
        .map(|(c, _)| *c)
}

/// Parses options and the VMID (first positional).
fn opts(
    args: &[String],
    cmd: &str,
    spec: &[(&str, Kind)],
    n_pos: usize,
) -> Result<(Parsed, u32), Outcome> {
    let u = usage(cmd);
    let p = parse_opts(args, spec, &|_| None, &u)?;
    positionals(&p, n_pos, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    Ok((p, id))
}

/// A deterministic UUID from the host state and a salt.
fn uuid(ctx: &Ctx, salt: u64) -> String {
    let seed = format!(
        "{}:{}:{}:{salt}",
        ctx.state.seq, ctx.state.clock_ms, ctx.state.node
    );
    let h = sha1_smol::Sha1::from(seed).digest().to_string();
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn mac(ctx: &mut Ctx, salt: u64) -> String {
    crate::tools::random_mac(ctx, salt)
}

// ---------------------------------------------------------------------------------------
// Validation

fn propstring(
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

fn nested(key: &str, errors: Vec<(String, String)>) -> Result<String, Vec<(String, String)>> {
    let mut e = vec![(key.to_string(), "invalid format - format error".to_string())];
    e.extend(errors);
    Err(e)
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

/// Parses a `netN` value into model, MAC and the rest (`virtio=MAC,bridge=…` or `model=…`).
fn parse_net(v: &str) -> Result<(String, Option<String>, PropStr), String> {
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

fn print_net(model: &str, mac: &str, rest: &PropStr) -> String {
    let r = rest.print(&[], false);
    if r.is_empty() {
        format!("{model}={mac}")
    } else {
        format!("{model}={mac},{r}")
    }
}

/// Validates one VM option; returns the value to store (before allocation/MAC generation).
fn validate(key: &str, v: &str) -> Result<String, Vec<(String, String)>> {
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

fn validate_all(p: &Parsed, skip: &[&str], u: &str) -> Result<BTreeMap<String, String>, Outcome> {
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

// ---------------------------------------------------------------------------------------
// Drives

/// A drive value: `file` plus options.
#[derive(Clone, Debug)]
struct Drive {
    ps: PropStr,
}

impl Drive {
    fn parse(v: &str) -> Option<Self> {
        let mut ps = PropStr::parse(v, Some("file")).ok()?;
        if let Some(vol) = ps.remove("volume") {
            ps.set("file", vol);
        }
        ps.get("file")?;
        Some(Self { ps })
    }

    fn file(&self) -> &str {
        self.ps.get("file").unwrap_or_default()
    }

    fn is_cdrom(&self) -> bool {
        self.ps.get("media") == Some("cdrom")
    }

    fn is_cloudinit(&self) -> bool {
        let f = self.file();
        let name = f.rsplit([':', '/']).next().unwrap_or(f);
        let name = name.trim_end_matches(".qcow2").trim_end_matches(".raw");
        name == "cloudinit" || (name.starts_with("vm-") && name.ends_with("-cloudinit"))
    }

    fn print(&self) -> String {
        self.ps.print(&["file"], true)
    }
}

fn drives(s: &Section) -> Vec<(String, Drive)> {
    s.keys
        .iter()
        .filter(|(k, _)| is_drive(k))
        .filter_map(|(k, v)| Drive::parse(v).map(|d| (k.clone(), d)))
        .collect()
}

fn cloudinit_drive(s: &Section) -> Option<(String, Drive)> {
    drives(s).into_iter().find(|(_, d)| d.is_cloudinit())
}

/// Allocates a new VM disk (`vm-<id>-disk-N`) or cloud-init volume on a storage.
fn alloc_vm_volume(
    ctx: &mut Ctx,
    cfg: &StorageCfg,
    sid: &str,
    id: u32,
    size: u64,
    cloudinit: bool,
) -> Result<String, String> {
    let st = cfg
        .get(sid)
        .ok_or_else(|| format!("storage '{sid}' does not exist"))?
        .clone();
    if st.disabled() {
        return Err(format!("storage '{sid}' is disabled"));
    }
    if !st.has_content("images") {
        return Err(format!("storage '{sid}' does not support vm images"));
    }
    if !cloudinit {
        return ctx.state.alloc_disk(&ctx.root, cfg, sid, id, false, size);
    }
    match st.kind.as_str() {
        "zfspool" => {
            let pool = st.pool().unwrap_or_default();
            let name = format!("vm-{id}-cloudinit");
            let mut props = BTreeMap::new();
            props.insert("volsize".to_string(), "4M".to_string());
            ctx.state
                .zfs_create(
                    &ctx.root,
                    &format!("{pool}/{name}"),
                    crate::state::DsKind::Volume,
                    props,
                )
                .map_err(|e| format!("zfs error: {e}"))?;
            Ok(format!("{sid}:{name}"))
        }
        _ => {
            let dir = ctx
                .root
                .host(st.path().unwrap_or("/"))
                .join("images")
                .join(id.to_string());
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let name = format!("vm-{id}-cloudinit.qcow2");
            std::fs::write(dir.join(&name), b"").map_err(|e| e.to_string())?;
            crate::root::write_atomic(
                &dir.join(format!("{name}.size")),
                (4u64 << 20).to_string().as_bytes(),
            )
            .map_err(|e| format!("{e:#}"))?;
            Ok(format!("{sid}:{id}/{name}"))
        }
    }
}

/// `STORAGE:SIZE` / `STORAGE:cloudinit` / an existing volume / a path / `none`: turns a drive
/// parameter into what is stored, allocating when asked. Returns the value and a creation line.
fn prepare_drive(
    ctx: &mut Ctx,
    cfg: &StorageCfg,
    id: u32,
    key: &str,
    v: &str,
    conf: &GuestConf,
) -> Result<(String, Option<String>), Outcome> {
    let mut d = Drive::parse(v).ok_or_else(|| {
        param_error(
            &[(key.to_string(), "invalid format - format error".into())],
            &usage("set"),
        )
    })?;
    let file = d.file().to_string();
    if file == "none" || file == "cdrom" || file.starts_with("/dev/") {
        return Ok((d.print(), None));
    }
    let new_disk = file
        .split_once(':')
        .and_then(|(s, n)| n.parse::<f64>().ok().map(|n| (s.to_string(), n)));
    if let Some((sid, gb)) = new_disk {
        let bytes = (gb * f64::from(1u32 << 30)).round() as u64;
        let volid = alloc_vm_volume(ctx, cfg, &sid, id, bytes, false)
            .map_err(|e| die(format!("unable to create disk '{key}' - {e}")))?;
        d.ps.set("file", volid);
        d.ps.set("size", format_size(bytes));
        let printed = d.print();
        return Ok((
            printed.clone(),
            Some(format!("{key}: successfully created disk '{printed}'\n")),
        ));
    }
    if let Some((sid, "cloudinit")) = file.split_once(':') {
        if let Some((ci_key, _)) = cloudinit_drive(&conf.with_pending()) {
            if ci_key != key {
                return Err(die(format!(
                    "{key} - cloud-init drive is already attached at '{ci_key}'"
                )));
            }
        }
        let volid = alloc_vm_volume(ctx, cfg, sid, id, 4 << 20, true)
            .map_err(|e| die(format!("unable to create disk '{key}' - {e}")))?;
        d.ps.set("file", volid);
        d.ps.set("media", "cdrom");
        let printed = d.print();
        return Ok((
            printed.clone(),
            Some(format!("{key}: successfully created disk '{printed}'\n")),
        ));
    }
    let Some((sid, vname)) = split_volid(&file) else {
        return Err(die(format!("unable to parse volume ID '{file}'")));
    };
    if cfg.get(sid).is_none() {
        return Err(die(format!("storage '{sid}' does not exist")));
    }
    if vname.starts_with("iso/") {
        if !d.is_cdrom() {
            return Err(param_error(
                &[(
                    key.to_string(),
                    "explicit 'media=cdrom' is required for iso images".into(),
                )],
                &usage("set"),
            ));
        }
        if ctx
            .state
            .volume_path(&ctx.root, cfg, &file)
            .is_none_or(|p| !p.exists())
        {
            return Err(die(format!("volume '{file}' does not exist")));
        }
        return Ok((d.print(), None));
    }
    let Some(size) = ctx.state.volume_size(&ctx.root, cfg, &file).filter(|_| {
        ctx.state
            .volume_path(&ctx.root, cfg, &file)
            .is_some_and(|p| p.exists() || p.starts_with(ctx.root.host("/dev/zvol")))
    }) else {
        return Err(die(format!("volume '{file}' does not exist")));
    };
    if !d.is_cdrom() {
        d.ps.set("size", format_size(size));
    }
    Ok((d.print(), None))
}

fn add_unused(conf: &mut GuestConf, volid: &str) -> String {
    if let Some((k, _)) = conf
        .main
        .keys
        .iter()
        .find(|(k, v)| k.starts_with("unused") && *v == volid)
    {
        return k.clone();
    }
    let idx = (0..256)
        .find(|i| conf.main.get(&format!("unused{i}")).is_none())
        .unwrap_or(255);
    let key = format!("unused{idx}");
    conf.main.set(&key, volid);
    key
}

fn owner_of(volid: &str) -> Option<u32> {
    split_volid(volid)
        .and_then(|(_, n)| parse_volname(n))
        .map(|v| v.vmid)
}

// ---------------------------------------------------------------------------------------
// VM file system

fn vm_fs(ctx: &Ctx, id: u32) -> GuestFs {
    let root = ctx.root.data().join("vmfs").join(id.to_string());
    if !root.exists() {
        for d in [
            "etc",
            "root",
            "tmp",
            "var/log",
            "usr/local/bin",
            "opt",
            "run",
        ] {
            let _ = std::fs::create_dir_all(root.join(d));
        }
        let _ = std::fs::write(
            root.join("etc/os-release"),
            "ID=ubuntu\nVERSION_ID=\"24.04\"\nPRETTY_NAME=\"Ubuntu 24.04 LTS (pve-sim)\"\n",
        );
        let _ = std::fs::write(root.join("etc/fstab"), "");
    }
    GuestFs {
        root,
        mounts: Vec::new(),
    }
}

fn vmfs_dir(ctx: &Ctx, id: u32) -> PathBuf {
    ctx.root.data().join("vmfs").join(id.to_string())
}

fn vmfs_snapshot_dir(ctx: &Ctx, id: u32, snap: &str) -> PathBuf {
    ctx.root
        .data()
        .join("vmfs-snapshots")
        .join(format!("{id}@{snap}"))
}

// ---------------------------------------------------------------------------------------
// Commands

/// `cicustom` volumes must be snippets on a storage that holds them.
fn check_cicustom(ctx: &Ctx, v: Option<&String>) -> Result<(), Outcome> {
    let Some(v) = v else { return Ok(()) };
    let cfg = StorageCfg::load(&ctx.root);
    for (_, volid) in PropStr::parse(v, None).unwrap_or_default().pairs {
        let Some((sid, name)) = split_volid(&volid) else {
            continue;
        };
        let Some(st) = cfg.get(sid) else {
            return Err(die(format!("storage '{sid}' does not exist")));
        };
        if !name.starts_with("snippets/") || !st.has_content("snippets") {
            return Err(die(format!(
                "unable to use volume {volid} - content type needs to be 'snippets'"
            )));
        }
    }
    Ok(())
}

/// The `cicustom` snippets as `vm_start` reads them while generating the cloud-init ISO
/// (`read_cloudinit_snippets_file`, in the order network, user, meta, vendor): each must be
/// a file in its storage's `snippets/` directory. Returns the user-data snippet's text.
fn cicustom_user_data(
    ctx: &Ctx,
    cfg: &StorageCfg,
    conf: &Section,
) -> Result<Option<String>, Outcome> {
    let Some(v) = conf.get("cicustom") else {
        return Ok(None);
    };
    let pairs = PropStr::parse(v, None).unwrap_or_default().pairs;
    let mut user = None;
    for key in ["network", "user", "meta", "vendor"] {
        let Some((_, volid)) = pairs.iter().find(|(k, _)| k == key) else {
            continue;
        };
        let Some((sid, name)) = split_volid(volid) else {
            return Err(die(format!("unable to parse volume ID '{volid}'")));
        };
        if cfg.get(sid).is_none() {
            return Err(die(format!("storage '{sid}' does not exist")));
        }
        if !name.starts_with("snippets/") {
            return Err(die(format!("{volid} is not in the snippets directory")));
        }
        let text = ctx
            .state
            .volume_path(&ctx.root, cfg, volid)
            .filter(|p| p.is_file())
            .and_then(|p| std::fs::read(p).ok())
            .ok_or_else(|| die(format!("can't find file '{volid}'")))?;
        if key == "user" {
            user = Some(String::from_utf8_lossy(&text).into_owned());
        }
    }
    Ok(user)
}

/// Options `qm create` takes besides the config keys.
const CREATE_EXTRA: &[(&str, Kind)] = &[
    ("archive", Kind::Value),
    ("bwlimit", Kind::Value),
    ("force", Kind::Bool),
    ("live-restore", Kind::Bool),
    ("pool", Kind::Value),
    ("start", Kind::Bool),
    ("storage", Kind::Value),
    ("unique", Kind::Bool),
];

fn uri_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A `$5$` crypt-looking hash (deterministic; the simulator never needs to verify it).
fn encrypt_pw(pw: &str, salt_seed: u64) -> String {
    const CHARS: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let h = sha1_smol::Sha1::from(format!("{salt_seed}:{pw}"))
        .digest()
        .bytes();
    let h2 = sha1_smol::Sha1::from(format!("{pw}:{salt_seed}"))
        .digest()
        .bytes();
    let bytes: Vec<u8> = h.iter().chain(h2.iter()).chain(h.iter()).copied().collect();
    let salt: String = bytes[..8]
        .iter()
        .map(|b| CHARS[(*b as usize) % 64] as char)
        .collect();
    let body: String = bytes[8..51]
        .iter()
        .map(|b| CHARS[(*b as usize) % 64] as char)
        .collect();
    format!("$5${salt}${body}")
}

/// `qm create <vmid> [OPTIONS]`.
fn create(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("create");
    let mut spec: Vec<(&str, Kind)> = OPTIONS.to_vec();
    spec.extend_from_slice(CREATE_EXTRA);
    let p = parse_opts(args, &spec, &numbered, &u)?;
    positionals(&p, 1, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let mut values = validate_all(
        &p,
        &CREATE_EXTRA.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        &u,
    )?;
    if let Some(k) = guest::existing_kind(ctx, id) {
        return Err(die(format!(
            "unable to create VM {id} - {k} {id} already exists on node '{}'",
            ctx.state.node
        )));
    }
    check_cicustom(ctx, values.get("cicustom"))?;
    if let Some(path) = values.get("sshkeys").cloned() {
        let keys = std::fs::read_to_string(&path)
            .map_err(|_| die(format!("unable to read file '{path}'")))?;
        values.insert("sshkeys".into(), uri_escape(&keys));
    }
    let cfg = StorageCfg::load(&ctx.root);
    let mut conf = GuestConf::default();
    let mut out = String::new();
    // MACs are added before the worker, drives allocated inside it.
    let mut salt = 0;
    for (k, v) in values.clone() {
        if k.starts_with("net") {
            salt += 1;
            let (model, mac_given, rest) = parse_net(&v).map_err(die)?;
            let m = mac_given.unwrap_or_else(|| mac(ctx, u64::from(id) * 100 + salt));
            values.insert(k, print_net(&model, &m, &rest));
        }
    }
    let mut allocated: Vec<String> = Vec::new();
    for (k, v) in &values {
        if k == "description" {
            conf.main.description = Some(v.clone());
            continue;
        }
        if is_drive(k) {
            match prepare_drive(ctx, &cfg, id, k, v, &conf) {
                Ok((val, line)) => {
                    if let Some(l) = line {
                        out.push_str(&l);
                        if let Some(d) = Drive::parse(&val) {
                            allocated.push(d.file().to_string());
                        }
                    }
                    conf.main.set(k, val);
                }
                Err(e) => {
                    for vol in &allocated {
                        let _ = ctx.state.volume_free(&ctx.root, &cfg, vol);
                    }
                    let msg = e.stderr.trim_end().to_string();
                    return Err(Outcome {
                        stdout: out,
                        ..die(format!("unable to create VM {id} - {msg}"))
                    });
                }
            }
            continue;
        }
        conf.main.set(k, v.clone());
    }
    let now = ctx.state.now();
    conf.main
        .set("meta", format!("creation-qemu=9.2.0,ctime={now}"));
    if conf.main.get("smbios1").is_none() {
        conf.main
            .set("smbios1", format!("uuid={}", uuid(ctx, u64::from(id))));
    }
    if conf.main.get("vmgenid").is_none_or(|v| v == "1") {
        conf.main.set("vmgenid", uuid(ctx, u64::from(id) + 7));
    }
    if conf.main.get("vmgenid") == Some("0") {
        conf.main.remove("vmgenid");
    }
    if conf.main.get("boot").is_none() {
        conf.main.set("boot", default_boot_order(&conf.main));
    }
    guest::save(ctx, F, id, &conf)?;
    let mut o = Outcome::ok(Effect::Mutate)
        .out(out)
        .secs(cost(ctx, "qm.create"))
        .guest(id);
    if p.flag("start") {
        o.stdout.push_str("Execute autostart\n");
        let s = start_vm(ctx, id)?;
        o.stdout.push_str(&s.stdout);
        o.secs += s.secs;
    }
    Ok(o)
}

/// `get_default_bootdevices` + `print_bootorder`.
fn default_boot_order(s: &Section) -> String {
    let mut devs = Vec::new();
    let ds = drives(s);
    let order = |k: &str| -> (u8, u32) {
        let base = k.trim_end_matches(|c: char| c.is_ascii_digit());
        let n = k[base.len()..].parse().unwrap_or(0);
        (
            ["ide", "scsi", "virtio", "sata"]
                .iter()
                .position(|b| *b == base)
                .unwrap_or(9) as u8,
            n,
        )
    };
    let mut disks: Vec<&(String, Drive)> = ds
        .iter()
        .filter(|(k, d)| !d.is_cdrom() && k != "efidisk0" && k != "tpmstate0")
        .collect();
    disks.sort_by_key(|(k, _)| order(k));
    if let Some((k, _)) = disks.first() {
        devs.push(k.clone());
    }
    let mut cds: Vec<&(String, Drive)> = ds.iter().filter(|(_, d)| d.is_cdrom()).collect();
    cds.sort_by_key(|(k, _)| order(k));
    if let Some((k, _)) = cds.first() {
        devs.push(k.clone());
    }
    let mut nets: Vec<&String> = s.keys.keys().filter(|k| k.starts_with("net")).collect();
    nets.sort_by_key(|k| k[3..].parse::<u32>().unwrap_or(0));
    if let Some(n) = nets.first() {
        devs.push((*n).clone());
    }
    if devs.is_empty() {
        String::new()
    } else {
        format!("order={}", devs.join(";"))
    }
}

/// The virtual size of an image file: a `pve-sim disk image, virtual size N` header, or the
/// file's length.
fn image_size(path: &std::path::Path) -> Option<u64> {
    let meta = std::fs::metadata(path).ok()?;
    let head = std::fs::read(path)
        .ok()
        .map(|b| String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned())
        .unwrap_or_default();
    let declared = head
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("pve-sim disk image, virtual size "))
        .and_then(|n| n.trim().parse().ok());
    Some(declared.unwrap_or_else(|| meta.len().div_ceil(1 << 20) << 20))
}

fn render_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v > 1023.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", units[i])
}

/// `qm disk import <vmid> <source> <storage> [--format] [--target-disk]`.
fn import_disk(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("disk import");
    let p = parse_opts(
        args,
        &[("format", Kind::Value), ("target-disk", Kind::Value)],
        &|_| None,
        &u,
    )?;
    positionals(&p, 3, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let (source, sid) = (p.positional[1].clone(), p.positional[2].clone());
    if let Some(f) = p.get("format") {
        if !matches!(f, "raw" | "qcow2" | "vmdk") {
            return Err(param_error(
                &[(
                    "format".into(),
                    format!(
                        "value '{f}' does not have a value in the enumeration 'raw, qcow2, vmdk'"
                    ),
                )],
                &u,
            ));
        }
    }
    let src = std::path::Path::new(&source);
    if !src.is_file() {
        return Err(die(format!("{source}: non-existent or non-regular file")));
    }
    let mut conf = guest::load(ctx, F, id)?;
    check_lock(&conf, F)?;
    let cfg = StorageCfg::load(&ctx.root);
    let Some(st) = cfg.get(&sid) else {
        return Err(die(format!("storage '{sid}' does not exist")));
    };
    if !st.has_content("images") {
        return Err(die(format!("storage {sid} does not support vm images")));
    }
    if let Some(t) = p.get("target-disk") {
        if conf.main.get(t).is_some() {
            return Err(die(format!(
                "cowardly refusing to overwrite existing entry: {t}"
            )));
        }
    }
    let size = image_size(src).unwrap_or(0);
    let mut out = format!("importing disk '{source}' to VM {id} ...\n");
    let mut stderr = String::new();
    if st.kind == "zfspool" && p.get("format").is_some_and(|f| f != "raw") {
        stderr.push_str(&format!(
            "format '{}' is not supported by the target storage - using 'raw' instead\n",
            p.get("format").unwrap_or("")
        ));
    }
    let volid = alloc_vm_volume(ctx, &cfg, &sid, id, size, false)
        .map_err(|e| die(format!("unable to import disk - {e}")))?;
    for pct in [0u64, 25, 50, 75, 100] {
        out.push_str(&format!(
            "transferred {} of {} ({pct}.00%)\n",
            render_bytes(size * pct / 100),
            render_bytes(size)
        ));
    }
    let key = match p.get("target-disk") {
        Some(t) => {
            // Proxmox records the imported volume with its size.
            conf.main
                .set(t, format!("{volid},size={}", format_size(size)));
            t.to_string()
        }
        None => add_unused(&mut conf, &volid),
    };
    out.push_str(&format!("{key}: successfully imported disk '{volid}'\n"));
    guest::save(ctx, F, id, &conf)?;
    let secs = cost(ctx, "qm.importdisk_per_gb") * size as f64 / f64::from(1u32 << 30);
    Ok(Outcome {
        stderr,
        ..Outcome::ok(Effect::Mutate)
    }
    .out(out)
    .secs(secs.max(0.1))
    .guest(id)
    .storage(sid))
}

fn split_list(s: Option<&str>) -> Vec<String> {
    s.map(|s| {
        s.split([',', ';', ' '])
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

/// `qm set <vmid> [OPTIONS]`.
fn set(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("set");
    let mut spec: Vec<(&str, Kind)> = OPTIONS.to_vec();
    spec.extend([
        ("delete", Kind::Value),
        ("revert", Kind::Value),
        ("digest", Kind::Value),
        ("force", Kind::Bool),
        ("skiplock", Kind::Bool),
    ]);
    let p = parse_opts(args, &spec, &numbered, &u)?;
    positionals(&p, 1, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let mut values = validate_all(&p, &["delete", "revert", "digest", "force", "skiplock"], &u)?;
    let deletes: Vec<String> = split_list(p.get("delete"))
        .into_iter()
        .map(|d| if d == "cdrom" { "ide2".into() } else { d })
        .collect();
    let reverts = split_list(p.get("revert"));
    if values.is_empty() && deletes.is_empty() && reverts.is_empty() {
        return Err(die("no options specified"));
    }
    for o in &reverts {
        if !exists(o) {
            return Err(param_error(
                &[("revert".into(), format!("unknown option '{o}'"))],
                &u,
            ));
        }
    }
    for o in &deletes {
        if values.contains_key(o) {
            return Err(param_error(
                &[(
                    "delete".into(),
                    format!("you can't use '-{o}' and -delete {o}' at the same time"),
                )],
                &u,
            ));
        }
        if reverts.contains(o) {
            return Err(param_error(
                &[(
                    "revert".into(),
                    format!("you can't use '-delete {o}' and -revert {o}' at the same time"),
                )],
                &u,
            ));
        }
        if !exists(o) {
            return Err(param_error(
                &[("delete".into(), format!("unknown option '{o}'"))],
                &u,
            ));
        }
    }
    // The log line, as typed (cipassword hidden).
    let mut logged: Vec<(String, String)> = p
        .opts
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "digest" | "skiplock"))
        .map(|(k, v)| {
            (
                k.clone(),
                if k == "cipassword" {
                    "<hidden>".into()
                } else {
                    v.clone()
                },
            )
        })
        .collect();
    logged.sort();
    let mut conf = guest::load(ctx, F, id)?;
    if let Some(d) = p.get("digest") {
        let cur = sha1_smol::Sha1::from(conf.render(F)).digest().to_string();
        if d != cur {
            return Err(die("checksum mismatch (file change by other user?)"));
        }
    }
    if !p.flag("skiplock") {
        check_lock(&conf, F)?;
    }
    check_cicustom(ctx, values.get("cicustom"))?;
    if let Some(path) = values.get("sshkeys").cloned() {
        let keys = std::fs::read_to_string(&path)
            .map_err(|_| die(format!("unable to read file '{path}'")))?;
        values.insert("sshkeys".into(), uri_escape(&keys));
    }
    // Normalisation: MACs, vmgenid, boot order.
    let mut salt = 0;
    for (k, v) in values.clone() {
        if k.starts_with("net") {
            salt += 1;
            let (model, mac_given, rest) = parse_net(&v).map_err(die)?;
            let m = mac_given.unwrap_or_else(|| mac(ctx, u64::from(id) * 1000 + salt));
            values.insert(k, print_net(&model, &m, &rest));
        }
    }
    if values.get("vmgenid").is_some_and(|v| v == "1") {
        values.insert("vmgenid".into(), uuid(ctx, u64::from(id) + 11));
    }
    if let Some(b) = values.get("boot").cloned() {
        if let Ok(ps) = PropStr::parse(&b, Some("legacy")) {
            if let Some(order) = ps.get("order") {
                let merged = conf.with_pending();
                for dev in order.split([';', ',']).filter(|d| !d.is_empty()) {
                    if merged.get(dev).is_none() && !values.contains_key(dev) {
                        return Err(die(format!(
                            "invalid bootorder: device '{dev}' does not exist'"
                        )));
                    }
                }
                if merged.get("bootdisk").is_some() && !values.contains_key("bootdisk") {
                    conf.add_pending_delete("bootdisk");
                }
            }
        }
    }
    let cfg = StorageCfg::load(&ctx.root);
    let running = ctx.state.running(id);
    let protected = conf.main.get("protection") == Some("1");
    let mut out = format!(
        "update VM {id}: {}\n",
        logged
            .iter()
            .map(|(k, v)| format!("-{k} {v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut stderr = String::new();
    for o in &reverts {
        conf.pending.remove(o);
        conf.remove_pending_delete(o);
    }
    for o in &deletes {
        if conf.main.get(o).is_none()
            && conf.pending.get(o).is_none()
            && !(o == "description" && conf.main.description.is_some())
        {
            stderr.push_str(&format!(
                "cannot delete '{o}' - not set in current configuration!\n"
            ));
            continue;
        }
        if protected && (o.starts_with("unused") || is_drive(o)) {
            let what = if o.starts_with("unused") {
                format!("unused disk '{}'", conf.main.get(o).unwrap_or(""))
            } else {
                format!("drive '{o}'")
            };
            return Err(die(format!(
                "can't remove {what} - protection mode enabled"
            )));
        }
        if o == "description" && conf.main.get(o).is_none() {
            conf.main.description = None;
            continue;
        }
        conf.add_pending_delete(o);
    }
    for (k, v) in &values {
        if k == "cipassword" {
            let windows = conf.main.get("ostype").is_some_and(|o| o.starts_with('w'));
            let hashed = if windows
                || v.starts_with("$5$")
                || v.starts_with("$6$")
                || v.starts_with("$1$")
            {
                v.clone()
            } else {
                encrypt_pw(v, ctx.state.seq)
            };
            record_ci_change(&mut conf, k, running);
            conf.main.set(k, hashed);
            continue;
        }
        if is_drive(k) {
            if protected && conf.main.get(k).is_some() {
                return Err(die(format!(
                    "can't update drive '{k}' - protection mode enabled"
                )));
            }
            let (val, line) = prepare_drive(ctx, &cfg, id, k, v, &conf)?;
            if let Some(l) = line {
                out.push_str(&l);
            }
            conf.pending.set(k, val);
        } else if k == "description" {
            conf.pending.description = Some(v.clone());
        } else {
            conf.pending.set(k, v.clone());
        }
        conf.remove_pending_delete(k);
    }
    let modified: Vec<String> = values
        .keys()
        .cloned()
        .chain(deletes.iter().cloned())
        .collect();
    if running {
        hotplug_pending(ctx, id, &mut conf, &cfg, &modified, p.flag("force"))?;
    } else {
        apply_pending(ctx, &mut conf, &cfg, p.flag("force"))?;
    }
    guest::save(ctx, F, id, &conf)?;
    Ok(Outcome {
        stderr,
        ..Outcome::ok(Effect::Mutate)
    }
    .out(out)
    .secs(cost(ctx, "qm.set"))
    .guest(id))
}

/// Records the old value of a cloud-init relevant key in `[special:cloudinit]` while running.
fn record_ci_change(conf: &mut GuestConf, key: &str, running: bool) {
    let relevant = CLOUDINIT_KEYS.contains(&key)
        || key == "name"
        || key.starts_with("net")
        || key.starts_with("ipconfig");
    if !running || !relevant || cloudinit_drive(&conf.main).is_none() {
        return;
    }
    let special = conf.special.entry("cloudinit".into()).or_default();
    if special.get(key).is_some()
        || special
            .get("added")
            .is_some_and(|a| a.split(',').any(|x| x == key))
    {
        return;
    }
    match conf.main.get(key) {
        Some(old) => special.set(key, old.to_string()),
        None => {
            let mut added: Vec<String> = special
                .get("added")
                .map(|a| a.split(',').map(str::to_string).collect())
                .unwrap_or_default();
            added.push(key.to_string());
            special.set("added", added.join(","));
        }
    }
}

/// Removes a drive's volume from the config: owned volumes become `unusedN` (or are freed
/// with `force`/for cloud-init drives), others are simply dropped.
fn drop_drive(
    ctx: &mut Ctx,
    conf: &mut GuestConf,
    cfg: &StorageCfg,
    old: &str,
    force: bool,
    id: u32,
) -> Result<(), Outcome> {
    let Some(d) = Drive::parse(old) else {
        return Ok(());
    };
    let file = d.file().to_string();
    if d.is_cloudinit() {
        ctx.state.volume_free(&ctx.root, cfg, &file).map_err(die)?;
        conf.special.remove("cloudinit");
        return Ok(());
    }
    if d.is_cdrom() || split_volid(&file).is_none() {
        return Ok(());
    }
    if owner_of(&file) == Some(id)
        && !conf
            .snapshots
            .values()
            .any(|s| s.keys.values().any(|v| v.contains(&file)))
    {
        if force {
            ctx.state.volume_free(&ctx.root, cfg, &file).map_err(die)?;
        } else {
            add_unused(conf, &file);
        }
    } else if owner_of(&file) == Some(id) {
        add_unused(conf, &file);
    }
    Ok(())
}

/// `vmconfig_apply_pending`: everything takes effect (stopped VM).
fn apply_pending(
    ctx: &mut Ctx,
    conf: &mut GuestConf,
    cfg: &StorageCfg,
    force: bool,
) -> Result<(), Outcome> {
    for k in conf.pending_deletes() {
        if let Some(old) = conf.main.get(&k).map(str::to_string) {
            if k.starts_with("unused") {
                ctx.state
                    .volume_free(&ctx.root, cfg, &old)
                    .map_err(|e| die(format!("unable to delete '{k}' - {e}")))?;
            } else if is_drive(&k) {
                let id = owner_hint(conf);
                drop_drive(ctx, conf, cfg, &old, force, id)?;
            }
        }
        if k == "description" {
            conf.main.description = None;
        }
        conf.main.remove(&k);
    }
    conf.pending.remove("delete");
    let keys: Vec<String> = conf.pending.keys.keys().cloned().collect();
    for k in keys {
        let v = conf.pending.get(&k).unwrap_or_default().to_string();
        if is_drive(&k) {
            if let Some(old) = conf.main.get(&k).map(str::to_string) {
                let (oldf, newf) = (
                    Drive::parse(&old).map(|d| d.file().to_string()),
                    Drive::parse(&v).map(|d| d.file().to_string()),
                );
                if oldf != newf {
                    let id = owner_hint(conf);
                    drop_drive(ctx, conf, cfg, &old, false, id)?;
                }
            }
        }
        conf.main.set(&k, v);
        conf.pending.remove(&k);
    }
    if let Some(d) = conf.pending.description.take() {
        conf.main.description = Some(d);
    }
    conf.pending = Section::default();
    drop_reused_unused(conf);
    Ok(())
}

/// The VMID owning this config's disks (for unused bookkeeping).
fn owner_hint(conf: &GuestConf) -> u32 {
    drives(&conf.main)
        .iter()
        .filter_map(|(_, d)| owner_of(d.file()))
        .next()
        .unwrap_or(0)
}

/// `unusedN` entries whose volume is attached again disappear.
fn drop_reused_unused(conf: &mut GuestConf) {
    let used: Vec<String> = drives(&conf.main)
        .into_iter()
        .map(|(_, d)| d.file().to_string())
        .collect();
    let stale: Vec<String> = conf
        .main
        .keys
        .iter()
        .filter(|(k, v)| k.starts_with("unused") && used.contains(v))
        .map(|(k, _)| k.clone())
        .collect();
    for k in stale {
        conf.main.remove(&k);
    }
}

/// `vmconfig_hotplug_pending`: what a running VM takes at once; the rest stays pending.
fn hotplug_pending(
    ctx: &mut Ctx,
    id: u32,
    conf: &mut GuestConf,
    cfg: &StorageCfg,
    modified: &[String],
    force: bool,
) -> Result<(), Outcome> {
    let hot = |k: &str, adding: bool, conf: &GuestConf| -> bool {
        if FAST_PLUG.contains(&k)
            || CLOUDINIT_KEYS.contains(&k)
            || k.starts_with("ipconfig")
            || k.starts_with("unused")
        {
            return true;
        }
        if k.starts_with("net") {
            return true;
        }
        if k.starts_with("scsi") || k.starts_with("virtio") {
            return adding || conf.main.get(k).is_some();
        }
        if is_drive(k) {
            // CD-ROM media changes apply; other ide/sata/efidisk/tpmstate changes wait.
            return conf
                .pending
                .get(k)
                .and_then(Drive::parse)
                .is_some_and(|d| d.is_cdrom());
        }
        false
    };
    for k in conf.pending_deletes() {
        if !modified.contains(&k) || !hot(&k, false, conf) {
            continue;
        }
        record_ci_change(conf, &k, true);
        if let Some(old) = conf.main.get(&k).map(str::to_string) {
            if k.starts_with("unused") {
                ctx.state.volume_free(&ctx.root, cfg, &old).map_err(die)?;
            } else if is_drive(&k) {
                drop_drive(ctx, conf, cfg, &old, force, id)?;
            }
        }
        conf.main.remove(&k);
        conf.remove_pending_delete(&k);
    }
    let keys = conf.pending_keys();
    for k in keys {
        if !modified.contains(&k) || !hot(&k, conf.main.get(&k).is_none(), conf) {
            continue;
        }
        record_ci_change(conf, &k, true);
        let v = conf.pending.get(&k).unwrap_or_default().to_string();
        conf.main.set(&k, v);
        conf.pending.remove(&k);
    }
    if modified.iter().any(|m| m == "description") {
        if let Some(d) = conf.pending.description.take() {
            conf.main.description = Some(d);
        }
    }
    drop_reused_unused(conf);
    Ok(())
}

/// `qm disk resize <vmid> <disk> <size>`: grow only; task errors exit 0.
fn resize(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("disk resize");
    let p = parse_opts(
        args,
        &[("digest", Kind::Value), ("skiplock", Kind::Bool)],
        &|_| None,
        &u,
    )?;
    positionals(&p, 3, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let (disk, sizestr) = (p.positional[1].clone(), p.positional[2].clone());
    if !is_drive(&disk) || numbered(&disk).is_none() && disk != "efidisk0" && disk != "tpmstate0" {
        let mut names: Vec<String> = Vec::new();
        for (b, n) in [("ide", 4), ("scsi", 31), ("virtio", 16), ("sata", 6)] {
            names.extend((0..n).map(|i| format!("{b}{i}")));
        }
        names.extend(["efidisk0".to_string(), "tpmstate0".to_string()]);
        return Err(param_error(
            &[(
                "disk".into(),
                format!(
                    "value '{disk}' does not have a value in the enumeration '{}'",
                    names.join(", ")
                ),
            )],
            &u,
        ));
    }
    let pat_ok = {
        let s = sizestr.strip_prefix('+').unwrap_or(&sizestr);
        let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
        !num.is_empty()
            && num.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && !num.starts_with('.')
            && matches!(unit, "" | "K" | "M" | "G" | "T")
    };
    if !pat_ok {
        return Err(param_error(
            &[(
                "size".into(),
                "value does not match the regex pattern".into(),
            )],
            &u,
        ));
    }
    let task = |msg: String| Ok(task_error_exit0(msg, Effect::Read).guest(id));
    let mut conf = match guest::load(ctx, F, id) {
        Ok(c) => c,
        Err(o) => return task(o.stderr.trim_end().to_string()),
    };
    if !p.flag("skiplock") {
        if let Err(o) = check_lock(&conf, F) {
            return task(o.stderr.trim_end().to_string());
        }
    }
    let Some(v) = conf.main.get(&disk).map(str::to_string) else {
        return task(format!("disk '{disk}' does not exist"));
    };
    let Some(mut d) = Drive::parse(&v) else {
        return task(format!("disk '{disk}' has no associated volume"));
    };
    if d.is_cdrom() {
        return task("you can't resize a cdrom".into());
    }
    let cfg = StorageCfg::load(&ctx.root);
    let volid = d.file().to_string();
    let Some(size) = ctx.state.volume_size(&ctx.root, &cfg, &volid) else {
        return task(format!(
            "Could not determine current size of volume '{volid}'"
        ));
    };
    let ext = sizestr.starts_with('+');
    let req = disk_size(sizestr.trim_start_matches('+')).unwrap_or(0);
    let new = if ext { size + req } else { req };
    if new < size {
        return task("shrinking disks is not supported".into());
    }
    if new == size {
        return Ok(Outcome::ok(Effect::Read).guest(id));
    }
    if let Err(e) = ctx.state.volume_resize(&ctx.root, &cfg, &volid, new) {
        return task(e);
    }
    d.ps.set("size", format_size(new));
    conf.main.set(&disk, d.print());
    guest::save(ctx, F, id, &conf)?;
    let sid = split_volid(&volid)
        .map(|(s, _)| s.to_string())
        .unwrap_or_default();
    Ok(Outcome::ok(Effect::Mutate)
        .secs(cost(ctx, "qm.resize"))
        .guest(id)
        .storage(sid))
}

/// `qm clone <vmid> <newid>`.
fn clone(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("clone");
    let spec = [
        ("full", Kind::Bool),
        ("name", Kind::Value),
        ("description", Kind::Value),
        ("snapname", Kind::Value),
        ("storage", Kind::Value),
        ("format", Kind::Value),
        ("target", Kind::Value),
        ("pool", Kind::Value),
        ("bwlimit", Kind::Value),
    ];
    let p = parse_opts(args, &spec, &|_| None, &u)?;
    positionals(&p, 2, &u)?;
    let src = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let new = check::vmid(&p.positional[1]).map_err(|e| param_error(&[("newid".into(), e)], &u))?;
    if let Some(n) = p.get("name") {
        check::dns_name(n).map_err(|e| param_error(&[("name".into(), e)], &u))?;
    }
    if let Some(s) = p.get("snapname") {
        check::snapname(s).map_err(|e| param_error(&[("snapname".into(), e)], &u))?;
    }
    let conf = guest::load(ctx, F, src)?;
    let cfg = StorageCfg::load(&ctx.root);
    if let Some(s) = p.get("storage") {
        match cfg.get(s) {
            None => return Err(die(format!("storage '{s}' does not exist"))),
            Some(st) if !st.has_content("images") => {
                return Err(param_error(
                    &[(
                        "storage".into(),
                        format!("storage '{s}' does not support vm images"),
                    )],
                    &u,
                ));
            }
            _ => {}
        }
    }
    check_lock(&conf, F)?;
    let snapname = p.get("snapname").map(str::to_string);
    let source = match &snapname {
        Some(s) => conf
            .snapshots
            .get(s)
            .cloned()
            .ok_or_else(|| die(format!("snapshot '{s}' does not exist")))?,
        None => conf.main.clone(),
    };
    let full = p.get("full").map_or(!is_template(&conf), |f| f == "1");
    if !full && p.has("storage") {
        return Err(die("parameter 'storage' not allowed for linked clones"));
    }
    if !full && p.has("format") {
        return Err(die("parameter 'format' not allowed for linked clones"));
    }
    if let Some(k) = guest::existing_kind(ctx, new) {
        if k == "CT" {
            return Err(die(format!(
                "CT {new} already exists on node '{}'",
                ctx.state.node
            )));
        }
        return Err(die(format!(
            "unable to create VM {new}: config file already exists"
        )));
    }
    // Which disks can be cloned how.
    for (k, d) in drives(&source) {
        if d.is_cdrom() && !d.is_cloudinit() {
            continue;
        }
        if d.is_cloudinit() || k == "tpmstate0" {
            continue;
        }
        let file = d.file();
        let Some((sid, vname)) = split_volid(file) else {
            continue;
        };
        let st = cfg.get(sid);
        let snap_msg = if snapname.is_some() {
            " a snapshot of"
        } else {
            ""
        };
        if full {
            if snapname.is_some() && st.is_some_and(|s| s.kind != "zfspool") {
                return Err(die(format!(
                    "Full clone feature is not supported for{snap_msg} '{file}' ({k})"
                )));
            }
        } else {
            // pve-storage ZFSPoolPlugin.pm parse_volname: a base volume is one whose own name
            // is `base-…`, also below another base (a template made from a linked clone).
            let base = parse_volname(vname).is_some_and(|v| v.prefix == "base");
            if !base || st.is_none_or(|s| s.kind != "zfspool") {
                return Err(die(format!(
                    "Linked clone feature is not supported for{snap_msg} '{file}' ({k})"
                )));
            }
        }
    }
    let mut out = format!("creating a clone of VM {src} with ID {new}\n");
    let mut stderr = String::new();
    if !conf.pending.keys.is_empty() && snapname.is_none() {
        for k in conf.pending.keys.keys() {
            stderr.push_str(&format!(
                "found pending changes for '{k}', discarding for clone\n"
            ));
        }
    }
    let mut newconf = GuestConf::default();
    let mut secs = 0.0;
    let mut lock_storage = None;
    for (k, v) in &source.keys {
        if k.starts_with("unused")
            || matches!(
                k.as_str(),
                "parent"
                    | "snaptime"
                    | "vmstate"
                    | "snapstate"
                    | "runningcpu"
                    | "runningmachine"
                    | "running-nets-host-mtu"
                    | "template"
                    | "lock"
            )
        {
            continue;
        }
        if is_drive(k) {
            let Some(mut d) = Drive::parse(v) else {
                continue;
            };
            if d.is_cdrom() && !d.is_cloudinit() || split_volid(d.file()).is_none() {
                newconf.main.set(k, v.clone());
                continue;
            }
            let file = d.file().to_string();
            let sid = split_volid(&file)
                .map(|(a, _)| a.to_string())
                .unwrap_or_default();
            let target = p.get("storage").map_or(sid.clone(), str::to_string);
            let is_ci = d.is_cloudinit();
            let clone_full = full || is_ci;
            out.push_str(&format!(
                "create {} clone of drive {k} ({file})\n",
                if clone_full { "full" } else { "linked" }
            ));
            let size = ctx.state.volume_size(&ctx.root, &cfg, &file).unwrap_or(0);
            let new_volid = if is_ci {
                let vid = alloc_vm_volume(ctx, &cfg, &target, new, 4 << 20, true)
                    .map_err(|e| die(format!("clone failed: {e}")))?;
                d.ps.set("size", "4M");
                vid
            } else if clone_full {
                let vid = alloc_vm_volume(ctx, &cfg, &target, new, size, false)
                    .map_err(|e| die(format!("clone failed: {e}")))?;
                for pct in [0u64, 100] {
                    out.push_str(&format!(
                        "transferred {} of {} ({pct}.00%)\n",
                        render_bytes(size * pct / 100),
                        render_bytes(size)
                    ));
                }
                secs += cost(ctx, "qm.clone.full_per_gb") * size as f64 / f64::from(1u32 << 30);
                d.ps.set("size", format_size(size));
                vid
            } else {
                let volid = ctx
                    .state
                    .clone_image(&ctx.root, &cfg, &file, new, false)
                    .map_err(|e| die(format!("clone failed: {e}")))?;
                secs += cost(ctx, "qm.clone.linked");
                volid
            };
            lock_storage = Some(target);
            d.ps.set("file", new_volid);
            newconf.main.set(k, d.print());
        } else if k.starts_with("net") {
            let (model, _, rest) = parse_net(v).map_err(die)?;
            let salt =
                u64::from(new) * 100 + k.trim_start_matches("net").parse::<u64>().unwrap_or(0);
            let m = mac(ctx, salt);
            newconf.main.set(k, print_net(&model, &m, &rest));
        } else if k == "smbios1" {
            let mut ps = PropStr::parse(v, None).unwrap_or_default();
            ps.set("uuid", uuid(ctx, u64::from(new)));
            newconf.main.set(k, ps.print(&[], false));
        } else if k == "vmgenid" {
            newconf.main.set(k, uuid(ctx, u64::from(new) + 7));
        } else {
            newconf.main.set(k, v.clone());
        }
    }
    newconf.main.description = source.description.clone();
    newconf.main.set(
        "name",
        p.get("name").map_or_else(
            || {
                format!(
                    "Copy-of-VM-{}",
                    source.get("name").map_or(src.to_string(), str::to_string)
                )
            },
            str::to_string,
        ),
    );
    if let Some(d) = p.get("description") {
        newconf.main.description = Some(d.to_string());
    }
    if newconf.main.get("smbios1").is_none() {
        newconf
            .main
            .set("smbios1", format!("uuid={}", uuid(ctx, u64::from(new))));
    }
    // qemu-server src/PVE/API2/Qemu.pm `clone_vm`: the new VM is written with `lock: clone`
    // (removed when the copy is done) and the source's config flock is held throughout,
    // shared when it is stopped, exclusive when it runs (`$lock_source_vm`).
    newconf.main.set("lock", "clone");
    guest::save(ctx, F, new, &newconf)?;
    let fw = ctx.root.firewall(src);
    if fw.is_file() {
        let _ = std::fs::copy(&fw, ctx.root.firewall(new));
    }
    // The guest's file system comes along.
    let from = match &snapname {
        Some(s) => vmfs_snapshot_dir(ctx, src, s),
        None => vmfs_dir(ctx, src),
    };
    if from.is_dir() {
        crate::zfs::copy_tree(&from, &vmfs_dir(ctx, new))
            .map_err(|e| die(format!("clone failed: {e}")))?;
    }
    let mut o = Outcome {
        stderr,
        ..Outcome::ok(Effect::Mutate)
    }
    .out(out)
    .secs(secs.max(cost(ctx, "qm.clone.linked")))
    .guest(new)
    .hold(crate::state::Hold {
        vm: true,
        guest: new,
        lock: Some("clone".into()),
        ..Default::default()
    })
    .hold(crate::state::Hold {
        vm: true,
        guest: src,
        flock_shared: Some(!ctx.state.running(src)),
        ..Default::default()
    });
    if let Some(s) = lock_storage {
        o = o.storage(s);
    }
    Ok(o)
}

/// `qm template <vmid>`: disks become `base-…` with `@__base__`; task errors exit 0.
fn template(ctx: &mut Ctx, args: &[String]) -> R {
    let (p, id) = opts(args, "template", &[("disk", Kind::Value)], 1)?;
    let mut conf = guest::load(ctx, F, id)?;
    check_lock(&conf, F)?;
    if !conf.snapshots.is_empty() {
        return Err(die(
            "unable to create template, because VM contains snapshots",
        ));
    }
    if is_template(&conf) && !p.has("disk") {
        return Err(die("you can't convert a template to a template"));
    }
    if ctx.state.running(id) {
        return Err(die("you can't convert a VM to template if VM is running"));
    }
    let cfg = StorageCfg::load(&ctx.root);
    conf.main.set("template", "1");
    for (k, mut d) in drives(&conf.main) {
        if d.is_cdrom() || p.get("disk").is_some_and(|x| x != k) {
            continue;
        }
        let file = d.file().to_string();
        let Some((sid, vname)) = split_volid(&file) else {
            continue;
        };
        let Some(st) = cfg.get(sid) else { continue };
        if parse_volname(vname).is_some_and(|v| v.prefix == "base") {
            continue;
        }
        let mut newname = vname.replacen("vm-", "base-", 1);
        match st.kind.as_str() {
            "zfspool" => {
                let pool = st.pool().unwrap_or_default().to_string();
                let Some((name, newds, newvol)) = crate::storage::create_base_names(vname) else {
                    continue;
                };
                newname = newvol;
                if let Err(e) = ctx.state.zfs_rename(
                    &ctx.root,
                    &format!("{pool}/{name}"),
                    &format!("{pool}/{newds}"),
                ) {
                    guest::save(ctx, F, id, &conf)?;
                    return Ok(
                        task_error_exit0(format!("zfs error: {e}"), Effect::Mutate).guest(id)
                    );
                }
                ctx.state
                    .zfs_snapshot(&ctx.root, &format!("{pool}/{newds}@__base__"))
                    .map_err(die)?;
            }
            _ => {
                let Some(old_path) = ctx.state.volume_path(&ctx.root, &cfg, &file) else {
                    continue;
                };
                let new_file = format!("{sid}:{newname}");
                if let Some(new_path) = ctx.state.volume_path(&ctx.root, &cfg, &new_file) {
                    let _ = std::fs::rename(&old_path, &new_path);
                    let _ = std::fs::rename(
                        old_path.with_extension(format!(
                            "{}.size",
                            old_path
                                .extension()
                                .map(|e| e.to_string_lossy().into_owned())
                                .unwrap_or_default()
                        )),
                        new_path.with_extension(format!(
                            "{}.size",
                            new_path
                                .extension()
                                .map(|e| e.to_string_lossy().into_owned())
                                .unwrap_or_default()
                        )),
                    );
                }
            }
        }
        d.ps.set("file", format!("{sid}:{newname}"));
        conf.main.set(&k, d.print());
    }
    guest::save(ctx, F, id, &conf)?;
    Ok(Outcome::ok(Effect::Mutate)
        .secs(cost(ctx, "qm.template"))
        .guest(id))
}

/// Starts a VM (`vm_start`): pending changes, cloud-init ISO, agent readiness.
pub(crate) fn start_vm(ctx: &mut Ctx, id: u32) -> R {
    let mut conf = guest::load(ctx, F, id)?;
    if is_template(&conf) {
        return Err(die("you can't start a vm if it's a template"));
    }
    check_lock(&conf, F)?;
    if ctx.state.running(id) {
        return Err(die(format!("VM {id} already running")));
    }
    let cfg = StorageCfg::load(&ctx.root);
    if !conf.pending.keys.is_empty() || conf.pending.description.is_some() {
        apply_pending(ctx, &mut conf, &cfg, false)?;
    }
    // Generating the cloud-init ISO reads the `cicustom` snippets.
    let user_data = if cloudinit_drive(&conf.main).is_some() {
        cicustom_user_data(ctx, &cfg, &conf.main)?
    } else {
        None
    };
    let mut out = String::new();
    for (k, d) in drives(&conf.main) {
        let file = d.file();
        if d.is_cloudinit()
            || file == "none"
            || file == "cdrom"
            || file.starts_with("/dev/")
            || split_volid(file).is_none()
        {
            continue;
        }
        if ctx.state.volume_size(&ctx.root, &cfg, file).is_none() {
            return Err(die(format!(
                "start failed: volume '{file}' does not exist ({k})"
            )));
        }
    }
    if cloudinit_drive(&conf.main).is_some() {
        out.push_str("generating cloud-init ISO\n");
        conf.special.remove("cloudinit");
    }
    guest::save(ctx, F, id, &conf)?;
    let fs = vm_fs(ctx, id);
    if let Some(tar) = crate::real::tarball() {
        crate::real::populate_vm(&fs.root, &tar).map_err(die)?;
        if cloudinit_drive(&conf.main).is_some() {
            // The cidata ISO's documents: the `cicustom` user-data when there is one, and the
            // instance-id over what the guest gets (qemu-server Cloudinit.pm
            // `nocloud_gen_metadata`), so a changed user-data is a new instance.
            let (generated, network, _) = cloudinit_docs(&conf.main, id);
            let user = user_data.clone().unwrap_or(generated);
            let meta = format!(
                "instance-id: {}\n",
                sha1_smol::Sha1::from(format!("{user}{network}")).digest()
            );
            crate::real::seed(&fs.root, &user, &network, &meta).map_err(die)?;
        }
        // Its NICs as the guest sees them: net<n> is eth<n>, with its MAC.
        let nics: Vec<(String, String)> = conf
            .main
            .keys
            .iter()
            .filter(|(k, _)| k.starts_with("net") && k[3..].parse::<u32>().is_ok())
            .filter_map(|(k, v)| {
                let mac = parse_net(v).ok()?.1?;
                Some((format!("eth{}", &k[3..]), mac.to_ascii_lowercase()))
            })
            .collect();
        crate::real::boot(
            &ctx.root.data(),
            id,
            &crate::real::Machine {
                root: &fs.root,
                binds: &[],
                nics: &nics,
                wait: crate::real::Wait::Init,
            },
        )
        .map_err(die)?;
    } else if let Some(ud) = &user_data {
        crate::cloudinit::boot(&fs, ud, &crate::clock::format(ctx.state.now()));
    }
    let now = ctx.state.now();
    let boot = ctx.knobs.vm_boot_secs;
    let rt = ctx.state.guests.entry(id).or_default();
    rt.running = true;
    rt.started_at = now;
    rt.ready_at = now + boot;
    rt.starts += 1;
    Ok(Outcome::ok(Effect::Mutate)
        .out(out)
        .secs(cost(ctx, "qm.start"))
        .guest(id))
}

/// `qm start <vmid>`.
fn start(ctx: &mut Ctx, args: &[String]) -> R {
    let spec = [
        ("skiplock", Kind::Bool),
        ("timeout", Kind::Value),
        ("machine", Kind::Value),
        ("forcecpu", Kind::Value),
        ("migratedfrom", Kind::Value),
        ("stateuri", Kind::Value),
    ];
    let (p, id) = opts(args, "start", &spec, 1)?;
    if let Some(t) = p.get("timeout") {
        check::int(t, Some(0), Some(86400))
            .map_err(|e| param_error(&[("timeout".into(), e)], &usage("start")))?;
    }
    if p.flag("skiplock") {
        let mut conf = guest::load(ctx, F, id)?;
        if conf.main.remove("lock").is_some() {
            let s = start_vm_unlocked(ctx, id, &mut conf);
            return s;
        }
    }
    start_vm(ctx, id)
}

fn start_vm_unlocked(ctx: &mut Ctx, id: u32, conf: &mut GuestConf) -> R {
    let lock = conf.main.get("lock").map(str::to_string);
    guest::save(ctx, F, id, conf)?;
    let r = start_vm(ctx, id);
    if let (Some(l), Ok(mut c)) = (lock, guest::load(ctx, F, id)) {
        c.main.set("lock", l);
        guest::save(ctx, F, id, &c)?;
    }
    r
}

/// Marks a VM stopped and applies pending changes (`vm_stop_cleanup`).
pub(crate) fn stop_vm(ctx: &mut Ctx, id: u32) -> Result<(), Outcome> {
    if let Some(rt) = ctx.state.guests.get_mut(&id) {
        rt.running = false;
    }
    crate::real::stop(&ctx.root.data(), id);
    let mut conf = guest::load(ctx, F, id)?;
    if !conf.pending.keys.is_empty() || conf.pending.description.is_some() {
        let cfg = StorageCfg::load(&ctx.root);
        apply_pending(ctx, &mut conf, &cfg, false)?;
        guest::save(ctx, F, id, &conf)?;
    }
    Ok(())
}

/// `qm stop|shutdown <vmid>`.
fn stop(ctx: &mut Ctx, args: &[String], cmd: &str) -> R {
    let spec: &[(&str, Kind)] = if cmd == "stop" {
        &[
            ("skiplock", Kind::Bool),
            ("timeout", Kind::Value),
            ("keepActive", Kind::Bool),
            ("overrule-shutdown", Kind::Bool),
            ("migratedfrom", Kind::Value),
        ]
    } else {
        &[
            ("skiplock", Kind::Bool),
            ("timeout", Kind::Value),
            ("keepActive", Kind::Bool),
            ("forceStop", Kind::Bool),
        ]
    };
    let (p, id) = opts(args, cmd, spec, 1)?;
    if let Some(t) = p.get("timeout") {
        check::int(t, Some(0), None)
            .map_err(|e| param_error(&[("timeout".into(), e)], &usage(cmd)))?;
    }
    let conf = guest::load(ctx, F, id)?;
    if !p.flag("skiplock") {
        check_lock(&conf, F)?;
    }
    if !ctx.state.running(id) {
        // A real guest a killed run left booted goes too.
        crate::real::stop(&ctx.root.data(), id);
        let stderr = if cmd == "shutdown" {
            format!("VM {id} not running\n\n")
        } else {
            String::new()
        };
        return Ok(Outcome {
            stderr,
            ..Outcome::ok(Effect::Read)
        }
        .guest(id));
    }
    stop_vm(ctx, id)?;
    Ok(Outcome::ok(Effect::Mutate)
        .secs(cost(ctx, &format!("qm.{cmd}")))
        .guest(id))
}

/// `qm reboot <vmid>`: shutdown and start (pending changes applied).
fn reboot(ctx: &mut Ctx, args: &[String]) -> R {
    let (_, id) = opts(args, "reboot", &[("timeout", Kind::Value)], 1)?;
    guest::load(ctx, F, id)?;
    if !ctx.state.running(id) {
        return Err(die(format!("VM {id} not running\n\nVM {id} not running")));
    }
    stop_vm(ctx, id)?;
    let o = start_vm(ctx, id)?;
    Ok(Outcome {
        stdout: String::new(),
        secs: cost(ctx, "qm.reboot") + o.secs,
        ..o
    })
}

/// `qm status <vmid> [--verbose]`.
fn status(ctx: &mut Ctx, args: &[String]) -> R {
    let (p, id) = opts(args, "status", &[("verbose", Kind::Bool)], 1)?;
    let conf = guest::load(ctx, F, id)?;
    let running = ctx.state.running(id);
    let st = if running { "running" } else { "stopped" };
    if !p.flag("verbose") {
        return Ok(Outcome::read(format!("status: {st}\n")).guest(id));
    }
    let m = &conf.main;
    let cfg = StorageCfg::load(&ctx.root);
    let mut kv: BTreeMap<&str, String> = BTreeMap::new();
    let sockets: u64 = m.get("sockets").and_then(|x| x.parse().ok()).unwrap_or(1);
    let cores: u64 = m.get("cores").and_then(|x| x.parse().ok()).unwrap_or(1);
    kv.insert("cpus", (sockets * cores).to_string());
    kv.insert("disk", "0".into());
    kv.insert("diskread", "0".into());
    kv.insert("diskwrite", "0".into());
    let maxdisk = boot_disk(m)
        .and_then(|d| m.get(&d).and_then(Drive::parse))
        .and_then(|d| ctx.state.volume_size(&ctx.root, &cfg, d.file()))
        .unwrap_or(0);
    kv.insert("maxdisk", maxdisk.to_string());
    let mem: u64 = m
        .get("memory")
        .and_then(|x| {
            x.split(',')
                .next()
                .and_then(|v| v.trim_start_matches("current=").parse().ok())
        })
        .unwrap_or(512);
    kv.insert("maxmem", (mem << 20).to_string());
    kv.insert(
        "mem",
        if running {
            ((mem << 20) / 4).to_string()
        } else {
            "0".into()
        },
    );
    kv.insert("memhost", "0".into());
    kv.insert(
        "name",
        m.get("name").map_or(format!("VM {id}"), str::to_string),
    );
    kv.insert("netin", "0".into());
    kv.insert("netout", "0".into());
    kv.insert("qmpstatus", st.into());
    kv.insert("status", st.into());
    let rt = ctx.state.runtime(id);
    kv.insert(
        "uptime",
        if running {
            ctx.state.now().saturating_sub(rt.started_at).to_string()
        } else {
            "0".into()
        },
    );
    kv.insert("vmid", id.to_string());
    if is_template(&conf) {
        kv.insert("template", "1".into());
    }
    if m.keys.keys().any(|k| k.starts_with("serial")) {
        kv.insert("serial", "1".into());
    }
    if let Some(l) = m.get("lock") {
        kv.insert("lock", l.into());
    }
    if let Some(t) = m.get("tags") {
        kv.insert("tags", t.into());
    }
    if running {
        kv.insert("pid", (20_000 + id).to_string());
        kv.insert("running-machine", "pc-i440fx-9.2+pve1".into());
        kv.insert("running-qemu", "9.2.0".into());
    }
    Ok(Outcome::read(
        kv.iter()
            .map(|(k, v)| format!("{k}: {v}\n"))
            .collect::<String>(),
    )
    .guest(id))
}

/// The boot disk: the first drive of `boot: order=…`, else the legacy `bootdisk`.
fn boot_disk(s: &Section) -> Option<String> {
    let order = s
        .get("boot")
        .and_then(|b| PropStr::parse(b, Some("legacy")).ok())
        .and_then(|ps| ps.get("order").map(str::to_string));
    match order {
        Some(o) => o.split(';').find(|d| is_drive(d)).map(str::to_string),
        None => s.get("bootdisk").map(str::to_string),
    }
}

fn mask_password(s: &mut Section) {
    if s.get("cipassword").is_some() {
        s.set("cipassword", "**********");
    }
}

/// `qm config <vmid> [--current] [--snapshot]`.
fn config(ctx: &mut Ctx, args: &[String]) -> R {
    let (p, id) = opts(
        args,
        "config",
        &[("current", Kind::Bool), ("snapshot", Kind::Value)],
        1,
    )?;
    if p.flag("current") && p.has("snapshot") {
        let msg = "cannot use 'snapshot' parameter with 'current'".to_string();
        return Err(param_error(
            &[("current".into(), msg.clone()), ("snapshot".into(), msg)],
            &usage("config"),
        ));
    }
    let conf = guest::load(ctx, F, id)?;
    let mut section = match p.get("snapshot") {
        Some(s) => conf
            .snapshots
            .get(s)
            .cloned()
            .ok_or_else(|| die(format!("snapshot '{s}' does not exist")))?,
        None if p.flag("current") => conf.main.clone(),
        None => {
            let mut s = conf.with_pending();
            if conf.pending.description.is_some() {
                s.description = conf.pending.description.clone();
            }
            s
        }
    };
    mask_password(&mut section);
    Ok(Outcome::read(print_config(&section)).guest(id))
}

/// `qm pending <vmid>`.
fn pending(ctx: &mut Ctx, args: &[String]) -> R {
    let (_, id) = opts(args, "pending", &[], 1)?;
    let mut conf = guest::load(ctx, F, id)?;
    mask_password(&mut conf.main);
    if conf.pending.get("cipassword").is_some() {
        conf.pending.set("cipassword", "********** ");
    }
    Ok(Outcome::read(guest::format_pending(&conf)).guest(id))
}

/// `qm list [--full]`.
fn list(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("list");
    let p = parse_opts(args, &[("full", Kind::Bool)], &|_| None, &u)?;
    positionals(&p, 0, &u)?;
    let ids = guest::ids(&ctx.root, F);
    if ids.is_empty() {
        return Ok(Outcome::read(""));
    }
    let cfg = StorageCfg::load(&ctx.root);
    let mut out = format!(
        "{:>10} {:<20} {:<10} {:<10} {:>12} {:<10}\n",
        "VMID", "NAME", "STATUS", "MEM(MB)", "BOOTDISK(GB)", "PID"
    );
    for id in ids {
        let conf = guest::load(ctx, F, id)?;
        let m = &conf.main;
        let running = ctx.state.running(id);
        let mem: u64 = m.get("memory").and_then(|x| x.parse().ok()).unwrap_or(512);
        let disk = boot_disk(m)
            .and_then(|d| m.get(&d).and_then(Drive::parse))
            .and_then(|d| ctx.state.volume_size(&ctx.root, &cfg, d.file()))
            .unwrap_or(0);
        out.push_str(&format!(
            "{:>10} {:<20} {:<10} {:<10} {:>12.2} {:<10}\n",
            id,
            m.get("name").map_or(format!("VM {id}"), str::to_string),
            if running { "running" } else { "stopped" },
            mem,
            disk as f64 / f64::from(1u32 << 30),
            if running { 20_000 + id } else { 0 }
        ));
    }
    Ok(Outcome::read(out))
}

/// Disks that take part in snapshots (no CD-ROMs, no cloud-init).
fn snapshot_disks(s: &Section) -> Vec<(String, Drive)> {
    drives(s)
        .into_iter()
        .filter(|(_, d)| !d.is_cdrom() && split_volid(d.file()).is_some())
        .collect()
}

/// `qm snapshot <vmid> <snapname> [--vmstate] [--description]`.
fn snapshot(ctx: &mut Ctx, args: &[String]) -> R {
    let (p, id, name) = guest::vmid_and_snapname(
        args,
        &[("description", Kind::Value), ("vmstate", Kind::Bool)],
        &usage("snapshot"),
    )?;
    if name == "current" {
        return Err(die("unable to use snapshot name 'current' (reserved name)"));
    }
    if name.eq_ignore_ascii_case("pending") {
        return Err(die("unable to use snapshot name 'pending' (reserved name)"));
    }
    let mut conf = guest::load(ctx, F, id)?;
    if is_template(&conf) {
        return Err(die("you can't take a snapshot if it's a template"));
    }
    check_lock(&conf, F)?;
    if conf.snapshots.contains_key(&name) {
        return Err(die(format!("snapshot name '{name}' already used")));
    }
    let cfg = StorageCfg::load(&ctx.root);
    let disks = snapshot_disks(&conf.main);
    for (_, d) in &disks {
        let file = d.file();
        let ok =
            crate::state::State::volume_dataset(&cfg, file).is_some() || file.ends_with(".qcow2");
        if !ok {
            return Err(die("snapshot feature is not available"));
        }
    }
    let mut out = String::new();
    for (k, d) in &disks {
        out.push_str(&format!("snapshotting 'drive-{k}' ({})\n", d.file()));
        if let Some(ds) = crate::state::State::volume_dataset(&cfg, d.file()) {
            ctx.state
                .zfs_snapshot(&ctx.root, &format!("{ds}@{name}"))
                .map_err(|e| die(format!("snapshot create failed: starting cleanup\n{e}")))?;
        }
    }
    let fs = vmfs_dir(ctx, id);
    if fs.is_dir() {
        crate::zfs::copy_tree(&fs, &vmfs_snapshot_dir(ctx, id, &name))
            .map_err(|e| die(e.to_string()))?;
    }
    let now = ctx.state.now();
    let mut main = conf.main.clone();
    main.description = None;
    let section = guest::snapshot_section(&main, now, p.get("description"));
    let mut section = section;
    if let Some(d) = section.description.as_mut() {
        *d = d.trim_end().to_string();
    }
    conf.snapshots.insert(name.clone(), section);
    conf.main.set("parent", name);
    guest::save(ctx, F, id, &conf)?;
    Ok(Outcome::ok(Effect::Mutate)
        .out(out)
        .secs(cost(ctx, "qm.snapshot"))
        .guest(id))
}

/// `qm listsnapshot <vmid>`.
fn listsnapshot(ctx: &mut Ctx, args: &[String]) -> R {
    let (_, id) = opts(args, "listsnapshot", &[], 1)?;
    let conf = guest::load(ctx, F, id)?;
    Ok(Outcome::read(guest::snapshot_tree(&conf)).guest(id))
}

/// `qm delsnapshot <vmid> <snapname> [--force]`.
fn delsnapshot(ctx: &mut Ctx, args: &[String]) -> R {
    let (p, id, name) =
        guest::vmid_and_snapname(args, &[("force", Kind::Bool)], &usage("delsnapshot"))?;
    let mut conf = guest::load(ctx, F, id)?;
    if !conf.snapshots.contains_key(&name) {
        return Err(die(format!("snapshot '{name}' does not exist")));
    }
    if is_template(&conf) {
        return Err(die("you can't delete a snapshot if vm is a template"));
    }
    check_lock(&conf, F)?;
    let cfg = StorageCfg::load(&ctx.root);
    for (_, d) in snapshot_disks(&conf.snapshots[&name].clone()) {
        if let Some(ds) = crate::state::State::volume_dataset(&cfg, d.file()) {
            let s = format!("{ds}@{name}");
            if ctx.state.zfs.snapshots.contains_key(&s) {
                // `--force` drops the config entry even when a volume refuses.
                if let Err(e) = ctx.state.zfs_destroy(&ctx.root, &s, false) {
                    if !p.flag("force") {
                        return Err(die(e));
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(vmfs_snapshot_dir(ctx, id, &name));
    guest::remove_snapshot(&mut conf, &name);
    guest::save(ctx, F, id, &conf)?;
    Ok(Outcome::ok(Effect::Mutate)
        .secs(cost(ctx, "qm.snapshot"))
        .guest(id))
}

/// `qm rollback <vmid> <snapname> [--start]`.
fn rollback(ctx: &mut Ctx, args: &[String]) -> R {
    let (p, id, name) =
        guest::vmid_and_snapname(args, &[("start", Kind::Bool)], &usage("rollback"))?;
    let conf = guest::load(ctx, F, id)?;
    if is_template(&conf) {
        return Err(die("you can't rollback if vm is a template"));
    }
    let Some(snap) = conf.snapshots.get(&name).cloned() else {
        return Err(die(format!("snapshot '{name}' does not exist")));
    };
    check_lock(&conf, F)?;
    let cfg = StorageCfg::load(&ctx.root);
    for (_, d) in snapshot_disks(&snap) {
        let Some(ds) = crate::state::State::volume_dataset(&cfg, d.file()) else {
            continue;
        };
        let all = ctx.state.zfs_snapshots_of(&ds);
        let target = format!("{ds}@{name}");
        if all.last() != Some(&target) {
            return Err(die(format!(
                "can't rollback, '{name}' is not most recent snapshot on '{}'",
                d.file()
            )));
        }
    }
    if ctx.state.running(id) {
        if let Some(rt) = ctx.state.guests.get_mut(&id) {
            rt.running = false;
        }
    }
    for (_, d) in snapshot_disks(&snap) {
        if let Some(ds) = crate::state::State::volume_dataset(&cfg, d.file()) {
            ctx.state
                .zfs_rollback(&ctx.root, &format!("{ds}@{name}"), false)
                .map_err(die)?;
        }
    }
    let saved = vmfs_snapshot_dir(ctx, id, &name);
    if saved.is_dir() {
        let _ = std::fs::remove_dir_all(vmfs_dir(ctx, id));
        crate::zfs::copy_tree(&saved, &vmfs_dir(ctx, id)).map_err(|e| die(e.to_string()))?;
    }
    let mut newconf = GuestConf {
        snapshots: conf.snapshots.clone(),
        special: conf.special.clone(),
        ..GuestConf::default()
    };
    newconf.main.keys = snap
        .keys
        .iter()
        .filter(|(k, _)| *k != "snaptime")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    newconf.main.description = conf.main.description.clone();
    for (k, v) in conf
        .main
        .keys
        .iter()
        .filter(|(k, _)| k.starts_with("unused"))
    {
        newconf.main.set(k, v.clone());
    }
    if newconf.main.get("vmgenid").is_some() {
        newconf.main.set("vmgenid", uuid(ctx, u64::from(id) + 13));
    }
    newconf.main.set("parent", name);
    guest::save(ctx, F, id, &newconf)?;
    let mut o = Outcome::ok(Effect::Mutate)
        .secs(cost(ctx, "qm.snapshot"))
        .guest(id);
    if p.flag("start") {
        let s = start_vm(ctx, id)?;
        o.stdout.push_str(&s.stdout);
        o.secs += s.secs;
    }
    Ok(o)
}

/// `assert_agent_available`.
fn agent_available(ctx: &Ctx, id: u32) -> Result<GuestConf, Outcome> {
    let conf = guest::load(ctx, F, id)?;
    if conf.main.get("agent").is_none() {
        return Err(die("No QEMU guest agent configured"));
    }
    if !ctx.state.running(id) {
        return Err(die(format!("VM {id} is not running")));
    }
    let enabled = conf
        .main
        .get("agent")
        .and_then(|a| PropStr::parse(a, Some("enabled")).ok())
        .and_then(|ps| ps.get("enabled").map(|e| check::boolean(e) == Ok("1")))
        .unwrap_or(false);
    let real = crate::real::tarball().is_some();
    let rt = ctx.state.runtime(id);
    let answers = if real {
        crate::real::agent::ping(&ctx.root.data(), id).is_ok()
    } else {
        ctx.state.now() >= rt.ready_at
    };
    if !enabled || !answers {
        // `guest-ping` times out after 3 seconds when nothing answers. The guest not
        // answering yet is not Proxmox rejecting the command: not flagged as refused.
        return Err(Outcome {
            refused: false,
            ..die("QEMU guest agent is not running").secs(3.0)
        });
    }
    Ok(conf)
}

const AGENT_COMMANDS: &[&str] = &[
    "fsfreeze-freeze",
    "fsfreeze-status",
    "fsfreeze-thaw",
    "fstrim",
    "get-fsinfo",
    "get-host-name",
    "get-memory-block-info",
    "get-memory-blocks",
    "get-osinfo",
    "get-time",
    "get-timezone",
    "get-users",
    "get-vcpus",
    "info",
    "network-get-interfaces",
    "ping",
    "shutdown",
    "suspend-disk",
    "suspend-hybrid",
    "suspend-ram",
];

/// `qm guest cmd <vmid> <command>` (and `qm agent <vmid> <command>`).
fn guest_cmd(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("guest cmd");
    let p = parse_opts(args, &[], &|_| None, &u)?;
    positionals(&p, 2, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let cmd = p.positional[1].clone();
    if !AGENT_COMMANDS.contains(&cmd.as_str()) {
        return Err(param_error(
            &[(
                "command".into(),
                format!(
                    "value '{cmd}' does not have a value in the enumeration '{}'",
                    AGENT_COMMANDS.join(", ")
                ),
            )],
            &u,
        ));
    }
    let conf = agent_available(ctx, id)?;
    let name = conf.main.get("name").unwrap_or("localhost").to_string();
    let ip = conf
        .main
        .get("ipconfig0")
        .and_then(|v| PropStr::parse(v, None).ok())
        .and_then(|ps| ps.get("ip").map(str::to_string))
        .filter(|i| i != "dhcp")
        .unwrap_or_else(|| format!("10.0.0.{}/24", id % 250 + 2));
    let mac = conf
        .main
        .get("net0")
        .and_then(|v| parse_net(v).ok())
        .and_then(|(_, m, _)| m)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let result: Value = match cmd.as_str() {
        "get-host-name" => json!({"host-name": name}),
        "get-osinfo" => {
            json!({"id": "ubuntu", "kernel-release": "6.8.0-45-generic", "kernel-version": "#45-Ubuntu SMP PREEMPT_DYNAMIC", "machine": "x86_64", "name": "Ubuntu", "pretty-name": "Ubuntu 24.04 LTS", "version": "24.04 LTS (Noble Numbat)", "version-id": "24.04"})
        }
        "get-time" => json!(ctx.state.clock_ms * 1_000_000),
        "info" => json!({"supported_commands": [], "version": "8.2.2"}),
        "network-get-interfaces" => {
            let (addr, prefix) = ip.split_once('/').unwrap_or((&ip, "24"));
            json!([
                {"hardware-address": "00:00:00:00:00:00", "ip-addresses": [{"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8}], "name": "lo"},
                {"hardware-address": mac, "ip-addresses": [{"ip-address": addr, "ip-address-type": "ipv4", "prefix": prefix.parse::<u32>().unwrap_or(24)}], "name": "eth0"}
            ])
        }
        "get-vcpus" => json!([{"logical-id": 0, "online": true}]),
        "shutdown" => {
            stop_vm(ctx, id)?;
            return Ok(Outcome::ok(Effect::Mutate)
                .secs(cost(ctx, "qm.shutdown"))
                .guest(id));
        }
        _ => json!({}),
    };
    let out = match &result {
        Value::Object(m) if m.is_empty() => String::new(),
        Value::Object(_) | Value::Array(_) => perljson::pretty(&result),
        other => format!("{other}\n"),
    };
    Ok(Outcome::read(out)
        .secs(cost(ctx, "qm.agent_ping"))
        .guest(id))
}

fn exec_result(job: &ExecJob) -> Value {
    let mut m = Map::new();
    m.insert("exited".into(), json!(1));
    m.insert("exitcode".into(), json!(job.exitcode));
    if !job.out.is_empty() {
        m.insert("out-data".into(), json!(as_perl_prints(&job.out)));
    }
    if !job.err.is_empty() {
        m.insert("err-data".into(), json!(as_perl_prints(&job.err)));
    }
    Value::Object(m)
}

/// The guest's output as `qm` prints it: qemu-server decodes the agent's base64 into bytes
/// (QemuServer/Agent.pm qemu_exec_status) and prints them with `to_json(…, utf8 => 1)`
/// (CLI/qm.pm), one character per byte, so UTF-8 arrives encoded twice.
fn as_perl_prints(text: &str) -> String {
    text.bytes()
        .map(|b| char::from_u32(u32::from(b)).unwrap_or('?'))
        .collect()
}

/// The options of `qm guest exec`.
const EXEC_OPTS: &[(&str, Kind)] = &[
    ("timeout", Kind::Value),
    ("synchronous", Kind::Bool),
    ("pass-stdin", Kind::Bool),
];

/// How much `qm guest exec --pass-stdin` forwards (1 MiB); more is refused.
pub const STDIN_LIMIT: usize = 1024 * 1024;

/// Whether a `qm` command line is `guest exec … --pass-stdin [1]` (it parses, so its stdin
/// is read before the state lock is taken).
pub fn passes_stdin(args: &[String]) -> bool {
    let Ok("guest") = crate::tools::resolve("qm", args.first().map(String::as_str), COMMANDS)
    else {
        return false;
    };
    if args
        .get(1)
        .and_then(|s| subcommand(subcommands("guest"), s))
        != Some("exec")
    {
        return false;
    }
    crate::args::parse(&args[2..], EXEC_OPTS, &|_| None).is_ok_and(|p| p.flag("pass-stdin"))
}

/// Reads this process's stdin until EOF, at most one byte more than [`STDIN_LIMIT`] (as
/// qm, which reads line by line and gives up once past the limit). A read error ends the
/// input, as Perl's `<STDIN>` does.
pub fn read_stdin() -> Vec<u8> {
    use std::io::Read;
    let mut buf = Vec::new();
    let _ = std::io::stdin()
        .lock()
        .take(STDIN_LIMIT as u64 + 1)
        .read_to_end(&mut buf);
    buf
}

/// `qm guest exec <vmid> [--timeout N] [--synchronous 0|1] [--pass-stdin 1] -- <command>`.
/// With `--pass-stdin` qm's stdin (up to 1 MiB) is the guest command's stdin (`input-data`).
fn guest_exec(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("guest exec");
    let p = parse_opts(args, EXEC_OPTS, &|_| None, &u)?;
    if p.positional.is_empty() {
        return Err(Outcome::refuse(format!("400 not enough arguments\n{u}\n")));
    }
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let timeout = match p.get("timeout") {
        Some(t) => check::int(t, Some(0), None)
            .map_err(|e| param_error(&[("timeout".into(), e)], &u))? as u64,
        None => 30,
    };
    let sync = p.get("synchronous").is_none_or(|s| s == "1");
    if p.has("timeout") && !sync {
        return Err(param_error(
            &[("synchronous".into(), "needs to be set for 'timeout'".into())],
            &u,
        ));
    }
    let input = if p.flag("pass-stdin") {
        let data = ctx.stdin.take().unwrap_or_else(read_stdin);
        if data.len() > STDIN_LIMIT {
            return Err(die("'input-data' (STDIN) is limited to 1 MiB, aborting"));
        }
        Some(String::from_utf8_lossy(&data).into_owned())
    } else {
        None
    };
    let mut cmd: Vec<String> = p.positional[1..].to_vec();
    cmd.extend(p.rest.iter().cloned());
    agent_available(ctx, id)?;
    if cmd.is_empty() {
        // With input-data but no path, the agent itself refuses `guest-exec`.
        return Err(die(match input {
            Some(_) => {
                format!("VM {id} qmp command 'guest-exec' failed - Parameter 'path' is missing")
            }
            None => "command or input-data (or both) required".to_string(),
        }));
    }
    if crate::real::tarball().is_some() {
        return real_guest_exec(ctx, id, &cmd, input.as_deref(), sync.then_some(timeout));
    }
    let fs = vm_fs(ctx, id);
    let r = fs.exec_input(&cmd, input.as_deref().unwrap_or(""), &ctx.rules, id);
    ctx.state.next_pid = ctx.state.next_pid.max(1000) + 1;
    let pid = ctx.state.next_pid;
    let now = ctx.state.now();
    let run_secs = r.secs.max(0.0);
    let job = ExecJob {
        argv: cmd,
        exitcode: r.code,
        out: r.stdout,
        err: r.stderr,
        done_at: now + run_secs.ceil() as u64,
    };
    ctx.state
        .exec_jobs
        .insert(format!("{id}:{pid}"), job.clone());
    let effect = if r.mutates {
        Effect::Mutate
    } else {
        Effect::Read
    };
    let base = Outcome {
        effect,
        ..Outcome::ok(effect)
    }
    .guest(id);
    if !sync {
        return Ok(base
            .out(perljson::pretty(&json!({"pid": pid})))
            .secs(cost(ctx, "qm.guest_exec")));
    }
    if timeout != 0 && run_secs > timeout as f64 {
        return Ok(Outcome {
            stderr: "timeout reached, returning pid\n".into(),
            ..base
        }
        .out(perljson::pretty(&json!({"pid": pid})))
        .secs(timeout as f64));
    }
    Ok(base
        .out(perljson::pretty(&exec_result(&job)))
        .secs(cost(ctx, "qm.guest_exec") + run_secs))
}

/// What `qm` prints for a command the real agent reports finished.
fn real_result((code, out, err): crate::real::agent::Exited) -> Value {
    exec_result(&ExecJob {
        argv: Vec::new(),
        exitcode: code,
        out: String::from_utf8_lossy(&out).into_owned(),
        err: String::from_utf8_lossy(&err).into_owned(),
        done_at: 0,
    })
}

/// `qm guest exec` in a real VM, through its guest agent: started, then (synchronous) its
/// status polled each 100 ms until it exits or `wait` seconds pass (0: no limit), as
/// qemu-server's `qm guest exec` does (`PVE/CLI/qm.pm`).
fn real_guest_exec(
    ctx: &mut Ctx,
    id: u32,
    cmd: &[String],
    input: Option<&str>,
    wait: Option<u64>,
) -> R {
    let data = ctx.root.data();
    let pid = crate::real::agent::exec(&data, id, cmd, input.map(str::as_bytes)).map_err(die)?;
    let effect = if crate::real::reads_only(cmd) {
        Effect::Read
    } else {
        Effect::Mutate
    };
    let base = Outcome::ok(effect)
        .guest(id)
        .secs(cost(ctx, "qm.guest_exec"));
    let Some(wait) = wait else {
        return Ok(base.out(perljson::pretty(&json!({"pid": pid}))));
    };
    let started = std::time::Instant::now();
    loop {
        if let Some(done) = crate::real::agent::status(&data, id, pid).map_err(die)? {
            return Ok(base.out(perljson::pretty(&real_result(done))));
        }
        if wait != 0 && started.elapsed().as_secs() >= wait {
            return Ok(Outcome {
                stderr: "timeout reached, returning pid\n".into(),
                ..base
            }
            .out(perljson::pretty(&json!({"pid": pid}))));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `qm guest exec-status <vmid> <pid>`. Asking about a command that has not exited yet costs
/// `qm.exec_status_poll` simulated seconds (the poller's wait), so polling ends.
fn exec_status(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("guest exec-status");
    let p = parse_opts(args, &[], &|_| None, &u)?;
    positionals(&p, 2, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let pid = p.positional[1].clone();
    check::int(&pid, Some(0), None).map_err(|e| param_error(&[("pid".into(), e)], &u))?;
    agent_available(ctx, id)?;
    if crate::real::tarball().is_some() {
        let n: u64 = pid.parse().map_err(|_| die(format!("bad pid {pid}")))?;
        let result = match crate::real::agent::status(&ctx.root.data(), id, n).map_err(die)? {
            Some(done) => real_result(done),
            None => json!({"exited": 0}),
        };
        return Ok(Outcome::read(perljson::pretty(&result)).guest(id));
    }
    let Some(job) = ctx.state.exec_jobs.get(&format!("{id}:{pid}")).cloned() else {
        return Err(die(format!(
            "Agent error: can't get exec status for '{pid}'"
        )));
    };
    if ctx.state.now() >= job.done_at {
        return Ok(Outcome::read(perljson::pretty(&exec_result(&job))).guest(id));
    }
    Ok(Outcome::read(perljson::pretty(&json!({"exited": 0})))
        .secs(cost(ctx, "qm.exec_status_poll"))
        .guest(id))
}

/// `qm cloudinit update <vmid>`.
fn cloudinit_update(ctx: &mut Ctx, args: &[String]) -> R {
    let (_, id) = opts(args, "cloudinit update", &[], 1)?;
    let mut conf = guest::load(ctx, F, id)?;
    check_lock(&conf, F)?;
    if cloudinit_drive(&conf.main).is_none() {
        return Ok(Outcome::ok(Effect::Read).guest(id));
    }
    conf.special.remove("cloudinit");
    guest::save(ctx, F, id, &conf)?;
    Ok(Outcome::ok(Effect::Mutate)
        .out("generating cloud-init ISO\n")
        .secs(cost(ctx, "qm.cloudinit"))
        .guest(id))
}

/// The nocloud user-data, network-config and meta-data of a config.
fn cloudinit_docs(conf: &Section, id: u32) -> (String, String, String) {
    let name = conf.get("name").map_or(format!("VM{id}"), str::to_string);
    let host = name.split('.').next().unwrap_or(&name).to_string();
    let fqdn = match conf.get("searchdomain") {
        Some(d) if !name.contains('.') => {
            format!("{name}.{}", d.split_whitespace().next().unwrap_or(d))
        }
        _ => name.clone(),
    };
    let mut user =
        format!("#cloud-config\nhostname: {host}\nmanage_etc_hosts: true\nfqdn: {fqdn}\n");
    if let Some(u) = conf.get("ciuser") {
        user.push_str(&format!("user: {u}\n"));
        if u == "root" {
            user.push_str("disable_root: False\n");
        }
    }
    if let Some(p) = conf.get("cipassword") {
        user.push_str(&format!("password: {p}\n"));
    }
    if let Some(k) = conf.get("sshkeys") {
        let decoded = crate::conf::decode_text(k);
        user.push_str("ssh_authorized_keys:\n");
        for l in decoded.lines().filter(|l| !l.trim().is_empty()) {
            user.push_str(&format!("  - {l}\n"));
        }
    }
    user.push_str("chpasswd:\n  expire: False\n");
    if conf.get("ciuser") != Some("root") {
        user.push_str("users:\n  - default\n");
    }
    if conf.get("ciupgrade") != Some("0") {
        user.push_str("package_upgrade: true\n");
    }
    let mut net = "version: 1\nconfig:\n".to_string();
    let mut nets: Vec<(&String, &String)> = conf
        .keys
        .iter()
        .filter(|(k, _)| k.starts_with("net") && k[3..].parse::<u32>().is_ok())
        .collect();
    nets.sort_by_key(|(k, _)| k[3..].parse::<u32>().unwrap_or(0));
    for (k, v) in nets {
        let n = &k[3..];
        let Some(ipc) = conf.get(&format!("ipconfig{n}")) else {
            continue;
        };
        let mac = parse_net(v)
            .ok()
            .and_then(|(_, m, _)| m)
            .unwrap_or_default()
            .to_ascii_lowercase();
        net.push_str(&format!(
            "    - type: physical\n      name: eth{n}\n      mac_address: '{mac}'\n      subnets:\n"
        ));
        let ps = PropStr::parse(ipc, None).unwrap_or_default();
        match ps.get("ip") {
            Some("dhcp") | None if ps.get("ip6").is_none() || ps.get("ip").is_some() => {
                net.push_str("      - type: dhcp4\n")
            }
            Some(cidr) if cidr != "manual" && cidr != "dhcp" => {
                let (addr, prefix) = cidr.split_once('/').unwrap_or((cidr, "24"));
                let bits: u32 = prefix.parse().unwrap_or(24);
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                let m = std::net::Ipv4Addr::from(mask);
                net.push_str(&format!(
                    "      - type: static\n        address: '{addr}'\n        netmask: '{m}'\n"
                ));
                if let Some(gw) = ps.get("gw") {
                    net.push_str(&format!("        gateway: '{gw}'\n"));
                }
            }
            _ => {}
        }
        match ps.get("ip6") {
            Some("dhcp") => net.push_str("      - type: dhcp6\n"),
            Some("auto") => net.push_str("      - type: ipv6_slaac\n"),
            Some(c) if c != "manual" => {
                net.push_str(&format!("      - type: static6\n        address: '{c}'\n"));
                if let Some(gw) = ps.get("gw6") {
                    net.push_str(&format!("        gateway: '{gw}'\n"));
                }
            }
            _ => {}
        }
    }
    let ns: Vec<&str> = conf
        .get("nameserver")
        .map(|n| n.split([' ', ',', ';']).filter(|x| !x.is_empty()).collect())
        .unwrap_or_default();
    let sd: Vec<&str> = conf
        .get("searchdomain")
        .map(|n| n.split([' ', ',', ';']).filter(|x| !x.is_empty()).collect())
        .unwrap_or_default();
    net.push_str("    - type: nameserver\n");
    if !ns.is_empty() {
        net.push_str("      address:\n");
        for n in &ns {
            net.push_str(&format!("      - '{n}'\n"));
        }
    }
    if !sd.is_empty() {
        net.push_str("      search:\n");
        for s in &sd {
            net.push_str(&format!("      - '{s}'\n"));
        }
    }
    let meta = format!(
        "instance-id: {}\n",
        sha1_smol::Sha1::from(format!("{user}{net}")).digest()
    );
    (user, net, meta)
}

/// `qm cloudinit dump <vmid> user|network|meta`.
fn cloudinit_dump(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("cloudinit dump");
    let p = parse_opts(args, &[], &|_| None, &u)?;
    positionals(&p, 2, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let ty = p.positional[1].clone();
    if !matches!(ty.as_str(), "user" | "network" | "meta") {
        return Err(param_error(
            &[(
                "type".into(),
                format!(
                    "value '{ty}' does not have a value in the enumeration 'user, network, meta'"
                ),
            )],
            &u,
        ));
    }
    let conf = guest::load(ctx, F, id)?;
    let (user, net, meta) = cloudinit_docs(&conf.main, id);
    let doc = match ty.as_str() {
        "user" => user,
        "network" => net,
        _ => meta,
    };
    Ok(Outcome::read(format!("{doc}\n")).guest(id))
}

/// `qm cloudinit pending <vmid>`: cloud-init keys, old values from `[special:cloudinit]`.
fn cloudinit_pending(ctx: &mut Ctx, args: &[String]) -> R {
    let (_, id) = opts(args, "cloudinit pending", &[], 1)?;
    let conf = guest::load(ctx, F, id)?;
    let special = conf.special.get("cloudinit").cloned().unwrap_or_default();
    let added: Vec<String> = special
        .get("added")
        .map(|a| a.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let relevant = |k: &str| {
        CLOUDINIT_KEYS.contains(&k)
            || k == "name"
            || k.starts_with("ipconfig")
            || k.starts_with("net")
    };
    let mut keys: Vec<String> = conf
        .main
        .keys
        .keys()
        .filter(|k| relevant(k))
        .cloned()
        .collect();
    keys.extend(special.keys.keys().filter(|k| *k != "added").cloned());
    keys.sort();
    keys.dedup();
    let mask = |k: &str, v: &str| {
        if k == "cipassword" {
            "**********".to_string()
        } else {
            v.to_string()
        }
    };
    let mut out = String::new();
    for k in keys {
        match (conf.main.get(&k), special.get(&k)) {
            (Some(cur), _) if added.contains(&k) => {
                out.push_str(&format!("new {k}: {}\n", mask(&k, cur)))
            }
            (Some(cur), Some(old)) if old != cur => out.push_str(&format!(
                "cur {k}: {}\nnew {k}: {}\n",
                mask(&k, old),
                mask(&k, cur)
            )),
            (Some(cur), _) => out.push_str(&format!("cur {k}: {}\n", mask(&k, cur))),
            (None, Some(old)) => out.push_str(&format!("del {k}: {}\n", mask(&k, old))),
            (None, None) => {}
        }
    }
    Ok(Outcome::read(out).guest(id))
}

/// `qm destroy <vmid> [--purge] [--skiplock] [--destroy-unreferenced-disks]`.
fn destroy(ctx: &mut Ctx, args: &[String]) -> R {
    let (p, id) = opts(
        args,
        "destroy",
        &[
            ("purge", Kind::Bool),
            ("skiplock", Kind::Bool),
            ("destroy-unreferenced-disks", Kind::Bool),
        ],
        1,
    )?;
    let conf = guest::load(ctx, F, id)?;
    if conf.main.get("protection") == Some("1") {
        return Err(die(format!(
            "can't remove VM {id} - protection mode enabled"
        )));
    }
    if !p.flag("skiplock") {
        check_lock(&conf, F)?;
    }
    if ctx.state.running(id) {
        return Err(die(format!("VM {id} is running - destroy failed")));
    }
    let cfg = StorageCfg::load(&ctx.root);
    let mut vols: Vec<String> = Vec::new();
    for s in std::iter::once(&conf.main)
        .chain(std::iter::once(&conf.pending))
        .chain(conf.snapshots.values())
    {
        for (_, d) in drives(s) {
            if (d.is_cloudinit() || !d.is_cdrom()) && split_volid(d.file()).is_some() {
                vols.push(d.file().to_string());
            }
        }
        vols.extend(
            s.keys
                .iter()
                .filter(|(k, _)| k.starts_with("unused"))
                .map(|(_, v)| v.clone()),
        );
    }
    vols.sort();
    vols.dedup();
    // A template whose base volumes have linked clones cannot go.
    for v in &vols {
        if let Some(ds) = crate::state::State::volume_dataset(&cfg, v) {
            if !ctx.state.zfs_clones_of(&ds).is_empty() {
                return Err(die(format!(
                    "base volume '{v}' is still in use by linked cloned"
                )));
            }
        }
    }
    let mut out = String::new();
    let mut stderr = String::new();
    for v in vols {
        if owner_of(&v) != Some(id) {
            continue;
        }
        if let Err(e) = ctx.state.volume_free(&ctx.root, &cfg, &v) {
            stderr.push_str(&format!(
                "Could not remove disk '{v}', check manually: {e}\n"
            ));
        }
    }
    let _ = std::fs::remove_file(ctx.root.firewall(id));
    if p.flag("purge") {
        out.push_str(&format!("purging VM {id} from related configurations..\n"));
    }
    let _ = std::fs::remove_file(guest::conf_path(ctx, F, id));
    let _ = std::fs::remove_dir_all(vmfs_dir(ctx, id));
    let snaps = ctx.root.data().join("vmfs-snapshots");
    if let Ok(rd) = std::fs::read_dir(&snaps) {
        for e in rd.filter_map(Result::ok) {
            if e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{id}@"))
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    ctx.state.guests.remove(&id);
    ctx.state
        .exec_jobs
        .retain(|k, _| !k.starts_with(&format!("{id}:")));
    Ok(Outcome {
        stderr,
        ..Outcome::ok(Effect::Mutate)
    }
    .out(out)
    .secs(cost(ctx, "qm.destroy"))
    .guest(id))
}

/// `qm unlock <vmid>`.
fn unlock(ctx: &mut Ctx, args: &[String]) -> R {
    let (_, id) = opts(args, "unlock", &[], 1)?;
    let mut conf = guest::load(ctx, F, id)?;
    conf.main.remove("lock");
    conf.pending.remove("lock");
    guest::save(ctx, F, id, &conf)?;
    Ok(Outcome::ok(Effect::Mutate).guest(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nets_parse_and_print_canonically() {
        let (m, mac, rest) = parse_net("virtio,bridge=vmbr0").unwrap();
        assert_eq!((m.as_str(), mac), ("virtio", None));
        assert_eq!(
            print_net(&m, "BC:24:11:00:00:01", &rest),
            "virtio=BC:24:11:00:00:01,bridge=vmbr0"
        );
        let (_, mac, rest) = parse_net("virtio=BC:24:11:AA:BB:CC,firewall=1,bridge=vmbr0").unwrap();
        assert_eq!(mac.as_deref(), Some("BC:24:11:AA:BB:CC"));
        assert_eq!(rest.print(&[], false), "bridge=vmbr0,firewall=1");
        assert_eq!(
            parse_net("virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=0,firewall=1").unwrap_err(),
            "duplicate key in comma-separated list property: firewall"
        );
    }

    #[test]
    fn option_validation_messages() {
        assert_eq!(
            validate("cores", "0").unwrap_err()[0].1,
            "value must have a minimum value of 1"
        );
        let e = validate("ipconfig0", "gw=10.0.0.1").unwrap_err();
        assert_eq!(
            e[1],
            (
                "ipconfig0.ip".to_string(),
                "missing property - 'ipconfig0.gw' requires this property".to_string()
            )
        );
        assert!(validate("ipconfig0", "ip=10.0.0.111/24,gw=10.0.0.1").is_ok());
        assert_eq!(
            validate("startup", "order=4,up=").unwrap_err()[0].1,
            "invalid format - unable to parse startup options\n"
        );
        assert!(validate("boot", "order=scsi0;net0").is_ok());
        assert!(validate("boot", "c").is_ok());
        assert!(validate("agent", "enabled=1,fstrim_cloned_disks=1").is_ok());
        assert!(validate("scsi0", "local-zfs:vm-100-disk-0,discard=on").is_ok());
    }

    #[test]
    fn default_boot_order_follows_qemu_server() {
        let mut s = Section::default();
        s.set("scsi0", "local-zfs:vm-100-disk-0,size=32G");
        s.set("ide2", "local-zfs:vm-100-cloudinit,media=cdrom");
        s.set("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0");
        assert_eq!(default_boot_order(&s), "order=scsi0;ide2;net0");
        assert_eq!(default_boot_order(&Section::default()), "");
    }

    #[test]
    fn render_bytes_like_pve() {
        assert_eq!(render_bytes(0), "0.0 B");
        assert_eq!(render_bytes(2_362_232_012), "2.2 GiB");
    }
}
