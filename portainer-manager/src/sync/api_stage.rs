//! `api`: Portainer's administrator, the agents' environments and their stacks.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use phoenix_core::config::{Config, Guest as CfgGuest};
use phoenix_core::mesh::{self, Roles};
use phoenix_core::paths::Layout;

use anyhow::{Context, anyhow, bail};
use phoenix_core::converge::{Change, Op};
use phoenix_core::ids::GuestId;
use phoenix_core::step::StepPlan;

use super::ip_of;
use super::{Cx, Planned, Stage, create_volume, missing_volumes, ready, volume_change};
use crate::api::{Api, Credentials, Environment, StackInfo};
use crate::guest::Guest;
use crate::http::{Client, RetryPolicy, Secret, Target};
use crate::stacks::{self, Desired, Verdict};

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
    /// Create a volume a stack needs, in its VM.
    Volume {
        /// VM.
        vm: GuestId,
        /// The volume.
        volume: crate::stacks::Volume,
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
        return phoenix_core::step::files::read_secret(
            layout,
            "portainer_api.admin_password_file",
            f,
            "the Portainer administrator's password",
        )
        .map(Secret::new);
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
    let pem = phoenix_core::files::read(cx.layout().host(&root)).with_context(|| {
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
        if let Some(root) = mesh::ca_root_file(cfg)
            && !cx.layout().host(&root).exists()
        {
            return Ok(Planned::NotReady(format!(
                "the CA root {root}, which Portainer's certificate is checked against, does not exist yet (the CA writes it)"
            )));
        }
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
        let mut waiting = Vec::new();
        for vm in agents {
            let g = Guest::vm(vm);
            let name = environment_name(cfg, vm);
            if let Err(why) = ready(cx, g)? {
                // Portainer cannot reach an agent that is not running, nor its stacks.
                p.note("environment", format!("{name} and its stacks wait: {why}"));
                waiting.push(why);
                continue;
            }
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
                for v in missing_volumes(cx, g, &d)? {
                    p.push(volume_change(vm, &v), ApiAction::Volume { vm, volume: v });
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
        if p.actions.is_empty() && errors.is_empty() && !waiting.is_empty() {
            return Ok(Planned::NotReady(waiting.join("; ")));
        }
        // The stacks that can sync still do; these fail the stage afterwards.
        for e in &errors {
            p.note("error", e.clone());
        }
        *self.errors.borrow_mut() = errors;
        Ok(Planned::Ready(p))
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
                ApiAction::Volume { vm, volume } => {
                    if let Err(e) = create_volume(cx, Guest::vm(vm), &volume) {
                        failed.push(format!("volume {} in VM {vm}: {e:#}", volume.name));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_is_reached_at_the_configured_address_under_its_name() {
        let mut cfg = phoenix_testkit::load_config(&phoenix_testkit::examples());
        let roles = mesh::roles(&cfg);
        let (base, connect) = api_address(&cfg, &roles).unwrap();
        assert_eq!(base, "https://portainer.lab.example.internal:9443");
        assert_eq!(connect, Some("10.20.0.31:9443".parse().unwrap()));
        let api = cfg.host.portainer_api.as_mut().unwrap();
        api.url = Some("https://portainer.lab.example.internal".into());
        api.connect_address = Some("10.20.0.11".into());
        let (base, connect) = api_address(&cfg, &roles).unwrap();
        assert_eq!(base, "https://portainer.lab.example.internal");
        assert_eq!(connect, Some("10.20.0.11:443".parse().unwrap()));
        cfg.host.portainer_api.as_mut().unwrap().connect_address = Some("10.20.0.11:8443".into());
        assert_eq!(
            api_address(&cfg, &roles).unwrap().1,
            Some("10.20.0.11:8443".parse().unwrap())
        );
        if let Some(dir) = phoenix_testkit::reference() {
            let cfg = phoenix_testkit::load_config(&dir);
            let (base, connect) = api_address(&cfg, &mesh::roles(&cfg)).unwrap();
            assert_eq!(base, "https://portainer.internal.thinkheads.ai:9443");
            assert_eq!(connect, Some("10.0.0.111:9443".parse().unwrap()));
        }
    }

    #[test]
    fn environments_are_named_and_found_as_configured() {
        let cfg = phoenix_testkit::load_config(&phoenix_testkit::examples());
        assert_eq!(environment_name(&cfg, GuestId(1002)), "apps");
        assert_eq!(agent_url(&cfg, GuestId(1002)), "tcp://10.20.0.32:9001");
    }
}
