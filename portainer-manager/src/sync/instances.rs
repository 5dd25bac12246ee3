//! `portainer`: the primary VM's stacks (the Portainer server) running with
//! `docker compose`, and the agent running in every agent VM.

use anyhow::bail;
use phoenix_core::converge::{Change, Op};
use phoenix_core::ids::GuestId;
use phoenix_core::step::StepPlan;

use super::{Cx, Planned, Stage, create_volume, missing_volumes, ready, s, volume_change};
use crate::guest::Guest;
use crate::stacks::{self, Desired};

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
        /// The host directory behind that volume, when it is on this host's NFS share
        /// (removing the volume leaves the files there).
        host_dir: Option<String>,
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
    /// Create a volume a stack needs.
    Volume {
        /// VM.
        vm: GuestId,
        /// The volume.
        volume: crate::stacks::Volume,
    },
    /// Run a mutating command in a VM.
    Run {
        /// VM.
        vm: GuestId,
        /// argv.
        argv: Vec<String>,
    },
}

/// `docker run` of the agent: published on `port`, the Docker socket and volumes mounted,
/// restarted with the VM.
pub fn agent_run(port: u16, image: &str) -> Vec<String> {
    s(&[
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
        image,
    ])
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
            let mut recreate = None;
            if cx.opts.reset && is_portainer_server(&d.content) {
                let data = data_source(&d.content);
                let volume = d
                    .volumes
                    .iter()
                    .find(|v| Some(&v.name) == data.as_ref())
                    .cloned();
                let host_dir = volume.as_ref().and_then(|v| v.nfs.clone()).map(|(_, d)| d);
                recreate = volume;
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
                        data,
                        host_dir,
                    },
                );
            }
            if let Some(v) = &recreate {
                p.push(
                    volume_change(primary, v),
                    InstanceAction::Volume {
                        vm: primary,
                        volume: v.clone(),
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
            for v in missing_volumes(cx, server, &d)?
                .into_iter()
                .filter(|v| Some(v) != recreate.as_ref())
            {
                p.push(
                    volume_change(primary, &v),
                    InstanceAction::Volume {
                        vm: primary,
                        volume: v,
                    },
                );
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
                    "{{.State.Running}} {{.Config.Image}}",
                    AGENT_CONTAINER,
                ]),
                false,
            )?;
            let run = InstanceAction::Run {
                vm: a,
                argv: agent_run(port, &image),
            };
            let (running, have) = st.out.trim().split_once(' ').unwrap_or(("", ""));
            if st.code != 0 {
                p.push(
                    Change::new(Op::Add, "agent", format!("{AGENT_CONTAINER} in VM {a}"))
                        .to(format!("{image}, port {port}")),
                    run,
                );
            } else if have != image {
                // The agent keeps no state: a new image is a new container.
                p.push(
                    Change::new(Op::Change, "agent", format!("{AGENT_CONTAINER} in VM {a}"))
                        .from(have.to_string())
                        .to(image.clone()),
                    InstanceAction::Run {
                        vm: a,
                        argv: s(&["docker", "rm", "-f", AGENT_CONTAINER]),
                    },
                );
                p.actions.push(run);
            } else if running != "true" {
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
        Ok(Planned::Ready(p))
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
                    host_dir,
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
                    if let Some(dir) = host_dir {
                        r.remove_tree(&cx.layout().host(&dir))?;
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
                InstanceAction::Volume { vm, volume } => {
                    create_volume(cx, Guest::vm(vm), &volume)?;
                }
                InstanceAction::Run { vm, argv } => {
                    Guest::vm(vm).check(r, &argv, true)?;
                }
            }
        }
        Ok(())
    }
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
