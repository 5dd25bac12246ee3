//! Choosing a template for a container that names no source (the v1 design's "intelligent
//! cloning", without hard-coded CTIDs). Candidates are the containers others may clone from
//! (`is_template` or a `template_snapshot_name`). A candidate's accumulated features are its
//! own, its clone ancestors', and `nvidia` where it has GPUs; the features of the OS-template
//! container at the root of its chain are its base, which every clone gets anyway. A
//! candidate fits when everything it has beyond its base is something this container needs;
//! the fitting candidate that covers most of the needs wins, ties going to the smallest CTID.
//! So a GPU container without Docker never gets the Docker template. Pure.

use std::collections::BTreeSet;

use phoenix_core::config::Config;
use phoenix_core::config::lxc::Container;
use phoenix_core::ids::GuestId;

/// The features a container has once converged: its own, its ancestors', and `nvidia` for
/// GPUs (the GPU templates install the driver).
pub fn accumulated(cfg: &Config, id: GuestId) -> BTreeSet<String> {
    std::iter::once(id)
        .chain(cfg.clone_chain(id))
        .filter_map(|i| cfg.lxc.lxc_configs.get(&i.to_string()))
        .flat_map(needs)
        .collect()
}

/// What a container's own configuration asks for.
pub fn needs(c: &Container) -> BTreeSet<String> {
    let mut s: BTreeSet<String> = c.features.iter().cloned().collect();
    if !c.gpus().is_empty() {
        s.insert("nvidia".into());
    }
    s
}

/// The base features of `id`'s chain: the own `features` of the container at its root.
pub fn base(cfg: &Config, id: GuestId) -> BTreeSet<String> {
    let root = cfg.clone_chain(id).last().copied().unwrap_or(id);
    match cfg.lxc.lxc_configs.get(&root.to_string()) {
        Some(c) if c.clone_from_ctid.is_none() => c.features.iter().cloned().collect(),
        // A source that is not configured, or a cycle: no known root.
        _ => BTreeSet::new(),
    }
}

/// Picks the source for container `id`: `(source, reason)`.
pub fn choose(cfg: &Config, id: GuestId) -> Result<(GuestId, String), String> {
    let me = cfg
        .lxc
        .lxc_configs
        .get(&id.to_string())
        .ok_or_else(|| format!("container {id} is not configured"))?;
    let want = needs(me);
    let mut best: Option<(usize, GuestId, BTreeSet<String>)> = None;
    for (key, c) in &cfg.lxc.lxc_configs {
        let Ok(cand) = key.parse::<GuestId>() else {
            continue;
        };
        if cand == id || !(c.is_template() || c.template_snapshot_name.is_some()) {
            continue;
        }
        let have = accumulated(cfg, cand);
        let base = base(cfg, cand);
        if !have.difference(&base).all(|f| want.contains(f)) {
            continue;
        }
        let score = have.intersection(&want).count();
        let better = best
            .as_ref()
            .is_none_or(|(n, b, _)| score > *n || (score == *n && cand < *b));
        if better {
            best = Some((score, cand, have));
        }
    }
    let Some((_, from, have)) = best else {
        return Err(format!(
            "container {id} names no clone source or OS template, and no template's features fit what it needs ({})",
            list(&want)
        ));
    };
    let rest: BTreeSet<String> = want.difference(&have).cloned().collect();
    let name = cfg
        .lxc
        .lxc_configs
        .get(&from.to_string())
        .map_or("", |c| c.name.as_str());
    Ok((
        from,
        format!(
            "template {from} ({name}) already has [{}]; {id} adds [{}]",
            list(&have),
            list(&rest)
        ),
    ))
}

fn list(s: &BTreeSet<String>) -> String {
    s.iter().cloned().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: serde_json::Value) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let host =
            serde_json::json!({"core_paths": {"lxc_config_file": "phoenix_lxc_configs.json"}});
        std::fs::write(
            dir.path().join("phoenix_hypervisor_config.json"),
            host.to_string(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("phoenix_lxc_configs.json"),
            json.to_string(),
        )
        .unwrap();
        let loc = phoenix_core::config::ConfigLocation::resolve(
            Some(dir.path()),
            None,
            &phoenix_core::paths::Layout::new("/nonexistent", "/"),
        );
        let loaded =
            phoenix_core::config::load(&loc, &phoenix_core::config::LoadOptions::default());
        loaded
            .config
            .unwrap_or_else(|| panic!("{:?}", loaded.report.all()))
    }

    fn ct(name: &str, extra: serde_json::Value) -> serde_json::Value {
        let mut v = serde_json::json!({"name": name, "memory_mb": 1024, "cores": 1, "storage_pool": "local-zfs", "storage_size_gb": 8, "unprivileged": true, "network_config": {"name": "eth0", "bridge": "vmbr0", "ip": "dhcp"}});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    #[test]
    fn picks_the_largest_fitting_template() {
        let c = cfg(serde_json::json!({"lxc_configs": {
            "900": ct("base", serde_json::json!({"template": "local:vztmpl/u.tar.zst", "features": ["base_setup"], "template_snapshot_name": "final-form"})),
            "901": ct("gpu", serde_json::json!({"clone_from_ctid": "900", "gpu_assignment": "0", "features": ["nvidia"], "template_snapshot_name": "final-form"})),
            "902": ct("docker", serde_json::json!({"clone_from_ctid": "900", "features": ["docker"], "template_snapshot_name": "final-form"})),
            "903": ct("gpu-docker", serde_json::json!({"clone_from_ctid": "901", "gpu_assignment": "0", "features": ["docker"], "template_snapshot_name": "final-form"})),
            "950": ct("vllm", serde_json::json!({"gpu_assignment": "0", "features": ["base_setup", "vllm"]})),
            "960": ct("app", serde_json::json!({"features": ["base_setup", "docker"]})),
            "970": ct("plain", serde_json::json!({"features": ["base_setup"]})),
        }}));
        let (from, why) = choose(&c, GuestId(950)).unwrap();
        assert_eq!(from, GuestId(901));
        assert_eq!(
            why,
            "template 901 (gpu) already has [base_setup, nvidia]; 950 adds [vllm]"
        );
        assert_eq!(choose(&c, GuestId(960)).unwrap().0, GuestId(902));
        assert_eq!(choose(&c, GuestId(970)).unwrap().0, GuestId(900));
        assert_eq!(
            accumulated(&c, GuestId(903))
                .into_iter()
                .collect::<Vec<_>>(),
            ["base_setup", "docker", "nvidia"]
        );
    }

    /// Every container of the example configuration, as if it named no source.
    #[test]
    fn choices_for_the_example_estate() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc");
        let loc = phoenix_core::config::ConfigLocation::resolve(
            Some(&dir),
            None,
            &phoenix_core::paths::Layout::new("/nonexistent", "/"),
        );
        let mut c = phoenix_core::config::load(&loc, &phoenix_core::config::LoadOptions::default())
            .config
            .expect("etc/ loads");
        let ids: Vec<String> = c.lxc.lxc_configs.keys().cloned().collect();
        let mut out = String::new();
        for id in ids {
            let mut alone = c.clone();
            if let Some(ct) = alone.lxc.lxc_configs.get_mut(&id) {
                ct.clone_from_ctid = None;
                ct.template = None;
            }
            let gid: GuestId = id.parse().unwrap();
            match choose(&alone, gid) {
                Ok((from, why)) => out.push_str(&format!("{id} <- {from}: {why}\n")),
                Err(e) => out.push_str(&format!("{id}: {e}\n")),
            }
        }
        c.lxc.lxc_configs.clear();
        insta::assert_snapshot!(out);
    }

    #[test]
    fn unwanted_capabilities_rule_a_template_out() {
        let c = cfg(serde_json::json!({"lxc_configs": {
            "901": ct("gpu", serde_json::json!({"template": "local:vztmpl/u.tar.zst", "gpu_assignment": "0", "template_snapshot_name": "final-form"})),
            "970": ct("plain", serde_json::json!({"features": ["base_setup"]})),
        }}));
        assert!(
            choose(&c, GuestId(970))
                .unwrap_err()
                .contains("no template's features fit what it needs (base_setup)")
        );
    }

    #[test]
    fn base_features_come_with_every_template() {
        let c = cfg(serde_json::json!({"lxc_configs": {
            "900": ct("base", serde_json::json!({"template": "local:vztmpl/u.tar.zst", "features": ["base_setup"], "template_snapshot_name": "final-form"})),
            "901": ct("gpu", serde_json::json!({"clone_from_ctid": "900", "gpu_assignment": "0", "template_snapshot_name": "final-form"})),
            "950": ct("vllm", serde_json::json!({"gpu_assignment": "0", "features": ["vllm"]})),
            "970": ct("docker", serde_json::json!({"features": ["docker"]})),
        }}));
        assert_eq!(
            choose(&c, GuestId(950)).unwrap(),
            (
                GuestId(901),
                "template 901 (gpu) already has [base_setup, nvidia]; 950 adds [vllm]".to_string()
            )
        );
        assert_eq!(choose(&c, GuestId(970)).unwrap().0, GuestId(900));
    }
}
