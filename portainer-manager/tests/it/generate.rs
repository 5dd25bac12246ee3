//! The generated Traefik and Nginx files of the example configuration and of the shell
//! version's reference configuration (`../shared/reference`, skipped with a note when
//! absent): golden files, the YAML read back, and the same bytes on a second generation.

use std::collections::BTreeSet;

use phoenix_core::config::Config;
use phoenix_core::config::lxc::MountPoint;
use phoenix_core::ids::GuestId;
use phoenix_core::mesh;
use portainer_manager::{nginx, traefik};
use serde_yaml::Value;

fn example() -> Config {
    phoenix_testkit::load_config(&phoenix_testkit::examples())
}

fn reference() -> Option<Config> {
    phoenix_testkit::reference().map(|d| phoenix_testkit::load_config(&d))
}

fn mount(host: &str, inside: &str) -> MountPoint {
    MountPoint {
        host_path: host.into(),
        container_path: inside.into(),
        ..MountPoint::default()
    }
}

/// The Traefik file of a configuration, generated as the sync does.
fn traefik_yaml(cfg: &Config) -> String {
    let m = mesh::mesh(cfg);
    let tr = mesh::roles(cfg).traefik.expect("a Traefik container");
    traefik::dynamic_config(&m, traefik::root_ca_in_container(cfg, tr).as_deref())
}

/// The Nginx site of a configuration, generated as the sync does.
fn nginx_site(cfg: &Config) -> String {
    let m = mesh::mesh(cfg);
    nginx::gateway_site(&nginx::site(cfg, &m).expect("a gateway site"))
}

/// Reads the YAML back: every router's service is defined (or Traefik's own), every servers
/// transport a service names is defined, and a second generation gives the same bytes.
fn check_traefik(cfg: &Config, yaml: &str) {
    assert_eq!(traefik_yaml(cfg), yaml, "a second generation differs");
    let doc: Value = serde_yaml::from_str(yaml).expect("valid YAML");
    let http = &doc["http"];
    let routers = http["routers"].as_mapping().expect("routers");
    let services = http["services"].as_mapping().expect("services");
    let transports: BTreeSet<String> = http["serversTransports"]
        .as_mapping()
        .map(|m| {
            m.keys()
                .map(|k| format!("{}@file", k.as_str().unwrap()))
                .collect()
        })
        .unwrap_or_default();
    for (name, r) in routers {
        let service = r["service"].as_str().expect("router service");
        assert!(
            service == "api@internal" || services.contains_key(service),
            "router {name:?} names the undefined service {service}"
        );
        assert!(r["rule"].as_str().unwrap().starts_with("Host(`"));
        assert_eq!(r["entryPoints"][0].as_str(), Some("web"));
    }
    for (name, s) in services {
        let lb = &s["loadBalancer"];
        assert_eq!(
            lb["servers"].as_sequence().map(Vec::len),
            Some(1),
            "{name:?}"
        );
        let url = lb["servers"][0]["url"].as_str().unwrap();
        match lb["serversTransport"].as_str() {
            Some(t) => {
                assert!(transports.contains(t), "{name:?} names the undefined {t}");
                assert!(url.starts_with("https://"), "{name:?}: {url}");
            }
            None => assert!(url.starts_with("http://"), "{name:?}: {url}"),
        }
    }
}

#[test]
fn the_example_configuration_generates_its_golden_files() {
    let cfg = example();
    let yaml = traefik_yaml(&cfg);
    check_traefik(&cfg, &yaml);
    insta::assert_snapshot!("traefik_example", yaml);
    let site = nginx_site(&cfg);
    assert_eq!(nginx_site(&cfg), site);
    insta::assert_snapshot!("nginx_example", site);
}

#[test]
fn the_reference_configuration_generates_its_golden_files() {
    let Some(cfg) = reference() else { return };
    let yaml = traefik_yaml(&cfg);
    check_traefik(&cfg, &yaml);
    insta::assert_snapshot!("traefik_reference", yaml);
    let site = nginx_site(&cfg);
    assert_eq!(nginx_site(&cfg), site);
    insta::assert_snapshot!("nginx_reference", site);
}

#[test]
fn the_root_ca_is_found_where_the_traefik_container_mounts_it() {
    // The example names step_ca.root_ca_file, which Traefik (102) does not mount: the
    // container's system store (the trusted_ca feature) verifies instead.
    let mut cfg = example();
    assert_eq!(traefik::root_ca_in_container(&cfg, GuestId(102)), None);
    let ct = cfg.lxc.lxc_configs.get_mut("102").unwrap();
    ct.mount_points.push(mount(
        "/tank/lxc-persistent-data/103/ssl",
        "/etc/step-ca/ssl",
    ));
    assert_eq!(
        traefik::root_ca_in_container(&cfg, GuestId(102)).as_deref(),
        Some("/etc/step-ca/ssl/root_ca.crt")
    );
    // The reference names no root file: the shell version's location in the CA's directory.
    if let Some(cfg) = reference() {
        assert_eq!(
            traefik::root_ca_in_container(&cfg, GuestId(102)).as_deref(),
            Some("/etc/step-ca/ssl/phoenix_root_ca.crt")
        );
    }
}

#[test]
fn the_gateway_certificate_must_be_reachable_inside_the_gateway() {
    let mut cfg = example();
    assert_eq!(
        nginx::gateway_certificate(&cfg, GuestId(101)),
        Ok((
            "/etc/nginx/ssl/gateway.lab.example.internal.crt".to_string(),
            "/etc/nginx/ssl/gateway.lab.example.internal.key".to_string()
        ))
    );
    cfg.lxc
        .lxc_configs
        .get_mut("101")
        .unwrap()
        .mount_points
        .retain(|m| m.container_path != "/etc/nginx/ssl");
    let e = nginx::gateway_certificate(&cfg, GuestId(101)).unwrap_err();
    assert!(
        e.starts_with("no certificate in ") && e.contains("certificate-manifest.json is reachable inside the gateway container 101: the entry for gateway.lab.example.internal (/tank/lxc-persistent-data/101/ssl/gateway.lab.example.internal.crt, /tank/lxc-persistent-data/101/ssl/gateway.lab.example.internal.key) is not under any of its mount_points"),
        "{e}"
    );
    // Without a matching name, the first entry whose files the gateway mounts.
    cfg.certificates[0].common_name = "other.lab.example.internal".into();
    cfg.lxc
        .lxc_configs
        .get_mut("101")
        .unwrap()
        .mount_points
        .push(mount("/tank/vm-persistent-data/1001", "/mnt/p"));
    assert_eq!(
        nginx::gateway_certificate(&cfg, GuestId(101)),
        Ok((
            "/mnt/p/portainer/certs/portainer.crt".to_string(),
            "/mnt/p/portainer/certs/portainer.key".to_string()
        ))
    );
    cfg.certificates.clear();
    let e = nginx::gateway_certificate(&cfg, GuestId(101)).unwrap_err();
    assert!(e.ends_with(": no entry is named gateway.lab.example.internal, and no entry's cert_path and key_path are under its mount_points"), "{e}");
}
