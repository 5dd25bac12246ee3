//! Which stacks go where, and what it takes to make Portainer hold them (pure but for
//! reading the stacks directory).
//!
//! A VM's `docker_stacks` names stacks from `stacks/<name>/` (`docker-compose.yml` and
//! `phoenix.json`) with an environment (default `production`). A stack is sent to Portainer
//! by content (P12): the compose text as written, and its environment's `variables` as the
//! stack's `Env`. Its `files` are copied into the VM beside where the stack runs
//! ([`stack_dir`]); when there are any, `Env` also carries `PHOENIX_STACK_DIR` (so the
//! compose file can mount them, e.g. `${PHOENIX_STACK_DIR}/configs/app.env:/app/.env:ro`) and
//! `PHOENIX_FILES_SHA256` (so changing a file redeploys the stack). Traefik labels are not
//! injected into the compose file (P10): Traefik here reads files, not Docker labels, so
//! they become routes in its dynamic configuration instead.

use anyhow::{Context, bail};
use phoenix_core::config::{Config, Guest};
use phoenix_core::converge::sha256_hex;
use phoenix_core::ids::GuestId;

use crate::api::StackInfo;

/// Where a stack's files live inside its VM.
pub fn stack_dir(stack: &str, environment: &str) -> String {
    format!("/var/lib/phoenix/stacks/{stack}/{environment}")
}

/// One stack as it should be on one VM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    /// The VM.
    pub vm: GuestId,
    /// Stack directory name.
    pub stack: String,
    /// Environment in `phoenix.json`.
    pub environment: String,
    /// Portainer's name: `<stack>-<environment>`, lower-case.
    pub name: String,
    /// The compose file's text.
    pub content: String,
    /// `Env`.
    pub env: Vec<(String, String)>,
    /// Files for the VM: `(guest path, content)`.
    pub files: Vec<(String, Vec<u8>)>,
    /// The external volumes its compose file expects.
    pub volumes: Vec<Volume>,
}

/// A Docker volume a compose file declares `external: true`: it must exist before the
/// stack starts. One named `<stem>_nfs` on a VM with an NFS volume is created on that VM's
/// share, in `<share>/volumes/<stem>` (the shell version created three fixed volumes on the
/// Portainer VM whatever VM the stack ran on, P22); any other is a local volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    /// Volume name.
    pub name: String,
    /// `(NFS server, exported directory)` backing it.
    pub nfs: Option<(String, String)>,
}

impl Volume {
    /// `docker volume create …`.
    pub fn create_argv(&self) -> Vec<String> {
        let mut v: Vec<String> = vec!["docker".into(), "volume".into(), "create".into()];
        if let Some((server, dir)) = &self.nfs {
            for a in [
                "--driver".to_string(),
                "local".into(),
                "--opt".into(),
                "type=nfs".into(),
                "--opt".into(),
                format!("o=addr={server},rw,nfsvers=4"),
                "--opt".into(),
                format!("device=:{dir}"),
            ] {
                v.push(a);
            }
        }
        v.push(self.name.clone());
        v
    }
}

/// The volumes a compose file declares external (pure): the top-level `volumes` entries
/// with `external: true` (or the old `external: {name: …}`), by their `name` when given.
pub fn external_volumes(compose: &str) -> Result<Vec<String>, String> {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(compose).map_err(|e| format!("not YAML: {e}"))?;
    let mut out = Vec::new();
    if let Some(m) = doc.get("volumes").and_then(|v| v.as_mapping()) {
        for (k, v) in m {
            let key = k.as_str().unwrap_or_default().to_string();
            let ext = &v["external"];
            let named = v["name"].as_str().map(String::from);
            match ext {
                serde_yaml::Value::Bool(true) => out.push(named.unwrap_or(key)),
                serde_yaml::Value::Mapping(_) => out.push(
                    ext["name"]
                        .as_str()
                        .map(String::from)
                        .or(named)
                        .unwrap_or(key),
                ),
                _ => {}
            }
        }
    }
    Ok(out)
}

/// How `name` is backed on `vm` (see [`Volume`]).
pub fn volume_for(cfg: &Config, vm: GuestId, name: &str) -> Volume {
    let share = match cfg.guest(vm) {
        Some(Guest::Vm(_, v)) => v.volumes.iter().find(|x| x.kind == "nfs").cloned(),
        _ => None,
    };
    let nfs = name.strip_suffix("_nfs").zip(share).and_then(|(stem, sh)| {
        let server = sh
            .server
            .clone()
            .or_else(|| cfg.host.network.nfs_server.clone())?;
        Some((
            server,
            format!("{}/volumes/{stem}", sh.path.trim_end_matches('/')),
        ))
    });
    Volume {
        name: name.to_string(),
        nfs,
    }
}

/// Portainer's name for a stack in an environment.
pub fn deploy_name(stack: &str, environment: &str) -> String {
    format!("{stack}-{environment}").to_ascii_lowercase()
}

/// The stacks `vm` should run, each read from the stacks directory; one that cannot be read
/// is an error of its own (the others still sync).
pub fn desired_for(cfg: &Config, vm: GuestId) -> Vec<(String, anyhow::Result<Desired>)> {
    let Some(Guest::Vm(_, v)) = cfg.guest(vm) else {
        return Vec::new();
    };
    v.docker_stacks
        .iter()
        .map(|r| {
            let label = format!("{} ({}) on VM {vm}", r.name(), r.environment());
            (label, read(cfg, vm, r.name(), r.environment()))
        })
        .collect()
}

/// One stack for one VM.
pub fn read(cfg: &Config, vm: GuestId, stack: &str, environment: &str) -> anyhow::Result<Desired> {
    let Some(s) = cfg.stacks.get(stack) else {
        bail!(
            "stack {stack} is defined nowhere: not in {} (docker-compose.yml and phoenix.json) nor in {}",
            cfg.files.stacks_dir.display(),
            cfg.files.stacks_config.display()
        );
    };
    let Some(envm) = s.manifest.environments.get(environment) else {
        let known: Vec<&str> = s.manifest.environments.keys().map(String::as_str).collect();
        bail!(
            "stack {stack} has no environment {environment:?} in {} (it has: {})",
            s.definition.display(),
            known.join(", ")
        );
    };
    let compose = s.compose_file();
    let content = phoenix_core::files::read_to_string(&compose).with_context(|| {
        format!(
            "stack {stack}: cannot read its compose file {}",
            compose.display()
        )
    })?;
    let mut env: Vec<(String, String)> = envm
        .variables
        .iter()
        .map(|v| (v.name.clone(), v.value.clone()))
        .collect();
    let dir = stack_dir(stack, environment);
    let mut files = Vec::new();
    let mut digest = String::new();
    for f in &envm.files {
        let rel = f.source.trim_start_matches("./");
        if rel.is_empty() || rel.split('/').any(|c| c == ".." || c.is_empty()) {
            bail!(
                "stack {stack}: file source {:?} must be a path inside {}",
                f.source,
                s.dir.display()
            );
        }
        let src = s.dir.join(rel);
        let data = phoenix_core::files::read(&src)
            .with_context(|| format!("cannot read {}", src.display()))?;
        digest.push_str(&format!("{rel}\0{}\n", sha256_hex(&data)));
        files.push((format!("{dir}/{rel}"), data));
    }
    if !files.is_empty() {
        env.push(("PHOENIX_STACK_DIR".into(), dir));
        env.push(("PHOENIX_FILES_SHA256".into(), sha256_hex(digest.as_bytes())));
    }
    let volumes = external_volumes(&content)
        .map_err(|e| anyhow::anyhow!("{}: {e}", compose.display()))?
        .into_iter()
        .map(|v| volume_for(cfg, vm, &v))
        .collect();
    Ok(Desired {
        vm,
        stack: stack.to_string(),
        environment: environment.to_string(),
        name: deploy_name(stack, environment),
        content,
        env,
        files,
        volumes,
    })
}

/// What to do about one stack in Portainer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It matches.
    Same,
    /// Not there: create it.
    Create,
    /// There with other content or environment: update it.
    Update {
        /// Its ID.
        id: u64,
        /// What differs.
        why: String,
    },
}

/// The stack named like `d` in environment `endpoint`, if Portainer has it (names compare
/// case-insensitively, as Portainer lower-cases them).
pub fn find<'a>(observed: &'a [StackInfo], d: &Desired, endpoint: u64) -> Option<&'a StackInfo> {
    observed
        .iter()
        .find(|s| s.endpoint_id == endpoint && s.name.eq_ignore_ascii_case(&d.name))
}

/// Compares a desired stack with Portainer's (pure): content and `Env`, in order.
pub fn verdict(d: &Desired, observed: Option<(&StackInfo, &str)>) -> Verdict {
    let Some((s, content)) = observed else {
        return Verdict::Create;
    };
    let mut why = Vec::new();
    if content != d.content {
        why.push("compose file");
    }
    if s.env != d.env {
        why.push("environment variables");
    }
    if why.is_empty() {
        Verdict::Same
    } else {
        Verdict::Update {
            id: s.id,
            why: why.join(" and "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> Desired {
        Desired {
            vm: GuestId(1002),
            stack: "qdrant".into(),
            environment: "production".into(),
            name: "qdrant-production".into(),
            content: "services: {}\n".into(),
            env: vec![("A".into(), "1".into())],
            files: vec![],
            volumes: vec![],
        }
    }

    fn info(name: &str, endpoint: u64, env: &[(&str, &str)]) -> StackInfo {
        StackInfo {
            id: 7,
            name: name.into(),
            endpoint_id: endpoint,
            env: env
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }

    #[test]
    fn stacks_are_found_by_name_and_environment() {
        let obs = vec![
            info("qdrant-production", 3, &[]),
            info("QDRANT-production", 4, &[]),
        ];
        assert_eq!(find(&obs, &d(), 4).map(|s| s.endpoint_id), Some(4));
        assert!(find(&obs, &d(), 5).is_none());
    }

    #[test]
    fn only_differences_update() {
        let s = info("qdrant-production", 3, &[("A", "1")]);
        assert_eq!(verdict(&d(), None), Verdict::Create);
        assert_eq!(verdict(&d(), Some((&s, "services: {}\n"))), Verdict::Same);
        assert_eq!(
            verdict(&d(), Some((&s, "services: {x: 1}\n"))),
            Verdict::Update {
                id: 7,
                why: "compose file".into()
            }
        );
        let s2 = info("qdrant-production", 3, &[("A", "2")]);
        assert_eq!(
            verdict(&d(), Some((&s2, "x"))),
            Verdict::Update {
                id: 7,
                why: "compose file and environment variables".into()
            }
        );
    }

    #[test]
    fn external_volumes_are_found_and_backed_by_the_vms_share() {
        let compose = "services:\n  q:\n    image: q\nvolumes:\n  qdrant_data_nfs:\n    external: true\n  old:\n    external:\n      name: legacy_vol\n  local_only: {}\n";
        assert_eq!(
            external_volumes(compose).unwrap(),
            ["qdrant_data_nfs", "legacy_vol"]
        );
        assert!(external_volumes("services: [").is_err());
        let cfg = phoenix_testkit::load_config(&phoenix_testkit::examples());
        let v = volume_for(&cfg, GuestId(1002), "qdrant_data_nfs");
        assert_eq!(
            v.create_argv().join(" "),
            "docker volume create --driver local --opt type=nfs --opt o=addr=10.20.0.2,rw,nfsvers=4 --opt device=:/tank/vm-persistent-data/1002/volumes/qdrant_data qdrant_data_nfs"
        );
        let v = volume_for(&cfg, GuestId(1002), "cache");
        assert_eq!(v.create_argv().join(" "), "docker volume create cache");
    }

    #[test]
    fn names_are_stack_dash_environment_in_lower_case() {
        assert_eq!(
            deploy_name("Qdrant_Service", "production"),
            "qdrant_service-production"
        );
        assert_eq!(
            stack_dir("webapp", "staging"),
            "/var/lib/phoenix/stacks/webapp/staging"
        );
    }
}
