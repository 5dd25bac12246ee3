//! The verb dispatch both guest managers share: bad configuration is exit 2 before any host
//! command, mutating verbs take the locks (unless `--dry-run`), each verb runs the manager's
//! implementation, errors become exit statuses. A manager implements [`Manager`] for one
//! guest; its `main` is [`main`]: parse → load → build the manager → [`dispatch`].

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::guest::{GuestCli, GuestVerb, Output};
use crate::cmd::Runner;
use crate::config::{Config, Subject, Work};
use crate::converge::apply::noun;
use crate::converge::ops::Guest;
use crate::converge::{SpecError, exit_for};
use crate::exit::Exit;
use crate::ids::{GuestId, GuestKind};
use crate::paths::Layout;

/// Create or converge options.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Re-run every feature installer (`--force-features`).
    pub force_features: bool,
    /// Create the guest when it is missing (`create`); `converge` refuses instead.
    pub create: bool,
}

/// One guest backend (containers, VMs), for one guest: what differs between the two
/// managers. What does not differ is provided: `converge` (prepare, print the plan, apply)
/// and the lifecycle verbs (`start`, `stop`, `restart`, `delete`, `reconfigure`) on top of
/// [`ops::Guest`](crate::converge::ops::Guest).
pub trait Manager {
    /// What `status` returns.
    type Status: serde::Serialize + std::fmt::Display;
    /// When the `final-form` snapshot is taken (said when `reconfigure` finds none).
    const FINAL_FORM_TAKEN: &'static str;

    /// The guest, as the shared lifecycle verbs see it.
    fn guest(&self) -> Guest<'_>;
    /// What converge prepares: the plan and what applying it takes.
    type Prepared;

    /// Checks that the configuration specifies the guest (pure).
    fn check(&self) -> Result<(), SpecError>;
    /// Observes the guest and plans (reads only).
    fn prepare(&self, opts: Options) -> anyhow::Result<Self::Prepared>;
    /// The printable plan of a preparation.
    fn plan_of(p: &Self::Prepared) -> &crate::converge::Plan;
    /// Applies a preparation.
    fn apply(&self, p: Self::Prepared) -> anyhow::Result<()>;
    /// Starts the stopped guest and waits until it is ready.
    fn start_and_wait(&self) -> anyhow::Result<()>;
    /// Waits until the rebooted guest is ready.
    fn wait_ready(&self) -> anyhow::Result<()>;
    /// The guest's files on the host that `delete` removes with it.
    fn host_files(&self) -> Vec<PathBuf> {
        Vec::new()
    }
    /// `health-check`.
    fn health_check(&self) -> anyhow::Result<()>;
    /// `status`.
    fn status(&self) -> anyhow::Result<Self::Status>;
    /// `test`: `(passed, failed)`.
    fn test(&self, suite: Option<&str>) -> anyhow::Result<(usize, usize)>;

    /// The guest's ID.
    fn id(&self) -> GuestId {
        self.guest().id
    }
    /// Container or VM.
    fn kind(&self) -> GuestKind {
        self.guest().kind
    }
    /// Plans, prints the plan and applies it unless `plan_only` or there is nothing to do.
    fn converge(&self, opts: Options, plan_only: bool) -> anyhow::Result<()> {
        let prepared = self.prepare(opts)?;
        let plan = Self::plan_of(&prepared);
        print!("{plan}");
        if plan_only || !plan.has_changes() {
            return Ok(());
        }
        self.apply(prepared)?;
        println!("{} {}: converged", noun(self.kind()), self.id());
        Ok(())
    }
    /// `start`: a no-op when running or a template.
    fn start(&self) -> anyhow::Result<()> {
        self.guest().start(|| self.start_and_wait())
    }
    /// `stop`: a clean shutdown with a deadline, then a hard stop; a no-op when stopped.
    fn stop(&self) -> anyhow::Result<()> {
        self.guest().stop()
    }
    /// `restart`: a reboot when running, a start otherwise.
    fn restart(&self) -> anyhow::Result<()> {
        self.guest()
            .restart(|| self.wait_ready(), || self.start_and_wait())
    }
    /// `delete`: refuses a clone source or a running guest without `--force`; a no-op when
    /// the guest does not exist.
    fn delete(&self, force: bool, purge: bool) -> anyhow::Result<()> {
        self.guest().delete(force, purge, &self.host_files())
    }
    /// `reconfigure`: roll back to `final-form` and start.
    fn reconfigure(&self) -> anyhow::Result<()> {
        self.guest()
            .reconfigure(Self::FINAL_FORM_TAKEN, || self.start_and_wait())
    }
}

/// A guest manager's `main`: parses the command line (`program`'s, described as `about`),
/// loads and checks the configuration (exit 2 before any host command), resolves the guest
/// ID of `kind`, and hands the rest to `run` (which builds the manager and calls
/// [`dispatch`]).
pub fn main(
    args: impl IntoIterator<Item = OsString>,
    program: &'static str,
    about: &'static str,
    kind: GuestKind,
    run: impl FnOnce(&GuestCli, &Layout, &Config, &Runner, GuestId) -> Exit,
) -> ExitCode {
    let args = match crate::cli::generated(args, || GuestCli::command_for(program, about)) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let cli = match GuestCli::parse_for(program, about, args) {
        Ok(c) => c,
        Err(e) => return crate::cli::clap_exit(&e),
    };
    let layout = Layout::from_env();
    cli.global.init_logging(program, &layout);
    let (cfg, _) = match crate::cli::load_config(&cli.global, &layout) {
        Ok(c) => c,
        Err(exit) => return exit.into(),
    };
    let id = match crate::cli::guest_arg(&cfg, cli.verb.target(), kind) {
        Ok(id) => id,
        Err(exit) => return exit.into(),
    };
    let runner = Runner::system(cli.global.dry_run || !cli.verb.mutates());
    run(&cli, &layout, &cfg, &runner, id).into()
}

/// The work a verb does on its guest that a configuration finding can block.
pub fn work_of(verb: &GuestVerb) -> Option<Work> {
    match verb {
        GuestVerb::Create(_)
        | GuestVerb::Converge(_)
        | GuestVerb::Plan(_)
        | GuestVerb::Reconfigure(_) => Some(Work::Converge),
        GuestVerb::Start(_) | GuestVerb::Restart(_) => Some(Work::Run),
        _ => None,
    }
}

/// Refuses `verb` on guest `id` when a finding of the configuration blocks that work on it
/// (a missing referenced file, a clash of addresses: docs/decisions.md, "The load policy"): each
/// finding is printed with where it is, and the status is 1 (this guest failed; the rest of
/// the estate is not concerned). Nothing has run.
pub fn refuse_blocked(
    cfg: &Config,
    kind: GuestKind,
    id: GuestId,
    verb: &GuestVerb,
) -> Result<(), Exit> {
    let Some(work) = work_of(verb) else {
        return Ok(());
    };
    let blockers = cfg.blockers(&Subject::Guest(id), work);
    if blockers.is_empty() {
        return Ok(());
    }
    for d in &blockers {
        eprintln!(
            "error: cannot {} {} {id}: {}\n  --> {} at {}",
            verb.name(),
            noun(kind),
            d.message,
            d.file.display(),
            d.pointer_display()
        );
    }
    eprintln!(
        "error: {} {id}: nothing was changed; fix the finding(s) above (phoenix validate lists them)",
        noun(kind)
    );
    Err(Exit::Failure)
}

/// Runs `cli`'s verb on `m`. `file` is the configuration file the guest is defined in (named
/// in configuration errors, which `create`, `converge` and `plan` check first); findings of
/// `cfg` that block the verb's work on this guest refuse it first ([`refuse_blocked`]).
pub fn dispatch(
    cli: &GuestCli,
    layout: &Layout,
    cfg: &Config,
    file: &std::path::Path,
    m: &impl Manager,
) -> Exit {
    let id = m.id();
    let converging = matches!(
        cli.verb,
        GuestVerb::Create(_) | GuestVerb::Converge(_) | GuestVerb::Plan(_)
    );
    if converging {
        if let Err(e) = m.check() {
            eprintln!("error: {}: {e}", file.display());
            return Exit::Invalid;
        }
    }
    if let Err(exit) = refuse_blocked(cfg, m.kind(), id, &cli.verb) {
        return exit;
    }
    let _locks = if cli.verb.mutates() && !cli.global.dry_run {
        match crate::converge::apply::lock(layout, &crate::cmd::Runner::system(false), id) {
            Ok(l) => Some(l),
            Err(e) => return exit_for(&e),
        }
    } else {
        None
    };
    let result = match &cli.verb {
        GuestVerb::Create(_) | GuestVerb::Converge(_) | GuestVerb::Plan(_) => {
            let opts = Options {
                force_features: cli.force_features,
                create: !matches!(cli.verb, GuestVerb::Converge(_)),
            };
            let plan_only = matches!(cli.verb, GuestVerb::Plan(_)) || cli.global.dry_run;
            m.converge(opts, plan_only)
        }
        GuestVerb::Start(_) => m.start(),
        GuestVerb::Stop(_) => m.stop(),
        GuestVerb::Restart(_) => m.restart(),
        GuestVerb::Delete { force, purge, .. } => m.delete(*force, *purge),
        GuestVerb::Reconfigure(_) => m.reconfigure(),
        GuestVerb::HealthCheck(_) => m.health_check(),
        GuestVerb::Status(_) => m.status().and_then(|st| {
            match cli.output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&st)?),
                Output::Text => print!("{st}"),
            }
            Ok(())
        }),
        GuestVerb::Test { suite, .. } => match m.test(suite.as_deref()) {
            Ok((_, 0)) => Ok(()),
            Ok((_, failed)) => {
                eprintln!("error: {} {id}: {failed} test(s) failed", noun(m.kind()));
                return Exit::Failure;
            }
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => Exit::Success,
        Err(e) => exit_for(&e),
    }
}
