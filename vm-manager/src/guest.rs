//! Work inside a running VM through the guest agent: readiness (agent, then cloud-init),
//! feature installers (delivered on stdin, run with argv, recorded with a hash), sealing a
//! template, and the foundation health check.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use phoenix_core::cmd::Runner;
use phoenix_core::converge::leftovers;
use phoenix_core::converge::observe::feature_marker;
use phoenix_core::ids::{GuestId, GuestKind};
use phoenix_core::paths::Layout;

/// What this manager converges.
const KIND: GuestKind = GuestKind::Vm;

use crate::spec::VmSpec;
use phoenix_core::pve::agent::{self, Exec};

/// Guest directory installers are staged in (root only).
pub const STAGING: &str = "/var/lib/phoenix/staging";

/// How long one feature installer may run.
pub const FEATURE_DEADLINE: Duration = Duration::from_secs(3 * 3600);

fn argv(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_string()).collect()
}

/// Waits for the guest agent, then for cloud-init to finish. Exit code 2 of
/// `cloud-init status` means "done with recoverable errors": a warning, not a failure.
pub fn wait_ready(runner: &Runner, spec: &VmSpec) -> anyhow::Result<()> {
    if runner.is_dry_run() {
        return Ok(());
    }
    let id = spec.id;
    agent::wait(runner, id, Duration::from_secs(spec.agent_timeout))?;
    let d = agent::probe(
        runner,
        id,
        &["cloud-init", "status", "--wait"],
        Duration::from_secs(spec.cloud_init_timeout),
    )
    .with_context(|| format!("VM {id}: waiting for cloud-init (cloud_init_timeout_secs)"))?;
    match d.code {
        0 => Ok(()),
        2 => {
            tracing::warn!(
                "VM {id}: cloud-init finished with recoverable errors:\n  {}",
                why(runner, id, &d)
            );
            Ok(())
        }
        code => bail!(
            "cloud-init failed in VM {id} (exit {code}):\n  {}\nhint: /var/log/cloud-init-output.log in the VM has the whole story",
            why(runner, id, &d)
        ),
    }
}

/// What went wrong in cloud-init: `cloud-init status --long` names the failed modules and
/// their errors (`status --wait` prints only `status: error`); its own output when that
/// cannot be read.
fn why(runner: &Runner, id: GuestId, waited: &agent::Done) -> String {
    match agent::probe(
        runner,
        id,
        &["cloud-init", "status", "--long"],
        Duration::from_secs(60),
    ) {
        Ok(d) if !d.out.trim().is_empty() => d.out.trim().replace('\n', "\n  "),
        _ => waited.tail(),
    }
}

/// The recorded feature hashes.
pub fn markers(
    runner: &Runner,
    id: GuestId,
    features: &[String],
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for f in features {
        if let Some(h) = agent::read_file(runner, id, &feature_marker(f))? {
            m.insert(f.clone(), h);
        }
    }
    Ok(m)
}

/// Runs one feature installer in VM `id` and records its hash.
pub fn run_feature(
    runner: &Runner,
    layout: &Layout,
    id: GuestId,
    (name, script): (&str, &Path),
    inputs: &serde_json::Value,
    hash: &str,
) -> anyhow::Result<()> {
    println!("feature {name}");
    let bytes = phoenix_core::files::read(script)
        .with_context(|| format!("cannot read feature {name} at {}", script.display()))?;
    let guest_script = format!("{STAGING}/feature-{name}.sh");
    let guest_inputs = format!("{STAGING}/feature-{name}.json");
    agent::write_file(runner, id, &guest_script, &bytes, "0700")?;
    agent::write_file(
        runner,
        id,
        &guest_inputs,
        serde_json::to_string_pretty(inputs)?.as_bytes(),
        "0600",
    )?;
    let mut cmd: Vec<String> = vec![
        "env".into(),
        format!("PHOENIX_VMID={id}"),
        format!("PHOENIX_INPUTS={guest_inputs}"),
        format!("PHOENIX_NAME={name}"),
    ];
    // The library installers source, beside them (`setup-scripts/lib/common.sh`).
    let lib = script
        .parent()
        .and_then(Path::parent)
        .map(phoenix_core::converge::observe::installer_lib)
        .transpose()?
        .flatten();
    if let Some(lib) = &lib {
        agent::write_file(
            runner,
            id,
            phoenix_core::converge::observe::GUEST_LIB,
            lib,
            "0644",
        )?;
        cmd.push(format!(
            "PHOENIX_LIB={}",
            phoenix_core::converge::observe::GUEST_LIB
        ));
    }
    cmd.extend(["/bin/bash".into(), guest_script.clone(), id.to_string()]);
    let ran = agent::exec(
        runner,
        id,
        &Exec {
            argv: &cmd,
            stdin: None,
            mutates: true,
            deadline: FEATURE_DEADLINE,
        },
    );
    // The pushed script and its 0600 inputs (which can hold secrets) leave the VM whether the
    // installer worked or not; a removal that fails is a warning and is retried by the next
    // converge.
    let pushed = vec![guest_script, guest_inputs];
    if let Err(e) = remove(runner, id, &pushed) {
        leftovers::add(runner, layout, KIND, id, &pushed, &format!("{e:#}"))?;
    }
    let d = ran.with_context(|| format!("feature {name} in VM {id}"))?;
    for line in d.out.lines() {
        println!("{name}: {line}");
    }
    if d.code != 0 {
        bail!(
            "feature {name} failed in VM {id} (exit {}):\n  {}\n\nhint: fix the cause and converge again; features already recorded are not run again",
            d.code,
            d.tail()
        );
    }
    agent::write_file(
        runner,
        id,
        &feature_marker(name),
        format!("{hash}\n").as_bytes(),
        "0644",
    )
    .with_context(|| format!("cannot record feature {name} in VM {id}"))?;
    Ok(())
}

/// `rm -f -- <paths>` in the VM, its exit code checked.
fn remove(runner: &Runner, id: GuestId, paths: &[String]) -> anyhow::Result<()> {
    let argv: Vec<String> = ["rm", "-f", "--"]
        .iter()
        .map(|s| (*s).to_string())
        .chain(paths.iter().cloned())
        .collect();
    let d = agent::exec(
        runner,
        id,
        &Exec {
            argv: &argv,
            stdin: None,
            mutates: true,
            deadline: Duration::from_secs(60),
        },
    )?;
    if d.code != 0 {
        anyhow::bail!("rm exited {}: {}", d.code, d.tail());
    }
    Ok(())
}

/// Removes what earlier installer runs left in the running VM; a failure is a warning, and
/// the record stays for the next converge.
pub fn remove_leftovers(
    runner: &Runner,
    layout: &Layout,
    id: GuestId,
    paths: &[String],
) -> anyhow::Result<()> {
    println!("remove leftover installer files");
    match remove(runner, id, paths) {
        Ok(()) => leftovers::clear(runner, layout, KIND, id),
        Err(e) => {
            tracing::warn!(
                "could not remove {} from VM {id}: {e:#}; the next converge tries again",
                paths.join(", ")
            );
            Ok(())
        }
    }
}

/// Prepares a template's first-boot state for its clones: cloud-init forgets this instance
/// (logs, seed, machine-id), so every clone runs cloud-init as a new machine.
pub fn seal(runner: &Runner, id: GuestId) -> anyhow::Result<()> {
    let cmd = argv(&["cloud-init", "clean", "--logs", "--machine-id", "--seed"]);
    agent::check(
        runner,
        id,
        &Exec {
            argv: &cmd,
            stdin: None,
            mutates: true,
            deadline: Duration::from_secs(120),
        },
    )
    .map(drop)
    .with_context(|| format!("cannot reset cloud-init in VM {id} before it becomes a template"))
}

/// One health check result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// `None` when it passed; why it failed otherwise.
    pub failure: Option<String>,
}

/// The VM's foundation: agent, cloud-init done, NFS mounts present, Docker running when the
/// `docker` feature is set, the CA trusted when `trusted_ca` is. Reads only; every guest
/// result is judged by the guest's exit code.
pub fn foundation(runner: &Runner, spec: &VmSpec) -> Vec<Check> {
    let id = spec.id;
    let mut out = Vec::new();
    let mut push = |name: &str, r: anyhow::Result<()>| {
        out.push(Check {
            name: name.to_string(),
            failure: r.err().map(|e| format!("{e:#}")),
        });
    };
    let agent_ok = agent::wait(runner, id, Duration::from_secs(5));
    let up = agent_ok.is_ok();
    push("guest agent answers", agent_ok);
    if !up {
        return out;
    }
    let run = |cmd: &[&str]| agent::probe(runner, id, cmd, Duration::from_secs(60));
    let status = run(&["cloud-init", "status"]).and_then(|d| {
        if d.code == 0 && d.out.contains("done") {
            Ok(())
        } else {
            bail!("cloud-init status: exit {} {}", d.code, d.out.trim())
        }
    });
    push("cloud-init finished", status);
    if !spec.volumes.is_empty() {
        let mounts = run(&["cat", "/proc/mounts"]);
        for v in &spec.volumes {
            let r = match &mounts {
                Ok(d) if d.code == 0 => {
                    let found = d.out.lines().any(|l| {
                        let f: Vec<&str> = l.split_whitespace().collect();
                        f.len() > 2 && f[1] == v.mount_point && f[0] == v.spec
                    });
                    if found {
                        Ok(())
                    } else {
                        Err(anyhow::anyhow!(
                            "{} is not mounted at {}",
                            v.spec,
                            v.mount_point
                        ))
                    }
                }
                Ok(d) => Err(anyhow::anyhow!("cannot read /proc/mounts: {}", d.tail())),
                Err(e) => Err(anyhow::anyhow!("{e:#}")),
            };
            push(&format!("NFS {} mounted", v.mount_point), r);
        }
    }
    let judge = |d: anyhow::Result<agent::Done>| -> anyhow::Result<()> {
        let d = d?;
        if d.code == 0 {
            Ok(())
        } else {
            bail!("exit {}: {}", d.code, d.tail())
        }
    };
    if spec.features.iter().any(|f| f == "docker") {
        push(
            "docker running",
            judge(run(&["systemctl", "is-active", "--quiet", "docker"])),
        );
    }
    if spec.features.iter().any(|f| f == "trusted_ca") {
        push(
            "CA trusted",
            judge(run(&[
                "test",
                "-s",
                "/usr/local/share/ca-certificates/phoenix_root_ca.crt",
            ])),
        );
    }
    out
}
