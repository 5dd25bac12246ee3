//! Network checks: NIC addresses, firewall rules, MAC and IP uniqueness.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::{Checker, lxc_ptr, vm_ptr};
use crate::config::diag::Diagnostic;
use crate::config::formats::{self, IpSetting};
use crate::config::guest::{Firewall, FirewallRule};
use crate::config::json::child;
use crate::ids::GuestId;

#[allow(clippy::too_many_arguments)]
pub(super) fn check_nic(
    c: &mut Checker<'_>,
    file: &Path,
    ptr: &str,
    id: GuestId,
    ip: Option<&str>,
    gw: Option<&str>,
    nameservers: &[String],
) {
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
    let ns_ptr = if file == c.inp.files.vm {
        child(ptr, "nameserver")
    } else {
        child(ptr, "nameservers")
    };
    for ns in nameservers {
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

pub(super) fn check_firewall(
    c: &mut Checker<'_>,
    file: &Path,
    ptr: &str,
    guest: Option<GuestId>,
    fw: &Firewall,
) {
    check_rules(c, file, &child(ptr, "rules"), guest, &fw.rules);
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

pub(super) fn check_unique_addresses(c: &mut Checker<'_>) {
    let mut macs: HashMap<String, (PathBuf, String, GuestId)> = HashMap::new();
    let mut ips: HashMap<Ipv4Addr, (GuestId, PathBuf)> = HashMap::new();
    struct Addr {
        id: GuestId,
        file: PathBuf,
        base: String,
        mac: Option<String>,
        ip: Option<String>,
    }
    let mut entries: Vec<Addr> = Vec::new();
    for (key, ct) in &c.inp.lxc.lxc_configs {
        let Ok(id) = key.parse::<GuestId>() else {
            continue;
        };
        let ip = ct.network_config.as_ref().and_then(|n| n.ip.clone());
        entries.push(Addr {
            id,
            file: c.inp.files.lxc.clone(),
            base: lxc_ptr(key),
            mac: ct.mac_address.clone(),
            ip,
        });
    }
    for (i, vm) in c.inp.vm.vms.iter().enumerate() {
        let Some(id) = vm.vmid.map(|r| r.0) else {
            continue;
        };
        let ip = vm.network_config.as_ref().and_then(|n| n.ip.clone());
        entries.push(Addr {
            id,
            file: c.inp.files.vm.clone(),
            base: vm_ptr(i),
            mac: vm.mac_address.clone(),
            ip,
        });
    }
    for Addr {
        id,
        file,
        base,
        mac,
        ip,
    } in entries
    {
        if let Some(mac) = mac {
            let norm = mac.to_ascii_lowercase();
            if let Some((_, _, other)) = macs.get(&norm) {
                let other = *other;
                c.err(
                    &file,
                    &child(&base, "mac_address"),
                    format!("guest {id} uses MAC address {mac}, already used by guest {other}"),
                )
                .guest = Some(id);
            } else {
                macs.insert(norm, (file.clone(), base.clone(), id));
            }
        }
        if let Some(Ok(IpSetting::Static(addr, _))) = ip.as_deref().map(formats::ip_setting) {
            if let Some((other, _)) = ips.get(&addr) {
                let other = *other;
                let d = c.warn(
                    &file,
                    &child(&child(&base, "network_config"), "ip"),
                    format!("guest {id} uses address {addr}, already used by guest {other}"),
                );
                d.hint = Some("only one of them can run at a time".to_string());
                d.guest = Some(id);
            } else {
                ips.insert(addr, (id, file.clone()));
            }
        }
    }
}
