//! `cargo xtask <task>`: developer tasks, in the rust-analyzer style.
//!
//! - `ci`: the README's test command (fmt check, clippy -D warnings, tests, shellcheck);
//! - `demo`: the README's first command (today: validate the example estate in `etc/` and
//!   bring up the simulated host it describes with `pve-sim`);
//! - `install`: the staged install (arrives with issue #8).

mod tidy;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("demo") => demo(),
        Some("install") => {
            Err("`cargo xtask install` is not available yet (arrives with issue #8)".to_string())
        }
        Some("help" | "--help" | "-h") | None => {
            println!(
                "usage: cargo xtask <task>\n\ntasks:\n  ci       fmt check, clippy -D warnings, tests, shellcheck (what CI runs)\n  demo     build and run the demo on the example configuration\n  install  stage an installation (not available yet)"
            );
            Ok(())
        }
        Some(other) => Err(format!("unknown task `{other}` (try `cargo xtask help`)")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Runs a command in the project root, echoing it; the single process-spawning function of
/// xtask (xtask is developer tooling, outside phoenix-core's runner by design).
#[allow(clippy::disallowed_methods)]
fn run(program: &str, args: &[&OsStr], envs: &[(&str, &OsStr)]) -> Result<(), String> {
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    eprintln!("$ {program} {}", shown.join(" "));
    let status = std::process::Command::new(program)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .current_dir(project_root())
        .status()
        .map_err(|e| format!("failed to run `{program}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", shown.join(" ")))
    }
}

fn os(args: &[&'static str]) -> Vec<&'static OsStr> {
    args.iter().map(|a| OsStr::new(*a)).collect()
}

fn ci() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    run(&cargo, &os(&["fmt", "--all", "--", "--check"]), &[])?;
    run(
        &cargo,
        &os(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
        &[],
    )?;
    run(&cargo, &os(&["test", "--workspace"]), &[])?;
    let scripts = tidy::shell_scripts(&project_root().join("setup-scripts"));
    if scripts.is_empty() {
        eprintln!("xtask: no shell scripts in setup-scripts/ yet; shellcheck skipped");
        return Ok(());
    }
    let mut args: Vec<&OsStr> = os(&["-S", "warning"]);
    args.extend(scripts.iter().map(|p| p.as_os_str()));
    run("shellcheck", &args, &[])
        .map_err(|e| format!("{e}\nhint: CI installs shellcheck with apt-get (see .ci/run)"))
}

fn demo() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    run(
        &cargo,
        &os(&[
            "build",
            "--quiet",
            "--bin",
            "phoenix-cli",
            "--bin",
            "pve-sim",
        ]),
        &[],
    )?;
    let root = project_root();
    let sysroot = std::env::temp_dir().join(format!("phoenix-demo-{}", std::process::id()));
    std::fs::create_dir_all(&sysroot)
        .map_err(|e| format!("cannot create {}: {e}", sysroot.display()))?;
    let result = demo_steps(&root, &sysroot);
    let _ = std::fs::remove_dir_all(&sysroot);
    result?;
    eprintln!(
        "\nxtask: the simulator demo (LetsGo against pve-sim) grows here as the managers land"
    );
    Ok(())
}

/// Validates the example estate, then brings up the simulated host it describes.
fn demo_steps(root: &Path, sysroot: &Path) -> Result<(), String> {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let bin = |name: &str| {
        target
            .join("debug")
            .join(name)
            .to_string_lossy()
            .into_owned()
    };
    let envs = [
        (phoenix_paths::ENV_ROOT, root.as_os_str()),
        (phoenix_paths::ENV_SYSROOT, sysroot.as_os_str()),
    ];
    run(
        &bin(phoenix_paths::binaries::CLI),
        &os(&["validate", "--config", "etc"]),
        &envs,
    )?;
    let sim = bin("pve-sim");
    run(
        &sim,
        &os(&["init", "--from-config", "etc", "--gpus", "1"]),
        &envs,
    )?;
    run(&sim, &os(&["pvesm", "status"]), &envs)?;
    run(&sim, &os(&["zpool", "status", "tank"]), &envs)?;
    run(&sim, &os(&["state"]), &envs)
}
