//! Real guests (opt-in: `PVE_SIM_REAL_GUESTS=<rootfs tarball>`): a guest's root file system
//! is a real Debian tree, unpacked from the tarball when a container is created or a VM
//! first starts, booted with `systemd-nspawn` when it starts; `pct exec` runs the command in
//! it with `nsenter`, and a VM's `qm guest exec` goes through the real QEMU guest agent in it
//! ([`agent`]), after real cloud-init has applied the VM's NoCloud seed ([`seed`]), so real
//! bash, coreutils, apt, systemd, cloud-init and services run. Needs root,
//! `systemd-nspawn` (systemd-container) and `nsenter` (util-linux); the tarball is built by
//! `cargo xtask e2e` with `mmdebstrap`. Without the variable, guests are the simulator's cheap
//! file trees (every other test).
//!
//! The guest has a network of its own with only loopback (`systemd-nspawn
//! --private-network`): its one way out is [`archive`], a proxy on its loopback that reaches
//! Debian's package archive and nothing else, which its apt is configured to use. An
//! installer that needs a third-party repository fails at once, naming the URL, and nothing
//! leaves the machine; guests' services never bind the host's ports.
//!
//! This is test tooling that starts and stops processes (the guests), the simulator's one
//! exception to running commands through phoenix-core's runner, which it does not link.

#![allow(clippy::disallowed_methods)]

pub mod agent;
pub mod archive;
pub mod net;

use std::io::BufRead;
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

/// Unpacks the tarball into `tree` (unless it already holds a system), with apt pointed at
/// the guest's [`archive`] proxy.
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
    let (conf, text) = archive::APT_CONF;
    std::fs::write(tree.join(conf), text).map_err(|e| format!("{}: {e}", tree.join(conf).display()))
}

/// A VM's tree: [`populate`]d, with the guest agent's port ([`agent::UNIT`]).
pub fn populate_vm(tree: &Path, tarball: &Path) -> Result<(), String> {
    populate(tree, tarball)?;
    let (unit, text) = agent::UNIT;
    std::fs::write(tree.join(unit), text).map_err(|e| format!("{}: {e}", tree.join(unit).display()))
}

/// Puts a VM's cloud-init documents where its NoCloud data source reads them (what the
/// cloud-init drive, a `cidata` ISO, holds on a real VM: qemu-server
/// `PVE/QemuServer/Cloudinit.pm`), before it boots.
pub fn seed(tree: &Path, user: &str, network: &str, meta: &str) -> Result<(), String> {
    let dir = tree.join("var/lib/cloud/seed/nocloud");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, text) in [
        ("user-data", user),
        ("network-config", network),
        ("meta-data", meta),
    ] {
        std::fs::write(dir.join(name), text).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    Ok(())
}

/// The guest's machine (and network namespace) name: its ID — Proxmox VMIDs are one
/// namespace for containers and VMs — and the simulated host's data directory, since two
/// simulated hosts on one machine (tests running side by side) may have the same IDs.
fn machine(data: &Path, id: u32) -> String {
    let digest = sha1_smol::Sha1::from(data.display().to_string())
        .digest()
        .to_string();
    format!("pvesim-{id}-{}", &digest[..8])
}

/// Where a guest's nspawn PID and console log live.
fn files(data: &Path, id: u32) -> (PathBuf, PathBuf) {
    let dir = data.join("real");
    (
        dir.join(format!("{id}.pid")),
        dir.join(format!("{id}.console")),
    )
}

/// Starts the guest's [`archive`] proxy (`pve-sim archive-proxy <netns>`, detached; it ends
/// with the guest's network namespace) and waits until it listens.
fn start_archive_proxy(data: &Path, id: u32, netns: &Path) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find pve-sim: {e}"))?;
    let log = std::fs::File::create(data.join("real").join(format!("{id}.proxy.log")))
        .map_err(|e| format!("{e}"))?;
    let mut child = Command::new(exe)
        .arg0("pve-sim")
        .arg("archive-proxy")
        .arg(netns)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start the archive proxy: {e}"))?;
    let mut first = String::new();
    let stdout = child.stdout.take().expect("piped");
    let _ = std::io::BufReader::new(stdout).read_line(&mut first);
    if first.trim() != "ready" {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "the archive proxy of guest {id} did not start (see {}/real/{id}.proxy.log)",
            data.display()
        ));
    }
    // Not waited for: it serves until the guest's network namespace is gone.
    std::mem::forget(child);
    Ok(())
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

/// How long [`boot`] waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Until systemd says the system is up (a container: `pct start` returns once it runs,
    /// and the managers `pct exec` into it at once).
    Up,
    /// Until its init runs (a VM: `qm start` returns once QEMU runs; the managers wait for
    /// the guest agent).
    Init,
}

/// A guest to boot: its root file system, bind mounts (guest path, host directory), NICs
/// (name, MAC), and how long [`boot`] waits.
#[derive(Debug)]
pub struct Machine<'a> {
    pub root: &'a Path,
    pub binds: &'a [(String, PathBuf)],
    pub nics: &'a [(String, String)],
    pub wait: Wait,
}

/// Boots the guest: its network ([`net`]) and archive proxy first, then `systemd-nspawn -b`
/// on its root with its binds, detached; waits as `m.wait` says (at most a minute). A boot
/// that fails leaves nothing behind.
pub fn boot(data: &Path, id: u32, m: &Machine<'_>) -> Result<(), String> {
    if running(data, id) {
        return Ok(());
    }
    std::fs::create_dir_all(data.join("real")).map_err(|e| format!("{e}"))?;
    let booted = start(data, id, m);
    if booted.is_err() {
        stop(data, id);
    }
    booted
}

fn start(data: &Path, id: u32, m: &Machine<'_>) -> Result<(), String> {
    let Machine {
        root,
        binds,
        nics,
        wait,
    } = *m;
    let netns = net::create(data, id, nics)?;
    start_archive_proxy(data, id, &netns)?;
    let (pidfile, console) = files(data, id);
    std::fs::create_dir_all(pidfile.parent().expect("a directory")).map_err(|e| format!("{e}"))?;
    let mut args: Vec<String> = vec![
        "-b".into(),
        "-q".into(),
        "--register=no".into(),
        "--keep-unit".into(),
        format!("--machine={}", machine(data, id)),
        "-D".into(),
        root.display().to_string(),
    ];
    for (inside, host) in binds {
        std::fs::create_dir_all(host).map_err(|e| format!("{}: {e}", host.display()))?;
        args.push(format!("--bind={}:{inside}", host.display()));
    }
    let log = std::fs::File::create(&console).map_err(|e| format!("{e}"))?;
    // nspawn runs in the guest's network namespace (`nsenter --net` execs it there), so the
    // sysfs it mounts shows the guest's interfaces (with `--network-namespace-path` alone the
    // guest's /sys/class/net is the host's); the option and CAP_NET_ADMIN let the guest set
    // its own `net.*` sysctls and interfaces, as a VM or a container with its own netns may.
    args.push(format!("--network-namespace-path={}", netns.display()));
    args.push("--capability=CAP_NET_ADMIN".into());
    let child = Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .args(["--", "systemd-nspawn"])
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
    let mut writable = false;
    loop {
        if let Some(init) = init_pid(data, id) {
            if !writable {
                net_sysctls_writable(init)?;
                writable = true;
            }
            if wait == Wait::Init {
                return Ok(());
            }
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
                "systemd-nspawn exited while booting guest {id}:\n{}",
                std::fs::read_to_string(&console).unwrap_or_default()
            ));
        }
        if Instant::now() > deadline {
            return Err(format!("guest {id} did not finish booting within 60 s"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Makes the guest's `/proc/sys/net` writable (its own network namespace's settings), which
/// nspawn does only for a network it made itself (`--private-network`): a bind of it on
/// itself, remounted read-write, in the guest's mount namespace.
fn net_sysctls_writable(init: u32) -> Result<(), String> {
    let out = run(
        "nsenter",
        &[
            "-t".as_ref(),
            init.to_string().as_ref(),
            "-m".as_ref(),
            "--".as_ref(),
            "sh".as_ref(),
            "-c".as_ref(),
            "mount --bind /proc/sys/net /proc/sys/net && mount -o remount,bind,rw /proc/sys/net"
                .as_ref(),
        ],
    )?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "cannot make the guest's /proc/sys/net writable: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Runs `cmd` in the booted guest (its namespaces): exit status, stdout, stderr.
pub fn exec(data: &Path, id: u32, cmd: &[String]) -> Result<(i32, String, String), String> {
    let init = init_pid(data, id).ok_or_else(|| format!("guest {id} is not booted"))?;
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
    if let Some(pid) = nspawn_pid(data, id) {
        power_off(pid);
    }
    let _ = std::fs::remove_file(files(data, id).0);
    net::remove(data, id);
}

fn power_off(pid: u32) {
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
}

/// Whether a command run in a real guest only reads (for the audit log): the probes the
/// managers make. Anything else counts as a change.
pub fn reads_only(cmd: &[String]) -> bool {
    let first = cmd.first().map(String::as_str).unwrap_or("");
    let prog = first.rsplit('/').next().unwrap_or(first);
    match prog {
        "cat" | "test" | "stat" | "ls" | "sha256sum" | "id" | "true" | "hostname" => true,
        "systemctl" => cmd.get(1).is_some_and(|s| {
            matches!(
                s.as_str(),
                "is-active" | "is-enabled" | "is-system-running" | "status"
            )
        }),
        "cloud-init" => cmd.get(1).is_some_and(|s| s == "status"),
        _ => false,
    }
}
