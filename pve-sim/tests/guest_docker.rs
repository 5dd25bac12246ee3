//! The Docker engine inside guests: `docker run|inspect|rm|restart`, `docker compose
//! up|ps|down|ls` and `docker volume create|inspect` through `pct exec` (a container) and
//! `qm guest exec` (a VM, JSON results), shell scripts included; the engine's state in the
//! guest's tree; the audit's read/mutate split; and rules overriding a modelled command.

mod support;

use serde_json::Value;
use support::{Out, Sim};

const COMPOSE: &str =
    "services:\n  app:\n    image: ghcr.io/example/app:1.2\n    ports:\n      - \"8080:80\"\n";

/// `pct exec 101 -- docker ARGS`.
fn ct(sim: &Sim, args: &[&str]) -> Out {
    let mut a = vec!["exec", "101", "--", "docker"];
    a.extend_from_slice(args);
    sim.run("pct", &a)
}

/// `qm guest exec 9000 -- ARGS`, decoded: `(exitcode, out-data, err-data)`.
fn vm(sim: &Sim, args: &[&str]) -> (i64, String, String) {
    let mut a = vec!["guest", "exec", "9000", "--"];
    a.extend_from_slice(args);
    let out = sim.run("qm", &a);
    let v: Value = serde_json::from_str(out.ok()).expect("qm guest exec prints JSON");
    assert_eq!(v["exited"], 1, "{v}");
    (
        v["exitcode"].as_i64().unwrap(),
        v["out-data"].as_str().unwrap_or("").to_string(),
        v["err-data"].as_str().unwrap_or("").to_string(),
    )
}

fn running_ct(sim: &Sim) {
    sim.container(101, &[]).ok();
    sim.run("pct", &["start", "101"]).ok();
}

fn running_vm(sim: &Sim) {
    sim.admin(&["config", "--vm-boot-secs", "0"]).ok();
    sim.run(
        "qm",
        &[
            "create",
            "9000",
            "--name",
            "docker-vm",
            "--memory",
            "2048",
            "--agent",
            "1",
        ],
    )
    .ok();
    sim.run("qm", &["start", "9000"]).ok();
    sim.run("qm", &["agent", "9000", "ping"]).ok();
}

fn is_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The effect of the last audited command.
fn last_effect(sim: &Sim) -> String {
    sim.audit().last().unwrap()["effect"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn containers_run_inspect_restart_and_remove_in_a_container() {
    let sim = Sim::new();
    running_ct(&sim);
    let fmt = "{{.State.Running}}";
    assert_eq!(
        ct(&sim, &["inspect", "--format", fmt, "portainer"]).fails(1),
        "Error: No such object: portainer\n"
    );
    assert_eq!(last_effect(&sim), "read");
    let run = [
        "run",
        "-d",
        "--name",
        "portainer",
        "--restart=always",
        "-p",
        "9443:9443",
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
        "-v",
        "portainer_data:/data",
        "-e",
        "TZ=Etc/UTC",
        "portainer/portainer-ce:2.21.0",
        "--sslcert",
        "/certs/portainer.crt",
    ];
    let id = ct(&sim, &run).ok().trim_end().to_string();
    assert!(is_id(&id), "{id}");
    assert_eq!(last_effect(&sim), "mutate");
    assert_eq!(
        ct(&sim, &["inspect", "-f", fmt, "portainer"]).ok(),
        "true\n"
    );
    assert_eq!(last_effect(&sim), "read");
    assert_eq!(
        ct(
            &sim,
            &[
                "inspect",
                "-f",
                "{{.Id}} {{.Config.Image}} {{.HostConfig.RestartPolicy.Name}}",
                &id[..12]
            ]
        )
        .ok(),
        format!("{id} portainer/portainer-ce:2.21.0 always\n")
    );
    // The name is taken.
    let conflict = ct(&sim, &run);
    assert_eq!(
        conflict.fails(125),
        format!(
            "docker: Error response from daemon: Conflict. The container name \"/portainer\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.\n\nRun 'docker run --help' for more information\n"
        )
    );
    assert_eq!(conflict.stdout, "");
    // The named volume exists now, as Docker creates it on `run`.
    let vol: Value = serde_json::from_str(ct(&sim, &["volume", "inspect", "portainer_data"]).ok())
        .expect("JSON");
    assert_eq!(vol[0]["Name"], "portainer_data");
    assert_eq!(vol[0]["Driver"], "local");
    // Stop, start, restart; unknown names.
    assert_eq!(ct(&sim, &["stop", "portainer"]).ok(), "portainer\n");
    assert_eq!(
        ct(&sim, &["inspect", "-f", fmt, "portainer"]).ok(),
        "false\n"
    );
    assert_eq!(ct(&sim, &["restart", "portainer"]).ok(), "portainer\n");
    assert_eq!(
        ct(&sim, &["inspect", "-f", fmt, "portainer"]).ok(),
        "true\n"
    );
    assert_eq!(
        ct(&sim, &["restart", "ghost"]).fails(1),
        "Error response from daemon: No such container: ghost\n"
    );
    assert_eq!(
        ct(&sim, &["rm", "portainer"]).fails(1),
        "Error response from daemon: cannot remove container \"/portainer\": container is running: stop the container before removing or force remove\n"
    );
    // The state is a file in the guest's tree.
    let state: Value = serde_json::from_str(
        &sim.read("/rpool/data/subvol-101-disk-0/var/lib/pve-sim/docker.json"),
    )
    .unwrap();
    assert_eq!(state["containers"]["portainer"]["id"], id.as_str());
    assert_eq!(
        state["containers"]["portainer"]["image"],
        "portainer/portainer-ce:2.21.0"
    );
    assert_eq!(state["containers"]["portainer"]["argv"][0], "docker");
    assert_eq!(state["containers"]["portainer"]["argv"][1], "run");
    assert_eq!(state["containers"]["portainer"]["restarts"], 1);
    // rm -f prints the name; a second one prints nothing and succeeds.
    assert_eq!(ct(&sim, &["rm", "-f", "portainer"]).ok(), "portainer\n");
    assert_eq!(ct(&sim, &["rm", "-f", "portainer"]).ok(), "");
    assert_eq!(
        ct(&sim, &["rm", "portainer"]).fails(1),
        "Error response from daemon: No such container: portainer\n"
    );
    // The usual idempotent idiom in a shell: run only when absent.
    let script = "docker inspect -f '{{.State.Running}}' portainer >/dev/null 2>&1 || docker run -d --name portainer portainer/portainer-ce:2.21.0";
    let first = sim.run("pct", &["exec", "101", "--", "/bin/bash", "-c", script]);
    assert!(is_id(first.ok().trim_end()), "{}", first.stdout);
    let second = sim.run("pct", &["exec", "101", "--", "/bin/bash", "-c", script]);
    assert_eq!(second.ok(), "");
    // Other subcommands are not modelled and succeed silently, as before.
    assert_eq!(ct(&sim, &["pull", "alpine:3.20"]).ok(), "");
}

#[test]
fn compose_projects_and_volumes_in_a_vm() {
    let sim = Sim::new();
    running_vm(&sim);
    let fs = "/var/lib/pve-sim/vmfs/9000";
    // Push the compose file into the guest.
    let (code, _, _) = vm(&sim, &["mkdir", "-p", "/opt/stacks/Web-App"]);
    assert_eq!(code, 0);
    std::fs::write(
        sim.path(&format!("{fs}/opt/stacks/Web-App/docker-compose.yml")),
        COMPOSE,
    )
    .unwrap();
    let file = "/opt/stacks/Web-App/docker-compose.yml";

    // A missing file is refused as compose refuses it.
    assert_eq!(
        vm(
            &sim,
            &[
                "docker",
                "compose",
                "-f",
                "/opt/none/docker-compose.yml",
                "up",
                "-d"
            ]
        ),
        (
            1,
            String::new(),
            "open /opt/none/docker-compose.yml: no such file or directory\n".into()
        )
    );
    // Not up yet: `ps -q` prints nothing.
    assert_eq!(
        vm(&sim, &["docker", "compose", "-p", "web-app", "ps", "-q"]),
        (0, String::new(), String::new())
    );
    // Up: the project is the directory's name, lower-cased.
    let up = [
        "docker",
        "compose",
        "-f",
        file,
        "up",
        "-d",
        "--remove-orphans",
        "--pull",
        "missing",
    ];
    assert_eq!(vm(&sim, &up).0, 0);
    assert_eq!(last_effect(&sim), "mutate");
    let (code, ids, _) = vm(
        &sim,
        &["docker", "compose", "-f", file, "-p", "web-app", "ps", "-q"],
    );
    assert_eq!(code, 0);
    assert_eq!(ids.lines().count(), 1);
    assert!(is_id(ids.trim_end()), "{ids}");
    assert_eq!(last_effect(&sim), "read");
    // The same id by project name alone, through a shell.
    let (_, again, _) = vm(
        &sim,
        &[
            "/bin/bash",
            "-c",
            "docker compose -p web-app ps -q | head -n 1",
        ],
    );
    assert_eq!(again, ids);
    assert_eq!(
        vm(&sim, &["docker", "compose", "ls", "--format", "json"]).1,
        format!(
            "[{{\"Name\":\"web-app\",\"Status\":\"running(1)\",\"ConfigFiles\":\"{file}\"}}]\n"
        )
    );
    assert_eq!(
        vm(&sim, &["docker", "compose", "ls"]).1,
        format!(
            "NAME                STATUS              CONFIG FILES\nweb-app             running(1)          {file}\n"
        )
    );
    // A second up of the unchanged file is accepted; the engine records it.
    assert_eq!(vm(&sim, &up).0, 0);
    let state = || -> Value {
        serde_json::from_str(&sim.read(&format!("{fs}/var/lib/pve-sim/docker.json"))).unwrap()
    };
    let p = &state()["projects"]["web-app"];
    assert_eq!(
        (p["running"].as_bool(), p["ups"].as_u64()),
        (Some(true), Some(2))
    );
    assert_eq!(p["file"], file);
    assert_eq!(p["sha256"].as_str().unwrap(), sha256_of(COMPOSE));
    // A changed file: the next up records its new content.
    std::fs::write(
        sim.path(&format!("{fs}{file}")),
        COMPOSE.replace("1.2", "1.3"),
    )
    .unwrap();
    assert_eq!(vm(&sim, &up).0, 0);
    assert_eq!(
        state()["projects"]["web-app"]["sha256"].as_str().unwrap(),
        sha256_of(&COMPOSE.replace("1.2", "1.3"))
    );
    // Down forgets it.
    assert_eq!(
        vm(
            &sim,
            &[
                "docker",
                "compose",
                "-f",
                file,
                "down",
                "-v",
                "--remove-orphans"
            ]
        )
        .0,
        0
    );
    assert_eq!(
        vm(&sim, &["docker", "compose", "-p", "web-app", "ps", "-q"]),
        (0, String::new(), String::new())
    );
    assert_eq!(
        vm(&sim, &["docker", "compose", "ls", "--format", "json"]).1,
        "[]\n"
    );

    // Volumes: inspect a missing one, create (idempotent), inspect.
    assert_eq!(
        vm(&sim, &["docker", "volume", "inspect", "nfs_data"]),
        (
            1,
            "[]\n".into(),
            "Error response from daemon: get nfs_data: no such volume\n".into()
        )
    );
    assert_eq!(last_effect(&sim), "read");
    let create = [
        "docker",
        "volume",
        "create",
        "--driver",
        "local",
        "--opt",
        "type=nfs",
        "--opt",
        "o=addr=10.0.0.13,rw,nfsvers=4",
        "--opt",
        "device=:/quickOS/vm-persistent-data/9000",
        "nfs_data",
    ];
    assert_eq!(vm(&sim, &create), (0, "nfs_data\n".into(), String::new()));
    assert_eq!(last_effect(&sim), "mutate");
    assert_eq!(vm(&sim, &create), (0, "nfs_data\n".into(), String::new()));
    let (code, json, _) = vm(&sim, &["docker", "volume", "inspect", "nfs_data"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["Name"], "nfs_data");
    assert_eq!(v[0]["Driver"], "local");
    assert_eq!(v[0]["Options"]["type"], "nfs");
    assert_eq!(v[0]["Options"]["o"], "addr=10.0.0.13,rw,nfsvers=4");
    assert_eq!(
        v[0]["Options"]["device"],
        ":/quickOS/vm-persistent-data/9000"
    );
    assert!(
        json.starts_with("[\n    {\n        \"Driver\": \"local\",\n"),
        "{json}"
    );
    assert_eq!(
        vm(
            &sim,
            &[
                "docker",
                "volume",
                "inspect",
                "-f",
                "{{.Mountpoint}}",
                "nfs_data"
            ]
        )
        .1,
        "/var/lib/docker/volumes/nfs_data/_data\n"
    );
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

fn sha256_of(s: &str) -> String {
    use std::fmt::Write;
    let d = <sha2::Sha256 as sha2::Digest>::digest(s.as_bytes());
    d.iter().fold(String::new(), |mut o, b| {
        let _ = write!(o, "{b:02x}");
        o
    })
}
