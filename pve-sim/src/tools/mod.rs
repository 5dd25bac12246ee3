//! The simulated command-line tools and what they share: Proxmox's subcommand resolution,
//! parameter-error layout and value validators. The host tools `setup` needs live in
//! [`host`].

pub mod ct_opts;
pub mod guest;
pub mod host;
pub mod pct;
pub mod perljson;
pub mod pveam;
pub mod pvesm;
pub mod qm;
pub mod zfs;
pub mod zpool;

use crate::Ctx;
use crate::args::{self, ArgError, Kind, Parsed};
use crate::outcome::{DIE, Effect, Outcome};

/// Runs one tool.
pub fn dispatch(tool: &str, ctx: &mut Ctx, args: &[String]) -> Outcome {
    match tool {
        "pct" => pct::run(ctx, args),
        "qm" => qm::run(ctx, args),
        "pvesm" => pvesm::run(ctx, args),
        "pveam" => pveam::run(ctx, args),
        "pveversion" => pveversion(ctx, args),
        "zfs" => zfs::run(ctx, args),
        "zpool" => zpool::run(ctx, args),
        other => host::dispatch(other, ctx, args)
            .unwrap_or_else(|| Outcome::refuse(format!("{other}: not simulated"))),
    }
}

/// `pveversion [--verbose]` (pve-manager bin/pveversion; Getopt::Long also takes `-v`).
fn pveversion(ctx: &Ctx, args: &[String]) -> Outcome {
    let p = crate::profile::of(&ctx.state);
    match args {
        [] => Outcome::read(format!(
            "pve-manager/{} (running kernel: {})\n",
            p.manager_text, p.kernel
        )),
        [v] if matches!(v.as_str(), "-v" | "--verbose" | "-verbose") => {
            Outcome::read(crate::profile::pveversion_verbose(p))
        }
        _ => Outcome {
            code: 255,
            stderr: "USAGE: pveversion [--verbose]\n".into(),
            refused: true,
            ..Outcome::ok(Effect::Read)
        },
    }
}

/// Resolves a Proxmox subcommand: an exact name, or a unique prefix. Otherwise prints
/// `ERROR: unknown command '<tool> <cmd>'` with the short usage, exit 255.
pub fn resolve<'a>(
    tool: &str,
    given: Option<&str>,
    commands: &[(&'a str, &str)],
) -> Result<&'a str, Outcome> {
    let usage = || {
        let mut s = format!("USAGE: {tool} <COMMAND> [ARGS] [OPTIONS]\n");
        for (c, u) in commands {
            s.push_str(&format!("       {tool} {c} {u}\n"));
        }
        s
    };
    let Some(given) = given else {
        return Err(Outcome::refuse(format!(
            "ERROR: no command specified\n{}",
            usage()
        )));
    };
    if let Some((c, _)) = commands.iter().find(|(c, _)| *c == given) {
        return Ok(c);
    }
    let matches: Vec<&(&str, &str)> = commands
        .iter()
        .filter(|(c, _)| c.starts_with(given))
        .collect();
    match matches.as_slice() {
        [(c, _)] => Ok(c),
        _ => Err(Outcome::refuse(format!(
            "ERROR: unknown command '{tool} {given}'\n{}",
            usage()
        ))),
    }
}

/// Parses options; an unknown option or a bad boolean gives Proxmox's text plus the usage.
pub fn parse_opts(
    args: &[String],
    spec: &[(&str, Kind)],
    pattern: &dyn Fn(&str) -> Option<Kind>,
    usage: &str,
) -> Result<Parsed, Outcome> {
    args::parse(args, spec, pattern).map_err(|ArgError(t)| Outcome::refuse(format!("{t}{usage}\n")))
}

/// `400 Parameter verification failed.` with one line per error and the usage line.
/// Messages from format validators end with a newline, which leaves an empty line.
pub fn param_error(errors: &[(String, String)], usage: &str) -> Outcome {
    let mut s = "400 Parameter verification failed.\n".to_string();
    for (k, v) in errors {
        // Perl appends "\n" to every line; format validators' messages already end with one.
        s.push_str(&format!("{k}: {v}\n"));
    }
    s.push_str(usage);
    s.push('\n');
    Outcome::refuse(s)
}

/// A plain `die` of a worker or API call: the message on stderr, exit 255.
pub fn die(msg: impl Into<String>) -> Outcome {
    Outcome::refuse(msg)
}

/// A task error in a command whose CLI wrapper ignores the task status: the message on
/// stderr, exit 0 (`pct template`/`resize`/`push`/`pull`, `qm template`/`disk resize`).
pub fn task_error_exit0(msg: impl Into<String>, effect: Effect) -> Outcome {
    let mut s: String = msg.into();
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Outcome {
        code: 0,
        stderr: s,
        refused: true,
        ..Outcome::ok(effect)
    }
}

/// Requires exactly `n` positional arguments.
pub fn positionals(p: &Parsed, n: usize, usage: &str) -> Result<(), Outcome> {
    if p.positional.len() < n {
        return Err(Outcome::refuse(format!(
            "400 not enough arguments\n{usage}\n"
        )));
    }
    if p.positional.len() > n {
        return Err(Outcome::refuse(format!(
            "400 too many arguments\n{usage}\n"
        )));
    }
    Ok(())
}

/// Validators with Proxmox's messages.
pub mod check {
    /// `integer` with bounds.
    pub fn int(v: &str, min: Option<i64>, max: Option<i64>) -> Result<i64, String> {
        let n: i64 = v
            .trim()
            .parse()
            .ok()
            .filter(|_| v.trim().bytes().all(|b| b.is_ascii_digit() || b == b'-'))
            .ok_or_else(|| format!("type check ('integer') failed - got '{v}'"))?;
        if let Some(m) = max {
            if n > m {
                return Err(format!("value must have a maximum value of {m}"));
            }
        }
        if let Some(m) = min {
            if n < m {
                return Err(format!("value must have a minimum value of {m}"));
            }
        }
        Ok(n)
    }

    /// `number` with bounds.
    pub fn number(v: &str, min: f64, max: f64) -> Result<f64, String> {
        let n: f64 = v
            .trim()
            .parse()
            .map_err(|_| format!("type check ('number') failed - got '{v}'"))?;
        if n > max {
            return Err(format!("value must have a maximum value of {max}"));
        }
        if n < min {
            return Err(format!("value must have a minimum value of {min}"));
        }
        Ok(n)
    }

    /// `boolean` (`1|on|yes|true` / `0|off|no|false`) → `"1"`/`"0"`.
    pub fn boolean(v: &str) -> Result<&'static str, String> {
        match v.to_ascii_lowercase().as_str() {
            "1" | "on" | "yes" | "true" => Ok("1"),
            "0" | "off" | "no" | "false" => Ok("0"),
            _ => Err(format!("type check ('boolean') failed - got '{v}'")),
        }
    }

    /// `pve-vmid`.
    pub fn vmid(v: &str) -> Result<u32, String> {
        int(v, None, None)?;
        if !(v.len() >= 3
            && v.len() <= 9
            && v.as_bytes()[0] != b'0'
            && v.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err("invalid format - value does not look like a valid VM ID\n".to_string());
        }
        v.parse()
            .map_err(|_| "invalid format - value does not look like a valid VM ID\n".to_string())
    }

    /// `dns-name`.
    pub fn dns_name(v: &str) -> Result<(), String> {
        let label = |l: &str| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if v.split('.').all(label) {
            Ok(())
        } else {
            Err("invalid format - value does not look like a valid DNS name\n".to_string())
        }
    }

    /// `mac-addr` (unicast).
    pub fn mac(v: &str) -> Result<(), String> {
        let parts: Vec<&str> = v.split(':').collect();
        let ok = parts.len() == 6
            && parts
                .iter()
                .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
            && u8::from_str_radix(parts[0], 16).is_ok_and(|b| b & 1 == 0);
        if ok {
            Ok(())
        } else {
            Err(
                "invalid format - value does not look like a valid unicast MAC address\n"
                    .to_string(),
            )
        }
    }

    /// `ipv4`.
    pub fn ipv4(v: &str) -> Result<(), String> {
        v.parse::<std::net::Ipv4Addr>().map(|_| ()).map_err(|_| {
            "invalid format - value does not look like a valid IPv4 address\n".to_string()
        })
    }

    /// `pve-ipv4-config`: `dhcp`, `manual` or a CIDR with prefix 8–32.
    pub fn ipv4_config(v: &str) -> Result<(), String> {
        let ok = match v {
            "dhcp" | "manual" => true,
            _ => v.split_once('/').is_some_and(|(a, p)| {
                a.parse::<std::net::Ipv4Addr>().is_ok()
                    && p.parse::<u8>().is_ok_and(|p| (8..=32).contains(&p))
            }),
        };
        if ok {
            Ok(())
        } else {
            Err(
                "invalid format - value does not look like a valid ipv4 network configuration\n"
                    .to_string(),
            )
        }
    }

    /// `pve-ipv6-config`.
    pub fn ipv6_config(v: &str) -> Result<(), String> {
        let ok = match v {
            "auto" | "dhcp" | "manual" => true,
            _ => v.split_once('/').is_some_and(|(a, p)| {
                a.parse::<std::net::Ipv6Addr>().is_ok()
                    && p.parse::<u8>().is_ok_and(|p| (8..=128).contains(&p))
            }),
        };
        if ok {
            Ok(())
        } else {
            Err(
                "invalid format - value does not look like a valid ipv6 network configuration\n"
                    .to_string(),
            )
        }
    }

    /// `pve-startup-order`.
    pub fn startup(v: &str) -> Result<(), String> {
        for p in v.split(',').filter(|p| !p.trim().is_empty()) {
            let num = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            let ok = num(p)
                || p.strip_prefix("order=").is_some_and(num)
                || p.strip_prefix("up=").is_some_and(num)
                || p.strip_prefix("down=").is_some_and(num);
            if !ok {
                return Err("invalid format - unable to parse startup options\n".to_string());
            }
        }
        Ok(())
    }

    /// Snapshot names (`pve-configid`, at most 40 characters).
    pub fn snapname(v: &str) -> Result<(), String> {
        let ok = v.len() >= 2
            && v.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            return Err(format!("invalid format - invalid configuration ID '{v}'\n"));
        }
        if v.len() > 40 {
            return Err("value may only be 40 characters long".to_string());
        }
        Ok(())
    }

    /// A list of IP addresses (nameserver).
    pub fn ip_list(v: &str) -> Result<String, String> {
        let items: Vec<&str> = v.split([',', ';', ' ']).filter(|s| !s.is_empty()).collect();
        for i in &items {
            let ip = i.split('%').next().unwrap_or(i);
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err(format!(
                    "invalid format - value does not look like a valid address: {i}\n"
                ));
            }
        }
        Ok(items.join(" "))
    }
}

/// A deterministic "random" MAC with the Proxmox OUI (`BC:24:11`), unique per host state.
pub fn random_mac(ctx: &Ctx, salt: u64) -> String {
    let mut x = ctx.state.seq.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ salt.wrapping_mul(0xBF58_476D_1CE4_E5B9)
        ^ ctx.state.clock_ms;
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 29;
    let b = x.to_be_bytes();
    format!("BC:24:11:{:02X}:{:02X}:{:02X}", b[5], b[6], b[7])
}

/// The exit status Proxmox gives a failed task.
pub const TASK_FAILED: i32 = DIE;

/// A POSIX-style command line (`zfs`, `zpool`): `-Hp`, `-o a,b`, `-oa,b`; options may follow
/// operands (glibc permutes); `--` ends options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Getopt {
    /// Options in order with their arguments.
    pub opts: Vec<(char, Option<String>)>,
    /// Operands.
    pub operands: Vec<String>,
}

impl Getopt {
    /// Whether a flag was given.
    pub fn has(&self, c: char) -> bool {
        self.opts.iter().any(|(o, _)| *o == c)
    }

    /// The last argument of an option.
    pub fn value(&self, c: char) -> Option<&str> {
        self.opts
            .iter()
            .rev()
            .find(|(o, _)| *o == c)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Every argument of a repeatable option.
    pub fn values(&self, c: char) -> Vec<&str> {
        self.opts
            .iter()
            .filter(|(o, _)| *o == c)
            .filter_map(|(_, v)| v.as_deref())
            .collect()
    }
}

/// Parses `args` with a getopt option string (`"Hpo:"`). Errors are the ZFS tools' texts
/// (`invalid option 'x'`, `missing argument for 'o' option`).
pub fn getopt(args: &[String], optstring: &str) -> Result<Getopt, String> {
    let mut g = Getopt::default();
    let takes = |c: char| {
        optstring
            .find(c)
            .map(|i| optstring[i + c.len_utf8()..].starts_with(':'))
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            g.operands.extend(args[i + 1..].iter().cloned());
            break;
        }
        if a.len() > 1 && a.starts_with('-') {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let c = chars[j];
                match takes(c) {
                    None => return Err(format!("invalid option '{c}'")),
                    Some(false) => g.opts.push((c, None)),
                    Some(true) => {
                        let rest: String = chars[j + 1..].iter().collect();
                        let v = if rest.is_empty() {
                            i += 1;
                            args.get(i)
                                .cloned()
                                .ok_or_else(|| format!("missing argument for '{c}' option"))?
                        } else {
                            rest
                        };
                        g.opts.push((c, Some(v)));
                        break;
                    }
                }
                j += 1;
            }
        } else {
            g.operands.push(a.clone());
        }
        i += 1;
    }
    Ok(g)
}
