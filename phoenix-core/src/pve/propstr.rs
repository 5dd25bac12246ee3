//! Proxmox property strings: `virtio=BC:24:11:…,bridge=vmbr0,firewall=1`,
//! `local-zfs:subvol-101-disk-0,size=8G`, `name=eth0,bridge=vmbr0,ip=dhcp`.

/// A parsed property string, pairs in their given order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PropertyString {
    /// `(key, value)` pairs; a leading part without `=` is stored under the default key.
    pub pairs: Vec<(String, String)>,
}

impl PropertyString {
    /// Parses `s`. A first part without `=` becomes the value of `default_key` (`file` for
    /// drives, `volume` for mount points). Repeated keys are an error, as in Proxmox.
    pub fn parse(s: &str, default_key: Option<&str>) -> Result<Self, String> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (i, part) in s.split(',').enumerate().filter(|(_, p)| !p.is_empty()) {
            let (k, v) = match part.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => match default_key {
                    Some(d) if i == 0 => (d.to_string(), part.to_string()),
                    _ => return Err(format!("value without key in property string: {part}")),
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
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether a boolean key is set to a true value (`1`, `on`, `yes`, `true`).
    pub fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "on" | "yes" | "true"))
    }

    /// A `qm` network device: `(model, mac)` from `virtio=BC:24:11:…` or `model=…,macaddr=…`.
    pub fn nic_model_mac(&self) -> Option<(&str, Option<&str>)> {
        const MODELS: &[&str] = &[
            "e1000",
            "e1000e",
            "virtio",
            "vmxnet3",
            "rtl8139",
            "ne2k_pci",
            "pcnet",
            "i82551",
            "i82557b",
            "i82559er",
            "ne2k_isa",
            "e1000-82540em",
            "e1000-82544gc",
            "e1000-82545em",
        ];
        if let Some((k, v)) = self
            .pairs
            .iter()
            .find(|(k, _)| MODELS.contains(&k.as_str()))
        {
            return Some((k.as_str(), Some(v.as_str()).filter(|v| !v.is_empty())));
        }
        self.get("model").map(|m| (m, self.get("macaddr")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nets_drives_and_mountpoints() {
        let n = PropertyString::parse(
            "virtio=BC:24:11:2A:5B:9C,bridge=vmbr0,firewall=1,tag=20",
            None,
        )
        .unwrap();
        assert_eq!(
            n.nic_model_mac(),
            Some(("virtio", Some("BC:24:11:2A:5B:9C")))
        );
        assert!(n.flag("firewall"));
        let d = PropertyString::parse("local-zfs:vm-100-disk-0,discard=on,size=32G", Some("file"))
            .unwrap();
        assert_eq!(d.get("file"), Some("local-zfs:vm-100-disk-0"));
        assert_eq!(d.get("size"), Some("32G"));
        assert!(
            PropertyString::parse("a=1,a=2", None)
                .unwrap_err()
                .contains("duplicate key")
        );
        assert!(PropertyString::parse("x,y", Some("file")).is_err());
    }
}
