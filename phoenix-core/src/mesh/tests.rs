//! The mesh rules on small in-memory configurations, and the routes of the example and
//! reference configurations (snapshots; the reference is skipped with a note when absent).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::*;
use crate::config::stacks::Stack;
use crate::config::{ConfigLocation, Eras, LoadOptions};
use crate::paths::Layout;

/// A configuration built in memory: the host block, `lxc_configs`, `vms` and stack
/// manifests by name (nothing is read from disk).
fn config(host: Value, lxc: Value, vms: Value, stacks: Value) -> Config {
    let location = ConfigLocation::resolve(
        Some(Path::new("/nonexistent/etc")),
        None,
        &Layout::new("/nonexistent", "/"),
    );
    let host: crate::config::host::HostConfig = serde_json::from_value(host).unwrap();
    let files = location.files(&host.core_paths);
    let stacks: BTreeMap<String, Stack> = stacks
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(name, m)| {
                    let stack = Stack::in_dir(
                        name,
                        PathBuf::from("/nonexistent/stacks").join(name),
                        serde_json::from_value(m.clone()).unwrap(),
                    );
                    (name.clone(), stack)
                })
                .collect()
        })
        .unwrap_or_default();
    Config {
        location,
        files,
        host,
        lxc: serde_json::from_value(json!({ "lxc_configs": lxc })).unwrap(),
        vm: serde_json::from_value(json!({ "vms": vms })).unwrap(),
        stacks_catalogue: None,
        stacks,
        certificates: Vec::new(),
        eras: Eras::default(),
        blockers: Vec::new(),
    }
}

fn host() -> Value {
    json!({"domain_name": "Lab.Example."})
}

fn ct(name: &str, ip: &str, extra: Value) -> Value {
    let mut v =
        json!({"name": name, "network_config": {"name": "eth0", "bridge": "vmbr0", "ip": ip}});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn vm(id: u32, name: &str, ip: &str, extra: Value) -> Value {
    let mut v = json!({"vmid": id, "name": name, "network_config": {"ip": ip}});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// A stack manifest with one environment holding `services`.
fn manifest(env: &str, services: Value) -> Value {
    json!({"environments": {env: {"services": services}}})
}

fn labels(l: &[&str]) -> Value {
    json!({ "traefik_labels": l })
}

/// Routes as `name host target from` lines.
fn show(m: &Mesh) -> String {
    let mut t = String::new();
    for r in &m.routes {
        t.push_str(&format!(
            "{} {} {} ({})\n",
            r.name, r.host, r.target, r.from
        ));
    }
    for n in &m.notes {
        t.push_str(&format!("note: {n}\n"));
    }
    t
}

fn up(scheme: Scheme, ip: &str, port: u16) -> Target {
    Target::Upstream {
        scheme,
        address: ip.parse().unwrap(),
        port,
    }
}

/// The usual three infrastructure containers.
fn infra() -> Value {
    json!({
        "101": ct("gateway", "10.0.0.11/24", json!({})),
        "102": ct("traefik", "10.0.0.12/24", json!({"features": ["base_setup", "traefik"]})),
        "103": ct("ca", "10.0.0.10/24", json!({"features": ["step_ca"]})),
    })
}

#[test]
fn roles_come_from_features_names_and_portainer_roles_and_skip_templates() {
    let cfg = config(
        host(),
        json!({
            "900": ct("tmpl-nginx", "dhcp", json!({"is_template": true, "features": ["traefik", "step_ca"]})),
            "104": ct("edge", "10.0.0.14/24", json!({"application_script": "setup_NGINX.sh"})),
            "105": ct("proxy", "10.0.0.15/24", json!({"features": ["traefik"]})),
            "106": ct("proxy2", "10.0.0.16/24", json!({"features": ["traefik"]})),
            "107": ct("pki", "10.0.0.17/24", json!({"features": ["base_setup", "step_ca"]})),
            "108": ct("My-Gateway", "10.0.0.18/24", json!({})),
        }),
        json!([
            vm(
                9000,
                "tmpl",
                "dhcp",
                json!({"is_template": true, "portainer_role": "primary"})
            ),
            vm(
                1003,
                "agent-b",
                "10.0.0.33/24",
                json!({"portainer_role": "agent"})
            ),
            vm(
                1001,
                "server",
                "10.0.0.31/24",
                json!({"portainer_role": "primary"})
            ),
            vm(
                1002,
                "agent-a",
                "10.0.0.32/24",
                json!({"portainer_role": "agent"})
            ),
            vm(
                1004,
                "server2",
                "10.0.0.34/24",
                json!({"portainer_role": "primary"})
            ),
        ]),
        json!({}),
    );
    assert_eq!(
        roles(&cfg),
        Roles {
            gateway: Some(GuestId(104)),
            traefik: Some(GuestId(105)),
            ca: Some(GuestId(107)),
            portainer: Some(GuestId(1001)),
            agents: vec![GuestId(1003), GuestId(1002)],
        }
    );
}

#[test]
fn without_a_named_gateway_container_101_is_the_gateway() {
    let lxc = json!({
        "101": ct("web", "10.0.0.11/24", json!({})),
        "102": ct("traefik", "10.0.0.12/24", json!({"features": ["traefik"]})),
    });
    let cfg = config(host(), lxc, json!([]), json!({}));
    assert_eq!(roles(&cfg).gateway, Some(GuestId(101)));
    let none = config(
        host(),
        json!({"102": ct("traefik", "10.0.0.12/24", json!({}))}),
        json!([]),
        json!({}),
    );
    assert_eq!(roles(&none), Roles::default());
    let template = config(
        host(),
        json!({"101": ct("web", "dhcp", json!({"is_template": true}))}),
        json!([]),
        json!({}),
    );
    assert_eq!(roles(&template).gateway, None, "templates take no role");
}

#[test]
fn guest_routes_list_vms_then_containers_with_their_schemes() {
    let mut lxc = infra();
    lxc["103"]["traefik_service"] = json!({"name": "ca", "port": 9000});
    lxc["101"]["traefik_service"] = json!({"name": "gateway", "port": 443});
    lxc["120"] = ct(
        "web",
        "10.0.0.20/24",
        json!({"traefik_service": {"name": "Web", "port": 443}}),
    );
    lxc["121"] = ct(
        "api",
        "10.0.0.21/24",
        json!({"traefik_service": {"name": "api", "port": 8080}}),
    );
    lxc["122"] = ct(
        "tls-api",
        "10.0.0.22/24",
        json!({"traefik_service": {"name": "tls-api", "port": 8443, "scheme": "https"}}),
    );
    lxc["123"] = ct(
        "dyn",
        "dhcp",
        json!({"traefik_service": {"name": "dyn", "port": 80}}),
    );
    lxc["910"] = ct(
        "tmpl",
        "10.0.0.90/24",
        json!({"is_template": true, "traefik_service": {"name": "tmpl", "port": 80}}),
    );
    let cfg = config(
        host(),
        lxc,
        json!([
            vm(
                1002,
                "apps",
                "10.0.0.32/24",
                json!({"traefik_service": {"name": "apps", "port": 8000, "scheme": "http"}})
            ),
            vm(
                1001,
                "portainer",
                "10.0.0.31/24",
                json!({"traefik_service": {"name": "portainer", "port": 9443}})
            ),
        ]),
        json!({}),
    );
    let m = mesh(&cfg);
    insta::assert_snapshot!(show(&m), @r"
    apps apps.lab.example http://10.0.0.32:8000 (VM 1002 traefik_service)
    portainer portainer.lab.example https://10.0.0.31:9443 (VM 1001 traefik_service)
    ca ca.lab.example https://10.0.0.10:9000 (CT 103 traefik_service)
    web web.lab.example https://10.0.0.20:443 (CT 120 traefik_service)
    api api.lab.example http://10.0.0.21:8080 (CT 121 traefik_service)
    tls-api tls-api.lab.example https://10.0.0.22:8443 (CT 122 traefik_service)
    traefik-dashboard traefik.lab.example api@internal (Traefik dashboard)
    note: CT 101 traefik_service gateway: not routed; CT 101 is the gateway, which forwards every request to Traefik, so a route back to it would loop
    note: CT 123 traefik_service dyn: CT 123 has no static address; not routed
    ");
}

#[test]
fn stack_labels_route_to_the_vm_and_the_published_port() {
    let stacks = json!({
        "qdrant": manifest("production", json!({
            "qdrant": labels(&[
                "traefik.enable=true",
                "traefik.http.routers.qdrant.rule=Host(`Qdrant.lab.example`)",
                "traefik.http.routers.qdrant.entrypoints=websecure",
                "traefik.http.routers.qdrant.tls.certresolver=internal-resolver",
                "traefik.http.services.qdrant.loadbalancer.server.port=6333",
            ]),
            "grpc": labels(&[
                "traefik.http.routers.grpc.rule=Host(`grpc.lab.example`) || Host(`rpc.lab.example`)",
                "traefik.http.services.grpc-svc.loadBalancer.server.port=6334",
                "traefik.http.services.grpc-svc.loadBalancer.server.scheme=HTTPS",
            ]),
            "off": labels(&[
                "traefik.enable=false",
                "traefik.http.routers.off.rule=Host(`off.lab.example`)",
                "traefik.http.services.off.loadbalancer.server.port=1",
            ]),
            "noport": labels(&["traefik.http.routers.noport.rule=Host(`noport.lab.example`)"]),
            "norule": labels(&["traefik.http.services.norule.loadbalancer.server.port=80"]),
            "path": labels(&[
                "traefik.http.routers.path.rule=Host(`p.lab.example`) && PathPrefix(`/x`)",
                "traefik.http.services.path.loadbalancer.server.port=80",
            ]),
            "plain": json!({}),
        })),
        "web": json!({"environments": {
            "production": {"services": {"web": labels(&[
                "traefik.http.routers.web.rule=Host(`web.lab.example`)",
                "traefik.http.services.web.loadbalancer.server.port=8080",
            ])}},
            "staging": {"services": {"web": labels(&[
                "traefik.http.routers.web-staging.rule=Host(`web-staging.lab.example`)",
                "traefik.http.routers.web-staging.service=two",
                "traefik.http.services.one.loadbalancer.server.port=1111",
                "traefik.http.services.two.loadbalancer.server.port=2222",
            ])}},
        }}),
    });
    let cfg = config(
        host(),
        json!({}),
        json!([
            vm(
                1002,
                "apps",
                "10.0.0.32/24",
                json!({"docker_stacks": [
                    "qdrant",
                    {"name": "web", "environment": "staging"},
                    "missing",
                    {"name": "web", "environment": "qa"},
                ]})
            ),
            vm(1003, "dhcp-vm", "dhcp", json!({"docker_stacks": ["web"]})),
            vm(
                9000,
                "tmpl",
                "10.0.0.90/24",
                json!({"is_template": true, "docker_stacks": ["web"]})
            ),
        ]),
        stacks,
    );
    let m = mesh(&cfg);
    insta::assert_snapshot!(show(&m), @r#"
    grpc grpc.lab.example https://10.0.0.32:6334 (stack qdrant on VM 1002)
    qdrant qdrant.lab.example http://10.0.0.32:6333 (stack qdrant on VM 1002)
    web-staging web-staging.lab.example http://10.0.0.32:2222 (stack web on VM 1002)
    note: stack qdrant on VM 1002, service grpc: router grpc names several hosts; only grpc.lab.example is routed, not rpc.lab.example
    note: stack qdrant on VM 1002, service noport: router noport has no loadbalancer.server.port; not routed
    note: stack qdrant on VM 1002, service norule: the Traefik labels define no router with a rule; not routed
    note: stack qdrant on VM 1002, service path: router path: rule "Host(`p.lab.example`) && PathPrefix(`/x`)" is not Host(`…`) matchers joined by ||; not routed
    note: stack missing on VM 1002: no such stack in the stacks directory
    note: stack web on VM 1002: the manifest has no environment "qa"
    note: stack web on VM 1003, service web: VM 1003 has no static address; not routed
    "#);
}

#[test]
fn the_first_route_for_a_name_or_host_wins_and_clashes_are_named() {
    let stacks = json!({
        "portainer": manifest("production", json!({"portainer": labels(&[
            "traefik.http.routers.portainer.rule=Host(`portainer.lab.example`)",
            "traefik.http.services.portainer.loadbalancer.server.port=9443",
            "traefik.http.services.portainer.loadbalancer.server.scheme=https",
        ])})),
        "other": manifest("production", json!({
            "a": labels(&[
                "traefik.http.routers.portainer.rule=Host(`elsewhere.lab.example`)",
                "traefik.http.services.a.loadbalancer.server.port=9443",
                "traefik.http.services.a.loadbalancer.server.scheme=https",
            ]),
            "b": labels(&[
                "traefik.http.routers.alias.rule=Host(`portainer.lab.example`)",
                "traefik.http.services.b.loadbalancer.server.port=9000",
            ]),
            "c": labels(&[
                "traefik.http.routers.same.rule=Host(`portainer.lab.example`)",
                "traefik.http.services.c.loadbalancer.server.port=9443",
                "traefik.http.services.c.loadbalancer.server.scheme=https",
            ]),
        })),
    });
    let cfg = config(
        host(),
        json!({}),
        json!([vm(
            1001,
            "server",
            "10.0.0.31/24",
            json!({
                "traefik_service": {"name": "portainer", "port": 9443},
                "docker_stacks": ["portainer", "other"],
            })
        )]),
        stacks,
    );
    let m = mesh(&cfg);
    insta::assert_snapshot!(show(&m), @r"
    portainer portainer.lab.example https://10.0.0.31:9443 (VM 1001 traefik_service)
    note: stack other on VM 1001: route portainer (elsewhere.lab.example -> https://10.0.0.31:9443) clashes with route portainer (portainer.lab.example -> https://10.0.0.31:9443) from VM 1001 traefik_service, which wins; not routed
    note: stack other on VM 1001: route alias (portainer.lab.example -> http://10.0.0.31:9000) clashes with route portainer (portainer.lab.example -> https://10.0.0.31:9443) from VM 1001 traefik_service, which wins; not routed
    ");
}

#[test]
fn names_and_hosts_are_validated_and_lower_cased() {
    let stacks = json!({
        "s": manifest("production", json!({
            "a": labels(&[
                "traefik.http.routers.Upper.rule=Host(`UP.lab.example`)",
                "traefik.http.services.x.loadbalancer.server.port=80",
            ]),
            "b": labels(&[
                "traefik.http.routers.bad.name.rule=Host(`bad.lab.example`)",
                "traefik.http.routers.-dash.rule=Host(`dash.lab.example`)",
                "traefik.http.services.-dash.loadbalancer.server.port=80",
            ]),
            "c": labels(&[
                "traefik.http.routers.quote.rule=Host(`a\"b.lab.example`)",
                "traefik.http.services.quote.loadbalancer.server.port=80",
            ]),
            "d": labels(&["not a label"]),
        })),
    });
    let cfg = config(
        host(),
        json!({}),
        json!([vm(
            1001,
            "v",
            "10.0.0.31/24",
            json!({
                "traefik_service": {"name": "under_score", "port": 80},
                "docker_stacks": ["s"],
            })
        )]),
        stacks,
    );
    let m = mesh(&cfg);
    insta::assert_snapshot!(show(&m), @r#"
    upper up.lab.example http://10.0.0.31:80 (stack s on VM 1001)
    note: VM 1001 traefik_service: route under_score: "under_score.lab.example" is not a valid host name (letters, digits and inner hyphens, labels separated by dots); not routed
    note: stack s on VM 1001, service b: router bad has no rule; not routed
    note: stack s on VM 1001: "-dash" is not a route name (lower-case letters, digits, '-' and '_', starting with a letter or digit); not routed
    note: stack s on VM 1001: route quote: "a\"b.lab.example" is not a valid host name (letters, digits and inner hyphens, labels separated by dots); not routed
    note: stack s on VM 1001, service d: label "not a label" is not key=value; ignored
    note: stack s on VM 1001, service d: the Traefik labels define no router with a rule; not routed
    "#);
}

#[test]
fn without_a_domain_nothing_is_routed() {
    let mut lxc = infra();
    lxc["120"] = ct(
        "web",
        "10.0.0.20/24",
        json!({"traefik_service": {"name": "web", "port": 80}}),
    );
    let cfg = config(json!({}), lxc, json!([]), json!({}));
    let m = mesh(&cfg);
    assert!(m.routes.is_empty());
    assert_eq!(m.notes, ["domain_name is not set: nothing is routed"]);
}

#[test]
fn the_dashboard_needs_a_traefik_container() {
    let lxc = json!({"120": ct("web", "10.0.0.20/24", json!({"traefik_service": {"name": "web", "port": 80}}))});
    let m = mesh(&config(host(), lxc, json!([]), json!({})));
    assert_eq!(
        m.routes
            .iter()
            .map(|r| (r.name.as_str(), &r.target))
            .collect::<Vec<_>>(),
        [("web", &up(Scheme::Http, "10.0.0.20", 80))]
    );
    let m = mesh(&config(host(), infra(), json!([]), json!({})));
    assert_eq!(
        m.routes,
        [Route {
            name: DASHBOARD.into(),
            host: "traefik.lab.example".into(),
            target: Target::Dashboard,
            from: "Traefik dashboard".into(),
        }]
    );
}

#[test]
fn an_agent_route_on_the_agent_port_gets_a_note() {
    let cfg = config(
        json!({"domain_name": "lab.example", "network": {"portainer_agent_port": 9101}}),
        json!({}),
        json!([
            vm(
                1002,
                "a",
                "10.0.0.32/24",
                json!({"portainer_role": "agent", "traefik_service": {"name": "agent", "port": 9101}})
            ),
            vm(
                1003,
                "b",
                "10.0.0.33/24",
                json!({"portainer_role": "agent", "traefik_service": {"name": "b", "port": 9001}})
            ),
        ]),
        json!({}),
    );
    let m = mesh(&cfg);
    assert_eq!(m.routes.len(), 2, "{}", show(&m));
    assert_eq!(
        m.notes,
        [
            "VM 1002 traefik_service agent: port 9101 is the Portainer agent, which serves a self-signed certificate that Traefik's internal-CA transport rejects"
        ]
    );
}

#[test]
fn rules_yield_their_hosts() {
    assert_eq!(hosts_of_rule("Host(`A.example`)").unwrap(), ["a.example"]);
    assert_eq!(
        hosts_of_rule(" Host(`a.x`) || host(\"b.x\") ").unwrap(),
        ["a.x", "b.x"]
    );
    assert_eq!(hosts_of_rule("Host(`a.x`, `b.x`)").unwrap(), ["a.x", "b.x"]);
    for bad in [
        "",
        "Host(a.x)",
        "HostRegexp(`.*`)",
        "Host(`a.x`) && Path(`/`)",
        "Host(`a.x`",
    ] {
        assert!(hosts_of_rule(bad).is_err(), "{bad}");
    }
}

#[test]
fn route_names_are_lower_case_words() {
    for ok in [
        "a",
        "0",
        "qdrant",
        "granite-3b",
        "my_app",
        "traefik-dashboard",
    ] {
        assert!(valid_name(ok), "{ok}");
    }
    for bad in ["", "-a", "_a", "A", "a.b", "a b", "a\"", "é"] {
        assert!(!valid_name(bad), "{bad}");
    }
}

#[test]
fn host_paths_map_into_a_container_through_its_bind_mounts() {
    let cfg = config(
        host(),
        json!({
            "101": ct("gw", "10.0.0.11/24", json!({"mount_points": [
                {"host_path": "/tank/data/101", "container_path": "/srv/data"},
                {"host_path": "/tank/data/101/ssl/", "container_path": "/etc/nginx/ssl/"},
                {"host_path": "/tank/other", "container_path": "/"},
            ]})),
        }),
        json!([vm(1001, "v", "10.0.0.31/24", json!({}))]),
        json!({}),
    );
    let p = |path: &str| container_path(&cfg, GuestId(101), path);
    assert_eq!(
        p("/tank/data/101/ssl/a.crt").as_deref(),
        Some("/etc/nginx/ssl/a.crt")
    );
    assert_eq!(p("/tank/data/101/ssl").as_deref(), Some("/etc/nginx/ssl"));
    assert_eq!(
        p("/tank/data/101/logs/x").as_deref(),
        Some("/srv/data/logs/x")
    );
    assert_eq!(p("/tank/data/101").as_deref(), Some("/srv/data"));
    assert_eq!(p("/tank/other/x/y").as_deref(), Some("/x/y"));
    assert_eq!(p("/tank/data/1011/x"), None, "whole components only");
    assert_eq!(p("/elsewhere"), None);
    assert_eq!(container_path(&cfg, GuestId(1001), "/tank/data/101"), None);
    assert_eq!(container_path(&cfg, GuestId(999), "/tank/data/101"), None);
}

fn load(dir: &Path) -> Config {
    let loc = ConfigLocation::resolve(Some(dir), None, &Layout::new("/nonexistent", "/"));
    let loaded = crate::config::load(&loc, &LoadOptions::default());
    loaded
        .config
        .unwrap_or_else(|| panic!("{:?}", loaded.report.all()))
}

#[test]
fn the_example_configuration_routes() {
    let cfg = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc"));
    let m = mesh(&cfg);
    assert_eq!(
        roles(&cfg),
        Roles {
            gateway: Some(GuestId(101)),
            traefik: Some(GuestId(102)),
            ca: Some(GuestId(103)),
            portainer: Some(GuestId(1001)),
            agents: vec![GuestId(1002)],
        }
    );
    insta::assert_snapshot!("example", show(&m));
}

#[test]
fn the_reference_configuration_routes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/etc");
    if !dir.join("phoenix_lxc_configs.json").is_file() {
        eprintln!("note: {} is absent; skipping", dir.display());
        return;
    }
    let cfg = load(&dir);
    assert_eq!(
        roles(&cfg),
        Roles {
            gateway: Some(GuestId(101)),
            traefik: Some(GuestId(102)),
            ca: Some(GuestId(103)),
            portainer: Some(GuestId(1001)),
            agents: vec![GuestId(1002)],
        }
    );
    insta::assert_snapshot!("reference", show(&mesh(&cfg)));
}
