//! Block devices: `lsblk` and `wipefs` over the simulated host's disks (`state.json`
//! `disks`), printing util-linux's JSON (libsmartcols' layout: three-space indentation) and
//! texts. A disk of an imported pool is busy: `wipefs -a` refuses it.

use serde_json::{Map, Value};

use super::{answer, changed, fail, getopt_long, o};
use crate::Ctx;
use crate::outcome::Outcome;
use crate::state::Disk;

/// Pretty JSON as libsmartcols prints it (three-space indentation, `"key": value`).
pub fn smartcols_json(v: &Value) -> String {
    fn write(v: &Value, depth: usize, out: &mut String) {
        let pad = |d: usize| "   ".repeat(d);
        match v {
            Value::Object(m) if !m.is_empty() => {
                out.push_str("{\n");
                for (i, (k, x)) in m.iter().enumerate() {
                    out.push_str(&pad(depth + 1));
                    out.push_str(&serde_json::to_string(k).unwrap_or_default());
                    out.push_str(": ");
                    write(x, depth + 1, out);
                    if i + 1 < m.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
                out.push_str(&pad(depth));
                out.push('}');
            }
            Value::Array(a) if !a.is_empty() => {
                out.push_str("[\n");
                for (i, x) in a.iter().enumerate() {
                    out.push_str(&pad(depth + 1));
                    write(x, depth + 1, out);
                    if i + 1 < a.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
                out.push_str(&pad(depth));
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut s = String::new();
    write(v, 0, &mut s);
    s.push('\n');
    s
}

/// `931.5G` as lsblk prints sizes without `--bytes`.
pub fn human_size(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "K", "M", "G", "T", "P"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        return format!("{b}B");
    }
    let s = format!("{v:.1}");
    let s = s.strip_suffix(".0").unwrap_or(&s).to_string();
    format!("{s}{}", UNITS[i])
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// A stable pseudo-random number for a disk (UUIDs, pool GUIDs).
fn seed(path: &str, salt: &str) -> String {
    super::sha256_hex(format!("{salt}:{path}").as_bytes())
}

fn fs_uuid(path: &str) -> String {
    let h = seed(path, "uuid");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Where each signature type sits, and its magic bytes.
fn magic(kind: &str) -> (u64, &'static str) {
    match kind {
        "zfs_member" => (0x3f000, "0c b1 ba 00 00 00 00 00"),
        "ext4" | "ext3" | "ext2" => (0x438, "53 ef"),
        "xfs" => (0x0, "58 46 53 42"),
        "btrfs" => (0x10040, "5f 42 48 52 66 53 5f 4d"),
        "LVM2_member" => (0x218, "4c 56 4d 32 20 30 30 31"),
        "swap" => (0xff6, "53 57 41 50 53 50 41 43 45 32"),
        "linux_raid_member" => (0x1000, "fc 4e 2b a9"),
        "vfat" => (0x52, "46 41 54 33 32 20 20 20"),
        "ntfs" => (0x3, "4e 54 46 53 20 20 20 20"),
        _ => (0x0, "00"),
    }
}

/// One signature `wipefs` reports: `(offset, type, uuid, label, magic)`.
type Sig = (u64, String, Option<String>, Option<String>, &'static str);

fn signatures(path: &str, d: &Disk) -> Vec<Sig> {
    let mut out = Vec::new();
    if let Some(kind) = &d.signature {
        let (off, m) = magic(kind);
        let uuid = if kind == "zfs_member" {
            let h = seed(path, "guid");
            u64::from_str_radix(&h[..15], 16).unwrap_or(1).to_string()
        } else {
            fs_uuid(path)
        };
        out.push((off, kind.clone(), Some(uuid), d.label.clone(), m));
    }
    if d.partitions {
        out.push((0x200, "gpt".into(), None, None, "45 46 49 20 50 41 52 54"));
        out.push((
            d.size.saturating_sub(0x200),
            "gpt".into(),
            None,
            None,
            "45 46 49 20 50 41 52 54",
        ));
        out.push((0x1fe, "PMBR".into(), None, None, "55 aa"));
    }
    out
}

/// Whether a disk belongs to an imported pool.
fn busy(ctx: &Ctx, d: &Disk) -> bool {
    d.signature.as_deref() == Some("zfs_member")
        && d.label
            .as_ref()
            .is_some_and(|l| ctx.state.zfs.pools.contains_key(l))
}

const LSBLK_COLUMNS: &[&str] = &[
    "NAME",
    "KNAME",
    "PATH",
    "SIZE",
    "TYPE",
    "TRAN",
    "FSTYPE",
    "PTTYPE",
    "MODEL",
    "SERIAL",
    "LABEL",
    "UUID",
    "MOUNTPOINT",
    "RO",
    "RM",
    "ROTA",
];

/// `lsblk [--json] [--bytes] [--nodeps] [--output COLS] [--noheadings] [--paths] [dev…]`.
pub fn lsblk(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let specs = [
        o("json", Some('J'), false),
        o("bytes", Some('b'), false),
        o("nodeps", Some('d'), false),
        o("output", Some('o'), true),
        o("noheadings", Some('n'), false),
        o("paths", Some('p'), false),
        o("raw", Some('r'), false),
        o("list", Some('l'), false),
        o("all", Some('a'), false),
    ];
    let p = match getopt_long(args, &specs) {
        Ok(p) => p,
        Err(e) => {
            return fail(
                1,
                format!("lsblk: {e}\nTry 'lsblk --help' for more information."),
            );
        }
    };
    let secs = ctx.knobs.cost("host.read");
    let cols: Vec<String> = p
        .value("output")
        .unwrap_or("NAME,SIZE,TYPE,MOUNTPOINT")
        .split(',')
        .map(|c| c.trim().to_ascii_uppercase())
        .collect();
    if let Some(bad) = cols.iter().find(|c| !LSBLK_COLUMNS.contains(&c.as_str())) {
        return fail(1, format!("lsblk: unknown column: {bad}"));
    }
    let devs: Vec<String> = if p.operands.is_empty() {
        ctx.state.disks.keys().cloned().collect()
    } else {
        p.operands.clone()
    };
    let mut rows = Vec::new();
    let mut err = String::new();
    for dev in &devs {
        let Some(d) = ctx.state.disks.get(dev) else {
            err.push_str(&format!("lsblk: {dev}: not a block device\n"));
            continue;
        };
        let mut row = Map::new();
        for c in &cols {
            let key = c.to_ascii_lowercase();
            let v = match c.as_str() {
                "NAME" | "KNAME" => {
                    if p.has("paths") {
                        Value::from(dev.as_str())
                    } else {
                        Value::from(basename(dev))
                    }
                }
                "PATH" => Value::from(dev.as_str()),
                "SIZE" => {
                    if p.has("bytes") {
                        Value::from(d.size)
                    } else {
                        Value::from(human_size(d.size))
                    }
                }
                "TYPE" => Value::from("disk"),
                "TRAN" => Value::from(d.transport.as_str()),
                "FSTYPE" => d.signature.clone().map_or(Value::Null, Value::from),
                "PTTYPE" => {
                    if d.partitions {
                        Value::from("gpt")
                    } else {
                        Value::Null
                    }
                }
                "LABEL" => d.label.clone().map_or(Value::Null, Value::from),
                "UUID" => d
                    .signature
                    .as_ref()
                    .map_or(Value::Null, |_| Value::from(fs_uuid(dev))),
                "MODEL" => Value::from(if d.transport == "nvme" {
                    "Samsung SSD 990 EVO Plus 2TB"
                } else {
                    "QEMU HARDDISK"
                }),
                "SERIAL" => Value::from(seed(dev, "serial")[..14].to_ascii_uppercase()),
                "RO" | "RM" => Value::from(false),
                "ROTA" => Value::from(d.transport != "nvme"),
                _ => Value::Null,
            };
            row.insert(key, v);
        }
        rows.push(row);
    }
    if rows.is_empty() && !err.is_empty() {
        return answer(32, "", err).secs(secs);
    }
    let out = if p.has("json") {
        let mut top = Map::new();
        top.insert(
            "blockdevices".into(),
            Value::Array(rows.into_iter().map(Value::Object).collect()),
        );
        smartcols_json(&Value::Object(top))
    } else {
        let show = |v: &Value| match v {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            Value::Bool(b) => if *b { "1" } else { "0" }.into(),
            other => other.to_string(),
        };
        let mut table: Vec<Vec<String>> = Vec::new();
        if !p.has("noheadings") {
            table.push(cols.clone());
        }
        for r in &rows {
            table.push(
                cols.iter()
                    .map(|c| show(&r[&c.to_ascii_lowercase()]))
                    .collect(),
            );
        }
        let widths: Vec<usize> = (0..cols.len())
            .map(|i| table.iter().map(|r| r[i].len()).max().unwrap_or(0))
            .collect();
        let mut s = String::new();
        for r in table {
            let line: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if p.has("raw") {
                        c.clone()
                    } else if cols[i] == "SIZE" {
                        format!("{c:>w$}", w = widths[i])
                    } else {
                        format!("{c:<w$}", w = widths[i])
                    }
                })
                .collect();
            s.push_str(line.join(" ").trim_end());
            s.push('\n');
        }
        s
    };
    // Some devices found, others not: lsblk prints what it found and exits 64.
    let code = if err.is_empty() { 0 } else { 64 };
    answer(code, out, err).secs(secs)
}

/// `wipefs [--no-act] [--json] [--all] [--force] [--quiet] <dev>…`.
pub fn wipefs(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let specs = [
        o("all", Some('a'), false),
        o("no-act", Some('n'), false),
        o("json", Some('J'), false),
        o("force", Some('f'), false),
        o("quiet", Some('q'), false),
        o("noheadings", None, false),
        o("output", Some('O'), true),
        o("types", Some('t'), true),
    ];
    let p = match getopt_long(args, &specs) {
        Ok(p) => p,
        Err(e) => {
            return fail(
                1,
                format!("wipefs: {e}\nTry 'wipefs --help' for more information."),
            );
        }
    };
    if p.operands.is_empty() {
        return fail(
            1,
            "wipefs: no device specified\nTry 'wipefs --help' for more information.",
        );
    }
    for dev in &p.operands {
        if !ctx.state.disks.contains_key(dev) {
            return fail(
                1,
                format!(
                    "wipefs: error: {dev}: probing initialization failed: No such file or directory"
                ),
            );
        }
    }
    let erase = p.has("all");
    if erase && !p.has("no-act") {
        for dev in &p.operands {
            if busy(ctx, &ctx.state.disks[dev]) {
                return fail(
                    1,
                    format!(
                        "wipefs: error: {dev}: probing initialization failed: Device or resource busy"
                    ),
                );
            }
        }
        let mut out = String::new();
        for dev in &p.operands {
            let d = ctx.state.disks[dev].clone();
            let sigs = signatures(dev, &d);
            for (off, kind, _, _, m) in &sigs {
                let n = m.split(' ').count();
                out.push_str(&format!(
                    "{dev}: {n} bytes were erased at offset 0x{off:08x} ({kind}): {m}\n"
                ));
            }
            if d.partitions {
                out.push_str(&format!(
                    "{dev}: calling ioctl to re-read partition table: Success\n"
                ));
            }
            if let Some(x) = ctx.state.disks.get_mut(dev) {
                x.signature = None;
                x.label = None;
                x.partitions = false;
            }
        }
        if p.has("quiet") {
            out.clear();
        }
        return changed(out).secs(ctx.knobs.cost("wipefs"));
    }
    let secs = ctx.knobs.cost("host.read");
    let mut all: Vec<(String, Sig)> = Vec::new();
    for dev in &p.operands {
        for s in signatures(dev, &ctx.state.disks[dev]) {
            all.push((dev.clone(), s));
        }
    }
    if erase {
        // `wipefs -a --no-act`: what would be erased.
        let out: String = all
            .iter()
            .map(|(dev, (off, kind, _, _, m))| {
                format!(
                    "{dev}: {} bytes were erased at offset 0x{off:08x} ({kind}): {m}\n",
                    m.split(' ').count()
                )
            })
            .collect();
        return Outcome::read(out).secs(secs);
    }
    if all.is_empty() {
        return Outcome::read("").secs(secs);
    }
    let out = if p.has("json") {
        let list: Vec<Value> = all
            .iter()
            .map(|(dev, (off, kind, uuid, label, _))| {
                let mut m = Map::new();
                m.insert("device".into(), Value::from(basename(dev)));
                m.insert("offset".into(), Value::from(format!("0x{off:x}")));
                m.insert("type".into(), Value::from(kind.as_str()));
                m.insert("uuid".into(), uuid.clone().map_or(Value::Null, Value::from));
                m.insert(
                    "label".into(),
                    label.clone().map_or(Value::Null, Value::from),
                );
                Value::Object(m)
            })
            .collect();
        let mut top = Map::new();
        top.insert("signatures".into(), Value::Array(list));
        smartcols_json(&Value::Object(top))
    } else {
        let mut rows = vec![vec![
            "DEVICE".to_string(),
            "OFFSET".into(),
            "TYPE".into(),
            "UUID".into(),
            "LABEL".into(),
        ]];
        for (dev, (off, kind, uuid, label, _)) in &all {
            rows.push(vec![
                basename(dev).to_string(),
                format!("0x{off:x}"),
                kind.clone(),
                uuid.clone().unwrap_or_default(),
                label.clone().unwrap_or_default(),
            ]);
        }
        if p.has("noheadings") {
            rows.remove(0);
        }
        let widths: Vec<usize> = (0..5)
            .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
            .collect();
        rows.iter()
            .map(|r| {
                let cells: Vec<String> = r
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
                    .collect();
                format!("{}\n", cells.join(" ").trim_end())
            })
            .collect()
    };
    Outcome::read(out).secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_laid_out_like_libsmartcols() {
        let v: Value =
            serde_json::from_str(r#"{"blockdevices":[{"name":"sdb","size":1,"fstype":null}]}"#)
                .unwrap();
        assert_eq!(
            smartcols_json(&v),
            "{\n   \"blockdevices\": [\n      {\n         \"name\": \"sdb\",\n         \"size\": 1,\n         \"fstype\": null\n      }\n   ]\n}\n"
        );
    }

    #[test]
    fn sizes_and_signatures() {
        assert_eq!(human_size(1_000_204_886_016), "931.5G");
        assert_eq!(human_size(1 << 40), "1T");
        let d = Disk {
            size: 1 << 30,
            transport: "sata".into(),
            signature: Some("zfs_member".into()),
            label: Some("tank".into()),
            partitions: true,
        };
        let s = signatures("/dev/sdb", &d);
        let kinds: Vec<(&str, u64)> = s.iter().map(|x| (x.1.as_str(), x.0)).collect();
        assert_eq!(
            kinds,
            [
                ("zfs_member", 0x3f000),
                ("gpt", 0x200),
                ("gpt", (1 << 30) - 0x200),
                ("PMBR", 0x1fe)
            ]
        );
        assert_eq!(s[0].3.as_deref(), Some("tank"));
        assert!(signatures("/dev/sdc", &Disk::default()).is_empty());
    }
}
