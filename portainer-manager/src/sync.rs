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

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use hypervisor_manager::report::{Outcome, Report};
use hypervisor_manager::steps::{self, StepPlan};
use phoenix_core::cmd::Runner;
use phoenix_core::config::{Config, Guest as CfgGuest};
use phoenix_core::converge::{Change, Op, Plan};
use phoenix_core::ids::GuestId;
use phoenix_core::mesh::{self, Mesh, Roles};
use phoenix_core::paths::Layout;

use crate::api::{Api, Credentials, Environment, StackInfo};
use crate::certs::{self, Due, Issuer};
use crate::guest::Guest;
use crate::http::{Client, RetryPolicy, Secret, Target};
use crate::stacks::{self, Desired, Verdict};
use crate::{SyncTarget, nginx, traefik};

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
    pub step: steps::Ctx<'a>,
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

/// A stage's plan, or why it cannot run yet.
pub enum Planned<A> {
    /// The guest it works in is missing or stopped.
    NotReady(String),
    /// What to change.
    Plan(StepPlan<A>),
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

fn print_plan(name: &str, changes: Vec<Change>) {
    let mut plan = Plan::new(format!("sync {name}"));
    plan.changes = changes;
    print!("{plan}");
}

/// Plans a stage, prints the plan and applies it unless this is a dry run.
pub fn run_stage<S: Stage>(s: &S, cx: &Cx<'_>) -> Outcome {
    let p = match s.plan(cx) {
        Ok(Planned::Plan(p)) => p,
        Ok(Planned::NotReady(why)) => {
            print_plan(s.name(), vec![Change::new(Op::Note, "wait", why.clone())]);
            return Outcome::NotReady(why);
        }
        Err(e) => return Outcome::Failed(format!("{e:#}")),
    };
    print_plan(s.name(), p.changes);
    let outcome = if p.actions.is_empty() {
        Outcome::Ok
    } else if cx.runner().is_dry_run() {
        Outcome::Changed
    } else {
        match s.apply(cx, p.actions) {
            Ok(()) => Outcome::Changed,
            Err(e) => Outcome::Failed(format!("{e:#}")),
        }
    };
    let mut errors = s.deferred_errors();
    if errors.is_empty() {
        return outcome;
    }
    if let Outcome::Failed(e) = outcome {
        errors.insert(0, e);
    }
    Outcome::Failed(errors.join("; "))
}

fn ready(cx: &Cx<'_>, g: Guest) -> anyhow::Result<Result<(), String>> {
    g.ready(cx.layout(), cx.runner())
}

fn ip_of(cfg: &Config, id: GuestId) -> Option<IpAddr> {
    cfg.guest(id)?.ip()?.split('/').next()?.trim().parse().ok()
}

// ---------------------------------------------------------------------------------------
// certificates

/// `certificates`.
pub struct Certificates;

/// A certificate action.
pub enum CertAction {
    /// Issue it again, then run its post-renewal command.
    Renew(usize),
    /// Owner or mode only.
    Fix(usize),
}

fn cert_facts(cx: &Cx<'_>, path: &str) -> Option<Result<certs::Facts, String>> {
    match std::fs::read(cx.layout().host(path)) {
        Ok(b) => Some(certs::inspect(&b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(Err(e.to_string())),
    }
}

/// `(uid, gid)` of `user:group` on the host (`None` part: leave it).
fn owner_ids(
    runner: &Runner,
    c: &phoenix_core::config::certs::Certificate,
) -> anyhow::Result<Option<(u32, u32)>> {
    let Some((user, group)) = certs::owner(c) else {
        return Ok(None);
    };
    let u = phoenix_core::host::accounts::user(runner, &user)?
        .with_context(|| format!("owner of {}: user {user} does not exist", c.common_name))?;
    let gid = match group {
        Some(g) => {
            phoenix_core::host::accounts::group(runner, &g)?
                .with_context(|| format!("owner of {}: group {g} does not exist", c.common_name))?
                .gid
        }
        None => u.gid,
    };
    Ok(Some((u.uid, gid)))
}

fn meta_drift(
    cx: &Cx<'_>,
    c: &phoenix_core::config::certs::Certificate,
) -> anyhow::Result<Vec<String>> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let want_mode = certs::mode(c)?;
    let want_owner = if phoenix_core::cmd::can_chown() {
        owner_ids(cx.runner(), c)?
    } else {
        None
    };
    for p in [&c.cert_path, &c.key_path] {
        let Ok(m) = std::fs::metadata(cx.layout().host(p)) else {
            continue;
        };
        if let Some(mode) = want_mode
            && m.mode() & 0o7777 != mode
        {
            out.push(format!(
                "{p}: mode {:04o}, wanted {mode:04o}",
                m.mode() & 0o7777
            ));
        }
        if let Some((u, g)) = want_owner
            && (m.uid(), m.gid()) != (u, g)
        {
            out.push(format!(
                "{p}: owner {}:{}, wanted {u}:{g}",
                m.uid(),
                m.gid()
            ));
        }
    }
    Ok(out)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

impl Stage for Certificates {
    type Action = CertAction;

    fn name(&self) -> &'static str {
        "certificates"
    }

    fn plan(&self, cx: &Cx<'_>) -> anyhow::Result<Planned<CertAction>> {
        let mut p = StepPlan::default();
        let mut renew = 0;
        for (i, c) in cx.cfg().certificates.iter().enumerate() {
            let d = certs::due(c, cert_facts(cx, &c.cert_path), now());
            if d == Due::No {
                let drift = meta_drift(cx, c)?;
                if !drift.is_empty() {
                    p.push(
                        Change::new(Op::Change, "certificate", c.common_name.clone())
                            .to(drift.join("; ")),
                        CertAction::Fix(i),
                    );
                }
                continue;
            }
            renew += 1;
            let mut ch = Change::new(
                if d == Due::Missing {
                    Op::Add
                } else {
                    Op::Change
                },
                "certificate",
                format!("{} ({})", c.common_name, c.cert_path),
            )
            .from(d.to_string());
            if let Some(post) = certs::post_command(c)? {
                ch = ch.to(format!("issued, then `{}`", post.join(" ")));
            }
            p.push(ch, CertAction::Renew(i));
        }
        if renew > 0 {
            let path = std::env::var_os("PATH");
            if phoenix_core::cmd::resolve_program("step".as_ref(), |k| std::env::var_os(k), path)
                .is_none()
            {
                bail!(
                    "{renew} certificate(s) are due, but the step CLI is not installed (Smallstep's step-cli package)"
                );
            }
            let Some(ca) = cx.roles.ca else {
                bail!("{renew} certificate(s) are due, but no container has the step_ca feature");
            };
            if let Err(why) = ready(cx, Guest::ct(ca))? {
                return Ok(Planned::NotReady(format!(
                    "{renew} certificate(s) are due, but the CA is not available: {why}"
                )));
            }
            let issuer = Issuer::from_config(cx.cfg())
                .context("no provisioner password file: set step_ca.provisioner_password_file")?;
            if !cx.layout().host(&issuer.password_file).is_file() {
                return Ok(Planned::NotReady(format!(
                    "{renew} certificate(s) are due, but the provisioner password file {} does not exist yet (the CA writes it)",
                    issuer.password_file
                )));
            }
        }
        Ok(Planned::Plan(p))
    }

    fn apply(&self, cx: &Cx<'_>, actions: Vec<CertAction>) -> anyhow::Result<()> {
        let issuer = Issuer::from_config(cx.cfg());
        let host = |p: &str| cx.layout().host(p).display().to_string();
        let mut failed = Vec::new();
        for a in actions {
            let (i, renew) = match a {
                CertAction::Renew(i) => (i, true),
                CertAction::Fix(i) => (i, false),
            };
            let c = &cx.cfg().certificates[i];
            let r = (|| -> anyhow::Result<()> {
                if renew {
                    let issuer = issuer.as_ref().context("no provisioner password file")?;
                    for p in [&c.cert_path, &c.key_path] {
                        if let Some(dir) = cx.layout().host(p).parent() {
                            cx.runner().ensure_dir(dir, 0o755)?;
                        }
                    }
                    cx.runner()
                        .run(&issuer.command(c, host))
                        .with_context(|| format!("step could not issue {}", c.common_name))?;
                }
                let mode = certs::mode(c)?;
                let owner = owner_ids(cx.runner(), c)?;
                for p in [&c.cert_path, &c.key_path] {
                    let hp = cx.layout().host(p);
                    if let Some(m) = mode {
                        cx.runner().set_mode(&hp, m)?;
                    }
                    if let Some((u, g)) = owner
                        && phoenix_core::cmd::can_chown()
                    {
                        cx.runner().set_owner(&hp, u, g)?;
                    }
                }
                if renew && let Some(argv) = certs::post_command(c)? {
                    if let Some((kind, id)) = certs::post_guest(&argv) {
                        let g = Guest { kind, id };
                        if let Err(why) = ready(cx, g)? {
                            tracing::info!(
                                "{}: `{}` not run: {why} (it reads the new certificate when it starts)",
                                c.common_name,
                                argv.join(" ")
                            );
                            return Ok(());
                        }
                    }
                    cx.runner()
                        .run(&phoenix_core::cmd::Cmd::mutate(&argv[0]).args(&argv[1..]))
                        .with_context(|| {
                            format!(
                                "{} was renewed, but its post_renewal_command failed",
                                c.common_name
                            )
                        })?;
                }
                Ok(())
            })();
            if let Err(e) = r {
                tracing::error!("certificate {}: {e:#}", c.common_name);
                failed.push(format!("{}: {e:#}", c.common_name));
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(anyhow!(failed.join("; ")))
        }
    }
}

// ---------------------------------------------------------------------------------------
// portainer: the server's stacks and the agents

/// `portainer`.
pub struct Instances;

/// The container name of the agent.
pub const AGENT_CONTAINER: &str = "portainer_agent";

/// What the instances stage does.
pub enum InstanceAction {
    /// Stop a server stack and delete its data (`--reset-portainer`).
    Reset {
        /// VM.
        vm: GuestId,
        /// Compose project.
        project: String,
        /// Compose file in the VM.
        file: String,
        /// Bind-mounted data directory in the VM, or a named volume.
        data: Option<String>,
    },
    /// Write a file in a VM.
    Write {
        /// VM.
        vm: GuestId,
        /// Guest path.
        path: String,
        /// Content.
        data: Vec<u8>,
        /// Mode.
        mode: u32,
    },
    /// `docker compose up -d`.
    Up {
        /// VM.
        vm: GuestId,
        /// Project.
        project: String,
        /// Compose file in the VM.
        file: String,
    },
    /// Run a mutating command in a VM.
    Run {
        /// VM.
        vm: GuestId,
        /// argv.
        argv: Vec<String>,
    },
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Where a compose file maps Portainer's `/data` (pure): a host directory or a volume name.
pub fn data_source(compose: &str) -> Option<String> {
    compose.lines().find_map(|l| {
        let item = l.trim().strip_prefix('-')?.trim().trim_matches(['"', '\'']);
        let mut parts = item.split(':');
        let src = parts.next()?;
        (parts.next()? == "/data").then(|| src.to_string())
    })
}

/// Whether a compose file runs the Portainer server.
pub fn is_portainer_server(compose: &str) -> bool {
    compose.contains("portainer/portainer-ce") || compose.contains("portainer/portainer-ee")
}

/// The files of a stack in its VM: the compose file, `.env` (mode 0600) when it has
/// variables, and its files.
fn stack_files(d: &Desired) -> Vec<(String, Vec<u8>, u32)> {
    let dir = stacks::stack_dir(&d.stack, &d.environment);
    let mut v = vec![(
        format!("{dir}/docker-compose.yml"),
        d.content.clone().into_bytes(),
        0o644,
    )];
    if !d.env.is_empty() {
        let text: String = d
            .env
            .iter()
            .map(|(k, val)| format!("{k}={val}\n"))
            .collect();
        v.push((format!("{dir}/.env"), text.into_bytes(), 0o600));
    }
    for (p, data) in &d.files {
        v.push((p.clone(), data.clone(), 0o640));
    }
    v
}

impl Stage for Instances {
    type Action = InstanceAction;

    fn name(&self) -> &'static str {
        "portainer"
    }

    fn plan(&self, cx: &Cx<'_>) -> anyhow::Result<Planned<InstanceAction>> {
        let Some(primary) = cx.roles.portainer else {
            return Ok(Planned::NotReady(
                "no VM has portainer_role \"primary\"".into(),
            ));
        };
        let server = Guest::vm(primary);
        if let Err(why) = ready(cx, server)? {
            return Ok(Planned::NotReady(format!("the Portainer server's {why}")));
        }
        let r = cx.runner();
        let mut p = StepPlan::default();
        let mut errors = Vec::new();
        for (label, d) in stacks::desired_for(cx.cfg(), primary) {
            let d = match d {
                Ok(d) => d,
                Err(e) => {
                    errors.push(format!("{label}: {e:#}"));
                    continue;
                }
            };
            let dir = stacks::stack_dir(&d.stack, &d.environment);
            let file = format!("{dir}/docker-compose.yml");
            if cx.opts.reset && is_portainer_server(&d.content) {
                p.push(
                    Change::new(
                        Op::Remove,
                        "reset",
                        format!("Portainer's data in VM {primary} ({})", d.name),
                    )
                    .from("users, environments and stacks")
                    .to("a fresh server"),
                    InstanceAction::Reset {
                        vm: primary,
                        project: d.name.clone(),
                        file: file.clone(),
                        data: data_source(&d.content),
                    },
                );
            }
            let mut changed = cx.opts.reset && is_portainer_server(&d.content);
            for (path, data, mode) in stack_files(&d) {
                let have = server.read(r, &path)?;
                if have.as_deref().map(str::as_bytes) != Some(&data[..]) {
                    changed = true;
                    p.push(
                        Change::new(
                            if have.is_none() { Op::Add } else { Op::Change },
                            "file",
                            format!("VM {primary}:{path}"),
                        ),
                        InstanceAction::Write {
                            vm: primary,
                            path,
                            data,
                            mode,
                        },
                    );
                }
            }
            let ps = server.exec(
                r,
                &s(&["docker", "compose", "-f", &file, "-p", &d.name, "ps", "-q"]),
                false,
            )?;
            let running = ps.code == 0 && !ps.out.trim().is_empty();
            if changed || !running {
                p.push(
                    Change::new(
                        Op::Run,
                        "stack",
                        format!("docker compose up {} in VM {primary}", d.name),
                    )
                    .from(if running {
                        "running, changed"
                    } else {
                        "not running"
                    }),
                    InstanceAction::Up {
                        vm: primary,
                        project: d.name.clone(),
                        file,
                    },
                );
            }
        }
        let host = &cx.cfg().host;
        let port = host.network.portainer_agent_port.unwrap_or(9001);
        let image = host
            .docker
            .portainer_agent_image
            .clone()
            .unwrap_or_else(|| "portainer/agent:latest".into());
        for &a in &cx.roles.agents {
            let g = Guest::vm(a);
            if let Err(why) = ready(cx, g)? {
                p.note("agent", format!("the agent waits: {why}"));
                continue;
            }
            let st = g.exec(
                r,
                &s(&[
                    "docker",
                    "inspect",
                    "--format",
                    "{{.State.Running}}",
                    AGENT_CONTAINER,
                ]),
                false,
            )?;
            if st.code != 0 {
                p.push(
                    Change::new(Op::Add, "agent", format!("{AGENT_CONTAINER} in VM {a}"))
                        .to(format!("{image}, port {port}")),
                    InstanceAction::Run {
                        vm: a,
                        argv: s(&[
                            "docker",
                            "run",
                            "-d",
                            "--name",
                            AGENT_CONTAINER,
                            "--restart=always",
                            "-p",
                            &format!("{port}:9001"),
                            "-v",
                            "/var/run/docker.sock:/var/run/docker.sock",
                            "-v",
                            "/var/lib/docker/volumes:/var/lib/docker/volumes",
                            &image,
                        ]),
                    },
                );
            } else if st.out.trim() != "true" {
                p.push(
                    Change::new(
                        Op::Run,
                        "agent",
                        format!("docker start {AGENT_CONTAINER} in VM {a}"),
                    )
                    .from("stopped"),
                    InstanceAction::Run {
                        vm: a,
                        argv: s(&["docker", "start", AGENT_CONTAINER]),
                    },
                );
            }
        }
        if !errors.is_empty() {
            bail!(errors.join("; "));
        }
        Ok(Planned::Plan(p))
    }

    fn apply(&self, cx: &Cx<'_>, actions: Vec<InstanceAction>) -> anyhow::Result<()> {
        let r = cx.runner();
        for a in actions {
            match a {
                InstanceAction::Reset {
                    vm,
                    project,
                    file,
                    data,
                } => {
                    let g = Guest::vm(vm);
                    tracing::warn!("resetting Portainer in VM {vm}: all of its data is deleted");
                    g.check(
                        r,
                        &s(&[
                            "docker", "compose", "-f", &file, "-p", &project, "down", "-v",
                        ]),
                        true,
                    )?;
                    match data {
                        Some(d) if d.starts_with('/') && d != "/" => {
                            g.check(r, &s(&["rm", "-rf", &d]), true)?;
                        }
                        Some(volume) if !volume.starts_with('.') && !volume.contains('/') => {
                            g.exec(r, &s(&["docker", "volume", "rm", "-f", &volume]), true)?;
                        }
                        _ => {}
                    }
                }
                InstanceAction::Write {
                    vm,
                    path,
                    data,
                    mode,
                } => Guest::vm(vm).write(r, cx.layout(), &path, &data, mode)?,
                InstanceAction::Up { vm, project, file } => {
                    Guest::vm(vm).check(
                        r,
                        &s(&[
                            "docker",
                            "compose",
                            "-f",
                            &file,
                            "-p",
                            &project,
                            "up",
                            "-d",
                            "--remove-orphans",
                        ]),
                        true,
                    )?;
                }
                InstanceAction::Run { vm, argv } => {
                    Guest::vm(vm).check(r, &argv, true)?;
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// traefik

/// Traefik's file-provider directory and file.
pub const TRAEFIK_DYNAMIC: &str = "/etc/traefik/dynamic/dynamic_conf.yml";
/// Where the new file is staged (Traefik's file provider reads only `.yml`, `.yaml` and
/// `.toml` files, so the staged copy is not loaded half-written).
pub const TRAEFIK_STAGED: &str = "/etc/traefik/dynamic/.dynamic_conf.yml.phoenix-new";

/// `traefik`.
pub struct TraefikStage;

/// The generated file, checked: Traefik has no configuration checker of its own (its
/// maintainers point at a YAML parser), so the file is parsed back and every router must
/// name a service it defines (or the dashboard's `api@internal`).
pub fn traefik_file(cx: &Cx<'_>, ct: GuestId) -> anyhow::Result<String> {
    let root = traefik::root_ca_in_container(cx.cfg(), ct);
    let text = traefik::dynamic_config(&cx.mesh, root.as_deref());
    check_traefik(&text)?;
    Ok(text)
}

/// Parses Traefik's dynamic configuration and checks that every router's service exists.
pub fn check_traefik(text: &str) -> anyhow::Result<()> {
    let v: serde_yaml::Value =
        serde_yaml::from_str(text).context("the generated Traefik configuration is not YAML")?;
    let http = &v["http"];
    let services = &http["services"];
    if let Some(routers) = http["routers"].as_mapping() {
        for (name, r) in routers {
            let svc = r["service"].as_str().unwrap_or_default();
            if svc != "api@internal" && services.get(svc).is_none() {
                bail!(
                    "the generated Traefik configuration routes {} to service {svc:?}, which it does not define",
                    name.as_str().unwrap_or("?")
                );
            }
        }
    }
    Ok(())
}

impl Stage for TraefikStage {
    type Action = String;

    fn name(&self) -> &'static str {
        "traefik"
    }

    fn plan(&self, cx: &Cx<'_>) -> anyhow::Result<Planned<String>> {
        let Some(ct) = cx.roles.traefik else {
            return Ok(Planned::NotReady(
                "no container has the traefik feature".into(),
            ));
        };
        let g = Guest::ct(ct);
        if let Err(why) = ready(cx, g)? {
            return Ok(Planned::NotReady(why));
        }
        if g.exec(cx.runner(), &s(&["test", "-d", "/etc/traefik"]), false)?
            .code
            != 0
        {
            return Ok(Planned::NotReady(format!(
                "Traefik is not installed in container {ct} (no /etc/traefik; its traefik feature installs it)"
            )));
        }
        let text = traefik_file(cx, ct)?;
        let mut p = StepPlan::default();
        for n in &cx.mesh.notes {
            p.note("route", n.clone());
        }
        let have = g.read(cx.runner(), TRAEFIK_DYNAMIC)?;
        if have.as_deref() != Some(text.as_str()) {
            let routes = cx.mesh.routes.len();
            p.push(
                Change::new(
                    if have.is_none() { Op::Add } else { Op::Change },
                    "file",
                    format!("container {ct}:{TRAEFIK_DYNAMIC}"),
                )
                .to(format!("{routes} route(s)")),
                text,
            );
        }
        Ok(Planned::Plan(p))
    }

    fn apply(&self, cx: &Cx<'_>, actions: Vec<String>) -> anyhow::Result<()> {
        let ct = cx.roles.traefik.context("no Traefik container")?;
        let g = Guest::ct(ct);
        let r = cx.runner();
        for text in actions {
            g.write(r, cx.layout(), TRAEFIK_STAGED, text.as_bytes(), 0o644)?;
            g.check(r, &s(&["mv", "-f", TRAEFIK_STAGED, TRAEFIK_DYNAMIC]), true)?;
            g.check(r, &s(&["systemctl", "reload-or-restart", "traefik"]), true)
                .context("Traefik did not take the new configuration (see `journalctl -u traefik` in the container)")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// nginx

/// The gateway's site.
pub const NGINX_SITE: &str = "/etc/nginx/sites-available/gateway";
/// Its link.
pub const NGINX_ENABLED: &str = "/etc/nginx/sites-enabled/gateway";
/// The placeholder site the container's setup leaves (P39).
pub const NGINX_DEFAULT: &str = "/etc/nginx/sites-enabled/default";

/// `nginx`.
pub struct NginxStage;

/// What the nginx stage changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NginxAction {
    /// New site content (the old one, if any, for putting back).
    Site(String, Option<String>),
    /// Link it into `sites-enabled`.
    Enable,
    /// Remove the placeholder.
    RemoveDefault,
}

/// The gateway's site for this inventory.
pub fn nginx_site(cx: &Cx<'_>) -> anyhow::Result<String> {
    let site = nginx::site(cx.cfg(), &cx.mesh).map_err(|e| anyhow!(e))?;
    Ok(nginx::gateway_site(&site))
}

impl Stage for NginxStage {
    type Action = NginxAction;

    fn name(&self) -> &'static str {
        "nginx"
    }

    fn plan(&self, cx: &Cx<'_>) -> anyhow::Result<Planned<NginxAction>> {
        let Some(gw) = cx.roles.gateway else {
            return Ok(Planned::NotReady("no gateway container".into()));
        };
        let g = Guest::ct(gw);
        if let Err(why) = ready(cx, g)? {
            return Ok(Planned::NotReady(why));
        }
        let r = cx.runner();
        if g.exec(r, &s(&["test", "-d", "/etc/nginx/sites-enabled"]), false)?
            .code
            != 0
        {
            return Ok(Planned::NotReady(format!(
                "nginx is not installed in container {gw} (no /etc/nginx/sites-enabled; the gateway's application script installs it)"
            )));
        }
        let text = nginx_site(cx)?;
        let mut p = StepPlan::default();
        let have = g.read(r, NGINX_SITE)?;
        if have.as_deref() != Some(text.as_str()) {
            p.push(
                Change::new(
                    if have.is_none() { Op::Add } else { Op::Change },
                    "file",
                    format!("container {gw}:{NGINX_SITE}"),
                ),
                NginxAction::Site(text, have),
            );
        }
        let linked = g.exec(r, &s(&["test", "-L", NGINX_ENABLED]), false)?.code == 0;
        if !linked {
            p.push(
                Change::new(Op::Add, "link", format!("container {gw}:{NGINX_ENABLED}")),
                NginxAction::Enable,
            );
        }
        let placeholder = g.exec(r, &s(&["test", "-e", NGINX_DEFAULT]), false)?.code == 0
            || g.exec(r, &s(&["test", "-L", NGINX_DEFAULT]), false)?.code == 0;
        if placeholder {
            p.push(
                Change::new(
                    Op::Remove,
                    "link",
                    format!("container {gw}:{NGINX_DEFAULT}"),
                )
                .from("the placeholder site (default_server on :80)"),
                NginxAction::RemoveDefault,
            );
        }
        Ok(Planned::Plan(p))
    }

    fn apply(&self, cx: &Cx<'_>, actions: Vec<NginxAction>) -> anyhow::Result<()> {
        let gw = cx.roles.gateway.context("no gateway container")?;
        let g = Guest::ct(gw);
        let r = cx.runner();
        let staged = format!("{NGINX_SITE}.phoenix-new");
        let mut old: Option<Option<String>> = None;
        for a in &actions {
            match a {
                NginxAction::Site(text, before) => {
                    g.write(r, cx.layout(), &staged, text.as_bytes(), 0o644)?;
                    g.check(r, &s(&["mv", "-f", &staged, NGINX_SITE]), true)?;
                    old = Some(before.clone());
                }
                NginxAction::Enable => {
                    g.check(r, &s(&["ln", "-sfn", NGINX_SITE, NGINX_ENABLED]), true)?;
                }
                NginxAction::RemoveDefault => {
                    g.check(r, &s(&["rm", "-f", NGINX_DEFAULT]), true)?;
                }
            }
        }
        let test = g.exec(r, &s(&["nginx", "-t"]), false)?;
        if test.code != 0 {
            match old {
                Some(Some(before)) => {
                    g.write(r, cx.layout(), &staged, before.as_bytes(), 0o644)?;
                    g.check(r, &s(&["mv", "-f", &staged, NGINX_SITE]), true)?;
                }
                Some(None) => {
                    g.check(r, &s(&["rm", "-f", NGINX_SITE, NGINX_ENABLED]), true)?;
                }
                None => {}
            }
            bail!(
                "nginx -t rejected the configuration in container {gw}; the previous site was put back and nginx was not reloaded:\n  {}",
                test.err.trim()
            );
        }
        g.check(r, &s(&["systemctl", "reload", "nginx"]), true)
            .context("nginx did not reload (see `journalctl -u nginx` in the container)")?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// api

/// `api`: the administrator, the agents' environments and their stacks.
pub struct ApiStage {
    /// Only this `(stack, VM)` (`sync stack NAME to VMID`).
    pub only: Option<(String, GuestId)>,
    api: RefCell<Option<Api>>,
    errors: RefCell<Vec<String>>,
}

impl ApiStage {
    /// The stage for every stack, or one.
    pub fn new(only: Option<(String, GuestId)>) -> Self {
        Self {
            only,
            api: RefCell::new(None),
            errors: RefCell::new(Vec::new()),
        }
    }
}

/// What the API stage does.
#[derive(Clone, Debug)]
pub enum ApiAction {
    /// Create the first administrator.
    InitAdmin,
    /// Log in (after `InitAdmin`).
    Login,
    /// Create an agent environment.
    CreateEnvironment {
        /// VM.
        vm: GuestId,
        /// Name.
        name: String,
        /// `tcp://…`.
        url: String,
    },
    /// Write a stack's file in its VM.
    File {
        /// VM.
        vm: GuestId,
        /// Guest path.
        path: String,
        /// Content.
        data: Vec<u8>,
    },
    /// Create or update a stack.
    Stack {
        /// What.
        desired: Box<Desired>,
        /// `None`: create.
        id: Option<u64>,
    },
}

/// The password, from its file (preferred) or inline (with a warning).
pub fn password(cfg: &Config, layout: &Layout) -> anyhow::Result<Secret> {
    let api = cfg
        .host
        .portainer_api
        .as_ref()
        .context("portainer_api is not configured")?;
    if let Some(f) = &api.admin_password_file {
        let text = std::fs::read_to_string(layout.host(f))
            .with_context(|| format!("cannot read portainer_api.admin_password_file {f}"))?;
        let pw = text.trim_end_matches(['\n', '\r']);
        if pw.is_empty() {
            bail!("portainer_api.admin_password_file {f} is empty");
        }
        return Ok(Secret::new(pw));
    }
    match api.admin_password.as_deref() {
        Some(p) if !p.is_empty() => {
            tracing::warn!(
                "portainer_api.admin_password is inline in the host configuration; move it to a root-only file named by admin_password_file"
            );
            Ok(Secret::new(p))
        }
        _ => bail!("portainer_api.admin_password_file is not set"),
    }
}

/// Where the API is: `(base URL, connect address)`.
pub fn api_address(cfg: &Config, roles: &Roles) -> anyhow::Result<(String, Option<SocketAddr>)> {
    let api = cfg.host.portainer_api.clone().unwrap_or_default();
    let port = cfg.host.network.portainer_server_port.unwrap_or(9443);
    let base = match &api.url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => {
            let host = api
                .portainer_hostname
                .clone()
                .context("portainer_api.portainer_hostname (or portainer_api.url) is not set")?;
            format!("https://{host}:{port}")
        }
    };
    let url_port = base
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .unwrap_or(443);
    if let Ok(over) = std::env::var("PHOENIX_PORTAINER_CONNECT")
        && !over.is_empty()
    {
        let a: SocketAddr = over
            .parse()
            .with_context(|| format!("PHOENIX_PORTAINER_CONNECT={over} is not ADDRESS:PORT"))?;
        return Ok((base, Some(a)));
    }
    let addr = api
        .connect_address
        .clone()
        .or_else(|| cfg.host.network.portainer_server_ip.clone())
        .or_else(|| {
            roles
                .portainer
                .and_then(|v| ip_of(cfg, v))
                .map(|i| i.to_string())
        });
    let connect = match addr {
        None => None,
        Some(a) => Some(match a.parse::<SocketAddr>() {
            Ok(sa) => sa,
            Err(_) => SocketAddr::new(
                a.split('/')
                    .next()
                    .unwrap_or_default()
                    .parse::<IpAddr>()
                    .with_context(|| format!("Portainer's address {a} is not an IP address"))?,
                url_port,
            ),
        }),
    };
    Ok((base, connect))
}

fn connect(cx: &Cx<'_>) -> anyhow::Result<Api> {
    let cfg = cx.cfg();
    let (base, connect) = api_address(cfg, &cx.roles)?;
    let root = mesh::ca_root_file(cfg)
        .context("step_ca.root_ca_file is not set: Portainer's certificate cannot be verified")?;
    let pem = std::fs::read(cx.layout().host(&root)).with_context(|| {
        format!("cannot read the CA root {root} that Portainer's certificate is verified against")
    })?;
    let client = Client::new(
        Target {
            base,
            connect,
            root_pem: pem,
            root_file: root,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(300),
        },
        RetryPolicy::default(),
        cx.runner().is_dry_run(),
    )?;
    Ok(Api::new(client))
}

fn agent_url(cfg: &Config, vm: GuestId) -> String {
    let port = cfg.host.network.portainer_agent_port.unwrap_or(9001);
    let host = ip_of(cfg, vm)
        .map(|i| i.to_string())
        .or_else(|| match cfg.guest(vm) {
            Some(CfgGuest::Vm(_, v)) => v.portainer_agent_hostname.clone(),
            _ => None,
        });
    format!(
        "tcp://{}:{port}",
        host.unwrap_or_else(|| format!("vm-{vm}"))
    )
}

fn environment_name(cfg: &Config, vm: GuestId) -> String {
    match cfg.guest(vm) {
        Some(CfgGuest::Vm(_, v)) => v
            .portainer_environment_name
            .as_deref()
            .map(|n| n.split_whitespace().collect::<String>())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| v.name.clone()),
        _ => format!("vm-{vm}"),
    }
}

impl Stage for ApiStage {
    type Action = ApiAction;

    fn name(&self) -> &'static str {
        "api"
    }

    fn plan(&self, cx: &Cx<'_>) -> anyhow::Result<Planned<ApiAction>> {
        let cfg = cx.cfg();
        let Some(primary) = cx.roles.portainer else {
            return Ok(Planned::NotReady(
                "no VM has portainer_role \"primary\"".into(),
            ));
        };
        if let Err(why) = ready(cx, Guest::vm(primary))? {
            return Ok(Planned::NotReady(format!("the Portainer server's {why}")));
        }
        let user = cfg
            .host
            .portainer_api
            .as_ref()
            .and_then(|a| a.admin_user.clone())
            .context("portainer_api.admin_user is not set")?;
        let creds = Credentials {
            user,
            password: password(cfg, cx.layout())?,
        };
        let mut api = connect(cx)?;
        let timeout = cfg
            .host
            .portainer_api
            .as_ref()
            .and_then(|a| a.ready_timeout_secs)
            .unwrap_or(180);
        let version = api.wait_ready(Duration::from_secs(timeout))?;
        let mut p = StepPlan::default();
        p.note(
            "server",
            format!("Portainer {version} at {}", api.client().base()),
        );
        let admin = api.admin_exists()?;
        let mut observed: Option<(Vec<Environment>, Vec<StackInfo>)> = None;
        if admin {
            api.login(&creds)?;
            observed = Some((api.environments()?, api.stacks()?));
        } else {
            p.push(
                Change::new(Op::Add, "admin", format!("administrator {}", creds.user)),
                ApiAction::InitAdmin,
            );
            p.push(Change::new(Op::Run, "admin", "log in"), ApiAction::Login);
        }
        let mut errors = Vec::new();
        let agents: Vec<GuestId> = match &self.only {
            Some((_, vm)) => vec![*vm],
            None => cx.roles.agents.clone(),
        };
        for vm in agents {
            let g = Guest::vm(vm);
            let name = environment_name(cfg, vm);
            let env = observed
                .as_ref()
                .and_then(|(envs, _)| envs.iter().find(|e| e.name == name).cloned());
            let want_url = agent_url(cfg, vm);
            let endpoint = match &env {
                Some(e) => {
                    if e.url != want_url {
                        p.note(
                            "environment",
                            format!("{name} points at {}, the inventory says {want_url} (left as it is)", e.url),
                        );
                    }
                    Some(e.id)
                }
                None => {
                    p.push(
                        Change::new(Op::Add, "environment", name.clone()).to(want_url.clone()),
                        ApiAction::CreateEnvironment {
                            vm,
                            name: name.clone(),
                            url: want_url,
                        },
                    );
                    None
                }
            };
            let vm_ready = ready(cx, g)?;
            let mut wanted = stacks::desired_for(cfg, vm);
            if let Some((only, _)) = &self.only
                && !wanted
                    .iter()
                    .any(|(_, d)| d.as_ref().is_ok_and(|d| d.stack == *only))
                && !wanted
                    .iter()
                    .any(|(l, _)| l.starts_with(&format!("{only} (")))
            {
                // Not in the VM's docker_stacks: deployed as asked, in `production`.
                wanted.push((
                    format!("{only} (production) on VM {vm}"),
                    stacks::read(cfg, vm, only, "production"),
                ));
            }
            for (label, d) in wanted {
                let d = match d {
                    Ok(d) => d,
                    Err(e) => {
                        if self
                            .only
                            .as_ref()
                            .is_none_or(|(n, _)| label.starts_with(&format!("{n} ")))
                        {
                            errors.push(format!("{label}: {e:#}"));
                        }
                        continue;
                    }
                };
                if let Some((only, _)) = &self.only
                    && *only != d.stack
                {
                    continue;
                }
                if !d.files.is_empty() {
                    match &vm_ready {
                        Err(why) => {
                            errors.push(format!("{label}: its files cannot be copied: {why}"));
                            continue;
                        }
                        Ok(()) => {
                            for (path, data) in &d.files {
                                let have = g.read(cx.runner(), path)?;
                                if have.as_deref().map(str::as_bytes) != Some(&data[..]) {
                                    p.push(
                                        Change::new(
                                            if have.is_none() { Op::Add } else { Op::Change },
                                            "file",
                                            format!("VM {vm}:{path}"),
                                        ),
                                        ApiAction::File {
                                            vm,
                                            path: path.clone(),
                                            data: data.clone(),
                                        },
                                    );
                                }
                            }
                        }
                    }
                }
                let existing = match (endpoint, &observed) {
                    (Some(eid), Some((_, stacks))) => stacks::find(stacks, &d, eid).cloned(),
                    _ => None,
                };
                let content = match &existing {
                    Some(s) => Some(api.stack_file(s.id)?),
                    None => None,
                };
                match stacks::verdict(&d, existing.as_ref().zip(content.as_deref())) {
                    Verdict::Same => {}
                    Verdict::Create => p.push(
                        Change::new(Op::Add, "stack", format!("{} on {name}", d.name)),
                        ApiAction::Stack {
                            desired: Box::new(d),
                            id: None,
                        },
                    ),
                    Verdict::Update { id, why } => p.push(
                        Change::new(Op::Change, "stack", format!("{} on {name}", d.name)).from(why),
                        ApiAction::Stack {
                            desired: Box::new(d),
                            id: Some(id),
                        },
                    ),
                }
            }
        }
        *self.api.borrow_mut() = Some(api);
        // The stacks that can sync still do; these fail the stage afterwards.
        for e in &errors {
            p.note("error", e.clone());
        }
        *self.errors.borrow_mut() = errors;
        Ok(Planned::Plan(p))
    }

    fn apply(&self, cx: &Cx<'_>, actions: Vec<ApiAction>) -> anyhow::Result<()> {
        let mut guard = self.api.borrow_mut();
        let api = guard.as_mut().context("the API was not reached")?;
        let cfg = cx.cfg();
        let creds = || -> anyhow::Result<Credentials> {
            Ok(Credentials {
                user: cfg
                    .host
                    .portainer_api
                    .as_ref()
                    .and_then(|a| a.admin_user.clone())
                    .unwrap_or_default(),
                password: password(cfg, cx.layout())?,
            })
        };
        let mut endpoints: BTreeMap<GuestId, u64> = BTreeMap::new();
        let mut failed: Vec<String> = Vec::new();
        let mut listed: Option<Vec<Environment>> = None;
        for a in actions {
            match a {
                ApiAction::InitAdmin => api.init_admin(&creds()?)?,
                ApiAction::Login => api.login(&creds()?)?,
                ApiAction::CreateEnvironment { vm, name, url } => {
                    match api.create_agent_environment(&name, &url) {
                        Ok(id) => {
                            endpoints.insert(vm, id);
                        }
                        Err(e) => failed.push(format!("environment {name}: {e:#}")),
                    }
                }
                ApiAction::File { vm, path, data } => {
                    if let Err(e) =
                        Guest::vm(vm).write(cx.runner(), cx.layout(), &path, &data, 0o640)
                    {
                        failed.push(format!("{path} in VM {vm}: {e:#}"));
                    }
                }
                ApiAction::Stack { desired, id } => {
                    let vm = desired.vm;
                    let eid = match endpoints.get(&vm) {
                        Some(e) => Some(*e),
                        None => {
                            if listed.is_none() {
                                listed = Some(api.environments()?);
                            }
                            let name = environment_name(cfg, vm);
                            listed
                                .as_ref()
                                .and_then(|l| l.iter().find(|e| e.name == name))
                                .map(|e| e.id)
                        }
                    };
                    let Some(eid) = eid else {
                        failed.push(format!(
                            "stack {}: VM {vm} has no Portainer environment",
                            desired.name
                        ));
                        continue;
                    };
                    let r = match id {
                        Some(id) => api.update_stack(id, eid, &desired.content, &desired.env),
                        None => api
                            .create_stack(eid, &desired.name, &desired.content, &desired.env)
                            .map(drop),
                    };
                    if let Err(e) = r {
                        failed.push(format!("stack {}: {e:#}", desired.name));
                    }
                }
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(anyhow!(failed.join("; ")))
        }
    }

    fn deferred_errors(&self) -> Vec<String> {
        self.errors.borrow().clone()
    }
}

// ---------------------------------------------------------------------------------------
// the run

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
                print_plan("dns", vec![Change::new(Op::Note, "wait", why.clone())]);
                return Outcome::NotReady(why);
            }
            Ok(_) => {}
            Err(e) => return Outcome::Failed(format!("{e:#}")),
        }
    }
    steps::run(&steps::dns::Records, &cx.step)
}

/// Runs the stages `opts.target` asks for and returns the summary.
pub fn run(step: steps::Ctx<'_>, opts: &Options) -> Report {
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
            push("ca", steps::run(&steps::dns::Ca, &cx.step));
            push("dns", dns_stage(&cx));
            push("firewall", steps::run(&steps::firewall::Firewall, &cx.step));
            push("certificates", run_stage(&Certificates, &cx));
            push("portainer", run_stage(&Instances, &cx));
            push("traefik", run_stage(&TraefikStage, &cx));
            push("nginx", run_stage(&NginxStage, &cx));
            push("api", run_stage(&ApiStage::new(None), &cx));
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portainers_data_is_found_in_the_compose_file() {
        let example = "services:\n  portainer:\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n      - /persistent-storage/portainer/data:/data\n";
        assert_eq!(
            data_source(example).as_deref(),
            Some("/persistent-storage/portainer/data")
        );
        let reference = "    volumes:\n      - portainer_data_nfs:/data\n";
        assert_eq!(
            data_source(reference).as_deref(),
            Some("portainer_data_nfs")
        );
        assert_eq!(data_source("    - ./x:/data:ro\n").as_deref(), Some("./x"));
        assert_eq!(data_source("image: x\n"), None);
    }
}
