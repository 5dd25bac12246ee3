//! Proxmox-style command lines: positional arguments and `--key value` options.
//!
//! Proxmox's CLI handler (pve-common `PVE::JSONSchema::get_options`, Getopt::Long underneath)
//! accepts `--key value`, `--key=value` and `-key value`; boolean options may stand alone
//! (`--full`) or take `0`/`1`. An option it does not know is fatal:
//! `Unknown option: <key>` then `400 unable to parse option`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

static STRICT: AtomicBool = AtomicBool::new(true);
static NOTES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Sets strict mode for this process (the default). Off, options real Proxmox does not know
/// are ignored instead of refused, and noted (see [`take_lenient_notes`]).
pub fn set_strict(on: bool) {
    STRICT.store(on, Ordering::Relaxed);
}

fn strict() -> bool {
    STRICT.load(Ordering::Relaxed)
}

/// Whether this process is in strict mode (refusing what real Proxmox would only warn about).
pub fn is_strict() -> bool {
    strict()
}

fn lenient_note(n: String) {
    if let Ok(mut v) = NOTES.lock() {
        v.push(n);
    }
}

/// What lenient mode let through in this process.
pub fn take_lenient_notes() -> Vec<String> {
    NOTES
        .lock()
        .map(|mut v| std::mem::take(&mut *v))
        .unwrap_or_default()
}

/// How an option takes its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A flag: alone, or with `0`/`1`.
    Bool,
    /// Requires a value.
    Value,
}

/// A parsed command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Positional arguments in order.
    pub positional: Vec<String>,
    /// Options; booleans are stored as `"1"`/`"0"`. Repeated options keep the last value.
    pub opts: BTreeMap<String, String>,
    /// Everything after a bare `--` (for `exec`).
    pub rest: Vec<String>,
    /// Options in the order given (for error messages that list several).
    pub order: Vec<String>,
}

impl Parsed {
    /// An option's value.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.opts.get(k).map(String::as_str)
    }

    /// A boolean option (absent = false).
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("1"))
    }

    /// Whether an option was given.
    pub fn has(&self, k: &str) -> bool {
        self.opts.contains_key(k)
    }
}

/// Why a command line was refused: the text Proxmox prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgError(pub String);

/// Parses `args` against the option table `spec` (name → kind). `pattern` is a predicate for
/// option names accepted dynamically (e.g. `net\d+`), with their kind.
pub fn parse(
    args: &[String],
    spec: &[(&str, Kind)],
    pattern: &dyn Fn(&str) -> Option<Kind>,
) -> Result<Parsed, ArgError> {
    let mut p = Parsed::default();
    let kind_of = |name: &str| {
        spec.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
            .or_else(|| pattern(name))
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            p.rest = args[i + 1..].to_vec();
            break;
        }
        let name = a.strip_prefix("--").or_else(|| {
            a.strip_prefix('-')
                .filter(|r| !r.is_empty() && !r.starts_with(|c: char| c.is_ascii_digit()))
        });
        let Some(name) = name else {
            p.positional.push(a.clone());
            i += 1;
            continue;
        };
        let (name, inline) = match name.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (name.to_string(), None),
        };
        let Some(kind) = kind_of(&name) else {
            if !strict() {
                // Lenient mode: drop the option (and a value that follows it), note it.
                lenient_note(format!("unknown option --{name} ignored"));
                if inline.is_none() && args.get(i + 1).is_some_and(|v| !v.starts_with('-')) {
                    i += 1;
                }
                i += 1;
                continue;
            }
            return Err(ArgError(format!(
                "Unknown option: {name}\n400 unable to parse option\n"
            )));
        };
        let value = match (kind, inline) {
            (_, Some(v)) => v,
            (Kind::Bool, None) => match args.get(i + 1).map(String::as_str) {
                Some(v @ ("0" | "1")) => {
                    i += 1;
                    v.to_string()
                }
                _ => "1".to_string(),
            },
            (Kind::Value, None) => {
                i += 1;
                match args.get(i) {
                    Some(v) => v.clone(),
                    None => {
                        return Err(ArgError(format!(
                            "Option {name} requires an argument\n400 unable to parse option\n"
                        )));
                    }
                }
            }
        };
        if kind == Kind::Bool && !matches!(value.as_str(), "0" | "1") {
            return Err(ArgError(format!(
                "400 Parameter verification failed.\n{name}: type check ('boolean') failed - got '{value}'\n"
            )));
        }
        p.order.push(name.clone());
        p.opts.insert(name, value);
        i += 1;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_proxmox_option_forms() {
        let spec = [
            ("full", Kind::Bool),
            ("snapname", Kind::Value),
            ("pool", Kind::Value),
        ];
        let net =
            |n: &str| (n.starts_with("net") && n[3..].parse::<u8>().is_ok()).then_some(Kind::Value);
        let p = parse(
            &v(&[
                "900",
                "101",
                "--full",
                "--snapname=final-form",
                "-pool",
                "tank/x",
                "--net0",
                "name=eth0",
            ]),
            &spec,
            &net,
        )
        .unwrap();
        assert_eq!(p.positional, ["900", "101"]);
        assert!(p.flag("full"));
        assert_eq!(p.get("snapname"), Some("final-form"));
        assert_eq!(p.get("pool"), Some("tank/x"));
        assert_eq!(p.get("net0"), Some("name=eth0"));
        let p = parse(&v(&["101", "--full", "0"]), &spec, &net).unwrap();
        assert!(!p.flag("full"));
    }

    #[test]
    fn unknown_options_are_refused_like_proxmox() {
        let e = parse(&v(&["101", "--firewall", "0"]), &[], &|_| None).unwrap_err();
        assert_eq!(
            e.0,
            "Unknown option: firewall\n400 unable to parse option\n"
        );
    }

    #[test]
    fn everything_after_a_double_dash_is_kept() {
        let p = parse(&v(&["101", "--", "sh", "-c", "test -d /x"]), &[], &|_| None).unwrap();
        assert_eq!(p.rest, ["sh", "-c", "test -d /x"]);
        assert_eq!(p.positional, ["101"]);
    }

    #[test]
    fn negative_numbers_are_positional() {
        let p = parse(&v(&["-5"]), &[], &|_| None).unwrap();
        assert_eq!(p.positional, ["-5"]);
    }
}
