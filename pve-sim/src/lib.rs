//! `pve-sim`: a strict Proxmox VE simulator to test and demo against.
//!
//! One multi-call binary answers as `pct`, `qm`, `pvesm`, `pveam`, `zfs` and
//! `zpool`, and as the host tools `hypervisor-manager setup` calls (`apt-get`, `systemctl`,
//! `useradd`, `apparmor_parser`, `exportfs`, … — see [`tools::host`]); install links with
//! `pve-sim install <bin-dir>`. It keeps a whole simulated host under `$PHOENIX_SYSROOT`
//! (see [`root`]). Each invocation:
//!
//! 1. takes the host's state lock, loads the state and the knobs ([`knobs`]);
//! 2. fails on purpose when an injected fault matches, or runs the tool, which refuses what
//!    real Proxmox refuses (with Proxmox's text and a non-zero exit) and otherwise updates the
//!    real-format files (`/etc/pve/...`) and the bookkeeping (`var/lib/pve-sim/state.json`);
//! 3. advances the simulated clock by the operation's cost, appends one JSON line to the
//!    audit log, releases the lock;
//! 4. sleeps `cost × time_scale` wall seconds (holding the storage lock Proxmox would hold),
//!    then prints and exits.
//!
//! `pve-sim init|state|install|fault|rule|audit|disk|reboot|step-ca-root` manage the
//! simulated host itself.

pub mod admin;
pub mod args;
pub mod b64;
pub mod clock;
pub mod cloudinit;
pub mod conf;
pub mod docker;
pub mod guestfs;
pub mod host;
pub mod knobs;
pub mod lxc_keys;
pub mod outcome;
pub mod portainer;
pub mod profile;
pub mod propstr;
pub mod real;
pub mod root;
pub mod shell;
pub mod state;
pub mod storage;
pub mod tools;
pub mod zfs;

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use knobs::Knobs;
use outcome::{DIE, Effect, Outcome};
use root::SimRoot;
use state::State;

/// Proxmox's tools this binary answers as.
pub const PVE_TOOLS: [&str; 7] = ["pct", "qm", "pvesm", "pveam", "pveversion", "zfs", "zpool"];

/// Every tool this binary answers as: Proxmox's, then the host tools
/// ([`tools::host::TOOLS`]).
pub fn tools() -> impl Iterator<Item = &'static str> {
    PVE_TOOLS.iter().chain(tools::host::TOOLS).copied()
}

/// Whether this binary answers as `name`.
pub fn is_tool(name: &str) -> bool {
    tools().any(|t| t == name)
}

/// Everything a tool needs while it runs.
pub struct Ctx {
    /// The simulated host.
    pub root: SimRoot,
    /// Loaded state (saved after the command when it changed something).
    pub state: State,
    /// Knobs.
    pub knobs: Knobs,
    /// Guest command rules.
    pub rules: Vec<knobs::Rule>,
    /// Standard input read before the state lock was taken, for a command that forwards it
    /// (`qm guest exec --pass-stdin`); at most one byte more than such a command accepts.
    /// `None`: not read yet (the command reads it itself when it needs it).
    pub stdin: Option<Vec<u8>>,
}

/// The name the binary was invoked as (`pct` through a link), or `pve-sim`.
pub fn invoked_as(argv0: &OsString) -> String {
    Path::new(argv0).file_name().map_or_else(
        || "pve-sim".to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Entry point.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let name = args
        .first()
        .map_or_else(|| "pve-sim".to_string(), invoked_as);
    let rest: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if is_tool(&name) {
        return run_tool(&name, &rest);
    }
    match rest.first().map(String::as_str) {
        Some(t) if is_tool(t) => run_tool(t, &rest[1..]),
        _ => admin::main(&rest),
    }
}

/// The subcommand and object a command line names, for faults and the audit log.
/// `kill -9` of the run that made this call (`fault add --kill NAME`): every ancestor of this
/// process up to the first one whose command name is `name`, then this process. Returns only
/// when no ancestor has that name (then nothing is killed: never the test harness or a shell
/// above the run), with the reason.
fn kill_run(name: &str) -> String {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    // `/proc/<pid>/stat`: `pid (comm) state ppid …`; comm may hold spaces and parentheses.
    let parent_of = |pid: i32| -> Option<(i32, String)> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let comm = stat[open + 1..close].to_string();
        let ppid = stat[close + 2..].split_whitespace().nth(1)?.parse().ok()?;
        Some((ppid, comm))
    };
    let mut doomed = Vec::new();
    let mut found = false;
    let mut pid = nix::unistd::getppid().as_raw();
    while pid > 1 {
        let Some((ppid, comm)) = parent_of(pid) else {
            break;
        };
        doomed.push(pid);
        if comm == name {
            found = true;
            break;
        }
        pid = ppid;
    }
    if !found {
        return format!("pve-sim: no ancestor named {name:?} to kill\n");
    }
    for p in doomed.iter().rev() {
        let _ = kill(Pid::from_raw(*p), Signal::SIGKILL);
    }
    let _ = kill(nix::unistd::getpid(), Signal::SIGKILL);
    std::process::abort()
}

pub fn describe(tool: &str, args: &[String]) -> (String, String) {
    let pos: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let first = pos.first().map_or(String::new(), |s| s.to_string());
    match (tool, first.as_str()) {
        ("qm", "guest" | "agent" | "cloudinit" | "disk") => {
            // `qm guest exec 101`, `qm agent 101 ping`, `qm cloudinit update 101`
            let (sub, id) = match first.as_str() {
                "agent" => (
                    format!("agent {}", pos.get(2).map_or("", |s| s.as_str())),
                    pos.get(1),
                ),
                _ => (
                    format!("{first} {}", pos.get(1).map_or("", |s| s.as_str())),
                    pos.get(2),
                ),
            };
            (
                sub.trim().to_string(),
                id.map_or(String::new(), |s| s.to_string()),
            )
        }
        _ => (first, pos.get(1).map_or(String::new(), |s| s.to_string())),
    }
}

fn run_tool(tool: &str, args: &[String]) -> ExitCode {
    match run_tool_inner(tool, args) {
        Ok(o) => {
            let _ = std::io::stdout().write_all(o.stdout.as_bytes());
            let _ = std::io::stderr().write_all(o.stderr.as_bytes());
            ExitCode::from(u8::try_from(o.code).unwrap_or(1))
        }
        Err(e) => {
            eprintln!("{tool} (pve-sim): {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run_tool_inner(tool: &str, args: &[String]) -> anyhow::Result<Outcome> {
    let root = SimRoot::from_env()?;
    if !root.initialised() {
        anyhow::bail!(
            "the simulated host at {} is not initialised; run `pve-sim init` first",
            root.sysroot().display()
        );
    }
    let (sub, id) = describe(tool, args);
    // Read a forwarded stdin before taking the lock: its writer may be another simulated
    // command (`qm guest exec A -- cat f | qm guest exec B --pass-stdin 1 -- …`).
    // Host tools that take secrets on stdin (`chpasswd`, `smbpasswd`) read it here too.
    let stdin = if tool == "qm" && tools::qm::passes_stdin(args) {
        Some(tools::qm::read_stdin())
    } else if tools::host::reads_stdin(tool, args) {
        Some(tools::host::read_stdin())
    } else {
        None
    };
    let lock = root.lock()?;
    let began = std::time::Instant::now();
    let mut state = State::load(&root)?;
    let knobs = Knobs::load(&root);
    let rules = knobs::rules(&root);
    state.seq += 1;
    let seq = state.seq;
    let started = state.clock_ms;

    // Injected faults fail a call without touching the host.
    let mut fault_hit = None;
    for (i, f) in knobs::faults(&root).iter().enumerate() {
        let matches = (f.tool == tool || f.tool == "*")
            && (f.sub.is_empty() || f.sub == sub)
            && (f.id.is_empty() || f.id == id);
        if !matches {
            continue;
        }
        let n = state.fault_hits.entry(i).or_insert(0);
        *n += 1;
        let nth = f.nth.max(1);
        if *n == nth || (f.always && *n > nth) {
            fault_hit = Some(f.clone());
            break;
        }
    }
    args::set_strict(knobs.strict);
    let mut ctx = Ctx {
        root: root.clone(),
        state,
        knobs,
        rules,
        stdin,
    };
    let kill_failed = fault_hit
        .as_ref()
        .and_then(|f| f.kill.clone())
        .map(|name| kill_run(&name));
    let outcome = match &fault_hit {
        Some(f) => {
            let mut msg = if let Some(why) = &kill_failed {
                why.clone()
            } else if f.message.is_empty() {
                format!("injected fault in `{tool} {sub}`")
            } else {
                f.message.clone()
            };
            if !msg.ends_with('\n') {
                msg.push('\n');
            }
            Outcome {
                code: f.exit.unwrap_or(DIE),
                stderr: msg,
                ..Outcome::ok(Effect::Read)
            }
        }
        None => {
            ctx.state.holds.retain(state::Hold::alive);
            match tools::guest::flock_conflict(tool, &sub, &id, &ctx.state) {
                Some(refusal) => refusal,
                None => tools::dispatch(tool, &mut ctx, args),
            }
        }
    };
    let mut outcome = outcome;
    let holds = std::mem::take(&mut outcome.holds);
    for mut h in holds.iter().cloned() {
        h.seq = seq;
        h.pid = std::process::id();
        ctx.state.holds.push(h);
    }
    let secs = if outcome.secs > 0.0 {
        outcome.secs
    } else {
        ctx.knobs.cost("read")
    };
    ctx.state.clock_ms += (secs * 1000.0).round() as u64;
    ctx.state.save(&ctx.root)?;
    audit(
        &ctx.root,
        seq,
        started,
        tool,
        args,
        &outcome,
        fault_hit.is_some(),
        (secs, began.elapsed().as_secs_f64()),
    )?;
    drop(lock);

    let wall = secs * ctx.knobs.time_scale;
    if wall > 0.0 {
        match &outcome.storage {
            Some(s) => {
                // Proxmox holds the storage lock only around allocations, clones of volumes
                // and frees (pve-storage src/PVE/Storage.pm `vdisk_alloc`, `vdisk_clone`,
                // `vdisk_free` run the plugin under `cluster_lock_storage`); the copy of the
                // data that follows (qemu-img convert, rsync) runs without it. Operations on
                // one storage wait for each other's allocation; the wait and the hold are
                // recorded.
                let held = wall.min(ctx.knobs.cost("storage.alloc") * ctx.knobs.time_scale);
                let asked = unix_nanos();
                let lock = ctx.root.named_lock(&format!("storage-{s}"))?;
                let start = unix_nanos();
                std::thread::sleep(Duration::from_secs_f64(held));
                let end = unix_nanos();
                drop(lock);
                let line = serde_json::json!({"seq": seq, "storage": s, "asked_ns": asked, "start_ns": start, "end_ns": end});
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(ctx.root.data_file("storage-locks.jsonl"))?;
                f.write_all(format!("{line}\n").as_bytes())?;
                std::thread::sleep(Duration::from_secs_f64(wall - held));
            }
            None => std::thread::sleep(Duration::from_secs_f64(wall)),
        }
    }
    if !holds.is_empty() {
        release(&root, seq)?;
    }
    Ok(outcome)
}

/// Ends the guest locks invocation `seq` held: its flocks, and the `lock:` values it wrote
/// (unless something else replaced them meanwhile).
fn release(root: &SimRoot, seq: u64) -> anyhow::Result<()> {
    let _lock = root.lock()?;
    let mut state = State::load(root)?;
    let (mine, rest): (Vec<_>, Vec<_>) = state.holds.drain(..).partition(|h| h.seq == seq);
    state.holds = rest;
    for h in mine {
        if let Some(l) = &h.lock {
            tools::guest::remove_lock(root, h.vm, h.guest, l)?;
        }
    }
    state.save(root)
}

fn unix_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

#[allow(clippy::too_many_arguments)]
fn audit(
    root: &SimRoot,
    seq: u64,
    clock_ms: u64,
    tool: &str,
    args: &[String],
    o: &Outcome,
    fault: bool,
    (secs, wall): (f64, f64),
) -> anyhow::Result<()> {
    let line = serde_json::json!({
        "seq": seq,
        "clock": clock_ms as f64 / 1000.0,
        "tool": tool,
        "argv": args,
        "effect": o.effect,
        "exit": o.code,
        "refused": o.refused,
        "fault": fault,
        "secs": secs,
        // Real seconds the call took (what a real guest's installer took, in `cargo xtask e2e`).
        "wall": (wall * 1000.0).round() / 1000.0,
        "guest": o.guest,
        "lenient": args::take_lenient_notes(),
    });
    let path = root.data_file("audit.jsonl");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    f.write_all(format!("{line}\n").as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn describes_subcommands_and_objects() {
        assert_eq!(
            describe("pct", &v(&["start", "101"])),
            ("start".into(), "101".into())
        );
        assert_eq!(
            describe("qm", &v(&["guest", "exec", "1001", "--", "ls"])),
            ("guest exec".into(), "1001".into())
        );
        assert_eq!(
            describe("qm", &v(&["agent", "1001", "ping"])),
            ("agent ping".into(), "1001".into())
        );
        assert_eq!(
            describe("pct", &v(&["set", "101", "--memory", "4096"])),
            ("set".into(), "101".into())
        );
        assert_eq!(invoked_as(&OsString::from("/tmp/t/bin/pct")), "pct");
    }

    #[test]
    fn every_tool_is_answered_once() {
        let all: Vec<&str> = tools().collect();
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), all.len());
        assert!(is_tool("pct") && is_tool("visudo") && !is_tool("sh"));
    }
}
