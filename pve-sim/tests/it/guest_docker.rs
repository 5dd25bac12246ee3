//! The Docker engine inside guests: `docker run|inspect|rm|restart`, `docker compose
//! up|ps|down|ls` and `docker volume create|inspect` through `pct exec` (a container) and
//! `qm guest exec` (a VM, JSON results), shell scripts included; the engine's state in the
//! guest's tree; the audit's read/mutate split; and rules overriding a modelled command.

use crate::support::{Out, Sim};

const COMPOSE: &str =
    "services:\n  app:\n    image: ghcr.io/example/app:1.2\n    ports:\n      - \"8080:80\"\n";

/// `pct exec 101 -- docker ARGS`.
fn ct(sim: &Sim, args: &[&str]) -> Out {
    let mut a = vec!["exec", "101", "--", "docker"];
    a.extend_from_slice(args);
    sim.run("pct", &a)
}

fn running_ct(sim: &Sim) {
    sim.container(101, &[]).ok();
    sim.run("pct", &["start", "101"]).ok();
}

fn is_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[test]
fn compose_in_a_container_and_rules_override_docker() {
    let sim = Sim::new();
    running_ct(&sim);
    // A compose file pushed into the container; `name:` sets the project.
    let src = sim.path("/root/stack.yml");
    std::fs::create_dir_all(src.parent().unwrap()).unwrap();
    std::fs::write(&src, format!("name: monitoring\n{COMPOSE}")).unwrap();
    ct(&sim, &["info"]).ok();
    sim.run(
        "pct",
        &["exec", "101", "--", "mkdir", "-p", "/opt/monitoring"],
    )
    .ok();
    sim.run(
        "pct",
        &[
            "push",
            "101",
            src.to_str().unwrap(),
            "/opt/monitoring/compose.yaml",
        ],
    )
    .ok();
    let file = "/opt/monitoring/compose.yaml";
    ct(&sim, &["compose", "-f", file, "up", "-d"]).ok();
    let ids = ct(&sim, &["compose", "-p", "monitoring", "ps", "-q"])
        .ok()
        .to_string();
    assert!(is_id(ids.trim_end()));
    // The id is derived from the project name: the same in any guest.
    ct(&sim, &["compose", "-f", file, "up", "-d"]).ok();
    assert_eq!(
        ct(&sim, &["compose", "-p", "monitoring", "ps", "-q"]).ok(),
        ids
    );
    assert_eq!(
        ct(&sim, &["compose", "-p", "Bad Name", "ps", "-q"]).fails(1),
        "invalid project name \"Bad Name\": must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number\n"
    );

    // A rule forces `docker compose … up` to fail: nothing is recorded.
    sim.admin(&[
        "rule",
        "add",
        "--guest",
        "101",
        "--match",
        "docker compose*up*",
        "--exit",
        "1",
        "--stderr",
        "Error response from daemon: pull access denied for ghcr.io/example/app\n",
    ])
    .ok();
    ct(&sim, &["compose", "-f", file, "down"]).ok();
    let failed = ct(&sim, &["compose", "-f", file, "up", "-d"]);
    assert_eq!(
        failed.fails(1),
        "Error response from daemon: pull access denied for ghcr.io/example/app\n"
    );
    assert_eq!(
        ct(&sim, &["compose", "-p", "monitoring", "ps", "-q"]).ok(),
        ""
    );
    // Also inside a script; the rule's exit is the script's.
    let script = format!("docker compose -f {file} up -d --remove-orphans && echo started");
    let failed = sim.run("pct", &["exec", "101", "--", "/bin/bash", "-c", &script]);
    assert_eq!((failed.code, failed.stdout.as_str()), (1, ""));
    // Another guest is not affected by that rule.
    sim.container(102, &[]).ok();
    sim.run("pct", &["start", "102"]).ok();
    sim.run(
        "pct",
        &["exec", "102", "--", "mkdir", "-p", "/opt/monitoring"],
    )
    .ok();
    sim.run(
        "pct",
        &[
            "push",
            "102",
            src.to_str().unwrap(),
            "/opt/monitoring/compose.yaml",
        ],
    )
    .ok();
    sim.run(
        "pct",
        &[
            "exec", "102", "--", "docker", "compose", "-f", file, "up", "-d",
        ],
    )
    .ok();
    assert_eq!(
        sim.run(
            "pct",
            &[
                "exec",
                "102",
                "--",
                "docker",
                "compose",
                "-p",
                "monitoring",
                "ps",
                "-q"
            ]
        )
        .ok(),
        ids
    );
}
