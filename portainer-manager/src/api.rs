//! Portainer 2.x's API as this tool uses it (../shared/spec/portainer-manager.md §15.1):
//! readiness, the first administrator, logging in, agent environments (multipart, TLS to the
//! agent) and compose stacks sent by content. Every call checks its status and turns
//! Portainer's `{"message","details"}` into an error that names the call.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};

use crate::http::{Body, Client, Reply, RetryPolicy, Secret};

/// The administrator's credentials.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Password.
    pub password: Secret,
}

/// An environment as Portainer lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    /// `Id`.
    pub id: u64,
    /// `Name`.
    pub name: String,
    /// `URL`.
    pub url: String,
}

/// A stack as Portainer lists it (plus its file, read when needed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackInfo {
    /// `Id`.
    pub id: u64,
    /// `Name` (Portainer lower-cases it).
    pub name: String,
    /// `EndpointId`.
    pub endpoint_id: u64,
    /// `Env`.
    pub env: Vec<(String, String)>,
}

/// The API over one client.
#[derive(Debug)]
pub struct Api {
    client: Client,
}

fn status_error(what: &str, r: &Reply) -> anyhow::Error {
    match r.status {
        401 => anyhow!(
            "{what}: HTTP 401 {}: Portainer rejected the session (the token expired or the server was reset); run sync again",
            r.message()
        ),
        303 | 307 => anyhow!(
            "{what}: HTTP {} {}: Portainer's administrator initialisation window closed before an administrator was created; restart the Portainer container (or run sync with --reset-portainer) and sync again",
            r.status,
            r.message()
        ),
        s => anyhow!("{what}: HTTP {s} {}", r.message()),
    }
}

fn env_list(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["name"].as_str().unwrap_or_default().to_string(),
                        e["value"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn env_json(env: &[(String, String)]) -> Value {
    Value::Array(
        env.iter()
            .map(|(n, v)| json!({"name": n, "value": v}))
            .collect(),
    )
}

impl Api {
    /// The API over `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The client (dry run or not, base URL).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Waits until `GET /api/system/status` answers 200 with an `InstanceID`, at most
    /// `deadline`; returns the version. Connection errors, 5xx and 503 ("starting") are
    /// waited out; anything else is an error at once.
    pub fn wait_ready(&self, deadline: Duration) -> anyhow::Result<String> {
        let end = Instant::now() + deadline;
        let one = RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        };
        let mut n = 0u32;
        loop {
            let last =
                match self
                    .client
                    .request_with("GET", "/api/system/status", &Body::Empty, one)
                {
                    Ok(r) if r.status == 200 && !r.json()["InstanceID"].is_null() => {
                        return Ok(r.json()["Version"].as_str().unwrap_or("?").to_string());
                    }
                    Ok(r) if r.status == 200 || r.status >= 500 => {
                        format!("HTTP {} {}", r.status, r.message())
                    }
                    Ok(r) => return Err(status_error("GET /api/system/status", &r)),
                    Err(e) if format!("{e:#}").contains("TLS") => return Err(e),
                    Err(e) => format!("{e:#}"),
                };
            tracing::info!(
                "Portainer at {} is not ready yet ({last})",
                self.client.base()
            );
            let pause = Duration::from_millis(250 * u64::from(1u32 << n.min(3)))
                .min(end.saturating_duration_since(Instant::now()));
            if pause.is_zero() {
                bail!(
                    "Portainer at {} was not ready within {}s (last: {last}); is the Portainer container running? (portainer_api.ready_timeout_secs)",
                    self.client.base(),
                    deadline.as_secs()
                );
            }
            std::thread::sleep(pause);
            n += 1;
        }
    }

    /// `GET /api/users/admin/check`: whether an administrator exists.
    pub fn admin_exists(&self) -> anyhow::Result<bool> {
        let r = self
            .client
            .request("GET", "/api/users/admin/check", &Body::Empty)?;
        match r.status {
            204 | 200 => Ok(true),
            404 => Ok(false),
            _ => Err(status_error("GET /api/users/admin/check", &r)),
        }
    }

    /// `POST /api/users/admin/init`: 200 created, 409 already there (both fine).
    pub fn init_admin(&self, c: &Credentials) -> anyhow::Result<()> {
        let body = Body::Json(json!({"Username": c.user, "Password": c.password.expose()}));
        let r = self
            .client
            .request("POST", "/api/users/admin/init", &body)?;
        match r.status {
            200 | 409 => Ok(()),
            400 => bail!(
                "POST /api/users/admin/init: Portainer refused the administrator {:?}: {} (recent versions want at least 12 characters)",
                c.user,
                r.message()
            ),
            _ => Err(status_error("POST /api/users/admin/init", &r)),
        }
    }

    /// `POST /api/auth`; the token is used for every later call.
    pub fn login(&mut self, c: &Credentials) -> anyhow::Result<()> {
        let body = Body::Json(json!({"username": c.user, "password": c.password.expose()}));
        let r = self.client.request("POST", "/api/auth", &body)?;
        match r.status {
            200 => {
                let jwt = r.json()["jwt"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .map(Secret::new)
                    .context("POST /api/auth: the answer has no jwt")?;
                self.client.set_token(jwt);
                Ok(())
            }
            401 | 422 => bail!(
                "POST /api/auth: Portainer refused the password of {:?} (HTTP {} {}): the password was changed in Portainer, or the configured one is out of date (portainer_api.admin_password_file)",
                c.user,
                r.status,
                r.message()
            ),
            _ => Err(status_error("POST /api/auth", &r)),
        }
    }

    /// `GET /api/endpoints`.
    pub fn environments(&self) -> anyhow::Result<Vec<Environment>> {
        let r = self.client.request("GET", "/api/endpoints", &Body::Empty)?;
        if !r.is_success() {
            return Err(status_error("GET /api/endpoints", &r));
        }
        Ok(r.json()
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| Environment {
                        id: e["Id"].as_u64().unwrap_or_default(),
                        name: e["Name"].as_str().unwrap_or_default().to_string(),
                        url: e["URL"].as_str().unwrap_or_default().to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `POST /api/endpoints` (multipart): an agent environment over TLS (the agent always
    /// serves TLS with its own certificate). A 409 means another run created it: the
    /// existing one is used.
    pub fn create_agent_environment(&self, name: &str, url: &str) -> anyhow::Result<u64> {
        let fields = [
            ("Name", name),
            ("EndpointCreationType", "2"),
            ("URL", url),
            ("GroupID", "1"),
            ("TLS", "true"),
            ("TLSSkipVerify", "true"),
            ("TLSSkipClientVerify", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let r = self
            .client
            .request("POST", "/api/endpoints", &Body::Form(fields))?;
        match r.status {
            200 | 201 => r.json()["Id"]
                .as_u64()
                .context("POST /api/endpoints: the answer has no Id"),
            409 => self
                .environments()?
                .into_iter()
                .find(|e| e.name == name)
                .map(|e| e.id)
                .with_context(|| format!("POST /api/endpoints: {name} exists but is not listed")),
            500 => bail!(
                "POST /api/endpoints {name}: Portainer could not reach the agent at {url} ({}); is the agent running and the port open?",
                r.message()
            ),
            _ => Err(status_error(&format!("POST /api/endpoints {name}"), &r)),
        }
    }

    /// `GET /api/stacks`.
    pub fn stacks(&self) -> anyhow::Result<Vec<StackInfo>> {
        let r = self.client.request("GET", "/api/stacks", &Body::Empty)?;
        if !r.is_success() {
            return Err(status_error("GET /api/stacks", &r));
        }
        Ok(r.json()
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| StackInfo {
                        id: s["Id"].as_u64().unwrap_or_default(),
                        name: s["Name"].as_str().unwrap_or_default().to_string(),
                        endpoint_id: s["EndpointId"].as_u64().unwrap_or_default(),
                        env: env_list(&s["Env"]),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `GET /api/stacks/{id}/file`: the compose text Portainer holds.
    pub fn stack_file(&self, id: u64) -> anyhow::Result<String> {
        let path = format!("/api/stacks/{id}/file");
        let r = self.client.request("GET", &path, &Body::Empty)?;
        if !r.is_success() {
            return Err(status_error(&format!("GET {path}"), &r));
        }
        Ok(r.json()["StackFileContent"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// Creates a compose stack from its content
    /// (`POST /api/stacks/create/standalone/string`, or on servers older than 2.19 the
    /// legacy `POST /api/stacks?type=2&method=string`).
    pub fn create_stack(
        &self,
        endpoint: u64,
        name: &str,
        content: &str,
        env: &[(String, String)],
    ) -> anyhow::Result<u64> {
        let path = format!("/api/stacks/create/standalone/string?endpointId={endpoint}");
        let body =
            Body::Json(json!({"name": name, "stackFileContent": content, "env": env_json(env)}));
        let mut r = self.client.request("POST", &path, &body)?;
        // An old server has no such route: its router answers a plain-text 404, while a
        // missing environment is a JSON error.
        if r.status == 404 && r.json().is_null() {
            let legacy = format!("/api/stacks?type=2&method=string&endpointId={endpoint}");
            let body = Body::Json(
                json!({"Name": name, "StackFileContent": content, "Env": env_json(env)}),
            );
            r = self.client.request("POST", &legacy, &body)?;
        }
        match r.status {
            200 | 201 => r.json()["Id"]
                .as_u64()
                .with_context(|| format!("creating stack {name}: the answer has no Id")),
            _ => Err(status_error(&format!("creating stack {name}"), &r)),
        }
    }

    /// `PUT /api/stacks/{id}?endpointId=`: new content and environment, redeployed with
    /// orphans pruned.
    pub fn update_stack(
        &self,
        id: u64,
        endpoint: u64,
        content: &str,
        env: &[(String, String)],
    ) -> anyhow::Result<()> {
        let path = format!("/api/stacks/{id}?endpointId={endpoint}");
        let body = Body::Json(json!({
            "StackFileContent": content,
            "Env": env_json(env),
            "Prune": true,
            "PullImage": false,
        }));
        let r = self.client.request("PUT", &path, &body)?;
        if r.is_success() {
            Ok(())
        } else {
            Err(status_error(&format!("PUT {path}"), &r))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn statuses_say_what_to_do() {
        let e = status_error(
            "GET /api/stacks",
            &reply(
                401,
                r#"{"message":"Unauthorized","details":"Invalid JWT token"}"#,
            ),
        );
        let t = e.to_string();
        assert!(
            t.contains("HTTP 401 Unauthorized: Invalid JWT token"),
            "{t}"
        );
        assert!(t.contains("rejected the session"), "{t}");
        let e = status_error(
            "GET /api/endpoints",
            &reply(303, r#"{"message":"Administrator initialization timeout"}"#),
        );
        assert!(
            e.to_string().contains("initialisation window closed"),
            "{e}"
        );
        let e = status_error("GET /api/x", &reply(404, "404 page not found"));
        assert_eq!(e.to_string(), "GET /api/x: HTTP 404 404 page not found");
    }

    #[test]
    fn environment_variables_round_trip() {
        let env = vec![("A".to_string(), "1".to_string())];
        assert_eq!(env_list(&env_json(&env)), env);
        assert!(env_list(&Value::Null).is_empty());
    }
}
