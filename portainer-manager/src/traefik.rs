//! Traefik's dynamic configuration (pure): the file-provider YAML for the routes of
//! [`phoenix_core::mesh`], in the shell version's layout (spec §10.1), and where the internal
//! CA's root is inside the Traefik container.
//!
//! Every router uses the `web` entrypoint: TLS ends at the gateway, which forwards plain HTTP
//! to Traefik. `https` upstreams are verified through the `internal-ca` servers transport.
//! The same inventory always gives the same bytes, so the sync writes (and Traefik reloads)
//! only when something changed.

use phoenix_core::config::Config;
use phoenix_core::ids::GuestId;
use phoenix_core::mesh::{self, Mesh, Target};

/// The first line of the generated file.
pub const HEADER: &str = "# Managed by phoenix portainer-manager (sync); edits are overwritten.";

/// The servers transports `https` upstreams use: `internal-ca-<route name>`.
pub const TRANSPORT: &str = "internal-ca";

/// The file-provider YAML for `mesh`. `root_ca` is the root certificate's path inside the
/// Traefik container; without it `rootCAs` is left out and Traefik verifies `https`
/// upstreams against the container's system store (which the `trusted_ca` feature fills).
///
/// Layout: `http:` with `routers:` (one per route: `<name>-router`, its `Host` rule, its
/// service — `api@internal` for the dashboard — and the `web` entrypoint), a blank line and
/// `services:` (one per upstream: `<name>-service` with one server URL, `passHostHeader`, and
/// for `https` the `internal-ca@file` transport), and, when an upstream is `https`, a blank
/// line and `serversTransports:` with one `internal-ca-<name>` per `https` upstream
/// (`insecureSkipVerify: false`, `serverName` the route's host). A mesh without routes gives
/// `http: {}`.
///
/// Upstreams are addressed by IP, while their certificates name hosts (the manifest issues
/// them for the route's host): Traefik verifies an upstream's certificate against the
/// transport's `serverName` (Traefik v3 `http.serversTransports.<name>.serverName`, also
/// sent as SNI), else against the URL's host, which an IP never matches.
pub fn dynamic_config(mesh: &Mesh, root_ca: Option<&str>) -> String {
    let mut t = format!("{HEADER}\n");
    if mesh.routes.is_empty() {
        t.push_str("http: {}\n");
        return t;
    }
    t.push_str("http:\n  routers:\n");
    for r in &mesh.routes {
        let service = match r.target {
            Target::Dashboard => "api@internal".to_string(),
            Target::Upstream { .. } => format!("{}-service", r.name),
        };
        t.push_str(&format!(
            "    {}:\n      rule: {}\n      service: {}\n      entryPoints:\n        - web\n",
            key(&format!("{}-router", r.name)),
            quoted(&format!("Host(`{}`)", r.host)),
            quoted(&service),
        ));
    }
    let upstreams: Vec<_> = mesh
        .routes
        .iter()
        .filter_map(|r| r.target.url().map(|u| (r, u)))
        .collect();
    if !upstreams.is_empty() {
        t.push_str("\n  services:\n");
        for (r, url) in &upstreams {
            t.push_str(&format!(
                "    {}:\n      loadBalancer:\n        servers:\n          - url: {}\n        passHostHeader: true\n",
                key(&format!("{}-service", r.name)),
                quoted(url),
            ));
            if r.target.is_https() {
                t.push_str(&format!(
                    "        serversTransport: {}\n",
                    quoted(&format!("{TRANSPORT}-{}@file", r.name))
                ));
            }
        }
    }
    let https: Vec<_> = upstreams
        .iter()
        .filter(|(r, _)| r.target.is_https())
        .collect();
    if !https.is_empty() {
        t.push_str("\n  serversTransports:\n");
        for (r, _) in https {
            t.push_str(&format!(
                "    {}:\n      serverName: {}\n      insecureSkipVerify: false\n",
                key(&format!("{TRANSPORT}-{}", r.name)),
                quoted(&r.host),
            ));
            if let Some(ca) = root_ca {
                t.push_str(&format!(
                    "      rootCAs:\n        - {}\n",
                    plain_or_quoted(ca)
                ));
            }
        }
    }
    t
}

/// The internal CA's root certificate inside the Traefik container `traefik_ct`: the host
/// file `step_ca.root_ca_file` or, when that is not set, the shell version's location (the CA
/// container's bind mount for [`CA_STATE_DIR`], plus `/`[`CA_ROOT_FILE`]), mapped through the
/// Traefik container's `mount_points`. `None` when the file is not reachable from inside.
pub fn root_ca_in_container(cfg: &Config, traefik_ct: GuestId) -> Option<String> {
    let host_file = mesh::ca_root_file(cfg)?;
    mesh::container_path(cfg, traefik_ct, &host_file)
}

/// A mapping key: route names are validated (`[a-z0-9][a-z0-9_-]*`), so they are plain
/// YAML; anything else is quoted.
fn key(name: &str) -> String {
    if mesh::valid_name(name) {
        name.to_string()
    } else {
        quoted(name)
    }
}

/// A double-quoted YAML scalar (`"` and `\` escaped, control characters as `\xNN`).
fn quoted(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => q.push_str(&format!("\\x{:02x}", c as u32)),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// A path as a plain scalar when it is only `[A-Za-z0-9/._-]` (what the shell version wrote),
/// else quoted.
fn plain_or_quoted(s: &str) -> String {
    let plain = !s.is_empty()
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-'));
    if plain { s.to_string() } else { quoted(s) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phoenix_core::mesh::{Route, Scheme};

    fn route(name: &str, target: Target) -> Route {
        Route {
            name: name.into(),
            host: format!("{name}.lab.example"),
            target,
            from: "test".into(),
        }
    }

    fn up(scheme: Scheme, port: u16) -> Target {
        Target::Upstream {
            scheme,
            address: "10.0.0.5".parse().unwrap(),
            port,
        }
    }

    #[test]
    fn the_layout_is_the_shell_versions() {
        let m = Mesh {
            routes: vec![
                route("portainer", up(Scheme::Https, 9443)),
                route("qdrant", up(Scheme::Http, 6333)),
                Route {
                    name: mesh::DASHBOARD.into(),
                    host: "traefik.lab.example".into(),
                    target: Target::Dashboard,
                    from: "test".into(),
                },
            ],
            notes: vec![],
        };
        insta::assert_snapshot!(dynamic_config(&m, Some("/etc/step-ca/ssl/phoenix_root_ca.crt")), @r#"
        # Managed by phoenix portainer-manager (sync); edits are overwritten.
        http:
          routers:
            portainer-router:
              rule: "Host(`portainer.lab.example`)"
              service: "portainer-service"
              entryPoints:
                - web
            qdrant-router:
              rule: "Host(`qdrant.lab.example`)"
              service: "qdrant-service"
              entryPoints:
                - web
            traefik-dashboard-router:
              rule: "Host(`traefik.lab.example`)"
              service: "api@internal"
              entryPoints:
                - web

          services:
            portainer-service:
              loadBalancer:
                servers:
                  - url: "https://10.0.0.5:9443"
                passHostHeader: true
                serversTransport: "internal-ca-portainer@file"
            qdrant-service:
              loadBalancer:
                servers:
                  - url: "http://10.0.0.5:6333"
                passHostHeader: true

          serversTransports:
            internal-ca-portainer:
              serverName: "portainer.lab.example"
              insecureSkipVerify: false
              rootCAs:
                - /etc/step-ca/ssl/phoenix_root_ca.crt
        "#);
    }

    #[test]
    fn sections_without_content_are_left_out() {
        let http_only = Mesh {
            routes: vec![route("qdrant", up(Scheme::Http, 6333))],
            notes: vec![],
        };
        let t = dynamic_config(&http_only, Some("/ca.crt"));
        assert!(!t.contains("serversTransports"), "{t}");
        assert!(!t.contains("/ca.crt"), "{t}");
        let https = Mesh {
            routes: vec![route("p", up(Scheme::Https, 443))],
            notes: vec![],
        };
        let t = dynamic_config(&https, None);
        assert!(
            t.ends_with(
                "  serversTransports:\n    internal-ca-p:\n      serverName: \"p.lab.example\"\n      insecureSkipVerify: false\n"
            ),
            "{t}"
        );
        let dashboard_only = Mesh {
            routes: vec![Route {
                name: mesh::DASHBOARD.into(),
                host: "traefik.x".into(),
                target: Target::Dashboard,
                from: "test".into(),
            }],
            notes: vec![],
        };
        let t = dynamic_config(&dashboard_only, None);
        assert!(!t.contains("services:"), "{t}");
        assert_eq!(
            dynamic_config(&Mesh::default(), None),
            format!("{HEADER}\nhttp: {{}}\n")
        );
    }

    #[test]
    fn values_are_quoted_safely() {
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quoted("a\nb"), r#""a\x0ab""#);
        assert_eq!(key("ok-name"), "ok-name");
        assert_eq!(key("Bad: name"), "\"Bad: name\"");
        assert_eq!(plain_or_quoted("/etc/x_y-z.crt"), "/etc/x_y-z.crt");
        assert_eq!(plain_or_quoted("/etc/my ca.crt"), "\"/etc/my ca.crt\"");
        assert_eq!(plain_or_quoted("-x"), "\"-x\"");
        let m = Mesh {
            routes: vec![Route {
                name: "x".into(),
                host: "a\"b".into(),
                target: Target::Dashboard,
                from: "test".into(),
            }],
            notes: vec![],
        };
        assert!(dynamic_config(&m, None).contains("rule: \"Host(`a\\\"b`)\"\n"));
    }
}
