//! Real guests (opt-in: `PVE_SIM_REAL_GUESTS=<rootfs tarball>`): a container's root file
//! system is a real Debian tree, unpacked from the tarball when the container is created,
//! booted with `systemd-nspawn` when it starts, and `pct exec` runs the command in it with
//! `nsenter`, so real bash, coreutils, apt, systemd and services run. Needs root,
//! `systemd-nspawn` (systemd-container) and `nsenter` (util-linux); the tarball is built by
//! `cargo xtask e2e` with `mmdebstrap`. Without the variable, guests are the simulator's cheap
//! file trees (every other test).
//!
//! The guest shares the host's network (apt reaches Debian's archive), so only installers
//! that use Debian's archive may run there; with `PVE_SIM_REAL_GUESTS_OFFLINE=1` it gets a
//! network of its own with only loopback (`systemd-nspawn --private-network`), where an
//! installer that needs a third-party repository fails at once and nothing leaves the
//! machine.
//!
//! This is test tooling that starts and stops processes (the guests), the simulator's one
//! exception to running commands through phoenix-core's runner, which it does not link.

#![allow(clippy::disallowed_methods)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The rootfs tarball real guests are made from, when real guests are on.
pub fn tarball() -> Option<PathBuf> {
    std::env::var_os("PVE_SIM_REAL_GUESTS")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn run(program: &str, args: &[&std::ffi::OsStr]) -> Result<std::process::Output, String> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))
}

/// Unpacks the tarball into `tree` (unless it already holds a system).
pub fn populate(tree: &Path, tarball: &Path) -> Result<(), String> {
    if tree.join("usr/bin/bash").exists() {
        return Ok(());
    }
    std::fs::create_dir_all(tree).map_err(|e| format!("{}: {e}", tree.display()))?;
    let out = run(
        "tar",
        &[
            "-xpf".as_ref(),
            tarball.as_os_str(),
            "-C".as_ref(),
            tree.as_os_str(),
        ],
    )?;
    if !out.status.success() {
        return Err(format!(
            "cannot unpack {}: {}",
            tarball.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn machine(id: u32) -> String {
    format!("pvesim-ct{id}")
}

/// Where a guest's nspawn PID and console log live.
fn files(data: &Path, id: u32) -> (PathBuf, PathBuf) {
    let dir = data.join("real");
    (
        dir.join(format!("{id}.pid")),
        dir.join(format!("{id}.console")),
    )
}

/// Whether `pid` runs (an exited process its parent has not reaped yet, a zombie, does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(") ")
                .and_then(|(_, rest)| rest.chars().next())
        })
        .is_some_and(|state| state != 'Z' && state != 'X')
}

fn nspawn_pid(data: &Path, id: u32) -> Option<u32> {
    let (pidfile, _) = files(data, id);
    let pid: u32 = std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()?;
    alive(pid).then_some(pid)
}

/// The container's init (the nspawn process's child).
fn init_pid(data: &Path, id: u32) -> Option<u32> {
    let pid = nspawn_pid(data, id)?;
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `path` as the booted guest sees it (through its init's root, so its own mounts count).
pub fn view(data: &Path, id: u32, path: &str) -> Option<PathBuf> {
    tarball()?;
    let init = init_pid(data, id)?;
    Some(PathBuf::from(format!(
        "/proc/{init}/root/{}",
        path.trim_start_matches('/')
    )))
}

/// Whether the guest is booted.
pub fn running(data: &Path, id: u32) -> bool {
    init_pid(data, id).is_some()
}

/// Boots the guest: `systemd-nspawn -b` on `root` with `binds` (guest path, host directory),
/// detached, then waits until systemd says it is up (at most a minute).
pub fn boot(data: &Path, id: u32, root: &Path, binds: &[(String, PathBuf)]) -> Result<(), String> {
    if running(data, id) {
        return Ok(());
    }
    let (pidfile, console) = files(data, id);
    std::fs::create_dir_all(pidfile.parent().expect("a directory")).map_err(|e| format!("{e}"))?;
    let mut args: Vec<String> = vec![
        "-b".into(),
        "-q".into(),
        "--register=no".into(),
        "--keep-unit".into(),
        format!("--machine={}", machine(id)),
        "-D".into(),
        root.display().to_string(),
    ];
    if std::env::var_os("PVE_SIM_REAL_GUESTS_OFFLINE").is_some_and(|v| v == "1") {
        args.push("--private-network".into());
    }
    for (inside, host) in binds {
        std::fs::create_dir_all(host).map_err(|e| format!("{}: {e}", host.display()))?;
        args.push(format!("--bind={}:{inside}", host.display()));
    }
    let log = std::fs::File::create(&console).map_err(|e| format!("{e}"))?;
    let child = Command::new("systemd-nspawn")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| format!("{e}"))?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run systemd-nspawn (install systemd-container): {e}"))?;
    std::fs::write(&pidfile, child.id().to_string()).map_err(|e| format!("{e}"))?;
    // Not waited for: the guest outlives this `pct start`; `stop` ends it.
    std::mem::forget(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(init) = init_pid(data, id) {
            let out = run(
                "nsenter",
                &[
                    "-t".as_ref(),
                    init.to_string().as_ref(),
                    "-a".as_ref(),
                    "systemctl".as_ref(),
                    "is-system-running".as_ref(),
                ],
            )?;
            let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if state == "running" || state == "degraded" {
                return Ok(());
            }
        } else if nspawn_pid(data, id).is_none() {
            return Err(format!(
                "systemd-nspawn exited while booting container {id}:\n{}",
                std::fs::read_to_string(&console).unwrap_or_default()
            ));
        }
        if Instant::now() > deadline {
            return Err(format!("container {id} did not finish booting within 60 s"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs `cmd` in the booted guest (its namespaces): exit status, stdout, stderr.
pub fn exec(data: &Path, id: u32, cmd: &[String]) -> Result<(i32, String, String), String> {
    let init = init_pid(data, id).ok_or_else(|| format!("container {id} is not booted"))?;
    let out = Command::new("nsenter")
        // pct exec's PATH (pve-container src/PVE/CLI/pct.pm `exec`); the rest of the caller's
        // environment is kept, as `--keep-env` (the default) does.
        .args(["-t", &init.to_string(), "-a", "--", "env"])
        .arg("PATH=/sbin:/bin:/usr/sbin:/usr/bin")
        .args(cmd)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run nsenter: {e}"))?;
    Ok((
        out.status.code().unwrap_or(255),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Powers the guest off (systemd-nspawn turns SIGTERM into an orderly shutdown of a booted
/// container) and waits for it, killing it after 60 s.
pub fn stop(data: &Path, id: u32) {
    let Some(pid) = nspawn_pid(data, id) else {
        return;
    };
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if alive(pid) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = std::fs::remove_file(files(data, id).0);
}
