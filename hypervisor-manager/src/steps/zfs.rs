//! ZFS pools, datasets and their properties, converged to the configuration. A missing pool
//! is created only on disks that carry nothing, or that the operator named with
//! `--wipe-disks` (wiped first; [`super::disks`]); existing pools are never modified or
//! destroyed. A missing dataset is created with its properties and mount point; an existing
//! one gets `zfs set` only for the properties whose value differs (compared in `zfs get -p`
//! form, sizes in bytes).

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use phoenix_core::cmd::Cmd;
use phoenix_core::config::host::ZfsDataset;
use phoenix_core::converge::{Change, Op};
use phoenix_core::pve::zfs::{PropRow, parse_names, parse_tabbed};

use phoenix_core::step::report::Outcome;
use phoenix_core::step::{Ctx, SetupStep, StepPlan};

/// What the ZFS step does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `wipefs -a <disk>` (named with `--wipe-disks`).
    Wipe(String),
    /// The ARC limit: `/etc/modprobe.d/zfs.conf` (persistent) with this text, and the
    /// running module's parameter when it is loaded.
    Arc {
        /// The new `zfs.conf`, when it changes.
        conf: Option<String>,
        /// Bytes for `/sys/module/zfs/parameters/zfs_arc_max`, when it differs.
        runtime: Option<u64>,
    },
    /// `zpool create -o autotrim=on -O compression=lz4 -O atime=off <pool> [vdev] <disks>`.
    CreatePool {
        /// Pool name.
        name: String,
        /// `mirror`, `raidz1`, … (`None`: a stripe).
        vdev: Option<&'static str>,
        /// Disks.
        disks: Vec<String>,
    },
    /// `zfs create -o mountpoint=… -o k=v … <name>`.
    Create {
        /// Full name.
        name: String,
        /// Properties, mount point first.
        props: Vec<(String, String)>,
    },
    /// `zfs set k=v … <name>`.
    Set {
        /// Full name.
        name: String,
        /// Properties to set.
        props: Vec<(String, String)>,
    },
}

/// The step.
pub struct Zfs<'a> {
    /// Disks `zpool create` may wipe (`--wipe-disks`).
    pub wipe_disks: &'a [std::path::PathBuf],
}

/// `properties` (`recordsize=128K,compression=lz4`) as pairs; an entry without `=` is an
/// error naming it.
pub fn properties(ds: &ZfsDataset) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for part in ds.properties.as_deref().unwrap_or("").split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((k, v)) = part.split_once('=') else {
            bail!(
                "dataset {}/{}: property {part:?} is not key=value",
                ds.pool,
                ds.name
            );
        };
        out.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(out)
}

/// A ZFS size (`800G`, `128K`, `1.5T`, `0`, `none`) in bytes; `None` for other values.
pub fn size_bytes(v: &str) -> Option<u64> {
    let v = v.trim();
    if v == "none" {
        return Some(0);
    }
    let split = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mul: u64 = match unit
        .trim_end_matches(['B', 'b'])
        .to_ascii_uppercase()
        .as_str()
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        "P" => 1 << 50,
        _ => return None,
    };
    Some((n * mul as f64).round() as u64)
}

/// Whether the configured value `want` matches `zfs get -p`'s `have`.
pub fn same_value(want: &str, have: &str) -> bool {
    if want.eq_ignore_ascii_case(have) {
        return true;
    }
    match (size_bytes(want), have.parse::<u64>()) {
        (Some(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Plans one dataset against the observed properties (`None`: it does not exist).
pub fn plan_dataset(
    ds: &ZfsDataset,
    observed: Option<&BTreeMap<String, String>>,
) -> anyhow::Result<(Vec<Change>, Option<Action>)> {
    let name = format!("{}/{}", ds.pool, ds.name);
    let props = properties(ds)?;
    match observed {
        None => {
            let mut all = vec![("mountpoint".to_string(), format!("/{name}"))];
            all.extend(props.iter().cloned());
            let shown: Vec<String> = props.iter().map(|(k, v)| format!("{k}={v}")).collect();
            Ok((
                vec![Change::new(Op::Add, "datasets", name.clone()).to(shown.join(","))],
                Some(Action::Create { name, props: all }),
            ))
        }
        Some(have) => {
            let mut changes = Vec::new();
            let mut set = Vec::new();
            for (k, v) in props {
                let cur = have.get(&k).map(String::as_str).unwrap_or("-");
                if !same_value(&v, cur) {
                    changes.push(
                        Change::new(Op::Change, "properties", format!("{name} {k}"))
                            .from(cur)
                            .to(v.clone()),
                    );
                    set.push((k, v));
                }
            }
            let action = (!set.is_empty()).then_some(Action::Set { name, props: set });
            Ok((changes, action))
        }
    }
}

/// What disk `path` carries: `lsblk` (exists, partition table) and `wipefs --no-act`
/// (signatures; a `zfs_member` labelled with an existing pool belongs to it).
fn disk_facts(
    ctx: &Ctx<'_>,
    path: &str,
    pools: &[String],
) -> anyhow::Result<super::disks::DiskFacts> {
    let mut f = super::disks::DiskFacts {
        path: path.to_string(),
        ..Default::default()
    };
    let lsblk = Cmd::read("lsblk").args([
        "--json",
        "--bytes",
        "--nodeps",
        "--output",
        "NAME,PATH,SIZE,TYPE,TRAN,FSTYPE,PTTYPE",
        path,
    ]);
    let devs = match ctx.runner.run(&lsblk) {
        Ok(o) => super::disks::parse_lsblk(&o.stdout_str())?,
        Err(phoenix_core::cmd::CmdError::Failed { .. }) => return Ok(f),
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {path}")),
    };
    let Some(dev) = devs.first() else {
        return Ok(f);
    };
    f.exists = true;
    if let Some(pt) = &dev.pttype {
        f.carries.push(format!("a {pt} partition table"));
    }
    let out = ctx
        .runner
        .run(&Cmd::read("wipefs").args(["--no-act", "--json", path]))
        .with_context(|| format!("cannot read the signatures of {path}"))?;
    for s in super::disks::parse_wipefs(&out.stdout_str())? {
        if s.kind == "zfs_member" {
            if let Some(l) = s.label.as_ref().filter(|l| pools.contains(l)) {
                f.in_pool = Some(l.clone());
            }
        }
        let what = match &s.label {
            Some(l) if !l.is_empty() => format!("{} ({l})", s.kind),
            _ => s.kind.clone(),
        };
        // A partition table is already named from lsblk.
        let table_again = s.kind == dev.pttype.as_deref().unwrap_or("");
        if !table_again && !f.carries.contains(&what) {
            f.carries.push(what);
        }
    }
    Ok(f)
}

/// The modprobe file that keeps the ARC limit across reboots.
pub const MODPROBE_ZFS: &str = "/etc/modprobe.d/zfs.conf";
/// The running module's ARC limit.
pub const ARC_PARAM: &str = "/sys/module/zfs/parameters/zfs_arc_max";

/// `zfs.conf` with `zfs_arc_max=<bytes>`: the value replaced where an `options zfs` line
/// sets it, else a line appended; every other line kept.
pub fn arc_conf(current: &str, bytes: u64) -> String {
    let mut found = false;
    let mut out: Vec<String> = Vec::new();
    for line in current.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() > 2 && words[0] == "options" && words[1] == "zfs" {
            let new: Vec<String> = words
                .iter()
                .map(|w| {
                    if w.starts_with("zfs_arc_max=") {
                        found = true;
                        format!("zfs_arc_max={bytes}")
                    } else {
                        (*w).to_string()
                    }
                })
                .collect();
            out.push(new.join(" "));
        } else {
            out.push(line.to_string());
        }
    }
    if !found {
        out.push(format!("options zfs zfs_arc_max={bytes}"));
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// Plans the ARC limit from the two files (`None`: absent).
pub fn plan_arc(
    gb: u64,
    conf: Option<&str>,
    runtime: Option<&str>,
) -> (Vec<Change>, Option<Action>) {
    let bytes = gb << 30;
    let want = arc_conf(conf.unwrap_or(""), bytes);
    let conf_change = (conf != Some(want.as_str())).then_some(want);
    let runtime_change = runtime
        .filter(|r| r.trim().parse::<u64>().ok() != Some(bytes))
        .map(|_| bytes);
    let mut changes = Vec::new();
    if conf_change.is_some() {
        changes.push(
            Change::new(Op::Change, "arc", MODPROBE_ZFS)
                .to(format!("zfs_arc_max={bytes} ({gb} GiB)")),
        );
    }
    if let (Some(r), Some(b)) = (runtime, runtime_change) {
        changes.push(
            Change::new(Op::Change, "arc", "running limit")
                .from(r.trim().to_string())
                .to(b.to_string()),
        );
    }
    if runtime.is_none() {
        changes.push(Change::new(
            Op::Note,
            "arc",
            "the zfs module is not loaded: the limit applies when it loads",
        ));
    }
    if conf_change.is_some() {
        changes.push(Change::new(
            Op::Note,
            "arc",
            "with root on ZFS, run `update-initramfs -u -k all` for the limit to apply at boot",
        ));
    }
    let action = (conf_change.is_some() || runtime_change.is_some()).then_some(Action::Arc {
        conf: conf_change,
        runtime: runtime_change,
    });
    (changes, action)
}

impl SetupStep for Zfs<'_> {
    type Action = Action;

    fn name(&self) -> &'static str {
        "zfs"
    }

    fn plan(&self, ctx: &Ctx<'_>) -> anyhow::Result<StepPlan<Action>> {
        let zfs = &ctx.cfg.host.zfs;
        let r = ctx.runner;
        let pools = parse_names(
            &r.run(&Cmd::read("zpool").args(["list", "-H", "-o", "name"]))
                .context("cannot list ZFS pools")?
                .stdout_str(),
        )?;
        let mut changes = Vec::new();
        let mut actions = Vec::new();
        for w in self.wipe_disks {
            if !zfs
                .pools
                .iter()
                .any(|p| p.disks.iter().any(|d| w.as_os_str() == d.as_str()))
            {
                bail!(
                    "--wipe-disks {}: no configured pool uses this disk; nothing is wiped",
                    w.display()
                );
            }
        }
        for p in zfs.pools.iter().filter(|p| !pools.contains(&p.name)) {
            let vdev = super::disks::vdev(p.raid_level.as_deref(), p.disks.len())
                .with_context(|| format!("pool {}", p.name))?;
            let facts: Vec<super::disks::DiskFacts> = p
                .disks
                .iter()
                .map(|d| disk_facts(ctx, d, &pools))
                .collect::<anyhow::Result<_>>()?;
            let wipe = super::disks::decide(&p.name, &facts, self.wipe_disks)?;
            for d in wipe {
                changes.push(Change::new(Op::Remove, "disks", format!("wipe {d}")));
                actions.push(Action::Wipe(d));
            }
            changes.push(Change::new(Op::Add, "pools", p.name.clone()).to(format!(
                "{}{}",
                vdev.map(|v| format!("{v} ")).unwrap_or_default(),
                p.disks.join(" ")
            )));
            actions.push(Action::CreatePool {
                name: p.name.clone(),
                vdev,
                disks: p.disks.clone(),
            });
        }
        let datasets = parse_names(
            &r.run(&Cmd::read("zfs").args(["list", "-H", "-o", "name", "-t", "filesystem,volume"]))
                .context("cannot list ZFS datasets")?
                .stdout_str(),
        )?;
        let configured = |p: &str| zfs.pools.iter().any(|c| c.name == p);
        for ds in &zfs.datasets {
            if !pools.contains(&ds.pool) && !configured(&ds.pool) {
                bail!(
                    "dataset {}/{}: pool {} does not exist and is not configured",
                    ds.pool,
                    ds.name,
                    ds.pool
                );
            }
            let name = format!("{}/{}", ds.pool, ds.name);
            let observed = if datasets.contains(&name) {
                let keys: Vec<String> = properties(ds)?.into_iter().map(|(k, _)| k).collect();
                let mut m = BTreeMap::new();
                if !keys.is_empty() {
                    let out = r
                        .run(&Cmd::read("zfs").args([
                            "get".to_string(),
                            "-H".into(),
                            "-p".into(),
                            "-o".into(),
                            "name,property,value,source".into(),
                            keys.join(","),
                            name.clone(),
                        ]))
                        .with_context(|| format!("cannot read the properties of {name}"))?;
                    for row in parse_tabbed(&out.stdout_str(), 4, "zfs get -H -p")? {
                        let p = PropRow {
                            name: row[0].clone(),
                            property: row[1].clone(),
                            value: row[2].clone(),
                            source: row[3].clone(),
                        };
                        m.insert(p.property, p.value);
                    }
                }
                Some(m)
            } else {
                None
            };
            let (c, a) = plan_dataset(ds, observed.as_ref())?;
            changes.extend(c);
            actions.extend(a);
        }
        if let Some(gb) = zfs.arc_max_gb {
            let (c, a) = plan_arc(
                gb,
                ctx.read(MODPROBE_ZFS)?.as_deref(),
                ctx.read(ARC_PARAM)?.as_deref(),
            );
            changes.extend(c);
            actions.extend(a);
        }
        Ok((changes, actions).into())
    }

    fn apply(&self, ctx: &Ctx<'_>, actions: Vec<Action>) -> anyhow::Result<Outcome> {
        for a in actions {
            match a {
                Action::Arc { conf, runtime } => {
                    if let Some(text) = conf {
                        let p = ctx.layout.host(MODPROBE_ZFS);
                        if let Some(dir) = p.parent() {
                            ctx.runner.ensure_dir(dir, 0o755)?;
                        }
                        ctx.runner
                            .write_file(
                                &p,
                                text.as_bytes(),
                                phoenix_core::cmd::FileSpec::mode(0o644),
                            )
                            .with_context(|| format!("cannot write {}", p.display()))?;
                    }
                    if let Some(b) = runtime {
                        ctx.runner
                            .write_kernel_param(&ctx.layout.host(ARC_PARAM), &b.to_string())?;
                    }
                }
                Action::Wipe(d) => {
                    ctx.runner
                        .run(&Cmd::mutate("wipefs").args(["-a", &d]))
                        .with_context(|| format!("cannot wipe {d}"))?;
                }
                Action::CreatePool { name, vdev, disks } => {
                    let mut c = Cmd::mutate("zpool").args([
                        "create",
                        "-o",
                        "autotrim=on",
                        "-O",
                        "compression=lz4",
                        "-O",
                        "atime=off",
                    ]);
                    c = c.arg(&name);
                    if let Some(v) = vdev {
                        c = c.arg(v);
                    }
                    ctx.runner
                        .run(&c.args(&disks))
                        .with_context(|| format!("cannot create pool {name}"))?;
                }
                Action::Create { name, props } => {
                    let mut c = Cmd::mutate("zfs").arg("create");
                    for (k, v) in &props {
                        c = c.arg("-o").arg(format!("{k}={v}"));
                    }
                    ctx.runner
                        .run(&c.arg(&name))
                        .with_context(|| format!("cannot create dataset {name}"))?;
                    if let Some((_, mp)) = props.iter().find(|(k, _)| k == "mountpoint") {
                        ctx.record_created(mp);
                    }
                }
                Action::Set { name, props } => {
                    let mut c = Cmd::mutate("zfs").arg("set");
                    for (k, v) in &props {
                        c = c.arg(format!("{k}={v}"));
                    }
                    ctx.runner
                        .run(&c.arg(&name))
                        .with_context(|| format!("cannot set properties of {name}"))?;
                }
            }
        }
        Ok(Outcome::Changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(props: &str) -> ZfsDataset {
        ZfsDataset {
            name: "vm-disks".into(),
            pool: "tank".into(),
            properties: Some(props.into()),
            ..ZfsDataset::default()
        }
    }

    #[test]
    fn a_missing_dataset_is_created_with_its_mountpoint() {
        let (c, a) = plan_dataset(&ds("recordsize=128K,compression=lz4"), None).unwrap();
        assert_eq!(
            c[0].to_string(),
            "+ tank/vm-disks: recordsize=128K,compression=lz4"
        );
        assert_eq!(
            a,
            Some(Action::Create {
                name: "tank/vm-disks".into(),
                props: vec![
                    ("mountpoint".into(), "/tank/vm-disks".into()),
                    ("recordsize".into(), "128K".into()),
                    ("compression".into(), "lz4".into()),
                ]
            })
        );
    }

    #[test]
    fn only_differing_properties_are_set_sizes_compared_in_bytes() {
        let have: BTreeMap<String, String> = [
            ("recordsize", "131072"),
            ("compression", "lz4"),
            ("quota", "858993459200"),
            ("sync", "standard"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (c, a) = plan_dataset(
            &ds("recordsize=128K,compression=lz4,quota=800G,sync=disabled"),
            Some(&have),
        )
        .unwrap();
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(
            c[0].to_string(),
            "~ tank/vm-disks sync: standard -> disabled"
        );
        assert_eq!(
            a,
            Some(Action::Set {
                name: "tank/vm-disks".into(),
                props: vec![("sync".into(), "disabled".into())]
            })
        );
        let (c, a) = plan_dataset(&ds("recordsize=128K,quota=800G"), Some(&have)).unwrap();
        assert!(c.is_empty() && a.is_none());
    }

    #[test]
    fn the_arc_limit_is_persisted_and_applied_to_the_running_module() {
        let (c, a) = plan_arc(
            8,
            Some("# keep\noptions zfs zfs_arc_max=1024 zfs_arc_min=0\n"),
            Some("1024\n"),
        );
        assert_eq!(
            a,
            Some(Action::Arc {
                conf: Some("# keep\noptions zfs zfs_arc_max=8589934592 zfs_arc_min=0\n".into()),
                runtime: Some(8 << 30),
            })
        );
        assert_eq!(c[1].to_string(), "~ running limit: 1024 -> 8589934592");
        let (c, a) = plan_arc(8, None, None);
        assert_eq!(
            a,
            Some(Action::Arc {
                conf: Some("options zfs zfs_arc_max=8589934592\n".into()),
                runtime: None
            })
        );
        assert!(c.iter().any(|c| c.what.contains("not loaded")));
        let (c, a) = plan_arc(
            8,
            Some("options zfs zfs_arc_max=8589934592\n"),
            Some("8589934592\n"),
        );
        assert!(c.is_empty() && a.is_none());
    }

    #[test]
    fn bad_properties_name_the_dataset() {
        let e = plan_dataset(&ds("recordsize"), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "dataset tank/vm-disks: property \"recordsize\" is not key=value"
        );
        assert_eq!(size_bytes("1.5T"), Some(1_649_267_441_664));
        assert_eq!(size_bytes("lz4"), None);
    }
}
