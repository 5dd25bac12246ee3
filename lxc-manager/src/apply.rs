//! Converging one container: observe → plan → apply.
//!
//! [`prepare`] reads everything (the `.conf`, `pct status`, host facts, the installer
//! markers inside a running guest, the installer scripts on the host) and plans with the
//! pure functions of [`crate::plan`] and [`crate::create`]; it runs only read-only commands,
//! so `plan` and `--dry-run` stop there and print the [`Plan`]. [`apply`] then carries the
//! plan out one runner call per action, in the order the shell version used (create, stop
//! if needed, settings, start, snapshots, features, application script, host hook, checks,
//! snapshots), so a failure names the step and the next run resumes where this one stopped.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use phoenix_core::cmd::{FileSpec, Runner};
use phoenix_core::config::lxc::Container;
use phoenix_core::converge::apply as shared;
use phoenix_core::converge::{Change, Op, Plan, content_hash};
use phoenix_core::ids::{GuestId, GuestKind};
use phoenix_core::pve::conf::{GuestConfig, set_main_raw_lines};

use crate::create::{self, Creation};
use crate::guest::{self, Kind};
use crate::observe;
use crate::pct;
use crate::plan::{self, RuntimeState, Settings, Step, Work};
use crate::spec::{self, Spec};

/// One container and everything needed to act on it: the guest as the shared engine sees
/// it (configuration, layout, runner, ID; `ctx.cfg`, `ctx.runner`, … through `Deref`) and
/// its configuration block.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// The guest.
    pub base: phoenix_core::converge::ops::Guest<'a>,
    /// Its configuration block.
    pub c: &'a Container,
}

impl<'a> std::ops::Deref for Ctx<'a> {
    type Target = phoenix_core::converge::ops::Guest<'a>;

    fn deref(&self) -> &Self::Target {
        &self.base
    }
}

pub use phoenix_core::converge::verbs::Options;

/// The installer scripts on the host.
#[derive(Clone, Debug, Default)]
pub struct Scripts {
    /// Feature → installer.
    pub features: BTreeMap<String, PathBuf>,
    /// Application script.
    pub app: Option<PathBuf>,
    /// Host hook.
    pub hook: Option<PathBuf>,
}

/// What [`prepare`] found and decided.
pub struct Prepared {
    /// The desired container.
    pub spec: Spec,
    /// The printable plan.
    pub plan: Plan,
    /// How it comes to exist (`None`: it exists).
    pub creation: Option<Creation>,
    /// Settings to apply.
    pub settings: Settings,
    /// Whether the container is running now.
    pub running: bool,
    /// Shut it down before the settings (a change needs a restart).
    pub stop_first: bool,
    /// It is a Proxmox template (settings are only reported).
    pub template: bool,
    /// The runtime state the steps were planned from.
    pub state: RuntimeState,
    /// Runtime steps.
    pub steps: Vec<Step>,
    /// Installer hashes.
    pub work: Work,
    /// Installer scripts.
    pub scripts: Scripts,
}

/// Builds the spec (configuration errors are [`spec::SpecError`]s: exit 2).
pub fn spec_of(ctx: &Ctx<'_>) -> Result<Spec, spec::SpecError> {
    let s = spec::spec(ctx.cfg, ctx.layout, ctx.id, ctx.c)?;
    spec::check_formats(&s)?;
    Ok(s)
}

/// Finds the installer scripts and hashes them with their inputs. A missing script is an
/// error before anything runs.
pub fn work(ctx: &Ctx<'_>, spec: &Spec, force: bool) -> anyhow::Result<(Work, Scripts)> {
    let dir = ctx.layout.setup_scripts_dir();
    let mut work = Work {
        force,
        health_check: guest::has_checks(ctx.c),
        ..Work::default()
    };
    let mut scripts = Scripts::default();
    let inputs = serde_json::to_vec(&spec::feature_inputs(ctx.cfg, ctx.c))?;
    let found = phoenix_core::converge::observe::installers(
        &dir.join("lxc"),
        &spec.features,
        &inputs,
        &phoenix_core::converge::observe::HostInputs::of(ctx.layout, ctx.cfg),
        (GuestKind::Lxc, ctx.id),
    )?;
    work.features = found.hashes;
    scripts.features = found.scripts;
    let app_inputs = serde_json::to_vec(&spec::app_inputs(ctx.cfg, ctx.c))?;
    if let Some(name) = &spec.app_script {
        let path = dir.join("apps").join(name);
        let bytes = phoenix_core::files::read(&path).with_context(|| {
            format!(
                "container {}: application_script {name:?} does not exist: cannot read {}",
                ctx.id,
                path.display()
            )
        })?;
        let hash = match phoenix_core::converge::observe::installer_lib(&dir)? {
            Some(lib) => content_hash(&[&bytes, &app_inputs, &lib]),
            None => content_hash(&[&bytes, &app_inputs]),
        };
        work.app = Some((name.clone(), hash));
        scripts.app = Some(path);
    }
    if let Some(hc) = &ctx.c.health_check {
        if let guest::CheckTarget::Host(path, _) = guest::check_target(ctx.layout, &hc.command)? {
            if !phoenix_core::cmd::is_executable(&path) {
                bail!(
                    "container {}: the health_check program {} does not exist or is not executable",
                    ctx.id,
                    path.display()
                );
            }
        }
    }
    for chk in guest::legacy_checks(ctx.layout, ctx.c)? {
        if !phoenix_core::cmd::is_executable(&chk.program) {
            bail!(
                "container {}: the health check {:?} needs {}, which does not exist or is not executable",
                ctx.id,
                chk.name,
                chk.program.display()
            );
        }
    }
    if let Some(path) = guest::hook_script(ctx.layout, ctx.id) {
        let bytes = phoenix_core::files::read(&path)
            .with_context(|| format!("cannot read the host hook {}", path.display()))?;
        work.hook = Some(content_hash(&[&bytes, &app_inputs]));
        scripts.hook = Some(path);
    }
    Ok((work, scripts))
}

fn title(ctx: &Ctx<'_>) -> String {
    format!("lxc {} ({})", ctx.id, ctx.c.name)
}

/// Observes and plans. Runs read-only commands only.
pub fn prepare(ctx: &Ctx<'_>, opts: Options) -> anyhow::Result<Prepared> {
    let spec = spec_of(ctx)?;
    let observed = observe::conf(ctx.layout, ctx.id)?;
    if observed.is_none() && !opts.create {
        bail!(
            "container {} does not exist; `lxc-manager create {}` creates it",
            ctx.id,
            ctx.id
        );
    }
    let (work, scripts) = work(ctx, &spec, opts.force_features)?;
    let mut plan = Plan::new(title(ctx));
    let (conf, creation) = match observed {
        Some((c, _)) => (c, None),
        None => {
            let cr = create::plan(ctx.cfg, ctx.layout, ctx.runner, &spec)
                .with_context(|| format!("container {}: cannot plan its creation", ctx.id))?;
            plan.changes.extend(cr.changes.iter().cloned());
            (cr.predicted.clone(), Some(cr))
        }
    };
    let exists = creation.is_none();
    let running = exists && observe::running(ctx.runner, ctx.id)?;
    let effective = conf.effective();
    let template = effective.is_template();
    let facts = observe::host_facts(ctx.layout, &spec);
    let mut settings = plan::settings(&spec, &effective, &facts)
        .map_err(|e| anyhow::anyhow!("container {}: {e}", ctx.id))?;
    if exists && !template {
        phoenix_core::converge::observe::storage_room(
            ctx.runner,
            &plan::growth(&effective, &settings, ctx.id),
        )
        .map_err(|e| anyhow::anyhow!("container {}: {e}", ctx.id))?;
    }
    if template && !settings.is_empty() {
        for c in std::mem::take(&mut settings.changes) {
            if c.op != Op::Note {
                plan.push(Change::new(
                    Op::Note,
                    c.group,
                    format!("{c} (left: the container is a Proxmox template)"),
                ));
            }
        }
        settings = Settings::default();
    }
    // Pending values of a running container wait for a restart.
    let pending: Vec<String> = conf
        .pending
        .keys
        .keys()
        .filter(|k| *k != "delete")
        .cloned()
        .chain(conf.pending_deletes())
        .collect();
    let restart_pending = running && !template && !pending.is_empty();
    let stop_first = running && ((settings.cold && !settings.is_empty()) || restart_pending);
    if stop_first {
        let why = if restart_pending && settings.is_empty() {
            format!("pending changes ({}) need a restart", pending.join(", "))
        } else {
            "a change needs the container stopped".to_string()
        };
        plan.push(Change::new(
            Op::Run,
            "runtime",
            format!("shut down ({why}); started again afterwards"),
        ));
    }
    plan.changes.extend(settings.changes.iter().cloned());
    let has_binds = !spec.binds.is_empty()
        || effective
            .keys
            .iter()
            .any(|(k, v)| k.starts_with("mp") && v.starts_with('/'));
    // Like Proxmox, no snapshot when a volume's storage cannot take one (a raw image on a
    // `dir` storage): said in the plan, never a failure at the snapshot step.
    let unsnappable = phoenix_core::pve::storage::snapshot_blocker(
        &crate::create::storages(ctx.layout),
        &effective,
    );
    let mut state = RuntimeState {
        template,
        running: running && !stop_first,
        snapshots: conf.snapshots.keys().cloned().collect(),
        no_snapshots: has_binds
            .then(|| "the container has bind mounts".to_string())
            .or(unsnappable),
        markers: None,
        app_marker: None,
        hook_marker: observe::hook_marker(ctx.layout, ctx.id),
        settings_changed: creation.is_some() || !settings.is_empty(),
        leftovers: phoenix_core::converge::leftovers::read(ctx.layout, GuestKind::Lxc, ctx.id),
    };
    if state.running && !template {
        let (m, app) = observe::markers(
            ctx.runner,
            ctx.id,
            &spec.features,
            spec.app_script.as_deref(),
        )?;
        state.markers = Some(m);
        state.app_marker = app;
    }
    let (steps, changes) = plan::runtime(&spec, &state, &work)
        .map_err(|e| anyhow::anyhow!("container {}: {e}", ctx.id))?;
    plan.changes.extend(changes);
    Ok(Prepared {
        spec,
        plan,
        creation,
        settings,
        running,
        stop_first,
        template,
        state,
        steps,
        work,
        scripts,
    })
}

/// Shuts the container down cleanly, stopping it hard when that fails.
pub fn shutdown(runner: &Runner, id: GuestId) -> anyhow::Result<()> {
    shared::shutdown(runner, GuestKind::Lxc, id)
}

/// Starts the container and waits until it answers.
pub fn start(runner: &Runner, id: GuestId) -> anyhow::Result<()> {
    runner
        .run(&pct::PCT.start(id))
        .with_context(|| format!("cannot start container {id}"))?;
    guest::wait_ready(runner, id)
}

/// Applies the settings.
fn apply_settings(ctx: &Ctx<'_>, s: &Settings) -> anyhow::Result<()> {
    let (runner, layout, id) = (ctx.runner, ctx.layout, ctx.id);
    for d in &s.dirs {
        let path = layout.host(&d.path);
        if d.create {
            runner
                .ensure_dir(&path, 0o755)
                .with_context(|| format!("cannot create the bind-mount source {}", d.path))?;
        }
        if let Some((uid, gid)) = d.owner {
            runner
                .set_owner(&path, uid, gid)
                .with_context(|| format!("cannot set the owner of {}", d.path))?;
        }
    }
    for sub in &s.subids {
        let path = layout.host(format!("/etc/{}", sub.file));
        let mut text = phoenix_core::files::read_to_string(&path).unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&sub.line);
        text.push('\n');
        runner
            .write_file(&path, text.as_bytes(), FileSpec::mode(0o644))
            .with_context(|| format!("cannot add {} to /etc/{}", sub.line, sub.file))?;
    }
    if let Some(a) = &s.apparmor {
        let profile = phoenix_core::files::read(&a.source)
            .with_context(|| format!("cannot read the AppArmor profile {}", a.source.display()))?;
        let dest = format!("/etc/apparmor.d/{}", a.name);
        runner.ensure_dir(&layout.host("/etc/apparmor.d"), 0o755)?;
        // The tunables the shipped profiles include (`setup --step apparmor` installs them
        // too; a container may be created before setup ran).
        let tunables = a.source.with_file_name("tunables");
        for t in std::fs::read_dir(&tunables).into_iter().flatten().flatten() {
            if t.file_type().is_ok_and(|f| f.is_file()) {
                let text = phoenix_core::files::read(t.path())
                    .with_context(|| format!("cannot read {}", t.path().display()))?;
                let to = layout.host("/etc/apparmor.d/tunables").join(t.file_name());
                runner.ensure_dir(&layout.host("/etc/apparmor.d/tunables"), 0o755)?;
                runner.write_file(&to, &text, FileSpec::mode(0o644))?;
            }
        }
        runner.write_file(&layout.host(&dest), &profile, FileSpec::mode(0o644))?;
        runner
            .run(
                &phoenix_core::cmd::Cmd::mutate("apparmor_parser")
                    .arg("-r")
                    .arg(layout.host(&dest)),
            )
            .with_context(|| format!("cannot load the AppArmor profile {}", a.name))?;
    }
    if !s.set.is_empty() || !s.delete.is_empty() {
        runner
            .run(&pct::PCT.set(id, &s.set, &s.delete))
            .with_context(|| format!("cannot change the settings of container {id}"))?;
    }
    for (disk, gb) in &s.resize {
        runner
            .run(&pct::PCT.resize(id, disk, *gb))
            .with_context(|| format!("cannot grow {disk} of container {id} to {gb}G"))?;
        phoenix_core::converge::observe::confirm(
            runner,
            layout,
            (GuestKind::Lxc, id),
            &format!("growing {disk} to {gb}G"),
            |m| {
                m.get(disk)
                    .and_then(|v| v.split(',').find_map(|p| p.strip_prefix("size=")))
                    .and_then(crate::spec::parse_size)
                    .is_some_and(|b| b >= gb * crate::spec::GIB)
            },
        )?;
    }
    if let Some(lines) = &s.raw {
        let path = layout.pve_lxc_conf(id.get());
        let text = phoenix_core::files::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let new = set_main_raw_lines(&text, lines);
        runner
            .write_file(&path, new.as_bytes(), FileSpec::mode(0o640))
            .with_context(|| format!("cannot write the raw lxc lines of container {id}"))?;
    }
    if let Some(fw) = &s.firewall {
        shared::write_firewall(runner, layout, GuestKind::Lxc, id, fw)?;
    }
    Ok(())
}

/// Runs one installer found by [`work`].
fn install(
    ctx: &Ctx<'_>,
    kind: Kind,
    name: &str,
    script: Option<&PathBuf>,
    hash: &str,
) -> anyhow::Result<()> {
    match kind {
        Kind::Feature => println!("feature {name}"),
        Kind::App => println!("application script {name}"),
    }
    let script = script.with_context(|| format!("the installer of {name} was not found"))?;
    let inst = guest::Installer {
        kind,
        name,
        script,
        hash,
    };
    guest::run_installer(ctx.runner, ctx.layout, ctx.cfg, (ctx.id, ctx.c), inst)
}

/// Runs one runtime step.
fn run_step(ctx: &Ctx<'_>, p: &Prepared, step: &Step) -> anyhow::Result<()> {
    let (runner, id) = (ctx.runner, ctx.id);
    match step {
        Step::Start => start(runner, id),
        Step::Cleanup(paths) => guest::remove_leftovers(runner, ctx.layout, id, paths),
        Step::Snapshot(n) => shared::snapshot(runner, GuestKind::Lxc, id, n),
        Step::DelSnapshot(n) => shared::delsnapshot(runner, GuestKind::Lxc, id, n),
        Step::Feature(f, h) => install(ctx, Kind::Feature, f, p.scripts.features.get(f), h),
        Step::App(name, h) => install(ctx, Kind::App, name, p.scripts.app.as_ref(), h),
        Step::Hook(h) => {
            let script = p.scripts.hook.as_ref().context("host hook vanished")?;
            println!("host hook {}", script.display());
            guest::run_hook(runner, ctx.layout, ctx.cfg, id, script, h)
        }
        Step::HealthCheck => guest::run_checks(runner, ctx.layout, id, ctx.c),
        Step::Template => {
            println!("convert to a Proxmox template");
            if observe::running(runner, id)? {
                shutdown(runner, id)?;
            }
            runner
                .run(&pct::PCT.template(id))
                .with_context(|| format!("cannot convert container {id} to a template"))?;
            phoenix_core::converge::observe::confirm(
                runner,
                ctx.layout,
                (GuestKind::Lxc, id),
                "the template conversion",
                |m| m.get("template") == Some("1"),
            )
        }
    }
}

/// Carries out a prepared plan. Until it completes, the guest carries the incomplete
/// marker, so `phoenix create` of a dependent converges it again instead of taking it as
/// done.
pub fn apply(ctx: &Ctx<'_>, p: Prepared) -> anyhow::Result<()> {
    shared::with_incomplete_marker(ctx.runner, ctx.layout, GuestKind::Lxc, ctx.id, || {
        apply_steps(ctx, p)
    })
}

fn apply_steps(ctx: &Ctx<'_>, mut p: Prepared) -> anyhow::Result<()> {
    let id = ctx.id;
    if let Some(cr) = &p.creation {
        if let Some(c) = cr.changes.iter().find(|c| c.op == Op::Note) {
            tracing::info!("container {id}: {}", c.what);
        }
        // Proxmox locks a clone's source for the whole copy: hold it the same way.
        let source = match cr.clone_source() {
            Some(from) if !ctx.runner.is_dry_run() => {
                let mode = phoenix_core::pve::locks::clone_source(GuestKind::Lxc, true);
                Some(phoenix_core::pve::locks::hold_clone_source(
                    ctx.layout,
                    GuestKind::Lxc,
                    from,
                    id,
                    mode,
                )?)
            }
            _ => None,
        };
        create::apply(ctx.runner, cr).with_context(|| format!("container {id}: create"))?;
        drop(source);
        // Plan the settings again on what Proxmox really made.
        let (conf, _) = observe::conf(ctx.layout, id)?.with_context(|| {
            format!(
                "container {id} was created but its config file {} is missing",
                ctx.layout.pve_lxc_conf(id.get()).display()
            )
        })?;
        let facts = observe::host_facts(ctx.layout, &p.spec);
        p.settings = plan::settings(&p.spec, &conf.effective(), &facts)
            .map_err(|e| anyhow::anyhow!("container {id}: {e}"))?;
    }
    if p.stop_first {
        shutdown(ctx.runner, id)
            .with_context(|| format!("container {id}: stop before applying settings"))?;
    }
    if !p.settings.is_empty() {
        apply_settings(ctx, &p.settings).with_context(|| format!("container {id}: settings"))?;
    }
    if p.running && !p.stop_first && !p.template {
        // Values Proxmox could not apply to the running container wait in [pve:pending].
        if let Some((conf, _)) = observe::conf(ctx.layout, id)? {
            let pending: Vec<&String> = conf
                .pending
                .keys
                .keys()
                .filter(|k| *k != "delete")
                .collect();
            if !pending.is_empty() || !conf.pending_deletes().is_empty() {
                tracing::info!("container {id}: restarting to apply pending changes");
                ctx.runner
                    .run(&pct::PCT.reboot(id))
                    .with_context(|| format!("container {id}: reboot to apply pending changes"))?;
                guest::wait_ready(ctx.runner, id)?;
            }
        }
    }
    let mut steps = std::mem::take(&mut p.steps);
    if steps.first() == Some(&Step::Start) {
        start(ctx.runner, id).with_context(|| format!("container {id}: start"))?;
        // Now the recorded installers can be read: plan the rest again.
        let (m, app) = observe::markers(
            ctx.runner,
            id,
            &p.spec.features,
            p.spec.app_script.as_deref(),
        )?;
        p.state.running = true;
        p.state.markers = Some(m);
        p.state.app_marker = app;
        p.state.settings_changed = true;
        steps = plan::runtime(&p.spec, &p.state, &p.work)
            .map_err(|e| anyhow::anyhow!("container {id}: {e}"))?
            .0;
    }
    for step in &steps {
        run_step(ctx, &p, step).with_context(|| format!("container {id}: {}", step.name()))?;
    }
    Ok(())
}

/// The container's config file, parsed, or an error saying it does not exist.
pub fn existing(ctx: &Ctx<'_>) -> anyhow::Result<Option<GuestConfig>> {
    Ok(observe::conf(ctx.layout, ctx.id)?.map(|(c, _)| c))
}
