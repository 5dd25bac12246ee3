//! What the product generates or installs, checked by the real validators (issue 17, item 3):
//! the gateway site with Debian's `nginx -t` (stream module loaded, as the gateway's
//! application script configures it), Traefik's static and dynamic files against Traefik
//! v3's published JSON Schemas, and the stacks' compose files against the Compose
//! Specification's. A missing validator skips with a note, and fails in CI.

use std::path::Path;

use phoenix_core::config::Config;
use phoenix_core::mesh;
use phoenix_testkit::validate;
use portainer_manager::{nginx, traefik};

fn configs() -> Vec<(&'static str, Config)> {
    let mut v = vec![(
        "example",
        phoenix_testkit::load_config(&phoenix_testkit::examples()),
    )];
    if let Some(r) = phoenix_testkit::reference() {
        v.push(("reference", phoenix_testkit::load_config(&r)));
    }
    v
}

/// A heredoc of a shell script: the lines between `<<'TAG'` and `TAG`.
fn heredoc(script: &str, tag: &str) -> String {
    let start = script
        .find(&format!("<<'{tag}'"))
        .unwrap_or_else(|| panic!("no <<'{tag}' heredoc"));
    let body = &script[script[start..].find('\n').unwrap() + start + 1..];
    body[..body.find(&format!("\n{tag}\n")).unwrap() + 1].to_string()
}

fn yaml_to_json(yaml: &str) -> serde_json::Value {
    let v: serde_yaml::Value = serde_yaml::from_str(yaml).expect("valid YAML");
    serde_json::to_value(v).expect("YAML as JSON")
}

/// The gateway site `sync` writes, with the main `nginx.conf` the gateway's application
/// script writes (stream block included), passes Debian's `nginx -t` (nginx 1.22 on Debian 12;
/// Ubuntu 24.04 has 1.24): the `http2 on;` directive of nginx ≥ 1.25.1 would be refused.
#[test]
fn the_gateway_site_passes_nginx_t() {
    let Some(nginx_bin) = validate::program("nginx", "nginx-light libnginx-mod-stream") else {
        return;
    };
    let script = std::fs::read_to_string(
        phoenix_testkit::repo().join("setup-scripts/apps/phoenix_hypervisor_lxc_101.sh"),
    )
    .unwrap();
    for (name, cfg) in configs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["sites-enabled", "conf.d", "stream.d"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let at = |p: &str| d.join(p).display().to_string();
        let main = heredoc(&script, "CONF")
            .replace(
                "/etc/nginx/sites-enabled/",
                &format!("{}/", at("sites-enabled")),
            )
            .replace("/etc/nginx/conf.d/", &format!("{}/", at("conf.d")))
            .replace("/etc/nginx/stream.d/", &format!("{}/", at("stream.d")))
            .replace("/var/log/nginx/", &format!("{}/", at("")))
            .replace("/run/nginx.pid", &at("nginx.pid"));
        assert!(main.contains("stream {"), "{main}");
        std::fs::write(d.join("nginx.conf"), main).unwrap();
        let m = mesh::mesh(&cfg);
        let mut site = nginx::site(&cfg, &m).expect("a gateway site");
        pve_sim::portainer::gen_cert(&d.join("tls"), &site.server_names, &[]).unwrap();
        site.cert = at("tls/server.crt");
        site.key = at("tls/server.key");
        std::fs::write(d.join("sites-enabled/gateway"), nginx::gateway_site(&site)).unwrap();
        let out = validate::run(
            &nginx_bin,
            &[
                "-t".as_ref(),
                "-e".as_ref(),
                d.join("error.log").as_os_str(),
                "-c".as_ref(),
                d.join("nginx.conf").as_os_str(),
            ],
        );
        let out = out.unwrap_or_else(|e| panic!("{name}: nginx -t refuses the gateway site: {e}"));
        assert!(out.contains("test is successful"), "{name}: {out}");
    }
}

/// Traefik's dynamic file (`sync`) against Traefik v3's file-provider schema, and its static
/// file (the `traefik` installer) against Traefik v3's schema.
#[test]
fn traefik_files_match_traefik_v3_schemas() {
    let (Some(dynamic), Some(stat)) = (
        validate::shared_schema("traefik-v3-file-provider.json"),
        validate::shared_schema("traefik-v3.json"),
    ) else {
        return;
    };
    for (name, cfg) in configs() {
        let m = mesh::mesh(&cfg);
        let tr = mesh::roles(&cfg).traefik.expect("a Traefik container");
        let yaml = traefik::dynamic_config(&m, traefik::root_ca_in_container(&cfg, tr).as_deref());
        let errors = validate::against_schema(&dynamic, &yaml_to_json(&yaml));
        assert_eq!(errors, Vec::<String>::new(), "{name}:\n{yaml}");
    }
    let script =
        std::fs::read_to_string(phoenix_testkit::repo().join("setup-scripts/lxc/traefik.sh"))
            .unwrap();
    let yaml = heredoc(&script, "YAML");
    let errors = validate::against_schema(&stat, &yaml_to_json(&yaml));
    assert_eq!(errors, Vec::<String>::new(), "{yaml}");
}

/// Every compose file of the repository's stacks against the Compose Specification.
#[test]
fn stack_compose_files_match_the_compose_spec() {
    let Some(schema) = validate::shared_schema("compose-spec.json") else {
        return;
    };
    let stacks = phoenix_testkit::repo().join("stacks");
    let mut checked = 0;
    for e in std::fs::read_dir(&stacks).unwrap() {
        let f = e.unwrap().path().join("docker-compose.yml");
        if !Path::new(&f).is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let errors = validate::against_schema(&schema, &yaml_to_json(&text));
        assert_eq!(errors, Vec::<String>::new(), "{}", f.display());
        checked += 1;
    }
    assert!(checked >= 3, "{checked} compose files");
}

/// The certificate the gateway presents names every host its site serves (issue 17: it
/// covered 2 of the 7 names in `server_name`), as `openssl verify -verify_hostname` would
/// require for each.
#[test]
fn the_gateway_certificate_names_every_host_its_site_serves() {
    for (name, cfg) in configs() {
        let m = mesh::mesh(&cfg);
        let site = nginx::site(&cfg, &m).expect("a gateway site");
        let gw = mesh::roles(&cfg).gateway.expect("a gateway");
        let manifest = portainer_manager::certs::effective(&cfg);
        let entry = manifest
            .iter()
            .find(|c| mesh::container_path(&cfg, gw, &c.cert_path).as_deref() == Some(&site.cert))
            .expect("the gateway's certificate");
        let names = portainer_manager::certs::wanted_names(entry);
        for n in &site.server_names {
            assert!(
                names.contains(n),
                "{name}: {n} is served but not named by {names:?}"
            );
        }
        assert!(
            site.server_names.len() > 2,
            "{name}: {:?}",
            site.server_names
        );
    }
}

/// Traefik reaches `https` upstreams by IP; each upstream's transport names the host its
/// certificate is issued for (`serverName`), which Traefik verifies instead of the IP.
#[test]
fn https_upstreams_are_verified_against_their_certificates_names() {
    for (name, cfg) in configs() {
        let m = mesh::mesh(&cfg);
        let tr = mesh::roles(&cfg).traefik.expect("a Traefik container");
        let yaml = traefik::dynamic_config(&m, traefik::root_ca_in_container(&cfg, tr).as_deref());
        let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        let mut checked = 0;
        for r in &m.routes {
            if !r.target.is_https() {
                continue;
            }
            let service = &doc["http"]["services"][format!("{}-service", r.name).as_str()];
            let url = service["loadBalancer"]["servers"][0]["url"]
                .as_str()
                .unwrap();
            let transport = service["loadBalancer"]["serversTransport"]
                .as_str()
                .and_then(|t| t.strip_suffix("@file"))
                .expect("a transport");
            let server_name = doc["http"]["serversTransports"][transport]["serverName"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: {transport} has no serverName"));
            let host = url.split("://").nth(1).unwrap().split(':').next().unwrap();
            assert!(host.parse::<std::net::IpAddr>().is_ok() || host == server_name);
            if let Some(c) = cfg
                .certificates
                .iter()
                .find(|c| c.common_name.eq_ignore_ascii_case(&r.host))
            {
                assert!(
                    portainer_manager::certs::wanted_names(c).contains(server_name),
                    "{name}: {server_name} is not on {}'s certificate",
                    c.common_name
                );
                checked += 1;
            }
        }
        assert!(
            checked >= 1,
            "{name}: no https upstream with a manifest certificate"
        );
    }
}
