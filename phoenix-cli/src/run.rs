//! Running a [`RunPlan`]: managers found next to our own executable, independent guests in
//! parallel up to `--jobs`, dependents of a failed guest skipped, siblings carried on.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use phoenix_core::cmd::{Cmd, Effect, Runner, Stream};
use phoenix_core::graph::{NodeState, Scheduler};
use phoenix_core::ids::{GuestId, GuestKind};

use crate::plan::{Action, Job, RunPlan};

/// How a job ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// The manager exited 0.
    Ok,
    /// Nothing to do (the dependency exists).
    Exists,
    /// The manager failed.
    Failed {
        /// Its exit code (`None`: killed by a signal or could not start).
        code: Option<i32>,
    },
    /// Not run because a guest it needs failed.
    Skipped {
        /// The failed guest.
        because: GuestId,
    },
}

impl Outcome {
    /// Whether the run counts as failed because of this job.
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed { .. } | Outcome::Skipped { .. })
    }
}

/// One line of the summary.
#[derive(Clone, Debug, serde::Serialize)]
pub struct JobResult {
    /// Guest ID, or `None` for a sync.
    pub guest: Option<GuestId>,
    /// Kind.
    pub kind: Option<GuestKind>,
    /// What ran (`create`, `start`, `sync all`).
    pub action: String,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Wall time.
    #[serde(skip)]
    pub elapsed: Option<Duration>,
}

/// Where the managers are and what every invocation gets.
#[derive(Clone, Debug)]
pub struct Launcher {
    /// Directory holding the manager binaries (next to `phoenix-cli`).
    pub dir: PathBuf,
    /// Flags appended to every manager invocation (`--config`, `--dry-run`, `-v`, …).
    pub common: Vec<OsString>,
    /// Environment for every manager.
    pub env: Vec<(OsString, OsString)>,
    /// Whether managers run in dry-run (their commands then only read).
    pub dry_run: bool,
    /// Prefix output lines with the guest ID.
    pub prefix: bool,
    /// Send the managers' stdout to our stderr (our stdout carries JSON).
    pub stdout_to_stderr: bool,
}

impl Launcher {
    /// Path of a manager binary.
    pub fn manager(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Builds the command for one manager call.
    pub fn command(&self, manager: &str, args: &[OsString]) -> Cmd {
        let effect = if self.dry_run {
            Effect::Read
        } else {
            Effect::Mutate
        };
        let mut c = Cmd::mutate(self.manager(manager))
            .args(args)
            .args(&self.common)
            .with_effect(effect)
            .quiet();
        for (k, v) in &self.env {
            c = c.env(k, v);
        }
        c
    }

    /// Runs one manager call, streaming its output with `label` as prefix.
    pub fn run(
        &self,
        runner: &Runner,
        manager: &str,
        args: &[OsString],
        label: &str,
    ) -> Option<i32> {
        let cmd = self.command(manager, args);
        let (prefix, to_stderr) = (self.prefix, self.stdout_to_stderr);
        let sink = move |s: Stream, line: &str| {
            let text = if prefix {
                format!("[{label}] {line}")
            } else {
                line.to_string()
            };
            match s {
                Stream::Stdout if !to_stderr => println!("{text}"),
                _ => eprintln!("{text}"),
            }
        };
        match runner.run_streaming(&cmd, &sink) {
            Ok(out) => out.code.or(Some(0)),
            Err(e) => {
                match &e {
                    phoenix_core::cmd::CmdError::Failed { code, .. } => return *code,
                    other => tracing::error!("{other}"),
                }
                None
            }
        }
    }
}

/// Checks that every manager the plan needs is installed next to us.
pub fn missing_managers(plan: &RunPlan, launcher: &Launcher, extra: &[&str]) -> Vec<PathBuf> {
    let mut names: Vec<&str> = plan
        .phases
        .iter()
        .flat_map(|p| p.jobs.iter())
        .filter(|j| matches!(j.action, Action::Manager { .. }))
        .map(|j| j.kind.manager())
        .collect();
    if plan.phases.iter().any(|p| p.then_sync) {
        names.push(phoenix_core::paths::binaries::PORTAINER_MANAGER);
    }
    names.extend_from_slice(extra);
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|n| launcher.manager(n))
        .filter(|p| !phoenix_core::cmd::is_executable(p))
        .collect()
}

/// Runs every phase; returns one result per job (and per sync).
pub fn execute(
    plan: &RunPlan,
    launcher: &Launcher,
    runner: &Runner,
    jobs: usize,
    sync_args: &[OsString],
) -> Vec<JobResult> {
    let mut results = Vec::new();
    // guest → the guest whose failure stops it
    let mut failed: BTreeMap<GuestId, GuestId> = BTreeMap::new();
    for phase in &plan.phases {
        if plan.phases.len() > 1 {
            tracing::info!("phase: {}", phase.name);
        }
        let by_id: BTreeMap<GuestId, &Job> = phase.jobs.iter().map(|j| (j.id, j)).collect();
        let members = by_id.keys().copied().collect();
        let Ok(mut sched) = Scheduler::new(&phase.graph, &members) else {
            // Cycles are rejected when the configuration is loaded; this is unreachable.
            tracing::error!("dependency cycle in phase {}", phase.name);
            continue;
        };
        // Carry failures over from earlier phases.
        let mut phase_results: BTreeMap<GuestId, JobResult> = BTreeMap::new();
        for id in sched.order() {
            if sched.state(id) != Some(NodeState::Pending) {
                continue;
            }
            let blocker = failed.get(&id).copied().or_else(|| {
                plan.runtime
                    .closure([id])
                    .into_iter()
                    .find_map(|d| (d != id).then(|| failed.get(&d).copied()).flatten())
            });
            if let Some(because) = blocker {
                sched.start(id);
                for s in sched.finish(id, false) {
                    failed.insert(s, because);
                    phase_results.insert(s, result(by_id[&s], Outcome::Skipped { because }, None));
                }
                failed.insert(id, because);
                phase_results.insert(id, result(by_id[&id], Outcome::Skipped { because }, None));
            }
        }
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel::<(GuestId, Outcome, Duration)>();
            let mut running = 0usize;
            loop {
                for id in sched.ready() {
                    if running >= jobs {
                        break;
                    }
                    let job = by_id[&id];
                    sched.start(id);
                    if job.action == Action::Exists {
                        tracing::info!("{} {}: exists, not created", job.kind, id);
                        sched.finish(id, true);
                        phase_results.insert(id, result(job, Outcome::Exists, None));
                        continue;
                    }
                    running += 1;
                    let tx = tx.clone();
                    scope.spawn(move || {
                        let started = Instant::now();
                        let Action::Manager { verb } = job.action else {
                            unreachable!("handled above")
                        };
                        let args = [OsString::from(verb), OsString::from(id.to_string())];
                        let code = launcher.run(runner, job.kind.manager(), &args, &id.to_string());
                        let outcome = if code == Some(0) {
                            Outcome::Ok
                        } else {
                            Outcome::Failed { code }
                        };
                        let _ = tx.send((id, outcome, started.elapsed()));
                    });
                }
                if running == 0 {
                    if sched.ready().is_empty() {
                        break;
                    }
                    continue;
                }
                let Ok((id, outcome, elapsed)) = rx.recv() else {
                    break;
                };
                running -= 1;
                let ok = outcome == Outcome::Ok;
                let skipped = sched.finish(id, ok);
                if !ok {
                    failed.insert(id, id);
                    tracing::error!(
                        "{} {} failed; skipping what depends on it: {}",
                        by_id[&id].kind,
                        id,
                        list(&skipped)
                    );
                }
                for s in skipped {
                    failed.insert(s, id);
                    phase_results
                        .insert(s, result(by_id[&s], Outcome::Skipped { because: id }, None));
                }
                phase_results.insert(id, result(by_id[&id], outcome, Some(elapsed)));
            }
        });
        // Report in schedule order.
        for id in sched.order() {
            if let Some(r) = phase_results.remove(&id) {
                results.push(r);
            } else if matches!(sched.state(id), Some(NodeState::Pending)) {
                results.push(result(by_id[&id], Outcome::Skipped { because: id }, None));
            }
        }
        if phase.then_sync && phase.jobs.iter().any(|j| !failed.contains_key(&j.id)) {
            let started = Instant::now();
            let code = launcher.run(
                runner,
                phoenix_core::paths::binaries::PORTAINER_MANAGER,
                sync_args,
                "sync",
            );
            let outcome = if code == Some(0) {
                Outcome::Ok
            } else {
                Outcome::Failed { code }
            };
            results.push(JobResult {
                guest: None,
                kind: None,
                action: "sync all".into(),
                outcome,
                elapsed: Some(started.elapsed()),
            });
        }
    }
    results
}

fn list(ids: &[GuestId]) -> String {
    if ids.is_empty() {
        return "nothing".to_string();
    }
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn result(job: &Job, outcome: Outcome, elapsed: Option<Duration>) -> JobResult {
    let action = match job.action {
        Action::Manager { verb } => verb.to_string(),
        Action::Exists => "create".to_string(),
    };
    JobResult {
        guest: Some(job.id),
        kind: Some(job.kind),
        action,
        outcome,
        elapsed,
    }
}

/// The order a one-at-a-time run of `phase` takes.
pub fn schedule_order(phase: &crate::plan::Phase) -> Vec<GuestId> {
    let members = phase.jobs.iter().map(|j| j.id).collect();
    Scheduler::new(&phase.graph, &members)
        .map(|s| s.order())
        .unwrap_or_default()
}

/// The directory of the running executable.
pub fn own_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()
        .map_err(|e| anyhow::anyhow!("cannot find our own executable: {e}"))?;
    Ok(exe
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf))
}
