//! Just enough HTTP/1.1 for a fake API server: one request per connection (the response says
//! `Connection: close`), `Content-Length` or chunked request bodies, query strings.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};

/// Largest header block accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// A parsed request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path without the query (`/api/stacks/3`).
    pub path: String,
    /// Decoded query parameters.
    pub query: BTreeMap<String, String>,
    /// Headers with lower-case names.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// A header (name in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The media type of the body, without parameters.
    pub fn content_type(&self) -> &str {
        self.header("content-type")
            .and_then(|c| c.split(';').next())
            .map_or("", str::trim)
    }
}

/// A response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body (JSON unless a content type says otherwise).
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, v: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: v.to_string().into_bytes(),
        }
    }

    /// An empty response (204 and the like).
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Portainer's error shape: `{"message": …, "details": …}`.
    pub fn error(status: u16, message: &str, details: &str) -> Self {
        Self::json(
            status,
            &serde_json::json!({"message": message, "details": details}),
        )
    }

    /// Adds a header.
    pub fn with_header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }

    /// Serialises the response.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (k, v) in &self.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// The reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        303 => "See Other",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// `%XX` and `+` decoding of a query component.
pub fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                    out.push(v);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a request could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed the connection (or TLS failed) before a request arrived.
    Closed,
    /// The request is malformed: answer 400.
    Bad(String),
    /// Too large: answer 413.
    TooLarge,
}

/// Reads one request.
pub fn read_request(stream: &mut impl Read) -> Result<Request, ReadError> {
    let mut r = BufReader::new(stream);
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        match r.read_until(b'\n', &mut line) {
            Ok(0) if head.is_empty() => return Err(ReadError::Closed),
            Ok(0) => return Err(ReadError::Bad("truncated request head".into())),
            Ok(_) => {}
            Err(_) => return Err(ReadError::Closed),
        }
        if line == b"\r\n" || line == b"\n" {
            if head.is_empty() {
                continue; // stray CRLF between requests
            }
            break;
        }
        head.extend_from_slice(&line);
        if head.len() > MAX_HEAD {
            return Err(ReadError::TooLarge);
        }
    }
    let head =
        String::from_utf8(head).map_err(|_| ReadError::Bad("request head is not UTF-8".into()))?;
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Bad(format!("bad request line: {request_line}")));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ReadError::Bad(format!("unsupported protocol {version}")));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut req = Request {
        method: method.to_string(),
        path: url_decode(path),
        ..Request::default()
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        req.query.insert(url_decode(k), url_decode(v));
    }
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            return Err(ReadError::Bad(format!("bad header line: {l}")));
        };
        req.headers
            .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    if req
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size_line = String::new();
            r.read_line(&mut size_line)
                .map_err(|_| ReadError::Bad("truncated chunk".into()))?;
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| ReadError::Bad("bad chunk size".into()))?;
            if size == 0 {
                let mut trailer = String::new();
                let _ = r.read_line(&mut trailer);
                break;
            }
            if req.body.len() + size > MAX_BODY {
                return Err(ReadError::TooLarge);
            }
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk)
                .map_err(|_| ReadError::Bad("truncated chunk".into()))?;
            req.body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = req.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| ReadError::Bad("bad Content-Length".into()))?;
        if len > MAX_BODY {
            return Err(ReadError::TooLarge);
        }
        req.body = vec![0; len];
        r.read_exact(&mut req.body)
            .map_err(|_| ReadError::Bad("truncated body".into()))?;
    }
    Ok(req)
}

/// Writes a response.
pub fn write_response(stream: &mut impl Write, resp: &Response) -> std::io::Result<()> {
    stream.write_all(&resp.to_bytes())?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests_with_bodies_and_queries() {
        let raw = b"POST /api/stacks?type=2&method=string&endpointId=3 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 2\r\n\r\n{}";
        let r = read_request(&mut &raw[..]).unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/api/stacks")
        );
        assert_eq!(r.query["endpointId"], "3");
        assert_eq!(r.content_type(), "application/json");
        assert_eq!(r.body, b"{}");
        let chunked = b"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(read_request(&mut &chunked[..]).unwrap().body, b"abcde");
        assert!(matches!(
            read_request(&mut &b""[..]),
            Err(ReadError::Closed)
        ));
        assert!(matches!(
            read_request(&mut &b"garbage\r\n\r\n"[..]),
            Err(ReadError::Bad(_))
        ));
        assert_eq!(
            url_decode("%7B%22EndpointID%22%3A1%7D"),
            "{\"EndpointID\":1}"
        );
    }

    #[test]
    fn responses_serialise() {
        let r = Response::error(
            401,
            "Unauthorized",
            "A valid authorisation token is missing",
        )
        .to_bytes();
        let text = String::from_utf8(r).unwrap();
        assert!(text.starts_with(
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: "
        ));
        assert!(text.ends_with("\r\nConnection: close\r\n\r\n{\"details\":\"A valid authorisation token is missing\",\"message\":\"Unauthorized\"}") || text.contains("\"message\":\"Unauthorized\""));
    }
}
