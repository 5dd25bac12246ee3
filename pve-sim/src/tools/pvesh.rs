//! `pvesh` (pve-manager API shell): `get`, `set`, `create`, `delete` on the API paths the
//! managers use: firewall rules and options (cluster, host, guests), node and guest status,
//! node lists, `/cluster/resources`, storages, version.
//!
//! Results print as Proxmox's `CLIFormatter` does: `--output-format json` is canonical
//! compact JSON, `json-pretty` the 3-space pretty form, `yaml` a YAML document, and `text`
//! (the default) a bordered table (rows sorted by the first column) or a key/value table.
//! Methods returning null (every firewall change) print nothing.

use serde_json::{Map, Value, json};

use crate::Ctx;
use crate::args::{Kind, Parsed};
use crate::conf::Flavor;
use crate::firewall::{FwFile, Rule};
use crate::outcome::{Effect, Outcome};
use crate::storage::StorageCfg;
use crate::tools::{check, die, guest, param_error, parse_opts, perljson};

/// Options every command takes (formatting).
const FORMAT_OPTS: &[(&str, Kind)] = &[
    ("output-format", Kind::Value),
    ("noborder", Kind::Bool),
    ("noheader", Kind::Bool),
    ("quiet", Kind::Bool),
    ("human-readable", Kind::Bool),
    ("noproxy", Kind::Bool),
];

/// Which firewall file.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Fw {
    Cluster,
    Host(String),
    Guest(Flavor, u32),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Route {
    Version,
    Nodes,
    NodeStatus,
    NodeStorage,
    NodeGuests(Flavor),
    GuestStatus(Flavor, u32),
    GuestConfig(Flavor, u32),
    Resources,
    FwIndex(Fw),
    FwRules(Fw),
    FwRule(Fw, usize),
    FwOptions(Fw),
}

fn flavor_of(s: &str) -> Option<Flavor> {
    match s {
        "lxc" => Some(Flavor::Lxc),
        "qemu" => Some(Flavor::Qemu),
        _ => None,
    }
}

/// Resolves an API path. Unknown paths fail as pvesh does.
fn route(ctx: &Ctx, path: &str) -> Result<Route, Outcome> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let no_such = || die(format!("no such resource '{path}'"));
    let node_ok = |n: &str| -> Result<(), Outcome> {
        if n == ctx.state.node || n == "localhost" {
            Ok(())
        } else {
            Err(die(format!("no such cluster node '{n}'")))
        }
    };
    let vmid = |s: &str| -> Result<u32, Outcome> {
        check::vmid(s).map_err(|e| {
            param_error(
                &[("vmid".into(), e)],
                "pvesh <command> <api_path> [OPTIONS] [FORMAT_OPTIONS]",
            )
        })
    };
    let fw = |target: Fw, rest: &[&str]| -> Result<Route, Outcome> {
        match rest {
            [] => Ok(Route::FwIndex(target)),
            ["rules"] => Ok(Route::FwRules(target)),
            ["rules", pos] => {
                let n = pos.parse::<usize>().map_err(|_| {
                    param_error(
                        &[(
                            "pos".into(),
                            format!("type check ('integer') failed - got '{pos}'"),
                        )],
                        "pvesh <command> <api_path> [OPTIONS] [FORMAT_OPTIONS]",
                    )
                })?;
                Ok(Route::FwRule(target, n))
            }
            ["options"] => Ok(Route::FwOptions(target)),
            _ => Err(no_such()),
        }
    };
    match parts.as_slice() {
        ["version"] => Ok(Route::Version),
        ["nodes"] => Ok(Route::Nodes),
        ["cluster", "resources"] => Ok(Route::Resources),
        ["cluster", "firewall", rest @ ..] => fw(Fw::Cluster, rest),
        ["nodes", n, rest @ ..] => {
            node_ok(n)?;
            match rest {
                ["status"] => Ok(Route::NodeStatus),
                ["storage"] => Ok(Route::NodeStorage),
                ["firewall", r @ ..] => fw(Fw::Host((*n).to_string()), r),
                [kind] if flavor_of(kind).is_some() => {
                    Ok(Route::NodeGuests(flavor_of(kind).unwrap_or(Flavor::Lxc)))
                }
                [kind, id, r @ ..] if flavor_of(kind).is_some() => {
                    let f = flavor_of(kind).unwrap_or(Flavor::Lxc);
                    let id = vmid(id)?;
                    match r {
                        ["status", "current"] => Ok(Route::GuestStatus(f, id)),
                        ["config"] => Ok(Route::GuestConfig(f, id)),
                        ["firewall", r2 @ ..] => fw(Fw::Guest(f, id), r2),
                        _ => Err(no_such()),
                    }
                }
                _ => Err(no_such()),
            }
        }
        _ => Err(no_such()),
    }
}

/// Parameters a method takes: `(name, kind, required)`.
fn params(route: &Route, method: &str) -> Option<Vec<(&'static str, Kind, bool)>> {
    let rule_props: Vec<(&'static str, Kind, bool)> = [
        "action",
        "comment",
        "dest",
        "digest",
        "dport",
        "enable",
        "icmp-type",
        "iface",
        "log",
        "macro",
        "pos",
        "proto",
        "source",
        "sport",
        "type",
    ]
    .iter()
    .map(|k| (*k, Kind::Value, false))
    .collect();
    match (route, method) {
        (Route::Resources, "get") => Some(vec![("type", Kind::Value, false)]),
        (Route::GuestConfig(..), "get") => Some(vec![
            ("current", Kind::Bool, false),
            ("snapshot", Kind::Value, false),
        ]),
        (Route::FwRules(_), "get") | (Route::FwRule(..), "get") | (Route::FwOptions(_), "get") => {
            Some(vec![])
        }
        (Route::FwRules(_), "create") => {
            let mut v = rule_props;
            for p in v.iter_mut() {
                if p.0 == "type" || p.0 == "action" {
                    p.2 = true;
                }
            }
            Some(v)
        }
        (Route::FwRule(..), "set") => {
            let mut v = rule_props;
            v.extend([
                ("moveto", Kind::Value, false),
                ("delete", Kind::Value, false),
            ]);
            Some(v)
        }
        (Route::FwRule(..), "delete") => Some(vec![("digest", Kind::Value, false)]),
        (Route::FwOptions(fw), "set") => {
            let mut v: Vec<(&'static str, Kind, bool)> = option_schema(fw)
                .iter()
                .map(|(k, _)| (*k, Kind::Value, false))
                .collect();
            v.extend([
                ("delete", Kind::Value, false),
                ("digest", Kind::Value, false),
            ]);
            Some(v)
        }
        (_, "get") => Some(vec![]),
        _ => None,
    }
}

/// The option schema of a firewall file: name → value kind (`bool`, `int`, `policy`, `log`, `str`).
fn option_schema(fw: &Fw) -> &'static [(&'static str, &'static str)] {
    match fw {
        Fw::Guest(..) => &[
            ("dhcp", "bool"),
            ("enable", "bool"),
            ("ipfilter", "bool"),
            ("log_level_in", "log"),
            ("log_level_out", "log"),
            ("macfilter", "bool"),
            ("ndp", "bool"),
            ("policy_in", "policy"),
            ("policy_out", "policy"),
            ("radv", "bool"),
        ],
        Fw::Host(_) => &[
            ("enable", "bool"),
            ("log_level_forward", "log"),
            ("log_level_in", "log"),
            ("log_level_out", "log"),
            ("log_nf_conntrack", "bool"),
            ("ndp", "bool"),
            ("nf_conntrack_allow_invalid", "bool"),
            ("nf_conntrack_helpers", "str"),
            ("nf_conntrack_max", "int"),
            ("nf_conntrack_tcp_timeout_established", "int"),
            ("nf_conntrack_tcp_timeout_syn_recv", "int"),
            ("nftables", "bool"),
            ("nosmurfs", "bool"),
            ("protection_synflood", "bool"),
            ("protection_synflood_burst", "int"),
            ("protection_synflood_rate", "int"),
            ("smurf_log_level", "log"),
            ("tcp_flags_log_level", "log"),
            ("tcpflags", "bool"),
        ],
        Fw::Cluster => &[
            ("ebtables", "bool"),
            ("enable", "int"),
            ("log_ratelimit", "str"),
            ("policy_forward", "policy"),
            ("policy_in", "policy"),
            ("policy_out", "policy"),
        ],
    }
}

const LOG_LEVELS: &[&str] = &[
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug", "nolog",
];

fn usage_for(cmd: &str, route: Option<&Route>) -> String {
    let req = match (route, cmd) {
        (Some(Route::FwRules(_)), "create") => " --action <string> --type <string>",
        _ => "",
    };
    format!("pvesh {cmd} <api_path>{req} [OPTIONS] [FORMAT_OPTIONS]")
}

/// Runs `pvesh <args>`.
pub fn run(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let Some(cmd) = args.first().map(String::as_str) else {
        return Outcome::refuse(
            "ERROR: no command specified\nUSAGE: pvesh <COMMAND> [ARGS] [OPTIONS]\n",
        );
    };
    let method = match cmd {
        "get" | "set" | "create" | "delete" => cmd,
        "ls" | "usage" => return die(format!("pvesh {cmd}: not simulated")),
        other => {
            return Outcome::refuse(format!(
                "ERROR: unknown command 'pvesh {other}'\nUSAGE: pvesh <COMMAND> [ARGS] [OPTIONS]\n"
            ));
        }
    };
    let Some(path) = args.get(1).filter(|a| !a.starts_with('-')) else {
        return Outcome::refuse(format!(
            "400 not enough arguments\n{}\n",
            usage_for(method, None)
        ));
    };
    let r = (|| -> Result<Outcome, Outcome> {
        let rt = route(ctx, path)?;
        let Some(spec) = params(&rt, method) else {
            let mut o = die(format!("No '{method}' handler defined for '{path}'"));
            o.code = 1;
            return Err(o);
        };
        let u = usage_for(method, Some(&rt));
        let mut all: Vec<(&str, Kind)> = spec.iter().map(|(k, kind, _)| (*k, *kind)).collect();
        all.extend_from_slice(FORMAT_OPTS);
        let p = parse_opts(&args[2..], &all, &|_| None, &u)?;
        if !p.positional.is_empty() {
            return Err(Outcome::refuse(format!("400 too many arguments\n{u}\n")));
        }
        let missing: Vec<(String, String)> = spec
            .iter()
            .filter(|(k, _, req)| *req && !p.has(k))
            .map(|(k, _, _)| {
                (
                    (*k).to_string(),
                    "property is missing and it is not optional".to_string(),
                )
            })
            .collect();
        if !missing.is_empty() {
            return Err(param_error(&missing, &u));
        }
        let format = p.get("output-format").unwrap_or("text").to_string();
        if !matches!(format.as_str(), "text" | "json" | "json-pretty" | "yaml") {
            return Err(param_error(
                &[(
                    "output-format".into(),
                    format!(
                        "value '{format}' does not have a value in the enumeration 'text, json, json-pretty, yaml'"
                    ),
                )],
                &u,
            ));
        }
        match method {
            "get" => {
                let (data, table) = get(ctx, &rt, &p)?;
                let out = render(
                    &data,
                    &table,
                    &format,
                    p.flag("noborder"),
                    p.flag("noheader"),
                );
                Ok(Outcome::read(if p.flag("quiet") {
                    String::new()
                } else {
                    out
                }))
            }
            _ => {
                change(ctx, &rt, method, &p, &u)?;
                Ok(Outcome::ok(Effect::Mutate).secs(ctx.knobs.cost("pct.set")))
            }
        }
    })();
    r.unwrap_or_else(|o| o)
}

/// How `text` output lays out a result.
#[derive(Clone, Debug, Default)]
struct Table {
    /// Columns for arrays of objects: `(name, numeric)`; empty = all keys, sorted.
    columns: Vec<(&'static str, bool)>,
    /// For objects: the keys shown (empty = all, sorted).
    keys: Vec<&'static str>,
}

fn fw_path(ctx: &Ctx, fw: &Fw) -> std::path::PathBuf {
    match fw {
        Fw::Cluster => ctx.root.host("/etc/pve/firewall/cluster.fw"),
        Fw::Host(n) => ctx.root.host(format!("/etc/pve/nodes/{n}/host.fw")),
        Fw::Guest(_, id) => ctx.root.firewall(*id),
    }
}

/// Loads a firewall file (guests must exist).
fn load_fw(ctx: &Ctx, fw: &Fw) -> Result<FwFile, Outcome> {
    if let Fw::Guest(f, id) = fw {
        guest::load(ctx, *f, *id)?;
    }
    Ok(FwFile::load(&fw_path(ctx, fw)))
}

fn rule_env(fw: &Fw) -> &'static str {
    match fw {
        Fw::Cluster => "cluster",
        Fw::Host(_) => "host",
        Fw::Guest(Flavor::Lxc, _) => "ct",
        Fw::Guest(Flavor::Qemu, _) => "vm",
    }
}

/// `ipversion` a rule gets from its addresses or protocol.
fn ipversion(r: &Rule) -> Option<u8> {
    for a in [&r.source, &r.dest].into_iter().flatten() {
        let first = a.split(',').next().unwrap_or("");
        let ip = first.split(['/', '-']).next().unwrap_or("");
        if ip.parse::<std::net::Ipv4Addr>().is_ok() {
            return Some(4);
        }
        if ip.parse::<std::net::Ipv6Addr>().is_ok() {
            return Some(6);
        }
    }
    match r.proto.as_deref() {
        Some("icmp") => Some(4),
        Some("icmpv6" | "ipv6-icmp") => Some(6),
        _ => None,
    }
}

fn rule_json(r: &Rule) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("type".into(), json!(r.kind));
    m.insert("action".into(), json!(r.action));
    m.insert("enable".into(), json!(u8::from(r.enable)));
    let opt = [
        ("macro", &r.macro_),
        ("iface", &r.iface),
        ("source", &r.source),
        ("dest", &r.dest),
        ("proto", &r.proto),
        ("dport", &r.dport),
        ("sport", &r.sport),
        ("log", &r.log),
        ("icmp-type", &r.icmp_type),
        ("comment", &r.comment),
    ];
    for (k, v) in opt {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    if let Some(v) = ipversion(r) {
        m.insert("ipversion".into(), json!(v));
    }
    m
}

/// `copy_list_with_digest`: SHA-1 over every rule's sorted `key:value` lines.
fn rules_digest(rules: &[Rule]) -> String {
    let mut sha = sha1_smol::Sha1::new();
    for r in rules {
        let m = rule_json(r);
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort();
        for k in keys {
            let v = match &m[k] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            sha.update(format!("{k}:{v}\n").as_bytes());
        }
    }
    sha.digest().to_string()
}

fn options_digest(opts: &std::collections::BTreeMap<String, String>) -> String {
    let mut sha = sha1_smol::Sha1::new();
    for (k, v) in opts {
        sha.update(format!("{k}:{v}\n").as_bytes());
    }
    sha.digest().to_string()
}

fn option_value(schema_kind: &str, v: &str) -> Value {
    match schema_kind {
        "bool" | "int" => v.parse::<i64>().map_or_else(|_| json!(v), |n| json!(n)),
        _ => json!(v),
    }
}

fn guest_list(ctx: &Ctx, f: Flavor) -> Vec<u32> {
    guest::ids(&ctx.root, f)
}

fn guest_status(ctx: &Ctx, f: Flavor, id: u32) -> Result<Map<String, Value>, Outcome> {
    let conf = guest::load(ctx, f, id)?;
    let m = &conf.main;
    let running = ctx.state.running(id);
    let rt = ctx.state.runtime(id);
    let mut o = Map::new();
    o.insert("vmid".into(), json!(id));
    let name = match f {
        Flavor::Lxc => m.get("hostname").map_or(format!("CT{id}"), str::to_string),
        Flavor::Qemu => m.get("name").map_or(format!("VM {id}"), str::to_string),
    };
    o.insert("name".into(), json!(name));
    o.insert(
        "status".into(),
        json!(if running { "running" } else { "stopped" }),
    );
    o.insert(
        "type".into(),
        json!(match f {
            Flavor::Lxc => "lxc",
            Flavor::Qemu => "qemu",
        }),
    );
    let cores: u64 = m.get("cores").and_then(|c| c.parse().ok()).unwrap_or(1);
    o.insert("cpus".into(), json!(cores));
    let mem: u64 = m.get("memory").and_then(|c| c.parse().ok()).unwrap_or(512);
    o.insert("maxmem".into(), json!(mem << 20));
    o.insert(
        "mem".into(),
        json!(if running { (mem << 20) / 4 } else { 0 }),
    );
    o.insert(
        "uptime".into(),
        json!(if running {
            ctx.state.now().saturating_sub(rt.started_at)
        } else {
            0
        }),
    );
    o.insert("cpu".into(), json!(0));
    for k in [
        "disk",
        "diskread",
        "diskwrite",
        "netin",
        "netout",
        "maxdisk",
    ] {
        o.insert(k.into(), json!(0));
    }
    if guest::is_template(&conf) {
        o.insert("template".into(), json!(1));
    }
    if let Some(l) = m.get("lock") {
        o.insert("lock".into(), json!(l));
    }
    if let Some(t) = m.get("tags") {
        o.insert("tags".into(), json!(t));
    }
    if running {
        o.insert("pid".into(), json!(10_000 + id));
    }
    Ok(o)
}

fn get(ctx: &Ctx, rt: &Route, p: &Parsed) -> Result<(Value, Table), Outcome> {
    let cpus: u64 = ctx
        .state
        .facts
        .get("cpus")
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let memory: u64 = ctx
        .state
        .facts
        .get("memory")
        .and_then(|v| v.parse().ok())
        .unwrap_or(64 << 30);
    let uptime = ctx.state.now().saturating_sub(crate::clock::EPOCH_START);
    let node = ctx.state.node.clone();
    Ok(match rt {
        Route::Version => (
            json!({"release": "9.0", "repoid": "pvesim", "version": "9.0.10"}),
            Table::default(),
        ),
        Route::Nodes => (
            json!([{"cpu": 0.0123, "disk": 2_873_229_312u64, "id": format!("node/{node}"), "level": "", "maxcpu": cpus, "maxdisk": 100_861_726_720u64, "maxmem": memory, "mem": memory / 16, "node": node, "ssl_fingerprint": "5A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9", "status": "online", "type": "node", "uptime": uptime}]),
            Table {
                columns: vec![
                    ("node", false),
                    ("status", false),
                    ("cpu", true),
                    ("level", false),
                    ("maxcpu", true),
                    ("maxmem", true),
                    ("mem", true),
                    ("ssl_fingerprint", false),
                    ("uptime", true),
                ],
                keys: vec![],
            },
        ),
        Route::NodeStatus => (
            {
                let prof = crate::profile::of(&ctx.state);
                json!({
                    "boot-info": {"mode": "efi", "secureboot": 0},
                    "cpu": 0.0123,
                    "cpuinfo": {"cores": cpus / 2, "cpus": cpus, "flags": "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr", "hvm": "1", "mhz": "3600.000", "model": "pve-sim virtual CPU", "sockets": 1, "user_hz": 100},
                    "current-kernel": {"machine": "x86_64", "release": prof.kernel, "sysname": "Linux", "version": prof.kernel_build},
                    "idle": 0,
                    "kversion": format!("Linux {} {}", prof.kernel, prof.kernel_build),
                    "loadavg": ["0.05", "0.10", "0.08"],
                    "memory": {"free": memory - memory / 16, "total": memory, "used": memory / 16},
                    "pveversion": format!("pve-manager/{}", prof.manager_text),
                    "rootfs": {"avail": 90u64 << 30, "free": 90u64 << 30, "total": 100u64 << 30, "used": 10u64 << 30},
                    "swap": {"free": 8u64 << 30, "total": 8u64 << 30, "used": 0},
                    "uptime": uptime,
                    "wait": 0,
                })
            },
            Table {
                columns: vec![],
                keys: vec![
                    "boot-info",
                    "cpu",
                    "cpuinfo",
                    "current-kernel",
                    "loadavg",
                    "memory",
                    "pveversion",
                    "rootfs",
                ],
            },
        ),
        Route::NodeStorage => {
            let cfg = StorageCfg::load(&ctx.root);
            let list: Vec<Value> = cfg.entries.iter().map(|s| json!({"storage": s.id, "type": s.kind, "content": s.content().join(","), "active": i32::from(!s.disabled()), "enabled": i32::from(!s.disabled()), "shared": i32::from(s.kind == "nfs")})).collect();
            (
                Value::Array(list),
                Table {
                    columns: vec![
                        ("storage", false),
                        ("type", false),
                        ("active", true),
                        ("content", false),
                        ("enabled", true),
                        ("shared", true),
                    ],
                    keys: vec![],
                },
            )
        }
        Route::NodeGuests(f) => {
            let mut list = Vec::new();
            for id in guest_list(ctx, *f) {
                list.push(Value::Object(guest_status(ctx, *f, id)?));
            }
            (
                Value::Array(list),
                Table {
                    columns: vec![
                        ("status", false),
                        ("vmid", true),
                        ("cpus", true),
                        ("maxmem", true),
                        ("name", false),
                        ("uptime", true),
                    ],
                    keys: vec![],
                },
            )
        }
        Route::GuestStatus(f, id) => (Value::Object(guest_status(ctx, *f, *id)?), Table::default()),
        Route::GuestConfig(f, id) => {
            let conf = guest::load(ctx, *f, *id)?;
            let section = match p.get("snapshot") {
                Some(s) => conf
                    .snapshots
                    .get(s)
                    .cloned()
                    .ok_or_else(|| die(format!("snapshot '{s}' does not exist")))?,
                None if p.flag("current") => conf.main.clone(),
                None => conf.with_pending(),
            };
            let mut m = Map::new();
            for (k, v) in &section.keys {
                m.insert(
                    k.clone(),
                    v.parse::<i64>().map_or_else(|_| json!(v), |n| json!(n)),
                );
            }
            if let Some(d) = &section.description {
                m.insert("description".into(), json!(d));
            }
            for (k, v) in &section.raw {
                m.insert(k.clone(), json!(v));
            }
            m.insert(
                "digest".into(),
                json!(sha1_smol::Sha1::from(conf.render(*f)).digest().to_string()),
            );
            (Value::Object(m), Table::default())
        }
        Route::Resources => {
            let want = p.get("type");
            if let Some(t) = want {
                if !matches!(t, "vm" | "storage" | "node" | "sdn") {
                    return Err(param_error(
                        &[(
                            "type".into(),
                            format!(
                                "value '{t}' does not have a value in the enumeration 'vm, storage, node, sdn'"
                            ),
                        )],
                        "pvesh get <api_path> [OPTIONS] [FORMAT_OPTIONS]",
                    ));
                }
            }
            let mut list = Vec::new();
            if want.is_none_or(|t| t == "node") {
                list.push(json!({"id": format!("node/{node}"), "type": "node", "node": node, "status": "online", "cpu": 0.0123, "maxcpu": cpus, "mem": memory / 16, "maxmem": memory, "disk": 10u64 << 30, "maxdisk": 100u64 << 30, "uptime": uptime, "level": ""}));
            }
            if want.is_none_or(|t| t == "storage") {
                for s in StorageCfg::load(&ctx.root).entries {
                    list.push(json!({"id": format!("storage/{node}/{}", s.id), "type": "storage", "storage": s.id, "node": node, "plugintype": s.kind, "status": if s.disabled() { "unknown" } else { "available" }, "shared": i32::from(s.kind == "nfs"), "content": s.content().join(",")}));
                }
            }
            if want.is_none_or(|t| t == "vm") {
                for f in [Flavor::Qemu, Flavor::Lxc] {
                    for id in guest_list(ctx, f) {
                        let mut g = guest_status(ctx, f, id)?;
                        let ty = g.get("type").cloned().unwrap_or(json!("lxc"));
                        g.insert(
                            "id".into(),
                            json!(format!("{}/{id}", ty.as_str().unwrap_or("lxc"))),
                        );
                        g.insert("node".into(), json!(node));
                        g.entry("template").or_insert(json!(0));
                        list.push(Value::Object(g));
                    }
                }
            }
            (
                Value::Array(list),
                Table {
                    columns: vec![
                        ("id", false),
                        ("type", false),
                        ("cpu", true),
                        ("disk", true),
                        ("maxdisk", true),
                        ("maxmem", true),
                        ("mem", true),
                        ("name", false),
                        ("node", false),
                        ("status", false),
                        ("storage", false),
                        ("uptime", true),
                        ("vmid", true),
                    ],
                    keys: vec![],
                },
            )
        }
        Route::FwIndex(_) => (
            json!([{"name": "rules"}, {"name": "aliases"}, {"name": "ipset"}, {"name": "refs"}, {"name": "options"}]),
            Table {
                columns: vec![("name", false)],
                keys: vec![],
            },
        ),
        Route::FwRules(fw) => {
            let f = load_fw(ctx, fw)?;
            let digest = rules_digest(&f.rules);
            let list: Vec<Value> = f
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let mut m = rule_json(r);
                    m.insert("pos".into(), json!(i));
                    m.insert("digest".into(), json!(digest));
                    Value::Object(m)
                })
                .collect();
            (Value::Array(list), rules_table())
        }
        Route::FwRule(fw, pos) => {
            let f = load_fw(ctx, fw)?;
            let Some(r) = f.rules.get(*pos) else {
                return Err(die(format!("no rule at position {pos}")));
            };
            let mut m = rule_json(r);
            m.insert("pos".into(), json!(pos));
            m.insert("digest".into(), json!(rules_digest(&f.rules)));
            (
                Value::Object(m),
                Table {
                    columns: vec![],
                    keys: vec![
                        "action",
                        "comment",
                        "dest",
                        "dport",
                        "enable",
                        "icmp-type",
                        "iface",
                        "ipversion",
                        "log",
                        "macro",
                        "pos",
                        "proto",
                        "source",
                        "sport",
                        "type",
                    ],
                },
            )
        }
        Route::FwOptions(fw) => {
            let f = load_fw(ctx, fw)?;
            let schema = option_schema(fw);
            let mut m = Map::new();
            for (k, v) in &f.options {
                let kind = schema
                    .iter()
                    .find(|(n, _)| n == k)
                    .map_or("str", |(_, t)| *t);
                m.insert(k.clone(), option_value(kind, v));
            }
            m.insert("digest".into(), json!(options_digest(&f.options)));
            (
                Value::Object(m),
                Table {
                    columns: vec![],
                    keys: schema.iter().map(|(k, _)| *k).collect(),
                },
            )
        }
    })
}

fn rules_table() -> Table {
    Table {
        columns: vec![
            ("action", false),
            ("pos", true),
            ("type", false),
            ("comment", false),
            ("dest", false),
            ("dport", false),
            ("enable", true),
            ("icmp-type", false),
            ("iface", false),
            ("ipversion", true),
            ("log", false),
            ("macro", false),
            ("proto", false),
            ("source", false),
            ("sport", false),
        ],
        keys: vec![],
    }
}

const MACROS: &[&str] = &[
    "Amanda",
    "Auth",
    "BGP",
    "BitTorrent",
    "BitTorrent32",
    "CVS",
    "Ceph",
    "Citrix",
    "DAAP",
    "DCC",
    "DHCPfwd",
    "DHCPv6",
    "DNS",
    "Distcc",
    "FTP",
    "Finger",
    "GNUnet",
    "GRE",
    "Git",
    "HKP",
    "HTTP",
    "HTTPS",
    "ICPV2",
    "ICQ",
    "IMAP",
    "IMAPS",
    "IPIP",
    "IPP",
    "IPsec",
    "IPsecah",
    "IPsecnat",
    "IRC",
    "Jetdirect",
    "L2TP",
    "LDAP",
    "LDAPS",
    "MDNS",
    "MSNP",
    "MSSQL",
    "Mail",
    "Munin",
    "MySQL",
    "NNTP",
    "NNTPS",
    "NTP",
    "NeighborDiscovery",
    "OSPF",
    "OpenVPN",
    "PCA",
    "POP3",
    "POP3S",
    "PPtP",
    "Ping",
    "PostgreSQL",
    "Printer",
    "RDP",
    "RIP",
    "RNDC",
    "Razor",
    "Rdate",
    "Rsync",
    "SANE",
    "SMB",
    "SMBswat",
    "SMTP",
    "SMTPS",
    "SNMP",
    "SPAMD",
    "SPICEproxy",
    "SSH",
    "SVN",
    "SixXS",
    "Squid",
    "Submission",
    "Syslog",
    "TFTP",
    "Telnet",
    "Telnets",
    "Time",
    "Trcrt",
    "VNC",
    "VNCL",
    "Web",
    "Webcache",
    "Webmin",
    "Whois",
];

const PORT_PROTOS: &[&str] = &[
    "tcp", "udp", "udplite", "sctp", "dccp", "6", "17", "33", "132", "136",
];
const PROTOS: &[&str] = &[
    "tcp",
    "udp",
    "udplite",
    "sctp",
    "dccp",
    "icmp",
    "icmpv6",
    "ipv6-icmp",
    "igmp",
    "gre",
    "esp",
    "ah",
    "ospf",
    "vrrp",
    "ipip",
    "ipv6",
    "l2tp",
    "pim",
    "rsvp",
];
const SERVICES: &[&str] = &[
    "ssh",
    "http",
    "https",
    "domain",
    "smtp",
    "ftp",
    "imap",
    "imaps",
    "pop3",
    "pop3s",
    "ntp",
    "ldap",
    "ldaps",
    "mysql",
    "postgresql",
    "rsync",
    "snmp",
    "telnet",
];

fn check_ports(v: &str) -> Result<(), String> {
    for part in v.split(',') {
        for p in part.split(':') {
            let ok = p.parse::<u32>().is_ok_and(|n| n <= 65535) || SERVICES.contains(&p);
            if !ok {
                return Err(format!("invalid port '{p}'"));
            }
        }
    }
    Ok(())
}

/// Checks an address spec: IPs, CIDRs, ranges, `+ipset`, alias names.
fn check_addr(v: &str, fwf: &FwFile, cluster: &FwFile) -> Result<Option<u8>, String> {
    if let Some(set) = v.strip_prefix('+') {
        let name = set
            .trim_start_matches("dc/")
            .trim_start_matches("guest/")
            .to_ascii_lowercase();
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            || name.is_empty()
        {
            return Err(format!("invalid ipset name '{v}'"));
        }
        if !fwf.ipsets.contains_key(&name) && !cluster.ipsets.contains_key(&name) {
            return Err(format!("no such ipset '{name}'"));
        }
        return Ok(None);
    }
    let mut version = None;
    for item in v.split(',') {
        let ip_part = item.split('/').next().unwrap_or("");
        let (a, b) = ip_part.split_once('-').unwrap_or((ip_part, ""));
        let ver = if a.parse::<std::net::Ipv4Addr>().is_ok() {
            Some(4)
        } else if a.parse::<std::net::Ipv6Addr>().is_ok() {
            Some(6)
        } else {
            None
        };
        let Some(ver) = ver else {
            // An alias.
            let alias = item
                .trim_start_matches("dc/")
                .trim_start_matches("guest/")
                .to_ascii_lowercase();
            let known = |f: &FwFile| {
                f.aliases.iter().any(|l| {
                    l.split_whitespace()
                        .next()
                        .is_some_and(|n| n.eq_ignore_ascii_case(&alias))
                })
            };
            if alias
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && (known(fwf) || known(cluster))
            {
                continue;
            }
            if alias
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
            {
                return Err(format!("no such alias '{alias}'"));
            }
            return Err(format!("invalid IP address '{item}'"));
        };
        if !b.is_empty() && b.parse::<std::net::IpAddr>().is_err() {
            return Err(format!("invalid IP address '{item}'"));
        }
        if let Some((_, prefix)) = item.split_once('/') {
            let max = if ver == 4 { 32 } else { 128 };
            if !prefix.parse::<u8>().is_ok_and(|p| p <= max) {
                return Err(format!("invalid IP address '{item}'"));
            }
        }
        if version.is_some_and(|x| x != ver) {
            return Err("detected mixed ipv4/ipv6 addresses in rule".to_string());
        }
        version = Some(ver);
    }
    Ok(version)
}

/// Applies rule parameters to `r` and verifies it (`verify_rule`), collecting param errors.
fn apply_rule_params(
    r: &mut Rule,
    p: &Parsed,
    fw: &Fw,
    fwf: &FwFile,
    cluster: &FwFile,
) -> Vec<(String, String)> {
    let mut errors: Vec<(String, String)> = Vec::new();
    let val = |k: &str| {
        p.get(k).map(|v| {
            if v.is_empty() || v == "-" {
                None
            } else {
                Some(v.to_string())
            }
        })
    };
    if let Some(v) = p.get("type") {
        r.kind = v.to_ascii_lowercase();
    }
    if let Some(v) = p.get("action") {
        r.action = v.to_string();
    }
    for (k, slot) in [
        ("macro", &mut r.macro_),
        ("iface", &mut r.iface),
        ("source", &mut r.source),
        ("dest", &mut r.dest),
        ("proto", &mut r.proto),
        ("dport", &mut r.dport),
        ("sport", &mut r.sport),
        ("log", &mut r.log),
        ("icmp-type", &mut r.icmp_type),
        ("comment", &mut r.comment),
    ] {
        if let Some(v) = val(k) {
            *slot = v;
        }
    }
    if let Some(e) = p.get("enable") {
        match check::int(e, Some(0), None) {
            Ok(n) => r.enable = n > 0,
            Err(m) => errors.push(("enable".into(), m)),
        }
    }
    let env = rule_env(fw);
    let types: &[&str] = if matches!(env, "host" | "cluster") {
        &["in", "out", "forward", "group"]
    } else {
        &["in", "out", "group"]
    };
    if !["in", "out", "forward", "group"].contains(&r.kind.as_str()) {
        errors.push((
            "type".into(),
            format!(
                "value '{}' does not have a value in the enumeration 'in, out, forward, group'",
                r.kind
            ),
        ));
    } else if !types.contains(&r.kind.as_str()) {
        errors.push((
            "type".into(),
            format!("invalid rule type '{}' for rule_env '{env}'", r.kind),
        ));
    }
    let action_ok = r.action.len() >= 2
        && r.action.len() <= 20
        && r.action.starts_with(|c: char| c.is_ascii_alphabetic())
        && r.action
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !action_ok {
        errors.push((
            "action".into(),
            "value does not match the regex pattern".into(),
        ));
    } else if r.kind == "group" {
        if !cluster.groups.contains_key(&r.action.to_ascii_lowercase()) {
            errors.push((
                "action".into(),
                format!("no such security group '{}'", r.action),
            ));
        }
    } else if !matches!(r.action.as_str(), "ACCEPT" | "DROP" | "REJECT") {
        errors.push(("action".into(), format!("unknown action '{}'", r.action)));
    } else if r.kind == "forward" && r.action == "REJECT" {
        errors.push((
            "action".into(),
            "cannot define REJECT rules on forward chain".into(),
        ));
    }
    if let Some(m) = r.macro_.clone() {
        match MACROS.iter().find(|x| x.eq_ignore_ascii_case(&m)) {
            Some(x) => r.macro_ = Some((*x).to_string()),
            None => errors.push(("macro".into(), format!("unknown macro '{m}'"))),
        }
    }
    if let Some(i) = &r.iface {
        if matches!(env, "vm" | "ct") && !(i.starts_with("net") && i[3..].parse::<u8>().is_ok()) {
            errors.push((
                "iface".into(),
                "value does not match the regex pattern 'net\\d+'".into(),
            ));
        }
    }
    if let Some(l) = &r.log {
        if !LOG_LEVELS.contains(&l.as_str()) {
            errors.push((
                "log".into(),
                format!(
                    "value '{l}' does not have a value in the enumeration '{}'",
                    LOG_LEVELS.join(", ")
                ),
            ));
        }
    }
    if let Some(pr) = &r.proto {
        if !(PROTOS.contains(&pr.as_str()) || pr.parse::<u8>().is_ok()) {
            errors.push(("proto".into(), format!("unknown protocol '{pr}'")));
        }
    }
    for (k, v) in [("dport", r.dport.clone()), ("sport", r.sport.clone())] {
        let Some(v) = v else { continue };
        match &r.proto {
            None => errors.push((
                "proto".into(),
                format!("missing property - '{k}' requires this property"),
            )),
            Some(pr) if !PORT_PROTOS.contains(&pr.as_str()) => {
                errors.push((k.into(), format!("protocol '{pr}' does not support ports")))
            }
            _ => {
                if let Err(e) = check_ports(&v) {
                    errors.push((k.into(), e));
                }
            }
        }
    }
    if r.icmp_type.is_some() {
        if r.dport.is_some() {
            errors.push((
                "icmp-type".into(),
                "'icmp-type' cannot be specified together with 'dport'".into(),
            ));
        } else if !matches!(r.proto.as_deref(), Some("icmp" | "icmpv6" | "ipv6-icmp")) {
            errors.push((
                "proto".into(),
                "missing property - 'icmp-type' requires this property".into(),
            ));
        }
    }
    let mut versions = Vec::new();
    for (k, v) in [("source", r.source.clone()), ("dest", r.dest.clone())] {
        let Some(v) = v else { continue };
        match check_addr(&v, fwf, cluster) {
            Ok(Some(ver)) => versions.push(ver),
            Ok(None) => {}
            Err(e) => errors.push((k.into(), e)),
        }
    }
    if versions.windows(2).any(|w| w[0] != w[1]) {
        errors.push((
            "source".into(),
            "detected mixed ipv4/ipv6 addresses in rule".into(),
        ));
    }
    errors
}

fn check_digest(given: Option<&str>, current: &str) -> Result<(), Outcome> {
    match given {
        Some(d) if d != current => Err(die(
            "detected modified configuration - file changed by other user? Try again.",
        )),
        _ => Ok(()),
    }
}

fn save_fw(ctx: &Ctx, fw: &Fw, f: &FwFile) -> Result<(), Outcome> {
    f.save(&fw_path(ctx, fw)).map_err(|e| die(format!("{e:#}")))
}

/// `set`/`create`/`delete`.
fn change(ctx: &mut Ctx, rt: &Route, method: &str, p: &Parsed, u: &str) -> Result<(), Outcome> {
    let cluster = FwFile::load(&ctx.root.host("/etc/pve/firewall/cluster.fw"));
    match (rt, method) {
        (Route::FwRules(fw), "create") => {
            let mut f = load_fw(ctx, fw)?;
            check_digest(p.get("digest"), &rules_digest(&f.rules))?;
            let mut r = Rule {
                enable: false,
                ..Rule::default()
            };
            let errors = apply_rule_params(&mut r, p, fw, &f, &cluster);
            if !errors.is_empty() {
                return Err(param_error(&errors, u));
            }
            if p.get("enable").is_none() {
                r.enable = false;
            }
            f.rules.insert(0, r);
            save_fw(ctx, fw, &f)
        }
        (Route::FwRule(fw, pos), "set") => {
            let mut f = load_fw(ctx, fw)?;
            check_digest(p.get("digest"), &rules_digest(&f.rules))?;
            if *pos >= f.rules.len() {
                return Err(die(format!("no rule at position {pos}")));
            }
            if let Some(m) = p.get("moveto") {
                let to = check::int(m, Some(0), None)
                    .map_err(|e| param_error(&[("moveto".into(), e)], u))?
                    as usize;
                if to != *pos {
                    let r = f.rules.remove(*pos);
                    let idx = if to > *pos { to.saturating_sub(1) } else { to };
                    if to > f.rules.len() {
                        f.rules.push(r);
                    } else {
                        f.rules.insert(idx.min(f.rules.len()), r);
                    }
                }
                return save_fw(ctx, fw, &f);
            }
            let mut r = f.rules[*pos].clone();
            if let Some(d) = p.get("delete") {
                for k in d.split([',', ';', ' ']).filter(|x| !x.is_empty()) {
                    match k {
                        "type" | "action" => {
                            return Err(param_error(
                                &[(
                                    "delete".into(),
                                    format!("unable to delete required property '{k}'"),
                                )],
                                u,
                            ));
                        }
                        "macro" => r.macro_ = None,
                        "iface" => r.iface = None,
                        "source" => r.source = None,
                        "dest" => r.dest = None,
                        "proto" => r.proto = None,
                        "dport" => r.dport = None,
                        "sport" => r.sport = None,
                        "log" => r.log = None,
                        "icmp-type" => r.icmp_type = None,
                        "comment" => r.comment = None,
                        other => {
                            return Err(param_error(
                                &[("delete".into(), format!("no such property ('{other}')"))],
                                u,
                            ));
                        }
                    }
                }
            }
            let errors = apply_rule_params(&mut r, p, fw, &f, &cluster);
            if !errors.is_empty() {
                return Err(param_error(&errors, u));
            }
            f.rules[*pos] = r;
            save_fw(ctx, fw, &f)
        }
        (Route::FwRule(fw, pos), "delete") => {
            let mut f = load_fw(ctx, fw)?;
            check_digest(p.get("digest"), &rules_digest(&f.rules))?;
            if *pos >= f.rules.len() {
                return Err(die(format!("no rule at position {pos}")));
            }
            f.rules.remove(*pos);
            save_fw(ctx, fw, &f)
        }
        (Route::FwOptions(fw), "set") => {
            let mut f = load_fw(ctx, fw)?;
            check_digest(p.get("digest"), &options_digest(&f.options))?;
            let schema = option_schema(fw);
            if let Some(d) = p.get("delete") {
                for k in d.split([',', ';', ' ']).filter(|x| !x.is_empty()) {
                    if !schema.iter().any(|(n, _)| *n == k) {
                        return Err(param_error(
                            &[("delete".into(), format!("no such option '{k}'"))],
                            u,
                        ));
                    }
                    f.options.remove(k);
                }
            }
            let mut errors = Vec::new();
            for (k, kind) in schema {
                let Some(v) = p.get(k) else { continue };
                let v = match *kind {
                    "bool" => match check::boolean(v) {
                        Ok(b) => b.to_string(),
                        Err(e) => {
                            errors.push(((*k).to_string(), e));
                            continue;
                        }
                    },
                    "int" => match check::int(v, Some(0), None) {
                        Ok(n) => n.to_string(),
                        Err(e) => {
                            errors.push(((*k).to_string(), e));
                            continue;
                        }
                    },
                    "policy" if !matches!(v, "ACCEPT" | "REJECT" | "DROP") => {
                        errors.push(((*k).to_string(), format!("value '{v}' does not have a value in the enumeration 'ACCEPT, REJECT, DROP'")));
                        continue;
                    }
                    "log" if !LOG_LEVELS.contains(&v) => {
                        errors.push((
                            (*k).to_string(),
                            format!(
                                "value '{v}' does not have a value in the enumeration '{}'",
                                LOG_LEVELS.join(", ")
                            ),
                        ));
                        continue;
                    }
                    _ => v.to_string(),
                };
                f.options.insert((*k).to_string(), v);
            }
            if !errors.is_empty() {
                return Err(param_error(&errors, u));
            }
            save_fw(ctx, fw, &f)
        }
        _ => Err(die("pvesh: method not simulated")),
    }
}

/// Renders a scalar cell (nested values as compact JSON).
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => u8::from(*b).to_string(),
        Value::Number(n) => n.to_string(),
        other => perljson::compact(other),
    }
}

fn utf8_locale() -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .is_some_and(|v| v.to_ascii_lowercase().replace('-', "").contains("utf8"))
}

/// Draws a table as `CLIFormatter::print_text_table` does.
pub(crate) fn draw(
    headers: &[String],
    right: &[bool],
    rows: &[Vec<String>],
    noborder: bool,
    noheader: bool,
) -> String {
    let n = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let pad = |s: &str, i: usize| -> String {
        let w = widths[i];
        let len = s.chars().count();
        let fill = " ".repeat(w.saturating_sub(len));
        if right[i] {
            format!("{fill}{s}")
        } else {
            format!("{s}{fill}")
        }
    };
    let mut out = String::new();
    if noborder {
        let line = |cells: &[String]| -> String {
            let mut parts: Vec<String> = cells.iter().enumerate().map(|(i, c)| pad(c, i)).collect();
            if let Some(last) = parts.last_mut() {
                if !right[n - 1] {
                    *last = last.trim_end().to_string();
                }
            }
            parts.join(" ") + "\n"
        };
        if !noheader {
            out.push_str(&line(headers));
        }
        for r in rows {
            out.push_str(&line(r));
        }
        return out;
    }
    let (h, v, tl, tm, tr, hl, hm, hr, ml, mm, mr, bl, bm, br, hh) = if utf8_locale() {
        (
            "─", "│", "┌", "┬", "┐", "╞", "╪", "╡", "├", "┼", "┤", "└", "┴", "┘", "═",
        )
    } else {
        (
            "-", "|", "+", "+", "+", "+", "+", "+", "+", "+", "+", "+", "+", "+", "=",
        )
    };
    let border = |l: &str, m: &str, r: &str, fill: &str| -> String {
        format!(
            "{l}{}{r}\n",
            widths
                .iter()
                .map(|w| fill.repeat(w + 2))
                .collect::<Vec<_>>()
                .join(m)
        )
    };
    let line = |cells: &[String]| -> String {
        format!(
            "{v}{}{v}\n",
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| format!(" {} ", pad(c, i)))
                .collect::<Vec<_>>()
                .join(v)
        )
    };
    out.push_str(&border(tl, tm, tr, h));
    if !noheader {
        out.push_str(&line(headers));
        out.push_str(&border(hl, hm, hr, hh));
    }
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push_str(&border(ml, mm, mr, h));
        }
        out.push_str(&line(r));
    }
    out.push_str(&border(bl, bm, br, h));
    out
}

/// A minimal YAML emitter (`YAML::XS::Dump` style for the shapes pvesh returns).
fn yaml(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    let scalar = |v: &Value| -> String {
        match v {
            Value::String(s)
                if s.parse::<f64>().is_ok() || s.is_empty() || s.contains([':', '#']) =>
            {
                format!("'{}'", s.replace('\'', "''"))
            }
            Value::String(s) => s.clone(),
            Value::Null => "~".into(),
            other => other.to_string(),
        }
    };
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                match &m[k] {
                    x @ (Value::Object(_) | Value::Array(_))
                        if !(x.as_object().is_some_and(Map::is_empty)
                            || x.as_array().is_some_and(Vec::is_empty)) =>
                    {
                        out.push_str(&format!("{pad}{k}:\n"));
                        yaml(x, indent + 2, out);
                    }
                    Value::Object(_) => out.push_str(&format!("{pad}{k}: {{}}\n")),
                    Value::Array(_) => out.push_str(&format!("{pad}{k}: []\n")),
                    x => out.push_str(&format!("{pad}{k}: {}\n", scalar(x))),
                }
            }
        }
        Value::Array(a) => {
            for x in a {
                match x {
                    Value::Object(_) | Value::Array(_) => {
                        let mut inner = String::new();
                        yaml(x, indent + 2, &mut inner);
                        let trimmed = inner.trim_start().to_string();
                        out.push_str(&format!("{pad}- {trimmed}"));
                    }
                    s => out.push_str(&format!("{pad}- {}\n", scalar(s))),
                }
            }
        }
        s => out.push_str(&format!("{pad}{}\n", scalar(s))),
    }
}

/// Prints a result in the requested format.
fn render(data: &Value, t: &Table, format: &str, noborder: bool, noheader: bool) -> String {
    match format {
        "json" => format!("{}\n", perljson::compact(data)),
        "json-pretty" => perljson::pretty(data),
        "yaml" => {
            let mut s = "---\n".to_string();
            yaml(data, 0, &mut s);
            s
        }
        _ => match data {
            Value::Array(a) if a.is_empty() => String::new(),
            Value::Array(a) => {
                let columns: Vec<(String, bool)> = if t.columns.is_empty() {
                    let mut keys: Vec<String> = a
                        .iter()
                        .filter_map(Value::as_object)
                        .flat_map(|m| m.keys().cloned())
                        .collect();
                    keys.sort();
                    keys.dedup();
                    keys.into_iter().map(|k| (k, false)).collect()
                } else {
                    t.columns
                        .iter()
                        .map(|(k, n)| ((*k).to_string(), *n))
                        .collect()
                };
                let mut rows: Vec<Vec<String>> = a
                    .iter()
                    .map(|x| {
                        columns
                            .iter()
                            .map(|(k, _)| x.get(k).map(cell).unwrap_or_default())
                            .collect()
                    })
                    .collect();
                let numeric = columns.first().is_some_and(|c| c.1);
                rows.sort_by(|x, y| {
                    if numeric {
                        x[0].parse::<f64>()
                            .unwrap_or(0.0)
                            .total_cmp(&y[0].parse::<f64>().unwrap_or(0.0))
                    } else {
                        x[0].cmp(&y[0])
                    }
                });
                let headers: Vec<String> = columns.iter().map(|c| c.0.clone()).collect();
                let right: Vec<bool> = columns.iter().map(|c| c.1).collect();
                draw(&headers, &right, &rows, noborder, noheader)
            }
            Value::Object(m) => {
                let mut keys: Vec<String> = if t.keys.is_empty() {
                    m.keys().cloned().collect()
                } else {
                    t.keys
                        .iter()
                        .map(|k| (*k).to_string())
                        .filter(|k| m.contains_key(k))
                        .collect()
                };
                keys.sort();
                let rows: Vec<Vec<String>> = keys
                    .iter()
                    .filter(|k| !m[*k].is_null())
                    .map(|k| vec![k.clone(), cell(&m[k])])
                    .collect();
                draw(
                    &["key".to_string(), "value".to_string()],
                    &[false, false],
                    &rows,
                    noborder,
                    noheader,
                )
            }
            other => format!("{}\n", cell(other)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_draw_like_cliformatter() {
        let rows = vec![
            vec!["enable".to_string(), "1".to_string()],
            vec!["policy_in".to_string(), "DROP".to_string()],
        ];
        // SAFETY of the environment: only this test reads LANG through `utf8_locale`.
        let text = draw(
            &["key".to_string(), "value".to_string()],
            &[false, false],
            &rows,
            false,
            false,
        );
        if utf8_locale() {
            assert_eq!(
                text,
                "┌───────────┬───────┐\n│ key       │ value │\n╞═══════════╪═══════╡\n│ enable    │ 1     │\n├───────────┼───────┤\n│ policy_in │ DROP  │\n└───────────┴───────┘\n"
            );
        } else {
            assert_eq!(
                text,
                "+-----------+-------+\n| key       | value |\n+===========+=======+\n| enable    | 1     |\n+-----------+-------+\n| policy_in | DROP  |\n+-----------+-------+\n"
            );
        }
        assert_eq!(
            draw(
                &["a".into(), "b".into()],
                &[false, true],
                &[vec!["x".into(), "10".into()]],
                true,
                true
            ),
            "x 10\n"
        );
    }

    #[test]
    fn rules_serialise_with_numbers_and_strings() {
        let r = crate::firewall::parse_rule("IN ACCEPT -source 10.0.0.0/24 -p tcp -dport 22 # ssh")
            .unwrap();
        let m = rule_json(&r);
        assert_eq!(
            perljson::compact(&Value::Object(m)),
            r#"{"action":"ACCEPT","comment":"ssh","dport":"22","enable":1,"ipversion":4,"proto":"tcp","source":"10.0.0.0/24","type":"in"}"#
        );
        assert_eq!(
            rules_digest(&[]),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
    }
}
