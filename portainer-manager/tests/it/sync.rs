//! `portainer-manager sync` against the simulator (strict) and `portainer-sim` over TLS with
//! a test CA pinned as the Step-CA root, for the project's example configuration and the
//! shell version's: the first run initialises the administrator and creates environments
//! and stacks; a second run sends no write request and runs no mutating command; a changed
//! compose file updates exactly that stack; a dry run writes nothing; and the failures an
//! operator meets (a changed password, a flaky or absent server, a stack without its compose
//! file) end clearly.

use std::path::{Path, PathBuf};

use crate::support::{self, Host, examples, reference};
use pve_sim::portainer::api::{Knobs, Logged};
use pve_sim::portainer::{Options, Server};
use serde_json::Value;

/// The example's Portainer password (long enough for Portainer's policy).
const PASSWORD: &str = "example portainer password";
const PASSWORD_FILE: &str = "/etc/phoenix_hypervisor/secrets/portainer_admin_password";

/// The guests sync works with in both configurations.
const GUESTS: &[&str] = &["101", "102", "103", "1001", "1002"];

struct Estate {
    h: Host,
    server: Server,
    _certs: tempfile::TempDir,
}

fn configs() -> Vec<(&'static str, PathBuf)> {
    let mut v = vec![("example", examples())];
    if let Some(r) = reference() {
        v.push(("reference", r));
    }
    v
}

/// The CA container's state directory on the host (its `/etc/step-ca/ssl` mount).
fn ca_dir(h: &Host) -> String {
    let lxc = h.lxc_config();
    lxc["lxc_configs"]["103"]["mount_points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["container_path"] == "/etc/step-ca/ssl")
        .map(|m| m["host_path"].as_str().unwrap().to_string())
        .unwrap()
}

/// A host with the sync guests created and running, the CA's files in place, and
/// `portainer-sim` serving the configured host name over TLS.
fn estate(etc: &Path, knobs: Knobs) -> Estate {
    estate_on(etc, knobs, "9.1")
}

/// [`estate`] on a host of Proxmox VE release `pve` (`pve-sim init --pve`).
fn estate_on(etc: &Path, knobs: Knobs, pve: &str) -> Estate {
    let h = Host::with_init(etc, &["--gpus", "2", "--pve", pve]);
    let host = h.host_config();
    let name = host["portainer_api"]["portainer_hostname"]
        .as_str()
        .unwrap()
        .to_string();
    let certs = tempfile::tempdir().unwrap();
    pve_sim::portainer::gen_cert(certs.path(), &[name], &["127.0.0.1".parse().unwrap()]).unwrap();
    let dir = ca_dir(&h);
    let root = host["step_ca"]["root_ca_file"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| format!("{dir}/phoenix_root_ca.crt"));
    let ca = std::fs::read_to_string(certs.path().join("ca.crt")).unwrap();
    h.write_host_file(&root, &ca, 0o644);
    h.write_host_file(
        &format!("{dir}/provisioner_password.txt"),
        "provisioner secret\n",
        0o600,
    );
    if host["portainer_api"]["admin_password_file"].is_string() {
        h.write_host_file(PASSWORD_FILE, &format!("{PASSWORD}\n"), 0o600);
    }
    // What `setup` installs (dnsmasq), and the step CLI, which is not in Debian: operators
    // install Smallstep's package.
    h.tool("apt-get", &["install", "-y", "dnsmasq", "step-cli"])
        .ok();
    let mut args = vec!["create"];
    args.extend_from_slice(GUESTS);
    h.cli(&args).ok();
    let mut args = vec!["start"];
    args.extend_from_slice(GUESTS);
    h.cli(&args).ok();
    // What the gateway's and Traefik's installers leave.
    h.tool(
        "pct",
        &[
            "exec",
            "101",
            "--",
            "mkdir",
            "-p",
            "/etc/nginx/sites-enabled",
        ],
    )
    .ok();
    h.tool(
        "pct",
        &["exec", "102", "--", "mkdir", "-p", "/etc/traefik/dynamic"],
    )
    .ok();
    let server = Server::start(Options {
        tls: Some((
            certs.path().join("server.crt"),
            certs.path().join("server.key"),
        )),
        knobs,
        ..Options::default()
    })
    .unwrap();
    h.set_env("PHOENIX_PORTAINER_CONNECT", &server.addr.to_string());
    Estate {
        h,
        server,
        _certs: certs,
    }
}

/// Knobs for a configuration: the shell version's inline password is 9 characters.
fn knobs(kind: &str) -> Knobs {
    Knobs {
        min_password_len: if kind == "reference" { 8 } else { 12 },
        ..Knobs::default()
    }
}

impl Estate {
    fn sync(&self, args: &[&str]) -> support::Out {
        let mut a = vec!["sync"];
        a.extend_from_slice(args);
        self.h.pm(&a)
    }

    fn log(&self) -> Vec<Logged> {
        self.server.state.lock().unwrap().log.clone()
    }

    fn writes_since(&self, mark: usize) -> Vec<String> {
        self.log()
            .into_iter()
            .skip(mark)
            .filter(|l| portainer_manager::http::is_write(&l.method, &l.path))
            .map(|l| format!("{} {}", l.method, l.path))
            .collect()
    }

    fn stacks(&self) -> Vec<(String, u64, u64)> {
        let p = self.server.state.lock().unwrap();
        p.stacks
            .iter()
            .map(|s| (s.name.clone(), s.endpoint_id, s.updates))
            .collect()
    }
}

/// `sync all`'s stages, in order.
const STAGES: [&str; 8] = [
    "ca",
    "dns",
    "firewall",
    "certificates",
    "portainer",
    "traefik",
    "nginx",
    "api",
];

/// The summary line of `stage`.
fn outcome<'a>(stdout: &'a str, stage: &str) -> &'a str {
    let summary = stdout.split("sync summary:").nth(1).unwrap_or_else(|| {
        panic!("no summary in\n{stdout}");
    });
    summary
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{stage} ")))
        .map(|l| l.trim_start()[stage.len()..].trim())
        .unwrap_or_else(|| panic!("no summary line for {stage} in\n{stdout}"))
}

/// `(environment name, stacks)` each configuration deploys through the API.
fn expected(kind: &str) -> (&'static str, Vec<&'static str>) {
    match kind {
        "example" => ("apps", vec!["qdrant-production", "webapp-staging"]),
        _ => (
            "drphoenix",
            vec!["qdrant_service-production", "thinkheads_ai_app-production"],
        ),
    }
}

#[test]
fn a_first_sync_converges_and_a_second_changes_nothing() {
    for (kind, etc) in configs() {
        let e = estate(&etc, knobs(kind));
        let first = e.sync(&["all"]);
        let out = first.ok();
        for stage in STAGES {
            assert_eq!(outcome(out, stage), "changed", "{kind}: {stage}\n{out}");
        }
        let (env, want) = expected(kind);
        {
            let p = e.server.state.lock().unwrap();
            assert!(p.admin.is_some(), "{kind}: the administrator exists");
            let envs: Vec<(&str, &str, bool)> = p
                .endpoints
                .iter()
                .map(|x| (x.name.as_str(), x.url.as_str(), x.tls))
                .collect();
            assert_eq!(envs.len(), 1, "{kind}: {envs:?}");
            assert_eq!(envs[0].0, env);
            assert!(envs[0].1.starts_with("tcp://10."), "{kind}: {envs:?}");
            assert!(envs[0].2, "{kind}: agents are reached over TLS");
        }
        let mut names: Vec<String> = e.stacks().into_iter().map(|s| s.0).collect();
        names.sort();
        assert_eq!(names, want, "{kind}");
        // The agent runs in the agent VM; the server's stack in the primary.
        let (code, out) = e.h.vm_exec(
            1002,
            &[
                "docker",
                "inspect",
                "--format",
                "{{.State.Running}}",
                "portainer_agent",
            ],
        );
        assert_eq!((code, out.trim()), (0, "true"), "{kind}");
        // The shell version's stacks use external NFS volumes: made on the VM that runs
        // them, on its own share.
        if kind == "reference" {
            for (vm, vol, dir) in [
                (
                    1001,
                    "portainer_data_nfs",
                    "/quickOS/vm-persistent-data/1001/volumes/portainer_data",
                ),
                (
                    1002,
                    "qdrant_data_nfs",
                    "/quickOS/vm-persistent-data/1002/volumes/qdrant_data",
                ),
            ] {
                let (code, _) = e.h.vm_exec(vm, &["docker", "volume", "inspect", vol]);
                assert_eq!(code, 0, "{vol} in VM {vm}");
                assert!(e.h.path(dir).is_dir(), "{dir}");
            }
        }
        // The gateway site is enabled, Traefik has its routes.
        assert!(
            e.h.guest_has(101, "/etc/nginx/sites-available/gateway"),
            "{kind}"
        );
        e.h.tool(
            "pct",
            &[
                "exec",
                "101",
                "--",
                "test",
                "-L",
                "/etc/nginx/sites-enabled/gateway",
            ],
        )
        .ok();
        assert!(
            e.h.guest_has(102, "/etc/traefik/dynamic/dynamic_conf.yml"),
            "{kind}"
        );

        let mark = e.log().len();
        let audit = e.h.mark();
        let second = e.sync(&["all"]);
        let out = second.ok();
        for stage in STAGES {
            assert_eq!(outcome(out, stage), "ok", "{kind}: {stage}\n{out}");
        }
        assert_eq!(e.writes_since(mark), Vec::<String>::new(), "{kind}");
        assert_eq!(e.h.mutations_since(audit), Vec::<String>::new(), "{kind}");
        assert!(
            e.stacks().iter().all(|s| s.2 == 0),
            "{kind}: nothing updated"
        );
    }
}

#[test]
fn a_changed_compose_file_updates_exactly_that_stack() {
    let e = estate(&examples(), knobs("example"));
    e.sync(&["all"]).ok();
    let compose = e.h.root().join("stacks/qdrant/docker-compose.yml");
    let text = std::fs::read_to_string(&compose).unwrap();
    std::fs::write(&compose, text.replace("v1.12.4", "v1.13.0")).unwrap();
    let mark = e.log().len();
    let out = e.sync(&["all"]);
    let stdout = out.ok();
    assert_eq!(outcome(stdout, "api"), "changed", "{stdout}");
    let writes = e.writes_since(mark);
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(writes[0].starts_with("PUT /api/stacks/"), "{writes:?}");
    let updated: Vec<(String, u64, u64)> = e.stacks().into_iter().filter(|s| s.2 > 0).collect();
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].0, "qdrant-production");
    let p = e.server.state.lock().unwrap();
    let s = p
        .stacks
        .iter()
        .find(|s| s.name == "qdrant-production")
        .unwrap();
    assert!(s.content.contains("v1.13.0"));
}

#[test]
fn a_dry_run_sends_no_write_and_changes_nothing() {
    for (kind, etc) in configs() {
        let e = estate(&etc, knobs(kind));
        let mark = e.h.mark();
        let before = e.h.tree();
        let out = e.sync(&["all", "--dry-run"]);
        let stdout = out.ok();
        assert!(stdout.contains("dry run: nothing was changed"), "{stdout}");
        assert!(
            stdout.contains("administrator"),
            "{kind}: the plan says what it would do\n{stdout}"
        );
        assert_eq!(e.writes_since(0), Vec::<String>::new(), "{kind}");
        assert_eq!(e.h.mutations_since(mark), Vec::<String>::new(), "{kind}");
        assert_eq!(
            Host::tree_changes(&before, &e.h.tree()),
            Vec::<String>::new(),
            "{kind}"
        );
    }
}

#[test]
fn a_changed_password_is_a_clear_error() {
    let e = estate(&examples(), knobs("example"));
    e.sync(&["all"]).ok();
    e.h.write_host_file(PASSWORD_FILE, "another long password\n", 0o600);
    let out = e.sync(&["all"]);
    let stdout = &out.stdout;
    assert_eq!(out.code, 1, "{stdout}\n{}", out.stderr);
    let api = outcome(stdout, "api");
    assert!(api.starts_with("failed"), "{api}");
    assert!(api.contains("refused the password"), "{api}");
    assert!(
        !stdout.contains("another long password") && !out.stderr.contains("another long password")
    );
    assert!(!e.h.log_text().contains("another long password"));
}

#[test]
fn server_errors_are_retried() {
    let e = estate(&examples(), knobs("example"));
    e.server.state.lock().unwrap().knobs.fail_next = 2;
    let out = e.sync(&["all"]);
    let stdout = out.ok();
    assert_eq!(outcome(stdout, "api"), "changed", "{stdout}");
    let log = e.h.log_text();
    assert_eq!(
        log.matches("HTTP 500").count(),
        2,
        "the retries are logged:\n{log}"
    );
}

#[test]
fn a_server_that_never_answers_times_out_clearly() {
    let e = estate(
        &examples(),
        Knobs {
            startup_refusals: 1_000_000,
            ..knobs("example")
        },
    );
    e.h.edit_host(|h| h["portainer_api"]["ready_timeout_secs"] = Value::from(2));
    let out = e.sync(&["all"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let api = outcome(&out.stdout, "api");
    assert!(api.contains("was not ready within 2s"), "{api}");
    assert!(api.contains("HTTP 503"), "{api}");
}

#[test]
fn a_stack_without_its_compose_file_fails_alone() {
    let e = estate(&examples(), knobs("example"));
    std::fs::remove_file(e.h.root().join("stacks/webapp/docker-compose.yml")).unwrap();
    let out = e.sync(&["all"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let api = outcome(&out.stdout, "api");
    assert!(api.starts_with("failed"), "{api}");
    assert!(api.contains("webapp"), "{api}");
    assert!(api.contains("docker-compose.yml"), "{api}");
    let names: Vec<String> = e.stacks().into_iter().map(|s| s.0).collect();
    assert_eq!(names, ["qdrant-production"], "the other stack synced");
    assert!(
        out.stderr
            .contains("warning: the compose file of stack \"webapp\" does not exist"),
        "a warning at load:\n{}",
        out.stderr
    );
}

/// A stack whose compose file is missing blocks that stack only (load policy): the estate
/// is created on the simulator, and syncing that stack fails alone, exit 1, naming the file,
/// before anything runs.
#[test]
fn a_missing_compose_file_blocks_only_its_stack() {
    let h = Host::new(&examples(), 2);
    std::fs::remove_file(h.root().join("stacks/webapp/docker-compose.yml")).unwrap();
    let v = h.cli(&["validate"]);
    v.ok();
    assert!(
        v.stderr
            .contains("warning: the compose file of stack \"webapp\" does not exist"),
        "{}",
        v.stderr
    );
    h.cli(&["create", "103", "9000", "1002"]).ok();
    assert!(h.path("/etc/pve/qemu-server/1002.conf").exists());
    let mark = h.mark();
    let out = h.cli(&["sync", "stack", "webapp", "to", "1002"]);
    let err = out.fails(1);
    let compose = h.root().join("stacks/webapp/docker-compose.yml");
    assert!(
        err.contains(&format!(
            "cannot sync stack webapp: the compose file of stack \"webapp\" does not exist: {}",
            compose.display()
        )),
        "{err}"
    );
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());
}

#[test]
fn one_stack_syncs_to_one_vm() {
    let e = estate(&examples(), knobs("example"));
    let out = e.sync(&["stack", "qdrant", "to", "1002"]);
    let stdout = out.ok();
    assert_eq!(outcome(stdout, "api"), "changed", "{stdout}");
    let names: Vec<String> = e.stacks().into_iter().map(|s| s.0).collect();
    assert_eq!(names, ["qdrant-production"]);
    let out = e.sync(&["stack", "qdrant", "to", "1001"]);
    assert!(
        out.fails(2).contains("no Portainer agent"),
        "{}",
        out.stderr
    );
}

#[test]
fn stopped_guests_make_their_stages_wait() {
    let e = estate(&examples(), knobs("example"));
    e.h.cli(&["stop", "102", "1001"]).ok();
    let out = e.sync(&["all"]);
    let stdout = out.ok();
    assert!(
        outcome(stdout, "traefik").starts_with("not ready: container 102 is not running"),
        "{stdout}"
    );
    assert!(
        outcome(stdout, "portainer").starts_with("not ready"),
        "{stdout}"
    );
    assert!(outcome(stdout, "api").starts_with("not ready"), "{stdout}");
    assert_eq!(outcome(stdout, "nginx"), "changed", "{stdout}");
    assert!(e.writes_since(0).is_empty());
}

fn gateway_site(h: &Host) -> String {
    let cat = [
        "exec",
        "101",
        "--",
        "cat",
        "/etc/nginx/sites-available/gateway",
    ];
    h.tool("pct", &cat).ok().to_string()
}

#[test]
fn the_gateway_placeholder_goes_and_a_rejected_site_is_put_back() {
    let e = estate(&examples(), knobs("example"));
    e.h.tool(
        "pct",
        &[
            "exec",
            "101",
            "--",
            "touch",
            "/etc/nginx/sites-enabled/default",
        ],
    )
    .ok();
    e.sync(&["all"]).ok();
    assert!(!e.h.guest_has(101, "/etc/nginx/sites-enabled/default"));
    let site = gateway_site(&e.h);
    // A new route, and an nginx that rejects the result: the old site stays.
    e.h.sim(&[
        "rule",
        "add",
        "--guest",
        "101",
        "--match",
        "nginx -t",
        "--exit",
        "1",
        "--stderr",
        "nginx: [emerg] unknown directive",
        "--read",
    ])
    .ok();
    e.h.edit(960, |c| c["traefik_service"]["name"] = Value::from("llm"));
    let out = e.sync(&["all"]);
    assert_eq!(out.code, 1);
    let nginx = outcome(&out.stdout, "nginx");
    assert!(nginx.contains("nginx -t rejected"), "{nginx}");
    let now = gateway_site(&e.h);
    assert_eq!(now, site);
}

#[test]
fn lets_go_runs_sync_after_the_tier_that_asks_for_it() {
    let e = estate(&examples(), knobs("example"));
    let out = e.h.cli(&["LetsGo"]);
    let stdout = out.ok();
    // 1002 (and the vLLM container) ask for a sync: after their tiers, portainer-manager ran.
    assert!(stdout.contains("[sync] sync summary:"), "{stdout}");
    assert!(stdout.contains("[sync]   api        changed"), "{stdout}");
    let (env, want) = expected("example");
    let p = e.server.state.lock().unwrap();
    assert!(p.endpoints.iter().any(|x| x.name == env));
    let mut names: Vec<String> = p.stacks.iter().map(|s| s.name.clone()).collect();
    names.sort();
    assert_eq!(names, want);
}

/// On each supported Proxmox VE release (issue 16, item 3): `phoenix setup`, LetsGo, and a
/// second LetsGo that changes nothing; the version is read once per run.
#[test]
fn setup_and_letsgo_twice_on_each_release() {
    for pve in ["8.4", "9.1"] {
        let e = estate_on(&examples(), knobs("example"), pve);
        e.h.write_example_secrets();
        let out = e.h.cli(&["setup"]);
        assert_eq!(out.code, 0, "{pve}: setup\n{}\n{}", out.stdout, out.stderr);
        let mark = e.h.mark();
        let out = e.h.cli(&["LetsGo", "--jobs", "4"]);
        assert_eq!(out.code, 0, "{pve}: LetsGo\n{}\n{}", out.stdout, out.stderr);
        let versions = e.h.audit()[mark..]
            .iter()
            .filter(|a| a["tool"] == "pveversion")
            .count();
        assert_eq!(versions, 1, "{pve}: pveversion read once per run");
        let mark = e.h.mark();
        let out = e.h.cli(&["LetsGo", "--jobs", "4"]);
        assert_eq!(
            out.code, 0,
            "{pve}: second LetsGo\n{}\n{}",
            out.stdout, out.stderr
        );
        assert_eq!(e.h.mutations_since(mark), Vec::<String>::new(), "{pve}");
        assert_eq!(e.h.refusals(), Vec::<String>::new(), "{pve}");
    }
}

/// A Proxmox VE 8.2 host (qemu-server 8.2.4, libpve-storage-perl 8.2.5) is refused before
/// any change, by `phoenix` and by a manager called directly.
#[test]
fn an_8_2_host_is_refused_before_any_change() {
    let h = Host::with_init(&examples(), &["--gpus", "2", "--pve", "8.2"]);
    let mark = h.mark();
    for args in [&["setup"][..], &["LetsGo"][..], &["create", "900"][..]] {
        let out = h.cli(args);
        assert_eq!(out.code, 1, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr
                .contains("qemu-server is 8.2.4; Phoenix needs qemu-server 8.2.7 or newer"),
            "{}",
            out.stderr
        );
    }
    let out = h.lxc(&["create", "900"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("too old for Phoenix; nothing was changed"),
        "{}",
        out.stderr
    );
    assert_eq!(h.mutations_since(mark), Vec::<String>::new());
}

/// The client on its own: 5xx answers are retried, a 4xx answer is final, and the attempts
/// stop at the policy's limit.
#[test]
fn the_client_retries_server_errors_only() {
    use portainer_manager::http::{Body, Client, RetryPolicy, Target};
    use std::time::Duration;
    let certs = tempfile::tempdir().unwrap();
    pve_sim::portainer::gen_cert(certs.path(), &["portainer.test".into()], &[]).unwrap();
    let server = Server::start(Options {
        tls: Some((
            certs.path().join("server.crt"),
            certs.path().join("server.key"),
        )),
        ..Options::default()
    })
    .unwrap();
    let client = |root: &Path| {
        Client::new(
            Target {
                base: format!("https://portainer.test:{}", server.addr.port()),
                connect: Some(server.addr),
                root_pem: std::fs::read(root).unwrap(),
                root_file: root.display().to_string(),
                connect_timeout: Duration::from_secs(5),
                request_timeout: Duration::from_secs(5),
            },
            RetryPolicy {
                attempts: 3,
                first_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(20),
            },
            false,
        )
        .unwrap()
    };
    let c = client(&certs.path().join("ca.crt"));
    let count = || server.state.lock().unwrap().log.len();
    server.state.lock().unwrap().knobs.fail_next = 2;
    let r = c.request("GET", "/api/endpoints", &Body::Empty).unwrap();
    assert_eq!(
        (r.status, count()),
        (401, 3),
        "two 500s, then the final 401"
    );
    server.state.lock().unwrap().knobs.fail_next = 10;
    let r = c.request("GET", "/api/endpoints", &Body::Empty).unwrap();
    assert_eq!((r.status, count()), (500, 6), "three attempts at most");
    // A certificate the pinned root did not issue is refused at once, and said so.
    let other = tempfile::tempdir().unwrap();
    pve_sim::portainer::gen_cert(other.path(), &["portainer.test".into()], &[]).unwrap();
    let before = count();
    let e = client(&other.path().join("ca.crt"))
        .request("GET", "/api/system/status", &Body::Empty)
        .unwrap_err();
    assert!(
        format!("{e:#}").contains("must present a certificate issued by the root"),
        "{e:#}"
    );
    assert_eq!(count(), before, "no request got through");
}

/// A certificate in the last third of its lifetime is renewed by `phoenix sync
/// certificates` (what the renewal timer runs); the valid one is left alone; the consumer
/// is reloaded only after its own renewal.
#[test]
fn certificates_are_renewed_when_due_and_only_then() {
    let e = estate(&examples(), knobs("example"));
    e.sync(&["all"]).ok();
    let gw = "/tank/lxc-persistent-data/101/ssl/gateway.lab.example.internal.crt";
    let pt = "/tank/vm-persistent-data/1001/portainer/certs/portainer.crt";
    let portainer_before = e.h.read(pt);
    // Nothing is due: the timer's run changes nothing.
    let mark = e.h.mark();
    let out = e.h.cli_sim_only(&["sync", "certificates"]);
    assert_eq!(outcome(out.ok(), "certificates"), "ok");
    assert_eq!(e.h.mutations_since(mark), Vec::<String>::new());
    // The gateway's certificate has an hour left of a day.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut p = rcgen::CertificateParams::new(vec![
        "gateway.lab.example.internal".to_string(),
        "portainer.lab.example.internal".to_string(),
    ])
    .unwrap();
    p.not_before = time_at(now - 23 * 3600);
    p.not_after = time_at(now + 3600);
    let key = rcgen::KeyPair::generate().unwrap();
    e.h.write_host_file(gw, &p.self_signed(&key).unwrap().pem(), 0o640);
    let mark = e.h.mark();
    let out = e.h.cli_sim_only(&["sync", "certificates"]);
    let stdout = out.ok();
    assert_eq!(outcome(stdout, "certificates"), "changed", "{stdout}");
    assert!(
        stdout.contains("expires in 60m") || stdout.contains("expires in 59m"),
        "{stdout}"
    );
    let m = e.h.mutations_since(mark);
    assert!(
        m.iter()
            .any(|c| c.starts_with("step ca certificate gateway.lab.example.internal")),
        "{m:#?}"
    );
    assert!(
        m.iter()
            .any(|c| c == "pct exec 101 -- systemctl reload nginx"),
        "the gateway reloads: {m:#?}"
    );
    assert!(
        !m.iter()
            .any(|c| c.starts_with("step ca certificate portainer.")),
        "{m:#?}"
    );
    assert!(!m.iter().any(|c| c.contains("docker restart")), "{m:#?}");
    assert_eq!(e.h.read(pt), portainer_before);
    let facts = portainer_manager::certs::inspect(e.h.read(gw).as_bytes()).unwrap();
    assert!(facts.not_after - now > 23 * 3600, "a fresh day");
}

fn time_at(unix: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

/// `--reset-portainer --yes` takes Portainer's server down with its data before it starts
/// again: the example's bind-mounted directory in the VM; the shell version's named NFS
/// volume, whose files on this host's share go too, and which is made again.
#[test]
fn a_confirmed_reset_deletes_portainers_data_first() {
    for (kind, etc) in configs() {
        let e = estate(&etc, knobs(kind));
        e.sync(&["all"]).ok();
        let nfs = "/quickOS/vm-persistent-data/1001/volumes/portainer_data";
        if kind == "reference" {
            e.h.write_host_file(&format!("{nfs}/portainer.db"), "users", 0o600);
        }
        let mark = e.h.mark();
        let out = e.sync(&["all", "--reset-portainer", "--yes"]);
        let stdout = out.ok();
        assert_eq!(outcome(stdout, "portainer"), "changed", "{kind}\n{stdout}");
        let m: Vec<String> =
            e.h.mutations_since(mark)
                .into_iter()
                .filter(|c| c.starts_with("qm guest exec 1001"))
                .collect();
        let pos = |s: &str| {
            m.iter()
                .position(|c| c.contains(s))
                .unwrap_or_else(|| panic!("{kind}: {s} not run: {m:#?}"))
        };
        let (project, data) = if kind == "example" {
            (
                "portainer-production",
                "rm -rf /persistent-storage/portainer/data",
            )
        } else {
            (
                "portainer_service-production",
                "docker volume rm -f portainer_data_nfs",
            )
        };
        assert!(pos(&format!("-p {project} down -v")) < pos(data), "{kind}");
        assert!(pos(data) < pos(&format!("-p {project} up -d")), "{kind}");
        if kind == "reference" {
            assert!(pos(data) < pos("docker volume create"), "{kind}: {m:#?}");
            assert!(pos("docker volume create") < pos(&format!("-p {project} up -d")));
            assert!(!e.h.path(&format!("{nfs}/portainer.db")).exists());
            assert!(e.h.path(nfs).is_dir());
        }
    }
}

/// Secrets stay out of argv, logs and output.
#[test]
fn the_password_and_token_stay_secret() {
    let e = estate(&examples(), knobs("example"));
    let out = e.sync(&["all"]);
    out.ok();
    let tokens = e.server.state.lock().unwrap().tokens.clone();
    assert!(!tokens.is_empty());
    let log = e.h.log_text();
    let audit = serde_json::to_string(&e.h.audit()).unwrap();
    for secret in std::iter::once(PASSWORD.to_string()).chain(tokens) {
        for (what, text) in [
            ("stdout", &out.stdout),
            ("stderr", &out.stderr),
            ("log", &log),
            ("audit", &audit),
        ] {
            assert!(!text.contains(&secret), "a secret in the {what}");
        }
    }
    // The log was written, with the commands that carried data on stdin or in files.
    assert!(
        log.contains("cmd=qm guest exec 1002") && log.contains("cmd=pct push 102"),
        "the log holds the commands:\n{log}"
    );
}

/// A new agent image replaces the agent container (it keeps no state); nothing else moves.
#[test]
fn a_new_agent_image_replaces_the_agent() {
    let e = estate(&examples(), knobs("example"));
    e.sync(&["all"]).ok();
    e.h.edit_host(|h| h["docker"]["portainer_agent_image"] = Value::from("portainer/agent:2.27.3"));
    let mark = e.h.mark();
    let api = e.log().len();
    let out = e.sync(&["all"]);
    let stdout = out.ok();
    assert_eq!(outcome(stdout, "portainer"), "changed", "{stdout}");
    assert!(
        stdout.contains("portainer/agent:2.21.4 -> portainer/agent:2.27.3"),
        "{stdout}"
    );
    let m = e.h.mutations_since(mark);
    assert_eq!(m.len(), 2, "{m:#?}");
    assert!(m[0].ends_with("docker rm -f portainer_agent"), "{m:#?}");
    assert!(m[1].ends_with("portainer/agent:2.27.3"), "{m:#?}");
    assert!(e.writes_since(api).is_empty());
    let (_, image) = e.h.vm_exec(
        1002,
        &[
            "docker",
            "inspect",
            "--format",
            "{{.Config.Image}}",
            "portainer_agent",
        ],
    );
    assert_eq!(image.trim(), "portainer/agent:2.27.3");
}
