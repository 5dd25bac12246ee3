//! The Nginx gateway's site (pure): TLS ends at the gateway, which passes every request to
//! Traefik's `web` entrypoint (spec §10.2), for every host the mesh routes.
//!
//! Decisions on the shell version's bugs (P39): `server_name` lists the gateway's own name and
//! every route host (not only `nginx.` and `portainer.`), HTTP/2 is the `listen … ssl http2`
//! parameter, and both servers listen on IPv6 too. Not the `http2 on;` directive: it exists
//! only from nginx 1.25.1 (nginx.org ngx_http_v2_module), and the gateway runs the distribution's
//! nginx (Debian 12: 1.22, Ubuntu 24.04: 1.24), which refuses it as an unknown directive; newer
//! nginx still accepts the `listen` parameter, with a deprecation warning. The certificate and key come from the certificate manifest, as paths inside the
//! gateway container, instead of a hard-coded directory.

use std::net::IpAddr;

use phoenix_core::config::{Config, Guest};
use phoenix_core::ids::GuestId;
use phoenix_core::mesh::{self, Mesh};

/// The first line of the generated file.
pub const HEADER: &str = "# Managed by phoenix portainer-manager (sync); edits are overwritten.";

/// Where the ACME HTTP-01 challenges are served from.
pub const ACME_ROOT: &str = "/var/www/html";

/// Traefik's `web` entrypoint.
pub const TRAEFIK_PORT: u16 = 80;

/// What the gateway site says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// `domain_name`.
    pub domain: String,
    /// The gateway's own name first, then every route host, sorted, each once.
    pub server_names: Vec<String>,
    /// The certificate, as a path inside the gateway container.
    pub cert: String,
    /// The key, as a path inside the gateway container.
    pub key: String,
    /// Traefik's address (`proxy_pass http://<traefik>:80`).
    pub traefik: IpAddr,
}

/// The site for the configuration's gateway and `mesh`: the gateway container, its name and
/// certificate, Traefik's static address. Errors say which of them is missing.
pub fn site(cfg: &Config, mesh: &Mesh) -> Result<Site, String> {
    let roles = mesh::roles(cfg);
    let domain = domain(cfg).ok_or("domain_name is not set: the gateway has no names to serve")?;
    let gw = roles
        .gateway
        .ok_or("no gateway container (a container whose name or application_script mentions nginx or gateway, or container 101)")?;
    let tr = roles
        .traefik
        .ok_or("no Traefik container (a container with the feature traefik)")?;
    let traefik = cfg
        .guest(tr)
        .as_ref()
        .and_then(mesh::static_ip)
        .ok_or_else(|| format!("the Traefik container {tr} has no static address"))?;
    let own = gateway_name(cfg, gw).ok_or_else(|| format!("container {gw} is not configured"))?;
    let (cert, key) = gateway_certificate(cfg, gw)?;
    Ok(Site {
        server_names: server_names(&own, mesh),
        domain,
        cert,
        key,
        traefik,
    })
}

/// `own` first, then every route host, sorted, each once.
pub fn server_names(own: &str, mesh: &Mesh) -> Vec<String> {
    let mut hosts: Vec<String> = mesh
        .routes
        .iter()
        .map(|r| r.host.clone())
        .filter(|h| h != own)
        .collect();
    hosts.sort();
    hosts.dedup();
    let mut names = vec![own.to_string()];
    names.extend(hosts);
    names
}

/// The gateway site.
pub fn gateway_site(s: &Site) -> String {
    let names = s.server_names.join(" ");
    format!(
        "{HEADER}
# The gateway for {domain}: TLS ends here; Traefik routes every request by host name.

server {{
    listen 80;
    listen [::]:80;
    server_name _;

    location /.well-known/acme-challenge/ {{
        root {ACME_ROOT};
    }}

    location / {{
        return 301 https://$host$request_uri;
    }}
}}

server {{
    listen 443 ssl http2;
    listen [::]:443 ssl http2;
    server_name {names};

    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;

    location / {{
        proxy_pass http://{traefik};
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }}
}}
",
        domain = s.domain,
        cert = value(&s.cert),
        key = value(&s.key),
        traefik = std::net::SocketAddr::new(s.traefik, TRAEFIK_PORT),
    )
}

/// The gateway's own host name: `<traefik_service.name or the guest name, lower-cased>.
/// <domain_name>`.
pub fn gateway_name(cfg: &Config, gateway_ct: GuestId) -> Option<String> {
    let Some(Guest::Lxc(_, c)) = cfg.guest(gateway_ct) else {
        return None;
    };
    let short = c
        .traefik_service
        .as_ref()
        .map(|t| t.name.trim())
        .filter(|n| !n.is_empty())
        .unwrap_or(c.name.trim())
        .to_ascii_lowercase();
    Some(match domain(cfg) {
        Some(d) => format!("{short}.{d}"),
        None => short,
    })
}

/// The gateway's certificate and key, as paths inside container `gateway_ct`: the
/// certificate manifest's entry whose `common_name` is the gateway's name (see
/// [`gateway_name`]) when both its files map into the container through its
/// `mount_points`, else the first entry whose files both do.
pub fn gateway_certificate(cfg: &Config, gateway_ct: GuestId) -> Result<(String, String), String> {
    let manifest = cfg.files.certificates.display();
    let inside = |c: &phoenix_core::config::certs::Certificate| {
        Some((
            mesh::container_path(cfg, gateway_ct, &c.cert_path)?,
            mesh::container_path(cfg, gateway_ct, &c.key_path)?,
        ))
    };
    let own = gateway_name(cfg, gateway_ct);
    let named = cfg
        .certificates
        .iter()
        .find(|c| Some(c.common_name.trim().to_ascii_lowercase()) == own);
    if let Some(paths) = named.and_then(inside) {
        return Ok(paths);
    }
    if let Some(paths) = cfg.certificates.iter().find_map(inside) {
        return Ok(paths);
    }
    let why = match (named, &own) {
        (Some(c), _) => format!(
            "the entry for {} ({}, {}) is not under any of its mount_points",
            c.common_name, c.cert_path, c.key_path
        ),
        (None, Some(n)) => format!(
            "no entry is named {n}, and no entry's cert_path and key_path are under its mount_points"
        ),
        (None, None) => format!("container {gateway_ct} is not configured"),
    };
    Err(format!(
        "no certificate in {manifest} is reachable inside the gateway container {gateway_ct}: {why}"
    ))
}

fn domain(cfg: &Config) -> Option<String> {
    cfg.host
        .domain_name
        .as_deref()
        .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
}

/// An nginx directive value: as is when it has no character nginx treats specially, else
/// double-quoted with `"` and `\` escaped.
fn value(s: &str) -> String {
    let special = s.is_empty()
        || s.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, ';' | '{' | '}' | '#' | '"' | '\'' | '\\')
        });
    if !special {
        return s.to_string();
    }
    let mut q = String::from("\"");
    for c in s.chars() {
        if matches!(c, '"' | '\\') {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use phoenix_core::mesh::{Route, Target};

    #[test]
    fn the_site_ends_tls_and_passes_everything_to_traefik() {
        let s = Site {
            domain: "lab.example".into(),
            server_names: vec![
                "gateway.lab.example".into(),
                "a.lab.example".into(),
                "b.lab.example".into(),
            ],
            cert: "/etc/nginx/ssl/gateway.lab.example.crt".into(),
            key: "/etc/nginx/ssl/gateway.lab.example.key".into(),
            traefik: "10.0.0.12".parse().unwrap(),
        };
        insta::assert_snapshot!(gateway_site(&s), @r"
        # Managed by phoenix portainer-manager (sync); edits are overwritten.
        # The gateway for lab.example: TLS ends here; Traefik routes every request by host name.

        server {
            listen 80;
            listen [::]:80;
            server_name _;

            location /.well-known/acme-challenge/ {
                root /var/www/html;
            }

            location / {
                return 301 https://$host$request_uri;
            }
        }

        server {
            listen 443 ssl http2;
            listen [::]:443 ssl http2;
            server_name gateway.lab.example a.lab.example b.lab.example;

            ssl_certificate /etc/nginx/ssl/gateway.lab.example.crt;
            ssl_certificate_key /etc/nginx/ssl/gateway.lab.example.key;
            ssl_protocols TLSv1.2 TLSv1.3;

            location / {
                proxy_pass http://10.0.0.12:80;
                proxy_set_header Host $host;
                proxy_set_header X-Real-IP $remote_addr;
                proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                proxy_set_header X-Forwarded-Proto $scheme;
            }
        }
        ");
    }

    #[test]
    fn server_names_put_the_gateway_first_then_sorted_hosts_once() {
        let r = |name: &str, host: &str| Route {
            name: name.into(),
            host: host.into(),
            target: Target::Dashboard,
            from: "test".into(),
        };
        let m = Mesh {
            routes: vec![
                r("z", "z.x"),
                r("a", "a.x"),
                r("gw", "gw.x"),
                r("a2", "a.x"),
            ],
            notes: vec![],
        };
        assert_eq!(server_names("gw.x", &m), ["gw.x", "a.x", "z.x"]);
    }

    #[test]
    fn odd_paths_are_quoted() {
        assert_eq!(value("/etc/nginx/ssl/a.crt"), "/etc/nginx/ssl/a.crt");
        assert_eq!(value("/etc/my certs/a.crt"), "\"/etc/my certs/a.crt\"");
        assert_eq!(value("/a;b\"c\\"), r#""/a;b\"c\\""#);
        assert_eq!(value(""), "\"\"");
    }
}
