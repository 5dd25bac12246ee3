//! Creating a missing container: from an OS template tarball (downloaded with `pveam` only
//! when it is missing) or by cloning — linked from a Proxmox template, else full from the
//! source's `template_snapshot_name` snapshot. Also predicts the config the new container
//! will have, so a dry run can plan the rest.

use std::path::Path;

use anyhow::{Context, bail};
use phoenix_core::cmd::Runner;
use phoenix_core::config::Config;
use phoenix_core::converge::{Change, Op};
use phoenix_core::ids::GuestId;
use phoenix_core::paths::Layout;
use phoenix_core::pve::conf::{GuestConfig, Section};
use phoenix_core::pve::{pvesm, storage};

use crate::observe;
use crate::options;
use crate::pct;
use crate::spec::{Source, Spec};

/// How the container comes to exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creation {
    /// `pveam download <storage> <file>` first.
    pub download: Option<(String, String)>,
    /// `pct create …` or `pct clone …` arguments.
    pub args: Vec<String>,
    /// Plan lines.
    pub changes: Vec<Change>,
    /// The config the container will have right after.
    pub predicted: GuestConfig,
}

impl Creation {
    /// The container a `pct clone` copies.
    pub fn clone_source(&self) -> Option<GuestId> {
        match self.args.as_slice() {
            [verb, from, ..] if verb == "clone" => from.parse().ok().map(GuestId),
            _ => None,
        }
    }
}

/// Where a template tarball is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TemplateRef {
    /// A volume ID (`storage:vztmpl/file`).
    Volume(String, String),
    /// An absolute host path.
    Path(String),
}

/// The host's storages (`storage.cfg`; none when it cannot be read).
pub fn storages(layout: &Layout) -> Vec<storage::Storage> {
    storage::parse(
        &phoenix_core::files::read_to_string(layout.host("/etc/pve/storage.cfg"))
            .unwrap_or_default(),
    )
}

/// A resolved OS template.
struct Resolved {
    /// The `pct create` ostemplate argument.
    arg: String,
    /// `(storage, file)` to download first.
    download: Option<(String, String)>,
    /// How the plan names it.
    shown: String,
}

/// Resolves `template` to the `pct create` argument and whether it must be downloaded.
fn resolve_template(
    cfg: &Config,
    layout: &Layout,
    runner: &Runner,
    template: &str,
) -> anyhow::Result<Resolved> {
    let stores = storages(layout);
    let tref = if let Some((sid, rest)) = template.split_once(':').filter(|(s, _)| !s.contains('/'))
    {
        let file = rest.strip_prefix("vztmpl/").unwrap_or(rest).to_string();
        TemplateRef::Volume(sid.to_string(), file)
    } else if template.starts_with('/') {
        TemplateRef::Path(template.to_string())
    } else {
        // A bare file name: look for it in the template storages.
        let cands: Vec<&storage::Storage> = stores
            .iter()
            .filter(|s| s.has_content("vztmpl") && s.path().is_some() && !s.disabled())
            .collect();
        let found = cands.iter().find(|s| {
            layout
                .host(
                    Path::new(s.path().unwrap_or("/"))
                        .join("template/cache")
                        .join(template),
                )
                .is_file()
        });
        let preferred = cfg
            .host
            .proxmox_storage_ids
            .iter()
            .filter(|(k, _)| k.contains("iso"))
            .map(|(_, v)| v.as_str())
            .find(|v| cands.iter().any(|s| s.id == *v));
        let sid = found
            .map(|s| s.id.clone())
            .or_else(|| preferred.map(str::to_string))
            .or_else(|| cands.first().map(|s| s.id.clone()));
        let Some(sid) = sid else {
            bail!(
                "OS template {template:?}: no storage holds container templates (content vztmpl) on this host"
            );
        };
        TemplateRef::Volume(sid, template.to_string())
    };
    match tref {
        TemplateRef::Volume(sid, file) => {
            let Some(st) = stores.iter().find(|s| s.id == sid) else {
                bail!("OS template {template:?}: storage {sid:?} does not exist on this host");
            };
            let volid = format!("{sid}:vztmpl/{file}");
            let present = match st.path() {
                Some(p) => layout
                    .host(Path::new(p).join("template/cache").join(&file))
                    .is_file(),
                None => {
                    let out = runner
                        .run(&pct::pvesm_path(&volid))
                        .with_context(|| format!("cannot locate {volid}"))?;
                    layout.host(out.stdout_str().trim()).is_file()
                }
            };
            let download = (!present).then(|| (sid.clone(), file.clone()));
            Ok(Resolved {
                arg: volid.clone(),
                download,
                shown: volid,
            })
        }
        TemplateRef::Path(p) => {
            let real = layout.host(&p);
            let arg = real.to_string_lossy().into_owned();
            if real.is_file() {
                return Ok(Resolved {
                    arg,
                    download: None,
                    shown: p,
                });
            }
            let dir = Path::new(&p)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let file = Path::new(&p)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Some(st) = stores.iter().find(|s| {
                s.has_content("vztmpl")
                    && s.path()
                        .is_some_and(|sp| Path::new(sp).join("template/cache") == dir)
            }) else {
                bail!(
                    "OS template {p} does not exist, and no storage keeps its templates in {}; download it, or name it as <storage>:vztmpl/<file>",
                    dir.display()
                );
            };
            Ok(Resolved {
                arg,
                download: Some((st.id.clone(), file)),
                shown: p,
            })
        }
    }
}

/// The storage `want` exists, is active and has room for `need` bytes (the root disk of a
/// new container or full clone): refused before anything is created, with what it has.
fn storage_check(runner: &Runner, want: &str, need: u64, what: &str) -> anyhow::Result<()> {
    let out = runner
        .run(&pct::pvesm_status())
        .context("cannot list the storages")?;
    let list = pvesm::parse_status(&out.stdout_str()).context("cannot list the storages")?;
    pvesm::check_room(&list, want, need, what).map_err(anyhow::Error::msg)
}

/// The main section `pct create` gives a container made from `spec` on `storage` with a
/// `disk` GiB root disk (what the settings planner then compares with). Also stands in for a
/// clone whose source does not exist yet, in a dry run.
pub fn predict(spec: &Spec, storage: &str, disk: u64) -> GuestConfig {
    GuestConfig {
        main: options::written(&options::table(spec, Some((storage, disk))), spec.id),
        ..GuestConfig::default()
    }
}

/// A clone whose source is not there yet (dry run only): predicted as if made from `spec`.
fn pending_clone(spec: &Spec, from: GuestId, mut changes: Vec<Change>, why: String) -> Creation {
    changes.push(
        Change::new(
            Op::Add,
            "create",
            format!("container {} as a clone of {from}", spec.id),
        )
        .to(why),
    );
    let storage = spec.storage.clone().unwrap_or_else(|| "local".into());
    Creation {
        download: None,
        args: vec!["clone".into(), from.to_string(), spec.id.to_string()],
        changes,
        predicted: predict(spec, &storage, spec.disk_gb.unwrap_or(8)),
    }
}

/// Plans the creation of `spec`'s container.
pub fn plan(
    cfg: &Config,
    layout: &Layout,
    runner: &Runner,
    spec: &Spec,
) -> anyhow::Result<Creation> {
    let id = spec.id.to_string();
    match &spec.source {
        Source::Template(t) => {
            let storage = spec.storage.clone().context("storage_pool is not set")?;
            let disk = spec.disk_gb.unwrap_or(8);
            storage_check(
                runner,
                &storage,
                disk.saturating_mul(crate::spec::GIB),
                &format!("the {disk} GiB root disk of container {id}"),
            )?;
            let Resolved {
                arg,
                download,
                shown,
            } = resolve_template(cfg, layout, runner, t)?;
            let mut args = vec!["create".to_string(), id.clone(), arg];
            args.extend(options::argv(&options::table(spec, Some((&storage, disk)))));
            let mut changes = Vec::new();
            if let Some((sid, file)) = &download {
                changes.push(Change::new(
                    Op::Run,
                    "create",
                    format!("download template {file} to {sid}"),
                ));
            }
            changes.push(
                Change::new(Op::Add, "create", format!("container {id} from {shown}"))
                    .to(format!("{disk}G root disk on {storage}")),
            );
            Ok(Creation {
                download,
                args,
                changes,
                predicted: predict(spec, &storage, disk),
            })
        }
        Source::Clone { from, reason } => {
            clone_plan(cfg, layout, runner, spec, *from, reason.as_deref())
        }
    }
}

fn clone_plan(
    cfg: &Config,
    layout: &Layout,
    runner: &Runner,
    spec: &Spec,
    from: GuestId,
    reason: Option<&str>,
) -> anyhow::Result<Creation> {
    let id = spec.id.to_string();
    let src_cfg = cfg.lxc.lxc_configs.get(&from.to_string());
    let mut changes = Vec::new();
    if let Some(r) = reason {
        changes.push(Change::new(
            Op::Note,
            "create",
            format!("chosen source: {r}"),
        ));
    }
    let Some((src, _)) = observe::conf(layout, from)? else {
        if runner.is_dry_run() {
            return Ok(pending_clone(
                spec,
                from,
                changes,
                format!("{from} does not exist yet; it is created first"),
            ));
        }
        bail!(
            "clone source {from} does not exist; create it first (`phoenix create {}` orders this)",
            spec.id
        );
    };
    let src_unpriv = src.main.get("unprivileged") == Some("1");
    if spec.unprivileged_explicit && src_unpriv != spec.unprivileged {
        let word = |b: bool| if b { "unprivileged" } else { "privileged" };
        bail!(
            "container {id} must be {} but its clone source {from} is {}; a clone keeps its source's privilege level, so create {id} from an OS template instead",
            word(spec.unprivileged),
            word(src_unpriv)
        );
    }
    let linked = src.main.is_template();
    let (section, args) = if linked {
        if spec
            .storage
            .as_deref()
            .is_some_and(|s| src_storage(&src.main).is_none_or(|x| x != s))
        {
            changes.push(Change::new(
                Op::Note,
                "create",
                format!(
                    "a linked clone stays on its template's storage ({})",
                    src_storage(&src.main).unwrap_or_default()
                ),
            ));
        }
        (
            src.main.clone(),
            vec![
                "clone".to_string(),
                from.to_string(),
                id.clone(),
                "--hostname".into(),
                spec.hostname.clone(),
            ],
        )
    } else {
        if src_cfg.is_some_and(|c| c.is_template()) {
            bail!(
                "clone source {from} is configured as a template but is not one yet; converge {from} first"
            );
        }
        let snap = src_cfg
            .and_then(|c| c.template_snapshot_name.clone())
            .filter(|s| !s.is_empty());
        let Some(snap) = snap else {
            bail!(
                "clone source {from} names no template_snapshot_name; set one (e.g. \"final-form\") so clones have a fixed state to start from"
            );
        };
        let Some(section) = src.snapshots.get(&snap).cloned() else {
            if runner.is_dry_run() {
                return Ok(pending_clone(
                    spec,
                    from,
                    changes,
                    format!(
                        "full clone of {from}@{snap}; {from} has no snapshot {snap} yet, converging {from} takes it"
                    ),
                ));
            }
            bail!(
                "clone source {from} has no snapshot {snap:?}; converge {from} first (it takes the snapshot at the end)"
            );
        };
        let storage = spec.storage.clone().context("storage_pool is not set")?;
        // A full clone copies the source's root disk, then grows it to storage_size_gb.
        let source_size = section
            .keys
            .get("rootfs")
            .and_then(|r| r.split(',').find_map(|p| p.strip_prefix("size=")))
            .and_then(crate::spec::parse_size)
            .unwrap_or(0);
        let need = source_size.max(spec.disk_gb.unwrap_or(0).saturating_mul(crate::spec::GIB));
        storage_check(
            runner,
            &storage,
            need,
            &format!("the root disk of container {id}, a full clone of {from}"),
        )?;
        (
            section,
            vec![
                "clone".to_string(),
                from.to_string(),
                id.clone(),
                "--snapname".into(),
                snap.clone(),
                "--hostname".into(),
                spec.hostname.clone(),
                "--full".into(),
                "1".into(),
                "--storage".into(),
                storage,
            ],
        )
    };
    let kind = if linked {
        format!("linked clone of template {from}")
    } else {
        format!("full clone of {from}@{}", args[4])
    };
    changes.push(Change::new(Op::Add, "create", format!("container {id}")).to(kind));
    let mut main = section.clone();
    main.keys
        .retain(|k, _| !matches!(k.as_str(), "parent" | "snaptime" | "template" | "lock"));
    main.keys.insert("hostname".into(), spec.hostname.clone());
    if !linked {
        if let Some(target) = &spec.storage {
            storage::move_volumes(&mut main, &storages(layout), target, spec.id.get(), true);
        }
    }
    // A clone gets new MAC addresses.
    for (k, n) in main.keys.iter_mut() {
        if k.starts_with("net") {
            *n = n
                .split(',')
                .filter(|p| !p.starts_with("hwaddr="))
                .collect::<Vec<_>>()
                .join(",");
        }
    }
    Ok(Creation {
        download: None,
        args,
        changes,
        predicted: GuestConfig {
            main,
            ..GuestConfig::default()
        },
    })
}

fn src_storage(main: &Section) -> Option<String> {
    main.get("rootfs")
        .and_then(|r| r.split(':').next())
        .map(str::to_string)
}

/// Runs the creation.
pub fn apply(runner: &Runner, c: &Creation) -> anyhow::Result<()> {
    if let Some((sid, file)) = &c.download {
        runner
            .run(&pct::pveam_download(sid, file))
            .with_context(|| format!("cannot download template {file} to {sid}"))?;
    }
    runner.run(&pct::mutate(&c.args)).with_context(|| {
        format!(
            "cannot {} container",
            if c.args.first().is_some_and(|a| a == "clone") {
                "clone the"
            } else {
                "create the"
            }
        )
    })?;
    Ok(())
}
