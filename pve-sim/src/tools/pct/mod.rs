//! `pct`: containers (pve-container), as the simulator runs them.
//!
//! Every refusal prints Proxmox's text and exits 255 (see the notes in each function);
//! `template`, `resize`, `push` and `pull` exit 0 when their task fails, as the real CLI does.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::Ctx;
use crate::args::{Kind, Parsed};
use crate::conf::{Flavor, GuestConf, Section, print_config};
use crate::guestfs::GuestFs;
use crate::outcome::{Effect, Outcome};
use crate::propstr::PropStr;
use crate::storage::{StorageCfg, parse_volname, split_volid};
use crate::tools::ct_opts::{self, disk_size, format_size};
use crate::tools::guest::{self, check_lock, is_template};
use crate::tools::{
    check, die, param_error, parse_opts, positionals, random_mac, resolve, task_error_exit0,
};

mod clone;
mod create;
mod files;
mod lifecycle;
mod mounts;
mod set;
mod snapshot;

use clone::*;
use create::*;
use files::*;
use lifecycle::*;
use mounts::*;
use set::*;
use snapshot::*;

const F: Flavor = Flavor::Lxc;

const COMMANDS: &[(&str, &str)] = &[
    ("clone", "<vmid> <newid> [OPTIONS]"),
    ("config", "<vmid> [OPTIONS]"),
    ("create", "<vmid> <ostemplate> [OPTIONS]"),
    ("delsnapshot", "<vmid> <snapname> [OPTIONS]"),
    ("destroy", "<vmid> [OPTIONS]"),
    ("exec", "<vmid> [<extra-args>] [OPTIONS]"),
    ("list", ""),
    ("listsnapshot", "<vmid>"),
    ("pending", "<vmid>"),
    ("pull", "<vmid> <path> <destination> [OPTIONS]"),
    ("push", "<vmid> <file> <destination> [OPTIONS]"),
    ("reboot", "<vmid> [OPTIONS]"),
    ("resize", "<vmid> <disk> <size> [OPTIONS]"),
    ("rollback", "<vmid> <snapname> [OPTIONS]"),
    ("set", "<vmid> [OPTIONS]"),
    ("shutdown", "<vmid> [OPTIONS]"),
    ("snapshot", "<vmid> <snapname> [OPTIONS]"),
    ("start", "<vmid> [OPTIONS]"),
    ("status", "<vmid> [OPTIONS]"),
    ("stop", "<vmid> [OPTIONS]"),
    ("template", "<vmid>"),
    ("unlock", "<vmid>"),
];

fn usage(cmd: &str) -> String {
    let u = COMMANDS
        .iter()
        .find(|(c, _)| *c == cmd)
        .map_or("", |(_, u)| u);
    if u.is_empty() {
        format!("pct {cmd} ")
    } else {
        format!("pct {cmd} {u}")
    }
}

/// Runs `pct <args>`.
pub fn run(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let cmd = match resolve("pct", args.first().map(String::as_str), COMMANDS) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let rest = &args[1..];
    let out = match cmd {
        "create" => create(ctx, rest),
        "clone" => clone(ctx, rest),
        "set" => set(ctx, rest),
        "config" => config(ctx, rest),
        "pending" => pending(ctx, rest),
        "status" => status(ctx, rest),
        "start" => start(ctx, rest),
        "stop" | "shutdown" => stop(ctx, rest, cmd),
        "reboot" => reboot(ctx, rest),
        "destroy" => destroy(ctx, rest),
        "template" => template(ctx, rest),
        "resize" => resize(ctx, rest),
        "snapshot" => snapshot(ctx, rest),
        "listsnapshot" => listsnapshot(ctx, rest),
        "delsnapshot" => delsnapshot(ctx, rest),
        "rollback" => rollback(ctx, rest),
        "push" => push(ctx, rest),
        "pull" => pull(ctx, rest),
        "exec" => exec(ctx, rest),
        "unlock" => unlock(ctx, rest),
        _ => Err(die(format!("pct {cmd}: not simulated"))),
    };
    out.unwrap_or_else(|o| o)
}

type R = Result<Outcome, Outcome>;

/// Parses options and the VMID (first positional).
fn opts(
    args: &[String],
    cmd: &str,
    spec: &[(&str, Kind)],
    n_pos: usize,
) -> Result<(Parsed, u32), Outcome> {
    let u = usage(cmd);
    let p = parse_opts(args, spec, &|_| None, &u)?;
    positionals(&p, n_pos, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    Ok((p, id))
}

fn cost(ctx: &Ctx, op: &str) -> f64 {
    ctx.knobs.cost(op)
}

/// A mount point of the config (`rootfs` or `mpN`).
#[derive(Clone, Debug)]
struct Mp {
    key: String,
    ps: PropStr,
    volume: String,
}

#[derive(PartialEq)]
enum MpKind {
    Volume,
    Bind,
    Device,
}

impl Mp {
    fn kind(&self) -> MpKind {
        if self.volume.starts_with("/dev/") {
            MpKind::Device
        } else if self.volume.starts_with('/') {
            MpKind::Bind
        } else {
            MpKind::Volume
        }
    }

    fn kind_name(&self) -> &'static str {
        match self.kind() {
            MpKind::Volume => "volume",
            MpKind::Bind => "bind",
            MpKind::Device => "device",
        }
    }

    fn render(&self, rootfs: bool) -> String {
        let mut ps = self.ps.clone();
        ps.set("volume", self.volume.clone());
        let first: &[&str] = if rootfs {
            &["volume"]
        } else {
            &["volume", "mp"]
        };
        ps.print(first, true)
    }
}

/// Starts a loaded container (`vm_start`): applies pending changes, checks bind mounts.
pub(crate) fn start_ct(ctx: &mut Ctx, id: u32) -> R {
    let mut conf = guest::load(ctx, F, id)?;
    if is_template(&conf) {
        return Err(die("you can't start a CT if it's a template"));
    }
    if conf.main.get("lock").is_some_and(|l| l != "mounted") {
        check_lock(&conf, F)?;
    }
    // Raw lxc.* keys pve-container drops or refuses (Config.pm is_valid_lxc_conf_key) never
    // reach LXC: Proxmox warns and starts without them. Strict mode refuses, so a product that
    // writes one is caught.
    for (k, v) in &conf.main.raw {
        if let Some(why) = crate::lxc_keys::dropped(id, k, v) {
            if crate::args::is_strict() {
                return Err(Outcome::refuse(format!("{why}\n")));
            }
        }
    }
    let cfg = StorageCfg::load(&ctx.root);
    if !conf.pending.keys.is_empty() {
        let mut out = String::new();
        apply_pending(ctx, id, &mut conf, &cfg, false, None, &mut out)?;
        guest::save(ctx, F, id, &conf)?;
    }
    for m in mountpoints(&conf.main) {
        match m.kind() {
            MpKind::Bind | MpKind::Device if !ctx.root.host(&m.volume).exists() => {
                return Err(die(format!(
                    "lxc-start: {id}: ../src/lxc/conf.c: mount_entry: Failed to mount \"{}\" on \"{}\"\nstartup for container '{id}' failed",
                    m.volume,
                    m.ps.get("mp").unwrap_or("/")
                )));
            }
            MpKind::Volume if ctx.state.volume_path(&ctx.root, &cfg, &m.volume).is_none() => {
                return Err(die(format!(
                    "startup for container '{id}' failed: volume '{}' does not exist",
                    m.volume
                )));
            }
            _ => {}
        }
    }
    for (k, v) in conf.main.keys.iter().filter(|(k, _)| k.starts_with("dev")) {
        let ps = PropStr::parse(v, Some("path")).unwrap_or_default();
        if !ctx.root.host(ps.get("path").unwrap_or("/")).exists() {
            return Err(die(format!(
                "startup for container '{id}' failed: device of {k} does not exist"
            )));
        }
    }
    let mut out = String::new();
    let nesting = conf
        .main
        .get("features")
        .is_some_and(|f| f.contains("nesting=1"));
    if nesting
        && conf
            .main
            .raw
            .iter()
            .any(|(k, _)| k == "lxc.apparmor.profile")
    {
        out.push_str("explicitly configured lxc.apparmor.profile overrides the following settings: features:nesting\n");
    }
    if crate::real::tarball().is_some() {
        let fs = guest_fs(ctx, &conf.main).map_err(die)?;
        // Its interfaces as pve-container names them: `name` and `hwaddr` of each netN.
        let nics: Vec<(String, String)> = conf
            .main
            .keys
            .iter()
            .filter(|(k, _)| k.starts_with("net") && k[3..].parse::<u32>().is_ok())
            .filter_map(|(_, v)| {
                let ps = PropStr::parse(v, None).ok()?;
                Some((ps.get("name")?.to_string(), ps.get("hwaddr")?.to_string()))
            })
            .collect();
        crate::real::boot(
            &ctx.root.data(),
            id,
            &crate::real::Machine {
                root: &fs.root,
                binds: &fs.mounts,
                nics: &nics,
                wait: crate::real::Wait::Up,
            },
        )
        .map_err(|e| die(format!("startup for container '{id}' failed: {e}")))?;
    }
    let now = ctx.state.now();
    let boot = ctx.knobs.ct_boot_secs;
    let rt = ctx.state.guests.entry(id).or_default();
    rt.running = true;
    rt.started_at = now;
    rt.ready_at = now + boot;
    rt.starts += 1;
    Ok(Outcome::ok(Effect::Mutate)
        .out(out)
        .secs(cost(ctx, "pct.start") + boot as f64)
        .guest(id))
}
