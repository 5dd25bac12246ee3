//! The host tools `hypervisor-manager setup` calls, answered statefully as a Debian 12 /
//! Proxmox VE 8 host answers them (texts, exit statuses, refusals), and what they share:
//! GNU-style option parsing ([`getopt_long`]), the "command not found" answer for a tool
//! whose package is not installed ([`missing_command`]), file-argument mapping and hashing.
//!
//! One module per family: [`disks`] (`lsblk`, `wipefs`), [`pkg`] (`apt-get`, `dpkg-query`
//! and the package catalogue), [`systemd`] (`systemctl`), [`misc`] (`timedatectl`,
//! `locale-gen`, `locale`, `hostnamectl`, `uname`, `update-ca-certificates`, `step`),
//! [`users`] (`getent`, `id`, `useradd`, `usermod`, `groupadd`, `gpasswd`, `chpasswd`),
//! [`sudoers`] (`visudo`), [`pveum`], [`apparmor`] (`apparmor_parser`), [`nvidia`]
//! (`lspci`, `modinfo`, `curl`, `nvidia-installer`, `nvidia-smi`, `nvidia-modprobe`,
//! `update-initramfs`), [`net`] (`exportfs`, `dnsmasq`), [`samba`] (`testparm`, `pdbedit`,
//! `smbpasswd`); [`base`] makes the fresh host `pve-sim init` starts from and does what a
//! reboot does.

pub mod apparmor;
pub mod base;
pub mod catalogue;
pub mod disks;
pub mod misc;
pub mod net;
pub mod nvidia;
pub mod pkg;
pub mod pveum;
pub mod samba;
pub mod sudoers;
pub mod systemd;
pub mod users;

use std::path::{Path, PathBuf};

use sha2::Digest;

use crate::Ctx;
use crate::outcome::{Effect, Outcome};
use crate::root::SimRoot;

/// The host tools, in the order `pve-sim --help` lists them.
pub const TOOLS: &[&str] = &[
    "lsblk",
    "wipefs",
    "apt-get",
    "dpkg-query",
    "systemctl",
    "timedatectl",
    "locale-gen",
    "locale",
    "hostnamectl",
    "uname",
    "getent",
    "id",
    "useradd",
    "usermod",
    "groupadd",
    "gpasswd",
    "chpasswd",
    "visudo",
    "pveum",
    "apparmor_parser",
    "lspci",
    "modinfo",
    "curl",
    "nvidia-installer",
    "nvidia-smi",
    "nvidia-modprobe",
    "update-initramfs",
    "exportfs",
    "testparm",
    "pdbedit",
    "smbpasswd",
    "dnsmasq",
    "update-ca-certificates",
    "step",
];

/// Runs a host tool (after the package check).
pub fn dispatch(tool: &str, ctx: &mut Ctx, args: &[String]) -> Option<Outcome> {
    if let Some(o) = missing_command(ctx, tool) {
        return Some(o);
    }
    let o = match tool {
        "lsblk" => disks::lsblk(ctx, args),
        "wipefs" => disks::wipefs(ctx, args),
        "apt-get" => pkg::apt_get(ctx, args),
        "dpkg-query" => pkg::dpkg_query(ctx, args),
        "systemctl" => systemd::systemctl(ctx, args),
        "timedatectl" => misc::timedatectl(ctx, args),
        "locale" => misc::locale(ctx, args),
        "hostnamectl" => misc::hostnamectl(ctx, args),
        "uname" => misc::uname(ctx, args),
        "update-ca-certificates" => misc::update_ca_certificates(ctx, args),
        "step" => misc::step(ctx, args),
        "getent" => users::getent(ctx, args),
        "id" => users::id(ctx, args),
        "useradd" => users::useradd(ctx, args),
        "chpasswd" => users::chpasswd(ctx, args),
        "visudo" => sudoers::visudo(ctx, args),
        "pveum" => pveum::run(ctx, args),
        "apparmor_parser" => apparmor::apparmor_parser(ctx, args),
        "lspci" => nvidia::lspci(ctx, args),
        "modinfo" => nvidia::modinfo(ctx, args),
        "curl" => nvidia::curl(ctx, args),
        "nvidia-installer" => nvidia::installer(ctx, args),
        "update-initramfs" => nvidia::update_initramfs(ctx, args),
        "exportfs" => net::exportfs(ctx, args),
        "dnsmasq" => net::dnsmasq(ctx, args),
        "testparm" => samba::testparm(ctx, args),
        "pdbedit" => samba::pdbedit(ctx, args),
        "smbpasswd" => samba::smbpasswd(ctx, args),
        _ => return None,
    };
    Some(o)
}

/// The package that ships a tool; `None` for tools every host has (util-linux, coreutils,
/// passwd, systemd, Proxmox's own) and the NVIDIA tools, which come with the driver.
pub fn package_of(tool: &str) -> Option<&'static [&'static str]> {
    Some(match tool {
        "exportfs" => &["nfs-kernel-server"],
        "visudo" => &["sudo"],
        "testparm" => &["samba-common-bin", "samba"],
        "smbpasswd" | "pdbedit" => &["samba"],
        "dnsmasq" => &["dnsmasq"],
        "step" => &["step-cli"],
        "curl" => &["curl"],
        "lspci" => &["pciutils"],
        "modinfo" => &["kmod"],
        "locale-gen" => &["locales"],
        "apparmor_parser" => &["apparmor"],
        "update-ca-certificates" => &["ca-certificates"],
        "update-initramfs" => &["initramfs-tools"],
        _ => return None,
    })
}

/// A tool whose package is not installed answers like a missing command: exit 127, nothing
/// changes. The NVIDIA tools exist once a driver is installed.
pub fn missing_command(ctx: &Ctx, tool: &str) -> Option<Outcome> {
    let hint = match tool {
        "nvidia-smi" | "nvidia-modprobe" if ctx.state.host.nvidia.installed.is_none() => {
            "install the NVIDIA driver".to_string()
        }
        _ => match package_of(tool) {
            Some(pkgs) if !pkgs.iter().any(|p| ctx.state.host.installed(p)) => {
                format!("install package {}", pkgs[0])
            }
            _ => return None,
        },
    };
    Some(fail(
        127,
        format!("{tool}: command not found (pve-sim: {hint})"),
    ))
}

/// A refusal with the tool's own exit status (stderr, nothing changed).
pub fn fail(code: i32, stderr: impl Into<String>) -> Outcome {
    let mut o = Outcome::refuse(stderr);
    o.code = code;
    o
}

/// A probe's negative answer (`is-active` of a stopped unit, `getent` of nobody): not a
/// refusal, just the answer.
pub fn answer(code: i32, stdout: impl Into<String>, stderr: impl Into<String>) -> Outcome {
    Outcome {
        code,
        stdout: stdout.into(),
        stderr: stderr.into(),
        ..Outcome::ok(Effect::Read)
    }
}

/// A successful mutation with output.
pub fn changed(stdout: impl Into<String>) -> Outcome {
    Outcome::ok(Effect::Mutate).out(stdout)
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    let d = sha2::Sha256::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The real path of a file argument: an absolute path inside the system root is used as
/// given (managers pass real paths); anything else is read as a host path and mapped into
/// the system root, so nothing outside it is touched.
pub fn file_arg(root: &SimRoot, arg: &str) -> PathBuf {
    let p = Path::new(arg);
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    if abs.starts_with(root.sysroot()) {
        abs
    } else {
        root.host(abs)
    }
}

/// The host path of a real path inside the system root (`<sysroot>/etc/x` → `/etc/x`).
pub fn host_view(root: &SimRoot, real: &Path) -> String {
    match real.strip_prefix(root.sysroot()) {
        Ok(rel) => format!("/{}", rel.display()),
        Err(_) => real.display().to_string(),
    }
}

/// Writes a host file with a mode, creating its directory.
pub fn write_file(root: &SimRoot, host: &str, content: &[u8], mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let p = root.host(host);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(&p, content).map_err(|e| format!("cannot write {host}: {e}"))?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot chmod {host}: {e}"))
}

/// Creates or replaces a symbolic link at a host path.
pub fn symlink(root: &SimRoot, host: &str, target: &str) -> Result<(), String> {
    let p = root.host(host);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    if p.symlink_metadata().is_ok() {
        std::fs::remove_file(&p).map_err(|e| format!("cannot replace {host}: {e}"))?;
    }
    std::os::unix::fs::symlink(target, &p).map_err(|e| format!("cannot link {host}: {e}"))
}

/// Removes a host file or link if present.
pub fn remove(root: &SimRoot, host: &str) {
    let p = root.host(host);
    if p.symlink_metadata().is_ok_and(|m| m.is_dir()) {
        let _ = std::fs::remove_dir_all(&p);
    } else {
        let _ = std::fs::remove_file(&p);
    }
}

/// The cost of a host operation.
pub fn cost(ctx: &Ctx, op: &str) -> f64 {
    ctx.knobs.cost(op)
}

/// Whether a host command reads its stdin (secrets for `chpasswd` and `smbpasswd`); it is
/// read before the state lock is taken, like `qm guest exec --pass-stdin`.
pub fn reads_stdin(tool: &str, args: &[String]) -> bool {
    match tool {
        "chpasswd" => true,
        // `-a` (add) and `-s` (silent) read the new password; `-x`, `-d`, `-e` do not.
        "smbpasswd" => args.iter().any(|a| {
            a.starts_with('-') && !a.starts_with("--") && (a.contains('a') || a.contains('s'))
        }),
        _ => false,
    }
}

/// One option of a GNU-style command line.
#[derive(Clone, Copy, Debug)]
pub struct OptSpec {
    /// Long name (`no-act`), or empty.
    pub long: &'static str,
    /// Short letter.
    pub short: Option<char>,
    /// Takes an argument.
    pub arg: bool,
}

/// `OptSpec` shorthand: `o("all", Some('a'), false)`.
pub const fn o(long: &'static str, short: Option<char>, arg: bool) -> OptSpec {
    OptSpec { long, short, arg }
}

/// A parsed GNU-style command line: options by key (the long name, or the short letter when
/// there is none) with their arguments, in order, and operands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Opts {
    /// Options in order.
    pub list: Vec<(String, Option<String>)>,
    /// Operands.
    pub operands: Vec<String>,
}

impl Opts {
    /// Whether an option was given.
    pub fn has(&self, key: &str) -> bool {
        self.list.iter().any(|(k, _)| k == key)
    }

    /// How often an option was given (`-qq`).
    pub fn count(&self, key: &str) -> usize {
        self.list.iter().filter(|(k, _)| k == key).count()
    }

    /// The last argument of an option.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.list
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Every argument of a repeatable option.
    pub fn values(&self, key: &str) -> Vec<&str> {
        self.list
            .iter()
            .filter(|(k, _)| k == key)
            .filter_map(|(_, v)| v.as_deref())
            .collect()
    }
}

/// Parses a command line the way glibc's `getopt_long` does (options may follow operands,
/// `--` ends them, long options may be abbreviated to a unique prefix, `--opt=value`,
/// `-abc`, `-ovalue`). Errors are glibc's texts without the program name
/// (`unrecognized option '--foo'`, `invalid option -- 'x'`, …).
pub fn getopt_long(args: &[String], specs: &[OptSpec]) -> Result<Opts, String> {
    let mut out = Opts::default();
    let key = |s: &OptSpec| {
        if s.long.is_empty() {
            s.short.map(String::from).unwrap_or_default()
        } else {
            s.long.to_string()
        }
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            out.operands.extend(args[i + 1..].iter().cloned());
            break;
        }
        if let Some(body) = a.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let exact = specs.iter().find(|s| !s.long.is_empty() && s.long == name);
            let spec = match exact {
                Some(s) => s,
                None => {
                    let m: Vec<&OptSpec> = specs
                        .iter()
                        .filter(|s| !s.long.is_empty() && s.long.starts_with(name))
                        .collect();
                    match m.as_slice() {
                        [s] => *s,
                        [] => return Err(format!("unrecognized option '{a}'")),
                        _ => return Err(format!("option '{a}' is ambiguous")),
                    }
                }
            };
            let v = if spec.arg {
                match inline {
                    Some(v) => Some(v),
                    None => {
                        i += 1;
                        Some(args.get(i).cloned().ok_or_else(|| {
                            format!("option '--{}' requires an argument", spec.long)
                        })?)
                    }
                }
            } else if inline.is_some() {
                return Err(format!(
                    "option '--{}' doesn't allow an argument",
                    spec.long
                ));
            } else {
                None
            };
            out.list.push((key(spec), v));
        } else if a.len() > 1 && a.starts_with('-') {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let c = chars[j];
                let Some(spec) = specs.iter().find(|s| s.short == Some(c)) else {
                    return Err(format!("invalid option -- '{c}'"));
                };
                if spec.arg {
                    let rest: String = chars[j + 1..].iter().collect();
                    let v = if rest.is_empty() {
                        i += 1;
                        args.get(i)
                            .cloned()
                            .ok_or_else(|| format!("option requires an argument -- '{c}'"))?
                    } else {
                        rest
                    };
                    out.list.push((key(spec), Some(v)));
                    break;
                }
                out.list.push((key(spec), None));
                j += 1;
            }
        } else {
            out.operands.push(a.clone());
        }
        i += 1;
    }
    Ok(out)
}

/// Reads this process's stdin to its end (at most 1 MiB).
pub fn read_stdin() -> Vec<u8> {
    use std::io::Read;
    let mut buf = Vec::new();
    let _ = std::io::stdin().lock().take(1 << 20).read_to_end(&mut buf);
    buf
}

/// The stdin a command read before the lock (or reads now).
pub fn stdin_of(ctx: &mut Ctx) -> Vec<u8> {
    match ctx.stdin.take() {
        Some(s) => s,
        None => read_stdin(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    const SPECS: &[OptSpec] = &[
        o("all", Some('a'), false),
        o("no-act", Some('n'), false),
        o("output", Some('o'), true),
        o("json", Some('J'), false),
        o("proto", None, true),
    ];

    #[test]
    fn parses_like_getopt_long() {
        let p = getopt_long(
            &v(&["-an", "/dev/sdb", "--out=X", "--proto", "=https"]),
            SPECS,
        )
        .unwrap();
        assert_eq!(p.operands, ["/dev/sdb"]);
        assert!(p.has("all") && p.has("no-act"));
        assert_eq!(p.value("output"), Some("X"));
        assert_eq!(p.value("proto"), Some("=https"));
        let p = getopt_long(&v(&["-oNAME,SIZE", "--", "-x"]), SPECS).unwrap();
        assert_eq!(p.value("output"), Some("NAME,SIZE"));
        assert_eq!(p.operands, ["-x"]);
    }

    #[test]
    fn errors_read_like_glibc() {
        assert_eq!(
            getopt_long(&v(&["--bogus"]), SPECS).unwrap_err(),
            "unrecognized option '--bogus'"
        );
        assert_eq!(
            getopt_long(&v(&["-x"]), SPECS).unwrap_err(),
            "invalid option -- 'x'"
        );
        assert_eq!(
            getopt_long(&v(&["-o"]), SPECS).unwrap_err(),
            "option requires an argument -- 'o'"
        );
        assert_eq!(
            getopt_long(&v(&["--all=1"]), SPECS).unwrap_err(),
            "option '--all' doesn't allow an argument"
        );
    }

    #[test]
    fn secrets_on_stdin_are_read_before_the_lock() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(reads_stdin("chpasswd", &v(&["-e"])));
        assert!(reads_stdin("smbpasswd", &v(&["-sa", "heads"])));
        assert!(reads_stdin("smbpasswd", &v(&["-s", "-a", "heads"])));
        assert!(!reads_stdin("smbpasswd", &v(&["-x", "heads"])));
        assert!(!reads_stdin("useradd", &v(&["-m", "heads"])));
    }

    #[test]
    fn file_arguments_stay_inside_the_root() {
        let r = SimRoot::new("/tmp/sim");
        assert_eq!(
            file_arg(&r, "/tmp/sim/etc/x"),
            PathBuf::from("/tmp/sim/etc/x")
        );
        assert_eq!(file_arg(&r, "/etc/x"), PathBuf::from("/tmp/sim/etc/x"));
        assert_eq!(host_view(&r, Path::new("/tmp/sim/etc/x")), "/etc/x");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
