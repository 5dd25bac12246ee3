//! Checks of the host file: addresses, pools, datasets, exports, secrets, users.

use std::collections::{BTreeSet, HashMap};

use super::Checker;
use super::net::check_rules;
use crate::config::formats;
use crate::ids::GuestId;

/// `certificate-manifest.json`: what sync runs and sets must make sense before it runs.
pub(super) fn check_certificates(c: &mut Checker<'_>) {
    let file = c.inp.files.certificates.clone();
    for (i, cert) in c.inp.certificates.iter().enumerate() {
        let at = |k: &str| format!("/{i}/{k}");
        if let Err(e) = formats::dns_name(&cert.common_name) {
            c.err(&file, &at("common_name"), e);
        }
        for (j, san) in cert.sans.iter().enumerate() {
            if san.parse::<std::net::IpAddr>().is_err()
                && let Err(e) = formats::dns_name(san)
            {
                c.err(&file, &format!("/{i}/sans/{j}"), e);
            }
        }
        for k in ["cert_path", "key_path"] {
            let v = if k == "cert_path" {
                &cert.cert_path
            } else {
                &cert.key_path
            };
            if !v.starts_with('/') {
                c.err(&file, &at(k), format!("{v:?} is not an absolute host path"));
            }
        }
        if let Some(o) = cert.owner.as_deref().filter(|o| !o.is_empty()) {
            let (u, g) = o.split_once(':').unwrap_or((o, ""));
            for n in [u, g].into_iter().filter(|n| !n.is_empty()) {
                if let Err(e) = formats::login_name(n) {
                    c.err(&file, &at("owner"), format!("{o:?}: {e}"));
                }
            }
        }
        if let Some(cmd) = cert.post_renewal_command.as_deref()
            && shlex::split(cmd).is_none()
        {
            let d = c.err(
                &file,
                &at("post_renewal_command"),
                format!("{cmd:?} has unbalanced quotes"),
            );
            d.hint = Some(
                "it runs as a command line without a shell: quote words with ' or \"".to_string(),
            );
        }
    }
}

pub(super) fn check_host(c: &mut Checker<'_>) {
    let file = c.inp.files.host.clone();
    let h = c.inp.host;
    if let Some(i) = &h.network.interfaces {
        if let Some(a) = &i.address {
            if let Err(e) = formats::ipv4_cidr(a) {
                c.err(
                    &file,
                    "/network/interfaces/address",
                    format!("host address {e}"),
                );
            }
        }
        if let Some(g) = &i.gateway {
            if let Err(e) = formats::ipv4(g) {
                c.err(
                    &file,
                    "/network/interfaces/gateway",
                    format!("host gateway {e}"),
                );
            }
        }
        for (n, ns) in i.dns_nameservers.items().iter().enumerate() {
            if ns.parse::<std::net::IpAddr>().is_err() {
                c.err(
                    &file,
                    &format!("/network/interfaces/dns_nameservers/{n}"),
                    format!("nameserver {ns:?} is not an IP address"),
                );
            }
        }
    }
    for (k, v) in [
        ("nfs_server", &h.network.nfs_server),
        ("portainer_server_ip", &h.network.portainer_server_ip),
        ("fallback_dns", &h.network.fallback_dns),
    ] {
        if let Some(v) = v {
            if let Err(e) = formats::ipv4(v) {
                c.err(&file, &format!("/network/{k}"), e);
            }
        }
    }
    if let Some(s) = &h.network.default_subnet {
        if let Err(e) = formats::ipv4_cidr(s) {
            c.err(&file, "/network/default_subnet", e);
        }
    }
    if let Some(hn) = &h.network.hostname {
        if let Err(e) = formats::dns_name(hn) {
            c.err(&file, "/network/hostname", e);
        } else if hn.contains('.') {
            c.err(
                &file,
                "/network/hostname",
                format!("{hn:?} is a domain name; a Proxmox node name is one label (set domain_name for the domain)"),
            );
        }
    }
    let pools: BTreeSet<&str> = h.zfs.pools.iter().map(|p| p.name.as_str()).collect();
    let mut seen_pools = BTreeSet::new();
    for (i, p) in h.zfs.pools.iter().enumerate() {
        if !seen_pools.insert(p.name.as_str()) {
            c.err(
                &file,
                &format!("/zfs/pools/{i}/name"),
                format!("pool {:?} is defined twice", p.name),
            );
        }
        let min = match p
            .raid_level
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("mirror") => 2,
            Some("raidz1") => 3,
            Some("raidz2") => 4,
            Some("raidz3") => 5,
            _ => 1,
        };
        if p.disks.len() < min {
            c.err(
                &file,
                &format!("/zfs/pools/{i}/disks"),
                format!(
                    "pool {:?} ({}) needs at least {min} disks, has {}",
                    p.name,
                    p.raid_level.as_deref().unwrap_or("single"),
                    p.disks.len()
                ),
            );
        }
    }
    let mut all_disks: HashMap<&str, usize> = HashMap::new();
    for (i, p) in h.zfs.pools.iter().enumerate() {
        for (j, d) in p.disks.iter().enumerate() {
            if let Some(prev) = all_disks.insert(d.as_str(), i) {
                c.err(
                    &file,
                    &format!("/zfs/pools/{i}/disks/{j}"),
                    format!("disk {d} is used twice (also in /zfs/pools/{prev})"),
                );
            }
        }
    }
    let mut datasets = BTreeSet::new();
    for (i, d) in h.zfs.datasets.iter().enumerate() {
        if !pools.contains(d.pool.as_str()) {
            c.warn(
                &file,
                &format!("/zfs/datasets/{i}/pool"),
                format!(
                    "dataset {:?} is on pool {:?}, which zfs.pools does not define",
                    d.name, d.pool
                ),
            )
            .hint = Some("setup creates datasets only on existing pools".to_string());
        }
        if !datasets.insert(format!("{}/{}", d.pool, d.name)) {
            c.err(
                &file,
                &format!("/zfs/datasets/{i}"),
                format!("dataset {}/{} is defined twice", d.pool, d.name),
            );
        }
    }
    for (i, e) in h.nfs.exports.iter().enumerate() {
        for (j, cl) in e.clients.iter().enumerate() {
            let ok = cl == "*"
                || formats::ipv4(cl).is_ok()
                || formats::ipv4_cidr(cl).is_ok()
                || formats::dns_name(cl.trim_start_matches("*.")).is_ok();
            if !ok {
                c.err(
                    &file,
                    &format!("/nfs/exports/{i}/clients/{j}"),
                    format!("NFS client {cl:?} is not an address, network or host name"),
                );
            }
        }
        if e.options.iter().any(|o| o == "no_root_squash") {
            c.note(
                &file,
                &format!("/nfs/exports/{i}/options"),
                format!(
                    "export {} uses no_root_squash: root on a client is root on the export",
                    e.path
                ),
            );
        }
    }
    if let Some(fw) = &h.firewall {
        check_rules(
            c,
            &file,
            "/firewall/global_firewall_rules",
            None,
            &fw.global_firewall_rules,
        );
    }
    if let Some(api) = &h.portainer_api {
        if api.admin_password.as_deref().is_some_and(|p| !p.is_empty()) {
            let d = c.warn(
                &file,
                "/portainer_api/admin_password",
                "the Portainer admin password is stored inline in the config".to_string(),
            );
            d.hint = Some(
                "move it to a root-only file (mode 0600) and name it in \"admin_password_file\""
                    .to_string(),
            );
        }
        if let Some(u) = &api.url
            && let Err(e) = formats::https_base_url(u)
        {
            c.err(&file, "/portainer_api/url", e);
        }
        if let Some(a) = &api.connect_address
            && let Err(e) = formats::address_maybe_port(a)
        {
            c.err(&file, "/portainer_api/connect_address", e);
        }
        if api.url.is_none()
            && let Some(h) = api.portainer_hostname.as_deref().filter(|h| !h.is_empty())
            && let Err(e) = formats::dns_name(h)
        {
            c.err(&file, "/portainer_api/portainer_hostname", e);
        }
        if api.admin_password.is_some() && api.admin_password_file.is_some() {
            c.note(
                &file,
                "/portainer_api/admin_password",
                "admin_password_file takes precedence over the inline admin_password".to_string(),
            );
        }
    }
    if let Some(u) = &h.users {
        if u.password_hash
            .as_deref()
            .is_some_and(|p| !p.is_empty() && p != "NOT_SET")
        {
            c.warn(
                &file,
                "/users/password_hash",
                "the admin password hash is stored inline in the config".to_string(),
            )
            .hint = Some(
                "move it to a root-only file and name it in \"password_hash_file\"".to_string(),
            );
        }
        if let Some(h) = u
            .password_hash
            .as_deref()
            .filter(|p| !p.is_empty() && *p != "NOT_SET")
        {
            if !crate::host::accounts::is_crypt_hash(h) {
                c.err(
                    &file,
                    "/users/password_hash",
                    "not a crypt(3) hash ($id$salt$hash, e.g. from `mkpasswd -m yescrypt`)"
                        .to_string(),
                );
            }
        }
        if let Some(n) = &u.username {
            if let Err(e) = formats::login_name(n) {
                c.err(&file, "/users/username", e);
            }
        }
        if let Some(k) = u
            .ssh_public_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
        {
            if let Err(e) = formats::ssh_public_key(k) {
                c.err(&file, "/users/ssh_public_key", e);
            }
        }
    }
    check_setup(c, &file);
    for (name, vol) in &h.shared_volumes {
        for ctid in vol.mounts.keys() {
            if let Ok(id) = ctid.parse::<GuestId>() {
                if !c.guests.contains_key(&id) {
                    c.note(&file, &format!("/shared_volumes/{name}/mounts/{ctid}"), format!("shared volume {name:?} names guest {id}, which is not configured (not used by phoenix)"));
                }
            }
        }
    }
}

/// What `hypervisor-manager setup` reads beyond shapes: time zone, Samba, NFS exports, the
/// DNS server, the NVIDIA runfile, VFIO. Errors here stop every verb before a host command.
fn check_setup(c: &mut Checker<'_>, file: &std::path::Path) {
    let h = c.inp.host;
    if let Some(tz) = &h.timezone {
        if let Err(e) = formats::timezone(tz) {
            c.err(file, "/timezone", e);
        }
    }
    if let Some(w) = &h.network.workgroup {
        if let Err(e) = formats::workgroup(w) {
            c.err(file, "/network/workgroup", e);
        }
    }
    if let Some(samba) = &h.samba {
        if let Some(u) = &samba.user {
            if let Err(e) = formats::login_name(u) {
                c.err(file, "/samba/user", e);
            }
        }
        let mut names = BTreeSet::new();
        for (i, s) in samba.shares.iter().enumerate() {
            if let Err(e) = formats::samba_share_name(&s.name) {
                c.err(file, &format!("/samba/shares/{i}/name"), e);
            } else if !names.insert(s.name.to_ascii_lowercase()) {
                c.err(
                    file,
                    &format!("/samba/shares/{i}/name"),
                    format!("share {:?} is defined twice", s.name),
                );
            }
            let rel = s.path.trim_start_matches('/');
            if rel.is_empty()
                || s.path.contains(['\n', '\r'])
                || s.path.split('/').any(|p| p == "..")
            {
                c.err(
                    file,
                    &format!("/samba/shares/{i}/path"),
                    format!("{:?} is not a directory path", s.path),
                );
            }
            for (j, u) in s.valid_users.iter().enumerate() {
                if let Err(e) = formats::login_name(u.trim_start_matches(['@', '+'])) {
                    c.err(
                        file,
                        &format!("/samba/shares/{i}/valid_users/{j}"),
                        format!("{e} or @group"),
                    );
                }
            }
        }
    }
    for (i, e) in h.nfs.exports.iter().enumerate() {
        if !e.path.starts_with('/') || e.path.contains(char::is_whitespace) {
            c.err(
                file,
                &format!("/nfs/exports/{i}/path"),
                format!("{:?} is not an absolute path without spaces", e.path),
            );
        }
        if e.clients.is_empty() {
            c.err(
                file,
                &format!("/nfs/exports/{i}/clients"),
                format!("export {} has no clients", e.path),
            );
        }
        for (j, o) in e.options.iter().enumerate() {
            if let Err(err) = formats::nfs_export_option(o) {
                c.err(file, &format!("/nfs/exports/{i}/options/{j}"), err);
            }
        }
    }
    if let Some(dns) = &h.dns_server {
        for (i, u) in dns.upstream_servers.iter().enumerate() {
            if u.parse::<std::net::IpAddr>().is_err() {
                c.err(
                    file,
                    &format!("/dns_server/upstream_servers/{i}"),
                    format!("upstream server {u:?} is not an IP address"),
                );
            }
        }
        if dns.enabled == Some(true) {
            if dns.upstream_servers.is_empty() {
                c.err(file, "/dns_server/upstream_servers", "the DNS server is enabled but has no upstream servers: it would answer nothing outside domain_name".to_string());
            }
            match h.domain_name.as_deref() {
                None | Some("") => {
                    c.err(file, "/domain_name", "the DNS server is enabled, so domain_name (the zone it answers for) is required".to_string());
                }
                Some(d) => {
                    if let Err(e) = formats::dns_name(d) {
                        c.err(file, "/domain_name", e);
                    }
                }
            }
            if h.network
                .interfaces
                .as_ref()
                .and_then(|i| i.address.as_ref())
                .is_none()
            {
                c.err(file, "/network/interfaces", "the DNS server is enabled, so network.interfaces.address (where it listens) is required".to_string());
            }
        }
    }
    let nv = &h.nvidia_driver;
    if let Some(sha) = &nv.runfile_sha256 {
        if let Err(e) = formats::sha256(sha) {
            c.err(file, "/nvidia_driver/runfile_sha256", e);
        }
    }
    if let Some(url) = &nv.runfile_url {
        if let Err(e) = formats::runfile_url(url) {
            c.err(file, "/nvidia_driver/runfile_url", e);
        }
    }
    if nv.install == Some(true) {
        if nv.version.as_deref().is_none_or(str::is_empty) {
            c.err(
                file,
                "/nvidia_driver",
                "install is true, so version (the driver to install) is required".to_string(),
            );
        }
        if nv.runfile_url.is_none() {
            c.err(
                file,
                "/nvidia_driver",
                "install is true, so runfile_url is required".to_string(),
            );
        }
    }
    if let Some(v) = &h.vfio {
        for (i, id) in v.pci_ids.iter().enumerate() {
            if let Err(e) = formats::pci_id(id) {
                c.err(file, &format!("/vfio/pci_ids/{i}"), e);
            }
        }
        if v.enabled == Some(true) && v.pci_ids.is_empty() {
            c.err(
                file,
                "/vfio/pci_ids",
                "vfio is enabled but names no device".to_string(),
            );
        }
    }
}
