//! The lifecycle verbs both guest managers share: each observes first, does nothing when
//! there is nothing to do, and a dry run lists what it would have run. Templates are never
//! started or stopped (`spec/vm-manager.md` B61). The manager supplies what differs: how a
//! started guest is waited for.

use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::cmd::Runner;
use crate::config::Config;
use crate::converge::apply::{noun, shutdown};
use crate::converge::observe;
use crate::ids::{GuestId, GuestKind};
use crate::paths::Layout;
use crate::pve::conf::GuestConfig;
use crate::pve::tool::Tool;

/// The snapshot `reconfigure` rolls back to.
pub const FINAL_FORM: &str = "final-form";

/// One guest, as the lifecycle verbs see it.
#[derive(Clone, Copy)]
pub struct Guest<'a> {
    /// The whole configuration.
    pub cfg: &'a Config,
    /// Install and host paths.
    pub layout: &'a Layout,
    /// The one door to the outside.
    pub runner: &'a Runner,
    /// Container or VM.
    pub kind: GuestKind,
    /// Its ID.
    pub id: GuestId,
}

impl Guest<'_> {
    fn noun(&self) -> &'static str {
        noun(self.kind)
    }

    fn tool(&self) -> Tool {
        Tool::of(self.kind)
    }

    /// The manager's name (`lxc-manager`, `vm-manager`), for hints.
    pub fn manager(&self) -> &'static str {
        match self.kind {
            GuestKind::Lxc => crate::paths::binaries::LXC_MANAGER,
            GuestKind::Vm => crate::paths::binaries::VM_MANAGER,
        }
    }

    /// Its config file (`None` when it does not exist).
    pub fn conf(&self) -> anyhow::Result<Option<GuestConfig>> {
        Ok(observe::conf(self.layout, self.kind, self.id)?.map(|(c, _)| c))
    }

    /// Its config file, or an error saying how to create it.
    pub fn must_exist(&self) -> anyhow::Result<GuestConfig> {
        self.conf()?.with_context(|| {
            format!(
                "{} {} does not exist; `{} create {}` creates it",
                self.noun(),
                self.id,
                self.manager(),
                self.id
            )
        })
    }

    /// Whether it runs.
    pub fn running(&self) -> anyhow::Result<bool> {
        observe::running(self.runner, self.kind, self.id)
    }

    /// Says what was done; a dry run lists what would have run instead.
    pub fn done(&self, what: String) {
        if self.runner.is_dry_run() {
            println!(
                "dry run: {} {} is unchanged; this would run:",
                self.noun(),
                self.id
            );
            for p in self.runner.journal() {
                println!("  {p}");
            }
        } else {
            println!("{what}");
        }
    }

    /// The configured guests that name it as their clone source.
    pub fn clones(&self) -> Vec<GuestId> {
        self.cfg
            .guests()
            .iter()
            .filter(|g| g.clone_source() == Some(self.id))
            .map(|g| g.id())
            .collect()
    }

    /// `start`: a no-op when running or a template; `start` starts it and waits.
    pub fn start(&self, start: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
        let conf = self.must_exist()?;
        if conf.main.is_template() {
            println!(
                "{} {} is a Proxmox template; templates are not started (clone it instead)",
                self.noun(),
                self.id
            );
            return Ok(());
        }
        if self.running()? {
            println!("{} {} is already running", self.noun(), self.id);
            return Ok(());
        }
        start()?;
        self.done(format!("{} {} started", self.noun(), self.id));
        Ok(())
    }

    /// `stop`: a clean shutdown with a deadline, then a hard stop; a no-op when stopped.
    pub fn stop(&self) -> anyhow::Result<()> {
        if self.conf()?.is_none() {
            println!(
                "{} {} does not exist; nothing to stop",
                self.noun(),
                self.id
            );
            return Ok(());
        }
        if !self.running()? {
            println!("{} {} is already stopped", self.noun(), self.id);
            return Ok(());
        }
        shutdown(self.runner, self.kind, self.id)?;
        self.done(format!("{} {} stopped", self.noun(), self.id));
        Ok(())
    }

    /// `restart`: a reboot when running (then `wait`), `start` otherwise; templates stay.
    pub fn restart(
        &self,
        wait: impl FnOnce() -> anyhow::Result<()>,
        start: impl FnOnce() -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let conf = self.must_exist()?;
        if conf.main.is_template() {
            println!(
                "{} {} is a Proxmox template; templates are not started",
                self.noun(),
                self.id
            );
            return Ok(());
        }
        if self.running()? {
            self.runner
                .run(&self.tool().reboot(self.id))
                .with_context(|| format!("cannot reboot {} {}", self.noun(), self.id))?;
            wait()?;
            self.done(format!("{} {} restarted", self.noun(), self.id));
        } else {
            start()?;
            self.done(format!("{} {} was stopped; started", self.noun(), self.id));
        }
        Ok(())
    }

    /// `delete`: refuses a clone source or a running guest without `--force`; a no-op when
    /// it does not exist. `cleanup` are host files that belong to it (markers, snippets).
    pub fn delete(&self, force: bool, purge: bool, cleanup: &[PathBuf]) -> anyhow::Result<()> {
        let (n, id) = (self.noun(), self.id);
        if self.conf()?.is_none() {
            println!("{n} {id} does not exist; nothing to delete");
            return Ok(());
        }
        let clones = self.clones();
        if !clones.is_empty() && !force {
            let list: Vec<String> = clones.iter().map(ToString::to_string).collect();
            bail!(
                "{n} {id} is the clone source of {}; deleting it means they cannot be created again. Pass --force to delete it anyway",
                list.join(", ")
            );
        }
        if self.running()? {
            if !force {
                bail!("{n} {id} is running; stop it first, or pass --force");
            }
            shutdown(self.runner, self.kind, id)?;
        }
        self.runner
            .run(&self.tool().destroy(id, purge))
            .with_context(|| format!("cannot destroy {n} {id}"))?;
        for p in cleanup {
            self.runner.remove_file(p)?;
        }
        self.runner
            .remove_file(&crate::converge::incomplete_marker(
                self.layout,
                self.kind,
                id,
            ))?;
        self.done(format!("{n} {id} deleted"));
        Ok(())
    }

    /// `reconfigure`: roll back to `final-form` and `start`. `hint` says when the snapshot
    /// is taken.
    pub fn reconfigure(
        &self,
        hint: &str,
        start: impl FnOnce() -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let (n, id) = (self.noun(), self.id);
        let conf = self.must_exist()?;
        if !conf.snapshots.contains_key(FINAL_FORM) {
            bail!("{n} {id} has no {FINAL_FORM} snapshot to roll back to ({hint})");
        }
        if self.running()? {
            shutdown(self.runner, self.kind, id)?;
        }
        self.runner
            .run(&self.tool().rollback(id, FINAL_FORM))
            .with_context(|| format!("cannot roll {n} {id} back to {FINAL_FORM}"))?;
        start()?;
        self.done(format!("{n} {id} rolled back to {FINAL_FORM} and started"));
        Ok(())
    }
}
