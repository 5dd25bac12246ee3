//! `sync`: the stages, in the order the shell version ran them (spec §3), each observe →
//! plan → apply, each printing its plan, and each `not ready` — not failed — when the guest
//! it works in is missing or stopped: a later run (LetsGo syncs after each tier) does it.
//!
//! | stage | what | in |
//! |---|---|---|
//! | `ca` | the CA's root in the host's trust store | host |
//! | `dns` | dnsmasq records for guests and routes | host |
//! | `firewall` | the datacenter firewall (once, not twice: P17) | host |
//! | `certificates` | the manifest's certificates that are due | host, Step-CA |
//! | `portainer` | the Portainer server's stacks and the agents, running | primary and agent VMs |
//! | `traefik` | Traefik's dynamic configuration | the Traefik container |
//! | `nginx` | the gateway's site, the placeholder site removed | the gateway container |
//! | `api` | administrator, environments, stacks | Portainer's API |

mod api_stage;
mod certificates;
mod gateway;
mod instances;

use std::io::IsTerminal;
use std::net::IpAddr;

use phoenix_core::cmd::Runner;
use phoenix_core::config::Config;
use phoenix_core::converge::{Change, Op};
use phoenix_core::ids::GuestId;
use phoenix_core::mesh::{self, Mesh, Roles};
use phoenix_core::paths::Layout;
use phoenix_core::step::report::{Outcome, Report};
use phoenix_core::step::{self, Planned};

pub use api_stage::{ApiAction, ApiStage, api_address, password};
pub use certificates::{CertAction, Certificates};
pub use gateway::{
    NGINX_DEFAULT, NGINX_ENABLED, NGINX_SITE, NginxAction, NginxStage, TRAEFIK_DYNAMIC,
    TRAEFIK_STAGED, TraefikStage, check_traefik, nginx_site, traefik_file,
};
pub use instances::{
    AGENT_CONTAINER, InstanceAction, Instances, agent_run, data_source, is_portainer_server,
};

use crate::SyncTarget;
use crate::guest::Guest;

/// How sync was asked to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// What to sync.
    pub target: SyncTarget,
    /// Reset Portainer's data first.
    pub reset: bool,
    /// Confirmed.
    pub yes: bool,
}

/// Everything a stage needs.
pub struct Cx<'a> {
    /// The host step context (configuration, layout, runner).
    pub step: step::Ctx<'a>,
    /// Which guest does what.
    pub roles: Roles,
    /// Routes.
    pub mesh: Mesh,
    /// Options.
    pub opts: &'a Options,
}

impl Cx<'_> {
    fn cfg(&self) -> &Config {
        self.step.cfg
    }
    fn runner(&self) -> &Runner {
        self.step.runner
    }
    fn layout(&self) -> &Layout {
        self.step.layout
    }
}

/// One stage.
pub trait Stage {
    /// What apply does.
    type Action;
    /// Name in plans and the summary.
    fn name(&self) -> &'static str;
    /// Observe and plan.
    fn plan(&self, cx: &Cx<'_>) -> anyhow::Result<Planned<Self::Action>>;
    /// Apply (never called in a dry run or with nothing to do).
    fn apply(&self, cx: &Cx<'_>, actions: Vec<Self::Action>) -> anyhow::Result<()>;
    /// Failures found while planning that did not stop the rest (one stack of several).
    fn deferred_errors(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Plans a stage, prints the plan and applies it unless this is a dry run (the step
/// framework's loop), then adds the failures found while planning.
pub fn run_stage<S: Stage>(s: &S, cx: &Cx<'_>) -> Outcome {
    let outcome = step::drive(
        &format!("sync {}", s.name()),
        s.plan(cx),
        cx.runner().is_dry_run(),
        |actions| s.apply(cx, actions).map(|()| Outcome::Changed),
    );
    let mut errors = s.deferred_errors();
    if errors.is_empty() {
        return outcome;
    }
    if let Outcome::Failed(e) = outcome {
        errors.insert(0, e);
    }
    Outcome::Failed(errors.join("; "))
}

pub(crate) fn ready(cx: &Cx<'_>, g: Guest) -> anyhow::Result<Result<(), String>> {
    g.ready(cx.layout(), cx.runner())
}

/// argv from words.
pub(crate) fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// The external volumes of `d` that do not exist yet in its VM (`docker volume inspect`).
pub(crate) fn missing_volumes(
    cx: &Cx<'_>,
    g: Guest,
    d: &crate::stacks::Desired,
) -> anyhow::Result<Vec<crate::stacks::Volume>> {
    let mut out = Vec::new();
    for v in &d.volumes {
        let r = g.exec(
            cx.runner(),
            &s(&["docker", "volume", "inspect", &v.name]),
            false,
        )?;
        if r.code != 0 {
            out.push(v.clone());
        }
    }
    Ok(out)
}

/// The plan line for a volume to create.
pub(crate) fn volume_change(vm: GuestId, v: &crate::stacks::Volume) -> Change {
    Change::new(Op::Add, "volume", format!("{} in VM {vm}", v.name)).to(match &v.nfs {
        Some((server, dir)) => format!("NFS {server}:{dir}"),
        None => "local".to_string(),
    })
}

/// Creates a volume: its directory on this host's NFS share first, then the volume.
pub(crate) fn create_volume(
    cx: &Cx<'_>,
    g: Guest,
    v: &crate::stacks::Volume,
) -> anyhow::Result<()> {
    if let Some((_, dir)) = &v.nfs {
        cx.runner().ensure_dir(&cx.layout().host(dir), 0o755)?;
    }
    g.check(cx.runner(), &v.create_argv(), true)?;
    Ok(())
}

/// A guest's static address (the mesh's reading of `network_config.ip`).
pub(crate) fn ip_of(cfg: &Config, id: GuestId) -> Option<IpAddr> {
    cfg.guest(id).as_ref().and_then(mesh::static_ip)
}

/// Asks for confirmation of `--reset-portainer`: `--yes`, or "yes" typed on a terminal.
pub fn confirm_reset(opts: &Options, dry_run: bool) -> Result<(), String> {
    if !opts.reset || opts.yes || dry_run {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(
            "--reset-portainer deletes every Portainer user, environment and stack; confirm with --yes"
                .into(),
        );
    }
    eprint!(
        "--reset-portainer deletes every Portainer user, environment and stack. Type yes to go on: "
    );
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    if line.trim() == "yes" {
        Ok(())
    } else {
        Err("not confirmed; nothing was changed".into())
    }
}

/// The host's DNS records, once `setup` has installed dnsmasq (sync does not install
/// packages).
fn dns_stage(cx: &Cx<'_>) -> Outcome {
    let enabled = cx
        .cfg()
        .host
        .dns_server
        .as_ref()
        .is_some_and(|d| d.enabled == Some(true));
    if enabled {
        match phoenix_core::host::apt::installed(cx.runner(), &["dnsmasq"]) {
            Ok(have) if have.is_empty() => {
                let why = "dnsmasq is not installed: run `phoenix setup` first".to_string();
                return step::not_ready("sync dns", why);
            }
            Ok(_) => {}
            Err(e) => return Outcome::Failed(format!("{e:#}")),
        }
    }
    step::run_as("sync", &step::dns::Records, &cx.step)
}

/// Runs the stages `opts.target` asks for and returns the summary.
pub fn run(step: step::Ctx<'_>, opts: &Options) -> Report {
    let cfg = step.cfg;
    let cx = Cx {
        roles: mesh::roles(cfg),
        mesh: mesh::mesh(cfg),
        step,
        opts,
    };
    let mut report = Report::titled("sync");
    let mut push = |name: &'static str, o: Outcome| report.steps.push((name, o));
    match &opts.target {
        SyncTarget::Certificates => push("certificates", run_stage(&Certificates, &cx)),
        SyncTarget::Stack { name, vmid } => {
            let vm = vmid.parse::<GuestId>().unwrap_or(GuestId(0));
            push(
                "api",
                run_stage(&ApiStage::new(Some((name.clone(), vm))), &cx),
            );
        }
        SyncTarget::All => {
            push("ca", step::run_as("sync", &step::dns::Ca, &cx.step));
            push("dns", dns_stage(&cx));
            push(
                "firewall",
                step::run_as("sync", &step::firewall::Firewall, &cx.step),
            );
            push("certificates", run_stage(&Certificates, &cx));
            push("portainer", run_stage(&Instances, &cx));
            push("traefik", run_stage(&TraefikStage, &cx));
            push("nginx", run_stage(&NginxStage, &cx));
            push("api", run_stage(&ApiStage::new(None), &cx));
        }
    }
    report
}
