//! `portainer-sim`: a fake Portainer API server on loopback, plain HTTP or TLS with a test CA.
//!
//! ```text
//! portainer-sim gen-cert --dir DIR [--host NAME]... [--ip ADDR]...
//! portainer-sim serve [--listen 127.0.0.1:0] [--tls-cert F --tls-key F] [--port-file F]
//!                     [--log F] [--version V] [--init-window-secs N] [--startup-refusals N]
//!                     [--min-password-length N] [--latency-ms N] [--agents-unreachable]
//! ```
//!
//! Control routes for tests (loopback only, like everything here): `GET /__sim/state`,
//! `GET /__sim/requests`, `POST /__sim/restart`, `POST /__sim/close-init-window`,
//! `POST /__sim/fail?count=K&status=S`, `POST /__sim/startup?refusals=N`,
//! `POST /__sim/api-key?key=K`.

pub mod api;
pub mod http;
pub mod multipart;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use api::{Knobs, Portainer};
use http::{ReadError, Request, Response};

/// `portainer-sim --help`.
pub const HELP: &str = "\
portainer-sim: a fake Portainer API server for tests and demos (loopback only)

USAGE:
    portainer-sim gen-cert --dir DIR [--host NAME]... [--ip ADDR]...
        Write a test CA (ca.crt) and a server certificate and key (server.crt, server.key,
        mode 0600) for the names and addresses given (default: localhost, 127.0.0.1).
    portainer-sim serve [OPTIONS]
        --listen ADDR            loopback address to bind (default 127.0.0.1:0 = any port)
        --tls-cert F --tls-key F serve HTTPS with this certificate (PEM)
        --port-file F            write the bound address here once listening
        --log F                  append each request (secrets redacted) as a JSON line
        --version V              reported Portainer version (default 2.27.3)
        --init-window-secs N     admin initialisation window (default 300)
        --startup-refusals N     answer the first N status calls with 503
        --min-password-length N  admin password policy (default 12)
        --latency-ms N           delay every response
        --agents-unreachable     creating an agent environment fails (500)

The API follows Portainer 2.x: /api/system/status, /api/users/admin/check|init, /api/auth,
/api/endpoints (multipart create), /api/stacks (create/standalone/string, legacy
?type=2&method=string|file, PUT, DELETE, /file), /ping (agent, 204). Control routes:
/__sim/state, /__sim/requests, /__sim/restart, /__sim/close-init-window,
/__sim/fail?count=K&status=S, /__sim/startup?refusals=N, /__sim/api-key?key=K.
";

/// Server options.
#[derive(Clone, Debug)]
pub struct Options {
    /// Address to bind (loopback only).
    pub listen: SocketAddr,
    /// Certificate and key files for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Request log file (JSON lines).
    pub log: Option<PathBuf>,
    /// Reported version.
    pub version: String,
    /// Knobs.
    pub knobs: Knobs,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: None,
            log: None,
            version: "2.27.3".into(),
            knobs: Knobs::default(),
        }
    }
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    /// The bound address.
    pub addr: SocketAddr,
    /// Whether it speaks TLS.
    pub tls: bool,
    /// Shared state (tests may inspect it directly).
    pub state: Arc<Mutex<Portainer>>,
}

impl Server {
    /// Binds and starts serving on background threads.
    pub fn start(opts: Options) -> anyhow::Result<Server> {
        if !opts.listen.ip().is_loopback() {
            bail!(
                "portainer-sim listens on loopback only; {} is not a loopback address",
                opts.listen
            );
        }
        let tls = match &opts.tls {
            Some((cert, key)) => Some(Arc::new(server_config(cert, key)?)),
            None => None,
        };
        let listener = TcpListener::bind(opts.listen)
            .with_context(|| format!("cannot listen on {}", opts.listen))?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(Portainer::new(
            &opts.version,
            opts.knobs.clone(),
        )));
        let shared = state.clone();
        let log = opts.log.clone();
        let is_tls = tls.is_some();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                let tls = tls.clone();
                let log = log.clone();
                std::thread::spawn(move || serve_connection(stream, tls, &state, log.as_deref()));
            }
        });
        Ok(Server {
            addr,
            tls: is_tls,
            state,
        })
    }

    /// The base URL (`https://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }
}

/// Loads a rustls server configuration (ring provider).
fn server_config(cert: &Path, key: &Path) -> anyhow::Result<rustls::ServerConfig> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("bad certificate in {}", cert.display()))?;
    if certs.is_empty() {
        bail!("no certificate in {}", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read a private key from {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the certificate and key do not match")
}

fn serve_connection(
    mut stream: TcpStream,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: &Mutex<Portainer>,
    log: Option<&Path>,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    match tls {
        Some(cfg) => {
            let Ok(conn) = rustls::ServerConnection::new(cfg) else {
                return;
            };
            let mut tls_stream = rustls::StreamOwned::new(conn, stream);
            exchange(&mut tls_stream, state, log);
            tls_stream.conn.send_close_notify();
            let _ = tls_stream.flush();
        }
        None => exchange(&mut stream, state, log),
    }
}

fn exchange(
    stream: &mut (impl std::io::Read + Write),
    state: &Mutex<Portainer>,
    log: Option<&Path>,
) {
    let resp = match http::read_request(stream) {
        Ok(req) => {
            let latency = state.lock().map(|s| s.knobs.latency).unwrap_or_default();
            let resp = handle(state, &req, log);
            if !latency.is_zero() {
                std::thread::sleep(latency);
            }
            resp
        }
        Err(ReadError::Closed) => return,
        Err(ReadError::Bad(m)) => Response::error(400, "Bad request", &m),
        Err(ReadError::TooLarge) => Response::error(
            413,
            "Payload too large",
            "request exceeds the simulator's limits",
        ),
    };
    let _ = http::write_response(stream, &resp);
}

/// Control routes, then the API.
fn handle(state: &Mutex<Portainer>, req: &Request, log: Option<&Path>) -> Response {
    let Ok(mut p) = state.lock() else {
        return Response::error(500, "Internal error", "state lock poisoned");
    };
    let now = Instant::now();
    if let Some(ctl) = req.path.strip_prefix("/__sim/") {
        let num = |k: &str| req.query.get(k).and_then(|v| v.parse::<u32>().ok());
        return match (req.method.as_str(), ctl) {
            ("GET", "state") => Response::json(200, &p.summary()),
            ("GET", "requests") => {
                Response::json(200, &serde_json::to_value(&p.log).unwrap_or_default())
            }
            ("POST", "restart") => {
                p.restart(now);
                Response::empty(204)
            }
            ("POST", "close-init-window") => {
                p.knobs.init_window_closed = true;
                Response::empty(204)
            }
            ("POST", "fail") => {
                p.knobs.fail_next = num("count").unwrap_or(1);
                p.knobs.fail_status = num("status")
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or(500);
                Response::empty(204)
            }
            ("POST", "startup") => {
                p.knobs.startup_refusals = num("refusals").unwrap_or(1);
                Response::empty(204)
            }
            ("POST", "api-key") => match req.query.get("key") {
                Some(k) if !k.is_empty() => {
                    p.api_keys.push(k.clone());
                    Response::empty(204)
                }
                _ => Response::error(400, "missing key", "use /__sim/api-key?key=K"),
            },
            _ => Response::error(404, "Not found", "unknown control route"),
        };
    }
    let resp = p.handle(req, now);
    if let (Some(path), Some(entry)) = (log, p.log.last()) {
        if let Ok(line) = serde_json::to_string(entry) {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(f, "{line}");
            }
        }
    }
    resp
}

/// Writes a test CA and a server certificate for `hosts` and `ips` into `dir`.
pub fn gen_cert(dir: &Path, hosts: &[String], ips: &[std::net::IpAddr]) -> anyhow::Result<()> {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose, SanType,
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "pve-sim test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let mut params = CertificateParams::new(hosts.to_vec())?;
    for ip in ips {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    params.distinguished_name.push(
        DnType::CommonName,
        hosts.first().map_or("localhost", String::as_str),
    );
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca)?;
    std::fs::write(dir.join("ca.crt"), ca.pem())?;
    std::fs::write(dir.join("server.crt"), cert.pem())?;
    let key_path = dir.join("server.key");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&key_path)
        .with_context(|| format!("cannot write {}", key_path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(key.serialize_pem().as_bytes())?;
    Ok(())
}

/// A command, its `--key value` options and its flags.
type Parsed = (String, Vec<(String, String)>, Vec<String>);

fn parse_args(args: &[String]) -> anyhow::Result<Parsed> {
    let cmd = args.first().cloned().unwrap_or_default();
    let mut values = Vec::new();
    let mut flags = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let a = args[i]
            .strip_prefix("--")
            .with_context(|| format!("unexpected argument `{}`", args[i]))?;
        if matches!(a, "agents-unreachable" | "help") {
            flags.push(a.to_string());
        } else {
            let (k, v) = match a.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => {
                    i += 1;
                    (
                        a.to_string(),
                        args.get(i)
                            .cloned()
                            .with_context(|| format!("--{a} needs a value"))?,
                    )
                }
            };
            values.push((k, v));
        }
        i += 1;
    }
    Ok((cmd, values, flags))
}

fn run(args: &[String]) -> anyhow::Result<()> {
    let (cmd, values, flags) = parse_args(args)?;
    let get = |k: &str| {
        values
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let num = |k: &str| -> anyhow::Result<Option<u64>> {
        get(k)
            .map(|v| {
                v.parse::<u64>()
                    .with_context(|| format!("--{k}: `{v}` is not a number"))
            })
            .transpose()
    };
    let known: &[&str] = match cmd.as_str() {
        "gen-cert" => &["dir", "host", "ip"],
        "serve" => &[
            "listen",
            "tls-cert",
            "tls-key",
            "port-file",
            "log",
            "version",
            "init-window-secs",
            "startup-refusals",
            "min-password-length",
            "latency-ms",
        ],
        "" | "help" | "--help" | "-h" => {
            print!("{HELP}");
            return Ok(());
        }
        other => bail!("unknown command `{other}`; see `portainer-sim --help`"),
    };
    if let Some((k, _)) = values.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        bail!("unknown option --{k} for `{cmd}`");
    }
    if cmd == "gen-cert" {
        let dir = get("dir").context("gen-cert needs --dir")?;
        let mut hosts: Vec<String> = values
            .iter()
            .filter(|(k, _)| k == "host")
            .map(|(_, v)| v.clone())
            .collect();
        let mut ips: Vec<std::net::IpAddr> = values
            .iter()
            .filter(|(k, _)| k == "ip")
            .map(|(_, v)| {
                v.parse()
                    .with_context(|| format!("--ip `{v}` is not an address"))
            })
            .collect::<anyhow::Result<_>>()?;
        if hosts.is_empty() && ips.is_empty() {
            hosts.push("localhost".into());
            ips.push(std::net::IpAddr::from([127, 0, 0, 1]));
        }
        gen_cert(Path::new(&dir), &hosts, &ips)?;
        println!("wrote {dir}/ca.crt, {dir}/server.crt, {dir}/server.key");
        return Ok(());
    }
    let mut opts = Options::default();
    if let Some(l) = get("listen") {
        opts.listen = l
            .parse()
            .with_context(|| format!("--listen `{l}` is not an address:port"))?;
    }
    match (get("tls-cert"), get("tls-key")) {
        (Some(c), Some(k)) => opts.tls = Some((c.into(), k.into())),
        (None, None) => {}
        _ => bail!("--tls-cert and --tls-key go together"),
    }
    opts.log = get("log").map(PathBuf::from);
    if let Some(v) = get("version") {
        opts.version = v;
    }
    if let Some(n) = num("init-window-secs")? {
        opts.knobs.init_window = Duration::from_secs(n);
    }
    if let Some(n) = num("startup-refusals")? {
        opts.knobs.startup_refusals = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if let Some(n) = num("min-password-length")? {
        opts.knobs.min_password_len = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(n) = num("latency-ms")? {
        opts.knobs.latency = Duration::from_millis(n);
    }
    opts.knobs.agents_reachable = !flags.iter().any(|f| f == "agents-unreachable");
    let server = Server::start(opts)?;
    if let Some(f) = get("port-file") {
        crate::root::write_atomic(Path::new(&f), server.addr.to_string().as_bytes())?;
    }
    println!("portainer-sim listening on {}", server.url());
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}

/// Entry point of the `portainer-sim` binary.
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let args: Vec<String> = args
        .into_iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portainer-sim: {e:#}");
            ExitCode::from(2)
        }
    }
}
