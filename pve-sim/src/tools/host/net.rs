//! Network services: `exportfs` (the NFS export table from `/etc/exports` and
//! `/etc/exports.d/*.exports`, validated as nfs-utils validates it) and `dnsmasq --test`
//! (the configuration with its `conf-dir`/`conf-file` includes, with dnsmasq's option names
//! and messages). Starting `dnsmasq.service` runs the same check on what the Debian service
//! reads (`/etc/dnsmasq.conf` and `/etc/dnsmasq.d`).

use std::path::Path;

use super::{answer, fail, file_arg, getopt_long, host_view, o, write_file};
use crate::Ctx;
use crate::host::Export;
use crate::outcome::{Effect, Outcome};

// ---------------------------------------------------------------------------------------
// exports

/// Export options nfs-utils knows (`key=value` ones by key).
const EXPORT_FLAGS: &[&str] = &[
    "rw",
    "ro",
    "sync",
    "async",
    "no_subtree_check",
    "subtree_check",
    "root_squash",
    "no_root_squash",
    "all_squash",
    "no_all_squash",
    "secure",
    "insecure",
    "wdelay",
    "no_wdelay",
    "crossmnt",
    "nohide",
    "hide",
    "secure_locks",
    "insecure_locks",
    "no_auth_nlm",
    "auth_nlm",
    "no_acl",
    "acl",
    "mountpoint",
    "mp",
    "pnfs",
    "no_pnfs",
    "security_label",
];
const EXPORT_KEYS: &[&str] = &[
    "fsid",
    "anonuid",
    "anongid",
    "sec",
    "refer",
    "replicas",
    "mountpoint",
    "mp",
    "xprtsec",
];

/// One line's export of one path to one client, or an error with nfs-utils' text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportLine {
    /// Exported path.
    pub path: String,
    /// Client.
    pub client: String,
    /// Options as given.
    pub options: Vec<String>,
    /// 1-based line.
    pub line: usize,
}

/// Parses an exports file: entries, and errors (`exportfs: <file>:<line>: …`).
pub fn parse_exports(file: &str, text: &str) -> (Vec<ExportLine>, Vec<String>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut logical: Vec<(usize, String)> = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    for (i, l) in text.lines().enumerate() {
        if cur.is_empty() {
            start = i + 1;
        }
        let l = l.split('#').next().unwrap_or("");
        if let Some(b) = l.strip_suffix('\\') {
            cur.push_str(b);
            cur.push(' ');
            continue;
        }
        cur.push_str(l);
        logical.push((start, std::mem::take(&mut cur)));
    }
    'lines: for (n, line) in logical {
        let mut toks = line.split_whitespace();
        let Some(path) = toks.next() else {
            continue;
        };
        let path = path.trim_matches('"').to_string();
        if !path.starts_with('/') {
            errors.push(format!("exportfs: {file}:{n}: bad export point {path}"));
            continue;
        }
        let mut defaults: Vec<String> = Vec::new();
        let mut any = false;
        for t in toks {
            if let Some(d) = t.strip_prefix('-') {
                defaults = d.split(',').map(str::to_string).collect();
                continue;
            }
            let (client, opts) = match t.split_once('(') {
                Some((c, rest)) => {
                    let Some(inner) = rest.strip_suffix(')') else {
                        errors.push(format!(
                            "exportfs: {file}:{n}: syntax error: bad option list"
                        ));
                        continue 'lines;
                    };
                    let c = if c.is_empty() { "*" } else { c };
                    let mut o = defaults.clone();
                    o.extend(
                        inner
                            .split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string),
                    );
                    (c.to_string(), o)
                }
                None => (t.to_string(), defaults.clone()),
            };
            for opt in &opts {
                let key = opt.split('=').next().unwrap_or("");
                let ok = if opt.contains('=') {
                    EXPORT_KEYS.contains(&key)
                } else {
                    EXPORT_FLAGS.contains(&opt.as_str())
                };
                if !ok {
                    errors.push(format!("exportfs: {file}:{n}: unknown keyword \"{opt}\""));
                    continue 'lines;
                }
            }
            any = true;
            out.push(ExportLine {
                path: path.clone(),
                client,
                options: opts,
                line: n,
            });
        }
        if !any {
            // A path without clients is exported to the world with defaults.
            out.push(ExportLine {
                path,
                client: "*".into(),
                options: defaults,
                line: n,
            });
        }
    }
    (out, errors)
}

/// The option string `exportfs -v` shows for the given options (defaults filled in).
pub fn effective_options(given: &[String]) -> String {
    let has = |o: &str| given.iter().any(|g| g == o);
    let value = |k: &str| {
        given
            .iter()
            .rev()
            .find_map(|g| g.strip_prefix(&format!("{k}=")).map(str::to_string))
    };
    let mut v: Vec<String> = Vec::new();
    v.push(if has("async") { "async" } else { "sync" }.into());
    v.push(
        if has("no_wdelay") {
            "no_wdelay"
        } else {
            "wdelay"
        }
        .into(),
    );
    v.push(if has("nohide") { "nohide" } else { "hide" }.into());
    if has("crossmnt") {
        v.push("crossmnt".into());
    }
    v.push(
        if has("subtree_check") {
            "subtree_check"
        } else {
            "no_subtree_check"
        }
        .into(),
    );
    for k in ["fsid", "anonuid", "anongid"] {
        if let Some(x) = value(k) {
            v.push(format!("{k}={x}"));
        }
    }
    v.push(format!(
        "sec={}",
        value("sec").unwrap_or_else(|| "sys".into())
    ));
    v.push(if has("rw") && !has("ro") { "rw" } else { "ro" }.into());
    v.push(
        if has("insecure") {
            "insecure"
        } else {
            "secure"
        }
        .into(),
    );
    v.push(
        if has("no_root_squash") {
            "no_root_squash"
        } else {
            "root_squash"
        }
        .into(),
    );
    v.push(
        if has("all_squash") {
            "all_squash"
        } else {
            "no_all_squash"
        }
        .into(),
    );
    v.join(",")
}

/// Writes `/var/lib/nfs/etab` from the export table.
pub fn write_etab(ctx: &Ctx) {
    let text: String = ctx
        .state
        .host
        .exports
        .iter()
        .map(|e| {
            format!(
                "{}\t{}({})\n",
                e.path,
                e.client,
                effective_options(&e.options)
            )
        })
        .collect();
    let _ = write_file(&ctx.root, "/var/lib/nfs/etab", text.as_bytes(), 0o644);
}

/// What `exportfs -r` does: read the exports files, check every entry, export the valid
/// ones. Returns `(warnings, errors)`.
pub fn export_all(ctx: &mut Ctx) -> (Vec<String>, Vec<String>) {
    let mut files = vec![("/etc/exports".to_string(), ctx.root.host("/etc/exports"))];
    if let Ok(rd) = std::fs::read_dir(ctx.root.host("/etc/exports.d")) {
        let mut extra: Vec<_> = rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "exports") && p.is_file())
            .collect();
        extra.sort();
        for p in extra {
            files.push((host_view(&ctx.root, &p), p));
        }
    }
    let mut table = Vec::new();
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for (name, real) in files {
        let Ok(text) = std::fs::read_to_string(&real) else {
            continue;
        };
        let (lines, errs) = parse_exports(&name, &text);
        errors.extend(errs);
        for l in lines {
            if !ctx.root.host(&l.path).is_dir() {
                let e = format!(
                    "exportfs: Failed to stat {}: No such file or directory",
                    l.path
                );
                if !errors.contains(&e) {
                    errors.push(e);
                }
                continue;
            }
            if !l
                .options
                .iter()
                .any(|o| o == "subtree_check" || o == "no_subtree_check")
            {
                warnings.push(format!(
                    "exportfs: {name} [{}]: Neither 'subtree_check' or 'no_subtree_check' specified for export \"{}:{}\".\n  Assuming default behaviour ('no_subtree_check').\n  NOTE: this default has changed since nfs-utils version 1.0.x\n",
                    l.line, l.client, l.path
                ));
            }
            table.push(Export {
                path: l.path,
                client: l.client,
                options: l.options,
            });
        }
    }
    ctx.state.host.exports = table;
    write_etab(ctx);
    (warnings, errors)
}

fn list_exports(ctx: &Ctx, verbose: bool, short: bool) -> String {
    let mut out = String::new();
    for e in &ctx.state.host.exports {
        let opts = if verbose || short {
            format!("({})", effective_options(&e.options))
        } else {
            String::new()
        };
        if short {
            out.push_str(&format!("{}  {}{opts}\n", e.path, e.client));
        } else if e.path.len() > 14 {
            out.push_str(&format!("{}\n\t\t{}{opts}\n", e.path, e.client));
        } else {
            out.push_str(&format!("{:<14}\t{}{opts}\n", e.path, e.client));
        }
    }
    out
}

/// `exportfs [-r] [-a] [-u] [-v] [-s] [-f]`.
pub fn exportfs(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let specs = [
        o("", Some('a'), false),
        o("", Some('r'), false),
        o("", Some('u'), false),
        o("", Some('v'), false),
        o("", Some('s'), false),
        o("", Some('f'), false),
        o("", Some('i'), false),
        o("", Some('o'), true),
    ];
    let p = match getopt_long(args, &specs) {
        Ok(p) => p,
        Err(e) => {
            return fail(
                1,
                format!("exportfs: {e}\nusage: exportfs [-adfhioruvs] [host:/path]"),
            );
        }
    };
    let verbose = p.has("v");
    if !p.operands.is_empty() || p.has("o") || p.has("i") {
        return fail(
            1,
            "exportfs: pve-sim exports only what /etc/exports and /etc/exports.d say (exportfs -r|-a|-u|-v|-s)",
        );
    }
    let changes = p.has("r") || p.has("a") || p.has("u") || p.has("f");
    if !changes {
        return Outcome::read(list_exports(ctx, verbose, p.has("s")))
            .secs(ctx.knobs.cost("host.read"));
    }
    let active = ctx
        .state
        .host
        .units
        .get("nfs-server.service")
        .is_some_and(|u| u.active == "active");
    if !active {
        return fail(
            1,
            "exportfs: could not open /proc/fs/nfs/exports for locking: errno 2 (No such file or directory)",
        );
    }
    let secs = ctx.knobs.cost("exportfs");
    if p.has("u") && !p.has("r") {
        let mut out = String::new();
        for e in &ctx.state.host.exports {
            if verbose {
                out.push_str(&format!("unexporting {}:{}\n", e.client, e.path));
            }
        }
        ctx.state.host.exports.clear();
        write_etab(ctx);
        return Outcome::ok(Effect::Mutate).out(out).secs(secs);
    }
    let (warnings, errors) = export_all(ctx);
    let mut out = String::new();
    if verbose {
        for e in &ctx.state.host.exports {
            out.push_str(&format!("exporting {}:{}\n", e.client, e.path));
        }
    }
    let mut err = warnings.concat();
    for e in &errors {
        err.push_str(e);
        err.push('\n');
    }
    Outcome {
        code: i32::from(!errors.is_empty()),
        stdout: out,
        stderr: err,
        refused: !errors.is_empty(),
        ..Outcome::ok(Effect::Mutate)
    }
    .secs(secs)
}

// ---------------------------------------------------------------------------------------
// dnsmasq

/// How a dnsmasq option takes its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arg {
    None,
    Required,
    Optional,
}

fn dnsmasq_option(name: &str) -> Option<Arg> {
    const NONE: &[&str] = &[
        "domain-needed",
        "bogus-priv",
        "strict-order",
        "all-servers",
        "no-resolv",
        "no-poll",
        "no-hosts",
        "expand-hosts",
        "bind-interfaces",
        "bind-dynamic",
        "no-negcache",
        "stop-dns-rebind",
        "rebind-localhost-ok",
        "localise-queries",
        "filterwin2k",
        "dnssec",
        "keep-in-foreground",
        "no-daemon",
        "dhcp-authoritative",
        "enable-ra",
        "read-ethers",
        "leasefile-ro",
        "log-dhcp",
        "quiet-dhcp",
        "clear-on-reload",
        "proxy-dnssec",
        "no-ping",
        "dns-loop-detect",
        "filter-AAAA",
        "filter-A",
        "tftp-secure",
        "selfmx",
        "localmx",
        "conntrack",
        "no-round-robin",
        "strip-mac",
        "strip-subnet",
        "dhcp-rapid-commit",
        "log-debug",
        "no-ident",
        "dnssec-no-timecheck",
        "dhcp-fqdn",
        "dhcp-no-override",
        "bootp-dynamic",
    ];
    const OPTIONAL: &[&str] = &[
        "log-queries",
        "enable-tftp",
        "log-async",
        "add-mac",
        "add-subnet",
        "dnssec-check-unsigned",
        "umbrella",
    ];
    const REQUIRED: &[&str] = &[
        "port",
        "server",
        "local",
        "rev-server",
        "address",
        "host-record",
        "cname",
        "domain",
        "listen-address",
        "interface",
        "except-interface",
        "no-dhcp-interface",
        "auth-server",
        "auth-zone",
        "conf-dir",
        "conf-file",
        "cache-size",
        "log-facility",
        "addn-hosts",
        "hostsdir",
        "resolv-file",
        "user",
        "group",
        "pid-file",
        "local-ttl",
        "neg-ttl",
        "max-ttl",
        "max-cache-ttl",
        "min-cache-ttl",
        "auth-ttl",
        "mx-host",
        "mx-target",
        "srv-host",
        "txt-record",
        "ptr-record",
        "naptr-record",
        "caa-record",
        "dhcp-range",
        "dhcp-host",
        "dhcp-option",
        "dhcp-option-force",
        "dhcp-boot",
        "dhcp-leasefile",
        "dhcp-script",
        "dhcp-name-match",
        "dhcp-ignore-names",
        "dhcp-lease-max",
        "edns-packet-max",
        "query-port",
        "min-port",
        "max-port",
        "ipset",
        "nftset",
        "trust-anchor",
        "tftp-root",
        "interface-name",
        "dynamic-host",
        "bogus-nxdomain",
        "ignore-address",
        "alias",
        "dns-forward-max",
        "rebind-domain-ok",
        "add-cpe-id",
        "servers-file",
        "dhcp-hostsfile",
        "dhcp-optsfile",
        "connmark-allowlist",
        "synth-domain",
        "dns-rr",
        "address-family",
    ];
    if NONE.contains(&name) {
        Some(Arg::None)
    } else if OPTIONAL.contains(&name) {
        Some(Arg::Optional)
    } else if REQUIRED.contains(&name) {
        Some(Arg::Required)
    } else {
        None
    }
}

/// Whether an address-like value (`server=`, `address=`, `local=`) is well formed:
/// `/<domain>[/<domain>…]/[<ip>|#]` or an IP (with `#port` and `@source`).
pub fn valid_dns_target(v: &str, allow_plain: bool) -> bool {
    let ip_ok = |s: &str| {
        let s = s.split('@').next().unwrap_or("");
        let s = s.split('#').next().unwrap_or("");
        s.is_empty() || s.parse::<std::net::IpAddr>().is_ok()
    };
    if let Some(rest) = v.strip_prefix('/') {
        let Some((domains, target)) = rest.rsplit_once('/') else {
            return false;
        };
        let domains_ok = domains.split('/').all(|d| {
            !d.is_empty()
                && d.split('.').all(|l| {
                    l == "*"
                        || (!l.is_empty()
                            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
                })
                || d == "#"
        });
        return domains_ok && (target == "#" || ip_ok(target));
    }
    allow_plain && !v.is_empty() && ip_ok(v)
}

/// Checks one dnsmasq configuration file (and what it includes). `Err`: dnsmasq's message.
fn check_conf(
    ctx: &Ctx,
    shown: &str,
    text: &str,
    depth: usize,
    dirs: &mut Vec<String>,
) -> Result<(), String> {
    if depth > 16 {
        return Err(format!("dnsmasq: nested includes too deep in {shown}"));
    }
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (line, None),
        };
        let bad = |what: &str| format!("dnsmasq: {what} at line {n} of {shown}");
        let Some(kind) = dnsmasq_option(name) else {
            return Err(bad("bad option"));
        };
        match (kind, value) {
            (Arg::None, Some(_)) => return Err(bad("extraneous parameter")),
            (Arg::Required, None | Some("")) => return Err(bad("missing parameter")),
            _ => {}
        }
        let v = value.unwrap_or("");
        match name {
            "address" | "local" if !valid_dns_target(v, false) => {
                return Err(bad("bad address"));
            }
            "server" if !valid_dns_target(v, true) => return Err(bad("bad address")),
            "port" if v.parse::<u16>().is_err() => return Err(bad("bad port")),
            "cache-size" | "local-ttl" | "neg-ttl" | "max-ttl" | "dns-forward-max"
                if v.parse::<u32>().is_err() =>
            {
                return Err(bad("bad number"));
            }
            "conf-file" => {
                let real = file_arg(&ctx.root, v);
                let t = std::fs::read_to_string(&real)
                    .map_err(|_| format!("dnsmasq: cannot read {v}: No such file or directory"))?;
                check_conf(ctx, v, &t, depth + 1, dirs)?;
            }
            "conf-dir" => dirs.push(v.to_string()),
            _ => {}
        }
    }
    Ok(())
}

/// Reads a `conf-dir` (`<dir>[,<filter>…]`: `*.ext` keeps only matching files, `.ext`
/// drops them) and checks every file in it.
fn check_conf_dir(ctx: &Ctx, spec: &str, depth: usize) -> Result<(), String> {
    let mut parts = spec.split(',');
    let dir = parts.next().unwrap_or("").trim_end_matches('/');
    let filters: Vec<&str> = parts.collect();
    let real = file_arg(&ctx.root, dir);
    let rd = std::fs::read_dir(&real).map_err(|_| {
        format!("dnsmasq: cannot access directory {dir}: No such file or directory")
    })?;
    let mut files: Vec<String> = rd
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            !(n.starts_with('.') || n.ends_with('~') || (n.starts_with('#') && n.ends_with('#')))
        })
        .collect();
    files.sort();
    let keep: Vec<&str> = filters.iter().filter_map(|f| f.strip_prefix('*')).collect();
    let drop: Vec<&str> = filters
        .iter()
        .filter(|f| !f.starts_with('*'))
        .copied()
        .collect();
    for f in files {
        if !keep.is_empty() && !keep.iter().any(|k| f.ends_with(k)) {
            continue;
        }
        if drop.iter().any(|d| f.ends_with(d)) {
            continue;
        }
        let shown = format!("{dir}/{f}");
        let text = std::fs::read_to_string(real.join(&f)).unwrap_or_default();
        let mut more = Vec::new();
        check_conf(ctx, &shown, &text, depth + 1, &mut more)?;
        for d in more {
            check_conf_dir(ctx, &d, depth + 1)?;
        }
    }
    Ok(())
}

/// Checks a main configuration file and its includes.
fn check_all(ctx: &Ctx, shown: &str, real: &Path, extra_dir: Option<&str>) -> Result<(), String> {
    let text = std::fs::read_to_string(real)
        .map_err(|_| format!("dnsmasq: cannot read {shown}: No such file or directory"))?;
    let mut dirs = Vec::new();
    check_conf(ctx, shown, &text, 0, &mut dirs)?;
    if let Some(d) = extra_dir {
        dirs.push(d.to_string());
    }
    for d in dirs {
        check_conf_dir(ctx, &d, 1)?;
    }
    Ok(())
}

/// What `dnsmasq.service` checks when it starts (Debian's `-7 /etc/dnsmasq.d,.dpkg-dist,…`).
pub fn dnsmasq_service_check(ctx: &mut Ctx) -> Result<(), String> {
    check_all(
        ctx,
        "/etc/dnsmasq.conf",
        &ctx.root.host("/etc/dnsmasq.conf"),
        Some("/etc/dnsmasq.d,.dpkg-dist,.dpkg-old,.dpkg-new"),
    )
}

/// `dnsmasq --test [--conf-file=<f>|-C <f>] [--conf-dir=<d>]`.
pub fn dnsmasq(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let specs = [
        o("test", None, false),
        o("conf-file", Some('C'), true),
        o("conf-dir", Some('7'), true),
        o("keep-in-foreground", Some('k'), false),
        o("no-daemon", Some('d'), false),
    ];
    let p = match getopt_long(args, &specs) {
        Ok(p) => p,
        Err(e) => {
            return fail(
                1,
                format!("dnsmasq: {e}\ndnsmasq: bad command line options: try --help"),
            );
        }
    };
    if !p.operands.is_empty() {
        return fail(1, "dnsmasq: bad command line options: try --help");
    }
    if !p.has("test") {
        return fail(
            2,
            "dnsmasq: failed to create listening socket for port 53: Address already in use (pve-sim: run dnsmasq as dnsmasq.service)",
        );
    }
    let secs = ctx.knobs.cost("host.read");
    let (shown, real) = match p.value("conf-file") {
        Some(f) => (f.to_string(), file_arg(&ctx.root, f)),
        None => (
            "/etc/dnsmasq.conf".to_string(),
            ctx.root.host("/etc/dnsmasq.conf"),
        ),
    };
    match check_all(ctx, &shown, &real, p.value("conf-dir")) {
        Ok(()) => answer(0, "", "dnsmasq: syntax check OK.\n").secs(secs),
        Err(e) => fail(1, e).secs(secs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_parse_like_nfs_utils() {
        let (lines, errs) = parse_exports(
            "/etc/exports.d/phoenix.exports",
            "# comment\n/tank/data 10.0.0.31(rw,sync,no_subtree_check,root_squash) 10.0.0.32(ro)\n/srv \\\n  *(rw,fsid=0)\n/x 10.0.0.1(rw,bogus)\n/y 10.0.0.1(rw\n",
        );
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].client, "10.0.0.31");
        assert_eq!(lines[1].options, ["ro"]);
        assert_eq!(lines[2].path, "/srv");
        assert_eq!(lines[2].line, 3);
        assert_eq!(
            errs,
            [
                "exportfs: /etc/exports.d/phoenix.exports:5: unknown keyword \"bogus\"",
                "exportfs: /etc/exports.d/phoenix.exports:6: syntax error: bad option list"
            ]
        );
        assert_eq!(
            effective_options(&["rw".into(), "sync".into(), "no_subtree_check".into()]),
            "sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,root_squash,no_all_squash"
        );
    }

    #[test]
    fn dnsmasq_options_and_addresses() {
        assert_eq!(dnsmasq_option("domain-needed"), Some(Arg::None));
        assert_eq!(dnsmasq_option("server"), Some(Arg::Required));
        assert_eq!(dnsmasq_option("log-queries"), Some(Arg::Optional));
        assert_eq!(dnsmasq_option("no-such-option"), None);
        assert!(valid_dns_target("/lab.example.internal/10.20.0.2", false));
        assert!(valid_dns_target("/ads.example/", false));
        assert!(valid_dns_target("/a.b/c.d/#", false));
        assert!(valid_dns_target("1.1.1.1", true));
        assert!(valid_dns_target("/internal/10.0.0.2#5353", true));
        assert!(!valid_dns_target("lab.example.internal", false));
        assert!(!valid_dns_target("/lab/not-an-ip", false));
        assert!(!valid_dns_target("/lab", false));
    }
}
