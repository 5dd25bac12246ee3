//! The service mesh (pure): which guests play which role, and which host names Traefik routes
//! to which upstream. The DNS step, the Traefik generator and the Nginx generator all read
//! this one model, so a name the gateway serves is a name DNS publishes and Traefik routes.
//!
//! The path of a request: DNS answers every route host with the gateway's address; the
//! gateway (Nginx) ends TLS and passes the request to Traefik's `web` entrypoint; Traefik
//! picks the route by host and forwards it to the upstream, re-encrypting for `https`
//! upstreams.
//!
//! # Rules
//!
//! See [`roles`] for the roles and [`mesh`] for the routes: their sources and order,
//! schemes, names, de-duplication. Nothing here reads a file or runs a command.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::config::formats::{self, IpSetting};
use crate::config::stacks::StackService;
use crate::config::{Config, Guest};
use crate::ids::GuestId;

/// The Traefik dashboard's route name.
pub const DASHBOARD: &str = "traefik-dashboard";

/// The Portainer agent's port when `network.portainer_agent_port` is not set.
const DEFAULT_AGENT_PORT: u16 = 9001;

/// Which guest plays which part in the mesh.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roles {
    /// The Nginx gateway container (TLS ends here).
    pub gateway: Option<GuestId>,
    /// The Traefik container.
    pub traefik: Option<GuestId>,
    /// The step-ca container.
    pub ca: Option<GuestId>,
    /// The VM with `portainer_role: primary` (the Portainer server).
    pub portainer: Option<GuestId>,
    /// The VMs with `portainer_role: agent`, in configuration order.
    pub agents: Vec<GuestId>,
}

/// The roles of the configured guests. Templates never take a role.
///
/// - Containers are considered in ascending CTID order (the shell version hard-coded 101,
///   102 and 103):
///   - `traefik`: the first container with the feature `traefik`;
///   - `ca`: the first container with the feature `step_ca`;
///   - `gateway`: the first container whose `application_script` or name contains `nginx` or
///     `gateway` (case-insensitive); when none does, container 101 if it is configured (the
///     shell version's fixed gateway).
/// - VMs are considered in file order:
///   - `portainer`: the first VM with `portainer_role: primary`;
///   - `agents`: every VM with `portainer_role: agent`.
pub fn roles(cfg: &Config) -> Roles {
    let mut r = Roles::default();
    let containers: Vec<(GuestId, &crate::config::lxc::Container)> = cfg
        .guests()
        .into_iter()
        .filter_map(|g| match g {
            Guest::Lxc(id, c) if !c.is_template() => Some((id, c)),
            _ => None,
        })
        .collect();
    let has = |c: &crate::config::lxc::Container, f: &str| c.features.iter().any(|x| x == f);
    r.traefik = containers
        .iter()
        .find(|(_, c)| has(c, "traefik"))
        .map(|(id, _)| *id);
    r.ca = containers
        .iter()
        .find(|(_, c)| has(c, "step_ca"))
        .map(|(id, _)| *id);
    let mentions = |s: &str| {
        let s = s.to_ascii_lowercase();
        s.contains("nginx") || s.contains("gateway")
    };
    r.gateway = containers
        .iter()
        .find(|(_, c)| mentions(&c.name) || c.application_script.as_deref().is_some_and(mentions))
        .or_else(|| containers.iter().find(|(id, _)| *id == GuestId(101)))
        .map(|(id, _)| *id);
    for v in cfg.vm.vms.iter().filter(|v| !v.is_template()) {
        let Some(id) = v.vmid.map(|r| r.0) else {
            continue;
        };
        match v.portainer_role.as_deref().map(str::trim) {
            Some(p) if p.eq_ignore_ascii_case("primary") && r.portainer.is_none() => {
                r.portainer = Some(id);
            }
            Some(a) if a.eq_ignore_ascii_case("agent") => r.agents.push(id),
            _ => {}
        }
    }
    r
}

/// How Traefik talks to an upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTPS, verified against the internal CA.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// `http` or `https`, case-insensitive.
    pub fn parse(s: &str) -> Option<Scheme> {
        match s.trim().to_ascii_lowercase().as_str() {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            _ => None,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a route goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// A guest's service.
    Upstream {
        /// `http` or `https`.
        scheme: Scheme,
        /// The guest's static address.
        address: IpAddr,
        /// The port it listens on (for a stack, the port the VM publishes).
        port: u16,
    },
    /// Traefik's own dashboard (`api@internal`).
    Dashboard,
}

impl Target {
    /// `<scheme>://<address>:<port>` of an upstream (IPv6 in brackets).
    pub fn url(&self) -> Option<String> {
        match self {
            Target::Upstream {
                scheme,
                address,
                port,
            } => Some(format!("{scheme}://{}", SocketAddr::new(*address, *port))),
            Target::Dashboard => None,
        }
    }

    /// Whether Traefik must speak TLS to it.
    pub fn is_https(&self) -> bool {
        matches!(
            self,
            Target::Upstream {
                scheme: Scheme::Https,
                ..
            }
        )
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.url() {
            Some(u) => f.write_str(&u),
            None => f.write_str("api@internal"),
        }
    }
}

/// One route: a host name Traefik sends to a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Router and service name (`[a-z0-9][a-z0-9_-]*`).
    pub name: String,
    /// Fully qualified host name, lower-case.
    pub host: String,
    /// Where it goes.
    pub target: Target,
    /// What in the configuration asked for it (`VM 1001 traefik_service`, `stack qdrant on
    /// VM 1002`).
    pub from: String,
}

/// Every route, and what was left out and why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mesh {
    /// Routes in order (see [`mesh`]).
    pub routes: Vec<Route>,
    /// Why something configured is not routed, one sentence each.
    pub notes: Vec<String>,
}

/// The routes of the configuration.
///
/// # Sources, in this order
///
/// 1. `traefik_service` of every guest that is not a template: VMs first (file order), then
///    containers (ascending CTID), as the shell version listed them. The route is named
///    `traefik_service.name`, its host is `<name>.<domain_name>` and its upstream is the
///    guest's static address (none → a note, no route) and `traefik_service.port`. The scheme
///    is `traefik_service.scheme` when given; otherwise `https` for a VM, for the CA container
///    and for port 443, else `http`. (The shell version used `https` for every VM and `http`
///    for every container, so step-ca and the gateway got plain HTTP on TLS ports — P37.)
///    The gateway's own `traefik_service` is not routed: the gateway forwards every request
///    to Traefik, so a route back to it would loop (a note says so). A Portainer agent's
///    route on the agent port gets a note: the agent serves a self-signed certificate the
///    internal-CA transport rejects.
/// 2. Docker stacks: for every VM that is not a template, every `docker_stacks` entry (with
///    its environment, `production` unless given), every service of that environment of the
///    stack's manifest (by service name), its `traefik_labels`:
///    `traefik.http.routers.<r>.rule=Host(`h`)` (several `Host(…)` joined by `||` → the first
///    host is routed, the others named in a note), the router's service (its
///    `traefik.http.routers.<r>.service` label, else the only service, else the service named
///    `<r>`), `traefik.http.services.<s>.loadbalancer.server.port=<n>` and optionally
///    `…server.scheme=<http|https>` (default `http`). The route is named `<r>`; its upstream
///    is the VM's static address and the label's port, taken as the port the VM publishes
///    (the compose file maps it 1:1). `traefik.enable=false` skips the service; a router
///    without a rule or a port, or with another kind of rule, is a note. Other labels
///    (entrypoints, TLS, resolvers) do not apply: TLS ends at the gateway, and Traefik's
///    routes all use its `web` entrypoint (P38).
/// 3. The Traefik dashboard, `traefik-dashboard` on `traefik.<domain_name>`, when a Traefik
///    container exists.
///
/// # Names and de-duplication
///
/// Names and hosts are lower-cased; a name must match `[a-z0-9][a-z0-9_-]*` and a host must
/// be a DNS name, else a note and no route. The first route for a name or a host wins. A
/// later one routing the same host to the same target is dropped silently (a stack label
/// repeating the VM's own `traefik_service`); any other clash is dropped with a note naming
/// both sources. Without `domain_name` there are no routes (a note).
pub fn mesh(cfg: &Config) -> Mesh {
    let mut m = Builder::default();
    let Some(domain) = cfg
        .host
        .domain_name
        .as_deref()
        .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
    else {
        m.notes
            .push("domain_name is not set: nothing is routed".to_string());
        return m.done();
    };
    let roles = roles(cfg);
    let agent_port = cfg
        .host
        .network
        .portainer_agent_port
        .unwrap_or(DEFAULT_AGENT_PORT);

    // 1. Guests' traefik_service: VMs in file order, then containers by CTID.
    let vms = cfg
        .vm
        .vms
        .iter()
        .filter_map(|v| v.vmid.map(|r| Guest::Vm(r.0, v)));
    let cts = cfg
        .guests()
        .into_iter()
        .filter(|g| matches!(g, Guest::Lxc(..)));
    for g in vms.chain(cts) {
        if g.is_template() {
            continue;
        }
        let svc = match g {
            Guest::Lxc(_, c) => c.traefik_service.as_ref(),
            Guest::Vm(_, v) => v.traefik_service.as_ref(),
        };
        let Some(svc) = svc else { continue };
        let from = format!("{} traefik_service", guest_label(&g));
        let name = svc.name.trim().to_ascii_lowercase();
        if Some(g.id()) == roles.gateway {
            m.notes.push(format!(
                "{from} {name}: not routed; {} is the gateway, which forwards every request \
                 to Traefik, so a route back to it would loop",
                guest_label(&g)
            ));
            continue;
        }
        let Some(address) = static_ip(&g) else {
            m.notes.push(format!(
                "{from} {name}: {} has no static address; not routed",
                guest_label(&g)
            ));
            continue;
        };
        let scheme = match svc.scheme.as_deref() {
            Some(s) => match Scheme::parse(s) {
                Some(s) => s,
                None => {
                    m.notes.push(format!(
                        "{from} {name}: scheme {s:?} is neither http nor https; not routed"
                    ));
                    continue;
                }
            },
            None if matches!(g, Guest::Vm(..)) || Some(g.id()) == roles.ca || svc.port == 443 => {
                Scheme::Https
            }
            None => Scheme::Http,
        };
        if svc.port == 0 {
            m.notes
                .push(format!("{from} {name}: port 0 is not a port; not routed"));
            continue;
        }
        if roles.agents.contains(&g.id()) && svc.port == agent_port {
            m.notes.push(format!(
                "{from} {name}: port {agent_port} is the Portainer agent, which serves a \
                 self-signed certificate that Traefik's internal-CA transport rejects"
            ));
        }
        // A dotted service name (`vllm-qwen2.5-7b-awq`, in the shell version's files from
        // 2025-11-10) is a host name of several labels; Traefik's router and service are named
        // with the dots turned into dashes.
        m.add(
            &name.replace('.', "-"),
            &format!("{name}.{domain}"),
            Target::Upstream {
                scheme,
                address,
                port: svc.port,
            },
            from,
        );
    }

    // 2. Stacks' Traefik labels.
    for v in cfg.vm.vms.iter().filter(|v| !v.is_template()) {
        let Some(id) = v.vmid.map(|r| r.0) else {
            continue;
        };
        let g = Guest::Vm(id, v);
        for sr in &v.docker_stacks {
            let from = format!("stack {} on {}", sr.name(), guest_label(&g));
            let Some(stack) = cfg.stacks.get(sr.name()) else {
                m.notes
                    .push(format!("{from}: no such stack in the stacks directory"));
                continue;
            };
            let Some(env) = stack.manifest.environments.get(sr.environment()) else {
                m.notes.push(format!(
                    "{from}: the manifest has no environment {:?}",
                    sr.environment()
                ));
                continue;
            };
            for (svc_name, svc) in &env.services {
                stack_routes(&mut m, &g, svc_name, svc, &from);
            }
        }
    }

    // 3. The dashboard.
    if roles.traefik.is_some() {
        let host = format!("traefik.{domain}");
        m.add(
            DASHBOARD,
            &host,
            Target::Dashboard,
            "Traefik dashboard".into(),
        );
    }
    m.done()
}

/// The routes of one stack service's labels.
fn stack_routes(m: &mut Builder, vm: &Guest<'_>, svc_name: &str, svc: &StackService, from: &str) {
    if svc.traefik_labels.is_empty() {
        return;
    }
    let what = format!("{from}, service {svc_name}");
    let labels = Labels::parse(&svc.traefik_labels, &what, &mut m.notes);
    if !labels.enabled {
        return;
    }
    if labels.routers.is_empty() {
        m.notes.push(format!(
            "{what}: the Traefik labels define no router with a rule; not routed"
        ));
        return;
    }
    let Some(address) = static_ip(vm) else {
        m.notes.push(format!(
            "{what}: {} has no static address; not routed",
            guest_label(vm)
        ));
        return;
    };
    for r in &labels.routers {
        let Some(rule) = &r.rule else {
            m.notes
                .push(format!("{what}: router {} has no rule; not routed", r.name));
            continue;
        };
        let hosts = match hosts_of_rule(rule) {
            Ok(h) => h,
            Err(e) => {
                m.notes
                    .push(format!("{what}: router {}: {e}; not routed", r.name));
                continue;
            }
        };
        if hosts.len() > 1 {
            m.notes.push(format!(
                "{what}: router {} names several hosts; only {} is routed, not {}",
                r.name,
                hosts[0],
                hosts[1..].join(", ")
            ));
        }
        let service = match &r.service {
            Some(s) => labels.services.iter().find(|x| x.name == *s),
            None if labels.services.len() == 1 => labels.services.first(),
            None => labels.services.iter().find(|x| x.name == r.name),
        };
        let Some(port) = service.and_then(|s| s.port.as_deref()) else {
            m.notes.push(format!(
                "{what}: router {} has no loadbalancer.server.port; not routed",
                r.name
            ));
            continue;
        };
        let Some(port) = port.parse::<u16>().ok().filter(|p| *p > 0) else {
            m.notes.push(format!(
                "{what}: router {}: port {port:?} is not a port; not routed",
                r.name
            ));
            continue;
        };
        let scheme = match service.and_then(|s| s.scheme.as_deref()) {
            None => Scheme::Http,
            Some(s) => match Scheme::parse(s) {
                Some(s) => s,
                None => {
                    m.notes.push(format!(
                        "{what}: router {}: scheme {s:?} is neither http nor https; not routed",
                        r.name
                    ));
                    continue;
                }
            },
        };
        m.add(
            &r.name.to_ascii_lowercase(),
            &hosts[0],
            Target::Upstream {
                scheme,
                address,
                port,
            },
            from.to_string(),
        );
    }
}

/// A router from labels.
#[derive(Debug, Default)]
struct LabelRouter {
    name: String,
    rule: Option<String>,
    service: Option<String>,
}

/// A service from labels.
#[derive(Debug, Default)]
struct LabelService {
    name: String,
    port: Option<String>,
    scheme: Option<String>,
}

/// What a service's Traefik labels say, in order of first mention.
#[derive(Debug)]
struct Labels {
    enabled: bool,
    routers: Vec<LabelRouter>,
    services: Vec<LabelService>,
}

impl Labels {
    /// Reads `key=value` labels; malformed ones become notes. Option names are
    /// case-insensitive, as Traefik reads them; router and service names are kept as written.
    fn parse(labels: &[String], what: &str, notes: &mut Vec<String>) -> Labels {
        let mut l = Labels {
            enabled: true,
            routers: Vec::new(),
            services: Vec::new(),
        };
        for label in labels {
            let Some((k, v)) = label.split_once('=') else {
                notes.push(format!("{what}: label {label:?} is not key=value; ignored"));
                continue;
            };
            let (k, v) = (k.trim(), v.trim());
            let lower = k.to_ascii_lowercase();
            if lower == "traefik.enable" {
                l.enabled = !v.eq_ignore_ascii_case("false");
            } else if let Some(rest) = strip_prefix_ci(k, "traefik.http.routers.") {
                let Some((name, opt)) = rest.split_once('.') else {
                    continue;
                };
                let i = match l.routers.iter().position(|r| r.name == name) {
                    Some(i) => i,
                    None => {
                        l.routers.push(LabelRouter {
                            name: name.to_string(),
                            ..Default::default()
                        });
                        l.routers.len() - 1
                    }
                };
                match opt.to_ascii_lowercase().as_str() {
                    "rule" => l.routers[i].rule = Some(v.to_string()),
                    "service" => l.routers[i].service = Some(v.to_string()),
                    _ => {}
                }
            } else if let Some(rest) = strip_prefix_ci(k, "traefik.http.services.") {
                let Some((name, opt)) = rest.split_once('.') else {
                    continue;
                };
                let i = match l.services.iter().position(|s| s.name == name) {
                    Some(i) => i,
                    None => {
                        l.services.push(LabelService {
                            name: name.to_string(),
                            ..Default::default()
                        });
                        l.services.len() - 1
                    }
                };
                match opt.to_ascii_lowercase().as_str() {
                    "loadbalancer.server.port" => l.services[i].port = Some(v.to_string()),
                    "loadbalancer.server.scheme" => l.services[i].scheme = Some(v.to_string()),
                    _ => {}
                }
            }
        }
        l
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The hosts of a rule made only of `Host(…)` matchers joined by `||`, lower-cased. Each
/// matcher takes one host in backticks or double quotes (Traefik v3), or several separated by
/// commas (Traefik v2).
fn hosts_of_rule(rule: &str) -> Result<Vec<String>, String> {
    let bad = || format!("rule {rule:?} is not Host(`…`) matchers joined by ||");
    let mut hosts = Vec::new();
    for term in rule.split("||") {
        let t = term.trim();
        let inner = strip_prefix_ci(t, "Host(")
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(bad)?;
        for arg in inner.split(',') {
            let a = arg.trim();
            let h = ['`', '"']
                .into_iter()
                .find_map(|q| {
                    let h = a.strip_prefix(q)?.strip_suffix(q)?;
                    let plain = !h.contains(q)
                        && !h.contains(['(', ')'])
                        && !h.contains(char::is_whitespace);
                    plain.then_some(h)
                })
                .ok_or_else(bad)?;
            hosts.push(h.trim_end_matches('.').to_ascii_lowercase());
        }
    }
    if hosts.is_empty() {
        return Err(bad());
    }
    Ok(hosts)
}

/// Collects routes with the de-duplication rules of [`mesh`].
#[derive(Default)]
struct Builder {
    routes: Vec<Route>,
    notes: Vec<String>,
}

impl Builder {
    fn add(&mut self, name: &str, host: &str, target: Target, from: String) {
        if !valid_name(name) {
            self.notes.push(format!(
                "{from}: {name:?} is not a route name (lower-case letters, digits, '-' and '_', \
                 starting with a letter or digit); not routed"
            ));
            return;
        }
        if let Err(e) = formats::dns_name(host) {
            self.notes
                .push(format!("{from}: route {name}: {e}; not routed"));
            return;
        }
        let route = Route {
            name: name.to_string(),
            host: host.to_string(),
            target,
            from,
        };
        if let Some(prev) = self
            .routes
            .iter()
            .find(|p| p.name == route.name || p.host == route.host)
        {
            if prev.host == route.host && prev.target == route.target {
                return;
            }
            self.notes.push(format!(
                "{}: route {} ({} -> {}) clashes with route {} ({} -> {}) from {}, which wins; \
                 not routed",
                route.from,
                route.name,
                route.host,
                route.target,
                prev.name,
                prev.host,
                prev.target,
                prev.from
            ));
            return;
        }
        self.routes.push(route);
    }

    fn done(self) -> Mesh {
        Mesh {
            routes: self.routes,
            notes: self.notes,
        }
    }
}

/// Whether `s` is a route name: `[a-z0-9][a-z0-9_-]*`.
pub fn valid_name(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
}

/// `CT 101` or `VM 1001`.
pub fn guest_label(g: &Guest<'_>) -> String {
    match g {
        Guest::Lxc(id, _) => format!("CT {id}"),
        Guest::Vm(id, _) => format!("VM {id}"),
    }
}

/// The guest's static net0 address (`None` for `dhcp`, `manual` or no network block).
pub fn static_ip(g: &Guest<'_>) -> Option<IpAddr> {
    g.ip()
        .and_then(|s| formats::ip_setting(s.trim()).ok())
        .and_then(IpSetting::addr)
        .map(IpAddr::V4)
}

/// Where host path `host_path` appears inside container `ct`, through its `mount_points`
/// (`host_path` prefix → `container_path`; the longest matching prefix wins, matched by whole
/// path components). `None` when `ct` is not a configured container or no mount covers it.
pub fn container_path(cfg: &Config, ct: GuestId, host_path: &str) -> Option<String> {
    let Some(Guest::Lxc(_, c)) = cfg.guest(ct) else {
        return None;
    };
    let want = trim_slashes(host_path);
    c.mount_points
        .iter()
        .filter_map(|mp| {
            let base = trim_slashes(&mp.host_path);
            let rest = if want == base {
                ""
            } else if base == "/" {
                want.strip_prefix('/')?
            } else {
                want.strip_prefix(base)?.strip_prefix('/')?
            };
            Some((base.len(), mp, rest))
        })
        .max_by_key(|(len, ..)| *len)
        .map(|(_, mp, rest)| {
            let inside = trim_slashes(&mp.container_path);
            match (inside, rest) {
                (i, "") => i.to_string(),
                ("/", r) => format!("/{r}"),
                (i, r) => format!("{i}/{r}"),
            }
        })
}

/// `/a/b/` → `/a/b`, `/` stays `/`.
fn trim_slashes(p: &str) -> &str {
    let t = p.trim().trim_end_matches('/');
    if t.is_empty() && p.trim().starts_with('/') {
        "/"
    } else {
        t
    }
}

/// Where the CA container keeps its state (the shell version's `STEPPATH`).
pub const CA_STATE_DIR: &str = "/etc/step-ca/ssl";

/// The root certificate's file name in [`CA_STATE_DIR`] (the shell version's location).
pub const CA_ROOT_FILE: &str = "phoenix_root_ca.crt";

/// The host path of the CA container's [`CA_STATE_DIR`] bind mount, where its root,
/// fingerprint and provisioner password are.
pub fn ca_state_dir(cfg: &Config) -> Option<String> {
    let ca = roles(cfg).ca?;
    let Some(Guest::Lxc(_, c)) = cfg.guest(ca) else {
        return None;
    };
    c.mount_points
        .iter()
        .find(|m| m.container_path.trim_end_matches('/') == CA_STATE_DIR)
        .map(|m| m.host_path.trim_end_matches('/').to_string())
}

/// The host path of the CA's root certificate: `step_ca.root_ca_file`, else
/// [`CA_ROOT_FILE`] in the CA container's state directory.
pub fn ca_root_file(cfg: &Config) -> Option<String> {
    cfg.host
        .step_ca
        .as_ref()
        .and_then(|c| c.root_ca_file.as_deref())
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(String::from)
        .or_else(|| ca_state_dir(cfg).map(|d| format!("{d}/{CA_ROOT_FILE}")))
}

#[cfg(test)]
mod tests;
