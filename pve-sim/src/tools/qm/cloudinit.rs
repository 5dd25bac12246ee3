//! The cloud-init documents Proxmox generates for a VM (user-data, network-config, meta-data).

use super::*;

/// The nocloud user-data, network-config and meta-data of a config.
pub(super) fn cloudinit_docs(conf: &Section, id: u32) -> (String, String, String) {
    let name = conf.get("name").map_or(format!("VM{id}"), str::to_string);
    let host = name.split('.').next().unwrap_or(&name).to_string();
    let fqdn = match conf.get("searchdomain") {
        Some(d) if !name.contains('.') => {
            format!("{name}.{}", d.split_whitespace().next().unwrap_or(d))
        }
        _ => name.clone(),
    };
    let mut user =
        format!("#cloud-config\nhostname: {host}\nmanage_etc_hosts: true\nfqdn: {fqdn}\n");
    if let Some(u) = conf.get("ciuser") {
        user.push_str(&format!("user: {u}\n"));
        if u == "root" {
            user.push_str("disable_root: False\n");
        }
    }
    if let Some(p) = conf.get("cipassword") {
        user.push_str(&format!("password: {p}\n"));
    }
    if let Some(k) = conf.get("sshkeys") {
        let decoded = crate::conf::decode_text(k);
        user.push_str("ssh_authorized_keys:\n");
        for l in decoded.lines().filter(|l| !l.trim().is_empty()) {
            user.push_str(&format!("  - {l}\n"));
        }
    }
    user.push_str("chpasswd:\n  expire: False\n");
    if conf.get("ciuser") != Some("root") {
        user.push_str("users:\n  - default\n");
    }
    if conf.get("ciupgrade") != Some("0") {
        user.push_str("package_upgrade: true\n");
    }
    let mut net = "version: 1\nconfig:\n".to_string();
    let mut nets: Vec<(&String, &String)> = conf
        .keys
        .iter()
        .filter(|(k, _)| k.starts_with("net") && k[3..].parse::<u32>().is_ok())
        .collect();
    nets.sort_by_key(|(k, _)| k[3..].parse::<u32>().unwrap_or(0));
    for (k, v) in nets {
        let n = &k[3..];
        let Some(ipc) = conf.get(&format!("ipconfig{n}")) else {
            continue;
        };
        let mac = parse_net(v)
            .ok()
            .and_then(|(_, m, _)| m)
            .unwrap_or_default()
            .to_ascii_lowercase();
        net.push_str(&format!(
            "    - type: physical\n      name: eth{n}\n      mac_address: '{mac}'\n      subnets:\n"
        ));
        let ps = PropStr::parse(ipc, None).unwrap_or_default();
        match ps.get("ip") {
            Some("dhcp") | None if ps.get("ip6").is_none() || ps.get("ip").is_some() => {
                net.push_str("      - type: dhcp4\n")
            }
            Some(cidr) if cidr != "manual" && cidr != "dhcp" => {
                let (addr, prefix) = cidr.split_once('/').unwrap_or((cidr, "24"));
                let bits: u32 = prefix.parse().unwrap_or(24);
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                let m = std::net::Ipv4Addr::from(mask);
                net.push_str(&format!(
                    "      - type: static\n        address: '{addr}'\n        netmask: '{m}'\n"
                ));
                if let Some(gw) = ps.get("gw") {
                    net.push_str(&format!("        gateway: '{gw}'\n"));
                }
            }
            _ => {}
        }
        match ps.get("ip6") {
            Some("dhcp") => net.push_str("      - type: dhcp6\n"),
            Some("auto") => net.push_str("      - type: ipv6_slaac\n"),
            Some(c) if c != "manual" => {
                net.push_str(&format!("      - type: static6\n        address: '{c}'\n"));
                if let Some(gw) = ps.get("gw6") {
                    net.push_str(&format!("        gateway: '{gw}'\n"));
                }
            }
            _ => {}
        }
    }
    let ns: Vec<&str> = conf
        .get("nameserver")
        .map(|n| n.split([' ', ',', ';']).filter(|x| !x.is_empty()).collect())
        .unwrap_or_default();
    let sd: Vec<&str> = conf
        .get("searchdomain")
        .map(|n| n.split([' ', ',', ';']).filter(|x| !x.is_empty()).collect())
        .unwrap_or_default();
    net.push_str("    - type: nameserver\n");
    if !ns.is_empty() {
        net.push_str("      address:\n");
        for n in &ns {
            net.push_str(&format!("      - '{n}'\n"));
        }
    }
    if !sd.is_empty() {
        net.push_str("      search:\n");
        for s in &sd {
            net.push_str(&format!("      - '{s}'\n"));
        }
    }
    let meta = format!(
        "instance-id: {}\n",
        sha1_smol::Sha1::from(format!("{user}{net}")).digest()
    );
    (user, net, meta)
}
