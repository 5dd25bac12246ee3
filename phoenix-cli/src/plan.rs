//! Pure planning: which manager runs which verb on which guest, in what order.
//!
//! This is where the shell version's dispatcher bugs are fixed (cli-and-hypervisor.md §11):
//! every listed `create` target is final (only *dependencies* that exist are skipped),
//! `start` brings up runtime dependencies but never templates, `stop`/`restart`/`status`
//! touch only the targets, `delete` refuses to remove a clone source, and LetsGo starts by
//! `boot_order` across containers and VMs, skipping templates, and really syncs.

use std::collections::BTreeSet;
use std::fmt;

use phoenix_core::config::Config;
use phoenix_core::graph::{self, EdgeKind, Graph};
use phoenix_core::ids::{GuestId, GuestKind};

/// What one job does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `<kind>-manager <verb> <id>`.
    Manager {
        /// Manager verb.
        verb: &'static str,
    },
    /// Nothing: the dependency already exists.
    Exists,
}

/// One unit of work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// The guest.
    pub id: GuestId,
    /// Its kind.
    pub kind: GuestKind,
    /// What to do.
    pub action: Action,
}

/// A set of jobs scheduled over `graph` (edges between jobs only).
#[derive(Clone, Debug, Default)]
pub struct Phase {
    /// Display name (`create`, `start (boot order 3)`).
    pub name: String,
    /// The jobs.
    pub jobs: Vec<Job>,
    /// Ordering constraints: an edge a → b runs b before a.
    pub graph: Graph,
    /// Run `portainer-manager sync all` after this phase if it succeeded at least partly.
    pub then_sync: bool,
}

/// The whole run.
#[derive(Clone, Debug, Default)]
pub struct RunPlan {
    /// Phases, run one after the other.
    pub phases: Vec<Phase>,
    /// Runtime dependencies across phases: a job is skipped when a guest it (transitively)
    /// depends on failed in an earlier phase.
    pub runtime: Graph,
}

/// Why a request cannot be planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// An ID that is not configured.
    UnknownGuest(String),
    /// Not an ID.
    BadId(String),
    /// Deleting a clone source.
    CloneSource {
        /// The guest to delete.
        id: GuestId,
        /// Guests cloned from it.
        clones: Vec<GuestId>,
    },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::UnknownGuest(id) => write!(
                f,
                "unknown guest {id}: it is not defined in the LXC or VM configuration"
            ),
            PlanError::BadId(e) => f.write_str(e),
            PlanError::CloneSource { id, clones } => {
                let list: Vec<String> = clones.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "refusing to delete {id}: {} cloned from it\n\nhint: delete {} first, or pass --force",
                    if clones.len() == 1 {
                        format!("guest {} is", list[0])
                    } else {
                        format!("guests {} are", list.join(", "))
                    },
                    list.join(", ")
                )
            }
        }
    }
}

/// Parses and checks user-typed IDs, keeping their order and dropping repeats.
pub fn resolve_targets(
    cfg: &Config,
    ids: &[String],
) -> Result<Vec<(GuestId, GuestKind)>, PlanError> {
    let mut out: Vec<(GuestId, GuestKind)> = Vec::new();
    for raw in ids {
        let id: GuestId = raw
            .parse()
            .map_err(|e: phoenix_core::ids::IdError| PlanError::BadId(e.to_string()))?;
        let guest = cfg
            .guest(id)
            .ok_or_else(|| PlanError::UnknownGuest(raw.clone()))?;
        if !out.iter().any(|(x, _)| *x == id) {
            out.push((id, guest.kind()));
        }
    }
    Ok(out)
}

fn kind_of(cfg: &Config, id: GuestId) -> GuestKind {
    cfg.guest(id).map_or(GuestKind::Lxc, |g| g.kind())
}

fn manager_job(cfg: &Config, id: GuestId, verb: &'static str) -> Job {
    Job {
        id,
        kind: kind_of(cfg, id),
        action: Action::Manager { verb },
    }
}

/// `create`: every target is created/converged; a dependency that is not a target is
/// created only when it does not exist yet (`exists` answers that).
pub fn create(
    cfg: &Config,
    targets: &[GuestId],
    exists: &dyn Fn(GuestId, GuestKind) -> bool,
) -> RunPlan {
    let g = cfg.graph();
    let set = g.closure(targets.iter().copied());
    let jobs = set
        .iter()
        .map(|id| {
            let kind = kind_of(cfg, *id);
            if !targets.contains(id) && exists(*id, kind) {
                Job {
                    id: *id,
                    kind,
                    action: Action::Exists,
                }
            } else {
                manager_job(cfg, *id, "create")
            }
        })
        .collect();
    single("create", jobs, g.induced(&set))
}

/// `converge` and `plan`: the whole chain, each guest with `verb`.
pub fn chain(cfg: &Config, targets: &[GuestId], verb: &'static str) -> RunPlan {
    let g = cfg.graph();
    let set = g.closure(targets.iter().copied());
    let jobs = set.iter().map(|id| manager_job(cfg, *id, verb)).collect();
    single(verb, jobs, g.induced(&set))
}

/// `start`: targets plus their runtime dependencies (transitively), templates excluded.
pub fn start(cfg: &Config, targets: &[GuestId]) -> RunPlan {
    let runtime = cfg.graph().only(&[EdgeKind::Depends]);
    let set: BTreeSet<GuestId> = runtime
        .closure(targets.iter().copied())
        .into_iter()
        .filter(|id| cfg.guest(*id).is_some_and(|g| !g.is_template()))
        .collect();
    let jobs = set
        .iter()
        .map(|id| manager_job(cfg, *id, "start"))
        .collect();
    single("start", jobs, runtime.induced(&set))
}

/// `stop`, `restart`, `status`, `health-check`: only the targets. `stop` takes dependents
/// before what they depend on; `restart` the other way round; the others have no order.
pub fn targets_only(cfg: &Config, targets: &[GuestId], verb: &'static str) -> RunPlan {
    let set: BTreeSet<GuestId> = targets.iter().copied().collect();
    let runtime = cfg.graph().only(&[EdgeKind::Depends]);
    let order = match verb {
        "stop" => reversed(&runtime.induced(&set)),
        "restart" => runtime.induced(&set),
        _ => Graph::default(),
    };
    let jobs = targets
        .iter()
        .map(|id| manager_job(cfg, *id, verb))
        .collect();
    single(verb, jobs, order)
}

/// `delete`: only the targets, dependents (and clones) first. Refuses, unless `force`, to
/// delete a guest that a guest which stays configured is cloned from.
pub fn delete(cfg: &Config, targets: &[GuestId], force: bool) -> Result<RunPlan, PlanError> {
    let g = cfg.graph();
    let set: BTreeSet<GuestId> = targets.iter().copied().collect();
    if !force {
        for id in targets {
            let clones: Vec<GuestId> = cfg
                .guests()
                .iter()
                .filter(|o| o.clone_source() == Some(*id) && !set.contains(&o.id()))
                .map(|o| o.id())
                .collect();
            if !clones.is_empty() {
                return Err(PlanError::CloneSource { id: *id, clones });
            }
        }
    }
    let verb = "delete";
    let jobs = targets
        .iter()
        .map(|id| manager_job(cfg, *id, verb))
        .collect();
    Ok(single(verb, jobs, reversed(&g.induced(&set))))
}

/// LetsGo: create everything (in dependency order, branches in parallel), then start the
/// non-templates tier by tier in `boot_order` (ties by ID), syncing after a tier holding a
/// guest with `trigger_sync_on_completion`. With `limit`, only those guests and what they need.
pub fn lets_go(cfg: &Config, limit: &[GuestId]) -> RunPlan {
    let g = cfg.graph();
    let all: BTreeSet<GuestId> = if limit.is_empty() {
        g.nodes().collect()
    } else {
        g.closure(limit.iter().copied())
    };
    let mut plan = RunPlan {
        phases: Vec::new(),
        runtime: g.only(&[EdgeKind::Depends]),
    };
    let jobs = all
        .iter()
        .map(|id| manager_job(cfg, *id, "create"))
        .collect();
    plan.phases.push(Phase {
        name: "create".into(),
        jobs,
        graph: g.induced(&all),
        then_sync: false,
    });

    let startable: Vec<(GuestId, Option<u32>)> = all
        .iter()
        .filter_map(|id| cfg.guest(*id))
        .filter(|g| !g.is_template())
        .map(|g| (g.id(), g.boot_order()))
        .collect();
    let runtime = g.only(&[EdgeKind::Depends]);
    let ordered = graph::boot_order(startable.iter().copied());
    let mut tiers: Vec<(u32, Vec<GuestId>)> = Vec::new();
    for id in ordered {
        let order = startable
            .iter()
            .find(|(x, _)| *x == id)
            .and_then(|(_, o)| *o)
            .unwrap_or(graph::DEFAULT_BOOT_ORDER);
        match tiers.last_mut() {
            Some((o, ids)) if *o == order => ids.push(id),
            _ => tiers.push((order, vec![id])),
        }
    }
    for (order, ids) in tiers {
        let set: BTreeSet<GuestId> = ids.iter().copied().collect();
        let then_sync = ids
            .iter()
            .any(|id| cfg.guest(*id).is_some_and(|g| g.triggers_sync()));
        plan.phases.push(Phase {
            name: format!("start (boot order {order})"),
            jobs: ids
                .iter()
                .map(|id| manager_job(cfg, *id, "start"))
                .collect(),
            graph: runtime.induced(&set),
            then_sync,
        });
    }
    plan
}

fn single(name: &str, jobs: Vec<Job>, graph: Graph) -> RunPlan {
    RunPlan {
        phases: vec![Phase {
            name: name.to_string(),
            jobs,
            graph,
            then_sync: false,
        }],
        runtime: Graph::default(),
    }
}

fn reversed(g: &Graph) -> Graph {
    let mut r = Graph::default();
    for n in g.nodes() {
        r.add_node(n);
        for (t, k) in g.needs(n) {
            r.add_edge(*t, n, *k);
        }
    }
    r
}
