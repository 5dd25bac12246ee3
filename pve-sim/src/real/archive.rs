//! The only way out of a real guest: an HTTP proxy for Debian's package archive. A real
//! guest has a network of its own with only loopback (`systemd-nspawn --private-network`);
//! this proxy listens on the guest's loopback ([`PORT`]), apt in the guest is pointed at it
//! ([`APT_CONF`]), and it forwards a request only when its host is Debian's archive
//! ([`HOSTS`]). Anything else — an installer's `curl` to a third-party repository, a service
//! calling out — finds no route (no resolver, no gateway) or, through the proxy, a `403`
//! naming what was refused. So the house rule holds by construction: traffic from the tests
//! reaches loopback and Debian's archive through apt, nothing else.
//!
//! One request per client connection (the proxy answers `Connection: close`; apt then opens
//! the next one; `APT_CONF` turns pipelining off so nothing is in flight when it closes).
//! `CONNECT` to an archive host on port 443 is tunnelled, for `https://deb.debian.org`
//! sources.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

/// The port the proxy listens on inside the guest (apt-cacher-ng's, the usual apt proxy port).
pub const PORT: u16 = 3142;

/// Debian's package archive: the only hosts a real guest reaches.
pub const HOSTS: &[&str] = &["deb.debian.org", "security.debian.org"];

/// Where the guest's apt learns about the proxy, and its content (apt.conf(5)).
pub const APT_CONF: (&str, &str) = (
    "etc/apt/apt.conf.d/00pve-sim-archive-proxy",
    "// pve-sim: real guests reach only Debian's package archive, through this proxy.\n\
     Acquire::http::Proxy \"http://127.0.0.1:3142/\";\n\
     Acquire::https::Proxy \"http://127.0.0.1:3142/\";\n\
     Acquire::http::Pipeline-Depth \"0\";\n",
);

/// Whether `host` (a name, without port) is Debian's archive.
pub fn allowed(host: &str) -> bool {
    HOSTS.iter().any(|h| h.eq_ignore_ascii_case(host))
}

/// What a request asks the proxy for.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// A plain HTTP request (`GET http://host[:port]/path`): host, port, origin-form path.
    Http {
        host: String,
        port: u16,
        path: String,
    },
    /// A tunnel (`CONNECT host:port`).
    Tunnel { host: String, port: u16 },
}

impl Target {
    pub fn host(&self) -> &str {
        match self {
            Target::Http { host, .. } | Target::Tunnel { host, .. } => host,
        }
    }
}

fn host_port(authority: &str, default: u16) -> Result<(String, u16), String> {
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let (h, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("bad host in `{authority}`"))?;
            (h, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(p) => p
            .parse()
            .map_err(|_| format!("bad port in `{authority}`"))?,
        None => default,
    };
    if host.is_empty() {
        return Err(format!("no host in `{authority}`"));
    }
    Ok((host.to_ascii_lowercase(), port))
}

/// Parses a request line (`METHOD target HTTP/1.x`).
pub fn parse(line: &str) -> Result<(String, Target), String> {
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(_version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("not an HTTP request line: `{line}`"));
    };
    if method == "CONNECT" {
        let (host, port) = host_port(target, 443)?;
        return Ok((method.into(), Target::Tunnel { host, port }));
    }
    if !matches!(method, "GET" | "HEAD") {
        return Err(format!("{method} is not something apt asks a proxy for"));
    }
    let rest = target
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{target}` is not an absolute http:// URL"))?;
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
    let (host, port) = host_port(authority, 80)?;
    Ok((
        method.into(),
        Target::Http {
            host,
            port,
            path: path.into(),
        },
    ))
}

/// The header lines forwarded upstream: hop-by-hop ones dropped, `Connection: close` added.
fn forwarded(headers: &[String]) -> String {
    let mut out = String::new();
    for h in headers {
        let name = h.split(':').next().unwrap_or_default().trim();
        if [
            "connection",
            "proxy-connection",
            "keep-alive",
            "proxy-authorization",
        ]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
        {
            continue;
        }
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out
}

fn refuse(client: &mut TcpStream, status: &str, why: &str) {
    let body = format!("pve-sim: {why}\n");
    let _ = write!(
        client,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Serves one client connection; `allow` says which hosts may be reached.
pub fn handle(client: TcpStream, allow: &dyn Fn(&str) -> bool) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(read_half) = client.try_clone() else {
        return;
    };
    let mut client = client;
    let mut reader = BufReader::new(read_half.take(64 * 1024));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end_matches(['\r', '\n']).to_string();
        if h.is_empty() {
            break;
        }
        headers.push(h);
    }
    let (method, target) = match parse(line.trim_end()) {
        Ok(t) => t,
        Err(e) => return refuse(&mut client, "405 Method Not Allowed", &e),
    };
    if !allow(target.host()) {
        eprintln!("refused {method} {}", target.host());
        return refuse(
            &mut client,
            "403 Forbidden",
            &format!(
                "{} is not Debian's package archive ({}); a real guest reaches nothing else",
                target.host(),
                HOSTS.join(", ")
            ),
        );
    }
    let (host, port) = match &target {
        Target::Http { host, port, .. } | Target::Tunnel { host, port } => (host.clone(), *port),
    };
    let mut upstream = match TcpStream::connect((host.as_str(), port)) {
        Ok(u) => u,
        Err(e) => {
            return refuse(
                &mut client,
                "502 Bad Gateway",
                &format!("cannot reach {host}:{port}: {e}"),
            );
        }
    };
    match target {
        Target::Http { path, .. } => {
            let head = format!("{method} {path} HTTP/1.1\r\n{}", forwarded(&headers));
            if upstream.write_all(head.as_bytes()).is_err() {
                return;
            }
            let _ = std::io::copy(&mut upstream, &mut client);
        }
        Target::Tunnel { .. } => {
            if client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .is_err()
            {
                return;
            }
            let _ = client.set_read_timeout(None);
            let (Ok(mut up_w), Ok(mut cl_r)) = (upstream.try_clone(), client.try_clone()) else {
                return;
            };
            let buffered = reader.buffer().to_vec();
            let up = std::thread::spawn(move || {
                let _ = up_w.write_all(&buffered);
                let _ = std::io::copy(&mut cl_r, &mut up_w);
                let _ = up_w.shutdown(Shutdown::Write);
            });
            let _ = std::io::copy(&mut upstream, &mut client);
            let _ = up.join();
        }
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// Accepts clients until the process ends.
pub fn serve(listener: TcpListener, allow: &'static (dyn Fn(&str) -> bool + Sync)) {
    for client in listener.incoming().flatten() {
        std::thread::spawn(move || handle(client, allow));
    }
}

/// `pve-sim archive-proxy <network namespace file>`: listens on [`PORT`] in the guest's
/// network namespace (the socket is made there, the process then returns to the host's
/// namespace, so the connections it makes upstream are the host's), prints `ready`, and
/// serves until that namespace is gone (its file removed, or another namespace there).
pub fn run(netns: &Path) -> Result<(), String> {
    use nix::sched::{CloneFlags, setns};
    use std::os::unix::fs::MetadataExt;
    let host_ns = std::fs::File::open("/proc/self/ns/net").map_err(|e| format!("{e}"))?;
    let guest_ns = std::fs::File::open(netns).map_err(|e| format!("{}: {e}", netns.display()))?;
    let ino = guest_ns.metadata().map_err(|e| format!("{e}"))?.ino();
    setns(&guest_ns, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns: {e}"))?;
    let bound = TcpListener::bind(("127.0.0.1", PORT));
    setns(&host_ns, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns back: {e}"))?;
    let listener =
        bound.map_err(|e| format!("cannot listen on 127.0.0.1:{PORT} in the guest: {e}"))?;
    let netns = netns.to_path_buf();
    std::thread::spawn(move || {
        while std::fs::metadata(&netns).is_ok_and(|m| m.ino() == ino) {
            std::thread::sleep(Duration::from_millis(500));
        }
        std::process::exit(0);
    });
    println!("ready");
    let _ = std::io::stdout().flush();
    serve(listener, &allowed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_apt_makes_are_understood() {
        assert_eq!(
            parse("GET http://deb.debian.org/debian/dists/bookworm/InRelease HTTP/1.1").unwrap(),
            (
                "GET".into(),
                Target::Http {
                    host: "deb.debian.org".into(),
                    port: 80,
                    path: "/debian/dists/bookworm/InRelease".into()
                }
            )
        );
        assert_eq!(
            parse("CONNECT deb.debian.org:443 HTTP/1.1").unwrap().1,
            Target::Tunnel {
                host: "deb.debian.org".into(),
                port: 443
            }
        );
        assert_eq!(
            parse("GET http://Security.Debian.Org:8080 HTTP/1.1")
                .unwrap()
                .1,
            Target::Http {
                host: "security.debian.org".into(),
                port: 8080,
                path: "/".into()
            }
        );
        assert!(parse("POST http://deb.debian.org/ HTTP/1.1").is_err());
        assert!(parse("GET /relative HTTP/1.1").is_err());
    }

    #[test]
    fn only_debians_archive_is_allowed() {
        assert!(allowed("deb.debian.org"));
        assert!(allowed("SECURITY.debian.org"));
        for h in [
            "download.docker.com",
            "github.com",
            "deb.debian.org.evil.example",
            "10.0.0.1",
            "",
        ] {
            assert!(!allowed(h), "{h}");
        }
    }

    /// Through the proxy on loopback: an allowed host is reached (a stand-in upstream on
    /// loopback) with the request in origin form and `Connection: close`; a refused host gets
    /// a 403 naming it, and no connection is made.
    #[test]
    fn allowed_requests_pass_and_others_are_refused_without_connecting() {
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let up_port = upstream.local_addr().unwrap().port();
        let seen = std::thread::spawn(move || {
            let (mut s, _) = upstream.accept().unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                s.read_exact(&mut buf).unwrap();
                head.push(buf[0]);
            }
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
            String::from_utf8(head).unwrap()
        });
        let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = proxy.local_addr().unwrap();
        std::thread::spawn(move || serve(proxy, &|h: &str| h == "127.0.0.1"));
        let ask = |req: String| {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(req.as_bytes()).unwrap();
            let mut out = String::new();
            c.read_to_string(&mut out).unwrap();
            out
        };
        let ok = ask(format!(
            "GET http://127.0.0.1:{up_port}/debian/Release HTTP/1.1\r\nHost: x\r\nProxy-Connection: keep-alive\r\n\r\n"
        ));
        assert!(ok.ends_with("\r\n\r\nok"), "{ok}");
        let head = seen.join().unwrap();
        assert!(
            head.starts_with("GET /debian/Release HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(head.contains("Connection: close\r\n"), "{head}");
        assert!(!head.contains("Proxy-Connection"), "{head}");
        let no = ask("GET http://download.docker.com/linux/debian/gpg HTTP/1.1\r\n\r\n".into());
        assert!(no.starts_with("HTTP/1.1 403"), "{no}");
        assert!(
            no.contains("download.docker.com is not Debian's package archive"),
            "{no}"
        );
    }
}
