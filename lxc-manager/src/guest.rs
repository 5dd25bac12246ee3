//! Work inside a running container: waiting until it answers, running feature installers and
//! the application script (pushed with their inputs, run with argv, recorded with a hash),
//! the host-side hook, health checks and integration tests.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use phoenix_core::cmd::{Cmd, CmdError, FileSpec, Runner, Stream};
use phoenix_core::config::Config;
use phoenix_core::config::lxc::{Container, HealthCheck};
use phoenix_core::converge::leftovers;
pub use phoenix_core::converge::observe::ca_root_pem;
use phoenix_core::ids::{GuestId, GuestKind};
use phoenix_core::paths::Layout;
use phoenix_core::pve::tool::push_checked;

use crate::observe::{self, MARKER_DIR};
use crate::pct;
use crate::spec::install_path;

/// Guest directory installers are staged in.
pub const STAGING: &str = "/tmp/phoenix";

/// How long a started container may take to answer `pct exec`.
pub const READY_DEADLINE: Duration = Duration::from_secs(120);

/// Waits until `pct exec <id> -- true` succeeds.
pub fn wait_ready(runner: &Runner, id: GuestId) -> anyhow::Result<()> {
    if runner.is_dry_run() {
        return Ok(());
    }
    let deadline = Instant::now() + READY_DEADLINE;
    let probe = pct::exec(id, &["true".to_string()], false)
        .timeout(Duration::from_secs(30))
        .quiet();
    loop {
        match runner.run(&probe) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(e).with_context(|| {
                    format!(
                        "container {id} did not answer within {}s of starting",
                        READY_DEADLINE.as_secs()
                    )
                });
            }
            Err(_) => std::thread::sleep(Duration::from_secs(1)),
        }
    }
}

/// The host scratch directory for files pushed into container `id`.
fn scratch(layout: &Layout, id: GuestId) -> PathBuf {
    layout.run_dir().join(format!("lxc-{id}"))
}

/// Writes a host file for pushing.
fn stage(
    runner: &Runner,
    layout: &Layout,
    id: GuestId,
    name: &str,
    data: &[u8],
    mode: u32,
) -> anyhow::Result<PathBuf> {
    let dir = scratch(layout, id);
    runner.ensure_dir(&dir, 0o700)?;
    let p = dir.join(name);
    runner.write_file(&p, data, FileSpec::mode(mode))?;
    Ok(p)
}

/// What an installer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `setup-scripts/lxc/<feature>.sh`.
    Feature,
    /// `setup-scripts/apps/<application_script>`.
    App,
}

/// One installer to run.
#[derive(Clone, Copy, Debug)]
pub struct Installer<'a> {
    /// Feature or application script.
    pub kind: Kind,
    /// Its name (the feature, the script file name).
    pub name: &'a str,
    /// The script on the host.
    pub script: &'a Path,
    /// The hash recorded when it completes.
    pub hash: &'a str,
}

/// Runs one installer inside container `id` (configured as `c`) and records its hash.
pub fn run_installer(
    runner: &Runner,
    layout: &Layout,
    cfg: &Config,
    (id, c): (GuestId, &Container),
    inst: Installer<'_>,
) -> anyhow::Result<()> {
    let Installer {
        kind,
        name,
        script,
        hash,
    } = inst;
    let label = match kind {
        Kind::Feature => format!("feature {name}"),
        Kind::App => format!("application script {name}"),
    };
    let bytes = phoenix_core::files::read(script)
        .with_context(|| format!("cannot read {label} at {}", script.display()))?;
    let inputs = serde_json::json!({
        "ctid": id.get(),
        "name": name,
        "container": c,
        "globals": {
            "nvidia_driver_version": cfg.lxc.nvidia_driver_version,
            "nvidia_repo_url": cfg.lxc.nvidia_repo_url,
            "nvidia_runfile_url": cfg.lxc.nvidia_runfile_url,
            "domain_name": cfg.host.domain_name,
            "step_ca": cfg.host.step_ca,
            "ca_root_pem": ca_root_pem(layout, cfg),
        },
    });
    let tag = match kind {
        Kind::Feature => format!("feature-{name}"),
        Kind::App => format!("app-{name}"),
    };
    let guest_script = format!("{STAGING}/{tag}");
    let guest_inputs = format!("{STAGING}/{tag}.json");
    let marker = match kind {
        Kind::Feature => observe::feature_marker(name),
        Kind::App => observe::app_marker(name),
    };
    let marker_dir = Path::new(&marker)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| MARKER_DIR.into());
    let lib_dir = Path::new(phoenix_core::converge::observe::GUEST_LIB)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| STAGING.into());
    runner
        .run(&pct::exec(
            id,
            &[
                "mkdir".into(),
                "-p".into(),
                STAGING.into(),
                marker_dir,
                lib_dir,
            ],
            true,
        ))
        .with_context(|| format!("cannot prepare container {id} for {label}"))?;
    let lib = phoenix_core::converge::observe::installer_lib(&layout.setup_scripts_dir())?;
    if let Some(lib) = &lib {
        let host_lib = stage(runner, layout, id, "common.sh", lib, 0o644)?;
        push_checked(
            runner,
            id,
            &host_lib,
            phoenix_core::converge::observe::GUEST_LIB,
            "0644",
        )
        .with_context(|| format!("cannot push the installer library into container {id}"))?;
    }
    let host_script = stage(runner, layout, id, &tag, &bytes, 0o700)?;
    let host_inputs = stage(
        runner,
        layout,
        id,
        &format!("{tag}.json"),
        serde_json::to_string_pretty(&inputs)?.as_bytes(),
        0o600,
    )?;
    push_checked(runner, id, &host_script, &guest_script, "0755")
        .with_context(|| format!("cannot push {label} into container {id}"))?;
    push_checked(runner, id, &host_inputs, &guest_inputs, "0600")
        .with_context(|| format!("cannot push the inputs of {label} into container {id}"))?;
    let mut argv: Vec<String> = vec![
        "env".into(),
        format!("PHOENIX_CTID={id}"),
        format!("PHOENIX_INPUTS={guest_inputs}"),
        format!("PHOENIX_NAME={name}"),
    ];
    if lib.is_some() {
        argv.push(format!(
            "PHOENIX_LIB={}",
            phoenix_core::converge::observe::GUEST_LIB
        ));
    }
    if let Some(url) = c.bootstrap_ca_url.as_deref().filter(|u| !u.is_empty()) {
        argv.push(format!("PHOENIX_CA_URL={url}"));
    }
    for (k, v) in [
        ("NVIDIA_DRIVER_VERSION", &cfg.lxc.nvidia_driver_version),
        ("NVIDIA_REPO_URL", &cfg.lxc.nvidia_repo_url),
        ("NVIDIA_RUNFILE_URL", &cfg.lxc.nvidia_runfile_url),
    ] {
        if let Some(v) = v {
            argv.push(format!("{k}={v}"));
        }
    }
    argv.extend([
        "/bin/bash".to_string(),
        guest_script.clone(),
        id.to_string(),
    ]);
    let prefix = format!("{name}: ");
    let sink = |_s: Stream, line: &str| println!("{prefix}{line}");
    let cmd = pct::exec(id, &argv, true).timeout(Duration::from_secs(3 * 3600));
    let ran = runner.run_streaming(&cmd, &sink);
    // The pushed script and its 0600 inputs (which can hold secrets) leave the guest whether
    // the installer worked or not; a removal that fails is a warning and is retried by the
    // next converge.
    let pushed = vec![guest_script.clone(), guest_inputs.clone()];
    if let Err(e) = runner.run(&pct::exec(id, &rm_argv(&pushed), true).quiet()) {
        leftovers::add(runner, layout, GuestKind::Lxc, id, &pushed, &e.to_string())?;
    }
    if let Err(e) = ran {
        let detail = match &e {
            CmdError::Failed {
                status,
                stderr,
                stdout,
                ..
            } => {
                let tail: Vec<&str> = stderr.lines().chain(stdout.lines()).rev().take(5).collect();
                format!(
                    "{status}{}",
                    if tail.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; last output:\n  {}",
                            tail.into_iter().rev().collect::<Vec<_>>().join("\n  ")
                        )
                    }
                )
            }
            other => other.to_string(),
        };
        bail!(
            "{label} failed in container {id}: {detail}\n\nhint: fix the cause and converge again; features already recorded are not run again"
        );
    }
    let host_marker = stage(
        runner,
        layout,
        id,
        &format!("{tag}.sha256"),
        format!("{hash}\n").as_bytes(),
        0o644,
    )?;
    push_checked(runner, id, &host_marker, &marker, "0644")
        .with_context(|| format!("cannot record {label} in container {id}"))?;
    for p in [host_script, host_inputs, host_marker] {
        runner.remove_file(&p)?;
    }
    Ok(())
}

/// `rm -f -- <paths>`.
fn rm_argv(paths: &[String]) -> Vec<String> {
    ["rm", "-f", "--"]
        .iter()
        .map(|s| (*s).to_string())
        .chain(paths.iter().cloned())
        .collect()
}

/// Removes what earlier installer runs left in the running container; a failure is a
/// warning, and the record stays for the next converge.
pub fn remove_leftovers(
    runner: &Runner,
    layout: &Layout,
    id: GuestId,
    paths: &[String],
) -> anyhow::Result<()> {
    println!("remove leftover installer files");
    match runner.run(&pct::exec(id, &rm_argv(paths), true)) {
        Ok(_) => leftovers::clear(runner, layout, GuestKind::Lxc, id),
        Err(e) => {
            tracing::warn!(
                "could not remove {} from container {id}: {e}; the next converge tries again",
                paths.join(", ")
            );
            Ok(())
        }
    }
}

/// The host-side per-CTID hook, if installed and executable.
pub fn hook_script(layout: &Layout, id: GuestId) -> Option<PathBuf> {
    [
        format!("phoenix_hypervisor_setup_{id}.sh"),
        format!("phoenix_hypervisor_lxc_{id}.sh"),
    ]
    .iter()
    .map(|n| layout.bin_dir().join(n))
    .find(|p| phoenix_core::cmd::is_executable(p))
}

/// Runs the host hook and records its hash.
pub fn run_hook(
    runner: &Runner,
    layout: &Layout,
    cfg: &Config,
    id: GuestId,
    script: &Path,
    hash: &str,
) -> anyhow::Result<()> {
    let cmd = Cmd::mutate(script)
        .arg(id.to_string())
        .env("PHOENIX_CTID", id.to_string())
        .env("PHOENIX_CONFIG_DIR", &cfg.location.dir)
        .env(phoenix_core::paths::ENV_ROOT, layout.root())
        .env(phoenix_core::paths::ENV_SYSROOT, layout.sysroot())
        .env("PHOENIX_DRY_RUN", "0")
        .timeout(Duration::from_secs(3600));
    let sink = |_s: Stream, line: &str| println!("hook: {line}");
    runner.run_streaming(&cmd, &sink).with_context(|| {
        format!(
            "the host hook {} failed for container {id}",
            script.display()
        )
    })?;
    let path = observe::hook_marker_path(layout, id);
    if let Some(dir) = path.parent() {
        runner.ensure_dir(dir, 0o755)?;
    }
    runner.write_file(&path, format!("{hash}\n").as_bytes(), FileSpec::mode(0o644))?;
    Ok(())
}

/// Where a health check runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckTarget {
    /// A host program (absolute path in the config), given the CTID as last argument.
    Host(PathBuf, Vec<String>),
    /// A command inside the container.
    Guest(Vec<String>),
}

/// Parses `health_check.command`: an absolute path is a host script (shell-version paths
/// under the install root are mapped to `$PHOENIX_ROOT`); anything else runs in the guest.
pub fn check_target(layout: &Layout, command: &str) -> anyhow::Result<CheckTarget> {
    let argv = shlex::split(command)
        .filter(|a| !a.is_empty())
        .with_context(|| format!("health_check.command {command:?} is not a valid command line"))?;
    if argv[0].starts_with('/') {
        Ok(CheckTarget::Host(
            install_path(layout, &argv[0]),
            argv[1..].to_vec(),
        ))
    } else {
        Ok(CheckTarget::Guest(argv))
    }
}

/// Runs the health check with its retries; reads only.
pub fn health_check(
    runner: &Runner,
    layout: &Layout,
    id: GuestId,
    hc: &HealthCheck,
) -> anyhow::Result<()> {
    let target = check_target(layout, &hc.command)?;
    let attempts = hc.retries.unwrap_or(1).max(1);
    let interval = Duration::from_secs(u64::from(hc.interval.unwrap_or(5)));
    let cmd = match &target {
        CheckTarget::Host(p, args) => Cmd::read(p)
            .args(args)
            .arg(id.to_string())
            .env("PHOENIX_CTID", id.to_string()),
        CheckTarget::Guest(argv) => pct::exec(id, argv, false),
    }
    .timeout(Duration::from_secs(300));
    let mut last = String::new();
    for attempt in 1..=attempts {
        match runner.run(&cmd) {
            Ok(_) => {
                tracing::info!(
                    "health check passed for container {id} (attempt {attempt}/{attempts})"
                );
                return Ok(());
            }
            Err(e) => {
                last = e.to_string();
                tracing::warn!(
                    "health check for container {id} failed (attempt {attempt}/{attempts})"
                );
                if attempt < attempts {
                    std::thread::sleep(interval);
                }
            }
        }
    }
    bail!("health check of container {id} failed after {attempts} attempt(s): {last}")
}

/// One check of the shell version's `health_checks` list: a program in
/// `$PHOENIX_ROOT/bin/health_checks/` run on the host with its configured arguments (as argv,
/// never through a shell).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyCheck {
    /// Display name.
    pub name: String,
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
}

/// The `health_checks` of `c`.
pub fn legacy_checks(layout: &Layout, c: &Container) -> anyhow::Result<Vec<LegacyCheck>> {
    let dir = layout.bin_dir().join("health_checks");
    c.health_checks
        .iter()
        .map(|h| {
            let args = match &h.args {
                None | Some(serde_json::Value::Null) => Vec::new(),
                Some(serde_json::Value::String(s)) => shlex::split(s).with_context(|| {
                    format!(
                        "health check {:?}: args {s:?} are not a valid argument list",
                        h.name
                    )
                })?,
                Some(serde_json::Value::Array(a)) => a
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect(),
                Some(other) => vec![other.to_string()],
            };
            Ok(LegacyCheck {
                name: h.name.clone(),
                program: dir.join(h.script.trim_start_matches('/')),
                args,
            })
        })
        .collect()
}

/// Whether `c` has any health check.
pub fn has_checks(c: &Container) -> bool {
    c.health_check.is_some() || !c.health_checks.is_empty()
}

/// Runs every configured check: `health_check` with its retries, then each of
/// `health_checks` once.
pub fn run_checks(
    runner: &Runner,
    layout: &Layout,
    id: GuestId,
    c: &Container,
) -> anyhow::Result<()> {
    if let Some(hc) = &c.health_check {
        health_check(runner, layout, id, hc)?;
    }
    for chk in legacy_checks(layout, c)? {
        let cmd = Cmd::read(&chk.program)
            .args(&chk.args)
            .env("PHOENIX_CTID", id.to_string())
            .timeout(Duration::from_secs(300));
        runner
            .run(&cmd)
            .with_context(|| format!("health check {:?} failed for container {id}", chk.name))?;
    }
    Ok(())
}

/// Runs `tests` suites inside the container: each script is pushed and run; PASS/FAIL per
/// test. Returns `(passed, failed)`.
pub fn run_tests(
    runner: &Runner,
    layout: &Layout,
    id: GuestId,
    c: &Container,
    suite: Option<&str>,
) -> anyhow::Result<(usize, usize)> {
    let tests_dir = layout.root().join("tests");
    let mut passed = 0;
    let mut failed = 0;
    runner
        .run(&pct::exec(
            id,
            &["mkdir".into(), "-p".into(), "/tmp/phoenix_tests".into()],
            true,
        ))
        .with_context(|| format!("cannot prepare container {id} for tests"))?;
    for (name, tests) in c
        .tests
        .iter()
        .filter(|(n, _)| suite.is_none_or(|s| s == *n))
    {
        for t in tests {
            if t.kind != "script" {
                println!("SKIP {name}/{}: type {:?} is not run", t.name, t.kind);
                continue;
            }
            let src = tests_dir.join(&t.path);
            if !src.is_file() {
                println!("FAIL {name}/{}: {} does not exist", t.name, src.display());
                failed += 1;
                continue;
            }
            let base = Path::new(&t.path)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let dest = format!("/tmp/phoenix_tests/{base}");
            push_checked(runner, id, &src, &dest, "0755")
                .with_context(|| format!("cannot push test {}", t.name))?;
            match runner.run(
                &pct::exec(id, &[dest.clone(), id.to_string()], false)
                    .timeout(Duration::from_secs(1800)),
            ) {
                Ok(_) => {
                    println!("PASS {name}/{}", t.name);
                    passed += 1;
                }
                Err(e) => {
                    println!(
                        "FAIL {name}/{}: {}",
                        t.name,
                        e.to_string().lines().next().unwrap_or("")
                    );
                    failed += 1;
                }
            }
        }
    }
    Ok((passed, failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example's gateway and Traefik containers trust the CA without mounting the CA's
    /// state directory (which also holds its provisioner password): the root the CA left on
    /// the host reaches `trusted_ca` in its inputs (issue 17: `trusted_ca` failed in 101 and
    /// 102, where nothing mounted the root).
    #[test]
    fn the_ca_root_on_the_host_reaches_the_installers() {
        let cfg = phoenix_testkit::load_config(&phoenix_testkit::examples());
        let root_file = phoenix_core::mesh::ca_root_file(&cfg).expect("the example's CA root");
        for id in [101, 102] {
            let Some(phoenix_core::config::Guest::Lxc(_, c)) = cfg.guest(GuestId(id)) else {
                panic!("{id}");
            };
            assert!(c.features.iter().any(|f| f == "trusted_ca"), "{id}");
            assert_eq!(c.trusted_ca_file, None);
            assert_eq!(
                phoenix_core::mesh::container_path(&cfg, GuestId(id), &root_file),
                None,
                "{id} mounts no CA directory"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("root"), dir.path().join("sys"));
        assert_eq!(
            ca_root_pem(&layout, &cfg),
            None,
            "not there before the CA ran"
        );
        let host = layout.host(&root_file);
        std::fs::create_dir_all(host.parent().unwrap()).unwrap();
        std::fs::write(&host, "not a certificate\n").unwrap();
        assert_eq!(ca_root_pem(&layout, &cfg), None);
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        std::fs::write(&host, pem).unwrap();
        assert_eq!(ca_root_pem(&layout, &cfg).as_deref(), Some(pem));
    }
}
