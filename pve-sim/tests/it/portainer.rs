//! `portainer-sim` with the HTTP client `portainer-manager` uses (ureq, rustls with ring),
//! over TLS with a test CA written by `portainer-sim gen-cert`: the admin, auth, environment
//! and stack contract of ../shared/spec/portainer-manager.md §15.2.

use std::path::Path;
use std::sync::Arc;

use phoenix_core::cmd::{Cmd, Runner};
use pve_sim::portainer::multipart;
use pve_sim::portainer::{Options, Server};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

/// A client trusting only the test CA.
fn client(ca: &Path) -> ureq::Agent {
    let ca = ureq::tls::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![ca])))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

struct Fixture {
    _dir: tempfile::TempDir,
    server: Server,
    agent: ureq::Agent,
}

/// Certificates through the binary, then a TLS server.
fn start(opts: Options) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    Runner::system(false)
        .run(&Cmd::mutate(env!("CARGO_BIN_EXE_portainer-sim")).args([
            "gen-cert",
            "--dir",
            certs.to_str().unwrap(),
            "--host",
            "localhost",
            "--ip",
            "127.0.0.1",
        ]))
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(certs.join("server.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let server = Server::start(Options {
        tls: Some((certs.join("server.crt"), certs.join("server.key"))),
        ..opts
    })
    .unwrap();
    let agent = client(&certs.join("ca.crt"));
    Fixture {
        _dir: dir,
        server,
        agent,
    }
}

/// `(status, JSON body)`.
fn call(
    f: &Fixture,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, Vec<u8>)>,
) -> (u16, Value) {
    let url = format!("{}{path}", f.server.url());
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut resp = match (method, body) {
        ("GET", _) => {
            let mut r = f.agent.get(&url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call()
        }
        ("DELETE", _) => {
            let mut r = f.agent.delete(&url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call()
        }
        (m, body) => {
            let mut r = if m == "PUT" {
                f.agent.put(&url)
            } else {
                f.agent.post(&url)
            };
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            let (ct, data) = body.unwrap_or(("application/json", b"{}".to_vec()));
            r.header("Content-Type", ct).send(&data[..])
        }
    }
    .unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (
        status,
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        },
    )
}

fn json_body(v: Value) -> Option<(&'static str, Vec<u8>)> {
    Some(("application/json", v.to_string().into_bytes()))
}

fn login(f: &Fixture) -> String {
    let (s, _) = call(
        f,
        "POST",
        "/api/users/admin/init",
        None,
        json_body(json!({"Username": "admin", "Password": PASSWORD})),
    );
    assert_eq!(s, 200);
    let (s, v) = call(
        f,
        "POST",
        "/api/auth",
        None,
        json_body(json!({"username": "admin", "password": PASSWORD})),
    );
    assert_eq!(s, 200);
    v["jwt"].as_str().unwrap().to_string()
}

fn agent_form(name: &str) -> Option<(&'static str, Vec<u8>)> {
    let body = multipart::build(
        "phoenixBoundary",
        &[
            ("Name", None, name.as_bytes()),
            ("EndpointCreationType", None, b"2"),
            ("URL", None, b"tcp://10.0.0.102:9001"),
            ("GroupID", None, b"1"),
            ("TLS", None, b"true"),
            ("TLSSkipVerify", None, b"true"),
            ("TLSSkipClientVerify", None, b"true"),
        ],
    );
    Some(("multipart/form-data; boundary=phoenixBoundary", body))
}

#[test]
fn tls_with_the_test_ca_and_nothing_else() {
    let f = start(Options::default());
    assert!(f.server.url().starts_with("https://127.0.0.1:"));
    let (s, v) = call(&f, "GET", "/api/system/status", None, None);
    assert_eq!(s, 200);
    assert_eq!(v["Version"], "2.27.3");
    assert_eq!(v["InstanceID"].as_str().unwrap().len(), 36);
    // A client with the default roots refuses the test certificate.
    let plain: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    assert!(
        plain
            .get(format!("{}/api/system/status", f.server.url()))
            .call()
            .is_err()
    );
    // The certificate names localhost too.
    let by_name = format!("https://localhost:{}/api/status", f.server.addr.port());
    assert_eq!(f.agent.get(by_name).call().unwrap().status().as_u16(), 200);
}

#[test]
fn admin_init_auth_and_authorisation() {
    let f = start(Options::default());
    assert_eq!(call(&f, "GET", "/api/users/admin/check", None, None).0, 404);
    let (s, v) = call(
        &f,
        "POST",
        "/api/users/admin/init",
        None,
        json_body(json!({"Username": "admin", "Password": "short"})),
    );
    assert_eq!(
        (s, v["message"].as_str()),
        (400, Some("Invalid request payload"))
    );
    let token = login(&f);
    assert_eq!(
        call(
            &f,
            "POST",
            "/api/users/admin/init",
            None,
            json_body(json!({"Username": "admin", "Password": PASSWORD}))
        )
        .0,
        409
    );
    assert_eq!(call(&f, "GET", "/api/users/admin/check", None, None).0, 204);
    let (s, v) = call(
        &f,
        "POST",
        "/api/auth",
        None,
        json_body(json!({"Username": "admin", "Password": "nope"})),
    );
    assert_eq!(
        (s, v["message"].as_str()),
        (422, Some("Invalid credentials"))
    );
    let (s, v) = call(&f, "GET", "/api/endpoints", None, None);
    assert_eq!((s, v["message"].as_str()), (401, Some("Unauthorized")));
    assert_eq!(
        call(&f, "GET", "/api/endpoints", Some("forged"), None).0,
        401
    );
    assert_eq!(
        call(&f, "GET", "/api/endpoints", Some(&token), None),
        (200, json!([]))
    );
    // The request log has what tests assert on, and no secret.
    let (_, log) = call(&f, "GET", "/__sim/requests", None, None);
    let text = log.to_string();
    assert!(!text.contains(PASSWORD) && !text.contains(&token), "{text}");
    let auth = log
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "/api/auth" && r["status"] == 200)
        .unwrap();
    assert_eq!(auth["body"]["password"], "<redacted>");
    assert_eq!(auth["content_type"], "application/json");
}

#[test]
fn the_init_window_and_restarts() {
    let f = start(Options::default());
    assert_eq!(
        call(
            &f,
            "POST",
            "/__sim/close-init-window",
            None,
            Some(("text/plain", Vec::new()))
        )
        .0,
        204
    );
    let url = format!("{}/api/users/admin/init", f.server.url());
    let mut resp = f
        .agent
        .post(&url)
        .header("Content-Type", "application/json")
        .send(json!({"Username": "admin", "Password": PASSWORD}).to_string())
        .unwrap();
    let status = resp.status().as_u16();
    let reason = resp
        .headers()
        .get("redirect-reason")
        .map(|v| v.to_str().unwrap().to_string());
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    assert_eq!((status, reason.as_deref()), (303, Some("AdminInitTimeout")));
    assert!(
        body.contains("Administrator initialization timeout"),
        "{body}"
    );
    assert_eq!(
        call(&f, "GET", "/api/system/status", None, None).0,
        200,
        "status stays public"
    );
    call(
        &f,
        "POST",
        "/__sim/restart",
        None,
        Some(("text/plain", Vec::new())),
    );
    login(&f);
}

#[test]
fn environments_need_multipart_and_unique_names() {
    let f = start(Options::default());
    let token = login(&f);
    let (s, v) = call(
        &f,
        "POST",
        "/api/endpoints",
        Some(&token),
        json_body(
            json!({"Name": "docker-1002", "URL": "tcp://10.0.0.102:9001", "Type": 2, "GroupID": 1, "TLS": false}),
        ),
    );
    assert_eq!(
        (s, v["message"].as_str()),
        (400, Some("Invalid request payload"))
    );
    let (s, e) = call(
        &f,
        "POST",
        "/api/endpoints",
        Some(&token),
        agent_form("docker-1002"),
    );
    assert_eq!(s, 200, "{e}");
    assert_eq!(
        (
            e["Name"].as_str(),
            e["Type"].as_u64(),
            e["URL"].as_str(),
            e["GroupId"].as_u64()
        ),
        (
            Some("docker-1002"),
            Some(2),
            Some("tcp://10.0.0.102:9001"),
            Some(1)
        )
    );
    assert_eq!(e["TLSConfig"], json!({"TLS": true, "TLSSkipVerify": true}));
    let (s, v) = call(
        &f,
        "POST",
        "/api/endpoints",
        Some(&token),
        agent_form("docker-1002"),
    );
    assert_eq!(
        (s, v["message"].as_str()),
        (409, Some("Name is not unique"))
    );
    let bad = multipart::build(
        "b",
        &[("Name", None, b"x"), ("EndpointCreationType", None, b"9")],
    );
    assert_eq!(
        call(
            &f,
            "POST",
            "/api/endpoints",
            Some(&token),
            Some(("multipart/form-data; boundary=b", bad))
        )
        .0,
        400
    );
    let (_, list) = call(&f, "GET", "/api/endpoints", Some(&token), None);
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[test]
fn stacks_create_update_file_delete() {
    let f = start(Options::default());
    let token = login(&f);
    let (_, e) = call(
        &f,
        "POST",
        "/api/endpoints",
        Some(&token),
        agent_form("docker-1002"),
    );
    let eid = e["Id"].as_u64().unwrap();
    let compose = "services:\n  qdrant:\n    image: qdrant/qdrant\n";
    let create = json!({"name": "qdrant-prod", "stackFileContent": compose, "env": [{"name": "QDRANT__LOG_LEVEL", "value": "INFO"}]});
    let path = format!("/api/stacks/create/standalone/string?endpointId={eid}");
    let (s, st) = call(&f, "POST", &path, Some(&token), json_body(create.clone()));
    assert_eq!(s, 200, "{st}");
    assert_eq!(
        (
            st["Name"].as_str(),
            st["EndpointId"].as_u64(),
            st["Type"].as_u64()
        ),
        (Some("qdrant-prod"), Some(eid), Some(2))
    );
    assert_eq!(
        call(&f, "POST", &path, Some(&token), json_body(create)).0,
        409
    );
    assert_eq!(
        call(
            &f,
            "POST",
            "/api/stacks/create/standalone/string?endpointId=999",
            Some(&token),
            json_body(json!({"name": "x", "stackFileContent": compose}))
        )
        .0,
        404
    );
    assert_eq!(
        call(
            &f,
            "POST",
            "/api/stacks?method=string",
            Some(&token),
            json_body(json!({}))
        )
        .0,
        400
    );
    // Legacy routes: string and file.
    let legacy = format!("/api/stacks?type=2&method=string&endpointId={eid}");
    assert_eq!(
        call(
            &f,
            "POST",
            &legacy,
            Some(&token),
            json_body(json!({"Name": "webapp", "StackFileContent": compose, "Env": []}))
        )
        .0,
        200
    );
    let upload = multipart::build(
        "u",
        &[
            ("Name", None, b"files"),
            ("file", Some("docker-compose.yml"), compose.as_bytes()),
            ("Env", None, b"[]"),
        ],
    );
    assert_eq!(
        call(
            &f,
            "POST",
            &format!("/api/stacks?type=2&method=file&endpointId={eid}"),
            Some(&token),
            Some(("multipart/form-data; boundary=u", upload))
        )
        .0,
        200
    );
    let id = st["Id"].as_u64().unwrap();
    let (s, filtered) = call(
        &f,
        "GET",
        &format!("/api/stacks?filters=%7B%22EndpointID%22%3A{eid}%7D"),
        Some(&token),
        None,
    );
    assert_eq!((s, filtered.as_array().unwrap().len()), (200, 3));
    assert_eq!(
        call(
            &f,
            "PUT",
            &format!("/api/stacks/{id}?endpointId={eid}"),
            Some(&token),
            json_body(json!({"Env": [], "Prune": true}))
        )
        .0,
        400
    );
    let updated = "services:\n  qdrant:\n    image: qdrant/qdrant:v1.15\n";
    let (s, _) = call(
        &f,
        "PUT",
        &format!("/api/stacks/{id}?endpointId={eid}"),
        Some(&token),
        json_body(
            json!({"StackFileContent": updated, "Env": [], "Prune": true, "PullImage": false}),
        ),
    );
    assert_eq!(s, 200);
    assert_eq!(
        call(
            &f,
            "GET",
            &format!("/api/stacks/{id}/file"),
            Some(&token),
            None
        )
        .1,
        json!({"StackFileContent": updated})
    );
    assert_eq!(
        call(
            &f,
            "DELETE",
            &format!("/api/stacks/{id}?endpointId={eid}"),
            Some(&token),
            None
        )
        .0,
        204
    );
    assert_eq!(
        call(&f, "GET", &format!("/api/stacks/{id}"), Some(&token), None).0,
        404
    );
    let (_, state) = call(&f, "GET", "/__sim/state", None, None);
    assert_eq!(state["stacks"].as_array().unwrap().len(), 2);
    assert!(!state.to_string().contains(PASSWORD));
}

#[test]
fn fault_knobs() {
    let mut opts = Options::default();
    opts.knobs.startup_refusals = 2;
    opts.knobs.agents_reachable = false;
    let f = start(opts);
    assert_eq!(call(&f, "GET", "/api/system/status", None, None).0, 503);
    assert_eq!(call(&f, "GET", "/api/system/status", None, None).0, 503);
    assert_eq!(call(&f, "GET", "/api/system/status", None, None).0, 200);
    let token = login(&f);
    let (s, v) = call(
        &f,
        "POST",
        "/api/endpoints",
        Some(&token),
        agent_form("docker-1002"),
    );
    assert_eq!(
        (s, v["message"].as_str()),
        (
            500,
            Some("Unable to initiate communications with environment")
        )
    );
    call(
        &f,
        "POST",
        "/__sim/fail?count=2&status=502",
        None,
        Some(("text/plain", Vec::new())),
    );
    assert_eq!(call(&f, "GET", "/api/endpoints", Some(&token), None).0, 502);
    assert_eq!(call(&f, "GET", "/api/endpoints", Some(&token), None).0, 502);
    assert_eq!(call(&f, "GET", "/api/endpoints", Some(&token), None).0, 200);
    // API keys authenticate too; the agent answers /ping.
    call(
        &f,
        "POST",
        "/__sim/api-key?key=ptr_test",
        None,
        Some(("text/plain", Vec::new())),
    );
    let mut r = f
        .agent
        .get(format!("{}/api/endpoints", f.server.url()))
        .header("X-API-Key", "ptr_test")
        .call()
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap()),
        (200, "[]".to_string())
    );
    assert_eq!(
        f.agent
            .get(format!("{}/ping", f.server.url()))
            .call()
            .unwrap()
            .status()
            .as_u16(),
        204
    );
}

#[test]
fn the_server_stays_on_loopback() {
    let err = Server::start(Options {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..Options::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("loopback only"), "{err}");
    let plain = Server::start(Options::default()).unwrap();
    assert!(plain.url().starts_with("http://127.0.0.1:"));
}
