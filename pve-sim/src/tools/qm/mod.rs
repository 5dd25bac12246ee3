//! `qm`: virtual machines (qemu-server), as the simulator runs them.
//!
//! Refusals print Proxmox's text and exit 255; `template` and `disk resize` exit 0 when their
//! task fails, as the real CLI does. A VM's file system (for `qm guest exec`, whose
//! `--pass-stdin` forwards qm's stdin) lives in `var/lib/pve-sim/vmfs/<vmid>/`; the guest
//! agent answers `vm_boot_secs` after a start. Starting a VM with a cloud-init drive reads its
//! `cicustom` snippets and applies the user-data to that tree ([`crate::cloudinit`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value, json};

use crate::Ctx;
use crate::args::{Kind, Parsed};
use crate::conf::{Flavor, GuestConf, Section, print_config};
use crate::guestfs::GuestFs;
use crate::outcome::{Effect, Outcome};
use crate::propstr::PropStr;
use crate::state::ExecJob;
use crate::storage::{StorageCfg, parse_volname, split_volid};
use crate::tools::ct_opts::{disk_size, format_size};
use crate::tools::guest::{self, check_lock, is_template};
use crate::tools::{check, die, param_error, parse_opts, perljson, positionals, task_error_exit0};

mod agent;
mod clone;
mod cloudinit;
mod create;
mod drives;
mod lifecycle;
mod options;
mod set;
mod snapshot;

use agent::*;
pub use agent::{passes_stdin, read_stdin};
use clone::*;
use cloudinit::*;
use create::*;
use drives::*;
use lifecycle::*;
use options::*;
use set::*;
use snapshot::*;

const F: Flavor = Flavor::Qemu;

/// Real `qm`'s top-level commands and their usage (those not modelled are refused as not
/// simulated); `disk` and `guest` have subcommands.
const COMMANDS: &[(&str, &str)] = &[
    ("agent", "<vmid> <command>"),
    ("clone", "<vmid> <newid> [OPTIONS]"),
    ("cloudinit", "<dump|pending|update> <vmid> ..."),
    ("config", "<vmid> [OPTIONS]"),
    ("create", "<vmid> [OPTIONS]"),
    ("delsnapshot", "<vmid> <snapname> [OPTIONS]"),
    ("destroy", "<vmid> [OPTIONS]"),
    ("disk", "<import|resize> ..."),
    ("guest", "<cmd|exec|exec-status> ..."),
    ("importdisk", "<vmid> <source> <storage> [OPTIONS]"),
    ("list", "[OPTIONS]"),
    ("listsnapshot", "<vmid>"),
    ("pending", "<vmid>"),
    ("reboot", "<vmid> [OPTIONS]"),
    ("resize", "<vmid> <disk> <size> [OPTIONS]"),
    ("rollback", "<vmid> <snapname> [OPTIONS]"),
    ("set", "<vmid> [OPTIONS]"),
    ("shutdown", "<vmid> [OPTIONS]"),
    ("snapshot", "<vmid> <snapname> [OPTIONS]"),
    ("start", "<vmid> [OPTIONS]"),
    ("status", "<vmid> [OPTIONS]"),
    ("stop", "<vmid> [OPTIONS]"),
    ("template", "<vmid> [OPTIONS]"),
    ("unlock", "<vmid>"),
];

const SUBCOMMANDS: &[(&str, &[(&str, &str)])] = &[
    (
        "disk",
        &[
            ("import", "<vmid> <source> <storage> [OPTIONS]"),
            ("resize", "<vmid> <disk> <size> [OPTIONS]"),
        ],
    ),
    (
        "guest",
        &[
            ("cmd", "<vmid> <command>"),
            ("exec", "<vmid> [<extra-args>] [OPTIONS]"),
            ("exec-status", "<vmid> <pid>"),
        ],
    ),
];

fn usage(cmd: &str) -> String {
    let (group, sub) = cmd.split_once(' ').unwrap_or((cmd, ""));
    let u = if sub.is_empty() {
        COMMANDS
            .iter()
            .find(|(c, _)| *c == group)
            .map_or("", |(_, u)| u)
    } else {
        SUBCOMMANDS
            .iter()
            .find(|(g, _)| *g == group)
            .and_then(|(_, s)| s.iter().find(|(c, _)| *c == sub))
            .map_or("", |(_, u)| u)
    };
    format!("qm {cmd} {u}")
}

type R = Result<Outcome, Outcome>;

fn cost(ctx: &Ctx, op: &str) -> f64 {
    ctx.knobs.cost(op)
}

/// Runs `qm <args>`.
pub fn run(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let cmd = match crate::tools::resolve("qm", args.first().map(String::as_str), COMMANDS) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let mut rest = &args[1..];
    // Aliases: `importdisk` = `disk import`, `resize` = `disk resize`, `agent` = `guest cmd`.
    let full = match cmd {
        "importdisk" => "disk import".to_string(),
        "resize" => "disk resize".to_string(),
        "agent" => "guest cmd".to_string(),
        "disk" | "guest" => {
            let subs = subcommands(cmd);
            let Some(sub) = rest.first() else {
                return Outcome::refuse(format!(
                    "ERROR: incomplete command 'qm {cmd}'\nUSAGE: qm <COMMAND> [ARGS] [OPTIONS]\n"
                ));
            };
            let Some(name) = subcommand(subs, sub) else {
                return Outcome::refuse(format!(
                    "ERROR: unknown command 'qm {cmd} {sub}'\nUSAGE: qm <COMMAND> [ARGS] [OPTIONS]\n"
                ));
            };
            rest = &rest[1..];
            format!("{cmd} {name}")
        }
        c => c.to_string(),
    };
    let out = match full.as_str() {
        "create" => create(ctx, rest),
        "disk import" => import_disk(ctx, rest),
        "set" => set(ctx, rest),
        "disk resize" => resize(ctx, rest),
        "clone" => clone(ctx, rest),
        "template" => template(ctx, rest),
        "start" => start(ctx, rest),
        "stop" | "shutdown" => stop(ctx, rest, &full),
        "reboot" => reboot(ctx, rest),
        "status" => status(ctx, rest),
        "config" => config(ctx, rest),
        "snapshot" => snapshot(ctx, rest),
        "listsnapshot" => listsnapshot(ctx, rest),
        "delsnapshot" => delsnapshot(ctx, rest),
        "rollback" => rollback(ctx, rest),
        "guest exec" => guest_exec(ctx, rest),
        "guest exec-status" => exec_status(ctx, rest),
        "guest cmd" => guest_cmd(ctx, rest),
        "destroy" => destroy(ctx, rest),
        other => Err(die(format!("qm {other}: not simulated"))),
    };
    out.unwrap_or_else(|o| o)
}

/// The subcommands of `disk` or `guest`.
fn subcommands(group: &str) -> &'static [(&'static str, &'static str)] {
    SUBCOMMANDS
        .iter()
        .find(|(g, _)| *g == group)
        .map_or(&[][..], |(_, s)| *s)
}

/// A subcommand by exact name or unique prefix.
fn subcommand(subs: &[(&'static str, &str)], sub: &str) -> Option<&'static str> {
    subs.iter()
        .find(|(c, _)| *c == sub)
        .or_else(|| {
            let m: Vec<&(&str, &str)> = subs.iter().filter(|(c, _)| c.starts_with(sub)).collect();
            if m.len() == 1 { Some(m[0]) } else { None }
        })
        .map(|(c, _)| *c)
}

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

/// A deterministic UUID from the host state and a salt.
fn uuid(ctx: &Ctx, salt: u64) -> String {
    let seed = format!(
        "{}:{}:{}:{salt}",
        ctx.state.seq, ctx.state.clock_ms, ctx.state.node
    );
    let h = sha1_smol::Sha1::from(seed).digest().to_string();
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn mac(ctx: &mut Ctx, salt: u64) -> String {
    crate::tools::random_mac(ctx, salt)
}

// ---------------------------------------------------------------------------------------
// Validation

// ---------------------------------------------------------------------------------------
// Drives

/// A drive value: `file` plus options.
#[derive(Clone, Debug)]
struct Drive {
    ps: PropStr,
}

impl Drive {
    fn parse(v: &str) -> Option<Self> {
        let mut ps = PropStr::parse(v, Some("file")).ok()?;
        if let Some(vol) = ps.remove("volume") {
            ps.set("file", vol);
        }
        ps.get("file")?;
        Some(Self { ps })
    }

    fn file(&self) -> &str {
        self.ps.get("file").unwrap_or_default()
    }

    fn is_cdrom(&self) -> bool {
        self.ps.get("media") == Some("cdrom")
    }

    fn is_cloudinit(&self) -> bool {
        let f = self.file();
        let name = f.rsplit([':', '/']).next().unwrap_or(f);
        let name = name.trim_end_matches(".qcow2").trim_end_matches(".raw");
        name == "cloudinit" || (name.starts_with("vm-") && name.ends_with("-cloudinit"))
    }

    fn print(&self) -> String {
        self.ps.print(&["file"], true)
    }
}

// ---------------------------------------------------------------------------------------
// VM file system

// ---------------------------------------------------------------------------------------
// Commands

/// Starts a VM (`vm_start`): pending changes, cloud-init ISO, agent readiness.
pub(crate) fn start_vm(ctx: &mut Ctx, id: u32) -> R {
    let mut conf = guest::load(ctx, F, id)?;
    if is_template(&conf) {
        return Err(die("you can't start a vm if it's a template"));
    }
    check_lock(&conf, F)?;
    if ctx.state.running(id) {
        return Err(die(format!("VM {id} already running")));
    }
    let cfg = StorageCfg::load(&ctx.root);
    if !conf.pending.keys.is_empty() || conf.pending.description.is_some() {
        apply_pending(ctx, &mut conf, &cfg, false)?;
    }
    // Generating the cloud-init ISO reads the `cicustom` snippets.
    let user_data = if cloudinit_drive(&conf.main).is_some() {
        cicustom_user_data(ctx, &cfg, &conf.main)?
    } else {
        None
    };
    let mut out = String::new();
    for (k, d) in drives(&conf.main) {
        let file = d.file();
        if d.is_cloudinit()
            || file == "none"
            || file == "cdrom"
            || file.starts_with("/dev/")
            || split_volid(file).is_none()
        {
            continue;
        }
        if ctx.state.volume_size(&ctx.root, &cfg, file).is_none() {
            return Err(die(format!(
                "start failed: volume '{file}' does not exist ({k})"
            )));
        }
    }
    if cloudinit_drive(&conf.main).is_some() {
        out.push_str("generating cloud-init ISO\n");
        conf.special.remove("cloudinit");
    }
    guest::save(ctx, F, id, &conf)?;
    let fs = vm_fs(ctx, id);
    if let Some(tar) = crate::real::tarball() {
        crate::real::populate_vm(&fs.root, &tar).map_err(die)?;
        if cloudinit_drive(&conf.main).is_some() {
            // The cidata ISO's documents: the `cicustom` user-data when there is one, and the
            // instance-id over what the guest gets (qemu-server Cloudinit.pm
            // `nocloud_gen_metadata`), so a changed user-data is a new instance.
            let (generated, network, _) = cloudinit_docs(&conf.main, id);
            let user = user_data.clone().unwrap_or(generated);
            let meta = format!(
                "instance-id: {}\n",
                sha1_smol::Sha1::from(format!("{user}{network}")).digest()
            );
            crate::real::seed(&fs.root, &user, &network, &meta).map_err(die)?;
        }
        // Its NICs as the guest sees them: net<n> is eth<n>, with its MAC.
        let nics: Vec<(String, String)> = conf
            .main
            .keys
            .iter()
            .filter(|(k, _)| k.starts_with("net") && k[3..].parse::<u32>().is_ok())
            .filter_map(|(k, v)| {
                let mac = parse_net(v).ok()?.1?;
                Some((format!("eth{}", &k[3..]), mac.to_ascii_lowercase()))
            })
            .collect();
        crate::real::boot(
            &ctx.root.data(),
            id,
            &crate::real::Machine {
                root: &fs.root,
                binds: &[],
                nics: &nics,
                wait: crate::real::Wait::Init,
            },
        )
        .map_err(die)?;
    } else if let Some(ud) = &user_data {
        crate::cloudinit::boot(&fs, ud, &crate::clock::format(ctx.state.now()));
    }
    let now = ctx.state.now();
    let boot = ctx.knobs.vm_boot_secs;
    let rt = ctx.state.guests.entry(id).or_default();
    rt.running = true;
    rt.started_at = now;
    rt.ready_at = now + boot;
    rt.starts += 1;
    Ok(Outcome::ok(Effect::Mutate)
        .out(out)
        .secs(cost(ctx, "qm.start"))
        .guest(id))
}

/// Marks a VM stopped and applies pending changes (`vm_stop_cleanup`).
pub(crate) fn stop_vm(ctx: &mut Ctx, id: u32) -> Result<(), Outcome> {
    if let Some(rt) = ctx.state.guests.get_mut(&id) {
        rt.running = false;
    }
    crate::real::stop(&ctx.root.data(), id);
    let mut conf = guest::load(ctx, F, id)?;
    if !conf.pending.keys.is_empty() || conf.pending.description.is_some() {
        let cfg = StorageCfg::load(&ctx.root);
        apply_pending(ctx, &mut conf, &cfg, false)?;
        guest::save(ctx, F, id, &conf)?;
    }
    Ok(())
}

/// How much `qm guest exec --pass-stdin` forwards (1 MiB); more is refused.
pub const STDIN_LIMIT: usize = 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nets_parse_and_print_canonically() {
        let (m, mac, rest) = parse_net("virtio,bridge=vmbr0").unwrap();
        assert_eq!((m.as_str(), mac), ("virtio", None));
        assert_eq!(
            print_net(&m, "BC:24:11:00:00:01", &rest),
            "virtio=BC:24:11:00:00:01,bridge=vmbr0"
        );
        let (_, mac, rest) = parse_net("virtio=BC:24:11:AA:BB:CC,firewall=1,bridge=vmbr0").unwrap();
        assert_eq!(mac.as_deref(), Some("BC:24:11:AA:BB:CC"));
        assert_eq!(rest.print(&[], false), "bridge=vmbr0,firewall=1");
        assert_eq!(
            parse_net("virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=0,firewall=1").unwrap_err(),
            "duplicate key in comma-separated list property: firewall"
        );
    }

    #[test]
    fn option_validation_messages() {
        assert_eq!(
            validate("cores", "0").unwrap_err()[0].1,
            "value must have a minimum value of 1"
        );
        let e = validate("ipconfig0", "gw=10.0.0.1").unwrap_err();
        assert_eq!(
            e[1],
            (
                "ipconfig0.ip".to_string(),
                "missing property - 'ipconfig0.gw' requires this property".to_string()
            )
        );
        assert!(validate("ipconfig0", "ip=10.0.0.111/24,gw=10.0.0.1").is_ok());
        assert_eq!(
            validate("startup", "order=4,up=").unwrap_err()[0].1,
            "invalid format - unable to parse startup options\n"
        );
        assert!(validate("boot", "order=scsi0;net0").is_ok());
        assert!(validate("boot", "c").is_ok());
        assert!(validate("agent", "enabled=1,fstrim_cloned_disks=1").is_ok());
        assert!(validate("scsi0", "local-zfs:vm-100-disk-0,discard=on").is_ok());
    }

    #[test]
    fn default_boot_order_follows_qemu_server() {
        let mut s = Section::default();
        s.set("scsi0", "local-zfs:vm-100-disk-0,size=32G");
        s.set("ide2", "local-zfs:vm-100-cloudinit,media=cdrom");
        s.set("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0");
        assert_eq!(default_boot_order(&s), "order=scsi0;ide2;net0");
        assert_eq!(default_boot_order(&Section::default()), "");
    }

    #[test]
    fn render_bytes_like_pve() {
        assert_eq!(render_bytes(0), "0.0 B");
        assert_eq!(render_bytes(2_362_232_012), "2.2 GiB");
    }
}
