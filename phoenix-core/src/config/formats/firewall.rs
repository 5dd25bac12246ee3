//! pve-firewall's rule syntax: port lists and addresses.

use std::net::IpAddr;

use super::network::port_number;

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
