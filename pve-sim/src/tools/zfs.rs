//! `zfs` (OpenZFS 2.2 on Linux): `list`, `get`, `set`, `create`, `destroy`, `snapshot`,
//! `clone`, `rollback`, `rename`, `inherit`.
//!
//! Errors print `cannot <verb> '<name>': <reason>` on stderr with exit 1; usage errors exit 2.
//! `-H` output is tab-separated without a header; human output pads columns with two spaces
//! and prints sizes with `zfs_nicenum` (at most five characters: `96K`, `1.64G`, `12.5M`).

use std::collections::BTreeMap;

use crate::Ctx;
use crate::outcome::{Effect, Outcome};
use crate::state::{DsKind, State};
use crate::tools::{Getopt, getopt};
use crate::zfs::{DEFAULTS, known_property, parent_of, parse_size, pool_of};

const USAGE: &[(&str, &str)] = &[
    (
        "create",
        "create [-Pnpuv] [-o property=value] ... <filesystem>\n\tcreate [-Pnpsv] [-b blocksize] [-o property=value] ... -V <size> <volume>",
    ),
    (
        "destroy",
        "destroy [-fnpRrv] <filesystem|volume>\n\tdestroy [-dnpRrv] <filesystem|volume>@<snap>[%<snap>][,...]",
    ),
    (
        "snapshot",
        "snapshot [-r] [-o property=value] ... <filesystem|volume>@<snap> ...",
    ),
    ("rollback", "rollback [-rRf] <snapshot>"),
    (
        "clone",
        "clone [-p] [-o property=value] ... <snapshot> <filesystem|volume>",
    ),
    (
        "rename",
        "rename [-f] <filesystem|volume|snapshot> <filesystem|volume|snapshot>",
    ),
    (
        "list",
        "list [-Hp] [-r|-d max] [-o property[,...]] [-s property]...\n\t    [-S property]... [-t type[,...]] [filesystem|volume|snapshot] ...",
    ),
    (
        "set",
        "set <property=value> ... <filesystem|volume|snapshot> ...",
    ),
    (
        "get",
        "get [-rHp] [-d max] [-o \"all\" | field[,...]]\n\t    [-t type[,...]] [-s source[,...]]\n\t    <\"all\" | property[,...]> [filesystem|volume|snapshot|bookmark] ...",
    ),
    (
        "inherit",
        "inherit [-rS] <property> <filesystem|volume|snapshot> ...",
    ),
];

fn usage_of(cmd: &str) -> String {
    let u = USAGE.iter().find(|(c, _)| *c == cmd).map_or("", |(_, u)| u);
    format!("usage:\n\t{u}\n")
}

fn usage_error(cmd: &str, msg: &str) -> Outcome {
    let mut o = Outcome::refuse(format!("{msg}\n{}", usage_of(cmd)));
    o.code = 2;
    o
}

fn fail(msg: impl Into<String>) -> Outcome {
    let mut o = Outcome::refuse(msg);
    o.code = 1;
    o
}

fn general_usage() -> Outcome {
    let mut s =
        "usage: zfs command args ...\nwhere 'command' is one of the following:\n\n".to_string();
    for (_, u) in USAGE {
        s.push_str(&format!("\t{u}\n"));
    }
    let mut o = Outcome::refuse(s);
    o.code = 2;
    o
}

/// Runs `zfs <args>`.
pub fn run(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let Some(cmd) = args.first() else {
        return general_usage();
    };
    let rest = &args[1..];
    let cmd = match cmd.as_str() {
        "snap" => "snapshot",
        c => c,
    };
    let r = match cmd {
        "list" => list(ctx, rest),
        "get" => get(ctx, rest),
        "set" => set(ctx, rest),
        "create" => create(ctx, rest),
        "destroy" => destroy(ctx, rest),
        "snapshot" => snapshot(ctx, rest),
        "clone" => clone(ctx, rest),
        "rollback" => rollback(ctx, rest),
        // A real subcommand no product test needs: refused, never answered as another.
        "rename" | "inherit" => return Outcome::refuse(format!("zfs {cmd}: not simulated")),
        other => {
            let mut o = Outcome::refuse(format!(
                "unrecognized command '{other}'\n{}",
                general_usage().stderr
            ));
            o.code = 2;
            return o;
        }
    };
    let mut o = r.unwrap_or_else(|o| o);
    if o.effect == Effect::Mutate && o.secs == 0.0 {
        o.secs = ctx.knobs.cost("zfs.write");
    }
    o
}

type R = Result<Outcome, Outcome>;

fn opts(cmd: &str, args: &[String], optstring: &str) -> Result<Getopt, Outcome> {
    getopt(args, optstring).map_err(|e| usage_error(cmd, &e))
}

/// `zfs_nicenum` with byte units (`0B`, `512B`, `96K`, `1.64G`).
pub fn nicenum_bytes(n: u64) -> String {
    if n < 1024 {
        format!("{n}B")
    } else {
        crate::zfs::nice(n)
    }
}

/// Properties whose values are byte sizes.
fn is_size_prop(p: &str) -> bool {
    matches!(
        p,
        "used"
            | "available"
            | "avail"
            | "referenced"
            | "refer"
            | "quota"
            | "refquota"
            | "reservation"
            | "refreservation"
            | "volsize"
            | "recordsize"
            | "volblocksize"
            | "written"
            | "logicalused"
            | "logicalreferenced"
            | "usedbysnapshots"
            | "usedbydataset"
            | "usedbychildren"
    )
}

/// Properties that only report (source `-`).
fn is_readonly(p: &str) -> bool {
    matches!(
        p,
        "type"
            | "creation"
            | "used"
            | "available"
            | "avail"
            | "referenced"
            | "refer"
            | "origin"
            | "mounted"
            | "compressratio"
            | "name"
            | "written"
            | "logicalused"
            | "logicalreferenced"
            | "usedbysnapshots"
            | "usedbydataset"
            | "usedbychildren"
    )
}

fn canonical(p: &str) -> &str {
    match p {
        "avail" => "available",
        "refer" => "referenced",
        "compress" => "compression",
        "recsize" => "recordsize",
        "reserv" => "reservation",
        "refreserv" => "refreservation",
        "volblock" => "volblocksize",
        other => other,
    }
}

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `creation` as `zfs get` prints it: `%a %b %e %k:%M %Y`.
fn ctime(t: u64) -> String {
    let s = crate::clock::format(t); // YYYY-MM-DD HH:MM:SS
    let (y, m, d) = (
        &s[0..4],
        s[5..7].parse::<usize>().unwrap_or(1),
        s[8..10].parse::<u32>().unwrap_or(1),
    );
    let (h, min) = (s[11..13].parse::<u32>().unwrap_or(0), &s[14..16]);
    format!(
        "{} {} {d:>2} {h:>2}:{min} {y}",
        WEEKDAYS[((t / 86_400) % 7) as usize],
        MONTHS[m.saturating_sub(1).min(11)]
    )
}

/// Sizes and pool space.
impl State {
    /// Bytes referenced by a dataset or snapshot itself.
    pub fn zfs_refer(&self, root: &crate::root::SimRoot, name: &str) -> u64 {
        if name.contains('@') {
            return crate::zfs::tree_size(&crate::zfs::snapshot_dir(root, name));
        }
        self.zfs_used(root, name)
    }

    /// Bytes used by a dataset and its descendants.
    pub fn zfs_used_total(&self, root: &crate::root::SimRoot, ds: &str) -> u64 {
        if ds.contains('@') {
            return 0;
        }
        let prefix = format!("{ds}/");
        self.zfs_used(root, ds)
            + self
                .zfs
                .datasets
                .keys()
                .filter(|k| k.starts_with(&prefix))
                .map(|k| self.zfs_used(root, k))
                .sum::<u64>()
    }

    /// Free bytes in a pool.
    pub fn pool_free(&self, root: &crate::root::SimRoot, pool: &str) -> u64 {
        let size = self.zfs.pools.get(pool).map_or(0, |p| p.size);
        size.saturating_sub(self.zfs_used_total(root, pool))
    }

    /// Bytes available to a dataset (pool free space, capped by its quotas).
    pub fn zfs_available(&self, root: &crate::root::SimRoot, ds: &str) -> u64 {
        let mut avail = self.pool_free(root, pool_of(ds));
        if let Some(d) = self.zfs.datasets.get(ds) {
            if let Some(q) = d
                .props
                .get("refquota")
                .and_then(|v| parse_size(v))
                .filter(|q| *q > 0)
            {
                avail = avail.min(q.saturating_sub(self.zfs_used(root, ds)));
            }
            if let Some(q) = d
                .props
                .get("quota")
                .and_then(|v| parse_size(v))
                .filter(|q| *q > 0)
            {
                avail = avail.min(q.saturating_sub(self.zfs_used_total(root, ds)));
            }
        }
        avail
    }
}

/// One property of a dataset or snapshot: `(value, source)`, raw (sizes in bytes when
/// `parsable`). `None` when the object does not exist.
fn property(ctx: &Ctx, name: &str, prop: &str, parsable: bool) -> Option<(String, String)> {
    let st = &ctx.state;
    let root = &ctx.root;
    let is_snap = name.contains('@');
    if is_snap && !st.zfs.snapshots.contains_key(name)
        || !is_snap && !st.zfs.datasets.contains_key(name)
    {
        return None;
    }
    let prop = canonical(prop);
    let size = |n: u64| {
        if parsable {
            n.to_string()
        } else {
            nicenum_bytes(n)
        }
    };
    let ro = |v: String| Some((v, "-".to_string()));
    let kind = if is_snap {
        None
    } else {
        st.zfs.datasets.get(name).map(|d| d.kind)
    };
    match prop {
        "name" => return ro(name.to_string()),
        "type" => {
            return ro(match kind {
                None => "snapshot",
                Some(DsKind::Filesystem) => "filesystem",
                Some(DsKind::Volume) => "volume",
            }
            .to_string());
        }
        "creation" => {
            let t = if is_snap {
                st.zfs.snapshots[name].created
            } else {
                st.zfs.datasets[name].created
            };
            return ro(if parsable { t.to_string() } else { ctime(t) });
        }
        "used" => {
            return ro(size(if is_snap {
                0
            } else {
                st.zfs_used_total(root, name)
            }));
        }
        "referenced" => return ro(size(st.zfs_refer(root, name))),
        "available" => {
            return ro(if is_snap {
                "-".into()
            } else {
                size(st.zfs_available(root, name))
            });
        }
        "written" | "logicalused" | "logicalreferenced" | "usedbydataset" => {
            return ro(size(st.zfs_refer(root, name)));
        }
        "usedbysnapshots" | "usedbychildren" => return ro(size(0)),
        "compressratio" => {
            return ro(if parsable {
                "1.00".into()
            } else {
                "1.00x".into()
            });
        }
        "origin" => {
            return ro(kind
                .and_then(|_| st.zfs.datasets[name].origin.clone())
                .unwrap_or_else(|| "-".into()));
        }
        "mounted" => {
            return ro(match kind {
                Some(DsKind::Filesystem) => if st.zfs_mount_dir(root, name).is_some() {
                    "yes"
                } else {
                    "no"
                }
                .into(),
                _ => "-".into(),
            });
        }
        _ => {}
    }
    if is_snap {
        return Some(("-".into(), "-".into()));
    }
    if kind.is_some_and(|k| !applies_to(prop, k)) {
        return Some(("-".into(), "-".into()));
    }
    let (v, src) = st.zfs_prop(name, prop).or_else(|| {
        if prop.contains(':') {
            Some(("-".into(), "-".into()))
        } else if prop == "volsize" {
            Some(("0".into(), "local".into()))
        } else {
            None
        }
    })?;
    let v = if is_size_prop(prop) && v != "none" && v != "-" {
        parse_size(&v).map_or(v, size)
    } else if v == "none"
        && parsable
        && matches!(
            prop,
            "quota" | "refquota" | "reservation" | "refreservation"
        )
    {
        "0".into()
    } else {
        v
    };
    Some((v, src))
}

/// Whether a property exists for a dataset type (`volsize` on volumes, `mountpoint` and the
/// like on file systems).
fn applies_to(prop: &str, kind: DsKind) -> bool {
    let volume_only = matches!(prop, "volsize" | "volblocksize");
    let fs_only = matches!(
        prop,
        "mountpoint"
            | "recordsize"
            | "quota"
            | "refquota"
            | "atime"
            | "relatime"
            | "canmount"
            | "xattr"
            | "acltype"
            | "exec"
            | "setuid"
            | "devices"
            | "snapdir"
            | "sharenfs"
            | "sharesmb"
            | "dnodesize"
    );
    match kind {
        DsKind::Filesystem => !volume_only,
        DsKind::Volume => !fs_only,
    }
}

/// Validates a settable property and its value; returns the stored value.
fn validate_prop(prop: &str, value: &str, kind: DsKind) -> Result<String, String> {
    if prop.contains(':') {
        return Ok(value.to_string());
    }
    let prop = canonical(prop);
    if is_readonly(prop) || !known_property(prop) {
        return Err(format!("invalid property '{prop}'"));
    }
    if !applies_to(prop, kind) {
        return Err(format!("'{prop}' does not apply to datasets of this type"));
    }
    let one_of = |vals: &[&str], shown: &str| -> Result<String, String> {
        if vals.contains(&value) {
            Ok(value.to_string())
        } else {
            Err(format!("'{prop}' must be one of '{shown}'"))
        }
    };
    match prop {
        "atime" | "relatime" | "readonly" | "exec" | "setuid" | "devices" | "dedup" => {
            one_of(&["on", "off"], "on | off")
        }
        "canmount" => one_of(&["on", "off", "noauto"], "on | off | noauto"),
        "sync" => one_of(
            &["standard", "always", "disabled"],
            "standard | always | disabled",
        ),
        "xattr" => one_of(&["on", "off", "dir", "sa"], "on | off | dir | sa"),
        "acltype" => one_of(
            &["off", "noacl", "nfsv4", "posix", "posixacl"],
            "off | nfsv4 | posix",
        ),
        "logbias" => one_of(&["latency", "throughput"], "latency | throughput"),
        "snapdir" => one_of(&["hidden", "visible"], "hidden | visible"),
        "primarycache" | "secondarycache" => {
            one_of(&["all", "none", "metadata"], "all | none | metadata")
        }
        "dnodesize" => one_of(
            &["legacy", "auto", "1k", "2k", "4k", "8k", "16k"],
            "legacy | auto | 1k | 2k | 4k | 8k | 16k",
        ),
        "copies" => one_of(&["1", "2", "3"], "1 | 2 | 3"),
        "checksum" => one_of(
            &[
                "on",
                "off",
                "fletcher2",
                "fletcher4",
                "sha256",
                "noparity",
                "sha512",
                "skein",
                "edonr",
                "blake3",
            ],
            "on | off | fletcher2 | fletcher4 | sha256 | sha512 | skein | edonr | blake3",
        ),
        "compression" => {
            let ok = matches!(
                value,
                "on" | "off" | "lzjb" | "gzip" | "zle" | "lz4" | "zstd" | "zstd-fast"
            ) || value
                .strip_prefix("gzip-")
                .and_then(|n| n.parse::<u8>().ok())
                .is_some_and(|n| (1..=9).contains(&n))
                || value
                    .strip_prefix("zstd-fast-")
                    .and_then(|n| n.parse::<u16>().ok())
                    .is_some_and(|n| {
                        (1..=10).contains(&n)
                            || [20, 30, 40, 50, 60, 70, 80, 90, 100, 500, 1000].contains(&n)
                    })
                || value
                    .strip_prefix("zstd-")
                    .and_then(|n| n.parse::<u8>().ok())
                    .is_some_and(|n| (1..=19).contains(&n));
            if ok {
                Ok(value.to_string())
            } else {
                Err("'compression' must be one of 'on | off | lzjb | gzip | gzip-[1-9] | zle | lz4 | zstd | zstd-[1-19] | zstd-fast | zstd-fast-[1-10,20,30,40,50,60,70,80,90,100,500,1000]'".to_string())
            }
        }
        "recordsize" | "volblocksize" => {
            let n = parse_size(value).ok_or_else(|| format!("bad numeric value '{value}'"))?;
            let max = if prop == "recordsize" {
                16 << 20
            } else {
                128 << 10
            };
            if n.is_power_of_two() && (512..=max).contains(&n) {
                Ok(value.to_string())
            } else {
                Err(format!(
                    "'{prop}' must be power of 2 from 512B to {}",
                    nicenum_bytes(max)
                ))
            }
        }
        "quota" | "refquota" | "reservation" | "refreservation" => {
            if value == "none" || value == "auto" && prop == "refreservation" {
                return Ok(value.to_string());
            }
            parse_size(value)
                .map(|_| value.to_string())
                .ok_or_else(|| format!("bad numeric value '{value}'"))
        }
        "volsize" => match parse_size(value) {
            Some(0) => Err("volume size cannot be zero".to_string()),
            Some(_) => Ok(value.to_string()),
            None => Err(format!("bad numeric value '{value}'")),
        },
        "mountpoint" => {
            if matches!(value, "none" | "legacy") || value.starts_with('/') {
                Ok(value.to_string())
            } else {
                Err("'mountpoint' must be an absolute path, 'none', or 'legacy'".to_string())
            }
        }
        _ => Ok(value.to_string()),
    }
}

fn valid_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("missing dataset name".to_string());
    }
    if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        return Err("leading slash in name".to_string());
    }
    if let Some(c) = name.chars().find(|c| {
        !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | ' ' | '/' | '@'))
    }) {
        return Err(format!("invalid character '{c}' in name"));
    }
    Ok(())
}

/// `-o k=v` list into a map (each validated for `kind`).
fn prop_list(
    values: &[&str],
    kind: DsKind,
    verb_name: &str,
) -> Result<BTreeMap<String, String>, Outcome> {
    let mut props = BTreeMap::new();
    for kv in values {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(usage_error(
                "create",
                "missing '=' for property=value argument",
            ));
        };
        if props.contains_key(k) {
            return Err(usage_error(
                "create",
                &format!("property '{k}' specified multiple times"),
            ));
        }
        let v = validate_prop(k, v, kind).map_err(|e| fail(format!("{verb_name}: {e}")))?;
        props.insert(canonical(k).to_string(), v);
    }
    Ok(props)
}

/// `zfs create`.
fn create(ctx: &mut Ctx, args: &[String]) -> R {
    let g = opts("create", args, "Pnpuvo:b:sV:")?;
    let [name] = g.operands.as_slice() else {
        return Err(usage_error(
            "create",
            if g.operands.is_empty() {
                "missing filesystem argument"
            } else {
                "too many arguments"
            },
        ));
    };
    let kind = if g.has('V') {
        DsKind::Volume
    } else {
        DsKind::Filesystem
    };
    if kind == DsKind::Filesystem && (g.has('s') || g.has('b')) {
        return Err(usage_error(
            "create",
            "'-s' and '-b' can only be used when creating a volume",
        ));
    }
    let verb = format!("cannot create '{name}'");
    valid_name(name).map_err(|e| fail(format!("{verb}: {e}")))?;
    if name.contains('@') {
        return Err(fail(format!(
            "{verb}: snapshot delimiter '@' is not expected here"
        )));
    }
    let mut props = prop_list(&g.values('o'), kind, &verb)?;
    if let Some(b) = g.value('b') {
        props.insert(
            "volblocksize".into(),
            validate_prop("volblocksize", b, kind).map_err(|e| fail(format!("{verb}: {e}")))?,
        );
    }
    if let Some(size) = g.value('V') {
        let bytes = parse_size(size).ok_or_else(|| {
            fail(format!(
                "bad volume size '{size}': bad numeric value '{size}'"
            ))
        })?;
        if bytes == 0 {
            return Err(fail(format!("{verb}: volume size cannot be zero")));
        }
        props.insert("volsize".into(), size.to_string());
        if !g.has('s') {
            props.insert("refreservation".into(), size.to_string());
        }
    }
    if g.has('p') {
        if ctx.state.zfs.datasets.contains_key(name.as_str()) {
            return Ok(Outcome::ok(Effect::Read));
        }
        let mut missing = Vec::new();
        let mut cur = parent_of(name);
        while let Some(p) = cur {
            if ctx.state.zfs.datasets.contains_key(p) {
                break;
            }
            missing.push(p.to_string());
            cur = parent_of(p);
        }
        for p in missing.iter().rev() {
            ctx.state
                .zfs_create(&ctx.root, p, DsKind::Filesystem, BTreeMap::new())
                .map_err(fail)?;
        }
    }
    if g.has('n') {
        return Ok(Outcome::ok(Effect::Read));
    }
    ctx.state
        .zfs_create(&ctx.root, name, kind, props)
        .map_err(fail)?;
    Ok(Outcome::ok(Effect::Mutate))
}

/// `zfs set k=v … <ds>…`.
fn set(ctx: &mut Ctx, args: &[String]) -> R {
    let g = opts("set", args, "u")?;
    let (pairs, targets): (Vec<&String>, Vec<&String>) =
        g.operands.iter().partition(|a| a.contains('='));
    if pairs.is_empty() {
        return Err(usage_error("set", "missing property=value argument(s)"));
    }
    if targets.is_empty() {
        return Err(usage_error("set", "missing dataset name(s)"));
    }
    let first_target = g
        .operands
        .iter()
        .position(|a| !a.contains('='))
        .unwrap_or(0);
    if g.operands[first_target..].iter().any(|a| a.contains('=')) {
        return Err(usage_error("set", "invalid argument order"));
    }
    for t in &targets {
        let verb = format!("cannot set property for '{t}'");
        let Some(kind) = ctx.state.zfs.datasets.get(t.as_str()).map(|d| d.kind) else {
            return Err(fail(format!("cannot open '{t}': dataset does not exist")));
        };
        let mut updates = Vec::new();
        for kv in &pairs {
            let (k, v) = kv.split_once('=').unwrap_or_default();
            let v = validate_prop(k, v, kind).map_err(|e| fail(format!("{verb}: {e}")))?;
            updates.push((canonical(k).to_string(), v));
        }
        let old_dir = ctx.state.zfs_mount_dir(&ctx.root, t);
        if let Some(d) = ctx.state.zfs.datasets.get_mut(t.as_str()) {
            for (k, v) in updates {
                d.props.insert(k, v);
            }
        }
        // A new mountpoint moves the mounted tree (and its children's).
        let new_dir = ctx.state.zfs_mount_dir(&ctx.root, t);
        if let (Some(old), Some(new)) = (old_dir, new_dir) {
            if old != new && old.exists() && !new.exists() {
                if let Some(p) = new.parent() {
                    let _ = std::fs::create_dir_all(p);
                }
                let _ = std::fs::rename(&old, &new);
            }
            let _ =
                std::fs::create_dir_all(ctx.state.zfs_mount_dir(&ctx.root, t).unwrap_or_default());
        }
    }
    Ok(Outcome::ok(Effect::Mutate))
}

/// `zfs destroy`.
fn destroy(ctx: &mut Ctx, args: &[String]) -> R {
    let g = opts("destroy", args, "dfnpRrv")?;
    let [name] = g.operands.as_slice() else {
        return Err(usage_error(
            "destroy",
            if g.operands.is_empty() {
                "missing dataset argument"
            } else {
                "too many arguments"
            },
        ));
    };
    if !name.contains('@') && !name.contains('/') && ctx.state.zfs.pools.contains_key(name.as_str())
    {
        return Err(fail(format!(
            "cannot destroy '{name}': operation does not apply to pools\nuse 'zfs destroy -r {name}' to destroy all datasets in the pool\nuse 'zpool destroy {name}' to destroy the pool itself"
        )));
    }
    if g.has('n') {
        return Ok(Outcome::ok(Effect::Read));
    }
    let recursive = g.has('r') || g.has('R');
    if g.has('R') && !name.contains('@') {
        // Dependent clones go too.
        let mut clones: Vec<String> = ctx.state.zfs_clones_of(name);
        for d in ctx.state.zfs_dependents(name) {
            clones.extend(ctx.state.zfs_clones_of(&d));
        }
        for c in clones {
            let _ = ctx.state.zfs_destroy(&ctx.root, &c, true);
        }
    }
    let name_kind = ctx.state.zfs.datasets.get(name.as_str()).map(|d| d.kind);
    ctx.state
        .zfs_destroy(&ctx.root, name, recursive)
        .map_err(|e| {
            // The model says "filesystem"; ZFS names the type.
            let e = if name_kind == Some(DsKind::Volume) {
                e.replace("filesystem has", "volume has")
            } else {
                e
            };
            let e = e.replace(
                "filesystem has dependent snapshots",
                "filesystem has children",
            );
            fail(e)
        })?;
    Ok(Outcome::ok(Effect::Mutate))
}

/// `zfs snapshot [-r] ds@snap…`.
fn snapshot(ctx: &mut Ctx, args: &[String]) -> R {
    let g = opts("snapshot", args, "ro:")?;
    if g.operands.is_empty() {
        return Err(usage_error("snapshot", "missing snapshot argument"));
    }
    for s in &g.operands {
        let Some((ds, snap)) = s.split_once('@') else {
            return Err(fail(format!(
                "cannot create snapshot '{s}': missing '@' delimiter in snapshot name"
            )));
        };
        let targets: Vec<String> = if g.has('r') {
            let p = format!("{ds}/");
            ctx.state
                .zfs
                .datasets
                .keys()
                .filter(|k| *k == ds || k.starts_with(&p))
                .cloned()
                .collect()
        } else {
            vec![ds.to_string()]
        };
        if targets.is_empty() {
            return Err(fail(format!(
                "cannot open '{ds}': dataset does not exist\nusage:\n\tsnapshot [-r] [-o property=value] ... <filesystem|volume>@<snap> ..."
            )));
        }
        for t in targets {
            ctx.state
                .zfs_snapshot(&ctx.root, &format!("{t}@{snap}"))
                .map_err(fail)?;
        }
    }
    Ok(Outcome::ok(Effect::Mutate))
}

/// `zfs clone [-p] [-o k=v] snap target`.
fn clone(ctx: &mut Ctx, args: &[String]) -> R {
    let g = opts("clone", args, "po:")?;
    let [snap, target] = g.operands.as_slice() else {
        return Err(usage_error(
            "clone",
            if g.operands.len() < 2 {
                "missing target dataset argument"
            } else {
                "too many arguments"
            },
        ));
    };
    let verb = format!("cannot create '{target}'");
    if !snap.contains('@') {
        return Err(fail(format!(
            "cannot open '{snap}': operation only applies to snapshots"
        )));
    }
    if pool_of(snap) != pool_of(target) {
        return Err(fail(format!("{verb}: source and target pools differ")));
    }
    let kind = ctx
        .state
        .zfs
        .datasets
        .get(snap.split('@').next().unwrap_or(""))
        .map_or(DsKind::Filesystem, |d| d.kind);
    let props = prop_list(&g.values('o'), kind, &verb)?;
    if g.has('p') {
        let mut cur = parent_of(target);
        let mut missing = Vec::new();
        while let Some(p) = cur {
            if ctx.state.zfs.datasets.contains_key(p) {
                break;
            }
            missing.push(p.to_string());
            cur = parent_of(p);
        }
        for p in missing.iter().rev() {
            ctx.state
                .zfs_create(&ctx.root, p, DsKind::Filesystem, BTreeMap::new())
                .map_err(fail)?;
        }
    }
    ctx.state
        .zfs_clone(&ctx.root, snap, target, props)
        .map_err(fail)?;
    Ok(Outcome::ok(Effect::Mutate))
}

/// `zfs rollback [-rRf] snap`.
fn rollback(ctx: &mut Ctx, args: &[String]) -> R {
    let g = opts("rollback", args, "rRf")?;
    let [snap] = g.operands.as_slice() else {
        return Err(usage_error(
            "rollback",
            if g.operands.is_empty() {
                "missing dataset argument"
            } else {
                "too many arguments"
            },
        ));
    };
    if !snap.contains('@') {
        return Err(fail(format!(
            "cannot rollback '{snap}': operation only applies to snapshots"
        )));
    }
    ctx.state
        .zfs_rollback(&ctx.root, snap, g.has('r') || g.has('R'))
        .map_err(fail)?;
    Ok(Outcome::ok(Effect::Mutate))
}

/// Which objects `list`/`get` show: named ones (with descendants under `-r`/`-d`), or all.
fn select(
    ctx: &Ctx,
    operands: &[String],
    recursive: bool,
    depth: Option<usize>,
    types: &[String],
    any_type_default: bool,
) -> Result<Vec<String>, Outcome> {
    let want = |name: &str| -> bool {
        let t = if name.contains('@') {
            "snapshot"
        } else {
            match ctx.state.zfs.datasets.get(name).map(|d| d.kind) {
                Some(DsKind::Volume) => "volume",
                _ => "filesystem",
            }
        };
        types
            .iter()
            .any(|x| x == "all" || x == t || (x == "snap" && t == "snapshot"))
    };
    let all: Vec<String> = ctx
        .state
        .zfs
        .datasets
        .keys()
        .chain(ctx.state.zfs.snapshots.keys())
        .cloned()
        .collect();
    let mut out: Vec<String> = Vec::new();
    if operands.is_empty() {
        out.extend(all.into_iter().filter(|n| want(n)));
    } else {
        for op in operands {
            let exists = ctx.state.zfs.datasets.contains_key(op.as_str())
                || ctx.state.zfs.snapshots.contains_key(op.as_str());
            if !exists {
                return Err(fail(format!("cannot open '{op}': dataset does not exist")));
            }
            if any_type_default || want(op) || op.contains('@') {
                out.push(op.clone());
            }
            if recursive || depth.is_some() {
                let base_depth = op.matches('/').count();
                for n in &all {
                    let under =
                        n.starts_with(&format!("{op}/")) || n.starts_with(&format!("{op}@"));
                    if !under || !want(n) {
                        continue;
                    }
                    let d = n.matches('/').count() - base_depth + usize::from(n.contains('@'));
                    if depth.is_none_or(|max| d <= max) {
                        out.push(n.clone());
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn header_of(prop: &str) -> String {
    match canonical(prop) {
        "available" => "AVAIL".into(),
        "referenced" => "REFER".into(),
        "compressratio" => "RATIO".into(),
        "compression" => "COMPRESS".into(),
        "recordsize" => "RECSIZE".into(),
        "reservation" => "RESERV".into(),
        "refreservation" => "REFRESERV".into(),
        "volblocksize" => "VOLBLOCK".into(),
        p if p.contains(':') => p.to_string(),
        p => p.to_ascii_uppercase(),
    }
}

/// Prints rows: tab-separated for `-H`, else two-space columns (numeric ones right-aligned,
/// the last column unpadded).
fn table(headers: &[String], right: &[bool], rows: &[Vec<String>], scripted: bool) -> String {
    let mut out = String::new();
    if scripted {
        for r in rows {
            out.push_str(&r.join("\t"));
            out.push('\n');
        }
        return out;
    }
    let mut widths: Vec<usize> = headers.iter().map(String::len).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let line = |cells: &[String]| -> String {
        let n = cells.len();
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths[i];
            if i + 1 == n {
                if right[i] {
                    s.push_str(&format!("{c:>w$}"));
                } else {
                    s.push_str(c);
                }
            } else if right[i] {
                s.push_str(&format!("{c:>w$}  "));
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.push('\n');
        s
    };
    out.push_str(&line(headers));
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

/// `zfs list`.
fn list(ctx: &mut Ctx, args: &[String]) -> R {
    let g = opts("list", args, "HS:d:o:prs:t:")?;
    let depth = match g.value('d') {
        Some(d) => Some(
            d.parse::<usize>()
                .map_err(|_| usage_error("list", &format!("invalid depth '{d}'")))?,
        ),
        None => None,
    };
    let types: Vec<String> = match g.value('t') {
        Some(t) => {
            let v: Vec<String> = t.split(',').map(str::to_string).collect();
            if let Some(bad) = v.iter().find(|x| {
                !matches!(
                    x.as_str(),
                    "filesystem" | "volume" | "snapshot" | "snap" | "bookmark" | "all"
                )
            }) {
                return Err(usage_error("list", &format!("invalid type '{bad}'")));
            }
            v
        }
        None => vec!["filesystem".into(), "volume".into()],
    };
    let props: Vec<String> = g
        .value('o')
        .unwrap_or("name,used,available,referenced,mountpoint")
        .split(',')
        .map(str::to_string)
        .collect();
    for p in &props {
        if !(known_property(canonical(p)) || p == "name") {
            return Err(usage_error("list", &format!("invalid field '{p}'")));
        }
    }
    let names = select(ctx, &g.operands, g.has('r'), depth, &types, false)?;
    let parsable = g.has('p');
    let rows: Vec<Vec<String>> = names
        .iter()
        .map(|n| {
            props
                .iter()
                .map(|p| property(ctx, n, p, parsable).map_or("-".into(), |(v, _)| v))
                .collect()
        })
        .collect();
    if rows.is_empty() && !g.has('H') {
        return Ok(Outcome {
            stderr: "no datasets available\n".into(),
            ..Outcome::ok(Effect::Read)
        });
    }
    let headers: Vec<String> = props.iter().map(|p| header_of(p)).collect();
    let right: Vec<bool> = props
        .iter()
        .map(|p| is_size_prop(canonical(p)) || p == "compressratio")
        .collect();
    Ok(Outcome::read(table(&headers, &right, &rows, g.has('H'))))
}

/// `zfs get`.
fn get(ctx: &mut Ctx, args: &[String]) -> R {
    let g = opts("get", args, "d:o:s:rt:Hp")?;
    let Some((props, targets)) = g.operands.split_first() else {
        return Err(usage_error("get", "missing property argument"));
    };
    let depth = match g.value('d') {
        Some(d) => Some(
            d.parse::<usize>()
                .map_err(|_| usage_error("get", &format!("invalid depth '{d}'")))?,
        ),
        None => None,
    };
    let fields: Vec<String> = g
        .value('o')
        .unwrap_or("name,property,value,source")
        .split(',')
        .map(str::to_string)
        .collect();
    for f in &fields {
        if !matches!(
            f.as_str(),
            "name" | "property" | "value" | "source" | "received" | "all"
        ) {
            return Err(usage_error("get", &format!("invalid output field '{f}'")));
        }
    }
    let fields: Vec<String> = if fields.iter().any(|f| f == "all") {
        ["name", "property", "value", "received", "source"]
            .map(String::from)
            .to_vec()
    } else {
        fields
    };
    let sources: Option<Vec<String>> = g
        .value('s')
        .map(|s| s.split(',').map(str::to_string).collect());
    let types: Vec<String> = g.value('t').map_or_else(
        || vec!["all".to_string()],
        |t| t.split(',').map(str::to_string).collect(),
    );
    let prop_names: Vec<String> = if props == "all" {
        let mut v: Vec<String> = [
            "type",
            "creation",
            "used",
            "available",
            "referenced",
            "compressratio",
            "mounted",
            "origin",
            "volsize",
        ]
        .map(String::from)
        .to_vec();
        v.extend(DEFAULTS.iter().map(|(k, _)| (*k).to_string()));
        v.push("mountpoint".into());
        v
    } else {
        props.split(',').map(str::to_string).collect()
    };
    for p in &prop_names {
        if !(known_property(canonical(p)) || p == "name") {
            let mut o = usage_error("get", &format!("bad property list: invalid property '{p}'"));
            o.stderr = format!(
                "bad property list: invalid property '{p}'\n{}",
                usage_of("get")
            );
            return Err(o);
        }
    }
    let names = select(ctx, targets, g.has('r'), depth, &types, true)?;
    let parsable = g.has('p');
    let mut rows = Vec::new();
    for n in &names {
        for p in &prop_names {
            let Some((v, src)) = property(ctx, n, p, parsable) else {
                continue;
            };
            if props == "all" && v == "-" && src == "-" && !matches!(p.as_str(), "origin") {
                continue;
            }
            let src_class = if src.starts_with("inherited") {
                "inherited"
            } else {
                src.as_str()
            };
            if sources.as_ref().is_some_and(|s| {
                !s.iter()
                    .any(|x| x == src_class || (x == "none" && src == "-"))
            }) {
                continue;
            }
            let row: Vec<String> = fields
                .iter()
                .map(|f| match f.as_str() {
                    "name" => n.clone(),
                    "property" => canonical(p).to_string(),
                    "value" => v.clone(),
                    "received" => "-".into(),
                    _ => src.clone(),
                })
                .collect();
            rows.push(row);
        }
    }
    let headers: Vec<String> = fields.iter().map(|f| f.to_ascii_uppercase()).collect();
    let right = vec![false; fields.len()];
    Ok(Outcome::read(table(&headers, &right, &rows, g.has('H'))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicenum_and_ctime() {
        assert_eq!(nicenum_bytes(0), "0B");
        assert_eq!(nicenum_bytes(98_304), "96K");
        assert_eq!(nicenum_bytes(1_760_936_960), "1.64G");
        assert_eq!(ctime(crate::clock::EPOCH_START), "Thu Jan  1  0:00 2026");
    }

    #[test]
    fn tables_pad_like_zfs() {
        let h = vec![
            "NAME".to_string(),
            "USED".to_string(),
            "MOUNTPOINT".to_string(),
        ];
        let rows = vec![
            vec![
                "rpool".to_string(),
                "1.64G".to_string(),
                "/rpool".to_string(),
            ],
            vec![
                "rpool/data".to_string(),
                "96K".to_string(),
                "/rpool/data".to_string(),
            ],
        ];
        assert_eq!(
            table(&h, &[false, true, false], &rows, false),
            "NAME         USED  MOUNTPOINT\nrpool       1.64G  /rpool\nrpool/data    96K  /rpool/data\n"
        );
        assert_eq!(
            table(&h, &[false, true, false], &rows, true),
            "rpool\t1.64G\t/rpool\nrpool/data\t96K\t/rpool/data\n"
        );
    }

    #[test]
    fn property_validation_messages() {
        assert_eq!(
            validate_prop("compression", "lz4", DsKind::Filesystem).unwrap(),
            "lz4"
        );
        assert!(
            validate_prop("compression", "brotli", DsKind::Filesystem)
                .unwrap_err()
                .starts_with("'compression' must be one of 'on | off")
        );
        assert_eq!(
            validate_prop("atime", "maybe", DsKind::Filesystem).unwrap_err(),
            "'atime' must be one of 'on | off'"
        );
        assert_eq!(
            validate_prop("bogus", "1", DsKind::Filesystem).unwrap_err(),
            "invalid property 'bogus'"
        );
        assert_eq!(
            validate_prop("volsize", "1G", DsKind::Filesystem).unwrap_err(),
            "'volsize' does not apply to datasets of this type"
        );
        assert_eq!(
            validate_prop("recordsize", "100K", DsKind::Filesystem).unwrap_err(),
            "'recordsize' must be power of 2 from 512B to 16M"
        );
        assert!(validate_prop("com.example:owner", "x", DsKind::Volume).is_ok());
    }
}
