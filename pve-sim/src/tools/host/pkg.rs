//! Packages: the catalogue of what this Debian 12 / Proxmox VE 8 host can install (name,
//! version, dependencies, the systemd units a package ships and the files it writes), and
//! `apt-get` (`update`, `install`, `remove`, `purge`, `upgrade`, `dist-upgrade`,
//! `autoremove`) and `dpkg-query` (`-W [-f FORMAT]`, `-s`) over it.
//!
//! As apt does, `apt-get install` asks "Do you want to continue?" (and, without a terminal,
//! aborts) only when it would install more than was asked for or remove something, unless
//! `-y` (or `-qq`) is given; `remove`/`purge` always ask.

use std::collections::BTreeSet;

use super::catalogue::{DEBIAN_NVIDIA, Package, headers_for, lookup};
use super::{OptSpec, Opts, answer, fail, getopt_long, o, systemd, users, write_file};
use crate::Ctx;
use crate::outcome::{Effect, Outcome};

const APT_OPTS: &[OptSpec] = &[
    o("yes", Some('y'), false),
    o("assume-yes", None, false),
    o("quiet", Some('q'), false),
    o("no-install-recommends", None, false),
    o("install-recommends", None, false),
    o("option", Some('o'), true),
    o("purge", None, false),
    o("simulate", Some('s'), false),
    o("dry-run", None, false),
    o("just-print", None, false),
    o("no-act", None, false),
    o("reinstall", None, false),
    o("fix-broken", Some('f'), false),
    o("allow-downgrades", None, false),
    o("allow-change-held-packages", None, false),
    o("no-upgrade", None, false),
    o("only-upgrade", None, false),
    o("auto-remove", None, false),
    o("autoremove", None, false),
];

const APT_USAGE: &str = "apt 2.6.1 (amd64)\nUsage: apt-get [options] command\n       apt-get [options] install|remove pkg1 [pkg2 ...]\n       apt-get [options] source pkg1 [pkg2 ...]\n\napt-get is a command line interface for retrieval of packages\nand information about them from authenticated sources and\nfor installation, upgrade and removal of packages together\nwith their dependencies.\n\nMost used commands:\n  update - Retrieve new lists of packages\n  upgrade - Perform an upgrade\n  install - Install new packages (pkg is libc6 not libc6.deb)\n  reinstall - Reinstall packages (pkg is libc6 not libc6.deb)\n  remove - Remove packages\n  purge - Remove packages and config files\n  autoremove - Remove automatically all unused packages\n  dist-upgrade - Distribution upgrade, see apt-get(8)\n  dselect-upgrade - Follow dselect selections\n  build-dep - Configure build-dependencies for source packages\n  satisfy - Satisfy dependency strings\n  clean - Erase downloaded archive files\n  autoclean - Erase old downloaded archive files\n  check - Verify that there are no broken dependencies\n  source - Download source archives\n  download - Download the binary package into the current directory\n  changelog - Download and display the changelog for the given package\n\nSee apt-get(8) for more information about the available commands.\nConfiguration options and syntax is detailed in apt.conf(5).\nInformation about how to configure sources can be found in sources.list(5).\nPackage and version selection can be expressed via apt_preferences(5).\nSecurity details are available in apt-secure(8).\n                                        This APT has Super Cow Powers.\n";

/// apt's header lines.
fn reading(quiet: bool) -> String {
    let done = if quiet { "" } else { " Done" };
    format!(
        "Reading package lists...{done}\nBuilding dependency tree...{done}\nReading state information...{done}\n"
    )
}

/// `apt-get <op> [options] [pkg…]`.
pub fn apt_get(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let p = match getopt_long(args, APT_OPTS) {
        Ok(p) => p,
        Err(e) => {
            let opt = e
                .split('\'')
                .nth(1)
                .unwrap_or("")
                .trim_start_matches('-')
                .to_string();
            let msg = if e.starts_with("invalid option") {
                format!(
                    "E: Command line option '{opt}' [from -{opt}] is not understood in combination with the other options."
                )
            } else {
                format!(
                    "E: Command line option --{opt} is not understood in combination with the other options"
                )
            };
            return fail(100, msg);
        }
    };
    let Some((op, names)) = p.operands.split_first() else {
        return fail(1, APT_USAGE);
    };
    let r = match op.as_str() {
        "update" => update(ctx, &p),
        "install" | "reinstall" => install(ctx, &p, names, op == "reinstall"),
        "remove" => remove(ctx, &p, names, p.has("purge")),
        "purge" => remove(ctx, &p, names, true),
        "autoremove" | "autopurge" => Ok(Outcome::ok(Effect::Mutate).out(format!(
            "{}0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n",
            reading(quiet(&p))
        ))),
        "clean" | "autoclean" | "auto-clean" => Ok(Outcome::ok(Effect::Mutate)),
        "check" => Ok(Outcome::read(reading(quiet(&p)))),
        // Real operations no product test needs: refused, never answered as invalid.
        "upgrade" | "dist-upgrade" | "full-upgrade" => {
            Err(fail(100, format!("apt-get {op}: not simulated")))
        }
        other => Err(fail(100, format!("E: Invalid operation {other}"))),
    };
    r.unwrap_or_else(|o| o)
}

type R = Result<Outcome, Outcome>;

fn quiet(p: &Opts) -> bool {
    p.has("quiet")
}

fn assume_yes(p: &Opts) -> bool {
    p.has("yes") || p.has("assume-yes") || p.count("quiet") >= 2
}

fn simulate(p: &Opts) -> bool {
    ["simulate", "dry-run", "just-print", "no-act"]
        .iter()
        .any(|k| p.has(k))
}

fn update(ctx: &mut Ctx, p: &Opts) -> R {
    ctx.state.host.counters.apt_updates += 1;
    ctx.state.host.last_apt_update = Some(ctx.state.now());
    let out = format!(
        "Hit:1 http://download.proxmox.com/debian/pve bookworm InRelease\nHit:2 http://security.debian.org/debian-security bookworm-security InRelease\nHit:3 http://ftp.debian.org/debian bookworm InRelease\nHit:4 http://ftp.debian.org/debian bookworm-updates InRelease\nReading package lists...{}\n",
        if quiet(p) { "" } else { " Done" }
    );
    Ok(changed_secs(out, ctx.knobs.cost("apt.update")))
}

fn changed_secs(out: String, secs: f64) -> Outcome {
    Outcome::ok(Effect::Mutate).out(out).secs(secs)
}

/// Resolves the names of an install or removal: `(name, Package)`, or apt's error.
fn resolve(ctx: &Ctx, names: &[String], p: &Opts) -> Result<Vec<Package>, Outcome> {
    let mut found = Vec::new();
    let mut errors = String::new();
    for n in names {
        let (name, want) = match n.split_once('=') {
            Some((a, b)) => (a, Some(b)),
            None => (n.as_str(), None),
        };
        match lookup(name, &ctx.state.host.kernel) {
            Some(pkg) => {
                if let Some(w) = want.filter(|w| *w != pkg.version) {
                    errors.push_str(&format!("E: Version '{w}' for '{name}' was not found\n"));
                } else if !found.iter().any(|f: &Package| f.name == pkg.name) {
                    found.push(pkg);
                }
            }
            None => errors.push_str(&format!("E: Unable to locate package {name}\n")),
        }
    }
    if errors.is_empty() {
        Ok(found)
    } else {
        Err(Outcome {
            stdout: reading(quiet(p)),
            ..fail(100, errors)
        })
    }
}

/// The packages to install for `want`, dependencies first, skipping installed ones.
fn closure(ctx: &Ctx, want: &[Package], reinstall: bool) -> Vec<Package> {
    fn visit(ctx: &Ctx, p: &Package, top: bool, reinstall: bool, out: &mut Vec<Package>) {
        if out.iter().any(|o| o.name == p.name) {
            return;
        }
        for d in &p.depends {
            if let Some(dp) = lookup(d, &ctx.state.host.kernel) {
                visit(ctx, &dp, false, false, out);
            }
        }
        if !ctx.state.host.installed(&p.name) || (top && reinstall) {
            out.push(p.clone());
        }
    }
    let mut out = Vec::new();
    for p in want {
        visit(ctx, p, true, reinstall, &mut out);
    }
    out
}

fn wrap_list(names: &[String]) -> String {
    let mut s = String::new();
    let mut line = String::from(" ");
    for n in names {
        if line.len() + n.len() + 1 > 79 && line.len() > 1 {
            s.push_str(&line);
            s.push('\n');
            line = String::from(" ");
        }
        line.push(' ');
        line.push_str(n);
    }
    s.push_str(&line);
    s.push('\n');
    s
}

const ABORT: &str = "Do you want to continue? [Y/n] Abort.\n";

fn debconf_warnings() -> &'static str {
    "debconf: unable to initialize frontend: Dialog\ndebconf: (TERM is not set, so the dialog frontend is not usable.)\ndebconf: falling back to frontend: Readline\ndebconf: unable to initialize frontend: Readline\ndebconf: (This frontend requires a controlling tty.)\ndebconf: falling back to frontend: Teletype\ndpkg-preconfigure: unable to re-open stdin: \n"
}

fn install(ctx: &mut Ctx, p: &Opts, names: &[String], reinstall: bool) -> R {
    if names.is_empty() {
        return Ok(Outcome::ok(Effect::Mutate).out(format!(
            "{}0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n",
            reading(quiet(p))
        )));
    }
    let reinstall = reinstall || p.has("reinstall");
    let want = resolve(ctx, names, p)?;
    let todo = closure(ctx, &want, reinstall);
    let mut out = reading(quiet(p));
    for w in &want {
        if !todo.iter().any(|t| t.name == w.name) {
            out.push_str(&format!(
                "{} is already the newest version ({}).\n",
                w.name, w.version
            ));
        }
    }
    let mut extra: Vec<String> = todo
        .iter()
        .filter(|t| !want.iter().any(|w| w.name == t.name))
        .map(|t| t.name.clone())
        .collect();
    extra.sort();
    let mut new: Vec<String> = todo
        .iter()
        .filter(|t| !ctx.state.host.installed(&t.name))
        .map(|t| t.name.clone())
        .collect();
    new.sort();
    let again = todo.len() - new.len();
    if !extra.is_empty() {
        out.push_str("The following additional packages will be installed:\n");
        out.push_str(&wrap_list(&extra));
    }
    if !new.is_empty() {
        out.push_str("The following NEW packages will be installed:\n");
        out.push_str(&wrap_list(&new));
    }
    let summary = format!(
        "0 upgraded, {} newly installed, {again} reinstalled, 0 to remove and 0 not upgraded.\n",
        new.len()
    );
    let summary = if again == 0 {
        summary.replace(", 0 reinstalled", "")
    } else {
        summary
    };
    out.push_str(&summary);
    if todo.is_empty() {
        return Ok(Outcome::ok(Effect::Mutate)
            .out(out)
            .secs(ctx.knobs.cost("host.read")));
    }
    if simulate(p) {
        let mut s = "NOTE: This is only a simulation!\n      apt-get needs root privileges for real execution.\n      Keep also in mind that locking is deactivated,\n      so don't depend on the relevance to the real current situation!\n".to_string();
        s.push_str(&out);
        for t in &todo {
            s.push_str(&format!(
                "Inst {} ({} Debian:12/stable [{}])\n",
                t.name, t.version, t.arch
            ));
        }
        for t in &todo {
            s.push_str(&format!(
                "Conf {} ({} Debian:12/stable [{}])\n",
                t.name, t.version, t.arch
            ));
        }
        return Ok(Outcome::read(s));
    }
    if !extra.is_empty() && !assume_yes(p) {
        out.push_str(ABORT);
        return Err(Outcome {
            stdout: out,
            ..fail(1, "")
        });
    }
    let mut err = String::new();
    let noninteractive = std::env::var("DEBIAN_FRONTEND").is_ok_and(|v| v == "noninteractive");
    if !noninteractive && todo.iter().any(|t| t.debconf) {
        err.push_str(debconf_warnings());
    }
    let mut failed_units = Vec::new();
    for t in &todo {
        out.push_str(&format!(
            "Selecting previously unselected package {}.\nPreparing to unpack .../{}_{}_{}.deb ...\nUnpacking {} ({}) ...\n",
            t.name,
            t.name,
            t.version.rsplit(':').next().unwrap_or(&t.version),
            t.arch,
            t.name,
            t.version
        ));
    }
    for t in &todo {
        out.push_str(&format!("Setting up {} ({}) ...\n", t.name, t.version));
        setup_package(ctx, t, &mut out, &mut err, &mut failed_units)?;
    }
    let secs = ctx.knobs.cost("apt.install_per_pkg") * todo.len() as f64;
    if !failed_units.is_empty() {
        for (pkg, u) in &failed_units {
            err.push_str(&format!(
                "Job for {u} failed because the control process exited with error code.\nSee \"systemctl status {u}\" and \"journalctl -xeu {u}\" for details.\ninvoke-rc.d: initscript {}, action \"start\" failed.\ndpkg: error processing package {pkg} (--configure):\n installed {pkg} package post-installation script subprocess returned error exit status 1\n",
                u.trim_end_matches(".service")
            ));
        }
        err.push_str("Errors were encountered while processing:\n");
        for (pkg, _) in &failed_units {
            err.push_str(&format!(" {pkg}\n"));
        }
        err.push_str("E: Sub-process /usr/bin/dpkg returned an error code (1)\n");
        return Ok(Outcome {
            code: 100,
            stdout: out,
            stderr: err,
            ..Outcome::ok(Effect::Mutate)
        }
        .secs(secs));
    }
    Ok(Outcome {
        stdout: out,
        stderr: err,
        ..Outcome::ok(Effect::Mutate)
    }
    .secs(secs))
}

/// Unpacks and configures one package: its files (existing configuration files are kept, as
/// with `--force-confold`), units (enabled and started as Debian's maintainer scripts do),
/// and what its scripts do (system users, DKMS builds).
fn setup_package(
    ctx: &mut Ctx,
    t: &Package,
    out: &mut String,
    err: &mut String,
    failed_units: &mut Vec<(String, String)>,
) -> Result<(), Outcome> {
    let host = &mut ctx.state.host;
    host.packages.insert(t.name.clone(), t.version.clone());
    host.config_files.remove(&t.name);
    for (path, content, mode) in &t.files {
        let real = ctx.root.host(path);
        let conffile = path.starts_with("/etc/");
        if conffile && real.exists() {
            continue;
        }
        write_file(&ctx.root, path, content.as_bytes(), *mode).map_err(|e| fail(100, e))?;
    }
    match t.name.as_str() {
        "dnsmasq" => users::add_system_user(ctx, "dnsmasq", "/var/lib/misc", "nogroup"),
        "nvidia-kernel-dkms" => {
            let k = ctx.state.host.kernel.clone();
            let has_headers = headers_for(&k).iter().any(|h| ctx.state.host.installed(h));
            if has_headers {
                out.push_str(&format!(
                    "Loading new nvidia-current-{DEBIAN_NVIDIA} DKMS files...\nBuilding for {k}\nBuilding initial module for {k}\nDone.\n"
                ));
                let nv = &mut ctx.state.host.nvidia;
                nv.installed = Some(DEBIAN_NVIDIA.into());
                nv.by_package = true;
                super::nvidia::install_tools(&ctx.root).map_err(|e| fail(100, e))?;
                ctx.state.host.reboot_required = true;
            } else {
                err.push_str(&format!(
                    "Error! Your kernel headers for kernel {k} cannot be found at /lib/modules/{k}/build or /lib/modules/{k}/source.\nPlease install the linux-headers-{k} package or use the --kernelsourcedir option to tell DKMS where it's located.\n"
                ));
            }
        }
        _ => {}
    }
    for u in t.units {
        if let Err(unit) = systemd::install_unit(ctx, u, out) {
            failed_units.push((t.name.clone(), unit));
        }
    }
    Ok(())
}

/// Installed packages that depend on any of `names` (transitively), plus `names`.
fn with_dependents(ctx: &Ctx, names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = names.to_vec();
    loop {
        let mut grew = false;
        for n in ctx.state.host.packages.keys() {
            if out.contains(n) {
                continue;
            }
            let deps = lookup(n, &ctx.state.host.kernel)
                .map(|p| p.depends)
                .unwrap_or_default();
            if deps.iter().any(|d| out.contains(d)) {
                out.push(n.clone());
                grew = true;
            }
        }
        if !grew {
            return out;
        }
    }
}

fn remove(ctx: &mut Ctx, p: &Opts, names: &[String], purge: bool) -> R {
    let want = resolve(ctx, names, p)?;
    let mut out = reading(quiet(p));
    let mut targets = Vec::new();
    let mut purge_only = Vec::new();
    for w in &want {
        if ctx.state.host.installed(&w.name) {
            targets.push(w.name.clone());
        } else if purge && ctx.state.host.config_files.contains_key(&w.name) {
            purge_only.push(w.name.clone());
        } else {
            out.push_str(&format!(
                "Package '{}' is not installed, so not removed\n",
                w.name
            ));
        }
    }
    let all = with_dependents(ctx, &targets);
    if all.iter().any(|n| n == "proxmox-ve") {
        return Err(Outcome {
            stdout: out,
            ..fail(
                100,
                "W: (pve-apt-hook) !! WARNING !!\nW: (pve-apt-hook) You are attempting to remove the meta-package 'proxmox-ve'!\nW: (pve-apt-hook) \nW: (pve-apt-hook) If you really want to permanently remove 'proxmox-ve' from your system, run the following command\nW: (pve-apt-hook) \ttouch '/please-remove-proxmox-ve'\nW: (pve-apt-hook) run apt purge proxmox-ve to remove the meta-package\nW: (pve-apt-hook) and repeat your apt invocation.\nW: (pve-apt-hook) \nW: (pve-apt-hook) If you are unsure why 'proxmox-ve' would be removed, please verify\nW: (pve-apt-hook) \t- your APT repository settings\nW: (pve-apt-hook) \t- that you are using 'apt full-upgrade' to upgrade your system\nE: Sub-process /usr/share/proxmox-ve/pve-apt-hook returned an error code (1)\nE: Failure running script /usr/share/proxmox-ve/pve-apt-hook\n",
            )
        });
    }
    if all.iter().any(|n| n == "systemd") {
        return Err(Outcome {
            stdout: out,
            ..fail(
                100,
                "E: Removing essential system-critical packages not permitted under this circumstance\n",
            )
        });
    }
    let mark = if purge { "*" } else { "" };
    if !all.is_empty() || !purge_only.is_empty() {
        let listed: Vec<String> = all
            .iter()
            .chain(purge_only.iter())
            .map(|n| format!("{n}{mark}"))
            .collect();
        out.push_str("The following packages will be REMOVED:\n");
        out.push_str(&wrap_list(&listed));
    }
    out.push_str(&format!(
        "0 upgraded, 0 newly installed, {} to remove and 0 not upgraded.\n",
        all.len() + purge_only.len()
    ));
    if all.is_empty() && purge_only.is_empty() {
        return Ok(Outcome::ok(Effect::Mutate).out(out));
    }
    if simulate(p) {
        return Ok(Outcome::read(out));
    }
    if !assume_yes(p) {
        out.push_str(ABORT);
        return Err(Outcome {
            stdout: out,
            ..fail(1, "")
        });
    }
    for n in &all {
        let Some(pkg) = lookup(n, &ctx.state.host.kernel) else {
            continue;
        };
        out.push_str(&format!("Removing {} ({}) ...\n", pkg.name, pkg.version));
        for u in pkg.units {
            systemd::remove_unit(ctx, u);
        }
        for (path, _, _) in &pkg.files {
            if purge || !path.starts_with("/etc/") {
                super::remove(&ctx.root, path);
            }
        }
        ctx.state.host.packages.remove(n);
        if pkg.name == "nvidia-kernel-dkms" && ctx.state.host.nvidia.by_package {
            ctx.state.host.nvidia.installed = None;
            ctx.state.host.nvidia.by_package = false;
        }
        if !purge && pkg.files.iter().any(|(p, _, _)| p.starts_with("/etc/")) {
            ctx.state
                .host
                .config_files
                .insert(pkg.name.clone(), pkg.version.clone());
        }
    }
    if purge {
        for n in all.iter().chain(purge_only.iter()) {
            let version = lookup(n, &ctx.state.host.kernel)
                .map(|p| p.version)
                .unwrap_or_default();
            if let Some(pkg) = lookup(n, &ctx.state.host.kernel) {
                for (path, _, _) in &pkg.files {
                    super::remove(&ctx.root, path);
                }
            }
            ctx.state.host.config_files.remove(n);
            out.push_str(&format!(
                "Purging configuration files for {n} ({version}) ...\n"
            ));
        }
    }
    let n = (all.len() + purge_only.len()) as f64;
    Ok(changed_secs(out, ctx.knobs.cost("apt.remove_per_pkg") * n))
}

// ---------------------------------------------------------------------------------------
// dpkg-query

/// dpkg's status of a package: `(want, status)`, or unknown to dpkg.
fn dpkg_status(ctx: &Ctx, name: &str) -> Option<(&'static str, &'static str, String)> {
    if let Some(v) = ctx.state.host.packages.get(name) {
        return Some(("install", "installed", v.clone()));
    }
    ctx.state
        .host
        .config_files
        .get(name)
        .map(|v| ("deinstall", "config-files", v.clone()))
}

/// Renders one `dpkg-query -f` record (`${Package}`, `${Version}`, `${Status}`,
/// `${db:Status-Status}`, `${Field;width}`, `\t`/`\n` escapes). Unknown fields are empty.
pub fn render_format(format: &str, field: &dyn Fn(&str) -> String) -> String {
    let mut out = String::new();
    let chars: Vec<char> = format.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            match chars[i + 1] {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
            i += 2;
            continue;
        }
        if c == '$' && chars.get(i + 1) == Some(&'{') {
            if let Some(end) = chars[i + 2..].iter().position(|&c| c == '}') {
                let spec: String = chars[i + 2..i + 2 + end].iter().collect();
                let (name, width) = match spec.split_once(';') {
                    Some((n, w)) => (n.to_string(), w.trim().parse::<i64>().ok()),
                    None => (spec.clone(), None),
                };
                let v = field(&name);
                match width {
                    Some(w) if w < 0 => {
                        out.push_str(&format!("{v:<width$}", width = w.unsigned_abs() as usize))
                    }
                    Some(w) => out.push_str(&format!("{v:>width$}", width = w as usize)),
                    None => out.push_str(&v),
                }
                i += end + 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

const DPKG_QUERY_OPTS: &[OptSpec] = &[
    o("show", Some('W'), false),
    o("showformat", Some('f'), true),
    o("status", Some('s'), false),
    o("list", Some('l'), false),
];

/// `dpkg-query -W [-f FORMAT] [pkg…]`, `dpkg-query -s pkg…`, `dpkg-query -l [pkg…]`.
pub fn dpkg_query(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let p = match getopt_long(args, DPKG_QUERY_OPTS) {
        Ok(p) => p,
        Err(e) => {
            let opt = e.split('\'').nth(1).unwrap_or("");
            return fail(
                2,
                format!(
                    "dpkg-query: error: unknown option {opt}\n\nType dpkg-query --help for help about querying packages;\nType dpkg --help for help about installing and deinstalling packages.\n"
                ),
            );
        }
    };
    let secs = ctx.knobs.cost("host.read");
    let known: BTreeSet<String> = ctx
        .state
        .host
        .packages
        .keys()
        .chain(ctx.state.host.config_files.keys())
        .cloned()
        .collect();
    // Each pattern matches names (globs allowed); none matching is an error for that one.
    let mut names: Vec<String> = Vec::new();
    let mut err = String::new();
    if p.operands.is_empty() {
        names = known.iter().cloned().collect();
    } else {
        for pat in &p.operands {
            // `samba:amd64`: the architecture qualifier names the same package here.
            let bare = match pat.rsplit_once(':') {
                Some((n, "amd64" | "all")) => n,
                _ => pat.as_str(),
            };
            let m: Vec<&String> = known
                .iter()
                .filter(|n| crate::knobs::glob(bare, n))
                .collect();
            if m.is_empty() {
                if p.has("status") {
                    err.push_str(&format!(
                        "dpkg-query: package '{pat}' is not installed and no information is available\n"
                    ));
                } else {
                    err.push_str(&format!("dpkg-query: no packages found matching {pat}\n"));
                }
            }
            for n in m {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
        }
    }
    let mut out = String::new();
    if p.has("status") {
        if p.operands.is_empty() {
            return fail(
                2,
                "dpkg-query: error: --status needs at least one package name argument\n\nType dpkg-query --help for help about querying packages;\nType dpkg --help for help about installing and deinstalling packages.\n",
            );
        }
        for n in &names {
            let Some((want, status, version)) = dpkg_status(ctx, n) else {
                continue;
            };
            let arch = lookup(n, &ctx.state.host.kernel).map_or("amd64", |p| p.arch);
            out.push_str(&format!(
                "Package: {n}\nStatus: {want} ok {status}\nPriority: optional\nSection: admin\nMaintainer: Debian Maintainers <debian-devel@lists.debian.org>\nArchitecture: {arch}\nVersion: {version}\nDescription: {n}\n\n"
            ));
        }
        if !err.is_empty() {
            err.push_str(
                "Use dpkg --contents (= dpkg-deb --contents) to list archive files contents.\n",
            );
        }
    } else if p.has("list") {
        out.push_str("Desired=Unknown/Install/Remove/Purge/Hold\n| Status=Not/Inst/Conf-files/Unpacked/halF-conf/Half-inst/trig-aWait/Trig-pend\n|/ Err?=(none)/Reinst-required (Status,Err: uppercase=bad)\n||/ Name           Version        Architecture Description\n+++-==============-==============-============-=================================\n");
        for n in &names {
            let Some((want, _, version)) = dpkg_status(ctx, n) else {
                continue;
            };
            let abbrev = if want == "install" { "ii" } else { "rc" };
            let arch = lookup(n, &ctx.state.host.kernel).map_or("amd64", |p| p.arch);
            out.push_str(&format!("{abbrev}  {n:<14} {version:<14} {arch:<12} {n}\n"));
        }
    } else {
        let format = p
            .value("showformat")
            .unwrap_or("${binary:Package}\\t${Version}\\n")
            .to_string();
        for n in &names {
            let Some((want, status, version)) = dpkg_status(ctx, n) else {
                continue;
            };
            let arch = lookup(n, &ctx.state.host.kernel).map_or("amd64", |p| p.arch);
            let field = |f: &str| -> String {
                match f {
                    "Package" | "binary:Package" => n.clone(),
                    "Version" => version.clone(),
                    "Architecture" => arch.to_string(),
                    "Status" => format!("{want} ok {status}"),
                    "db:Status-Abbrev" => {
                        if want == "install" {
                            "ii ".into()
                        } else {
                            "rc ".into()
                        }
                    }
                    "db:Status-Want" => want.to_string(),
                    "db:Status-Eflag" => "ok".to_string(),
                    "db:Status-Status" => status.to_string(),
                    _ => String::new(),
                }
            };
            out.push_str(&render_format(&format, &field));
        }
    }
    let code = i32::from(!err.is_empty());
    answer(code, out, err).secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::host::catalogue::PREINSTALLED;

    #[test]
    fn dpkg_query_formats() {
        let f = |n: &str| match n {
            "Package" => "samba".to_string(),
            "Status" => "install ok installed".to_string(),
            "db:Status-Status" => "installed".to_string(),
            "Version" => "2:4.17".to_string(),
            _ => String::new(),
        };
        assert_eq!(
            render_format("${Package}\\t${Status}\\n", &f),
            "samba\tinstall ok installed\n"
        );
        assert_eq!(render_format("${db:Status-Status}", &f), "installed");
        assert_eq!(
            render_format("${Package;-8}|${Version;8}|", &f),
            "samba   |  2:4.17|"
        );
        assert_eq!(render_format("${Nope}x", &f), "x");
    }

    #[test]
    fn the_catalogue_knows_kernel_headers() {
        let k = "6.8.12-4-pve";
        assert_eq!(
            lookup("proxmox-headers-6.8.12-4-pve", k).unwrap().version,
            "6.8.12-4"
        );
        assert_eq!(
            lookup("pve-headers-6.8.12-9-pve", k).unwrap().depends,
            ["proxmox-headers-6.8.12-9-pve"]
        );
        assert_eq!(
            lookup("proxmox-default-headers", k).unwrap().depends,
            ["proxmox-headers-6.8"]
        );
        assert_eq!(
            lookup("proxmox-headers-6.8", k).unwrap().depends,
            ["proxmox-headers-6.8.12-4-pve"]
        );
        assert!(lookup("proxmox-headers-latest", k).is_none());
        assert!(lookup("not-a-package", k).is_none());
        for p in PREINSTALLED {
            assert!(lookup(p, k).is_some(), "{p}");
        }
        assert!(
            lookup("sudo", k)
                .unwrap()
                .files
                .iter()
                .any(|(p, c, m)| p == "/etc/sudoers"
                    && *m == 0o440
                    && c.contains("%sudo\tALL=(ALL:ALL) ALL\n")
                    && c.contains("@includedir /etc/sudoers.d\n"))
        );
    }

    #[test]
    fn wraps_package_lists_like_apt() {
        assert_eq!(wrap_list(&["a".into(), "b".into()]), "  a b\n");
    }
}
