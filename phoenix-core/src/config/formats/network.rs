//! Network values: IPv4 addresses and CIDRs, a NIC's `ip` setting, MACs, host names, ports,
//! nameserver lists, API base URLs.

use std::net::Ipv4Addr;

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

/// Parses a port number 1-65535.
pub fn port_number(s: &str) -> Result<u16, String> {
    s.parse::<u16>()
        .ok()
        .filter(|p| *p > 0 && s.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("{s:?} is not a port number (1-65535)"))
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

/// Splits a nameserver setting written as one string (`"8.8.8.8 1.1.1.1"` or with commas).
pub fn split_list(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
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
