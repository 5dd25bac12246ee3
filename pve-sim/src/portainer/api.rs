//! The fake Portainer: state and routes (../shared/spec/portainer-manager.md §9.3, §15.2).
//!
//! Pure request → response over [`Portainer`]; the server in [`super`] adds sockets and TLS.
//! Behaviour follows Portainer 2.x: public status and admin routes, the admin-initialisation
//! window, JWT auth (`Authorization: Bearer`) or API keys (`X-API-Key`), environments created
//! from multipart forms, compose stacks created from strings (new and legacy routes) or files,
//! updated with `PUT`, and Portainer's `{"message", "details"}` errors.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::http::{Request, Response};
use super::multipart;

/// An environment ("endpoint").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// ID.
    pub id: u64,
    /// Unique name.
    pub name: String,
    /// 1 Docker, 2 agent, …
    pub kind: u8,
    /// `tcp://host:port`.
    pub url: String,
    /// Group.
    pub group_id: u64,
    /// TLS to the environment.
    pub tls: bool,
    /// Skip verifying its certificate.
    pub tls_skip_verify: bool,
}

impl Endpoint {
    fn to_json(&self) -> Value {
        json!({
            "Id": self.id, "Name": self.name, "Type": self.kind, "URL": self.url, "GroupId": self.group_id,
            "PublicURL": "", "Status": 1,
            "TLSConfig": {"TLS": self.tls, "TLSSkipVerify": self.tls_skip_verify},
        })
    }
}

/// A compose stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stack {
    /// ID.
    pub id: u64,
    /// Normalised (lower-case) name.
    pub name: String,
    /// Environment.
    pub endpoint_id: u64,
    /// `[{"name", "value"}]`.
    pub env: Vec<(String, String)>,
    /// The compose file.
    pub content: String,
    /// Times updated.
    pub updates: u64,
}

impl Stack {
    fn to_json(&self) -> Value {
        json!({
            "Id": self.id, "Name": self.name, "Type": 2, "EndpointId": self.endpoint_id, "Status": 1,
            "EntryPoint": "docker-compose.yml", "ProjectPath": format!("/data/compose/{}", self.id),
            "Env": self.env.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
        })
    }
}

/// One logged request (secrets redacted).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Logged {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Query.
    pub query: BTreeMap<String, String>,
    /// Headers (lower-case names; credentials redacted).
    pub headers: BTreeMap<String, String>,
    /// Media type.
    pub content_type: String,
    /// JSON body (passwords redacted), multipart field names, or text.
    pub body: Value,
    /// Status answered.
    pub status: u16,
}

/// Knobs.
#[derive(Clone, Debug)]
pub struct Knobs {
    /// Status calls answered 503 before the server is "up".
    pub startup_refusals: u32,
    /// The next N API calls fail with `fail_status`.
    pub fail_next: u32,
    /// Status for forced failures.
    pub fail_status: u16,
    /// How long the admin-initialisation window stays open.
    pub init_window: Duration,
    /// The window is closed now (as after a timeout), until a restart.
    pub init_window_closed: bool,
    /// Minimum admin password length.
    pub min_password_len: usize,
    /// Whether agents answer when an agent environment is created.
    pub agents_reachable: bool,
    /// Added to every response.
    pub latency: Duration,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            startup_refusals: 0,
            fail_next: 0,
            fail_status: 500,
            init_window: Duration::from_secs(300),
            init_window_closed: false,
            min_password_len: 12,
            agents_reachable: true,
            latency: Duration::ZERO,
        }
    }
}

/// The whole fake server state.
#[derive(Debug)]
pub struct Portainer {
    /// Reported version.
    pub version: String,
    /// Reported instance ID.
    pub instance_id: String,
    /// `(username, password)` once initialised.
    pub admin: Option<(String, String)>,
    /// Start (or simulated restart) time.
    pub started: Instant,
    /// Issued JWTs.
    pub tokens: Vec<String>,
    /// Accepted API keys.
    pub api_keys: Vec<String>,
    /// Environments.
    pub endpoints: Vec<Endpoint>,
    /// Stacks.
    pub stacks: Vec<Stack>,
    /// Request log.
    pub log: Vec<Logged>,
    /// Knobs.
    pub knobs: Knobs,
    next_id: u64,
    token_seed: u64,
}

fn redact(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k.to_ascii_lowercase().contains("password") || k.eq_ignore_ascii_case("jwt") {
                    *x = json!("<redacted>");
                } else {
                    redact(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact),
        _ => {}
    }
}

/// A JSON field, matched case-insensitively (Go's `encoding/json` does the same).
fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, x)| x)
}

fn field_str<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    field(v, name).and_then(Value::as_str)
}

fn parse_env(v: Option<&Value>) -> Result<Vec<(String, String)>, String> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let v = match v {
        Value::String(s) if !s.is_empty() => {
            serde_json::from_str(s).map_err(|_| "Invalid Env value".to_string())?
        }
        Value::String(_) | Value::Null => return Ok(Vec::new()),
        other => other.clone(),
    };
    let arr = v.as_array().ok_or("Invalid Env value")?;
    arr.iter()
        .map(|e| match (field_str(e, "name"), field_str(e, "value")) {
            (Some(n), Some(val)) => Ok((n.to_string(), val.to_string())),
            _ => Err("Invalid Env value".to_string()),
        })
        .collect()
}

fn valid_stack_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
}

impl Portainer {
    /// A fresh server (no admin, init window open).
    pub fn new(version: &str, knobs: Knobs) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id());
        let instance_id = sha1_smol::Sha1::from(format!("instance:{seed}"))
            .digest()
            .to_string();
        let instance_id = format!(
            "{}-{}-{}-{}-{}",
            &instance_id[0..8],
            &instance_id[8..12],
            &instance_id[12..16],
            &instance_id[16..20],
            &instance_id[20..32]
        );
        Self {
            version: version.to_string(),
            instance_id,
            admin: None,
            started: Instant::now(),
            tokens: Vec::new(),
            api_keys: Vec::new(),
            endpoints: Vec::new(),
            stacks: Vec::new(),
            log: Vec::new(),
            knobs,
            next_id: 1,
            token_seed: seed,
        }
    }

    fn id(&mut self) -> u64 {
        let i = self.next_id;
        self.next_id += 1;
        i
    }

    /// A simulated container restart: reopens the init window, forgets tokens.
    pub fn restart(&mut self, now: Instant) {
        self.started = now;
        self.knobs.init_window_closed = false;
        self.tokens.clear();
    }

    fn init_window_closed(&self, now: Instant) -> bool {
        self.admin.is_none()
            && (self.knobs.init_window_closed
                || now.duration_since(self.started) > self.knobs.init_window)
    }

    fn issue_token(&mut self) -> String {
        self.token_seed = self
            .token_seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let h = sha1_smol::Sha1::from(format!("jwt:{}:{}", self.token_seed, self.tokens.len()))
            .digest()
            .to_string();
        let token = format!("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{h}.pvesim");
        self.tokens.push(token.clone());
        token
    }

    fn authorised(&self, req: &Request) -> bool {
        let bearer = req
            .header("authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
            .map(str::trim);
        bearer.is_some_and(|t| self.tokens.iter().any(|x| x == t))
            || req
                .header("x-api-key")
                .is_some_and(|k| self.api_keys.iter().any(|x| x == k))
    }

    /// Handles a request and logs it.
    pub fn handle(&mut self, req: &Request, now: Instant) -> Response {
        let resp = self.route(req, now);
        self.record(req, resp.status);
        resp
    }

    fn record(&mut self, req: &Request, status: u16) {
        let mut headers = req.headers.clone();
        for k in ["authorization", "x-api-key", "cookie"] {
            if let Some(v) = headers.get_mut(k) {
                *v = if v.starts_with("Bearer ") {
                    "Bearer <redacted>".into()
                } else {
                    "<redacted>".into()
                };
            }
        }
        let ct = req.content_type().to_string();
        let body = if req.body.is_empty() {
            Value::Null
        } else if ct == "application/json" || req.body.first() == Some(&b'{') {
            match serde_json::from_slice::<Value>(&req.body) {
                Ok(mut v) => {
                    redact(&mut v);
                    v
                }
                Err(_) => json!(String::from_utf8_lossy(&req.body)),
            }
        } else if let Some(b) = req.header("content-type").and_then(multipart::boundary) {
            let parts = multipart::parse(&req.body, &b).unwrap_or_default();
            let mut m = serde_json::Map::new();
            for p in parts {
                let v = if p.name.to_ascii_lowercase().contains("password") {
                    "<redacted>".to_string()
                } else {
                    String::from_utf8_lossy(&p.data).into_owned()
                };
                m.insert(p.name, json!(v));
            }
            Value::Object(m)
        } else {
            json!(String::from_utf8_lossy(&req.body))
        };
        self.log.push(Logged {
            method: req.method.clone(),
            path: req.path.clone(),
            query: req.query.clone(),
            headers,
            content_type: ct,
            body,
            status,
        });
    }

    fn route(&mut self, req: &Request, now: Instant) -> Response {
        let path = req.path.trim_end_matches('/');
        let m = req.method.as_str();
        if path == "/ping" && m == "GET" {
            return Response::empty(204);
        }
        let Some(api) = path.strip_prefix("/api") else {
            return Response::error(404, "Not found", "Unknown route");
        };
        let public_status = matches!(api, "/system/status" | "/status" | "/settings/public");
        if public_status && self.knobs.startup_refusals > 0 {
            self.knobs.startup_refusals -= 1;
            return Response::error(503, "Portainer is starting", "Service unavailable");
        }
        if self.knobs.fail_next > 0 {
            self.knobs.fail_next -= 1;
            return Response::error(
                self.knobs.fail_status,
                "Injected failure",
                "portainer-sim fault knob",
            );
        }
        if !public_status && self.init_window_closed(now) {
            return Response::error(
                303,
                "Administrator initialization timeout",
                "Portainer's administrator initialization window expired; restart Portainer",
            )
            .with_header("redirect-reason", "AdminInitTimeout")
            .with_header("Location", "/timeout.html");
        }
        let segs: Vec<&str> = api.split('/').filter(|s| !s.is_empty()).collect();
        match (m, segs.as_slice()) {
            ("GET", ["system", "status"] | ["status"]) => Response::json(
                200,
                &json!({"Version": self.version, "InstanceID": self.instance_id}),
            ),
            ("GET", ["settings", "public"]) => Response::json(
                200,
                &json!({"AuthenticationMethod": 1, "RequiredPasswordLength": self.knobs.min_password_len}),
            ),
            ("GET", ["users", "admin", "check"]) => match self.admin {
                Some(_) => Response::empty(204),
                None => Response::error(
                    404,
                    "No administrator account found inside the database",
                    "Object not found inside the database",
                ),
            },
            ("POST", ["users", "admin", "init"]) => self.admin_init(req),
            ("POST", ["auth"]) => self.auth(req),
            _ if !self.authorised(req) => Response::error(
                401,
                "Unauthorized",
                "A valid authorisation token is missing",
            ),
            ("GET", ["endpoints"]) => Response::json(
                200,
                &Value::Array(self.endpoints.iter().map(Endpoint::to_json).collect()),
            ),
            ("POST", ["endpoints"]) => self.create_endpoint(req),
            ("GET", ["endpoints", id]) => match self.endpoint(id) {
                Some(e) => Response::json(200, &e.to_json()),
                None => not_found_endpoint(),
            },
            ("DELETE", ["endpoints", id]) => match self.endpoint(id).map(|e| e.id) {
                Some(i) => {
                    self.endpoints.retain(|e| e.id != i);
                    Response::empty(204)
                }
                None => not_found_endpoint(),
            },
            ("GET", ["stacks"]) => self.list_stacks(req),
            ("POST", ["stacks", "create", "standalone", "string"]) => self.create_stack_string(req),
            ("POST", ["stacks", "create", "standalone", "file"]) => self.create_stack_file(req),
            ("POST", ["stacks"]) => match (
                req.query.get("type").map(String::as_str),
                req.query.get("method").map(String::as_str),
            ) {
                (None | Some(""), _) => Response::error(
                    400,
                    "Invalid query parameter: type",
                    "Missing query parameter",
                ),
                (Some("2"), Some("string")) => self.create_stack_string(req),
                (Some("2"), Some("file")) => self.create_stack_file(req),
                (Some("2"), Some("repository")) => Response::error(
                    400,
                    "Invalid value for query parameter: method. Value must be one of: string, file or repository",
                    "repository stacks are not simulated",
                ),
                (Some("1" | "3"), _) => Response::error(
                    400,
                    "Invalid value for query parameter: type. Value must be one of: 1 (Swarm stack) or 2 (Compose stack)",
                    "only compose stacks are simulated",
                ),
                (Some("2"), _) => Response::error(
                    400,
                    "Invalid query parameter: method",
                    "Missing or invalid query parameter",
                ),
                _ => Response::error(
                    400,
                    "Invalid value for query parameter: type. Value must be one of: 1 (Swarm stack) or 2 (Compose stack)",
                    "Invalid query parameter",
                ),
            },
            ("GET", ["stacks", id]) => match self.stack(id) {
                Some(s) => Response::json(200, &s.to_json()),
                None => not_found_stack(),
            },
            ("GET", ["stacks", id, "file"]) => match self.stack(id) {
                Some(s) => Response::json(200, &json!({"StackFileContent": s.content})),
                None => not_found_stack(),
            },
            ("PUT", ["stacks", id]) => self.update_stack(req, id),
            ("DELETE", ["stacks", id]) => match self.stack(id).map(|s| s.id) {
                Some(i) => {
                    self.stacks.retain(|s| s.id != i);
                    Response::empty(204)
                }
                None => not_found_stack(),
            },
            (_, ["configs", ..]) => {
                Response::error(404, "Not found", "Portainer has no /api/configs route")
            }
            _ => Response::error(404, "Not found", "Unknown route"),
        }
    }

    fn json_body(req: &Request) -> Result<Value, Response> {
        serde_json::from_slice::<Value>(&req.body)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| {
                Response::error(
                    400,
                    "Invalid request payload",
                    "request body is not a JSON object",
                )
            })
    }

    fn admin_init(&mut self, req: &Request) -> Response {
        let body = match Self::json_body(req) {
            Ok(b) => b,
            Err(r) => return r,
        };
        let user = field_str(&body, "Username").unwrap_or("");
        let pass = field_str(&body, "Password").unwrap_or("");
        if user.is_empty() || user.contains(' ') {
            return Response::error(
                400,
                "Invalid request payload",
                "Invalid username. Must not contain any whitespace",
            );
        }
        if pass.is_empty() {
            return Response::error(400, "Invalid request payload", "Invalid password");
        }
        if pass.len() < self.knobs.min_password_len {
            return Response::error(
                400,
                "Invalid request payload",
                "Password does not meet the requirements",
            );
        }
        if self.admin.is_some() {
            return Response::error(
                409,
                "Unable to create administrator user",
                "An administrator user already exists",
            );
        }
        self.admin = Some((user.to_string(), pass.to_string()));
        Response::json(200, &json!({"Id": 1, "Username": user, "Role": 1}))
    }

    fn auth(&mut self, req: &Request) -> Response {
        let body = match Self::json_body(req) {
            Ok(b) => b,
            Err(r) => return r,
        };
        let (Some(user), Some(pass)) = (field_str(&body, "Username"), field_str(&body, "Password"))
        else {
            return Response::error(400, "Invalid request payload", "Invalid credentials");
        };
        match &self.admin {
            Some((u, p)) if u == user && p == pass => {
                let jwt = self.issue_token();
                Response::json(200, &json!({"jwt": jwt}))
            }
            _ => Response::error(422, "Invalid credentials", "Unauthorized"),
        }
    }

    fn endpoint(&self, id: &str) -> Option<&Endpoint> {
        let id: u64 = id.parse().ok()?;
        self.endpoints.iter().find(|e| e.id == id)
    }

    fn stack(&self, id: &str) -> Option<&Stack> {
        let id: u64 = id.parse().ok()?;
        self.stacks.iter().find(|s| s.id == id)
    }

    fn create_endpoint(&mut self, req: &Request) -> Response {
        let Some(boundary) = req.header("content-type").and_then(multipart::boundary) else {
            return Response::error(
                400,
                "Invalid request payload",
                "request is not multipart/form-data",
            );
        };
        let parts = match multipart::parse(&req.body, &boundary) {
            Ok(p) => p,
            Err(e) => return Response::error(400, "Invalid request payload", &e),
        };
        let f = |n: &str| multipart::field(&parts, n).map(|c| c.into_owned());
        let name = f("Name").unwrap_or_default();
        if name.is_empty() {
            return Response::error(400, "Invalid request payload", "Invalid environment name");
        }
        let Some(kind) = f("EndpointCreationType")
            .and_then(|t| t.parse::<u8>().ok())
            .filter(|t| (1..=5).contains(t))
        else {
            return Response::error(
                400,
                "Invalid request payload",
                "Invalid environment type value. Value must be one of: 1 (Docker environment), 2 (Agent environment), 3 (Azure environment), 4 (Edge Agent environment) or 5 (Local Kubernetes environment)",
            );
        };
        let url = f("URL").unwrap_or_default();
        if kind == 2 && url.is_empty() {
            return Response::error(400, "Invalid request payload", "Invalid environment URL");
        }
        if self.endpoints.iter().any(|e| e.name == name) {
            return Response::error(
                409,
                "Name is not unique",
                "An environment with this name already exists",
            );
        }
        if kind == 2 && !self.knobs.agents_reachable {
            return Response::error(
                500,
                "Unable to initiate communications with environment",
                "dial tcp: connect: connection refused",
            );
        }
        let truthy = |n: &str| f(n).is_some_and(|v| matches!(v.as_str(), "true" | "1"));
        let group_id = f("GroupID").and_then(|g| g.parse().ok()).unwrap_or(1);
        let id = self.id();
        let e = Endpoint {
            id,
            name,
            kind,
            url,
            group_id,
            tls: truthy("TLS"),
            tls_skip_verify: truthy("TLSSkipVerify"),
        };
        let out = e.to_json();
        self.endpoints.push(e);
        Response::json(200, &out)
    }

    fn list_stacks(&self, req: &Request) -> Response {
        let endpoint_filter = match req.query.get("filters") {
            Some(f) => match serde_json::from_str::<Value>(f) {
                Ok(v) => field(&v, "EndpointID").and_then(Value::as_u64),
                Err(_) => {
                    return Response::error(
                        400,
                        "Invalid query parameter: filters",
                        "filters is not JSON",
                    );
                }
            },
            None => None,
        };
        let list: Vec<Value> = self
            .stacks
            .iter()
            .filter(|s| endpoint_filter.is_none_or(|e| s.endpoint_id == e))
            .map(Stack::to_json)
            .collect();
        Response::json(200, &Value::Array(list))
    }

    /// The `endpointId` query parameter, checked against the environments.
    fn endpoint_param(&self, req: &Request) -> Result<u64, Response> {
        let Some(id) = req
            .query
            .get("endpointId")
            .and_then(|v| v.parse::<u64>().ok())
        else {
            return Err(Response::error(
                400,
                "Invalid query parameter: endpointId",
                "Missing or invalid query parameter",
            ));
        };
        if !self.endpoints.iter().any(|e| e.id == id) {
            return Err(not_found_endpoint());
        }
        Ok(id)
    }

    fn add_stack(
        &mut self,
        endpoint_id: u64,
        name: &str,
        content: String,
        env: Vec<(String, String)>,
    ) -> Response {
        let name = name.to_ascii_lowercase();
        if name.is_empty() {
            return Response::error(400, "Invalid request payload", "Invalid stack name");
        }
        if !valid_stack_name(&name) {
            return Response::error(
                400,
                "Invalid request payload",
                "Stack name must only consist of lowercase alpha characters, numbers, hyphens, or underscores as well as start with a lowercase character or number",
            );
        }
        if content.trim().is_empty() {
            return Response::error(400, "Invalid request payload", "Invalid stack file content");
        }
        if self
            .stacks
            .iter()
            .any(|s| s.endpoint_id == endpoint_id && s.name == name)
        {
            return Response::error(
                409,
                &format!("A stack with the normalized name '{name}' already exists"),
                "Stack name must be unique",
            );
        }
        let id = self.id();
        let s = Stack {
            id,
            name,
            endpoint_id,
            env,
            content,
            updates: 0,
        };
        let out = s.to_json();
        self.stacks.push(s);
        Response::json(200, &out)
    }

    fn create_stack_string(&mut self, req: &Request) -> Response {
        let endpoint_id = match self.endpoint_param(req) {
            Ok(e) => e,
            Err(r) => return r,
        };
        let body = match Self::json_body(req) {
            Ok(b) => b,
            Err(r) => return r,
        };
        let name = field_str(&body, "Name").unwrap_or("").to_string();
        let content = field_str(&body, "StackFileContent")
            .unwrap_or("")
            .to_string();
        let env = match parse_env(field(&body, "Env")) {
            Ok(e) => e,
            Err(e) => return Response::error(400, "Invalid request payload", &e),
        };
        self.add_stack(endpoint_id, &name, content, env)
    }

    fn create_stack_file(&mut self, req: &Request) -> Response {
        let endpoint_id = match self.endpoint_param(req) {
            Ok(e) => e,
            Err(r) => return r,
        };
        let Some(boundary) = req.header("content-type").and_then(multipart::boundary) else {
            return Response::error(
                400,
                "Invalid request payload",
                "request is not multipart/form-data",
            );
        };
        let parts = match multipart::parse(&req.body, &boundary) {
            Ok(p) => p,
            Err(e) => return Response::error(400, "Invalid request payload", &e),
        };
        let name = multipart::field(&parts, "Name")
            .map(|c| c.into_owned())
            .unwrap_or_default();
        let Some(file) = parts.iter().find(|p| p.name == "file") else {
            return Response::error(
                400,
                "Invalid request payload",
                "Invalid Compose file. Ensure that the Compose file has been uploaded successfully",
            );
        };
        let env_text = multipart::field(&parts, "Env").map(|c| Value::String(c.into_owned()));
        let env = match parse_env(env_text.as_ref()) {
            Ok(e) => e,
            Err(e) => return Response::error(400, "Invalid request payload", &e),
        };
        self.add_stack(
            endpoint_id,
            &name,
            String::from_utf8_lossy(&file.data).into_owned(),
            env,
        )
    }

    fn update_stack(&mut self, req: &Request, id: &str) -> Response {
        let Some(stack_id) = self.stack(id).map(|s| s.id) else {
            return not_found_stack();
        };
        if let Err(r) = self.endpoint_param(req) {
            return r;
        }
        let body = match Self::json_body(req) {
            Ok(b) => b,
            Err(r) => return r,
        };
        let Some(content) = field_str(&body, "StackFileContent")
            .filter(|c| !c.trim().is_empty())
            .map(str::to_string)
        else {
            return Response::error(400, "Invalid request payload", "Invalid stack file content");
        };
        let env = match parse_env(field(&body, "Env")) {
            Ok(e) => e,
            Err(e) => return Response::error(400, "Invalid request payload", &e),
        };
        let Some(s) = self.stacks.iter_mut().find(|s| s.id == stack_id) else {
            return not_found_stack();
        };
        s.content = content;
        s.env = env;
        s.updates += 1;
        Response::json(200, &s.to_json())
    }

    /// A state summary (no secrets) for `/__sim/state`.
    pub fn summary(&self) -> Value {
        json!({
            "admin": self.admin.as_ref().map(|(u, _)| u),
            "tokens": self.tokens.len(),
            "endpoints": self.endpoints.iter().map(Endpoint::to_json).collect::<Vec<_>>(),
            "stacks": self.stacks.iter().map(|s| { let mut v = s.to_json(); v["StackFileContent"] = json!(s.content); v["Updates"] = json!(s.updates); v }).collect::<Vec<_>>(),
            "requests": self.log.len(),
        })
    }
}

fn not_found_endpoint() -> Response {
    Response::error(
        404,
        "Unable to find an environment with the specified identifier inside the database",
        "Object not found inside the database",
    )
}

fn not_found_stack() -> Response {
    Response::error(
        404,
        "Unable to find a stack with the specified identifier inside the database",
        "Object not found inside the database",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str, body: &str) -> Request {
        let (p, q) = path.split_once('?').unwrap_or((path, ""));
        let mut r = Request {
            method: method.into(),
            path: p.into(),
            body: body.as_bytes().to_vec(),
            ..Request::default()
        };
        for pair in q.split('&').filter(|x| !x.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            r.query.insert(k.into(), super::super::http::url_decode(v));
        }
        if !body.is_empty() {
            r.headers
                .insert("content-type".into(), "application/json".into());
        }
        r
    }

    fn with_token(mut r: Request, t: &str) -> Request {
        r.headers
            .insert("authorization".into(), format!("Bearer {t}"));
        r
    }

    fn body(r: &Response) -> Value {
        serde_json::from_slice(&r.body).unwrap_or(Value::Null)
    }

    #[test]
    fn admin_auth_and_401s() {
        let mut p = Portainer::new("2.27.3", Knobs::default());
        let now = Instant::now();
        assert_eq!(
            p.handle(&req("GET", "/api/users/admin/check", ""), now)
                .status,
            404
        );
        assert_eq!(
            p.handle(
                &req(
                    "POST",
                    "/api/users/admin/init",
                    r#"{"Username":"admin","Password":"short"}"#
                ),
                now
            )
            .status,
            400
        );
        assert_eq!(
            p.handle(&req("POST", "/api/users/admin/init", "not json"), now)
                .status,
            400
        );
        let ok = p.handle(
            &req(
                "POST",
                "/api/users/admin/init",
                r#"{"username":"admin","password":"correct horse battery"}"#,
            ),
            now,
        );
        assert_eq!((ok.status, body(&ok)["Role"].as_u64()), (200, Some(1)));
        assert_eq!(
            p.handle(
                &req(
                    "POST",
                    "/api/users/admin/init",
                    r#"{"Username":"admin","Password":"correct horse battery"}"#
                ),
                now
            )
            .status,
            409
        );
        assert_eq!(
            p.handle(&req("GET", "/api/users/admin/check", ""), now)
                .status,
            204
        );
        assert_eq!(
            p.handle(
                &req(
                    "POST",
                    "/api/auth",
                    r#"{"Username":"admin","Password":"wrong"}"#
                ),
                now
            )
            .status,
            422
        );
        let a = p.handle(
            &req(
                "POST",
                "/api/auth",
                r#"{"username":"admin","password":"correct horse battery"}"#,
            ),
            now,
        );
        let jwt = body(&a)["jwt"].as_str().unwrap().to_string();
        assert_eq!(p.handle(&req("GET", "/api/endpoints", ""), now).status, 401);
        assert_eq!(
            p.handle(&with_token(req("GET", "/api/endpoints", ""), &jwt), now)
                .status,
            200
        );
        // Secrets never reach the log.
        let logged = serde_json::to_string(&p.log).unwrap();
        assert!(
            !logged.contains("correct horse") && !logged.contains(&jwt),
            "{logged}"
        );
    }

    #[test]
    fn the_init_window_closes_and_a_restart_reopens_it() {
        let mut p = Portainer::new(
            "2.27.3",
            Knobs {
                init_window: Duration::from_secs(300),
                ..Knobs::default()
            },
        );
        let later = p.started + Duration::from_secs(301);
        let r = p.handle(
            &req(
                "POST",
                "/api/users/admin/init",
                r#"{"Username":"admin","Password":"correct horse battery"}"#,
            ),
            later,
        );
        assert_eq!(
            (r.status, body(&r)["message"].as_str()),
            (303, Some("Administrator initialization timeout"))
        );
        assert!(
            r.headers
                .iter()
                .any(|(k, v)| k == "redirect-reason" && v == "AdminInitTimeout")
        );
        assert_eq!(
            p.handle(&req("GET", "/api/system/status", ""), later)
                .status,
            200,
            "status stays public"
        );
        p.restart(later);
        assert_eq!(
            p.handle(
                &req(
                    "POST",
                    "/api/users/admin/init",
                    r#"{"Username":"admin","Password":"correct horse battery"}"#
                ),
                later
            )
            .status,
            200
        );
    }

    #[test]
    fn stacks_are_created_updated_and_conflict() {
        let mut p = Portainer::new("2.27.3", Knobs::default());
        let now = Instant::now();
        p.endpoints.push(Endpoint {
            id: 7,
            name: "docker-1002".into(),
            kind: 2,
            url: "tcp://10.0.0.102:9001".into(),
            group_id: 1,
            tls: true,
            tls_skip_verify: true,
        });
        p.api_keys.push("k".into());
        let key = |mut r: Request| {
            r.headers.insert("x-api-key".into(), "k".into());
            r
        };
        let c = p.handle(&key(req("POST", "/api/stacks/create/standalone/string?endpointId=7", r#"{"name":"Qdrant-Prod","stackFileContent":"services: {}\n","env":[{"name":"A","value":"1"}]}"#)), now);
        assert_eq!(
            (c.status, body(&c)["Name"].as_str()),
            (200, Some("qdrant-prod"))
        );
        let dup = p.handle(
            &key(req(
                "POST",
                "/api/stacks?type=2&method=string&endpointId=7",
                r#"{"Name":"qdrant-prod","StackFileContent":"services: {}\n"}"#,
            )),
            now,
        );
        assert_eq!(dup.status, 409);
        assert_eq!(
            p.handle(&key(req("POST", "/api/stacks?endpointId=7", "{}")), now)
                .status,
            400
        );
        assert_eq!(
            p.handle(
                &key(req(
                    "POST",
                    "/api/stacks/create/standalone/string?endpointId=9",
                    r#"{"name":"x","stackFileContent":"a"}"#
                )),
                now
            )
            .status,
            404
        );
        let id = body(&c)["Id"].as_u64().unwrap();
        assert_eq!(
            p.handle(
                &key(req(
                    "PUT",
                    &format!("/api/stacks/{id}?endpointId=7"),
                    r#"{"Prune":true}"#
                )),
                now
            )
            .status,
            400
        );
        let u = p.handle(
            &key(req(
                "PUT",
                &format!("/api/stacks/{id}?endpointId=7"),
                r#"{"StackFileContent":"services: {a: {}}\n","Env":[],"Prune":true}"#,
            )),
            now,
        );
        assert_eq!(u.status, 200);
        let f = p.handle(&key(req("GET", &format!("/api/stacks/{id}/file"), "")), now);
        assert_eq!(body(&f)["StackFileContent"], "services: {a: {}}\n");
        let filtered = p.handle(
            &key(req(
                "GET",
                "/api/stacks?filters=%7B%22EndpointID%22%3A8%7D",
                "",
            )),
            now,
        );
        assert_eq!(body(&filtered), json!([]));
        assert_eq!(
            p.handle(&key(req("DELETE", &format!("/api/stacks/{id}"), "")), now)
                .status,
            204
        );
        assert_eq!(
            p.handle(&key(req("GET", "/api/configs", "")), now).status,
            404
        );
    }
}
