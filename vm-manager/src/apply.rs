//! Converging one VM: observe → plan → apply.
//!
//! [`prepare`] reads everything (the `.conf`, `qm status`, the storage configuration, the
//! firewall file, the cloud-init snippet, the feature markers inside a running VM, the
//! installer scripts) and plans with the pure functions of [`crate::plan`],
//! [`crate::create`] and the shared runtime planner; it runs only read-only commands, so
//! `plan` and `--dry-run` stop there. [`apply`] then carries the plan out: snippet, create,
//! settings, reboot when a change needs one, start, snapshots, features, snapshots or the
//! template conversion.

use anyhow::{Context, bail};
use phoenix_core::cmd::{FileSpec, Runner};
use phoenix_core::config::vm::Vm;
use phoenix_core::converge::apply as shared;
use phoenix_core::converge::observe::{self as seen, Installers};
use phoenix_core::converge::runtime::{self, RuntimeSpec, RuntimeState, Step, Work};
use phoenix_core::converge::{Change, Op, Plan, SpecError};
use phoenix_core::ids::{GuestId, GuestKind};
use phoenix_core::paths::Layout;
use phoenix_core::pve::conf::GuestConfig;
use phoenix_core::pve::storage::{self, Storage};

use crate::cloudinit;
use crate::create::{self, Creation, SnippetStore};
use crate::guest;
use crate::plan::{self, Observed, Settings, Snippet};
use crate::qm::{self, QM};
use crate::spec::{self, VmSpec};

const KIND: GuestKind = GuestKind::Vm;

/// Keys Proxmox applies to a running VM at once; any other change waits for a restart.
const HOT_KEYS: &[&str] = &[
    "name",
    "onboot",
    "startup",
    "description",
    "net0",
    "ciuser",
    "cicustom",
    "ipconfig0",
    "nameserver",
    "searchdomain",
];

/// One VM and everything needed to act on it: the guest as the shared engine sees
/// it (configuration, layout, runner, ID; `ctx.cfg`, `ctx.runner`, … through `Deref`) and
/// its configuration block.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// The guest.
    pub base: phoenix_core::converge::ops::Guest<'a>,
    /// Its configuration block.
    pub vm: &'a Vm,
}

impl<'a> std::ops::Deref for Ctx<'a> {
    type Target = phoenix_core::converge::ops::Guest<'a>;

    fn deref(&self) -> &Self::Target {
        &self.base
    }
}

pub use phoenix_core::converge::verbs::Options;

/// What [`prepare`] found and decided.
pub struct Prepared {
    /// The desired VM.
    pub spec: VmSpec,
    /// The printable plan.
    pub plan: Plan,
    /// Where its snippet goes.
    pub snippet: SnippetStore,
    /// The rendered user-data.
    pub user_data: String,
    /// How it comes to exist (`None`: it exists).
    pub creation: Option<Creation>,
    /// Settings to apply.
    pub settings: Settings,
    /// It runs now.
    pub running: bool,
    /// A running VM is rebooted after the settings.
    pub reboot: bool,
    /// It is a Proxmox template (settings are only reported).
    pub template: bool,
    /// Runtime state the steps were planned from.
    pub state: RuntimeState,
    /// Runtime steps.
    pub steps: Vec<Step>,
    /// Installer hashes.
    pub work: Work,
    /// Installer scripts.
    pub installers: Installers,
    /// The VM has no system disk: import it again from this cloud image first.
    pub import: Option<std::path::PathBuf>,
    /// The VM exists but its creation never completed and it cannot be repaired in place (a
    /// template or clone without a system disk): destroy it, then create it again.
    pub rebuild: bool,
}

/// The spec (configuration errors are [`SpecError`]s: exit 2).
pub fn spec_of(ctx: &Ctx<'_>) -> Result<VmSpec, SpecError> {
    spec::spec(ctx.cfg, ctx.id)
}

/// The runtime view of the spec.
pub fn runtime_spec(s: &VmSpec) -> RuntimeSpec {
    RuntimeSpec {
        noun: "VM",
        id: s.id.get(),
        is_template: s.is_template,
        pre: s.pre_snapshot.clone(),
        post: s.post_snapshots.clone(),
    }
}

/// The storage configuration.
pub fn storages(layout: &Layout) -> anyhow::Result<Vec<Storage>> {
    let p = layout.host("/etc/pve/storage.cfg");
    let text = phoenix_core::files::read_to_string(&p)
        .with_context(|| format!("cannot read {}", p.display()))?;
    Ok(storage::parse(&text))
}

/// What feature installers read (part of their hash).
pub fn inputs(ctx: &Ctx<'_>) -> serde_json::Value {
    spec::feature_inputs(ctx.cfg, ctx.vm)
}

fn title(ctx: &Ctx<'_>) -> String {
    format!("vm {} ({})", ctx.id, ctx.vm.name)
}

/// The host facts the settings are compared with.
pub fn observed(layout: &Layout, id: GuestId, snippet: &SnippetStore) -> Observed {
    Observed {
        firewall: phoenix_core::files::read_to_string(layout.pve_firewall(id.get())).ok(),
        snippet: phoenix_core::files::read_to_string(&snippet.file).ok(),
    }
}

/// Observes and plans. Runs read-only commands only.
pub fn prepare(ctx: &Ctx<'_>, opts: Options) -> anyhow::Result<Prepared> {
    let id = ctx.id;
    let spec = spec_of(ctx)?;
    let observed_conf = seen::conf(ctx.layout, KIND, id)?;
    if observed_conf.is_none() && !opts.create {
        bail!("VM {id} does not exist; `vm-manager create {id}` creates it");
    }
    let storages = storages(ctx.layout)?;
    let snippet = create::snippet_store(ctx.layout, &storages, id)
        .map_err(|e| anyhow::anyhow!("VM {id}: {e}"))?;
    let (template, _) = cloudinit::template(&ctx.cfg.location.dir, &ctx.layout.etc_dir())?;
    let user_data = cloudinit::user_data(&template, &spec)
        .with_context(|| format!("VM {id}: cannot render the cloud-init user-data"))?;
    let found = seen::installers(
        &ctx.layout.setup_scripts_dir().join("vm"),
        &spec.features,
        &serde_json::to_vec(&inputs(ctx))?,
        &seen::HostInputs::of(ctx.layout, ctx.cfg),
        (KIND, id),
    )?;
    let work = Work {
        features: found.hashes.clone(),
        force: opts.force_features,
        ..Work::default()
    };
    let mut plan = Plan::new(title(ctx));
    if let Some(list) = &snippet.enable {
        plan.push(
            Change::new(
                Op::Change,
                "storage",
                format!("{} content", snippet.storage),
            )
            .to(format!("{list} (cloud-init snippets)")),
        );
    }
    // A VM without its system disk (a run killed after `qm create`, a failed `qm disk
    // import`) is repaired before anything uses or clones it: imported again when it is
    // built from an image, else destroyed and made again when the incomplete marker says
    // its creation never completed.
    let mut import = None;
    let mut rebuild = false;
    let observed_conf = match observed_conf {
        Some((c, text)) if c.effective().get("scsi0").is_none() => {
            let incomplete =
                phoenix_core::converge::incomplete_marker(ctx.layout, KIND, id).exists();
            match (&spec.source, c.effective().is_template()) {
                (spec::Source::Image(name), false) => {
                    let image = create::find_image(ctx.layout, &storages, name)
                        .map_err(|e| anyhow::anyhow!("VM {id}: {e}"))?;
                    plan.push(
                        Change::new(Op::Add, "disk", "scsi0")
                            .to(format!("imported from {name} (the VM has no system disk)")),
                    );
                    import = Some(image);
                    Some((c, text))
                }
                _ if incomplete => {
                    plan.push(Change::new(
                        Op::Remove,
                        "create",
                        format!(
                            "VM {id}: its creation never completed and it has no system disk; destroyed and made again"
                        ),
                    ));
                    rebuild = true;
                    None
                }
                _ => bail!(
                    "VM {id} has no system disk (scsi0) and cannot be repaired in place; delete it (`phoenix delete {id}`) and create it again"
                ),
            }
        }
        other => other,
    };
    let (conf, creation) = match observed_conf {
        Some((c, _)) => (c, None),
        None => {
            let cr = plan_creation(ctx, &spec, &snippet, &storages)?;
            plan.changes.extend(cr.changes.iter().cloned());
            (cr.predicted.clone(), Some(cr))
        }
    };
    let exists = creation.is_none();
    let running = exists && seen::running(ctx.runner, KIND, id)?;
    let effective = conf.effective();
    let template = effective.is_template();
    let obs = observed(ctx.layout, id, &snippet);
    let snip = Snippet {
        cicustom: snippet.cicustom.clone(),
        text: user_data.clone(),
    };
    let mut settings = plan::settings(&spec, &effective, &obs, &snip);
    if let (Some(gb), true, false) = (settings.grow, exists, template) {
        // Growing scsi0 takes the difference from its storage.
        let disk = effective.prop("scsi0", Some("file"));
        let storage = disk
            .as_ref()
            .and_then(|p| p.get("file"))
            .and_then(|f| f.split_once(':'))
            .map(|(s, _)| s.to_string());
        let have = disk
            .as_ref()
            .and_then(|p| p.get("size").and_then(plan::size_gib))
            .unwrap_or(0);
        if let Some(storage) = storage {
            phoenix_core::converge::observe::storage_room(
                ctx.runner,
                &[(
                    storage,
                    gb.saturating_sub(have).saturating_mul(1 << 30),
                    format!("growing scsi0 of VM {id} to {gb} GiB"),
                )],
            )
            .map_err(|e| anyhow::anyhow!("VM {id}: {e}"))?;
        }
    }
    if template && !settings.is_empty() {
        for c in std::mem::take(&mut settings.changes) {
            if c.op != Op::Note {
                plan.push(Change::new(
                    Op::Note,
                    c.group,
                    format!("{c} (left: the VM is a Proxmox template)"),
                ));
            }
        }
        settings = Settings::default();
    }
    plan.changes.extend(settings.changes.iter().cloned());
    let pending = !conf.pending.keys.is_empty();
    let cold = settings
        .set
        .iter()
        .any(|(k, _)| !HOT_KEYS.contains(&k.as_str()));
    let reboot = running && !template && (settings.cloud_init || cold || pending);
    if reboot {
        plan.push(Change::new(
            Op::Run,
            "runtime",
            "reboot (the changes take effect at boot)",
        ));
    }
    // Like Proxmox, no snapshot when a disk's storage cannot take one (a raw image on a
    // `dir` storage): said in the plan, never a failure at the snapshot step.
    let unsnappable = phoenix_core::pve::storage::snapshot_blocker(&storages, &effective);
    let mut state = RuntimeState {
        template,
        running,
        no_snapshots: unsnappable,
        snapshots: conf.snapshots.keys().cloned().collect(),
        settings_changed: creation.is_some() || !settings.is_empty(),
        leftovers: phoenix_core::converge::leftovers::read(ctx.layout, KIND, id),
        ..RuntimeState::default()
    };
    if state.running && !template && !spec.features.is_empty() {
        guest::wait_ready(ctx.runner, &spec)?;
        state.markers = Some(guest::markers(ctx.runner, id, &spec.features)?);
    } else if state.running {
        state.markers = Some(Default::default());
    }
    let (steps, changes) =
        runtime::plan(&runtime_spec(&spec), &state, &work).map_err(|e| anyhow::anyhow!("{e}"))?;
    plan.changes.extend(changes);
    Ok(Prepared {
        spec,
        plan,
        snippet,
        user_data,
        creation,
        settings,
        running,
        reboot,
        template,
        state,
        steps,
        work,
        installers: found,
        import,
        rebuild,
    })
}

fn plan_creation(
    ctx: &Ctx<'_>,
    spec: &VmSpec,
    snippet: &SnippetStore,
    storages: &[Storage],
) -> anyhow::Result<Creation> {
    let id = ctx.id;
    let (image, source, source_spec) = match &spec.source {
        spec::Source::Image(name) => (
            Some(
                create::find_image(ctx.layout, storages, name)
                    .map_err(|e| anyhow::anyhow!("VM {id}: {e}"))?,
            ),
            None,
            None,
        ),
        spec::Source::Clone { from, .. } => {
            let src = seen::conf(ctx.layout, KIND, *from)?.map(|(c, _)| c);
            if src
                .as_ref()
                .is_some_and(|c| c.effective().get("scsi0").is_none())
            {
                bail!(
                    "VM {id} is cloned from VM {from}, which has no system disk (scsi0); converge {from} first (it repairs or rebuilds it)"
                );
            }
            if src.is_none() && !ctx.runner.is_dry_run() {
                bail!(
                    "VM {id} is cloned from VM {from}, which does not exist; create it first (`phoenix create {id}` creates both in order)"
                );
            }
            let s = spec::spec(ctx.cfg, *from).ok();
            (None, src, s)
        }
    };
    let creation = create::plan(
        spec,
        snippet,
        image,
        storages,
        source.as_ref(),
        source_spec.as_ref(),
    )
    .map_err(|e| anyhow::anyhow!("VM {id}: {e}"))?;
    if let Some(need) = creation.needs {
        let out = ctx
            .runner
            .run(&phoenix_core::pve::pvesm::status_cmd())
            .context("cannot list the storages")?;
        let list = phoenix_core::pve::pvesm::parse_status(&out.stdout_str())
            .context("cannot list the storages")?;
        phoenix_core::pve::pvesm::check_room(
            &list,
            &spec.storage,
            need,
            &format!("the disk of VM {id}"),
        )
        .map_err(|e| anyhow::anyhow!("VM {id}: {e}"))?;
    }
    Ok(creation)
}

/// Starts the VM and waits until it is ready (agent, cloud-init).
pub fn start(runner: &Runner, spec: &VmSpec) -> anyhow::Result<()> {
    runner
        .run(&QM.start(spec.id))
        .with_context(|| format!("cannot start VM {}", spec.id))?;
    guest::wait_ready(runner, spec)
}

fn write_snippet(ctx: &Ctx<'_>, p: &Prepared) -> anyhow::Result<()> {
    let r = ctx.runner;
    if let Some(list) = &p.snippet.enable {
        r.run(&qm::pvesm_content(&p.snippet.storage, list))
            .with_context(|| format!("cannot enable snippets on storage {}", p.snippet.storage))?;
    }
    if let Some(dir) = p.snippet.file.parent() {
        r.ensure_dir(dir, 0o755)?;
    }
    r.write_file(
        &p.snippet.file,
        p.user_data.as_bytes(),
        FileSpec::mode(0o600),
    )
    .with_context(|| {
        format!(
            "cannot write the cloud-init snippet {}",
            p.snippet.file.display()
        )
    })?;
    Ok(())
}

fn apply_settings(ctx: &Ctx<'_>, s: &Settings) -> anyhow::Result<()> {
    let (r, id) = (ctx.runner, ctx.id);
    if !s.set.is_empty() {
        r.run(&QM.set(id, &s.set, &[]))
            .with_context(|| format!("cannot change the settings of VM {id}"))?;
    }
    if let Some(gb) = s.grow {
        r.run(&QM.resize(id, "scsi0", gb))
            .with_context(|| format!("cannot grow scsi0 of VM {id} to {gb}G"))?;
        seen::confirm(
            r,
            ctx.layout,
            (KIND, id),
            &format!("growing scsi0 to {gb}G"),
            |m| {
                m.prop("scsi0", Some("file"))
                    .and_then(|p| p.get("size").and_then(plan::size_gib))
                    .is_some_and(|have| have >= gb)
            },
        )?;
    }
    if let Some(fw) = &s.firewall {
        shared::write_firewall(r, ctx.layout, KIND, id, fw)?;
    }
    Ok(())
}

fn run_step(ctx: &Ctx<'_>, p: &Prepared, step: &Step) -> anyhow::Result<()> {
    let (r, id) = (ctx.runner, ctx.id);
    match step {
        Step::Start => start(r, &p.spec),
        Step::Cleanup(paths) => guest::remove_leftovers(r, ctx.layout, id, paths),
        Step::Snapshot(n) => shared::snapshot(r, KIND, id, n),
        Step::DelSnapshot(n) => shared::delsnapshot(r, KIND, id, n),
        Step::Feature(f, h) => {
            let script = p
                .installers
                .scripts
                .get(f)
                .with_context(|| format!("the installer of {f} was not found"))?;
            let inputs = serde_json::json!({
                "vmid": id.get(),
                "name": f,
                "vm": ctx.vm,
                "globals": { "domain_name": ctx.cfg.host.domain_name },
            });
            guest::run_feature(r, ctx.layout, id, (f, script), &inputs, h)
        }
        Step::App(..) | Step::Hook(_) | Step::HealthCheck => Ok(()),
        Step::Template => {
            println!("convert to a Proxmox template");
            if seen::running(r, KIND, id)? {
                // A run killed while the template was built leaves it running, maybe still
                // booting: the agent and cloud-init must be ready before sealing.
                guest::wait_ready(r, &p.spec)?;
                guest::seal(r, id)?;
                shared::shutdown(r, KIND, id)?;
            }
            r.run(&QM.template(id))
                .map(drop)
                .with_context(|| format!("cannot convert VM {id} to a template"))
        }
    }
}

/// Carries out a prepared plan, with the incomplete marker in place until it completes.
pub fn apply(ctx: &Ctx<'_>, p: Prepared) -> anyhow::Result<()> {
    shared::with_incomplete_marker(ctx.runner, ctx.layout, KIND, ctx.id, || apply_steps(ctx, p))
}

fn apply_steps(ctx: &Ctx<'_>, mut p: Prepared) -> anyhow::Result<()> {
    let (r, id) = (ctx.runner, ctx.id);
    if p.creation.is_some() || p.settings.snippet.is_some() {
        write_snippet(ctx, &p).with_context(|| format!("VM {id}: cloud-init snippet"))?;
    }
    if p.rebuild {
        if seen::running(r, KIND, id)? {
            shared::shutdown(r, KIND, id)?;
        }
        println!("destroy VM {id} (its creation never completed)");
        r.run(&QM.destroy(id, false))
            .with_context(|| format!("VM {id}: cannot destroy the incomplete VM"))?;
    }
    if let Some(image) = &p.import {
        r.run(&qm::disk_import(id, image, &p.spec.storage, "scsi0"))
            .with_context(|| format!("VM {id}: cannot import its system disk"))?;
        // Plan the settings again on the disk Proxmox made (boot order, size).
        let (conf, _) = seen::conf(ctx.layout, KIND, id)?
            .with_context(|| format!("VM {id}: its config file vanished"))?;
        let obs = observed(ctx.layout, id, &p.snippet);
        let snip = Snippet {
            cicustom: p.snippet.cicustom.clone(),
            text: p.user_data.clone(),
        };
        p.settings = plan::settings(&p.spec, &conf.effective(), &obs, &snip);
    }
    if let Some(cr) = &p.creation {
        // Proxmox locks a clone's source for the whole copy: hold it the same way.
        let source = match cr.clone_source {
            Some((from, mode)) if !r.is_dry_run() => Some(
                phoenix_core::pve::locks::hold_clone_source(ctx.layout, KIND, from, id, mode)?,
            ),
            _ => None,
        };
        for c in &cr.cmds {
            r.run(c).with_context(|| format!("VM {id}: create"))?;
        }
        drop(source);
        // Plan the settings again on what Proxmox really made.
        let (conf, _) = seen::conf(ctx.layout, KIND, id)?.with_context(|| {
            format!(
                "VM {id} was created but its config file {} is missing",
                ctx.layout.pve_qemu_conf(id.get()).display()
            )
        })?;
        let obs = observed(ctx.layout, id, &p.snippet);
        let snip = Snippet {
            cicustom: p.snippet.cicustom.clone(),
            text: p.user_data.clone(),
        };
        p.settings = plan::settings(&p.spec, &conf.effective(), &obs, &snip);
    }
    if !p.settings.is_empty() {
        apply_settings(ctx, &p.settings).with_context(|| format!("VM {id}: settings"))?;
    }
    if p.reboot {
        println!("reboot VM {id} (the changes take effect at boot)");
        r.run(&QM.reboot(id))
            .with_context(|| format!("VM {id}: reboot to apply the changes"))?;
        guest::wait_ready(r, &p.spec)?;
    }
    let mut steps = std::mem::take(&mut p.steps);
    if steps.first() == Some(&Step::Start) || p.reboot {
        if steps.first() == Some(&Step::Start) {
            start(r, &p.spec).with_context(|| format!("VM {id}: start"))?;
        }
        // Now the recorded installers can be read: plan the rest again.
        p.state.running = true;
        p.state.markers = Some(if r.is_dry_run() || p.spec.is_template {
            Default::default()
        } else {
            guest::markers(r, id, &p.spec.features)?
        });
        p.state.settings_changed = true;
        steps = runtime::plan(&runtime_spec(&p.spec), &p.state, &p.work)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .0;
    }
    for step in &steps {
        run_step(ctx, &p, step).with_context(|| format!("VM {id}: {}", step.name()))?;
    }
    Ok(())
}

/// The VM's config file, parsed (`None` when it does not exist).
pub fn existing(ctx: &Ctx<'_>) -> anyhow::Result<Option<GuestConfig>> {
    Ok(seen::conf(ctx.layout, KIND, ctx.id)?.map(|(c, _)| c))
}
