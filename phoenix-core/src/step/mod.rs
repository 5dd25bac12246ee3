//! The step framework every binary that changes the host uses: a step observes (read-only
//! commands and files), plans a list of actions with plan lines (pure), and applies them
//! through the one runner; a converged host plans nothing. `hypervisor-manager setup` runs
//! its steps with it, and `portainer-manager sync` the host steps it shares with setup (the
//! CA's trust and DNS records in [`dns`], `cluster.fw` in [`firewall`]) and its own stages.
//!
//! Most steps plan [`HostAction`]s — write a file (validated first where a daemon reads it),
//! make a directory, link, run a command — and share [`apply_actions`]; the zfs and storage
//! steps keep their own action types. [`report`] is how each ended; [`files`] plans managed
//! files and reads secrets.

pub mod dns;
pub mod files;
pub mod firewall;
pub mod report;

use std::path::{Path, PathBuf};

use crate::cmd::{Cmd, FileSpec, Runner};
use crate::config::Config;
use crate::converge::{Change, Op, Plan};
use crate::host::accounts;
use crate::paths::Layout;
use anyhow::Context;

use report::Outcome;

/// What every step needs.
pub struct Ctx<'a> {
    /// The configuration.
    pub cfg: &'a Config,
    /// Install and host paths.
    pub layout: &'a Layout,
    /// The one door to the outside.
    pub runner: &'a Runner,
    /// Where phoenix's binaries are (the directory of this executable): the global
    /// `phoenix` link and the systemd units point here.
    pub bin_dir: PathBuf,
    /// Host directories this run created (dataset mount points, `Dir` actions). A step
    /// changes the owner or mode of an existing directory only when it is one of these:
    /// anything else is the operator's, and a mismatch is shown, not changed.
    pub created: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

impl<'a> Ctx<'a> {
    /// The context of a run: phoenix's binaries are beside this executable (the layout's
    /// `bin` directory when that cannot be told).
    pub fn new(cfg: &'a Config, layout: &'a Layout, runner: &'a Runner) -> Self {
        let bin_dir = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| layout.bin_dir());
        Ctx {
            cfg,
            layout,
            runner,
            bin_dir,
            created: Default::default(),
        }
    }
}

impl Ctx<'_> {
    /// Records a host directory this run created.
    pub fn record_created(&self, path: &str) {
        self.created.borrow_mut().insert(path.to_string());
    }

    /// Whether this run created the host directory `path`.
    pub fn created_this_run(&self, path: &str) -> bool {
        self.created.borrow().contains(path)
    }
}

impl Ctx<'_> {
    /// A host file's text, `None` when it does not exist.
    pub fn read(&self, host_path: &str) -> anyhow::Result<Option<String>> {
        let p = self.layout.host(host_path);
        Ok(crate::files::read_to_string_opt(&p)?)
    }
}

/// What a step plans: the lines to show, the actions, and whether the host needs a reboot
/// once they are applied (or already does: a driver installed by an earlier run).
#[derive(Debug)]
pub struct StepPlan<A> {
    /// Plan lines, in the order of the actions.
    pub changes: Vec<Change>,
    /// What to do.
    pub actions: Vec<A>,
    /// Why a reboot is needed, if it is.
    pub reboot: Option<String>,
}

impl<A> Default for StepPlan<A> {
    fn default() -> Self {
        Self {
            changes: Vec::new(),
            actions: Vec::new(),
            reboot: None,
        }
    }
}

impl<A> From<(Vec<Change>, Vec<A>)> for StepPlan<A> {
    fn from((changes, actions): (Vec<Change>, Vec<A>)) -> Self {
        Self {
            changes,
            actions,
            reboot: None,
        }
    }
}

impl<A> StepPlan<A> {
    /// Adds an action with its plan line.
    pub fn push(&mut self, change: Change, action: A) {
        self.changes.push(change);
        self.actions.push(action);
    }

    /// Adds a plan line that has no action of its own (a note, or a detail of the action
    /// before it).
    pub fn line(&mut self, change: Change) {
        self.changes.push(change);
    }

    /// Adds a note.
    pub fn note(&mut self, group: &'static str, what: impl Into<String>) {
        self.changes.push(Change::new(Op::Note, group, what));
    }

    /// Appends another plan.
    pub fn extend(&mut self, other: StepPlan<A>) {
        self.changes.extend(other.changes);
        self.actions.extend(other.actions);
        if self.reboot.is_none() {
            self.reboot = other.reboot;
        }
    }
}

/// One setup step.
pub trait SetupStep {
    /// One thing the step does.
    type Action;
    /// The step's name (`zfs`).
    fn name(&self) -> &'static str;
    /// Observes and plans. Reads only.
    fn plan(&self, ctx: &Ctx<'_>) -> anyhow::Result<StepPlan<Self::Action>>;
    /// Applies the actions; `Changed` (or `RebootRequired`).
    fn apply(&self, ctx: &Ctx<'_>, actions: Vec<Self::Action>) -> anyhow::Result<Outcome>;
}

/// A step whose actions are all [`HostAction`]s: it only plans; [`apply_actions`] applies.
pub trait HostStep {
    /// The step's name (`users`).
    fn name(&self) -> &'static str;
    /// Observes and plans. Reads only.
    fn plan(&self, ctx: &Ctx<'_>) -> anyhow::Result<StepPlan<HostAction>>;
}

impl<T: HostStep> SetupStep for T {
    type Action = HostAction;

    fn name(&self) -> &'static str {
        HostStep::name(self)
    }

    fn plan(&self, ctx: &Ctx<'_>) -> anyhow::Result<StepPlan<HostAction>> {
        HostStep::plan(self, ctx)
    }

    fn apply(&self, ctx: &Ctx<'_>, actions: Vec<HostAction>) -> anyhow::Result<Outcome> {
        apply_actions(ctx, actions)?;
        Ok(Outcome::Changed)
    }
}

/// Plans a step, prints its plan, and applies it unless this is a dry run.
pub fn run<S: SetupStep>(step: &S, ctx: &Ctx<'_>) -> Outcome {
    run_as("setup", step, ctx)
}

/// [`run`], the plan headed `<verb> <step>` (`sync` runs some of setup's steps).
pub fn run_as<S: SetupStep>(verb: &str, step: &S, ctx: &Ctx<'_>) -> Outcome {
    drive(
        &format!("{verb} {}", step.name()),
        step.plan(ctx).map(Planned::Ready),
        ctx.runner.is_dry_run(),
        |actions| step.apply(ctx, actions),
    )
}

/// A plan, or why it cannot be made yet.
pub enum Planned<A> {
    /// What to change.
    Ready(StepPlan<A>),
    /// What the step works in (a guest) is missing or stopped: a later run does it.
    NotReady(String),
}

/// Prints the plan headed `heading` that says what it waits for; `NotReady`.
pub fn not_ready(heading: &str, why: String) -> Outcome {
    let mut plan = Plan::new(heading);
    plan.push(Change::new(Op::Note, "wait", why.clone()));
    print!("{plan}");
    Outcome::NotReady(why)
}

/// The one plan → print → apply loop of every step and stage: prints the plan headed
/// `heading`, applies its actions unless there are none or this is a dry run, and says how it
/// ended (`RebootRequired` when the plan says the host needs one).
pub fn drive<A>(
    heading: &str,
    planned: anyhow::Result<Planned<A>>,
    dry_run: bool,
    apply: impl FnOnce(Vec<A>) -> anyhow::Result<Outcome>,
) -> Outcome {
    let p = match planned {
        Ok(Planned::Ready(p)) => p,
        Ok(Planned::NotReady(why)) => return not_ready(heading, why),
        Err(e) => return Outcome::Failed(format!("{e:#}")),
    };
    let mut plan = Plan::new(heading);
    plan.changes = p.changes;
    if let Some(why) = &p.reboot {
        plan.push(Change::new(
            Op::Note,
            "reboot",
            format!("reboot required: {why}"),
        ));
    }
    print!("{plan}");
    let outcome = if p.actions.is_empty() {
        Outcome::Ok
    } else if dry_run {
        Outcome::Changed
    } else {
        match apply(p.actions) {
            Ok(o) => o,
            Err(e) => return Outcome::Failed(format!("{e:#}")),
        }
    };
    match (outcome, &p.reboot) {
        (Outcome::Ok | Outcome::Changed, Some(_)) => Outcome::RebootRequired,
        (o, _) => o,
    }
}

/// Who owns a file or directory: fixed IDs, or a user looked up when the action runs (it
/// may be created earlier in the same run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// `uid:gid`.
    Ids(u32, u32),
    /// A user and their primary group.
    User(String),
    /// A user and a group, by name (`root:www-data`).
    UserGroup(String, String),
}

impl Owner {
    /// `user` or `user:group`, as `chown` takes it (`None` for an empty string).
    pub fn parse(s: &str) -> Option<Owner> {
        let s = s.trim();
        match s.split_once(':') {
            _ if s.is_empty() => None,
            Some((u, g)) if !g.is_empty() => Some(Owner::UserGroup(u.into(), g.into())),
            Some((u, _)) => Some(Owner::User(u.into())),
            None => Some(Owner::User(s.into())),
        }
    }
}

/// One change to the host, as most steps plan them. Paths are host paths (below the system
/// root).
#[derive(Clone, Debug)]
pub enum HostAction {
    /// Write a file (its directory is created 0755 when missing). With `check`, the new
    /// content is validated first: the argv runs with `{}` replaced by the temporary file,
    /// and a failure leaves the old file in place.
    Write {
        /// Host path.
        path: String,
        /// Content.
        text: Vec<u8>,
        /// Mode.
        mode: u32,
        /// Owner (`None`: root, the writer).
        owner: Option<Owner>,
        /// Validation command.
        check: Option<Vec<String>>,
    },
    /// Remove a file.
    Remove(String),
    /// Create a directory (and parents) with a mode and an owner for it.
    Dir {
        /// Host path.
        path: String,
        /// Mode.
        mode: u32,
        /// Owner.
        owner: Option<Owner>,
    },
    /// Give an existing file or directory these permission bits.
    Mode {
        /// Host path.
        path: String,
        /// Mode.
        mode: u32,
    },
    /// Give an existing file or directory to an owner (not recursively).
    Chown {
        /// Host path.
        path: String,
        /// Owner.
        owner: Owner,
    },
    /// Make `link` point at `target` (a real path).
    Link {
        /// Real path the link points at.
        target: PathBuf,
        /// Host path of the link.
        link: String,
    },
    /// Run a mutating command.
    Run(Cmd),
}

/// The numeric owner, users and groups looked up with `getent` (a read).
pub fn resolve_owner(runner: &Runner, o: &Owner) -> anyhow::Result<(u32, u32)> {
    match o {
        Owner::Ids(u, g) => Ok((*u, *g)),
        Owner::User(name) => {
            let p = accounts::user(runner, name)?
                .with_context(|| format!("user {name} does not exist"))?;
            Ok((p.uid, p.gid))
        }
        Owner::UserGroup(user, group) => {
            let p = accounts::user(runner, user)?
                .with_context(|| format!("user {user} does not exist"))?;
            let g = accounts::group(runner, group)?
                .with_context(|| format!("group {group} does not exist"))?;
            Ok((p.uid, g.gid))
        }
    }
}

/// The validation command for `check` with `{}` replaced by `tmp`.
pub fn check_cmd(check: &[String], tmp: &Path) -> Cmd {
    let t = tmp.to_string_lossy();
    let argv: Vec<String> = check.iter().map(|a| a.replace("{}", &t)).collect();
    Cmd::read(&argv[0]).args(&argv[1..])
}

/// Applies host actions in order, stopping at the first failure.
pub fn apply_actions(ctx: &Ctx<'_>, actions: Vec<HostAction>) -> anyhow::Result<()> {
    let r = ctx.runner;
    // In a dry run a user planned earlier does not exist yet: ownership is not resolved.
    let owner_ids = |o: &Option<Owner>, path: &str| -> anyhow::Result<Option<(u32, u32)>> {
        match o {
            Some(o) if !r.is_dry_run() => resolve_owner(r, o)
                .map(Some)
                .with_context(|| format!("cannot give {path} to its owner")),
            _ => Ok(None),
        }
    };
    for a in actions {
        match a {
            HostAction::Write {
                path,
                text,
                mode,
                owner,
                check,
            } => {
                let p = ctx.layout.host(&path);
                if let Some(dir) = p.parent() {
                    r.ensure_dir(dir, 0o755)?;
                }
                let spec = FileSpec {
                    mode,
                    owner: owner_ids(&owner, &path)?,
                };
                match check {
                    Some(check) => {
                        let f = |tmp: &Path| -> anyhow::Result<()> {
                            r.run(&check_cmd(&check, tmp))
                                .map(|_| ())
                                .map_err(anyhow::Error::new)
                        };
                        r.write_checked(&p, &text, spec, &f)?
                    }
                    None => r.write_file(&p, &text, spec)?,
                };
            }
            HostAction::Remove(path) => {
                r.remove_file(&ctx.layout.host(&path))?;
            }
            HostAction::Dir { path, mode, owner } => {
                let p = ctx.layout.host(&path);
                if !p.exists() {
                    ctx.record_created(&path);
                }
                r.ensure_dir(&p, mode)?;
                if let Some((u, g)) = owner_ids(&owner, &path)? {
                    r.set_owner(&p, u, g)?;
                }
            }
            HostAction::Mode { path, mode } => {
                r.set_mode(&ctx.layout.host(&path), mode)?;
            }
            HostAction::Chown { path, owner } => {
                if let Some((u, g)) = owner_ids(&Some(owner), &path)? {
                    r.set_owner(&ctx.layout.host(&path), u, g)?;
                }
            }
            HostAction::Link { target, link } => {
                r.symlink(&target, &ctx.layout.host(&link))?;
            }
            HostAction::Run(cmd) => {
                r.run(&cmd)?;
            }
        }
    }
    Ok(())
}
