//! `phoenix validate`: the one-screen summary, for the shell version's reference files and
//! for our examples.

use crate::support::{Env, filter, reference};

#[test]
fn validate_the_reference_configuration() {
    let Some(reference) = reference() else { return };
    let env = Env::new();
    let config = reference.join("etc");
    let run = env.run(["validate", "--config", config.to_str().unwrap()], &[]);
    run.expect_code(0);
    insta::assert_snapshot!("reference_stdout", filter(&env, &run.stdout));
    insta::assert_snapshot!("reference_stderr", filter(&env, &run.stderr));
}

#[test]
fn the_reference_dependency_order_respects_every_edge() {
    let Some(reference) = reference() else { return };
    let env = Env::new();
    let config = reference.join("etc");
    let run = env.run(
        [
            "validate",
            "--output",
            "json",
            "--config",
            config.to_str().unwrap(),
        ],
        &[],
    );
    run.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let order: Vec<String> = doc["create_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(order.len(), 15);
    let pos = |id: &str| {
        order
            .iter()
            .position(|x| x == id)
            .unwrap_or_else(|| panic!("{id} missing"))
    };
    let mut edges = 0;
    for g in doc["guests"].as_array().unwrap() {
        let id = g["id"].to_string();
        let needs = g["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .chain(g["clone_from"].as_u64().map(|c| c.to_string()));
        for n in needs {
            assert!(
                pos(&n) < pos(&id),
                "{n} must be created before {id}: {order:?}"
            );
            edges += 1;
        }
    }
    assert_eq!(
        edges, 22,
        "every edge of cli-and-hypervisor.md §4.6 was checked"
    );
    // Templates are not started; VMs take their boot_order.
    let start: Vec<&str> = doc["start_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(!start.contains(&"9000"));
    assert!(start.iter().position(|x| *x == "1002") < start.iter().position(|x| *x == "801"));
}

#[test]
fn validate_the_examples() {
    let env = Env::with_examples();
    let run = env.run(["validate", "-v"], &[]);
    run.expect_code(0);
    insta::assert_snapshot!("examples_stdout", filter(&env, &run.stdout));
}

#[test]
fn config_comes_from_the_environment_when_no_flag_is_given() {
    let Some(reference) = reference() else { return };
    let env = Env::with_examples();
    let config = reference.join("etc");
    let run = env.run(
        ["validate"],
        &[("PHOENIX_CONFIG_DIR", config.to_str().unwrap())],
    );
    run.expect_code(0);
    assert!(
        run.stdout.contains("(from PHOENIX_CONFIG_DIR)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("containers   phoenix_lxc_configs.json: 12"),
        "{}",
        run.stdout
    );
    // --config wins over the environment.
    let run = env.run(
        ["validate", "--config", env.etc().to_str().unwrap()],
        &[("PHOENIX_CONFIG_DIR", config.to_str().unwrap())],
    );
    assert!(
        run.stdout
            .contains("containers   phoenix_lxc_configs.json: 8"),
        "{}",
        run.stdout
    );
}

/// The drop-in promise as an operator meets it: `phoenix validate --config <set>/etc` on every
/// historical configuration set of the corpus (`phoenix-core/tests/data/history/`, one or more
/// per shape the shell version's files had) exits 0; every v1-era set exits 2 with a
/// "legacy format" error naming its file.
#[test]
fn every_historical_configuration_set_validates_and_v1_sets_are_refused_as_legacy() {
    let corpus = crate::support::repo().join("phoenix-core/tests/data/history");
    let env = Env::new();
    let mut sets: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("expect.json").is_file())
        .collect();
    sets.sort();
    assert!(sets.len() >= 29, "{} sets", sets.len());
    let mut failures = Vec::new();
    for set in &sets {
        let expect: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(set.join("expect.json")).unwrap())
                .unwrap();
        let etc = set.join("etc");
        let run = env.run(["validate", "--config", etc.to_str().unwrap()], &[]);
        let name = set.file_name().unwrap().to_string_lossy().into_owned();
        if expect["legacy"] == true {
            let file = expect["legacy_file"].as_str().unwrap();
            let named = run
                .stderr
                .contains(&format!("error: legacy format: {file} is a file of"))
                && run.stderr.lines().any(|l| {
                    l.trim_start().starts_with("-->") && l.contains(&format!("etc/{file}"))
                });
            if run.code != 2 || !named {
                failures.push(format!(
                    "{name}: exit {} (want 2 naming {file})\n{}",
                    run.code, run.stderr
                ));
            }
        } else if run.code != 0 || run.stderr.contains("error:") {
            failures.push(format!(
                "{name}: exit {} (want 0)\n{}",
                run.code, run.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
