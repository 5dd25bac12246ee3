//! The HTTP client the Portainer API is reached with: TLS verified against one pinned root
//! (the Step-CA root from the configuration, never the system store, never skipped), the
//! server's name checked while the connection goes to the configured address (curl's
//! `--resolve`), connect and whole-request timeouts, and retries with backoff only where a
//! retry can help — connection errors and timeouts, 5xx answers, 503 "starting" — never on a
//! 4xx answer or a certificate the root does not vouch for.
//!
//! Writes (`POST`, `PUT`, `DELETE`, except logging in) are refused in a dry run: the caller
//! plans them, and [`Client::is_dry_run`] tells it not to send them. Secrets travel in
//! request bodies and headers only; [`Secret`] never shows its value in `Debug` output.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde_json::Value;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// A secret string (password, token): its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The value, for the one place it is sent.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How often and how patiently a request is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// The first pause; each next one doubles, up to `max_delay`.
    pub first_delay: Duration,
    /// The longest pause.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// The pause after failed attempt `n` (0-based).
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.min(16)).unwrap_or(u32::MAX);
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Where and how to reach the server.
#[derive(Clone, Debug)]
pub struct Target {
    /// `https://host:port` (no trailing slash).
    pub base: String,
    /// Connect here instead of resolving the host name (the name is still what TLS checks).
    pub connect: Option<SocketAddr>,
    /// The pinned root certificate (PEM).
    pub root_pem: Vec<u8>,
    /// Where the root came from (for error messages).
    pub root_file: String,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
}

/// A request body.
#[derive(Clone, Debug)]
pub enum Body {
    /// No body.
    Empty,
    /// JSON.
    Json(Value),
    /// `multipart/form-data` text fields, in order.
    Form(Vec<(String, String)>),
}

/// An answer.
#[derive(Clone, Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON (`Null` when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Portainer's error text: `message` (and `details` when present), else the raw body.
    pub fn message(&self) -> String {
        let v = self.json();
        match (v["message"].as_str(), v["details"].as_str()) {
            (Some(m), Some(d)) if !d.is_empty() && d != m => format!("{m}: {d}"),
            (Some(m), _) => m.to_string(),
            _ => {
                let t = String::from_utf8_lossy(&self.body).trim().to_string();
                if t.is_empty() {
                    "(empty body)".into()
                } else {
                    t.chars().take(300).collect()
                }
            }
        }
    }
}

/// How one attempt ended, for the retry decision (pure).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// An answer arrived with this status.
    Status(u16),
    /// No answer: refused, reset, timed out, name not found.
    Connection,
    /// The TLS handshake failed (an untrusted certificate does not get better by waiting).
    Tls,
}

/// Whether an attempt that ended so is worth repeating (pure): connection errors, 5xx and
/// 503 "starting"; never 2xx/3xx/4xx or a TLS failure.
pub fn retryable(a: &Attempt) -> bool {
    match a {
        Attempt::Connection => true,
        Attempt::Status(s) => (500..600).contains(s),
        Attempt::Tls => false,
    }
}

/// Why a request failed for good.
#[derive(Debug)]
pub struct TransportError {
    /// What was asked.
    pub what: String,
    /// Whether it was TLS.
    pub tls: bool,
    /// The underlying error text.
    pub detail: String,
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.detail)
    }
}

impl std::error::Error for TransportError {}

/// Connects every request to one fixed address (curl's `--resolve`).
#[derive(Debug)]
struct Pinned(SocketAddr);

impl Resolver for Pinned {
    fn resolve(
        &self,
        _uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let mut v = self.empty();
        v.push(self.0);
        Ok(v)
    }
}

/// The client.
pub struct Client {
    agent: ureq::Agent,
    target: Target,
    policy: RetryPolicy,
    dry_run: bool,
    token: Option<Secret>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.target.base)
            .field("connect", &self.target.connect)
            .field("dry_run", &self.dry_run)
            .field("token", &self.token)
            .finish()
    }
}

/// Whether `method path` changes the server (logging in does not).
pub fn is_write(method: &str, path: &str) -> bool {
    method != "GET" && method != "HEAD" && path != "/api/auth"
}

impl Client {
    /// A client for `target`; fails when the root is not a PEM certificate.
    pub fn new(target: Target, policy: RetryPolicy, dry_run: bool) -> anyhow::Result<Self> {
        let roots: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&target.root_pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow!("{}: not a PEM certificate: {e}", target.root_file))?;
        if roots.is_empty() {
            bail!("{}: holds no PEM certificate", target.root_file);
        }
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
            .build();
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(target.connect_timeout))
            .timeout_global(Some(target.request_timeout))
            .user_agent(concat!(
                "phoenix-portainer-manager/",
                env!("CARGO_PKG_VERSION")
            ))
            .build();
        let agent = match target.connect {
            Some(addr) => ureq::Agent::with_parts(config, DefaultConnector::new(), Pinned(addr)),
            None => config.into(),
        };
        Ok(Self {
            agent,
            target,
            policy,
            dry_run,
            token: None,
        })
    }

    /// Whether writes are withheld.
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.target.base
    }

    /// Sends `Authorization: Bearer <token>` from now on.
    pub fn set_token(&mut self, token: Secret) {
        self.token = Some(token);
    }

    /// One request, retried per the policy; the last answer is returned whatever its status
    /// (callers decide what a 4xx means), a transport failure is an error.
    pub fn request(&self, method: &str, path: &str, body: &Body) -> anyhow::Result<Reply> {
        self.request_with(method, path, body, self.policy)
    }

    /// [`Client::request`] with another retry policy (the readiness wait uses its own).
    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        body: &Body,
        policy: RetryPolicy,
    ) -> anyhow::Result<Reply> {
        if self.dry_run && is_write(method, path) {
            bail!("internal error: {method} {path} attempted in a dry run");
        }
        let what = format!("{method} {}{path}", self.target.base);
        let attempts = policy.attempts.max(1);
        let mut n = 0;
        loop {
            let result = self.once(method, path, body);
            let attempt = match &result {
                Ok(r) => Attempt::Status(r.status),
                Err(e) if e.tls => Attempt::Tls,
                Err(_) => Attempt::Connection,
            };
            n += 1;
            if !retryable(&attempt) || n >= attempts {
                return match result {
                    Ok(r) => Ok(r),
                    Err(e) if e.tls => Err(anyhow!(e)).with_context(|| {
                        format!(
                            "TLS with {} failed; the server must present a certificate issued by the root in {}",
                            self.target.base, self.target.root_file
                        )
                    }),
                    Err(e) => Err(anyhow!(e))
                        .with_context(|| format!("no answer after {n} attempt(s)")),
                };
            }
            let pause = policy.delay(n - 1);
            match &result {
                Ok(r) => tracing::warn!(
                    "{what}: HTTP {} ({}); retrying in {:?} (attempt {n}/{attempts})",
                    r.status,
                    r.message(),
                    pause
                ),
                Err(e) => tracing::warn!(
                    "{what}: {}; retrying in {:?} (attempt {n}/{attempts})",
                    e.detail,
                    pause
                ),
            }
            std::thread::sleep(pause);
        }
    }

    fn once(&self, method: &str, path: &str, body: &Body) -> Result<Reply, TransportError> {
        let url = format!("{}{path}", self.target.base);
        let what = format!("{method} {url}");
        let auth = self
            .token
            .as_ref()
            .map(|t| format!("Bearer {}", t.expose()));
        let result = match body {
            Body::Empty => {
                let mut req = ureq::http::Request::builder().method(method).uri(&url);
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                let req = req.body(()).map_err(|e| TransportError {
                    what: what.clone(),
                    tls: false,
                    detail: e.to_string(),
                })?;
                self.agent.run(req)
            }
            Body::Json(v) => self.send(method, &url, auth.as_deref(), "application/json", {
                serde_json::to_vec(v).unwrap_or_default()
            }),
            Body::Form(fields) => {
                let boundary = "----phoenix-portainer-manager-7f3a9c";
                self.send(
                    method,
                    &url,
                    auth.as_deref(),
                    &format!("multipart/form-data; boundary={boundary}"),
                    multipart(boundary, fields),
                )
            }
        };
        match result {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let body = resp
                    .body_mut()
                    .with_config()
                    .limit(16 * 1024 * 1024)
                    .read_to_vec()
                    .map_err(|e| TransportError {
                        what: what.clone(),
                        tls: false,
                        detail: format!("reading the answer: {e}"),
                    })?;
                Ok(Reply { status, body })
            }
            Err(e) => {
                let tls = matches!(e, ureq::Error::Rustls(_) | ureq::Error::Tls(_))
                    || e.to_string().to_ascii_lowercase().contains("certificate");
                Err(TransportError {
                    what,
                    tls,
                    detail: e.to_string(),
                })
            }
        }
    }

    fn send(
        &self,
        method: &str,
        url: &str,
        auth: Option<&str>,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(url)
            .header("Content-Type", content_type);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let req = req.body(bytes)?;
        self.agent.run(req)
    }
}

/// A `multipart/form-data` body of text fields (pure).
pub fn multipart(boundary: &str, fields: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_failures_are_retried() {
        assert!(retryable(&Attempt::Connection));
        assert!(retryable(&Attempt::Status(500)));
        assert!(retryable(&Attempt::Status(502)));
        assert!(retryable(&Attempt::Status(503)));
        for s in [200, 204, 303, 307, 400, 401, 404, 409, 422] {
            assert!(!retryable(&Attempt::Status(s)), "{s}");
        }
        assert!(!retryable(&Attempt::Tls));
    }

    #[test]
    fn backoff_doubles_up_to_the_limit() {
        let p = RetryPolicy {
            attempts: 5,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
        };
        let d: Vec<u128> = (0..5).map(|n| p.delay(n).as_millis()).collect();
        assert_eq!(d, [100, 200, 350, 350, 350]);
    }

    #[test]
    fn logging_in_is_not_a_write() {
        assert!(!is_write("GET", "/api/stacks"));
        assert!(!is_write("POST", "/api/auth"));
        assert!(is_write("POST", "/api/users/admin/init"));
        assert!(is_write("PUT", "/api/stacks/3"));
        assert!(is_write("DELETE", "/api/stacks/3"));
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn multipart_fields_are_framed() {
        let body = multipart("B", &[("Name".into(), "apps".into())]);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "--B\r\nContent-Disposition: form-data; name=\"Name\"\r\n\r\napps\r\n--B--\r\n"
        );
    }

    #[test]
    fn messages_prefer_portainers_fields() {
        let r = Reply {
            status: 422,
            body: br#"{"message":"Invalid credentials","details":"Unauthorized"}"#.to_vec(),
        };
        assert_eq!(r.message(), "Invalid credentials: Unauthorized");
        let r = Reply {
            status: 500,
            body: b"oops".to_vec(),
        };
        assert_eq!(r.message(), "oops");
    }
}
