//! Pure checks for the value formats a configuration uses: addresses, MACs, ports,
//! GPU lists, host names, and the host's own (time zones, login names, SSH keys, Samba
//! names, checksums, runfile URLs, PCI IDs). Each returns a parsed value or a lowercase reason.
//!
//! The rules follow what Proxmox itself accepts (pve-common's `mac-addr` and `dns-name`
//! formats, pve-firewall's address and port syntax), so a config that passes here does not
//! fail later inside `pct set` or the firewall compiler.

use std::net::{IpAddr, Ipv4Addr};

/// The `ip` setting of a guest NIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpSetting {
    /// `dhcp`.
    Dhcp,
    /// `manual` (configured inside the guest).
    Manual,
    /// A static IPv4 address with prefix length.
    Static(Ipv4Addr, u8),
}

impl IpSetting {
    /// The address, for a static setting.
    pub fn addr(self) -> Option<Ipv4Addr> {
        match self {
            IpSetting::Static(a, _) => Some(a),
            _ => None,
        }
    }
}

/// Parses a dotted-quad IPv4 address (no leading zeros, no shorthand).
pub fn ipv4(s: &str) -> Result<Ipv4Addr, String> {
    s.parse::<Ipv4Addr>()
        .map_err(|_| format!("{s:?} is not an IPv4 address"))
}

/// Parses `a.b.c.d/n`.
pub fn ipv4_cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (addr, prefix) = s
        .split_once('/')
        .ok_or_else(|| format!("{s:?} is not in CIDR notation (expected e.g. 10.0.0.5/24)"))?;
    let addr = ipv4(addr).map_err(|_| format!("{s:?}: {addr:?} is not an IPv4 address"))?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= 32 && !prefix.starts_with('+') && !prefix.is_empty())
        .ok_or_else(|| format!("{s:?}: prefix length {prefix:?} is not between 0 and 32"))?;
    Ok((addr, prefix))
}

/// Parses a NIC `ip` value: `dhcp`, `manual` or an IPv4 CIDR.
pub fn ip_setting(s: &str) -> Result<IpSetting, String> {
    match s {
        "dhcp" => Ok(IpSetting::Dhcp),
        "manual" => Ok(IpSetting::Manual),
        _ => ipv4_cidr(s)
            .map(|(a, p)| IpSetting::Static(a, p))
            .map_err(|e| format!("{e}; use an address like 10.0.0.5/24, \"dhcp\" or \"manual\"")),
    }
}

/// Whether `addr` is inside `net/prefix`.
pub fn in_subnet(addr: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let mask = u32::MAX << (32 - u32::from(prefix));
    (u32::from(addr) & mask) == (u32::from(net) & mask)
}

/// Checks a MAC address the way Proxmox does: six hex pairs, unicast (even first octet).
pub fn mac(s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.split(':').collect();
    let hex_pairs = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    if !hex_pairs {
        return Err(format!(
            "{s:?} is not a MAC address (expected six hex pairs like 52:54:00:12:34:56)"
        ));
    }
    let first =
        u8::from_str_radix(parts[0], 16).map_err(|_| format!("{s:?} is not a MAC address"))?;
    if first & 1 == 1 {
        return Err(format!(
            "{s:?} is a multicast MAC address; Proxmox needs a unicast one (even first octet)"
        ));
    }
    Ok(())
}

/// Checks a host or DNS name (Proxmox's `dns-name` format).
pub fn dns_name(s: &str) -> Result<(), String> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if s.len() <= 253 && s.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a valid host name (letters, digits and inner hyphens, labels separated by dots)"
        ))
    }
}

/// Parses a GPU assignment: `none` or a comma list of indices (`0`, `0,1`, `0, 1`).
pub fn gpu_assignment(s: &str) -> Result<Vec<u32>, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("none") || t.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for part in t.split(',') {
        let p = part.trim();
        let n: u32 = p
            .parse()
            .ok()
            .filter(|_| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                format!("{s:?} is not a GPU assignment (expected \"none\" or GPU indices like \"0\" or \"0,1\")")
            })?;
        if n > 63 {
            return Err(format!("GPU index {n} in {s:?} is out of range (0-63)"));
        }
        if out.contains(&n) {
            return Err(format!("GPU {n} is listed twice in {s:?}"));
        }
        out.push(n);
    }
    Ok(out)
}

/// Parses a port number 1-65535.
pub fn port_number(s: &str) -> Result<u16, String> {
    s.parse::<u16>()
        .ok()
        .filter(|p| *p > 0 && s.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("{s:?} is not a port number (1-65535)"))
}

/// Checks a firewall port list: numbers, `a:b` ranges or service names, comma separated
/// (pve-firewall's `dport`/`sport` syntax).
pub fn firewall_ports(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("empty port list".to_string());
    }
    for item in s.split(',') {
        let item = item.trim();
        if let Some((a, b)) = item.split_once(':') {
            let (a, b) = (port_number(a)?, port_number(b)?);
            if a > b {
                return Err(format!("port range {item:?} is reversed"));
            }
        } else if item.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
            port_number(item)?;
        } else if !is_service_name(item) {
            return Err(format!(
                "{item:?} is not a port, a range like 8000:8010 or a service name"
            ));
        }
    }
    Ok(())
}

fn is_service_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks a firewall `source`/`dest`: a comma list of IPs, CIDRs, ranges `a-b`, IP sets
/// (`+name`) or alias names.
pub fn firewall_address(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("empty address".to_string());
    }
    let mut families = Vec::new();
    for item in s.split(',') {
        let item = item.trim();
        if let Some(set) = item.strip_prefix('+') {
            let name = set.rsplit('/').next().unwrap_or(set);
            if !is_alias_name(name) {
                return Err(format!("{item:?} is not a valid IP set reference"));
            }
            continue;
        }
        if is_alias_name(item) && !item.contains('.') && !item.contains(':') {
            continue;
        }
        if let Some((a, b)) = item.split_once('-') {
            let a: IpAddr = a.parse().map_err(|_| bad_address(item))?;
            let b: IpAddr = b.parse().map_err(|_| bad_address(item))?;
            if a.is_ipv4() != b.is_ipv4() {
                return Err(format!("address range {item:?} mixes IPv4 and IPv6"));
            }
            families.push(a.is_ipv4());
            continue;
        }
        let (addr, prefix) = match item.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (item, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| bad_address(item))?;
        if let Some(p) = prefix {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let ok =
                p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u8>().is_ok_and(|p| p <= max);
            if !ok {
                return Err(format!(
                    "{item:?}: prefix length {p:?} is not between 0 and {max}"
                ));
            }
        }
        families.push(ip.is_ipv4());
    }
    if families.windows(2).any(|w| w[0] != w[1]) {
        return Err(format!("{s:?} mixes IPv4 and IPv6 addresses"));
    }
    Ok(())
}

fn bad_address(item: &str) -> String {
    format!("{item:?} is not an IP address, CIDR, range, IP set (+name) or alias")
}

fn is_alias_name(s: &str) -> bool {
    s.len() >= 2
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks a `host:container` port mapping.
pub fn port_mapping(s: &str) -> Result<(), String> {
    let (a, b) = s.split_once(':').ok_or_else(|| {
        format!("{s:?} is not a port mapping (expected host:container, e.g. 8000:8000)")
    })?;
    port_number(a)?;
    port_number(b)?;
    Ok(())
}

/// An absolute path in canonical form: `//` collapsed, no trailing `/`. `.` and `..`
/// components are refused (a path given to `pct` and the one the product creates or chowns
/// must be the same; `/tank/../etc` is not `/tank/etc`), and so is a relative path.
pub fn abs_path(s: &str) -> Result<String, String> {
    if !s.starts_with('/') {
        return Err(format!("{s:?} is not an absolute path"));
    }
    let mut parts = Vec::new();
    for c in s.split('/').filter(|c| !c.is_empty()) {
        if c == "." || c == ".." {
            return Err(format!(
                "{s:?} has a {c:?} component; write the path without it"
            ));
        }
        parts.push(c);
    }
    Ok(format!("/{}", parts.join("/")))
}

/// The install root of the shell version (and this one's default), which holds operator data
/// the shell version's files bind-mount (`etc/nginx/sites-available`): not a system tree.
const INSTALL_ROOT: &str = "/usr/local/phoenix_hypervisor";

/// A host directory the product may bind-mount, export, share, create or chown: an
/// [`abs_path`] that is neither `/` nor `/var` itself, nor in a system tree (`/etc` — with
/// `/etc/pve` —, `/usr`, `/boot`, `/root`, `/proc`, `/sys`, `/dev`, `/run`, `/bin`, `/sbin`,
/// `/lib*`), except below the install root. Returns the canonical path.
pub fn host_dir(s: &str) -> Result<String, String> {
    const TREES: &[&str] = &[
        "/etc", "/usr", "/boot", "/root", "/proc", "/sys", "/dev", "/run", "/bin", "/sbin", "/lib",
        "/lib32", "/lib64", "/libx32",
    ];
    let p = abs_path(s)?;
    let under = |t: &str| p == t || p.starts_with(&format!("{t}/"));
    if under(INSTALL_ROOT) && p != INSTALL_ROOT {
        return Ok(p);
    }
    if p == "/" || p == "/var" {
        return Err(format!(
            "{p} is a system directory of the host; name a directory of your own"
        ));
    }
    if let Some(t) = TREES.iter().find(|t| under(t)) {
        return Err(format!(
            "{p} is in the host's system tree {t}; name a directory of your own (a dataset's mount point, /mnt/…)"
        ));
    }
    Ok(p)
}

/// A path inside a container a bind mount or volume may be mounted at: an [`abs_path`] that
/// is not `/` nor a system directory itself, and not inside `/proc`, `/sys` or `/dev` (the
/// kernel's interfaces). Returns the canonical path.
pub fn guest_dir(s: &str) -> Result<String, String> {
    const TOP: &[&str] = &[
        "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root",
        "/run", "/sbin", "/sys", "/tmp", "/usr", "/var",
    ];
    let p = abs_path(s)?;
    if p == "/" || TOP.contains(&p.as_str()) {
        return Err(format!(
            "{p} is a system directory of the guest; mount at a directory below it or elsewhere"
        ));
    }
    if ["/proc", "/sys", "/dev"]
        .iter()
        .any(|t| p.starts_with(&format!("{t}/")))
    {
        return Err(format!(
            "{p} is inside the kernel's interfaces (/proc, /sys, /dev)"
        ));
    }
    Ok(p)
}

/// A file name (an OS template, a cloud image): one path component, not `.` or `..`.
pub fn file_name(s: &str) -> Result<(), String> {
    if s.is_empty() || s == "." || s == ".." || s.contains('/') {
        Err(format!("{s:?} is not a file name (one component, no '/')"))
    } else {
        Ok(())
    }
}

/// An NFS export option as exportfs accepts it: a flag or `key=value` of exports(5), the
/// keywords nfs-utils' `support/nfs/exports.c` `parseopts` knows (anything else makes
/// exportfs reject the line: `unknown keyword`).
pub fn nfs_export_option(s: &str) -> Result<(), String> {
    const FLAGS: &[&str] = &[
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
    const KEYS: &[&str] = &[
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
    let ok = match s.split_once('=') {
        Some((k, v)) => KEYS.contains(&k) && !v.is_empty() && !v.contains(char::is_whitespace),
        None => FLAGS.contains(&s),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{s:?} is not an NFS export option (exports(5))"))
    }
}

/// Splits a nameserver setting written as one string (`"8.8.8.8 1.1.1.1"` or with commas).
pub fn split_list(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// Checks a time zone name as tzdata spells them (`UTC`, `Europe/Berlin`,
/// `America/Argentina/Buenos_Aires`, `Etc/GMT+5`).
pub fn timezone(s: &str) -> Result<(), String> {
    let ok = s == "UTC"
        || (s.contains('/')
            && !s.starts_with('/')
            && !s.ends_with('/')
            && !s.contains("//")
            && !s.contains("..")
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+-/".contains(c)));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a time zone name such as Europe/Berlin or Etc/UTC"
        ))
    }
}

/// Checks a login name in `useradd`'s portable form: a lower-case letter or `_`, then
/// lower-case letters, digits, `_` and `-`, at most 32.
pub fn login_name(s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && s.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a valid user name (lowercase letters, digits, _ and -, at most 32)"
        ))
    }
}

/// Checks one OpenSSH public key line (`ssh-ed25519 AAAA… comment`).
pub fn ssh_public_key(s: &str) -> Result<(), String> {
    let mut w = s.split_whitespace();
    let kind = w.next().unwrap_or("");
    let body = w.next().unwrap_or("");
    let ok = !s.contains(['\n', '\r'])
        && (kind.starts_with("ssh-") || kind.starts_with("ecdsa-") || kind.starts_with("sk-"))
        && body.len() > 20
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c));
    if ok {
        Ok(())
    } else {
        Err("not one OpenSSH public key line (ssh-ed25519 AAAA… comment)".to_string())
    }
}

/// Checks a Samba share name: not empty, no brackets or line breaks, at most 80, not one of
/// the sections Samba reserves.
pub fn samba_share_name(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 80 || s.contains(['\n', '\r', '[', ']']) {
        return Err(format!("{s:?} is not a share name"));
    }
    if ["global", "homes", "printers"].contains(&s.to_ascii_lowercase().as_str()) {
        return Err(format!("{s:?} is reserved by Samba"));
    }
    Ok(())
}

/// Checks a NetBIOS workgroup name: letters, digits, `_` and `-`, at most 15.
pub fn workgroup(s: &str) -> Result<(), String> {
    if !s.is_empty()
        && s.len() <= 15
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
    {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a workgroup name (letters, digits, '_' and '-', at most 15)"
        ))
    }
}

/// Checks a SHA-256 in hex.
pub fn sha256(s: &str) -> Result<(), String> {
    if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(format!("{s:?} is not a SHA-256 in hex (64 hex digits)"))
    }
}

/// Checks an NVIDIA runfile URL and returns the file's name: HTTPS only (the file runs as
/// root), ending in a plain `.run` name.
pub fn runfile_url(s: &str) -> Result<String, String> {
    if !s.starts_with("https://") {
        return Err(format!(
            "{s:?} is not an https:// URL (the runfile runs as root)"
        ));
    }
    let name = s.rsplit('/').next().unwrap_or("");
    if !name.ends_with(".run")
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(format!("{s:?} does not name a .run file"));
    }
    Ok(name.to_string())
}

/// Checks a PCI `vendor:device` ID (`10de:2204`).
pub fn pci_id(s: &str) -> Result<(), String> {
    let ok = s.len() == 9
        && s.as_bytes()[4] == b':'
        && s.chars()
            .enumerate()
            .all(|(i, c)| i == 4 || c.is_ascii_hexdigit());
    if ok {
        Ok(())
    } else {
        Err(format!("{s:?} is not a vendor:device ID such as 10de:2204"))
    }
}

/// `https://HOST[:PORT]` with a DNS name or an IP address and no path: the base of an API
/// whose certificate names HOST.
pub fn https_base_url(s: &str) -> Result<(), String> {
    let rest = s
        .strip_prefix("https://")
        .ok_or_else(|| format!("{s:?} is not an https:// URL"))?;
    if rest.contains('/') || rest.contains('?') || rest.contains('@') {
        return Err(format!("{s:?} must be https://HOST[:PORT], without a path"));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.starts_with('[') => (h, Some(p)),
        _ => (rest, None),
    };
    if let Some(p) = port {
        port_number(p).map_err(|e| format!("{s:?}: {e}"))?;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_err() {
        dns_name(host).map_err(|e| format!("{s:?}: {e}"))?;
    }
    Ok(())
}

/// An IP address, optionally with a port (`10.0.0.5`, `10.0.0.5:9443`, `[::1]:9443`).
pub fn address_maybe_port(s: &str) -> Result<(), String> {
    if s.parse::<std::net::IpAddr>().is_ok() || s.parse::<std::net::SocketAddr>().is_ok() {
        Ok(())
    } else {
        Err(format!("{s:?} is not an IP address or ADDRESS:PORT"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_formats() {
        for ok in [
            "UTC",
            "Etc/UTC",
            "America/Argentina/Buenos_Aires",
            "Etc/GMT+5",
        ] {
            assert!(timezone(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "New York",
            "/etc/passwd",
            "Europe/../x",
            "Europe/",
            "utc;rm",
        ] {
            assert!(timezone(bad).is_err(), "{bad}");
        }
        assert!(login_name("phoenix_admin").is_ok() && login_name("heads").is_ok());
        for bad in ["Root", "a b", "-x", ""] {
            assert!(login_name(bad).is_err(), "{bad}");
        }
        assert!(
            ssh_public_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1abcdefghijklmnop ops@lab")
                .is_ok()
        );
        assert!(ssh_public_key("hello world").is_err());
        assert!(ssh_public_key("ssh-ed25519 AAAA$(reboot)AAAAAAAAAAAAAAAAAAAAAA").is_err());
        assert!(samba_share_name("data").is_ok());
        assert!(samba_share_name("Homes").unwrap_err().contains("reserved"));
        assert!(samba_share_name("a]b").is_err());
        assert!(workgroup("LAB").is_ok() && workgroup("a b").is_err());
        assert!(sha256(&"a".repeat(64)).is_ok() && sha256("abc").is_err());
        assert_eq!(
            runfile_url("https://us.download.nvidia.com/XFree86/Linux-x86_64/580.76.05/NVIDIA-Linux-x86_64-580.76.05.run").unwrap(),
            "NVIDIA-Linux-x86_64-580.76.05.run"
        );
        assert!(runfile_url("http://x/NVIDIA.run").is_err());
        assert!(runfile_url("https://x/driver.tar.gz").is_err());
        assert!(runfile_url("https://x/a;b.run").is_err());
        assert!(pci_id("10de:2204").is_ok() && pci_id("10de 2204").is_err());
    }

    #[test]
    fn ip_settings() {
        assert_eq!(ip_setting("dhcp"), Ok(IpSetting::Dhcp));
        assert_eq!(
            ip_setting("10.0.0.5/24"),
            Ok(IpSetting::Static(Ipv4Addr::new(10, 0, 0, 5), 24))
        );
        for bad in [
            "10.0.0.5",
            "10.0.0.300/24",
            "10.0.0.5/33",
            "10.0.0.5/",
            "10.0.0.5/+1",
            "DHCP",
            "010.0.0.1/24",
        ] {
            assert!(ip_setting(bad).is_err(), "{bad}");
        }
        assert!(in_subnet(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 200),
            24
        ));
        assert!(!in_subnet(
            Ipv4Addr::new(10, 0, 1, 1),
            Ipv4Addr::new(10, 0, 0, 200),
            24
        ));
        assert!(in_subnet(
            Ipv4Addr::new(1, 2, 3, 4),
            Ipv4Addr::new(10, 0, 0, 200),
            0
        ));
    }

    #[test]
    fn macs_follow_proxmox() {
        assert!(mac("52:54:00:AA:BB:CC").is_ok());
        assert!(mac("52:54:00:aa:bb:cc").is_ok());
        assert!(mac("53:54:00:AA:BB:CC").unwrap_err().contains("multicast"));
        for bad in [
            "52:54:00:AA:BB",
            "52-54-00-AA-BB-CC",
            "52:54:00:AA:BB:CG",
            "525400AABBCC",
        ] {
            assert!(mac(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_names() {
        for ok in ["Copy-Cuda12.8", "granite-3.3-8b-fp8", "a", "web01"] {
            assert!(dns_name(ok).is_ok(), "{ok}");
        }
        for bad in ["my_host", "-x", "x-", "a..b", "has space", ""] {
            assert!(dns_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn gpu_lists() {
        assert_eq!(gpu_assignment("none"), Ok(vec![]));
        assert_eq!(gpu_assignment("0, 1"), Ok(vec![0, 1]));
        assert_eq!(gpu_assignment("1"), Ok(vec![1]));
        assert!(gpu_assignment("0,,1").is_err());
        assert!(gpu_assignment("gpu0").is_err());
        assert!(gpu_assignment("-1").is_err());
        assert!(gpu_assignment("0,0").unwrap_err().contains("twice"));
        assert!(gpu_assignment("64").unwrap_err().contains("out of range"));
    }

    #[test]
    fn firewall_syntax() {
        for ok in ["22", "80,443", "8000:8010", "ssh", "80, 443"] {
            assert!(firewall_ports(ok).is_ok(), "{ok}");
        }
        for bad in ["0", "65536", "8o", "90:80", "", "80,,443"] {
            assert!(firewall_ports(bad).is_err(), "{bad}");
        }
        for ok in [
            "10.0.0.0/24",
            "10.0.0.13",
            "10.0.0.1-10.0.0.9",
            "+management",
            "+dc/management",
            "mynet",
            "fd00::/8",
            "10.0.0.1,10.0.0.2",
        ] {
            assert!(firewall_address(ok).is_ok(), "{ok}");
        }
        for bad in [
            "10.0.0.300",
            "10.0.0.0/33",
            "10.0.0.1,fd00::1",
            "1.2.3.4-fd00::1",
            "",
            "x",
        ] {
            assert!(firewall_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_are_canonical_and_stay_out_of_system_trees() {
        assert_eq!(abs_path("/tank//data/").unwrap(), "/tank/data");
        assert_eq!(abs_path("/").unwrap(), "/");
        for bad in ["tank/data", "", "/tank/../etc", "/tank/./x"] {
            assert!(abs_path(bad).is_err(), "{bad:?}");
        }
        for ok in [
            "/tank/lxc-persistent-data/103/ssl",
            "/mnt/pve/quickOS/shared-prod-data",
            "/var/lib/phoenix-data",
            "/usr/local/phoenix_hypervisor/etc/nginx/sites-available",
        ] {
            assert!(host_dir(ok).is_ok(), "{ok}");
        }
        for bad in [
            "/",
            "/etc",
            "/etc/pve/lxc",
            "/usr",
            "/usr/lib",
            "/var",
            "/boot",
            "/root/x",
            "/proc",
            "/sys/kernel",
            "/dev",
            "/run/x",
            "/lib64",
            "/tank/../etc",
            "/usr/local/phoenix_hypervisor",
        ] {
            assert!(host_dir(bad).is_err(), "{bad}");
        }
        for ok in [
            "/etc/step-ca/ssl",
            "/var/log/nginx",
            "/models",
            "/etc/nginx/ssl",
        ] {
            assert!(guest_dir(ok).is_ok(), "{ok}");
        }
        for bad in [
            "/",
            "/etc",
            "/usr",
            "/proc/sys",
            "/dev/shm",
            "/host/../etc",
            "rel",
        ] {
            assert!(guest_dir(bad).is_err(), "{bad}");
        }
        assert!(file_name("noble-server-cloudimg-amd64.img").is_ok());
        for bad in ["../x", "a/b", "..", ""] {
            assert!(file_name(bad).is_err(), "{bad:?}");
        }
    }

    /// nfs-utils support/nfs/exports.c parseopts: known flags and `key=value` keys only.
    #[test]
    fn nfs_export_options_are_exports_5_keywords() {
        for ok in [
            "rw",
            "no_subtree_check",
            "fsid=0",
            "anonuid=1000",
            "sec=krb5p",
            "crossmnt",
        ] {
            assert!(nfs_export_option(ok).is_ok(), "{ok}");
        }
        for bad in ["noatime", "rw ", "fsid=", "colour=red", "", "sync,rw"] {
            assert!(nfs_export_option(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn misc() {
        assert!(port_mapping("8000:8000").is_ok());
        assert!(port_mapping("8000").is_err());
        assert!(port_mapping("0:1").is_err());
        assert_eq!(
            split_list("10.0.0.1, 8.8.8.8  1.1.1.1"),
            ["10.0.0.1", "8.8.8.8", "1.1.1.1"]
        );
    }

    #[test]
    fn api_urls_and_addresses() {
        for ok in [
            "https://portainer.lab.example:9443",
            "https://portainer.lab.example",
            "https://10.0.0.5:9443",
            "https://[::1]:9443",
        ] {
            assert_eq!(https_base_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://portainer:9443",
            "https://portainer.lab/api",
            "https://user@portainer",
            "https://portainer:99999",
            "https://bad_name",
        ] {
            assert!(https_base_url(bad).is_err(), "{bad}");
        }
        assert!(address_maybe_port("10.0.0.5").is_ok());
        assert!(address_maybe_port("10.0.0.5:9443").is_ok());
        assert!(address_maybe_port("portainer.lab").is_err());
    }
}
