//! Proxmox storage definitions for the configured datasets: a missing one is added with
//! `pvesm add`, one whose content types differ gets `pvesm set --content`; storages the
//! configuration does not manage are left alone (the shell version removed them).

use std::collections::BTreeSet;

use anyhow::{Context, bail};
use phoenix_core::cmd::Cmd;
use phoenix_core::config::host::{HostConfig, ZfsDataset};
use phoenix_core::converge::{Change, Op};
use phoenix_core::pve::storage::{self, Storage};

use phoenix_core::step::report::Outcome;
use phoenix_core::step::{Ctx, SetupStep, StepPlan};

/// What the storage step does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `pvesm add <type> <id> …`.
    Add(Vec<String>),
    /// `pvesm set <id> --content <list>`.
    Content(String, String),
}

/// The step.
pub struct StorageStep;

/// The storage ID of a dataset: `proxmox_storage_ids["<pool>_<name with _>"]`, else
/// `<pool>-<name>`.
pub fn storage_id(host: &HostConfig, ds: &ZfsDataset) -> String {
    let key = format!("{}_{}", ds.pool, ds.name.replace('-', "_"));
    host.proxmox_storage_ids
        .get(&key)
        .filter(|v| !v.is_empty())
        .cloned()
        .unwrap_or_else(|| format!("{}-{}", ds.pool, ds.name))
}

fn content_set(s: &str) -> BTreeSet<String> {
    s.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty() && *c != "none")
        .map(str::to_string)
        .collect()
}

/// Plans the storage of one dataset against `storage.cfg`.
pub fn plan_dataset(
    host: &HostConfig,
    ds: &ZfsDataset,
    have: &[Storage],
) -> anyhow::Result<(Vec<Change>, Option<Action>)> {
    let Some(kind) = ds.proxmox_storage_type.as_deref() else {
        return Ok((Vec::new(), None));
    };
    let id = storage_id(host, ds);
    let full = format!("{}/{}", ds.pool, ds.name);
    let content = ds.proxmox_content_type.clone().unwrap_or_default();
    let want = content_set(&content);
    match have.iter().find(|s| s.id == id) {
        None => {
            let mut argv = vec!["add".to_string(), kind.to_string(), id.clone()];
            match kind {
                "zfspool" => argv.extend(["--pool".into(), full.clone()]),
                "dir" => argv.extend(["--path".into(), format!("/{full}")]),
                other => bail!(
                    "dataset {full}: proxmox_storage_type {other:?} is not supported (zfspool or dir)"
                ),
            }
            if !want.is_empty() {
                argv.extend([
                    "--content".into(),
                    want.iter().cloned().collect::<Vec<_>>().join(","),
                ]);
            }
            // A directory on a dataset's mount point is offline, not filled, when the pool is
            // not imported (pve-storage DirPlugin `is_mountpoint`). It is never `--shared 1`:
            // that tells a cluster every node sees the same files, which a local dataset is
            // not (the shell version's `storage_class: shared` meant shared between guests).
            if kind == "dir" {
                argv.extend(["--is_mountpoint".into(), "yes".into()]);
            }
            Ok((
                vec![Change::new(Op::Add, "storages", id).to(format!("{kind} {full}"))],
                Some(Action::Add(argv)),
            ))
        }
        Some(s) => {
            if s.kind != kind {
                bail!(
                    "storage {id} exists as type {} but dataset {full} wants {kind}; change it by hand (vm and container disks may live on it)",
                    s.kind
                );
            }
            let cur: BTreeSet<String> = s.content().into_iter().map(str::to_string).collect();
            if cur == want || want.is_empty() {
                return Ok((Vec::new(), None));
            }
            let list = want.iter().cloned().collect::<Vec<_>>().join(",");
            let from = cur.iter().cloned().collect::<Vec<_>>().join(",");
            Ok((
                vec![
                    Change::new(Op::Change, "storages", format!("{id} content"))
                        .from(from)
                        .to(list.clone()),
                ],
                Some(Action::Content(id, list)),
            ))
        }
    }
}

impl SetupStep for StorageStep {
    type Action = Action;

    fn name(&self) -> &'static str {
        "storage"
    }

    fn plan(&self, ctx: &Ctx<'_>) -> anyhow::Result<StepPlan<Action>> {
        let text = ctx.read("/etc/pve/storage.cfg")?.unwrap_or_default();
        let have = storage::parse(&text);
        let mut changes = Vec::new();
        let mut actions = Vec::new();
        for ds in &ctx.cfg.host.zfs.datasets {
            let (c, a) = plan_dataset(&ctx.cfg.host, ds, &have)?;
            changes.extend(c);
            actions.extend(a);
        }
        Ok((changes, actions).into())
    }

    fn apply(&self, ctx: &Ctx<'_>, actions: Vec<Action>) -> anyhow::Result<Outcome> {
        for a in actions {
            let argv = match a {
                Action::Add(argv) => argv,
                Action::Content(id, list) => {
                    vec!["set".into(), id, "--content".into(), list]
                }
            };
            ctx.runner
                .run(&Cmd::mutate("pvesm").args(&argv))
                .with_context(|| format!("pvesm {}", argv.join(" ")))?;
        }
        Ok(Outcome::Changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(kind: &str, content: &str) -> ZfsDataset {
        ZfsDataset {
            name: "vm-disks".into(),
            pool: "tank".into(),
            proxmox_storage_type: Some(kind.into()),
            proxmox_content_type: Some(content.into()),
            ..ZfsDataset::default()
        }
    }

    /// pve-storage DirPlugin: `is_mountpoint yes` keeps a directory storage offline while its
    /// dataset is not mounted; `shared 1` would claim every cluster node sees its files.
    #[test]
    fn directory_storages_on_datasets_are_mount_points_and_never_shared() {
        let host = HostConfig::default();
        let mut d = ds("dir", "iso,vztmpl");
        d.storage_class = Some("shared".into());
        let (_, a) = plan_dataset(&host, &d, &[]).unwrap();
        let Some(Action::Add(argv)) = a else {
            panic!("{a:?}")
        };
        assert_eq!(
            argv,
            [
                "add",
                "dir",
                "tank-vm-disks",
                "--path",
                "/tank/vm-disks",
                "--content",
                "iso,vztmpl",
                "--is_mountpoint",
                "yes"
            ]
        );
    }

    #[test]
    fn missing_storages_are_added_and_content_converged() {
        let host = HostConfig::default();
        let (c, a) = plan_dataset(&host, &ds("zfspool", "images,rootdir"), &[]).unwrap();
        assert_eq!(c[0].to_string(), "+ tank-vm-disks: zfspool tank/vm-disks");
        assert_eq!(
            a,
            Some(Action::Add(
                [
                    "add",
                    "zfspool",
                    "tank-vm-disks",
                    "--pool",
                    "tank/vm-disks",
                    "--content",
                    "images,rootdir"
                ]
                .map(String::from)
                .to_vec()
            ))
        );
        let have = storage::parse(
            "zfspool: tank-vm-disks\n\tpool tank/vm-disks\n\tcontent rootdir,images\n",
        );
        let (c, a) = plan_dataset(&host, &ds("zfspool", "images,rootdir"), &have).unwrap();
        assert!(c.is_empty() && a.is_none(), "order does not matter");
        let (_, a) = plan_dataset(&host, &ds("zfspool", "images"), &have).unwrap();
        assert_eq!(
            a,
            Some(Action::Content("tank-vm-disks".into(), "images".into()))
        );
        let e = plan_dataset(&host, &ds("dir", "images"), &have).unwrap_err();
        assert!(e.to_string().contains("exists as type zfspool"), "{e}");
    }
}
