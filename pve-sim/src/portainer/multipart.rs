//! `multipart/form-data` bodies (RFC 7578): what Portainer's environment and file-stack
//! endpoints read.

/// One part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// The form field name.
    pub name: String,
    /// The file name, for uploads.
    pub filename: Option<String>,
    /// Content.
    pub data: Vec<u8>,
}

/// The boundary of a `Content-Type: multipart/form-data; boundary=…` header.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    if !parts
        .next()?
        .trim()
        .eq_ignore_ascii_case("multipart/form-data")
    {
        return None;
    }
    parts
        .find_map(|p| {
            p.trim()
                .strip_prefix("boundary=")
                .map(|b| b.trim_matches('"').to_string())
        })
        .filter(|b| !b.is_empty())
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Parses a body. Errors name what is wrong.
pub fn parse(body: &[u8], boundary: &str) -> Result<Vec<Part>, String> {
    let delim = format!("--{boundary}").into_bytes();
    let mut pos = find(body, &delim, 0).ok_or("no boundary in body")? + delim.len();
    let mut parts = Vec::new();
    loop {
        if body.get(pos..pos + 2) == Some(b"--") {
            return Ok(parts);
        }
        pos = find(body, b"\r\n", pos).ok_or("truncated part")? + 2;
        let head_end = find(body, b"\r\n\r\n", pos).ok_or("part without headers")?;
        let head = String::from_utf8_lossy(&body[pos..head_end]).into_owned();
        let data_start = head_end + 4;
        let mut next_delim = delim.clone();
        next_delim.splice(0..0, b"\r\n".iter().copied());
        let data_end = find(body, &next_delim, data_start).ok_or("unterminated part")?;
        let mut name = None;
        let mut filename = None;
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if !k.trim().eq_ignore_ascii_case("content-disposition") {
                continue;
            }
            for attr in v.split(';').skip(1) {
                let Some((ak, av)) = attr.trim().split_once('=') else {
                    continue;
                };
                let av = av.trim_matches('"').to_string();
                match ak.trim() {
                    "name" => name = Some(av),
                    "filename" => filename = Some(av),
                    _ => {}
                }
            }
        }
        let name = name.ok_or("part without a name")?;
        parts.push(Part {
            name,
            filename,
            data: body[data_start..data_end].to_vec(),
        });
        pos = data_end + next_delim.len();
    }
}

/// The text of a field.
pub fn field<'a>(parts: &'a [Part], name: &str) -> Option<std::borrow::Cow<'a, str>> {
    parts
        .iter()
        .find(|p| p.name == name)
        .map(|p| String::from_utf8_lossy(&p.data))
}

/// Builds a body (for tests and clients): `(name, filename, data)`.
pub fn build(boundary: &str, fields: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, filename, data) in fields {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(f) => out.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes()),
            None => out.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_fields_and_files() {
        let body = build(
            "XyZ",
            &[
                ("Name", None, b"docker-1002"),
                ("EndpointCreationType", None, b"2"),
                ("file", Some("docker-compose.yml"), b"services: {}\n"),
            ],
        );
        let parts = parse(&body, "XyZ").unwrap();
        assert_eq!(field(&parts, "Name").as_deref(), Some("docker-1002"));
        assert_eq!(parts[2].filename.as_deref(), Some("docker-compose.yml"));
        assert_eq!(parts[2].data, b"services: {}\n");
        assert_eq!(
            boundary("multipart/form-data; boundary=\"XyZ\""),
            Some("XyZ".into())
        );
        assert_eq!(boundary("application/json"), None);
        assert!(parse(b"nothing", "XyZ").is_err());
    }
}
