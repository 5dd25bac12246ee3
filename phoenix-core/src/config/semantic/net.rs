//! Network checks: NIC addresses, firewall rules, MAC and IP uniqueness.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;

use super::{Checker, Site, sites};
use crate::config::diag::{Diagnostic, Work};
use crate::config::formats::{self, IpSetting};
use crate::config::guest::FirewallRule;
use crate::config::json::child;
use crate::ids::GuestId;

/// A NIC as written: its `ip`, `gw` and resolvers, and the key the resolvers are under.
pub(super) struct Nic<'a> {
    pub(super) ip: Option<&'a str>,
    pub(super) gw: Option<&'a str>,
    pub(super) nameservers: &'a [String],
    pub(super) nameserver_key: &'static str,
}

/// Address, gateway and resolvers of one NIC (`key` is its object, e.g. `network_config`).
pub(super) fn check_nic(c: &mut Checker<'_>, site: &Site<'_>, key: &str, nic: &Nic<'_>) {
    let (file, id) = (site.file.as_path(), site.id);
    let ptr = site.at(key);
    let ptr = ptr.as_str();
    let (ip, gw) = (nic.ip, nic.gw);
    let ip_setting = match ip.map(formats::ip_setting) {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            c.err(file, &child(ptr, "ip"), format!("guest {id}: {e}"))
                .guest = Some(id);
            None
        }
        None => None,
    };
    let gw_addr = match gw.map(formats::ipv4) {
        Some(Ok(a)) => Some(a),
        Some(Err(e)) => {
            c.err(file, &child(ptr, "gw"), format!("guest {id}: gateway {e}"))
                .guest = Some(id);
            None
        }
        None => None,
    };
    if let Some(IpSetting::Static(addr, prefix)) = ip_setting {
        match gw_addr {
            None if gw.is_none() => {
                c.warn(
                    file,
                    &child(ptr, "ip"),
                    format!("guest {id} has a static address but no gateway (no default route)"),
                )
                .guest = Some(id);
            }
            Some(g) if !formats::in_subnet(g, addr, prefix) => {
                c.warn(
                    file,
                    &child(ptr, "gw"),
                    format!("gateway {g} of guest {id} is outside its subnet {addr}/{prefix}"),
                )
                .guest = Some(id);
            }
            Some(g) if g == addr => {
                c.err(
                    file,
                    &child(ptr, "gw"),
                    format!("guest {id} uses its own address {g} as gateway"),
                )
                .guest = Some(id);
            }
            _ => {}
        }
    }
    let ns_ptr = child(ptr, nic.nameserver_key);
    for ns in nic.nameservers {
        if ns.parse::<std::net::IpAddr>().is_err() {
            c.err(
                file,
                &ns_ptr,
                format!("guest {id}: nameserver {ns:?} is not an IP address"),
            )
            .guest = Some(id);
        }
    }
}

pub(super) fn check_rules(
    c: &mut Checker<'_>,
    file: &Path,
    rules_ptr: &str,
    guest: Option<GuestId>,
    rules: &[FirewallRule],
) {
    let mut seen: HashMap<&FirewallRule, usize> = HashMap::new();
    for (i, r) in rules.iter().enumerate() {
        let rp = child(rules_ptr, &i.to_string());
        let tag = |d: &mut Diagnostic| d.guest = guest;
        for (k, v) in [("source", &r.source), ("dest", &r.dest)] {
            if let Some(v) = v {
                if let Err(e) = formats::firewall_address(v) {
                    tag(c.err(file, &child(&rp, k), format!("firewall rule {i}: {k}: {e}")));
                }
            }
        }
        for (k, v) in [("port", &r.port), ("sport", &r.sport)] {
            if let Some(v) = v {
                if let Err(e) = formats::firewall_ports(v) {
                    tag(c.err(file, &child(&rp, k), format!("firewall rule {i}: {k}: {e}")));
                }
                let proto_ok = matches!(
                    r.proto.as_deref(),
                    Some("tcp" | "udp" | "udplite" | "sctp" | "dccp")
                );
                if !proto_ok {
                    let d = c.err(
                        file,
                        &child(&rp, k),
                        format!("firewall rule {i}: a {k} needs \"proto\" tcp or udp"),
                    );
                    d.guest = guest;
                }
            }
        }
        if let Some(first) = seen.get(r) {
            let d = c.warn(file, &rp, format!("firewall rule {i} repeats rule {first}"));
            d.hint = Some("remove the duplicate".to_string());
            d.guest = guest;
        } else {
            seen.insert(r, i);
        }
    }
}

/// MAC and static addresses should be unique: a clash is a finding on the later guest that
/// blocks creating, converging and starting it (a template, never started, only has the
/// warning), not an error about the estate.
pub(super) fn check_unique_addresses(c: &mut Checker<'_>) {
    let mut macs: HashMap<String, GuestId> = HashMap::new();
    let mut ips: HashMap<Ipv4Addr, GuestId> = HashMap::new();
    let clash = |c: &mut Checker<'_>, site: &super::Site<'_>, key: &str, msg: String| {
        if site.guest.is_template() {
            c.guest_warn(site, key, msg);
        } else {
            c.guest_block(site, key, msg, &[Work::Converge, Work::Run]);
        }
    };
    for site in sites(c.inp) {
        let id = site.id;
        if let Some(mac) = site.guest.mac_address() {
            match macs.get(&mac.to_ascii_lowercase()) {
                Some(other) => {
                    let msg =
                        format!("guest {id} uses MAC address {mac}, already used by guest {other}");
                    clash(c, &site, "mac_address", msg);
                    c.report.last_mut().expect("pushed").hint = Some(
                        "two NICs with one MAC address on a bridge break each other's traffic"
                            .to_string(),
                    );
                }
                None => {
                    macs.insert(mac.to_ascii_lowercase(), id);
                }
            }
        }
        if let Some(Ok(IpSetting::Static(addr, _))) = site.guest.ip().map(formats::ip_setting) {
            match ips.get(&addr) {
                Some(other) => {
                    let msg =
                        format!("guest {id} uses address {addr}, already used by guest {other}");
                    clash(c, &site, "network_config/ip", msg);
                    c.report.last_mut().expect("pushed").hint =
                        Some("only one of them can run at a time".to_string());
                }
                None => {
                    ips.insert(addr, id);
                }
            }
        }
    }
}
