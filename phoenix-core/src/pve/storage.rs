//! `/etc/pve/storage.cfg`: storage sections (`dir: local` then tab-indented `key value`
//! lines), read to find where templates and images live.

/// One storage definition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Storage {
    /// `dir`, `zfspool`, `nfs`, …
    pub kind: String,
    /// Storage ID.
    pub id: String,
    /// Properties in file order (`disable` has the value `1`).
    pub props: Vec<(String, String)>,
}

impl Storage {
    /// A property.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(x, _)| x == k)
            .map(|(_, v)| v.as_str())
    }

    /// Content types (Proxmox's defaults when the line is absent).
    pub fn content(&self) -> Vec<&str> {
        match self.get("content") {
            Some(c) => c
                .split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty() && *x != "none")
                .collect(),
            None => match self.kind.as_str() {
                "nfs" => vec!["images"],
                _ => vec!["images", "rootdir"],
            },
        }
    }

    /// Whether it holds a content type.
    pub fn has_content(&self, c: &str) -> bool {
        self.content().contains(&c)
    }

    /// Whether it is disabled.
    pub fn disabled(&self) -> bool {
        self.get("disable").is_some_and(|v| v != "0")
    }

    /// Directory of a path-based storage.
    pub fn path(&self) -> Option<&str> {
        self.get("path")
    }
}

/// Parses the file.
pub fn parse(text: &str) -> Vec<Storage> {
    let mut out: Vec<Storage> = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(s) = out.last_mut() {
                let t = line.trim();
                let (k, v) = t
                    .split_once(char::is_whitespace)
                    .map_or((t, ""), |(k, v)| (k, v.trim()));
                s.props.push((
                    k.to_string(),
                    if v.is_empty() {
                        "1".into()
                    } else {
                        v.to_string()
                    },
                ));
            }
        } else if let Some((kind, id)) = line.split_once(':') {
            out.push(Storage {
                kind: kind.trim().to_ascii_lowercase(),
                id: id.trim().to_string(),
                props: Vec::new(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_installer_file() {
        let s = parse(
            "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\nzfspool: local-zfs\n\tpool rpool/data\n\tsparse\n\tcontent images,rootdir\n",
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].path(), Some("/var/lib/vz"));
        assert!(s[0].has_content("vztmpl") && !s[0].has_content("rootdir"));
        assert_eq!(s[1].get("sparse"), Some("1"));
        assert!(!s[1].disabled());
    }
}
