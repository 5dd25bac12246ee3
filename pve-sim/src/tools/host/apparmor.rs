//! `apparmor_parser` and the kernel's set of loaded AppArmor profiles.
//!
//! The parser is a preprocessor plus a block checker, which is what catches a manager's
//! mistakes: comments, `#include <x>`/`include "x"`/`include if exists <x>` (resolved under
//! `/etc/apparmor.d`, a directory includes every file in it), `@{VAR} = …`/`+=`, `abi <…>,`,
//! `alias … ,`, top-level profiles (`profile <name> [<attachment>] [flags=(…)] {` or
//! `<path> [flags=(…)] {`) with nested blocks, balanced braces and rules that end with a
//! comma. Errors read `AppArmor parser error for <file> in profile <file> at line <n>: …`.
//! The loaded set is mirrored in `/sys/kernel/security/apparmor/profiles`.

use std::path::{Path, PathBuf};

use super::{fail, file_arg, getopt_long, host_view, o, sha256_hex};
use crate::Ctx;
use crate::host::Profile;
use crate::outcome::{Effect, Outcome};
use crate::root::SimRoot;

/// A parse error: the file it is in (as named), its line, the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The file (as given, or the included file's path).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What went wrong.
    pub msg: String,
}

/// A profile found in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Name (`lxc-container-default`, `/usr/bin/lxc-start`).
    pub name: String,
    /// `complain` in its flags.
    pub complain: bool,
}

/// Profile flags the parser accepts.
const FLAGS: &[&str] = &[
    "complain",
    "enforce",
    "audit",
    "kill",
    "unconfined",
    "prompt",
    "default_allow",
    "mediate_deleted",
    "delegate_deleted",
    "attach_disconnected",
    "no_attach_disconnected",
    "chroot_relative",
    "namespace_relative",
    "chroot_attach",
    "chroot_no_attach",
];

/// Reads an include: `Ok(None)` when missing, else the files it names (a directory gives
/// every file in it) as `(name, text)`.
pub type Resolver<'a> = dyn Fn(&str, bool, &str) -> Option<Vec<(String, String)>> + 'a;

struct Parser<'a> {
    resolve: &'a Resolver<'a>,
    depth: usize,
    found: Vec<Found>,
    pending: Option<(String, usize, String)>,
    nesting: usize,
}

fn strip_comment(line: &str) -> &str {
    let t = line.trim_start();
    if t.starts_with("#include") {
        return line;
    }
    let mut in_quote = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_quote = !in_quote,
            '#' if !in_quote => return &line[..i],
            _ => {}
        }
    }
    line
}

/// `include` directive: `(target, angle brackets, if exists)`.
fn include_target(t: &str) -> Option<(String, bool, bool)> {
    let rest = t
        .strip_prefix("#include")
        .or_else(|| t.strip_prefix("include"))?;
    if !rest.starts_with(char::is_whitespace) && !rest.starts_with(['<', '"']) {
        return None;
    }
    let rest = rest.trim();
    let (rest, if_exists) = match rest.strip_prefix("if exists") {
        Some(r) => (r.trim(), true),
        None => (rest, false),
    };
    let rest = rest.trim_end_matches(',').trim();
    if let Some(x) = rest.strip_prefix('<').and_then(|r| r.strip_suffix('>')) {
        return Some((x.to_string(), true, if_exists));
    }
    if let Some(x) = rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        return Some((x.to_string(), false, if_exists));
    }
    (!rest.is_empty() && !rest.contains(char::is_whitespace))
        .then(|| (rest.to_string(), false, if_exists))
}

/// The name and flags of a profile header (the text before `{`).
fn header(h: &str) -> Result<Found, String> {
    let h = h.trim();
    let (name, rest) = if let Some(r) = h.strip_prefix("profile ") {
        let r = r.trim_start();
        if let Some(q) = r.strip_prefix('"') {
            let end = q
                .find('"')
                .ok_or("syntax error, unexpected TOK_QUOTED_STRING")?;
            (q[..end].to_string(), q[end + 1..].to_string())
        } else {
            let mut it = r.splitn(2, char::is_whitespace);
            let n = it.next().unwrap_or("").to_string();
            (n, it.next().unwrap_or("").to_string())
        }
    } else if h.starts_with('/') || h.starts_with("@{") || h.starts_with('"') {
        let mut it = h.splitn(2, char::is_whitespace);
        (
            it.next().unwrap_or("").trim_matches('"').to_string(),
            it.next().unwrap_or("").to_string(),
        )
    } else {
        return Err("syntax error, unexpected TOK_ID, expecting $end".into());
    };
    if name.is_empty() || name.starts_with("flags=") {
        return Err("syntax error, unexpected TOK_OPEN".into());
    }
    let mut complain = false;
    if let Some(i) = rest.find("flags") {
        let f = rest[i + 5..].trim_start();
        let f = f
            .strip_prefix('=')
            .map(str::trim_start)
            .ok_or("syntax error, unexpected TOK_ID")?;
        let inner = f
            .strip_prefix('(')
            .and_then(|r| r.split_once(')'))
            .map(|(a, _)| a)
            .ok_or("syntax error, unexpected TOK_ID, expecting TOK_OPENPAREN")?;
        for flag in inner.split([',', ' ']).filter(|s| !s.is_empty()) {
            if !FLAGS.contains(&flag) {
                return Err(format!("Invalid profile flag: {flag}."));
            }
            complain |= flag == "complain";
        }
    }
    Ok(Found { name, complain })
}

impl Parser<'_> {
    fn err(file: &str, line: usize, msg: impl Into<String>) -> ParseError {
        ParseError {
            file: file.to_string(),
            line,
            msg: msg.into(),
        }
    }

    fn file(&mut self, name: &str, text: &str) -> Result<(), ParseError> {
        self.nesting += 1;
        if self.nesting > 32 {
            return Err(Self::err(
                name,
                1,
                "Exceeded maximum include recursion depth",
            ));
        }
        let base = Path::new(name)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = strip_comment(raw);
            let t = line.trim();
            if t.is_empty() {
                continue;
            }
            if let Some((target, angle, if_exists)) = include_target(t) {
                match (self.resolve)(&target, angle, &base) {
                    Some(files) => {
                        for (f, body) in files {
                            self.file(&f, &body)?;
                        }
                    }
                    None if if_exists => {}
                    None => {
                        return Err(Self::err(name, n, format!("Could not open '{target}'")));
                    }
                }
                continue;
            }
            if let Some((text, _, _)) = &mut self.pending {
                text.push(' ');
                text.push_str(t);
            } else if self.depth > 0 && t != "}" && !t.ends_with('{') {
                self.pending = Some((t.to_string(), n, name.to_string()));
            }
            if let Some((text, _, _)) = &self.pending {
                if text.ends_with(',') {
                    self.pending = None;
                    continue;
                }
                if t == "}" || t.ends_with('{') {
                    return Err(Self::err(
                        name,
                        n,
                        if t == "}" {
                            "syntax error, unexpected TOK_CLOSE"
                        } else {
                            "syntax error, unexpected TOK_OPEN"
                        },
                    ));
                }
                continue;
            }
            if t == "}" {
                if self.depth == 0 {
                    return Err(Self::err(
                        name,
                        n,
                        "syntax error, unexpected TOK_CLOSE, expecting $end",
                    ));
                }
                self.depth -= 1;
                continue;
            }
            if let Some(h) = t.strip_suffix('{') {
                if self.depth == 0 {
                    let f = header(h).map_err(|m| Self::err(name, n, m))?;
                    if self.found.iter().any(|x| x.name == f.name) {
                        return Err(Self::err(
                            name,
                            n,
                            format!("Profile {} already defined", f.name),
                        ));
                    }
                    self.found.push(f);
                }
                self.depth += 1;
                continue;
            }
            // Top level: variables, abi and alias rules only.
            let var = t.starts_with("@{")
                && t.find('}').is_some_and(|e| {
                    let r = t[e + 1..].trim_start();
                    r.starts_with('=') || r.starts_with("+=")
                });
            let stmt = (t.starts_with("abi ") || t.starts_with("alias ")) && t.ends_with(',');
            if !(var || stmt) {
                return Err(Self::err(
                    name,
                    n,
                    "syntax error, unexpected TOK_ID, expecting $end",
                ));
            }
        }
        self.nesting -= 1;
        Ok(())
    }
}

/// Parses a profile file (`name` as given in messages). Returns its top-level profiles.
pub fn parse(name: &str, text: &str, resolve: &Resolver<'_>) -> Result<Vec<Found>, ParseError> {
    let mut p = Parser {
        resolve,
        depth: 0,
        found: Vec::new(),
        pending: None,
        nesting: 0,
    };
    p.file(name, text)?;
    if let Some((_, line, file)) = p.pending {
        return Err(Parser::err(&file, line, "syntax error, unexpected $end"));
    }
    if p.depth > 0 {
        return Err(Parser::err(
            name,
            text.lines().count().max(1),
            "syntax error, unexpected $end, expecting TOK_CLOSE",
        ));
    }
    Ok(p.found)
}

/// Resolves includes inside the system root: `<x>` under `/etc/apparmor.d`, `"x"` relative
/// to the including file, absolute paths mapped into the root.
fn resolver(root: &SimRoot) -> impl Fn(&str, bool, &str) -> Option<Vec<(String, String)>> + '_ {
    move |target: &str, angle: bool, base: &str| {
        let real: PathBuf = if angle {
            root.host(format!("/etc/apparmor.d/{target}"))
        } else if target.starts_with('/') {
            file_arg(root, target)
        } else {
            file_arg(root, base).join(target)
        };
        if real.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&real)
                .ok()?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect();
            files.sort();
            return Some(
                files
                    .into_iter()
                    .filter_map(|f| {
                        let t = std::fs::read_to_string(&f).ok()?;
                        Some((host_view(root, &f), t))
                    })
                    .collect(),
            );
        }
        let text = std::fs::read_to_string(&real).ok()?;
        Some(vec![(host_view(root, &real), text)])
    }
}

/// Mirrors the loaded set in `/sys/kernel/security/apparmor/profiles`.
pub fn write_profiles(ctx: &Ctx) {
    let text: String = ctx
        .state
        .host
        .apparmor
        .iter()
        .map(|(n, p)| format!("{n} ({})\n", p.mode))
        .collect();
    let _ = super::write_file(
        &ctx.root,
        "/sys/kernel/security/apparmor/profiles",
        text.as_bytes(),
        0o444,
    );
}

/// Files `apparmor.service` loads: regular files directly in `/etc/apparmor.d`, except
/// dotfiles, `README`, package leftovers and those disabled in `disable/`.
fn policy_files(root: &SimRoot) -> Vec<PathBuf> {
    let dir = root.host("/etc/apparmor.d");
    let disabled = root.host("/etc/apparmor.d/disable");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .filter(|p| {
                    let n = p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    !(n.starts_with('.')
                        || n == "README"
                        || n.contains(".dpkg-")
                        || n.ends_with('~')
                        || disabled.join(&n).exists())
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// What `apparmor.service` does on start, reload and boot: parse and load (replace) every
/// policy file. Returns the errors of files that failed.
pub fn load_all(ctx: &mut Ctx) -> Vec<String> {
    let mut errors = Vec::new();
    for f in policy_files(&ctx.root) {
        let shown = host_view(&ctx.root, &f);
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let r = {
            let res = resolver(&ctx.root);
            parse(&shown, &text, &res)
        };
        match r {
            Ok(found) => {
                let sha = sha256_hex(&bytes);
                for p in found {
                    ctx.state.host.apparmor.insert(
                        p.name,
                        Profile {
                            source: shown.clone(),
                            sha256: sha.clone(),
                            mode: if p.complain { "complain" } else { "enforce" }.into(),
                        },
                    );
                }
            }
            Err(e) => errors.push(format_error(&shown, &e)),
        }
    }
    write_profiles(ctx);
    errors
}

fn format_error(top: &str, e: &ParseError) -> String {
    format!(
        "AppArmor parser error for {top} in profile {} at line {}: {}",
        e.file, e.line, e.msg
    )
}

const USAGE: &str = "Usage: apparmor_parser [options] [profile]\n\nOptions:\n--------\n-a, --add               Add apparmor definitions [default]\n-r, --replace           Replace apparmor definitions\n-R, --remove            Remove apparmor definitions\n-C, --Complain          Force the profile into complain mode\n-N, --names             Dump names of profiles in input.\n-q, --quiet             Don't emit warnings\n-Q, --skip-kernel-load  Do everything except loading into kernel\n-W, --write-cache       Save cached profile (force with -T)\n-K, --skip-cache        Do not attempt to load or save cached profiles\n-T, --skip-read-cache   Do not attempt to load cached profiles\n";

/// `apparmor_parser [-r|-a|-R] [-Q] [-N] [-W] [-K] [-T] [-q] [-C] <file>…`.
pub fn apparmor_parser(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let specs = [
        o("add", Some('a'), false),
        o("replace", Some('r'), false),
        o("remove", Some('R'), false),
        o("Complain", Some('C'), false),
        o("names", Some('N'), false),
        o("quiet", Some('q'), false),
        o("skip-kernel-load", Some('Q'), false),
        o("write-cache", Some('W'), false),
        o("skip-cache", Some('K'), false),
        o("skip-read-cache", Some('T'), false),
        o("verbose", Some('v'), false),
    ];
    let p = match getopt_long(args, &specs) {
        Ok(p) => p,
        Err(e) => return fail(1, format!("apparmor_parser: {e}\n\n{USAGE}")),
    };
    if p.operands.is_empty() {
        return fail(
            1,
            format!(
                "apparmor_parser: no profile given (pve-sim does not read profiles from stdin)\n\n{USAGE}"
            ),
        );
    }
    let read_only = p.has("skip-kernel-load") || p.has("names");
    let remove = p.has("remove");
    let replace = p.has("replace");
    let secs = ctx.knobs.cost(if read_only {
        "host.read"
    } else {
        "apparmor.load"
    });
    // Parse every file first: an error loads nothing.
    let mut parsed: Vec<(String, Vec<u8>, Vec<Found>)> = Vec::new();
    for arg in &p.operands {
        let real = file_arg(&ctx.root, arg);
        let files: Vec<PathBuf> = if real.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(&real)
                .map(|rd| {
                    rd.filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| p.is_file())
                        .collect()
                })
                .unwrap_or_default();
            v.sort();
            v
        } else {
            vec![real]
        };
        for f in files {
            let shown = if p.operands.len() == 1 && f == file_arg(&ctx.root, arg) {
                arg.clone()
            } else {
                f.display().to_string()
            };
            let Ok(bytes) = std::fs::read(&f) else {
                return fail(1, format!("File {shown} not found, skipping...\n"));
            };
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let r = {
                let res = resolver(&ctx.root);
                parse(&shown, &text, &res)
            };
            match r {
                Ok(found) => parsed.push((shown, bytes, found)),
                Err(e) => return fail(1, format_error(&shown, &e)),
            }
        }
    }
    if read_only {
        let mut out = String::new();
        if p.has("names") {
            for (_, _, found) in &parsed {
                for f in found {
                    out.push_str(&format!("{}\n", f.name));
                }
            }
        }
        return Outcome::read(out).secs(secs);
    }
    for (shown, _, found) in &parsed {
        for f in found {
            let loaded = ctx.state.host.apparmor.contains_key(&f.name);
            if remove && !loaded {
                return fail(
                    1,
                    format!(
                        "apparmor_parser: Unable to remove \"{}\".  Profile doesn't exist\nERROR processing policy for {shown}",
                        f.name
                    ),
                );
            }
            if !remove && !replace && loaded {
                return fail(
                    1,
                    format!(
                        "apparmor_parser: Unable to add \"{}\".  Profile already exists\nERROR processing policy for {shown}",
                        f.name
                    ),
                );
            }
        }
    }
    for (shown, bytes, found) in parsed {
        let source = host_view(&ctx.root, &file_arg(&ctx.root, &shown));
        let sha = sha256_hex(&bytes);
        for f in found {
            if remove {
                ctx.state.host.apparmor.remove(&f.name);
            } else {
                let complain = f.complain || p.has("Complain");
                ctx.state.host.apparmor.insert(
                    f.name,
                    Profile {
                        source: source.clone(),
                        sha256: sha.clone(),
                        mode: if complain { "complain" } else { "enforce" }.into(),
                    },
                );
            }
        }
    }
    write_profiles(ctx);
    Outcome::ok(Effect::Mutate).secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(target: &str, _angle: bool, _base: &str) -> Option<Vec<(String, String)>> {
        match target {
            "tunables/global" => Some(vec![(
                "/etc/apparmor.d/tunables/global".into(),
                "@{HOME}=/root/\n@{PROC} += /proc/\n".into(),
            )]),
            "abstractions/lxc/container-base" => Some(vec![(
                "/etc/apparmor.d/abstractions/lxc/container-base".into(),
                "  network,\n  capability,\n  deny /proc/sysrq-trigger rwklx,\n".into(),
            )]),
            "abstractions/broken" => Some(vec![(
                "/etc/apparmor.d/abstractions/broken".into(),
                "  network\n}\n".into(),
            )]),
            _ => None,
        }
    }

    fn names(text: &str) -> Result<Vec<String>, ParseError> {
        parse("/etc/apparmor.d/p", text, &files).map(|v| v.into_iter().map(|f| f.name).collect())
    }

    #[test]
    fn parses_profiles_and_includes() {
        assert_eq!(
            names("#include <tunables/global>\nabi <abi/3.0>,\n\nprofile phoenix-nesting flags=(attach_disconnected,mediate_deleted) {\n  #include <abstractions/lxc/container-base>\n  include if exists <local/x>\n  mount fstype=cgroup -> /sys/fs/cgroup/**,\n  dbus send\n       bus=system,\n  owner /tmp/** rw,\n  ^hat {\n    /bin/true ix,\n  }\n}\n/usr/bin/lxc-start {\n}\n").unwrap(),
            ["phoenix-nesting", "/usr/bin/lxc-start"]
        );
        let f = parse("p", "profile c flags=(complain) {\n}\n", &files).unwrap();
        assert!(f[0].complain);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let e = names("profile x {\n  #include <abstractions/missing>\n}\n").unwrap_err();
        assert_eq!(
            (e.line, e.msg.as_str()),
            (2, "Could not open 'abstractions/missing'")
        );
        let e = names("profile x {\n  network,\n").unwrap_err();
        assert!(e.msg.contains("unexpected $end"), "{e:?}");
        let e = names("capability,\nprofile x {\n}\n").unwrap_err();
        assert_eq!(
            (e.line, e.msg.as_str()),
            (1, "syntax error, unexpected TOK_ID, expecting $end")
        );
        let e = names("profile x {\n}\n}\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.msg.contains("unexpected TOK_CLOSE"));
        let e = names("profile x {\n  #include <abstractions/broken>\n}\n").unwrap_err();
        assert_eq!(e.file, "/etc/apparmor.d/abstractions/broken");
        assert_eq!(e.line, 2);
        let e = names("profile x flags=(bogus) {\n}\n").unwrap_err();
        assert_eq!(e.msg, "Invalid profile flag: bogus.");
    }
}
