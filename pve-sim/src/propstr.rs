//! Proxmox property strings: `key=value,key=value`, with an optional default key whose
//! `key=` may be left out (`virtio=AA:BB:…,bridge=vmbr0`, `local-zfs:subvol-101-disk-0,size=8G`).

/// An ordered property string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PropStr {
    /// Pairs in the order they were given.
    pub pairs: Vec<(String, String)>,
}

impl PropStr {
    /// Parses `s`; a part without `=` is the value of `default_key` (only the first part may
    /// omit its key). Repeated keys are an error, as in Proxmox.
    pub fn parse(s: &str, default_key: Option<&str>) -> Result<Self, String> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (i, part) in s.split(',').enumerate() {
            if part.is_empty() {
                continue;
            }
            let (k, v) = match part.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => match default_key {
                    Some(d) if i == 0 => (d.to_string(), part.to_string()),
                    _ => {
                        return Err(
                            "value without key, but schema does not define a default key"
                                .to_string(),
                        );
                    }
                },
            };
            if pairs.iter().any(|(x, _)| *x == k) {
                return Err(format!(
                    "duplicate key in comma-separated list property: {k}"
                ));
            }
            pairs.push((k, v));
        }
        Ok(Self { pairs })
    }

    /// A value.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(x, _)| x == k)
            .map(|(_, v)| v.as_str())
    }

    /// Sets (or replaces) a value, keeping its position.
    pub fn set(&mut self, k: &str, v: impl Into<String>) {
        let v = v.into();
        match self.pairs.iter_mut().find(|(x, _)| x == k) {
            Some(p) => p.1 = v,
            None => self.pairs.push((k.to_string(), v)),
        }
    }

    /// Removes a key.
    pub fn remove(&mut self, k: &str) -> Option<String> {
        let i = self.pairs.iter().position(|(x, _)| x == k)?;
        Some(self.pairs.remove(i).1)
    }

    /// Prints in Proxmox's canonical order: `first` keys (in that order) first — the default
    /// key without `key=` when `bare_first` — then the rest sorted by key.
    pub fn print(&self, first: &[&str], bare_first: bool) -> String {
        let mut out: Vec<String> = Vec::new();
        for (i, k) in first.iter().enumerate() {
            if let Some(v) = self.get(k) {
                if i == 0 && bare_first {
                    out.push(v.to_string());
                } else {
                    out.push(format!("{k}={v}"));
                }
            }
        }
        let mut rest: Vec<&(String, String)> = self
            .pairs
            .iter()
            .filter(|(k, _)| !first.contains(&k.as_str()))
            .collect();
        rest.sort_by(|a, b| a.0.cmp(&b.0));
        out.extend(rest.into_iter().map(|(k, v)| format!("{k}={v}")));
        out.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_canonically() {
        let p = PropStr::parse(
            "ip=10.0.0.2/24,name=eth0,type=veth,bridge=vmbr0",
            Some("name"),
        )
        .unwrap();
        assert_eq!(
            p.print(&["name"], false),
            "name=eth0,bridge=vmbr0,ip=10.0.0.2/24,type=veth"
        );
        let d = PropStr::parse("local-zfs:subvol-101-disk-0,size=8G", Some("volume")).unwrap();
        assert_eq!(d.get("volume"), Some("local-zfs:subvol-101-disk-0"));
        assert_eq!(
            d.print(&["volume"], true),
            "local-zfs:subvol-101-disk-0,size=8G"
        );
    }

    #[test]
    fn duplicates_are_refused() {
        let e =
            PropStr::parse("virtio,bridge=vmbr0,firewall=1,firewall=1", Some("model")).unwrap_err();
        assert_eq!(
            e,
            "duplicate key in comma-separated list property: firewall"
        );
    }
}
