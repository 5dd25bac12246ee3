//! The rest of the host: `timedatectl` (time zone, with `/etc/timezone` and the
//! `/etc/localtime` link), `locale-gen`/`locale -a` (from `/etc/locale.gen`), `hostnamectl`
//! (`/etc/hostname`), `uname`, `update-ca-certificates` (local CA certificates under
//! `/usr/local/share/ca-certificates`) and `step` (`certificate fingerprint`, `ca
//! bootstrap`).

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

fn valid_locale(name: &str) -> bool {
    let base = name.split(['.', '@']).next().unwrap_or("");
    let Some((lang, country)) = base.split_once('_') else {
        return false;
    };
    (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && country.len() == 2
        && country.bytes().all(|b| b.is_ascii_uppercase())
}

/// The uncommented entries of `/etc/locale.gen`: `(name, charset)`.
pub fn locale_gen_entries(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_string(), f.next().unwrap_or("").to_string()))
        })
        .collect()
}

/// `locale-gen`: generates what `/etc/locale.gen` lists.
pub fn locale_gen(ctx: &mut Ctx, args: &[String]) -> Outcome {
    if let Some(a) = args.iter().find(|a| *a != "--keep-existing") {
        return fail(1, format!("locale-gen: unknown argument {a}"));
    }
    let text = std::fs::read_to_string(ctx.root.host("/etc/locale.gen")).unwrap_or_default();
    let mut out = String::from("Generating locales (this might take a while)...\n");
    let mut generated = Vec::new();
    let mut failed = false;
    for (name, _) in locale_gen_entries(&text) {
        if valid_locale(&name) {
            out.push_str(&format!("  {name}... done\n"));
            generated.push(name);
        } else {
            let base = name.split('.').next().unwrap_or(&name).to_string();
            out.push_str(&format!(
                "  {name}... [error] cannot open locale definition file `{base}': No such file or directory\n"
            ));
            failed = true;
        }
    }
    out.push_str("Generation complete.\n");
    if args.iter().any(|a| a == "--keep-existing") {
        for l in &ctx.state.host.locales {
            if !generated.contains(l) {
                generated.push(l.clone());
            }
        }
    }
    let n = generated.len() as f64;
    ctx.state.host.locales = generated;
    ctx.state.host.counters.locale_gens += 1;
    let mut o = changed(out).secs(ctx.knobs.cost("locale.gen") * n.max(1.0));
    if failed {
        o.code = 1;
    }
    o
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

fn base64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// The root certificate stand-in `step ca bootstrap` saves.
pub fn root_ca_pem(url: &str, fingerprint: &str) -> String {
    let body = base64(format!("pve-sim root CA of {url} (fingerprint {fingerprint})").as_bytes());
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
/// [--force] [--install]` / `step version`.
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
        assert_eq!(
            locale_gen_entries("# en_GB.UTF-8 UTF-8\nen_US.UTF-8 UTF-8\n\n"),
            [("en_US.UTF-8".to_string(), "UTF-8".to_string())]
        );
        assert!(valid_locale("en_US.UTF-8") && !valid_locale("english"));
    }

    #[test]
    fn encodes_base64_and_days() {
        assert_eq!(base64(b"pve"), "cHZl");
        assert_eq!(base64(b"pv"), "cHY=");
        assert_eq!(base64(b"p"), "cA==");
        assert_eq!(
            systemd_time(crate::clock::EPOCH_START),
            "Thu 2026-01-01 00:00:00 UTC"
        );
    }
}
