//! The rest of the host: `timedatectl` (time zone, with `/etc/timezone` and the
//! `/etc/localtime` link), `locale-gen`/`locale -a` (from `/etc/locale.gen`), `hostnamectl`
//! (`/etc/hostname`), `uname`, `update-ca-certificates` (local CA certificates under
//! `/usr/local/share/ca-certificates`) and `step` (`certificate fingerprint`, `ca
//! bootstrap`, `ca certificate`).
//!
//! `step ca certificate` issues real certificates: a P-256 key and an X.509 leaf signed by
//! the simulated step CA, whose root key and certificate live in
//! `var/lib/pve-sim/step-ca/{root_ca.crt,root_ca.key}` (made on first use, see [`step_ca`];
//! `pve-sim step-ca-root` prints the root). Validity follows the real system clock, not the
//! simulated one, so TLS clients of the test accept the certificate now.

use std::collections::BTreeMap;
use std::path::Path;

use super::{changed, fail, file_arg, getopt_long, o, sha256_hex, symlink, write_file};
use crate::Ctx;
use crate::outcome::Outcome;

/// Time zone areas systemd accepts (`Area/Location[/More]`).
const AREAS: &[&str] = &[
    "Africa",
    "America",
    "Antarctica",
    "Arctic",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
    "Etc",
];

/// Whether a time zone name is one this host has: `UTC`, or `Area/Location[/More]` with a
/// known area and ASCII letters, digits, `_`, `+`, `-` in the rest.
pub fn valid_timezone(tz: &str) -> bool {
    if tz == "UTC" {
        return true;
    }
    let mut parts = tz.split('/');
    let Some(area) = parts.next() else {
        return false;
    };
    let rest: Vec<&str> = parts.collect();
    AREAS.contains(&area)
        && !rest.is_empty()
        && rest.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-'))
        })
}

/// Whether a host name is valid for `hostnamectl`: dot-separated RFC 1123 labels (letters,
/// digits, `-`, not at either end), at most 64 characters.
pub fn valid_hostname(n: &str) -> bool {
    n.len() <= 64
        && !n.is_empty()
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// `Thu 2026-01-01 00:00:00 UTC`.
fn systemd_time(t: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    format!(
        "{} {} UTC",
        DAYS[((t / 86_400) % 7) as usize],
        crate::clock::format(t)
    )
}

/// Writes `/etc/timezone` and the `/etc/localtime` link.
pub fn write_timezone(root: &crate::root::SimRoot, tz: &str) -> Result<(), String> {
    write_file(root, "/etc/timezone", format!("{tz}\n").as_bytes(), 0o644)?;
    symlink(root, "/etc/localtime", &format!("/usr/share/zoneinfo/{tz}"))
}

/// `timedatectl [status] | show [-p PROP]… [--value] | set-timezone TZ`.
pub fn timedatectl(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let specs = [
        o("property", Some('p'), true),
        o("value", None, false),
        o("all", Some('a'), false),
        o("no-pager", None, false),
        o("no-ask-password", None, false),
    ];
    let p = match getopt_long(args, &specs) {
        Ok(p) => p,
        Err(e) => return fail(1, format!("timedatectl: {e}")),
    };
    let read = ctx.knobs.cost("host.read");
    let now = ctx.state.now();
    let tz = ctx.state.host.timezone.clone();
    match p.operands.first().map(String::as_str) {
        None | Some("status") => Outcome::read(format!(
            "               Local time: {t}\n           Universal time: {t}\n                 RTC time: {rtc}\n                Time zone: {tz} (UTC, +0000)\nSystem clock synchronized: yes\n              NTP service: active\n          RTC in local TZ: no\n",
            t = systemd_time(now),
            rtc = systemd_time(now).trim_end_matches(" UTC"),
        ))
        .secs(read),
        Some("show") => {
            let props = [
                ("Timezone", tz.clone()),
                ("LocalRTC", "no".into()),
                ("CanNTP", "yes".into()),
                ("NTP", "yes".into()),
                ("NTPSynchronized", "yes".into()),
                ("TimeUSec", systemd_time(now)),
                ("RTCTimeUSec", systemd_time(now)),
            ];
            let wanted: Vec<&str> = p
                .values("property")
                .iter()
                .flat_map(|v| v.split(','))
                .collect();
            let mut out = String::new();
            for (k, v) in props {
                if !wanted.is_empty() && !wanted.contains(&k) {
                    continue;
                }
                if p.has("value") {
                    out.push_str(&format!("{v}\n"));
                } else {
                    out.push_str(&format!("{k}={v}\n"));
                }
            }
            Outcome::read(out).secs(read)
        }
        Some("set-timezone") => {
            let [_, zone] = p.operands.as_slice() else {
                return fail(1, "Too few arguments.");
            };
            if !valid_timezone(zone) {
                return fail(
                    1,
                    format!("Failed to set time zone: Invalid or not installed time zone '{zone}'"),
                );
            }
            ctx.state.host.timezone = zone.clone();
            if let Err(e) = write_timezone(&ctx.root, zone) {
                return fail(1, e);
            }
            changed("").secs(ctx.knobs.cost("host.write"))
        }
        Some("list-timezones") => Outcome::read(
            "Africa/Abidjan\nAmerica/New_York\nAmerica/Toronto\nAsia/Tokyo\nAustralia/Sydney\nEtc/UTC\nEurope/Berlin\nEurope/London\nPacific/Auckland\nUTC\n",
        )
        .secs(read),
        Some("set-ntp") => changed("").secs(ctx.knobs.cost("host.write")),
        Some(v) => fail(1, format!("Unknown command verb '{v}'.")),
    }
}

/// The name `locale -a` shows for a `locale.gen` name (`en_US.UTF-8` → `en_US.utf8`).
pub fn normalise_locale(name: &str) -> String {
    let (base, modifier) = match name.split_once('@') {
        Some((b, m)) => (b, Some(m)),
        None => (name, None),
    };
    let mut out = match base.split_once('.') {
        Some((l, cs)) => format!("{l}.{}", cs.to_ascii_lowercase().replace(['-', '_'], "")),
        None => base.to_string(),
    };
    if let Some(m) = modifier {
        out.push('@');
        out.push_str(m);
    }
    out
}

/// `locale [-a]`.
pub fn locale(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let read = ctx.knobs.cost("host.read");
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["-a"] | ["--all-locales"] => {
            let mut names: Vec<String> = ctx
                .state
                .host
                .locales
                .iter()
                .map(|l| normalise_locale(l))
                .collect();
            names.sort();
            names.dedup();
            let mut out = String::from("C\nC.utf8\nPOSIX\n");
            for n in names {
                out.push_str(&n);
                out.push('\n');
            }
            Outcome::read(out).secs(read)
        }
        [] => {
            let lang = std::fs::read_to_string(ctx.root.host("/etc/default/locale"))
                .unwrap_or_default()
                .lines()
                .find_map(|l| {
                    l.strip_prefix("LANG=")
                        .map(|v| v.trim_matches('"').to_string())
                })
                .unwrap_or_default();
            let mut out = format!("LANG={lang}\nLANGUAGE=\n");
            for k in [
                "LC_CTYPE",
                "LC_NUMERIC",
                "LC_TIME",
                "LC_COLLATE",
                "LC_MONETARY",
                "LC_MESSAGES",
                "LC_PAPER",
                "LC_NAME",
                "LC_ADDRESS",
                "LC_TELEPHONE",
                "LC_MEASUREMENT",
                "LC_IDENTIFICATION",
            ] {
                out.push_str(&format!("{k}=\"{lang}\"\n"));
            }
            out.push_str("LC_ALL=\n");
            Outcome::read(out).secs(read)
        }
        [x, ..] => fail(
            1,
            format!(
                "locale: invalid option -- '{}'\nTry 'locale --help' for more information.",
                x.trim_start_matches('-')
            ),
        ),
    }
}

/// `hostnamectl [status] | hostname [NAME] | set-hostname NAME`.
pub fn hostnamectl(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let specs = [
        o("static", None, false),
        o("transient", None, false),
        o("pretty", None, false),
        o("no-ask-password", None, false),
    ];
    let p = match getopt_long(args, &specs) {
        Ok(p) => p,
        Err(e) => return fail(1, format!("hostnamectl: {e}")),
    };
    let read = ctx.knobs.cost("host.read");
    let host = ctx.state.host.hostname.clone();
    let set = |ctx: &mut Ctx, name: &str| -> Outcome {
        if !valid_hostname(name) {
            return fail(1, format!("Invalid hostname '{name}'"));
        }
        ctx.state.host.hostname = name.to_string();
        if let Err(e) = write_file(
            &ctx.root,
            "/etc/hostname",
            format!("{name}\n").as_bytes(),
            0o644,
        ) {
            return fail(1, e);
        }
        changed("").secs(ctx.knobs.cost("host.write"))
    };
    match p.operands.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] | ["status"] => Outcome::read(format!(
            " Static hostname: {host}\n       Icon name: computer-desktop\n         Chassis: desktop\n      Machine ID: 4c8c4d6a3f0e4b7a9d2b1e5f6a7b8c9d\n         Boot ID: 1f2e3d4c5b6a79881726354453627181\nOperating System: Debian GNU/Linux 12 (bookworm)\n          Kernel: Linux {}\n    Architecture: x86-64\n",
            ctx.state.host.kernel
        ))
        .secs(read),
        ["hostname"] => Outcome::read(format!("{host}\n")).secs(read),
        ["hostname", name] | ["set-hostname", name] => {
            let name = name.to_string();
            set(ctx, &name)
        }
        ["set-hostname"] => fail(1, "Too few arguments."),
        [v, ..] => fail(1, format!("Unknown command verb '{v}'.")),
    }
}

/// `uname [-a|-s|-n|-r|-v|-m|-o]`.
pub fn uname(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let specs = [
        o("all", Some('a'), false),
        o("kernel-name", Some('s'), false),
        o("nodename", Some('n'), false),
        o("kernel-release", Some('r'), false),
        o("kernel-version", Some('v'), false),
        o("machine", Some('m'), false),
        o("processor", Some('p'), false),
        o("hardware-platform", Some('i'), false),
        o("operating-system", Some('o'), false),
    ];
    let p = match getopt_long(args, &specs) {
        Ok(p) => p,
        Err(e) => {
            return fail(
                1,
                format!("uname: {e}\nTry 'uname --help' for more information."),
            );
        }
    };
    if let Some(x) = p.operands.first() {
        return fail(
            1,
            format!("uname: extra operand '{x}'\nTry 'uname --help' for more information."),
        );
    }
    let h = &ctx.state.host;
    let version = format!(
        "#1 SMP PREEMPT_DYNAMIC PMX {} (2024-11-06T15:04Z)",
        h.kernel.trim_end_matches("-pve")
    );
    let all = p.has("all");
    let mut parts = Vec::new();
    let none = p.list.is_empty();
    if none || all || p.has("kernel-name") {
        parts.push("Linux".to_string());
    }
    if all || p.has("nodename") {
        parts.push(h.hostname.clone());
    }
    if all || p.has("kernel-release") {
        parts.push(h.kernel.clone());
    }
    if all || p.has("kernel-version") {
        parts.push(version);
    }
    if all || p.has("machine") {
        parts.push("x86_64".into());
    }
    if p.has("processor") || p.has("hardware-platform") {
        parts.push("unknown".into());
    }
    if all || p.has("operating-system") {
        parts.push("GNU/Linux".into());
    }
    Outcome::read(format!("{}\n", parts.join(" "))).secs(ctx.knobs.cost("host.read"))
}

// ---------------------------------------------------------------------------------------
// CA certificates, step

const LOCAL_CA: &str = "/usr/local/share/ca-certificates";

/// The bundle header standing in for Mozilla's certificates.
pub const SYSTEM_BUNDLE: &str =
    "# pve-sim: the Mozilla CA certificates of ca-certificates 20230311 stand here\n";

fn local_certs(ctx: &Ctx) -> BTreeMap<String, String> {
    fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            let r = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let p = e.path();
            if p.is_dir() {
                walk(&p, &r, out);
            } else if name.ends_with(".crt") {
                if let Ok(b) = std::fs::read(&p) {
                    out.insert(r, sha256_hex(&b));
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&ctx.root.host(LOCAL_CA), "", &mut out);
    out
}

/// What `update-ca-certificates` does: `(added, removed)`; the links in `/etc/ssl/certs`
/// and the bundle follow the local certificates.
pub fn refresh_ca(ctx: &mut Ctx, fresh: bool) -> (usize, usize) {
    let now = local_certs(ctx);
    let before = if fresh {
        BTreeMap::new()
    } else {
        ctx.state.host.ca_certs.clone()
    };
    let added = now.keys().filter(|k| !before.contains_key(*k)).count();
    let removed = if fresh {
        ctx.state.host.ca_certs.len()
    } else {
        before.keys().filter(|k| !now.contains_key(*k)).count()
    };
    for old in ctx.state.host.ca_certs.keys() {
        let base = old
            .rsplit('/')
            .next()
            .unwrap_or(old)
            .trim_end_matches(".crt");
        super::remove(&ctx.root, &format!("/etc/ssl/certs/{base}.pem"));
    }
    let mut bundle = SYSTEM_BUNDLE.to_string();
    for rel in now.keys() {
        let base = rel
            .rsplit('/')
            .next()
            .unwrap_or(rel)
            .trim_end_matches(".crt");
        let _ = symlink(
            &ctx.root,
            &format!("/etc/ssl/certs/{base}.pem"),
            &format!("{LOCAL_CA}/{rel}"),
        );
        if let Ok(t) = std::fs::read_to_string(ctx.root.host(format!("{LOCAL_CA}/{rel}"))) {
            bundle.push_str(&t);
            if !t.ends_with('\n') {
                bundle.push('\n');
            }
        }
    }
    let _ = write_file(
        &ctx.root,
        "/etc/ssl/certs/ca-certificates.crt",
        bundle.as_bytes(),
        0o644,
    );
    ctx.state.host.ca_certs = now;
    ctx.state.host.counters.ca_updates += 1;
    (added, removed)
}

/// `update-ca-certificates [--fresh] [--verbose]`.
pub fn update_ca_certificates(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let specs = [
        o("fresh", Some('f'), false),
        o("verbose", Some('v'), false),
        o("certsconf", None, true),
        o("localcertsdir", None, true),
    ];
    let p = match getopt_long(args, &specs) {
        Ok(p) => p,
        Err(e) => return fail(1, format!("update-ca-certificates: {e}")),
    };
    let fresh = p.has("fresh");
    let (added, removed) = refresh_ca(ctx, fresh);
    let mut out = String::new();
    if fresh {
        out.push_str("Clearing symlinks in /etc/ssl/certs...\ndone.\n");
    }
    out.push_str(&format!(
        "Updating certificates in /etc/ssl/certs...\nrehash: warning: skipping ca-certificates.crt,it does not contain exactly one certificate or CRL\n{added} added, {removed} removed; done.\nRunning hooks in /etc/ca-certificates/update.d...\ndone.\n"
    ));
    changed(out).secs(ctx.knobs.cost("ca.update"))
}

/// The root certificate stand-in `step ca bootstrap` saves.
pub fn root_ca_pem(url: &str, fingerprint: &str) -> String {
    let body = crate::b64::encode(
        format!("pve-sim root CA of {url} (fingerprint {fingerprint})").as_bytes(),
    );
    let lines: Vec<String> = body
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// `step certificate fingerprint FILE` / `step ca bootstrap --ca-url U --fingerprint F
/// [--force] [--install]` / `step ca certificate SUBJECT CRT KEY [...]` (see [`certificate`])
/// / `step version`.
pub fn step(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["version"] | ["--version"] => Outcome::read(
            "Smallstep CLI/0.28.7 (linux/amd64)\nRelease Date: 2025-07-14 22:16 UTC\n",
        )
        .secs(ctx.knobs.cost("host.read")),
        ["certificate", "fingerprint", rest @ ..] => {
            let files: Vec<&&str> = rest.iter().filter(|x| !x.starts_with('-')).collect();
            let [file] = files.as_slice() else {
                return fail(
                    1,
                    "'step certificate fingerprint' requires the 'crt-file' argument",
                );
            };
            match std::fs::read(file_arg(&ctx.root, file)) {
                Ok(b) => {
                    Outcome::read(format!("{}\n", sha256_hex(&b))).secs(ctx.knobs.cost("host.read"))
                }
                Err(_) => fail(1, format!("open {file}: no such file or directory")),
            }
        }
        ["ca", "bootstrap", rest @ ..] => bootstrap(ctx, rest),
        ["ca", "certificate", rest @ ..] => certificate(ctx, rest),
        [cmd, ..] => fail(
            1,
            format!("'{cmd}' is not a step command. See 'step --help'."),
        ),
        [] => fail(1, "Usage: step <command> [arguments]"),
    }
}

fn bootstrap(ctx: &mut Ctx, args: &[&str]) -> Outcome {
    let mut url = None;
    let mut fp = None;
    let mut force = false;
    let mut install = false;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].trim_start_matches('-');
        let (k, inline) = match a.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (a, None),
        };
        let mut value = || {
            inline.clone().or_else(|| {
                i += 1;
                args.get(i).map(|s| s.to_string())
            })
        };
        match k {
            "ca-url" => url = value(),
            "fingerprint" => fp = value(),
            "force" | "f" => force = true,
            "install" => install = true,
            "context" | "team" | "team-url" | "redirect-url" => {
                let _ = value();
            }
            other => {
                return fail(1, format!("flag provided but not defined: -{other}"));
            }
        }
        i += 1;
    }
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        return fail(1, "'step ca bootstrap' requires the '--ca-url' flag");
    };
    let Some(fp) = fp.filter(|f| !f.is_empty()) else {
        return fail(1, "'step ca bootstrap' requires the '--fingerprint' flag");
    };
    if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
        return fail(
            1,
            format!("error decoding fingerprint: invalid fingerprint '{fp}'"),
        );
    }
    let url = if url.contains("://") {
        url
    } else {
        format!("https://{url}")
    };
    if !url.starts_with("https://") {
        return fail(
            1,
            format!("invalid value '{url}' for flag '--ca-url': must use https"),
        );
    }
    let crt = "/root/.step/certs/root_ca.crt";
    let defaults = "/root/.step/config/defaults.json";
    if !force {
        for f in [defaults, crt] {
            if ctx.root.host(f).exists() {
                return fail(1, format!("open {f}: file already exists"));
            }
        }
    }
    let pem = root_ca_pem(&url, &fp);
    let json = serde_json::json!({"ca-url": url, "fingerprint": fp, "root": crt});
    let text = format!(
        "{}\n",
        serde_json::to_string_pretty(&json).unwrap_or_default()
    );
    if let Err(e) = write_file(&ctx.root, crt, pem.as_bytes(), 0o600)
        .and_then(|()| write_file(&ctx.root, defaults, text.as_bytes(), 0o644))
    {
        return fail(1, e);
    }
    let mut err = format!(
        "The root certificate has been saved in {crt}.\nThe authority configuration has been saved in {defaults}.\n"
    );
    if install {
        if let Err(e) = write_file(
            &ctx.root,
            &format!("{LOCAL_CA}/step-root-ca.crt"),
            pem.as_bytes(),
            0o644,
        ) {
            return fail(1, e);
        }
        refresh_ca(ctx, false);
        err.push_str("Installing the root certificate in the system truststore... done.\n");
    }
    Outcome {
        stderr: err,
        ..changed("")
    }
    .secs(ctx.knobs.cost("step.bootstrap"))
}

// ---------------------------------------------------------------------------------------
// step ca certificate: a simulated step CA

/// Where the simulated step CA keeps its root certificate and key (under the system root).
pub const STEP_CA_DIR: &str = "/var/lib/pve-sim/step-ca";

/// The simulated CA's subject and key usages: an `Issuer` for a stored key is rebuilt from
/// these, so they must not change once a CA exists.
fn step_ca_params() -> rcgen::CertificateParams {
    use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa};
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "pve-sim");
    dn.push(DnType::CommonName, "pve-sim Step CA Root CA");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    p
}

/// Seconds since the Unix epoch by the real system clock.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The simulated step CA: its root certificate (PEM) and key, created on first use with a
/// validity of ten years from now (real time). Errors name the file.
pub fn step_ca(root: &crate::root::SimRoot) -> Result<(String, rcgen::KeyPair), String> {
    let crt = root.host(format!("{STEP_CA_DIR}/root_ca.crt"));
    let key = root.host(format!("{STEP_CA_DIR}/root_ca.key"));
    if crt.is_file() && key.is_file() {
        let pem = std::fs::read_to_string(&crt)
            .map_err(|e| format!("cannot read {}: {e}", crt.display()))?;
        let k = std::fs::read_to_string(&key)
            .map_err(|e| format!("cannot read {}: {e}", key.display()))?;
        let k = rcgen::KeyPair::from_pem(&k)
            .map_err(|e| format!("cannot parse {}: {e}", key.display()))?;
        return Ok((pem, k));
    }
    let k = rcgen::KeyPair::generate().map_err(|e| format!("cannot generate the CA key: {e}"))?;
    let mut p = step_ca_params();
    let now = unix_now();
    p.not_before =
        rcgen::date_time_ymd(1970, 1, 1) + std::time::Duration::from_secs(now.saturating_sub(60));
    p.not_after =
        rcgen::date_time_ymd(1970, 1, 1) + std::time::Duration::from_secs(now + 10 * 365 * 86_400);
    let cert = p
        .self_signed(&k)
        .map_err(|e| format!("cannot sign the CA certificate: {e}"))?;
    let pem = cert.pem();
    write_real(&key, k.serialize_pem().as_bytes(), 0o600)
        .and_then(|()| write_real(&crt, pem.as_bytes(), 0o644))
        .map_err(|e| format!("cannot create the simulated step CA: {e}"))?;
    Ok((pem, k))
}

/// Writes a real path with a mode (also when the file existed), creating its directory.
fn write_real(path: &Path, data: &[u8], mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, data).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses a Go duration (`24h`, `30m`, `1h30m`, `1.5h`, `90s`, `500ms`): a sequence of
/// decimal numbers, each with a unit `ns`, `us`/`µs`, `ms`, `s`, `m` or `h`. Errors read
/// like Go's `time.ParseDuration`.
pub fn parse_go_duration(s: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("time: invalid duration \"{s}\"");
    if s == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    if s.is_empty() || s.starts_with('-') {
        return Err(bad());
    }
    let body = s.strip_prefix('+').unwrap_or(s);
    let mut total = 0.0f64;
    let mut rest = body;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..n];
        if num.is_empty() || num == "." {
            return Err(bad());
        }
        let v: f64 = num.parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..u];
        rest = &rest[u..];
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("time: missing unit in duration \"{s}\"")),
            other => {
                return Err(format!(
                    "time: unknown unit \"{other}\" in duration \"{s}\""
                ));
            }
        };
        total += v * scale;
    }
    Ok(std::time::Duration::from_secs_f64(total))
}

/// A certificate `step ca certificate` asks for.
#[derive(Debug, Default, PartialEq)]
struct CertRequest {
    subject: String,
    crt: String,
    key: String,
    sans: Vec<String>,
    provisioner: Option<String>,
    password_file: Option<String>,
    token: Option<String>,
    ca_url: Option<String>,
    not_after: Option<String>,
    force: bool,
}

/// Parses `step ca certificate`'s command line (urfave/cli flags: `-flag`/`--flag`, a value
/// inline after `=` or as the next argument, flags anywhere among the arguments).
fn parse_certificate(args: &[&str]) -> Result<CertRequest, String> {
    const USAGE: &str = "'step ca certificate <subject> <crt-file> <key-file>'";
    let mut r = CertRequest::default();
    let mut positional = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        if !a.starts_with('-') || a == "-" {
            positional.push(a.to_string());
            i += 1;
            continue;
        }
        let body = a.trim_start_matches('-');
        let (k, inline) = match body.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (body, None),
        };
        let mut value = || -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => {
                    i += 1;
                    args.get(i)
                        .map(|s| s.to_string())
                        .ok_or_else(|| format!("flag needs an argument: -{k}"))
                }
            }
        };
        match k {
            "san" => r.sans.push(value()?),
            "provisioner" | "issuer" | "p" => r.provisioner = Some(value()?),
            "provisioner-password-file" => r.password_file = Some(value()?),
            "not-after" => r.not_after = Some(value()?),
            "token" => r.token = Some(value()?),
            "ca-url" => r.ca_url = Some(value()?),
            "root" | "kty" | "curve" | "crv" | "size" | "context" | "password-file" => {
                value()?;
            }
            "force" | "f" => r.force = true,
            other => return Err(format!("flag provided but not defined: -{other}")),
        }
        i += 1;
    }
    match positional.len() {
        3 => {}
        n if n < 3 => {
            return Err(format!(
                "not enough positional arguments were provided in {USAGE}"
            ));
        }
        _ => {
            return Err(format!(
                "too many positional arguments were provided in {USAGE}"
            ));
        }
    }
    r.key = positional.pop().unwrap_or_default();
    r.crt = positional.pop().unwrap_or_default();
    r.subject = positional.pop().unwrap_or_default();
    Ok(r)
}

/// `step ca certificate SUBJECT CRT_FILE KEY_FILE [--san NAME]... [--not-after DURATION]
/// [--provisioner NAME] [--provisioner-password-file FILE] [--force]` (and `--ca-url`,
/// `--root`, `--kty`, `--curve`, `--size`, `--token`, accepted): a new P-256 key and a leaf
/// certificate for SUBJECT (common name) with the `--san` values as subject alternative
/// names (IP literals as IP SANs, the rest DNS names; without `--san`, SUBJECT), valid from
/// a minute ago to now + DURATION (default `24h`), signed by the simulated step CA
/// ([`step_ca`]). CRT_FILE holds the leaf then the CA certificate, as step writes the chain;
/// both files are written with mode 0600, as step does.
///
/// Refusals (exit 1, nothing written): a missing password file (`open FILE: no such file or
/// directory`); no password file and no `--token` (step would prompt for the provisioner
/// password, and there is no terminal); an existing CRT_FILE or KEY_FILE without `--force`
/// (step would ask to overwrite); a missing directory for either; a bad duration or SAN.
pub fn certificate(ctx: &mut Ctx, args: &[&str]) -> Outcome {
    let r = match parse_certificate(args) {
        Ok(r) => r,
        Err(e) => return fail(1, e),
    };
    let lifetime = match parse_go_duration(r.not_after.as_deref().unwrap_or("24h")) {
        Ok(d) => d,
        Err(e) => {
            return fail(
                1,
                format!(
                    "flag '--not-after' value '{}' is not a valid time or duration: {e}",
                    r.not_after.as_deref().unwrap_or_default()
                ),
            );
        }
    };
    let mut sans = Vec::new();
    for s in if r.sans.is_empty() {
        std::slice::from_ref(&r.subject)
    } else {
        r.sans.as_slice()
    } {
        if sans.contains(s) || s.is_empty() {
            continue;
        }
        sans.push(s.clone());
    }
    let mut san_types = Vec::new();
    for s in &sans {
        match s.parse::<std::net::IpAddr>() {
            Ok(ip) => san_types.push(rcgen::SanType::IpAddress(ip)),
            Err(_) => match rcgen::string::Ia5String::try_from(s.as_str()) {
                Ok(n) if !s.contains(char::is_whitespace) => {
                    san_types.push(rcgen::SanType::DnsName(n))
                }
                _ => return fail(1, format!("invalid value '{s}' for flag '--san'")),
            },
        }
    }
    if r.token.is_none() {
        match &r.password_file {
            Some(f) => {
                if !file_arg(&ctx.root, f).is_file() {
                    return fail(1, format!("open {f}: no such file or directory"));
                }
            }
            None => {
                return fail(
                    1,
                    "error reading password: open /dev/tty: no such device or address
                     (pve-sim: step prompts for the provisioner password here; pass                      --provisioner-password-file)",
                );
            }
        }
    }
    let crt = file_arg(&ctx.root, &r.crt);
    let key = file_arg(&ctx.root, &r.key);
    for (given, real) in [(&r.crt, &crt), (&r.key, &key)] {
        if !r.force && real.exists() {
            return fail(1, format!("open {given}: file already exists"));
        }
        if !real.parent().is_some_and(Path::is_dir) {
            return fail(1, format!("open {given}: no such file or directory"));
        }
    }
    let (ca_pem, ca_key) = match step_ca(&ctx.root) {
        Ok(ca) => ca,
        Err(e) => return fail(1, e),
    };
    let leaf = (|| -> Result<(String, String), rcgen::Error> {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new())?;
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, r.subject.as_str());
        p.distinguished_name = dn;
        p.subject_alt_names = san_types;
        let now = unix_now();
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        p.not_before = epoch + std::time::Duration::from_secs(now.saturating_sub(60));
        p.not_after = epoch + std::time::Duration::from_secs(now) + lifetime;
        p.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p.use_authority_key_identifier_extension = true;
        let k = rcgen::KeyPair::generate()?;
        let issuer = rcgen::Issuer::new(step_ca_params(), ca_key);
        let cert = p.signed_by(&k, &issuer)?;
        Ok((format!("{}{ca_pem}", cert.pem()), k.serialize_pem()))
    })();
    let (chain, key_pem) = match leaf {
        Ok(l) => l,
        Err(e) => return fail(1, format!("error creating certificate: {e}")),
    };
    if let Err(e) = write_real(&crt, chain.as_bytes(), 0o600)
        .and_then(|()| write_real(&key, key_pem.as_bytes(), 0o600))
    {
        return fail(1, e);
    }
    let mut err = String::new();
    if let Some(p) = &r.provisioner {
        // A JWK's kid is the base64url SHA-256 thumbprint of its key; the name stands in.
        let kid: String = crate::b64::encode(&<sha2::Sha256 as sha2::Digest>::digest(p.as_bytes()))
            .trim_end_matches('=')
            .replace('+', "-")
            .replace('/', "_");
        err.push_str(&format!("✔ Provisioner: {p} (JWK) [kid: {kid}]\n"));
    }
    let ca_url = r.ca_url.clone().or_else(|| {
        let t = std::fs::read_to_string(ctx.root.host("/root/.step/config/defaults.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&t).ok()?;
        v["ca-url"].as_str().map(str::to_string)
    });
    if let Some(u) = ca_url {
        err.push_str(&format!("✔ CA: {u}\n"));
    }
    err.push_str(&format!(
        "✔ Certificate: {}\n✔ Private Key: {}\n",
        r.crt, r.key
    ));
    Outcome {
        stderr: err,
        ..changed("")
    }
    .secs(ctx.knobs.cost("step.certificate"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones() {
        for ok in [
            "UTC",
            "Etc/UTC",
            "Europe/Berlin",
            "America/Argentina/Buenos_Aires",
            "Etc/GMT+5",
        ] {
            assert!(valid_timezone(ok), "{ok}");
        }
        for bad in [
            "",
            "Mars/Olympus",
            "Europe",
            "Europe/",
            "Europe/Ber lin",
            "utc",
            "../etc/passwd",
        ] {
            assert!(!valid_timezone(bad), "{bad}");
        }
    }

    #[test]
    fn host_names_and_locales() {
        assert!(valid_hostname("pve") && valid_hostname("pve.lab.example.internal"));
        assert!(!valid_hostname("-pve") && !valid_hostname("pve_1") && !valid_hostname(""));
        assert_eq!(normalise_locale("en_US.UTF-8"), "en_US.utf8");
        assert_eq!(
            normalise_locale("de_DE.ISO-8859-15@euro"),
            "de_DE.iso885915@euro"
        );
        assert_eq!(normalise_locale("de_DE"), "de_DE");
    }

    #[test]
    fn go_durations() {
        let d = |s: &str| parse_go_duration(s).map(|d| d.as_secs_f64());
        assert_eq!(d("24h"), Ok(86_400.0));
        assert_eq!(d("720h"), Ok(2_592_000.0));
        assert_eq!(d("1h30m"), Ok(5_400.0));
        assert_eq!(d("1.5h"), Ok(5_400.0));
        assert_eq!(d("90s"), Ok(90.0));
        assert_eq!(d("500ms"), Ok(0.5));
        assert_eq!(d("0"), Ok(0.0));
        assert_eq!(
            d("7d").unwrap_err(),
            "time: unknown unit \"d\" in duration \"7d\""
        );
        assert_eq!(
            d("24").unwrap_err(),
            "time: missing unit in duration \"24\""
        );
        assert_eq!(d("").unwrap_err(), "time: invalid duration \"\"");
        assert_eq!(d("-1h").unwrap_err(), "time: invalid duration \"-1h\"");
        assert_eq!(d("h").unwrap_err(), "time: invalid duration \"h\"");
    }

    #[test]
    fn step_ca_certificate_command_lines() {
        let r = parse_certificate(&[
            "--force",
            "svc.lab",
            "--san=svc.lab",
            "/c.crt",
            "--san",
            "10.0.0.9",
            "/c.key",
            "--not-after",
            "48h",
            "--provisioner",
            "admin",
            "--provisioner-password-file=/pw",
            "--kty",
            "EC",
            "--curve",
            "P-256",
            "--root",
            "/root.crt",
            "--ca-url",
            "https://ca:9000",
        ])
        .unwrap();
        assert_eq!(
            r,
            CertRequest {
                subject: "svc.lab".into(),
                crt: "/c.crt".into(),
                key: "/c.key".into(),
                sans: vec!["svc.lab".into(), "10.0.0.9".into()],
                provisioner: Some("admin".into()),
                password_file: Some("/pw".into()),
                token: None,
                ca_url: Some("https://ca:9000".into()),
                not_after: Some("48h".into()),
                force: true,
            }
        );
        assert_eq!(
            parse_certificate(&["a", "b"]).unwrap_err(),
            "not enough positional arguments were provided in 'step ca certificate <subject> <crt-file> <key-file>'"
        );
        assert_eq!(
            parse_certificate(&["a", "b", "c", "d"]).unwrap_err(),
            "too many positional arguments were provided in 'step ca certificate <subject> <crt-file> <key-file>'"
        );
        assert_eq!(
            parse_certificate(&["a", "b", "c", "--bogus"]).unwrap_err(),
            "flag provided but not defined: -bogus"
        );
        assert_eq!(
            parse_certificate(&["a", "b", "c", "--san"]).unwrap_err(),
            "flag needs an argument: -san"
        );
    }

    #[test]
    fn formats_days() {
        assert_eq!(
            systemd_time(crate::clock::EPOCH_START),
            "Thu 2026-01-01 00:00:00 UTC"
        );
    }
}
