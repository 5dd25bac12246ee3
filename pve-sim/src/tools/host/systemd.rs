//! `systemctl`: unit file state and run state of the units installed packages ship and of
//! `*.service`/`*.timer` files in `/etc/systemd/system`, with systemd's texts and exit
//! statuses (LSB codes for `is-active`, `status` and unknown units).
//!
//! Starting a unit does what its `ExecStart` would: `dnsmasq`, `smbd`/`nmbd` check their
//! configuration (and fail to start on a bad one), `nfs-server` exports the table (and a
//! stop unexports it), `apparmor` (re)loads every profile, a unit running `nvidia-smi` or
//! `nvidia-modprobe` creates `/dev/nvidia-uvm*` when the driver is loaded (and fails when it
//! is not). systemd keeps the unit files it loaded: a start after a local unit file changed
//! warns that `daemon-reload` is needed (`enable`/`disable`/`mask`/`unmask` reload
//! implicitly, as real `systemctl` does).

use std::path::PathBuf;

use super::catalogue::{self, UnitDef};
use super::{OptSpec, answer, fail, getopt_long, o, sha256_hex};
use crate::Ctx;
use crate::host::Unit;
use crate::outcome::{Effect, Outcome};

/// What a local unit file says (the parts the simulator acts on).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnitFile {
    /// `[Install] WantedBy=`/`RequiredBy=` targets.
    pub wanted_by: Vec<String>,
    /// Has any `[Install]` setting (`WantedBy`, `RequiredBy`, `Alias`, `Also`).
    pub installable: bool,
    /// `ExecStart=` command lines.
    pub exec_start: Vec<String>,
    /// Has `ExecReload=`.
    pub reload: bool,
    /// `Type=oneshot`.
    pub oneshot: bool,
    /// `RemainAfterExit=yes`.
    pub remain: bool,
}

/// Parses a unit file.
pub fn parse_unit(text: &str) -> UnitFile {
    let mut u = UnitFile::default();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            section = line[1..line.len() - 1].to_string();
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match (section.as_str(), k) {
            ("Install", "WantedBy" | "RequiredBy") => {
                u.installable = true;
                u.wanted_by.extend(v.split_whitespace().map(str::to_string));
            }
            ("Install", "Alias" | "Also") => u.installable = true,
            ("Service", "ExecStart" | "ExecStartPre" | "ExecStartPost") if !v.is_empty() => {
                u.exec_start.push(v.to_string())
            }
            ("Service", "ExecReload") => u.reload = true,
            ("Service", "Type") => u.oneshot = v == "oneshot",
            ("Service", "RemainAfterExit") => u.remain = matches!(v, "yes" | "true" | "1" | "on"),
            _ => {}
        }
    }
    u
}

/// Appends `.service` to a name without a unit suffix.
pub fn unit_name(n: &str) -> String {
    const SUFFIXES: &[&str] = &[
        ".service",
        ".timer",
        ".target",
        ".socket",
        ".mount",
        ".path",
        ".slice",
        ".scope",
        ".device",
        ".swap",
        ".automount",
    ];
    if SUFFIXES.iter().any(|s| n.ends_with(s)) {
        n.to_string()
    } else {
        format!("{n}.service")
    }
}

/// Where a unit comes from.
#[derive(Clone, Debug)]
enum Source {
    /// A package ships it.
    Package(UnitDef),
    /// `/etc/systemd/system/<name>`.
    Local(UnitFile),
    /// Only a mask link, no unit file anywhere.
    MaskOnly,
}

/// A resolved unit: canonical name, source, and whether the name given was an alias.
#[derive(Clone, Debug)]
struct Found {
    name: String,
    source: Source,
    alias: bool,
}

const LOCAL_DIR: &str = "/etc/systemd/system";

fn local_path(ctx: &Ctx, name: &str) -> PathBuf {
    ctx.root.host(format!("{LOCAL_DIR}/{name}"))
}

/// Whether `/etc/systemd/system/<name>` is a mask link (to `/dev/null`).
fn masked_link(ctx: &Ctx, name: &str) -> bool {
    std::fs::read_link(local_path(ctx, name)).is_ok_and(|t| t == std::path::Path::new("/dev/null"))
}

/// The content of a local unit file and its drop-ins, never following a link out of the
/// system root.
fn local_content(ctx: &Ctx, name: &str) -> Option<Vec<u8>> {
    let p = local_path(ctx, name);
    let meta = p.symlink_metadata().ok()?;
    let real = if meta.file_type().is_symlink() {
        let t = std::fs::read_link(&p).ok()?;
        if t == std::path::Path::new("/dev/null") {
            return None;
        }
        if t.is_absolute() {
            super::file_arg(&ctx.root, &t.to_string_lossy())
        } else {
            p.parent()?.join(t)
        }
    } else {
        p
    };
    let mut data = std::fs::read(&real).ok()?;
    let dropins = ctx.root.host(format!("{LOCAL_DIR}/{name}.d"));
    if let Ok(rd) = std::fs::read_dir(&dropins) {
        let mut files: Vec<PathBuf> = rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect();
        files.sort();
        for f in files {
            if let Ok(d) = std::fs::read(&f) {
                data.extend_from_slice(&d);
            }
        }
    }
    Some(data)
}

/// The package units of installed packages.
fn package_units(ctx: &Ctx) -> Vec<UnitDef> {
    let mut out = Vec::new();
    for name in ctx.state.host.packages.keys() {
        if let Some(p) = catalogue::lookup(name, &ctx.state.host.kernel) {
            out.extend_from_slice(p.units);
        }
    }
    out
}

fn find(ctx: &Ctx, given: &str) -> Option<Found> {
    let name = unit_name(given);
    if let Some(content) = local_content(ctx, &name) {
        let text = String::from_utf8_lossy(&content);
        return Some(Found {
            name,
            source: Source::Local(parse_unit(&text)),
            alias: false,
        });
    }
    for d in package_units(ctx) {
        if d.name == name {
            return Some(Found {
                name,
                source: Source::Package(d),
                alias: false,
            });
        }
        if d.aliases.contains(&name.as_str()) {
            return Some(Found {
                name: d.name.to_string(),
                source: Source::Package(d),
                alias: true,
            });
        }
    }
    (masked_link(ctx, &name) || ctx.state.host.units.contains_key(&name)).then_some(Found {
        name,
        source: Source::MaskOnly,
        alias: false,
    })
}

/// The state of a unit, with its defaults when systemd has not touched it yet.
fn state_of(ctx: &Ctx, f: &Found) -> Unit {
    if let Some(u) = ctx.state.host.units.get(&f.name) {
        return u.clone();
    }
    let enabled = match &f.source {
        Source::Package(d) => d.enabled.to_string(),
        Source::Local(u) if u.installable => "disabled".into(),
        Source::Local(_) => "static".into(),
        Source::MaskOnly => "masked".into(),
    };
    Unit {
        enabled,
        active: "inactive".into(),
        ..Unit::default()
    }
}

fn reloadable(f: &Found) -> bool {
    match &f.source {
        Source::Package(d) => d.reload,
        Source::Local(u) => u.reload,
        Source::MaskOnly => false,
    }
}

/// `loaded` → systemd loaded this file; compare with what is on disk now.
fn check_stale(ctx: &mut Ctx, f: &Found, err: &mut String) {
    let Source::Local(_) = f.source else {
        return;
    };
    let Some(content) = local_content(ctx, &f.name) else {
        return;
    };
    let now = sha256_hex(&content);
    match ctx.state.host.loaded_units.get(&f.name) {
        None => {
            ctx.state.host.loaded_units.insert(f.name.clone(), now);
        }
        Some(h) if *h != now => {
            err.push_str(&format!(
                "Warning: The unit file, source configuration file or drop-ins of {} changed on disk. Run 'systemctl daemon-reload' to reload units.\n",
                f.name
            ));
            let mut u = state_of(ctx, f);
            u.stale = true;
            u.stale_warnings += 1;
            ctx.state.host.units.insert(f.name.clone(), u);
        }
        Some(_) => {}
    }
}

/// What `daemon-reload` does: systemd now knows every local unit file as it is on disk.
pub fn daemon_reload(ctx: &mut Ctx) {
    ctx.state.host.counters.daemon_reloads += 1;
    load_units(ctx);
}

/// systemd (re)reads every local unit file.
fn load_units(ctx: &mut Ctx) {
    let mut loaded = std::collections::BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir(ctx.root.host(LOCAL_DIR)) {
        for e in rd.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if !(name.ends_with(".service") || name.ends_with(".timer")) {
                continue;
            }
            if let Some(c) = local_content(ctx, &name) {
                loaded.insert(name, sha256_hex(&c));
            }
        }
    }
    ctx.state.host.loaded_units = loaded;
    for u in ctx.state.host.units.values_mut() {
        u.stale = false;
    }
}

/// Runs what starting a unit runs. `Err` is the failure systemd reports.
fn exec_start(ctx: &mut Ctx, f: &Found) -> Result<(), String> {
    match f.name.as_str() {
        "dnsmasq.service" => super::net::dnsmasq_service_check(ctx),
        "smbd.service" | "nmbd.service" => super::samba::service_check(ctx),
        "nfs-server.service" => {
            // ExecStartPre=-/usr/sbin/exportfs -r: failures are ignored.
            let _ = super::net::export_all(ctx);
            Ok(())
        }
        // A profile that does not load fails the service (apparmor.systemd exits non-zero).
        "apparmor.service" => match super::apparmor::load_all(ctx).first() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        },
        _ => match &f.source {
            Source::Local(u)
                if u.exec_start
                    .iter()
                    .any(|c| c.contains("nvidia-smi") || c.contains("nvidia-modprobe")) =>
            {
                super::nvidia::gpu_init(ctx)
            }
            _ => Ok(()),
        },
    }
}

/// Whether a unit stays active after its start (a oneshot without `RemainAfterExit` exits).
fn stays_active(f: &Found) -> bool {
    match &f.source {
        Source::Local(u) => !u.oneshot || u.remain,
        _ => true,
    }
}

fn job_failed(name: &str) -> String {
    format!(
        "Job for {name} failed because the control process exited with error code.\nSee \"systemctl status {name}\" and \"journalctl -xeu {name}\" for details.\n"
    )
}

/// Starts a unit (no-op when active). `Err`: the job failed (the unit is `failed`).
fn start(ctx: &mut Ctx, f: &Found, restart: bool) -> Result<(), String> {
    let u = state_of(ctx, f);
    if u.active == "active" && !restart {
        ctx.state.host.units.insert(f.name.clone(), u);
        return Ok(());
    }
    if restart && u.active == "active" {
        stop_effects(ctx, f);
    }
    let r = exec_start(ctx, f);
    let mut u = state_of(ctx, f);
    if restart {
        u.restarts += 1;
    }
    match r {
        Ok(()) => {
            if u.active != "active" {
                u.starts += 1;
            }
            u.active = if stays_active(f) {
                "active".into()
            } else {
                "inactive".into()
            };
            ctx.state.host.units.insert(f.name.clone(), u);
            Ok(())
        }
        Err(e) => {
            u.active = "failed".into();
            ctx.state.host.units.insert(f.name.clone(), u);
            Err(e)
        }
    }
}

fn stop_effects(ctx: &mut Ctx, f: &Found) {
    if f.name == "nfs-server.service" {
        // ExecStopPost=/usr/sbin/exportfs -au.
        ctx.state.host.exports.clear();
        super::net::write_etab(ctx);
    }
}

fn stop(ctx: &mut Ctx, f: &Found) {
    let mut u = state_of(ctx, f);
    if u.active == "active" {
        u.stops += 1;
        stop_effects(ctx, f);
    }
    u.active = "inactive".into();
    ctx.state.host.units.insert(f.name.clone(), u);
}

fn wants_dir(f: &Found) -> Vec<String> {
    match &f.source {
        Source::Local(u) if !u.wanted_by.is_empty() => u.wanted_by.clone(),
        _ if f.name.ends_with(".timer") => vec!["timers.target".into()],
        _ => vec!["multi-user.target".into()],
    }
}

fn unit_path(f: &Found) -> String {
    match f.source {
        Source::Local(_) => format!("{LOCAL_DIR}/{}", f.name),
        _ => format!("/lib/systemd/system/{}", f.name),
    }
}

/// Enables a unit (symlinks in the targets' `.wants`), printing what changed.
fn enable(ctx: &mut Ctx, f: &Found, err: &mut String) -> Result<(), String> {
    let mut u = state_of(ctx, f);
    match u.enabled.as_str() {
        "masked" => {
            return Err(format!(
                "Failed to enable unit: Unit file {} is masked.",
                f.name
            ));
        }
        "enabled" => return Ok(()),
        "static" => {
            err.push_str("The unit files have no installation config (WantedBy=, RequiredBy=, Also=,\nAlias= settings in the [Install] section, and DefaultInstance= for template\nunits). This means they are not meant to be enabled or disabled using systemctl.\n");
            return Ok(());
        }
        _ => {}
    }
    for t in wants_dir(f) {
        let link = format!("{LOCAL_DIR}/{t}.wants/{}", f.name);
        super::symlink(&ctx.root, &link, &unit_path(f))?;
        err.push_str(&format!(
            "Created symlink {link} \u{2192} {}.\n",
            unit_path(f)
        ));
    }
    u.enabled = "enabled".into();
    ctx.state.host.units.insert(f.name.clone(), u);
    Ok(())
}

fn disable(ctx: &mut Ctx, f: &Found, err: &mut String) {
    let mut u = state_of(ctx, f);
    if u.enabled != "enabled" {
        return;
    }
    for t in wants_dir(f) {
        let link = format!("{LOCAL_DIR}/{t}.wants/{}", f.name);
        super::remove(&ctx.root, &link);
        err.push_str(&format!("Removed \"{link}\".\n"));
    }
    u.enabled = "disabled".into();
    ctx.state.host.units.insert(f.name.clone(), u);
}

/// Adds a unit a package ships, enabled and started as Debian's maintainer scripts do
/// (unless masked locally). `Err(name)`: it failed to start.
pub fn install_unit(ctx: &mut Ctx, d: &UnitDef, out: &mut String) -> Result<(), String> {
    let f = Found {
        name: d.name.to_string(),
        source: Source::Package(*d),
        alias: false,
    };
    if masked_link(ctx, d.name) {
        ctx.state.host.units.insert(
            d.name.to_string(),
            Unit {
                enabled: "masked".into(),
                active: "inactive".into(),
                ..Unit::default()
            },
        );
        return Ok(());
    }
    let old = ctx.state.host.units.remove(d.name);
    let mut u = Unit {
        enabled: if d.enabled == "enabled" {
            "disabled".into()
        } else {
            d.enabled.into()
        },
        active: "inactive".into(),
        ..old.unwrap_or_default()
    };
    u.active = "inactive".into();
    ctx.state.host.units.insert(d.name.to_string(), u);
    if d.enabled == "enabled" {
        let mut msgs = String::new();
        let _ = enable(ctx, &f, &mut msgs);
        out.push_str(&msgs);
    }
    if d.active {
        return start(ctx, &f, false).map_err(|_| d.name.to_string());
    }
    Ok(())
}

/// Stops and forgets a unit of a removed package.
pub fn remove_unit(ctx: &mut Ctx, d: &UnitDef) {
    let f = Found {
        name: d.name.to_string(),
        source: Source::Package(*d),
        alias: false,
    };
    stop(ctx, &f);
    let mut msgs = String::new();
    disable(ctx, &f, &mut msgs);
    ctx.state.host.units.remove(d.name);
}

/// Every unit systemd knows now: installed packages' and local unit files.
fn all_units(ctx: &Ctx) -> Vec<Found> {
    let mut names: Vec<String> = package_units(ctx)
        .iter()
        .map(|d| d.name.to_string())
        .collect();
    if let Ok(rd) = std::fs::read_dir(ctx.root.host(LOCAL_DIR)) {
        let mut local: Vec<String> = rd
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".service") || n.ends_with(".timer"))
            .collect();
        local.sort();
        names.extend(local);
    }
    let mut out: Vec<Found> = Vec::new();
    for n in names {
        if out.iter().any(|f| f.name == n) {
            continue;
        }
        if let Some(f) = find(ctx, &n) {
            out.push(f);
        }
    }
    out
}

/// Boot: systemd loads every unit file, starts what is enabled (running what it runs) and
/// nothing else. Returns the units that failed.
pub fn boot(ctx: &mut Ctx) -> Vec<String> {
    load_units(ctx);
    let units = all_units(ctx);
    for f in &units {
        let mut u = state_of(ctx, f);
        u.active = "inactive".into();
        ctx.state.host.units.insert(f.name.clone(), u);
    }
    let mut failed = Vec::new();
    // Static units that packages run at boot (journald) come up with the system.
    for f in &units {
        let u = state_of(ctx, f);
        let boots = u.enabled == "enabled"
            || matches!(&f.source, Source::Package(d) if d.enabled == "static" && d.active);
        if boots && start(ctx, f, false).is_err() {
            failed.push(f.name.clone());
        }
    }
    failed
}

const OPTS: &[OptSpec] = &[
    o("now", None, false),
    o("quiet", Some('q'), false),
    o("no-pager", None, false),
    o("no-block", None, false),
    o("no-ask-password", None, false),
    o("system", None, false),
    o("force", Some('f'), false),
    o("no-reload", None, false),
    o("value", None, false),
    o("property", Some('p'), true),
    o("all", Some('a'), false),
    o("lines", Some('n'), true),
    o("full", Some('l'), false),
    o("no-legend", None, false),
    o("plain", None, false),
    o("runtime", None, false),
];

/// `systemctl [options] <verb> [unit…]`.
pub fn systemctl(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let p = match getopt_long(args, OPTS) {
        Ok(p) => p,
        Err(e) => return fail(1, format!("systemctl: {e}")),
    };
    let Some((verb, units)) = p.operands.split_first() else {
        return fail(1, "Too few arguments.");
    };
    let quiet = p.has("quiet");
    let read = ctx.knobs.cost("host.read");
    let write = ctx.knobs.cost("systemctl");
    let needs_units = !matches!(verb.as_str(), "daemon-reload" | "daemon-reexec");
    if needs_units && units.is_empty() {
        return fail(1, "Too few arguments.");
    }
    match verb.as_str() {
        "is-enabled" => {
            let mut out = String::new();
            let mut err = String::new();
            let mut all_ok = true;
            for g in units {
                match find(ctx, g) {
                    None => {
                        err.push_str(&format!(
                            "Failed to get unit file state for {}: No such file or directory\n",
                            unit_name(g)
                        ));
                        all_ok = false;
                    }
                    Some(f) => {
                        let word = if f.alias {
                            "alias".to_string()
                        } else {
                            state_of(ctx, &f).enabled
                        };
                        all_ok &= matches!(word.as_str(), "enabled" | "static" | "alias");
                        out.push_str(&word);
                        out.push('\n');
                    }
                }
            }
            if quiet {
                out.clear();
            }
            answer(i32::from(!all_ok), out, err).secs(read)
        }
        "is-active" | "is-failed" => {
            let mut out = String::new();
            let mut hit = false;
            let want = if verb == "is-active" {
                "active"
            } else {
                "failed"
            };
            let mut all = true;
            for g in units {
                let state =
                    find(ctx, g).map_or("inactive".to_string(), |f| state_of(ctx, &f).active);
                all &= state == want;
                hit |= state == want;
                out.push_str(&state);
                out.push('\n');
            }
            if quiet {
                out.clear();
            }
            let code = if verb == "is-active" {
                if all { 0 } else { 3 }
            } else if hit {
                0
            } else {
                1
            };
            answer(code, out, "").secs(read)
        }
        "status" => status(ctx, units).secs(read),
        "show" => show(ctx, units, &p).secs(read),
        "daemon-reload" | "daemon-reexec" => {
            daemon_reload(ctx);
            Outcome::ok(Effect::Mutate).secs(write)
        }
        "start"
        | "stop"
        | "restart"
        | "try-restart"
        | "reload"
        | "reload-or-restart"
        | "try-reload-or-restart"
        | "enable"
        | "disable"
        | "mask"
        | "unmask" => run_verb(ctx, verb, units, &p).secs(write),
        other => fail(1, format!("Unknown command verb '{other}'.")),
    }
}

fn action_word(verb: &str) -> &str {
    match verb {
        "try-restart" | "reload-or-restart" | "try-reload-or-restart" => "restart",
        v => v,
    }
}

fn run_verb(ctx: &mut Ctx, verb: &str, units: &[String], p: &super::Opts) -> Outcome {
    // Resolve every unit first: an unknown one refuses the whole command.
    let mut found = Vec::new();
    for g in units {
        match find(ctx, g) {
            // An alias and its unit in one command are one job.
            Some(f) if found.iter().any(|x: &Found| x.name == f.name) => {}
            Some(f) => found.push(f),
            None => {
                let n = unit_name(g);
                return match verb {
                    "enable" | "disable" => fail(
                        1,
                        format!("Failed to {verb} unit: Unit file {n} does not exist."),
                    ),
                    "stop" => fail(5, format!("Failed to stop {n}: Unit {n} not loaded.")),
                    "mask" => {
                        found.push(Found {
                            name: n,
                            source: Source::MaskOnly,
                            alias: false,
                        });
                        continue;
                    }
                    "unmask" => continue,
                    v => fail(
                        5,
                        format!("Failed to {} {n}: Unit {n} not found.", action_word(v)),
                    ),
                };
            }
        }
    }
    let mut err = String::new();
    let mut code = 0;
    let implicit_reload = !p.has("no-reload");
    for f in &found {
        let st = state_of(ctx, f);
        match verb {
            "start" | "restart" | "try-restart" | "reload-or-restart" | "try-reload-or-restart" => {
                if st.enabled == "masked" {
                    return fail(
                        1,
                        format!(
                            "{err}Failed to {} {}: Unit {} is masked.",
                            action_word(verb),
                            f.name,
                            f.name
                        ),
                    );
                }
                if matches!(verb, "try-restart" | "try-reload-or-restart") && st.active != "active"
                {
                    continue;
                }
                check_stale(ctx, f, &mut err);
                let reload_instead = matches!(verb, "reload-or-restart" | "try-reload-or-restart")
                    && st.active == "active"
                    && reloadable(f);
                if reload_instead {
                    if reload(ctx, f).is_err() {
                        err.push_str(&job_failed(&f.name));
                        code = 1;
                    }
                    continue;
                }
                let restart = verb != "start";
                if start(ctx, f, restart).is_err() {
                    err.push_str(&job_failed(&f.name));
                    code = 1;
                }
            }
            "stop" => stop(ctx, f),
            "reload" => {
                if st.enabled == "masked" && st.active != "active" {
                    return fail(
                        1,
                        format!(
                            "{err}Failed to reload {}: Unit {} is masked.",
                            f.name, f.name
                        ),
                    );
                }
                if !reloadable(f) {
                    return fail(
                        1,
                        format!(
                            "{err}Failed to reload {}: Job type reload is not applicable for unit {}.",
                            f.name, f.name
                        ),
                    );
                }
                if st.active != "active" {
                    return fail(1, format!("{err}{} is not active, cannot reload.", f.name));
                }
                check_stale(ctx, f, &mut err);
                if reload(ctx, f).is_err() {
                    err.push_str(&job_failed(&f.name));
                    code = 1;
                }
            }
            "enable" => {
                if let Err(e) = enable(ctx, f, &mut err) {
                    return fail(1, format!("{err}{e}"));
                }
                if p.has("now") && start(ctx, f, false).is_err() {
                    err.push_str(&job_failed(&f.name));
                    code = 1;
                }
            }
            "disable" => {
                disable(ctx, f, &mut err);
                if p.has("now") {
                    stop(ctx, f);
                }
            }
            "mask" => {
                let path = format!("{LOCAL_DIR}/{}", f.name);
                if matches!(f.source, Source::Local(_))
                    && !local_path(ctx, &f.name)
                        .symlink_metadata()
                        .is_ok_and(|m| m.file_type().is_symlink())
                {
                    return fail(
                        1,
                        format!("{err}Failed to mask unit: File {path} already exists."),
                    );
                }
                let mut u = state_of(ctx, f);
                if u.enabled != "masked" {
                    u.before_mask = Some(u.enabled.clone());
                }
                if let Err(e) = super::symlink(&ctx.root, &path, "/dev/null") {
                    return fail(1, e);
                }
                err.push_str(&format!("Created symlink {path} \u{2192} /dev/null.\n"));
                u.enabled = "masked".into();
                ctx.state.host.units.insert(f.name.clone(), u);
                if p.has("now") {
                    stop(ctx, f);
                }
            }
            "unmask" if masked_link(ctx, &f.name) => {
                let path = format!("{LOCAL_DIR}/{}", f.name);
                super::remove(&ctx.root, &path);
                err.push_str(&format!("Removed \"{path}\".\n"));
                let mut u = state_of(ctx, f);
                // A vendor mask (a package's unit linked to /dev/null) stays; otherwise the
                // state before the mask comes back (mask leaves `.wants` links alone).
                let before = u.before_mask.take();
                u.enabled = match &f.source {
                    Source::Package(d) if d.enabled == "masked" => "masked".into(),
                    _ if before.is_some() => before.unwrap_or_default(),
                    Source::Package(d) if d.enabled == "masked" => "masked".into(),
                    Source::Package(_) => "disabled".into(),
                    Source::Local(l) if !l.installable => "static".into(),
                    Source::Local(_) => "disabled".into(),
                    Source::MaskOnly => {
                        ctx.state.host.units.remove(&f.name);
                        continue;
                    }
                };
                ctx.state.host.units.insert(f.name.clone(), u);
            }
            _ => {}
        }
    }
    if matches!(verb, "enable" | "disable" | "mask" | "unmask") && implicit_reload {
        daemon_reload(ctx);
    }
    if p.has("quiet") {
        err = err
            .lines()
            .filter(|l| !l.starts_with("Created symlink ") && !l.starts_with("Removed \""))
            .map(|l| format!("{l}\n"))
            .collect();
    }
    Outcome {
        code,
        stderr: err,
        refused: code != 0,
        ..Outcome::ok(Effect::Mutate)
    }
}

/// Reloads an active unit (it stays active). `Err`: the reload command failed.
fn reload(ctx: &mut Ctx, f: &Found) -> Result<(), String> {
    let r = match f.name.as_str() {
        // ExecReload=/usr/sbin/exportfs -r
        "nfs-server.service" => {
            let _ = super::net::export_all(ctx);
            Ok(())
        }
        "apparmor.service" => match super::apparmor::load_all(ctx).first() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        },
        _ => Ok(()),
    };
    let mut u = state_of(ctx, f);
    u.reloads += 1;
    ctx.state.host.units.insert(f.name.clone(), u);
    r
}

fn status(ctx: &Ctx, units: &[String]) -> Outcome {
    let mut out = String::new();
    let mut err = String::new();
    let mut code = 0;
    for g in units {
        let Some(f) = find(ctx, g) else {
            err.push_str(&format!("Unit {} could not be found.\n", unit_name(g)));
            code = 4;
            continue;
        };
        let u = state_of(ctx, &f);
        let (loaded, path) = if u.enabled == "masked" {
            ("masked".to_string(), "/dev/null".to_string())
        } else {
            ("loaded".to_string(), unit_path(&f))
        };
        let sub = match u.active.as_str() {
            "active" => "running",
            "failed" => "failed",
            _ => "dead",
        };
        let dot = if u.active == "failed" {
            "\u{d7}"
        } else {
            "\u{25cf}"
        };
        out.push_str(&format!(
            "{dot} {} - {}\n     Loaded: {loaded} ({path}; {}; preset: enabled)\n     Active: {} ({sub})\n",
            f.name,
            f.name.rsplit_once('.').map_or(f.name.as_str(), |(b, _)| b),
            u.enabled,
            u.active
        ));
        if u.active != "active" && code == 0 {
            code = 3;
        }
    }
    answer(code, out, err)
}

fn show(ctx: &Ctx, units: &[String], p: &super::Opts) -> Outcome {
    let wanted: Vec<String> = p
        .values("property")
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::to_string)
        .collect();
    let mut out = String::new();
    for (i, g) in units.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let f = find(ctx, g);
        let u = f.as_ref().map(|f| state_of(ctx, f));
        let name = f.as_ref().map_or_else(|| unit_name(g), |f| f.name.clone());
        let props: Vec<(&str, String)> = vec![
            ("Id", name),
            (
                "LoadState",
                match &u {
                    None => "not-found".into(),
                    Some(u) if u.enabled == "masked" => "masked".into(),
                    Some(_) => "loaded".into(),
                },
            ),
            (
                "ActiveState",
                u.as_ref().map_or("inactive".into(), |u| u.active.clone()),
            ),
            (
                "SubState",
                match u.as_ref().map(|u| u.active.as_str()) {
                    Some("active") => "running".into(),
                    Some("failed") => "failed".into(),
                    _ => "dead".into(),
                },
            ),
            (
                "UnitFileState",
                u.as_ref().map_or(String::new(), |u| u.enabled.clone()),
            ),
            (
                "NeedDaemonReload",
                if u.as_ref().is_some_and(|u| u.stale) {
                    "yes".into()
                } else {
                    "no".into()
                },
            ),
            (
                "CanReload",
                if f.as_ref().is_some_and(reloadable) {
                    "yes".into()
                } else {
                    "no".into()
                },
            ),
        ];
        for (k, v) in props {
            if !wanted.is_empty() && !wanted.iter().any(|w| w == k) {
                continue;
            }
            if p.has("value") {
                out.push_str(&format!("{v}\n"));
            } else {
                out.push_str(&format!("{k}={v}\n"));
            }
        }
    }
    Outcome::read(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_files_parse() {
        let u = parse_unit(
            "[Unit]\nDescription=Init NVIDIA GPUs\nBefore=pve-guests.service\n\n[Service]\nType=oneshot\nExecStart=/usr/bin/nvidia-smi\nExecStart=/usr/bin/nvidia-modprobe -u -c=0\nRemainAfterExit=yes\n\n[Install]\nWantedBy=multi-user.target\n",
        );
        assert!(u.oneshot && u.remain && u.installable && !u.reload);
        assert_eq!(u.wanted_by, ["multi-user.target"]);
        assert_eq!(u.exec_start.len(), 2);
        let s = parse_unit("[Service]\nExecStart=/bin/true\nExecReload=/bin/kill -HUP $MAINPID\n");
        assert!(!s.installable && s.reload);
    }

    #[test]
    fn unit_names_default_to_services() {
        assert_eq!(unit_name("chrony"), "chrony.service");
        assert_eq!(unit_name("logrotate.timer"), "logrotate.timer");
        assert_eq!(unit_name("nfs-server.service"), "nfs-server.service");
    }
}
